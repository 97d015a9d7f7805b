"""Render events to HTML fragments, once per event: every viewer gets the same bytes.

Events are immutable (edits and redactions are new events that re-render their target), so
a fragment is cached by event ID. The cache version changes when templates change.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from html import escape as html_escape
from html import unescape as html_unescape
from typing import Any

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone, translation

from webclient.matrix.names import member_display_name
from webclient.matrix.relations import RoomEvents, TileState

from . import viewmodels
from .grouping import creation_burst_length

logger = logging.getLogger("webclient.timeline")

# Part of every cached tile's key: changed with the tiles' markup, so a shared cache (Redis)
# hands no page a tile of the markup before (7: the actions menu became a popover).
RENDER_VERSION = "7"
CACHE_SECONDS = 60 * 60 * 24
# Fragments found in the cache and rendered afresh, since the process started (read by the
# metrics, webclient/ops/metrics.py).
CACHE_COUNTS = [0, 0]


def _viewer() -> str:
    """The language and time zone tiles are rendered in now (their text and times depend
    on them): one cache entry per tile state *and* viewer variant."""
    return f"{translation.get_language()}|{timezone.get_current_timezone_name()}"


def _key(event_id: str, viewer: str | None = None) -> str:
    return f"event-html:{RENDER_VERSION}:{viewer or _viewer()}:{event_id}"


def render_view(view: viewmodels.EventView) -> str:
    return render_to_string("events/tile.html", {"view": view})


def render_event_uncached(event: Mapping[str, Any], members: Mapping[str, dict]) -> str:
    """The fragment of one event; '' when the event has no tile."""
    try:
        view = viewmodels.build(event, members)
    except Exception:
        # A malformed event gets a placeholder tile, never a broken page.
        logger.exception("could not build a view of %s", event.get("event_id"))
        view = viewmodels.EventView(
            event_id=str(event.get("event_id", "")),
            sender=str(event.get("sender", "")),
            sender_name=str(event.get("sender", "")),
            timestamp=None,
            template="events/unrenderable.html",
            kind="message",
            css="unrenderable",
        )
    return render_view(view) if view else ""


def render_events(
    events: Iterable[Mapping[str, Any]], members: Mapping[str, dict]
) -> list[dict[str, Any]]:
    """Fragments for a run of events, as `{event_id, html, txn_id}` (txn_id for local echo)."""
    events = [e for e in events if isinstance(e.get("event_id"), str)]
    viewer = _viewer()  # once per call: reading the active language and zone costs ~10 µs
    keys = {e["event_id"]: _key(e["event_id"], viewer) for e in events}
    cached = cache.get_many(list(keys.values()))
    fresh: dict[str, str] = {}
    items = []
    for event in events:
        key = keys[event["event_id"]]
        html = cached.get(key)
        if html is None:
            html = render_event_uncached(event, members)
            fresh[key] = html
        unsigned = event.get("unsigned") if isinstance(event.get("unsigned"), dict) else {}
        txn_id = unsigned.get("transaction_id")
        items.append(
            {
                "event_id": event["event_id"],
                "html": html,
                "txn_id": txn_id if isinstance(txn_id, str) else None,
            }
        )
    CACHE_COUNTS[0] += len(items) - len(fresh)
    CACHE_COUNTS[1] += len(fresh)
    if fresh:
        cache.set_many(fresh, CACHE_SECONDS)
    return items


def _tile_html(tile: TileState, members: Mapping[str, dict], room_id: str) -> str:
    try:
        view = viewmodels.build_tile(tile, members, room_id)
    except Exception:
        logger.exception("could not build a view of %s", tile.event_id)
        return render_event_uncached({"event_id": tile.event_id, "sender": "", "type": None}, {})
    return render_view(view) if view else ""


def render_tiles(
    store: RoomEvents, event_ids: list[str], members: Mapping[str, dict]
) -> list[dict[str, Any]]:
    """Fragments for tiles of `store`, keyed by the tile's whole state (event, edit,
    redaction, reactions, thread, reply): each state is rendered once for all viewers."""
    tiles = [t for t in (store.tile(e) for e in event_ids) if t is not None]
    viewer = _viewer()
    keys = {t.event_id: f"tile:{RENDER_VERSION}:{viewer}:{t.cache_key()}" for t in tiles}
    cached = cache.get_many(list(keys.values()))
    fresh: dict[str, str] = {}
    items = []
    for tile in tiles:
        key = keys[tile.event_id]
        html = cached.get(key)
        if html is None:
            html = _tile_html(tile, members, store.room_id)
            fresh[key] = html
        original = store.get(tile.event_id) or {}
        unsigned = original.get("unsigned") if isinstance(original.get("unsigned"), dict) else {}
        txn_id = unsigned.get("transaction_id")
        content = tile.event.get("content") if isinstance(tile.event.get("content"), dict) else {}
        root = content.get("m.relates_to", {}) if content else {}
        ts = tile.event.get("origin_server_ts")
        state_key = tile.event.get("state_key")
        items.append(
            {
                "event_id": tile.event_id,
                "sender": str(tile.event.get("sender", "")),
                # What pages arrange tiles by (timeline/grouping.py): the day, and the
                # state events that set the room up.
                "ts": ts if isinstance(ts, int) and not isinstance(ts, bool) else None,
                "type": str(tile.event.get("type", "")),
                "state_key": state_key if isinstance(state_key, str) else None,
                "membership": content.get("membership") if content else None,
                "html": html,
                "txn_id": txn_id if isinstance(txn_id, str) else None,
                "thread_id": root.get("event_id")
                if isinstance(root, dict) and root.get("rel_type") == "m.thread"
                else None,
                "mentions": viewmodels.mentioned_users(content),
                "member_text": viewmodels.member_text(tile.event, members)
                if tile.event.get("type") == "m.room.member" and html
                else None,
            }
        )
    CACHE_COUNTS[0] += len(items) - len(fresh)
    CACHE_COUNTS[1] += len(fresh)
    if fresh:
        cache.set_many(fresh, CACHE_SECONDS)
    return items


_POLL_ANSWER_RE = re.compile(r'<li class="poll-answer" data-voters="([^"]*)"')


def for_viewer(
    items: list[dict[str, Any]], user_id: str, pinned: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The per-viewer touch on shared fragments, for a page rendered on the server: mark the
    viewer's own messages (their edit and delete actions show), those that mention them,
    the room's pinned messages (Unpin instead of Pin) and the viewer's votes in polls.
    Live pages do the same in live.js."""
    marked = []
    for item in items:
        classes = []
        if item.get("sender") == user_id:
            classes.append("mine")
        if user_id in (item.get("mentions") or ()):
            classes.append("mentions-me")
        if item.get("event_id") in pinned:
            classes.append("pinned")
        html = item.get("html") or ""
        if classes and html.startswith('<article class="event '):
            html = html.replace(
                '<article class="event ', f'<article class="event {" ".join(classes)} ', 1
            )
        txn_id = item.get("txn_id")
        if txn_id and "mine" in classes and html.startswith("<article "):
            # The transaction it was sent with (the homeserver tells only its sender's
            # device): a page fetching its timeline afresh drops the local echo it replaces.
            html = html.replace("<article ", f'<article data-own-txn="{html_escape(txn_id)}" ', 1)
        if 'class="poll-answer"' in html:
            html = _POLL_ANSWER_RE.sub(
                lambda m: (
                    f'<li class="poll-answer mine" data-voters="{m.group(1)}"'
                    if user_id in html_unescape(m.group(1)).split(" ")
                    else m.group(0)
                ),
                html,
            )
        if html != item.get("html"):
            item = {**item, "html": html}
        marked.append(item)
    return marked


MIN_RUN = 3


def collapse_membership_runs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of membership changes (joins, leaves, profile changes) become one summary line
    that opens to show them, as in Element; shorter runs stay as they are."""
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []

    def flush() -> None:
        if len(run) >= MIN_RUN:
            texts = [item["member_text"] for item in run]
            summary = ", ".join(texts[:2])
            if len(texts) > 2:
                summary += f" and {len(texts) - 2} more changes"
            html = render_to_string(
                "events/membership_run.html", {"items": run, "summary": summary}
            )
            out.append({**run[0], "html": html, "member_text": None, "run": len(run)})
        else:
            out.extend(run)
        run.clear()

    for item in items:
        if item.get("member_text"):
            run.append(item)
            continue
        if not item.get("html"):
            continue
        flush()
        out.append(item)
    flush()
    return out


def collapse_creation_burst(
    items: list[dict[str, Any]], members: Mapping[str, dict]
) -> list[dict[str, Any]]:
    """The state events that set the room up (create, the creator's join, power levels,
    join rules, name, topic, encryption…) become one "<creator> created and configured the
    room" line that opens to show them, as in Element."""
    length = creation_burst_length(items)
    if not length:
        return items
    burst = [item for item in items[:length] if item.get("html")]
    creator = str(burst[0].get("sender", ""))
    name = member_display_name(creator, members)
    html = render_to_string("events/creation_burst.html", {"items": burst, "creator": name})
    return [{**burst[0], "html": html, "member_text": None, "burst": len(burst)}, *items[length:]]
