"""Searching messages with the homeserver's `/search`: in one room, or in every joined room.

Each result is shown as its timeline tile (rendered the same way, from the room's event
store), between the events just before and after it, with a link to its permalink
(`rooms:event`). Paging follows the server's `next_batch`. Encrypted rooms cannot be
searched by the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from webclient.live.devices import DeviceHandle, device_op
from webclient.matrix import errors
from webclient.matrix.names import MemberMap
from webclient.matrix.relations import REPLACE, relation_target, relation_type, tile_ids
from webclient.matrix.session import MatrixSession
from webclient.timeline.render import for_viewer, render_tiles
from webclient.web.auth import matrix_login_required
from webclient.web.rooms import FIRST_SYNC_WAIT, access_room, session_of

MAX_QUERY = 500  # characters; longer searches are refused before asking the homeserver
CONTEXT_EVENTS = 1  # events shown before and after each result
MAX_SHOWN = 1_000_000


@dataclass
class SearchResult:
    room_id: str
    room_name: str
    event_id: str
    timestamp: datetime | None
    item: dict[str, Any]
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


async def search_events(
    session: DeviceHandle, term: str, *, room_id: str | None = None, next_batch: str | None = None
) -> dict[str, Any]:
    """The `room_events` part of the homeserver's answer to a search, newest first."""
    criteria: dict[str, Any] = {
        "search_term": term,
        "order_by": "recent",
        "event_context": {
            "before_limit": CONTEXT_EVENTS,
            "after_limit": CONTEXT_EVENTS,
            "include_profile": True,
        },
    }
    if room_id:
        criteria["filter"] = {"rooms": [room_id]}
    answer = await session.api.search(
        {"search_categories": {"room_events": criteria}}, next_batch, action=_("Searching")
    )
    categories = answer.get("search_categories")
    room_events = categories.get("room_events") if isinstance(categories, dict) else None
    return room_events if isinstance(room_events, dict) else {}


async def _ensure_event(session: MatrixSession, room_id: str, event_id: str) -> bool:
    """Load an event into the room's store when it is not there (an edited original)."""
    store = session.timeline(room_id)
    if event_id in store:
        return True
    try:
        await session.event(room_id, event_id)
    except errors.MatrixError:
        return False
    return event_id in store


def _timestamp(event: dict[str, Any]) -> datetime | None:
    ts = event.get("origin_server_ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        return None
    try:
        return datetime.fromtimestamp(ts / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


async def build_results(
    session: DeviceHandle, raw_results: list[dict[str, Any]], default_room: str | None
) -> list[SearchResult]:
    """Rendered results: each hit's tile and the tiles of its context (by the device's
    owner, which holds the rooms' event stores)."""
    rendered = await session.run(
        rendered_results, raw_results=raw_results, default_room=default_room
    )
    results = []
    for found in rendered:
        ts = found.pop("ts")
        results.append(SearchResult(**found, timestamp=_timestamp({"origin_server_ts": ts})))
    return results


@device_op
async def rendered_results(
    session: MatrixSession, raw_results: list[dict[str, Any]], default_room: str | None
) -> list[dict[str, Any]]:
    """Each hit's tile and the tiles of its context, per room's store (`ts`: the hit's
    `origin_server_ts`)."""
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in raw_results:
        event = raw.get("result")
        if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
            continue
        room_id = event.get("room_id") if isinstance(event.get("room_id"), str) else default_room
        if not room_id:
            continue
        context = raw.get("context") if isinstance(raw.get("context"), dict) else {}
        # events_before comes newest first (as /context gives it); show in reading order.
        before = list(reversed(_dicts(context.get("events_before"))))
        after = _dicts(context.get("events_after"))
        store = session.timeline(room_id)
        store.add_all([*before, event, *after])

        hit_id = event["event_id"]
        if relation_type(event) == REPLACE:
            # An edit matched: show the message it edits (which shows its newest text).
            target = relation_target(event)
            if not target or not await _ensure_event(session, room_id, target):
                continue
            hit_id = target
        if hit_id in seen:
            continue
        seen.add(hit_id)

        members = MemberMap(session.members(room_id))  # indexed by name once per hit
        profiles = context.get("profile_info")
        if isinstance(profiles, dict):
            for user_id, profile in profiles.items():
                if isinstance(user_id, str) and isinstance(profile, dict):
                    members.setdefault(user_id, {**profile, "membership": "join"})
        before_ids = [i for i in tile_ids(before) if i != hit_id]
        after_ids = [i for i in tile_ids(after) if i != hit_id]
        await session.fetch_missing_replies(room_id, [*before_ids, hit_id, *after_ids])
        rendered = {
            item["event_id"]: item
            for item in for_viewer(
                render_tiles(store, [*before_ids, hit_id, *after_ids], members), session.user_id
            )
            if item.get("html")
        }
        if hit_id not in rendered:
            continue
        summary = session.rooms.rooms.get(room_id)
        results.append(
            {
                "room_id": room_id,
                "room_name": summary.display_name(session.user_id) if summary else room_id,
                "event_id": hit_id,
                "ts": (store.get(hit_id) or event).get("origin_server_ts"),
                "item": rendered[hit_id],
                "before": [rendered[i] for i in before_ids if i in rendered],
                "after": [rendered[i] for i in after_ids if i in rendered],
            }
        )
    return results


def _shown(request: HttpRequest) -> int:
    """How many results earlier pages showed (for "Results 11–13 of 13")."""
    try:
        return min(max(int(request.GET.get("shown", "0")), 0), MAX_SHOWN)
    except ValueError:
        return 0


async def _search_page(
    request: HttpRequest, session: DeviceHandle, *, room_id: str | None, room_name: str = ""
) -> HttpResponse:
    term = request.GET.get("q", "").strip()
    next_batch = request.GET.get("next_batch") or None
    shown = _shown(request)
    action = reverse("rooms:room_search", args=[room_id]) if room_id else reverse("rooms:search")
    context: dict[str, Any] = {
        "q": term,
        "room_id": room_id,
        "room_name": room_name,
        "action": action,
        "searched": False,
        "results": [],
        "error": "",
    }
    if room_id:
        summary = session.rooms.rooms.get(room_id)
        context["encrypted_note"] = bool(summary and summary.encrypted)
    else:
        context["encrypted_note"] = any(
            r.encrypted and r.membership == "join" for r in session.rooms.rooms.values()
        )
    if room_id:
        query = "?" + urlencode({"q": term}) if term else ""
        context["all_rooms_url"] = reverse("rooms:search") + query
    if not term:
        return render(request, "rooms/search.html", context)
    if len(term) > MAX_QUERY:
        context["error"] = _("That search is too long; use at most %(max)d characters.") % {
            "max": MAX_QUERY
        }
        return render(request, "rooms/search.html", context, status=400)
    try:
        answer = await search_events(session, term, room_id=room_id, next_batch=next_batch)
        results = await build_results(session, _dicts(answer.get("results")), room_id)
    except errors.MatrixError as exc:
        context["error"] = exc.message
        return render(request, "rooms/search.html", context, status=502)
    count = answer.get("count")
    following = answer.get("next_batch")
    context.update(
        {
            "searched": True,
            "results": results,
            "count": count if isinstance(count, int) and not isinstance(count, bool) else None,
            "first": shown + 1,
            "last": shown + len(results),
            "later_page": bool(next_batch),
            "more_url": action
            + "?"
            + urlencode({"q": term, "next_batch": following, "shown": shown + len(results)})
            if isinstance(following, str) and following
            else "",
        }
    )
    return render(request, "rooms/search.html", context)


@matrix_login_required
async def search_view(request: HttpRequest) -> HttpResponse:
    """`/search/?q=`: messages in every joined room."""
    session = await session_of(request)
    ready = await session.wait_synced(FIRST_SYNC_WAIT)
    if session.closed and not ready:
        raise errors.UnknownToken()
    return await _search_page(request, session, room_id=None)


@matrix_login_required
async def room_search_view(request: HttpRequest, room: str) -> HttpResponse:
    """`/rooms/<room>/search/?q=`: messages in one room."""
    found = await access_room(request, room)
    return await _search_page(request, found.session, room_id=found.room_id, room_name=found.name)
