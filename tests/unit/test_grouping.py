"""Date separators and the room's creation burst (timeline/grouping.py, render.py): pure
arrangement of a page's items, in the active time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.utils import timezone, translation

from webclient.timeline.grouping import (
    creation_burst_length,
    day_label,
    local_day,
    with_day_separators,
)
from webclient.timeline.render import collapse_creation_burst


def ms(*args: int, tz=UTC) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def tile(event_id: str, ts: int | None, **extra) -> dict:
    return {"event_id": event_id, "html": f"<article>{event_id}</article>", "ts": ts, **extra}


def separators(items: list[dict]) -> list[str]:
    return [i["day"] for i in items if i.get("day")]


# -- days --------------------------------------------------------------------------------------


def test_one_separator_per_day_before_its_first_tile() -> None:
    items = [
        tile("$a", ms(2026, 12, 1, 9)),
        tile("$b", ms(2026, 12, 1, 23)),
        tile("$c", ms(2026, 12, 3, 8)),
        tile("$d", ms(2026, 12, 4, 10)),
    ]
    with timezone.override("UTC"), translation.override("en"):
        out = with_day_separators(items, today=date(2026, 12, 4))
    assert [i.get("day") or i["event_id"] for i in out] == [
        "2026-12-01", "$a", "$b", "2026-12-03", "$c", "2026-12-04", "$d",
    ]  # fmt: skip
    labels = [i["html"] for i in out if i.get("day")]
    assert ">Yesterday</time>" in labels[1] and ">Today</time>" in labels[2]
    assert 'role="separator"' in labels[0] and 'data-day="2026-12-01"' in labels[0]
    # The tiles are the same objects' content: separators are items between them.
    assert [i["html"] for i in out if not i.get("day")] == [i["html"] for i in items]


def test_days_are_counted_in_the_active_time_zone() -> None:
    # 23:30 UTC on the 3rd is already the 4th in Berlin, and still the 3rd in New York.
    late = ms(2026, 12, 3, 23, 30)
    items = [tile("$a", ms(2026, 12, 3, 20)), tile("$b", late)]
    with timezone.override("Europe/Berlin"):
        assert local_day(late) == date(2026, 12, 4)
        assert separators(with_day_separators(items)) == ["2026-12-03", "2026-12-04"]
    with timezone.override("America/New_York"):
        assert separators(with_day_separators(items)) == ["2026-12-03"]


def test_labels_today_yesterday_weekday_date_and_translated() -> None:
    today = date(2026, 12, 4)  # a Friday
    with translation.override("en"):
        assert day_label(today, today) == "Today"
        assert day_label(date(2026, 12, 3), today) == "Yesterday"
        assert day_label(date(2026, 11, 30), today) == "Monday"
        assert day_label(date(2026, 11, 2), today) == "Nov. 2, 2026"
    with translation.override("de"):
        assert day_label(date(2026, 11, 30), today) == "Montag"
        assert "November" in day_label(date(2026, 11, 2), today)


def test_items_without_a_time_never_start_a_day_and_the_divider_stays_below_it() -> None:
    divider = {"event_id": "", "html": '<div class="unread-divider"></div>'}
    items = [
        tile("$a", ms(2026, 12, 3, 9)),
        divider,
        tile("$b", ms(2026, 12, 4, 9)),
        tile("$echo", None),
    ]
    with timezone.override("UTC"):
        out = with_day_separators(items, today=date(2026, 12, 4))
    order = [i.get("day") or i["event_id"] or "divider" for i in out]
    assert order == ["2026-12-03", "$a", "2026-12-04", "divider", "$b", "$echo"]


def test_empty_page() -> None:
    assert with_day_separators([]) == []


# -- the creation burst ------------------------------------------------------------------------

ALICE, BOB = "@alice:hs", "@bob:hs"


def state(event_id: str, type_: str, sender: str = ALICE, state_key: str = "", **extra) -> dict:
    return tile(event_id, 1, type=type_, sender=sender, state_key=state_key, **extra)


def creation(*rest: dict) -> list[dict]:
    return [
        state("$create", "m.room.create"),
        state("$join", "m.room.member", state_key=ALICE, membership="join"),
        state("$pl", "m.room.power_levels"),
        state("$jr", "m.room.join_rules"),
        state("$hv", "m.room.history_visibility"),
        state("$ga", "m.room.guest_access"),
        state("$enc", "m.room.encryption"),
        state("$name", "m.room.name"),
        state("$topic", "m.room.topic"),
        *rest,
    ]


def test_the_burst_runs_until_the_first_message() -> None:
    message = tile("$msg", 2, type="m.room.message", sender=ALICE, state_key=None)
    assert creation_burst_length(creation(message)) == 9


@pytest.mark.parametrize(
    "breaker",
    [
        state("$inv", "m.room.member", state_key=BOB, membership="invite"),  # someone else
        state("$bobjoin", "m.room.member", sender=BOB, state_key=BOB, membership="join"),
        state("$bobname", "m.room.name", sender=BOB),  # another sender's state
        tile("$msg", 2, type="m.room.message", sender=ALICE, state_key=None),
        {"event_id": "", "html": '<div class="unread-divider"></div>'},
    ],
)
def test_the_burst_stops_at_other_people_and_non_state(breaker: dict) -> None:
    items = creation()[:3] + [breaker] + [state("$late", "m.room.topic")]
    assert creation_burst_length(items) == 3


def test_no_burst_without_the_create_event_or_with_it_alone() -> None:
    assert creation_burst_length(creation()[1:]) == 0
    assert creation_burst_length(creation()[:1]) == 0
    lone = creation()[:1] + [tile("$msg", 2, type="m.room.message", sender=ALICE)]
    assert creation_burst_length(lone) == 0
    assert creation_burst_length([]) == 0


def test_collapsed_burst_names_the_creator_and_keeps_every_tile() -> None:
    message = tile("$msg", 2, type="m.room.message", sender=ALICE, state_key=None)
    members = {ALICE: {"displayname": "Alice <b>", "membership": "join"}}
    with translation.override("en"):
        out = collapse_creation_burst(creation(message), members)
    assert len(out) == 2 and out[1] is message
    html = out[0]["html"]
    assert html.startswith('<details class="creation-burst" data-burst="9">')
    assert "Alice &lt;b&gt; created and configured the room." in html
    for item in creation():
        assert item["html"] in html
    assert out[0]["event_id"] == "$create" and out[0]["ts"] == 1
