"""How a page arranges its tiles, as Element does: a date separator where a new day starts,
and the burst of state events that set a room up folded into one line.

Tiles are rendered once and shared by every viewer (render.py, live/publisher.py), so these
are separate items placed *between* tiles by the page, never inside a cached tile. Days are
counted in the active time zone (the viewer's), and their names are translated, so a page
computes them in its own request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

# State events the creator sends while setting a room up (the spec's createRoom sends
# create, the creator's join, power levels, join rules, history visibility, guest access,
# then initial_state, name, topic; clients add encryption, avatar, aliases...). Element folds
# every state event of the creator that follows m.room.create, except other people's
# memberships; we do the same.
CREATE = "m.room.create"
MEMBER = "m.room.member"


def local_day(ts_ms: int) -> date:
    """The calendar day of a timestamp (milliseconds) in the active time zone."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return timezone.localtime(moment).date()


def day_label(day: date, today: date) -> str:
    """The name of a day: Today, Yesterday, its weekday within the last week, else its date
    (the active language's DATE_FORMAT)."""
    if day == today:
        return _("Today")
    if day == today - timedelta(days=1):
        return _("Yesterday")
    if today - timedelta(days=6) <= day < today:
        return formats.date_format(day, "l")
    return formats.date_format(day, "DATE_FORMAT")


def separator_html(day: date, today: date) -> str:
    label = day_label(day, today)
    return format_html(
        '<div class="date-separator" role="separator" aria-label="{}" data-day="{}">'
        '<time datetime="{}">{}</time></div>',
        label,
        day.isoformat(),
        day.isoformat(),
        label,
    )


def _ts(item: Mapping[str, Any]) -> int | None:
    ts = item.get("ts")
    return ts if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0 else None


def _undated(item: Mapping[str, Any]) -> bool:
    return bool(item.get("html")) and _ts(item) is None and not item.get("day")


def with_day_separators(
    items: Sequence[Mapping[str, Any]], today: date | None = None
) -> list[dict[str, Any]]:
    """`items` with a separator item before the first tile of each day (the first tile of
    the page included: the page does not know the day before it; scripts joining pages drop
    a separator that repeats the day before it). Items without a timestamp (the unread
    divider, local echoes) never start a day."""
    today = today or timezone.localdate()
    out: list[dict[str, Any]] = []
    current: date | None = None
    for item in items:
        ts = _ts(item) if item.get("html") else None
        if ts is not None:
            day = local_day(ts)
            if day != current:
                # Keep the unread divider (and anything else without a day) right above the
                # tile it precedes, below the day's name.
                at = len(out)
                while at > 0 and _undated(out[at - 1]):
                    at -= 1
                separator = {"event_id": "", "day": day.isoformat()}
                out.insert(at, {**separator, "html": separator_html(day, today)})
                current = day
        out.append(dict(item))
    return out


def creation_burst_length(items: Sequence[Mapping[str, Any]]) -> int:
    """How many items, from the start of `items`, are the room's creation burst: the
    m.room.create event and the state events its sender sent right after it (the creator's
    own join, but nobody else's membership). 0 when `items` does not start the room; a lone
    create event is not a burst."""
    tiles = [(i, item) for i, item in enumerate(items) if item.get("html")]
    if not tiles or tiles[0][1].get("type") != CREATE:
        return 0
    first, create = tiles[0]
    creator = create.get("sender")
    end = first + 1
    for i, item in tiles[1:]:
        if item.get("state_key") is None or item.get("sender") != creator:
            break
        if item.get("type") == MEMBER and (
            item.get("state_key") != creator or item.get("membership") != "join"
        ):
            break
        end = i + 1
    return end if end - first > 1 else 0
