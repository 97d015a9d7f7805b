"""The timeline part of a room's pages: the newest events, a page of history either way, or
the room around one event (a permalink). The room page, the thread page, embeds and kiosk
screens all show these; live pushes carry the same fragments.

Each is a device operation (`live.devices.device_op`): only the device's owner has its
decrypted events and its publisher's position, so views ask it with
`device.run(timeline_context, room_id=…)`, whichever process serves the page."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.html import format_html
from django.utils.translation import gettext as _

from webclient.live import publisher
from webclient.live.access import rewrite_media
from webclient.live.devices import device_op
from webclient.matrix import errors, polls
from webclient.matrix.names import MemberMap, member_display_name
from webclient.matrix.relations import tile_ids
from webclient.matrix.roomstate import message_preview
from webclient.matrix.session import MatrixSession
from webclient.timeline.render import (
    collapse_creation_burst,
    collapse_membership_runs,
    for_viewer,
    render_tiles,
)


def unread_divider_html() -> str:
    """The "New messages" line, in the viewer's language."""
    return format_html(
        '<div class="unread-divider" id="unread-divider" role="separator">{}</div>',
        _("New messages"),
    )


def _members_with_state(session: MatrixSession, room_id: str, page: dict[str, Any]) -> dict:
    """The room's members as the session knows them, plus the lazy-loaded ones of a page
    (indexed by name once for the page's tiles: `MemberMap`)."""
    members: dict[str, dict] = MemberMap(session.members(room_id))
    for event in page.get("state") or []:
        if (
            isinstance(event, dict)
            and event.get("type") == "m.room.member"
            and isinstance(event.get("content"), dict)
        ):
            members.setdefault(str(event.get("state_key", "")), event["content"])
    return members


def pinned_of(session: MatrixSession, room_id: str) -> frozenset[str]:
    summary = session.room(room_id)
    return frozenset(summary.pinned) if summary is not None else frozenset()


def with_unread_divider(items: list[dict[str, Any]], marker: str | None) -> list[dict[str, Any]]:
    """A "New messages" line after the event the user had fully read, when newer ones follow."""
    ids = [item["event_id"] for item in items if item.get("html")]
    if not marker or marker not in ids or marker == ids[-1]:
        return items
    at = next(i for i, item in enumerate(items) if item["event_id"] == marker)
    return [*items[: at + 1], {"event_id": "", "html": unread_divider_html()}, *items[at + 1 :]]


CREATION_LOOKBACK = 20


def _may_continue_creation(session: MatrixSession, room_id: str, event: dict[str, Any]) -> bool:
    """Whether a page starting with `event` may have cut the room's creation: a state event
    (not the create event itself) of the room's creator."""
    if not isinstance(event.get("state_key"), str) or event.get("type") == "m.room.create":
        return False
    summary = session.room(room_id)
    creators = summary.creators if summary is not None else []
    return not creators or event.get("sender") in creators


async def _rest_of_creation(
    session: MatrixSession, room_id: str, token: str | None, first: dict[str, Any]
) -> dict[str, Any] | None:
    """The events before `first` when they are all state events of its sender back to the
    room's m.room.create (the room's creation, cut by a page boundary); else None."""
    if not token:
        return None
    page = await session.messages(room_id, from_token=token, limit=CREATION_LOOKBACK)
    older = list(reversed([e for e in page.get("chunk") or [] if isinstance(e, dict)]))
    if not older or older[0].get("type") != "m.room.create":
        return None
    sender = first.get("sender")
    if any(not isinstance(e.get("state_key"), str) or e.get("sender") != sender for e in older):
        return None
    return {"events": older, "state": page.get("state") or []}


@device_op(shared=True)
async def timeline_context(
    session: MatrixSession, room_id: str, from_token: str | None, *, after: str | None = None
) -> dict[str, Any]:
    """A page of the room: the newest events, the page before `from_token`, or the page
    after `after`. Thread replies are left to their thread page (their root shows a
    summary). The page is one chunk carrying the tokens to load what is before and after
    it, so the browser can page both ways and drop chunks far off-screen."""
    pages = publisher.of(session)
    position = pages.position
    limit = settings.TIMELINE_PAGE_SIZE
    forward = after is not None
    page = await session.messages(
        room_id,
        from_token=after if forward else from_token,
        limit=limit,
        direction="f" if forward else "b",
    )
    chunk = [e for e in page.get("chunk") or [] if isinstance(e, dict)]
    events = chunk if forward else list(reversed(chunk))
    full = len(chunk) >= limit
    if not forward and full and events and _may_continue_creation(session, room_id, events[0]):
        # The page starts inside the room's creation: take the rest of it, so the
        # "created and configured the room" line is whole.
        earlier = await _rest_of_creation(session, room_id, page.get("end"), events[0])
        if earlier is not None:
            events, full = earlier["events"] + events, False
            page = {**page, "state": (page.get("state") or []) + earlier["state"]}
    members = _members_with_state(session, room_id, page)
    ids = tile_ids(events)
    await session.fetch_missing_replies(room_id, ids)
    items = render_tiles(session.timeline(room_id), ids, members)
    items = [item for item in items if not item.get("thread_id")]
    newest = from_token is None and not forward
    if forward:
        prev_token, next_token = page.get("start"), page.get("end") if full else None
    else:
        prev_token, next_token = (page.get("end") if full else None), page.get("start")
    # "Jump to first unread": the divider on this page, or the room around the fully-read
    # event when it is older than the page.
    unread_divider, unread_marker = False, None
    if newest:
        marker = await session.fully_read_marker(room_id)
        items = with_unread_divider(items, marker)
        unread_divider = any(item.get("html") == unread_divider_html() for item in items)
        if (
            marker
            and not unread_divider
            and prev_token
            and marker not in {e.get("event_id") for e in events}
        ):
            unread_marker = marker
    return {
        "timeline": collapse_membership_runs(
            collapse_creation_burst(
                for_viewer(items, session.user_id, pinned_of(session, room_id)), members
            )
        ),
        "receipts_json": json.dumps(pages.receipt_view(room_id)),
        "unread_total": session.unread_total(),
        "older_token": prev_token,
        "next_token": next_token,
        # Not the live end: the page offers "Newer messages" and ignores live events.
        "newer_token": None if newest else next_token,
        "epoch": pages.epoch,
        # A page of history is not followed live; pos -1 makes the socket skip replay.
        "pos": position if newest else -1,
        "live_end": newest,
        "unread_divider": unread_divider,
        "unread_marker": unread_marker,
    }


@device_op(shared=True)
async def context_page(session: MatrixSession, room_id: str, event_id: str) -> dict[str, Any]:
    """The room around one event (a permalink), via `/context`.

    `/context` finds the event and the token after the events following it; the page is then
    the `/messages` page before that token. Synapse's `events_before` starts one level of
    depth below the event, so it skips events at the event's own depth (concurrent sends
    fork the room's graph): they would never show, even scrolling up."""
    limit = settings.TIMELINE_PAGE_SIZE
    data = await session.api.context(
        room_id,
        event_id,
        {"limit": str(limit), "filter": json.dumps({"lazy_load_members": True})},
        action=_("Loading the message"),
    )
    before = [e for e in reversed(data.get("events_before") or []) if isinstance(e, dict)]
    after = [e for e in data.get("events_after") or [] if isinstance(e, dict)]
    target = data.get("event") if isinstance(data.get("event"), dict) else None
    events = before + ([target] if target else []) + after
    older_token = data.get("start") if len(before) >= limit // 2 else None
    page: dict[str, Any] = {}
    if data.get("end"):
        page = await session.messages(room_id, from_token=data["end"], limit=limit)
        chunk = [e for e in page.get("chunk") or [] if isinstance(e, dict)]
        if any(e.get("event_id") == event_id for e in chunk):
            events = list(reversed(chunk))
            older_token = page.get("end") if len(chunk) >= limit else None
    store = session.timeline(room_id)
    store.add_all(events)
    state = (data.get("state") or []) + (page.get("state") or [])
    members = _members_with_state(session, room_id, {"state": state})
    ids = tile_ids(events)
    await session.fetch_missing_replies(room_id, ids)
    items = [i for i in render_tiles(store, ids, members) if not i.get("thread_id")]
    items = [
        {
            **i,
            "html": i["html"].replace(
                '<article class="event ', '<article class="event highlighted ', 1
            ),
        }
        if i["event_id"] == event_id
        else i
        for i in items
    ]
    pages = publisher.of(session)
    return {
        "timeline": collapse_membership_runs(
            collapse_creation_burst(
                for_viewer(items, session.user_id, pinned_of(session, room_id)), members
            )
        ),
        "receipts_json": json.dumps(pages.receipt_view(room_id)),
        "unread_total": session.unread_total(),
        "older_token": older_token,
        "next_token": data.get("end"),
        "newer_token": data.get("end"),
        "highlight": event_id,
        "epoch": pages.epoch,
        "pos": -1,
    }


MAX_PINS_SHOWN = 20


@device_op(shared=True)
async def pinned_context(session: MatrixSession, room_id: str) -> dict[str, Any]:
    """The banner of pinned messages (m.room.pinned_events): the newest pin first, each with
    its sender and a one-line preview, linking to the message in the room."""
    summary = session.room(room_id)
    pinned = list(summary.pinned) if summary is not None else []
    members = session.members(room_id)
    pins = []
    for event_id in reversed(pinned[-MAX_PINS_SHOWN:]):
        try:
            event = await session.event(room_id, event_id)
        except errors.MatrixError:
            pins.append({"event_id": event_id, "missing": True})
            continue
        tile = session.timeline(room_id).tile(event_id)
        shown = tile.event if tile is not None else event
        sender = str(shown.get("sender", ""))
        content = shown.get("content") if isinstance(shown.get("content"), dict) else {}
        name = member_display_name(sender, members)
        if shown.get("type") in polls.START_TYPES:
            poll = polls.parse_start(str(shown.get("type")), content)
            preview = _("Poll: %(question)s") % {"question": poll.question} if poll else ""
        elif not content:
            preview = _("Message deleted")
        else:
            preview = message_preview(content, name)
        pins.append(
            {
                "event_id": event_id,
                "sender": sender,
                "sender_name": name,
                "preview": " ".join(preview.split())[:140],
            }
        )
    return {"pins": pins, "pinned_ids": " ".join(pinned), "pinned_total": len(pinned)}


@device_op(shared=True)
async def composer_context(
    session: MatrixSession, room_id: str, reply_to: str | None
) -> dict[str, Any]:
    """The banner above the composer when the user is replying (`?reply_to=`). (The slash
    commands its help lists are the page's: `compose.COMMANDS`.)"""
    if not reply_to:
        return {}
    try:
        event = await session.event(room_id, reply_to)
    except errors.MatrixError:
        return {}
    members = session.members(room_id)
    sender = str(event.get("sender", ""))
    content = event.get("content") if isinstance(event.get("content"), dict) else {}
    name = member_display_name(sender, members)
    return {
        "reply_to": reply_to,
        "reply_name": name,
        "reply_preview": message_preview(content, name)[:140],
    }


@device_op(shared=True)
async def screen_timeline(
    session: MatrixSession,
    room_id: str,
    media_prefix: str,
    *,
    from_token: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    """The timeline for a page read through an embed ticket or a kiosk link: the same tiles,
    with media pointed at an address that needs no cookie, and nobody's read receipts."""
    context = await timeline_context(session, room_id, from_token, after=after)
    context["timeline"] = [
        {**item, "html": rewrite_media(item["html"], media_prefix)} if item.get("html") else item
        for item in context["timeline"]
    ]
    # Receipts name people and belong to the signed-in client, not a shared screen.
    context["receipts_json"] = "[]"
    context["screen"] = True
    context["unread_marker"] = None
    return context
