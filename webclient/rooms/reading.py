"""Reading rooms: the room list, a room's page, a permalink, a thread, and the timeline
fragments scripts fetch. Rendered on the server; live updates come over the websocket."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import gettext as _

from webclient.live import publisher
from webclient.live.devices import OwnerUnavailable, device_op
from webclient.matrix import errors, power, previews
from webclient.matrix.api import new_txn_id
from webclient.matrix.names import member_display_name
from webclient.matrix.relations import tile_ids
from webclient.matrix.session import MatrixSession
from webclient.timeline.avatars import avatar
from webclient.timeline.compose import COMMANDS
from webclient.timeline.render import for_viewer, render_tiles
from webclient.timeline.roomlist import render_room_sections
from webclient.timeline.viewmodels import topic_html
from webclient.web.auth import matrix_login_required
from webclient.web.errors import PageError
from webclient.web.rooms import FIRST_SYNC_WAIT, RoomAccess, access_room, session_of
from webclient.web.uploads import upload_limit

from .knocking import room_preview_page
from .timeline_pages import composer_context, context_page, pinned_context, timeline_context


@matrix_login_required
async def room_list(request: HttpRequest) -> HttpResponse:
    session = await session_of(request)
    epoch, position = session.epoch, session.position
    ready = await session.wait_synced(FIRST_SYNC_WAIT)
    if session.closed and not ready:
        raise errors.UnknownToken()
    context = {
        "unread_total": session.unread_total(),
        "sections": render_room_sections(session.rooms, session.user_id),
        "has_rooms": bool(session.rooms.rooms),
        "ready": ready,
        "epoch": epoch,
        "pos": position,
    }
    return render(request, "rooms/list.html", context)


async def room_page(
    request: HttpRequest,
    room: str,
    *,
    draft: str = "",
    send_error: str = "",
    txn_id: str = "",
    reply_to: str | None = None,
    event_id: str | None = None,
    pane: bool = False,
) -> HttpResponse:
    """The room's page (or, with `event_id`, the room around that event); after a failed
    send without JavaScript, the same page with the draft kept and the error shown. With
    `pane`, only the conversation, for a page that swaps it beside its room list."""
    found = await access_room(request, room, membership=None)
    session, room_id, summary = found.session, found.room_id, found.summary
    if pane and (summary is None or summary.membership != "join"):
        # An invitation or a room one is not in is a page of its own: the script loads it.
        return HttpResponse(_("Open this room as a page."), status=409, content_type="text/plain")
    if summary is not None and summary.membership == "invite":
        return HttpResponseRedirect(reverse("rooms:invitation", args=[room_id]))
    if summary is None or summary.membership != "join":
        return await room_preview_page(request, room)
    # The room list beside the conversation, as it was when the page was rendered (the
    # socket catches up from the same position).
    list_epoch, list_pos = session.epoch, session.position
    sections = []
    if not pane:
        sections = mark_current(render_room_sections(session.rooms, session.user_id), room_id)
    if summary.marked_unread:
        # Opening the room reads it, as in Element.
        try:
            await session.set_marked_unread(room_id, False)
        except errors.MatrixError:
            pass
    levels, create = await session.power_levels(room_id)
    context: dict[str, Any] = {
        "room_id": room_id,
        "room_name": found.name,
        "own_name": member_display_name(session.user_id, summary.members),
        "joined_count": summary.joined_count,
        "room_tags": summary.tags,
        "room_avatar": avatar(room_id, found.name, summary.avatar_url),
        "sections": sections,
        "list_epoch": list_epoch,
        "list_pos": list_pos,
        "unread_total": session.unread_total(),
        "topic_html": topic_html(summary.topic, summary.topic_html),
        "draft": draft,
        "send_error": send_error,
        "txn_id": txn_id or new_txn_id(),
        "upload_limit": await upload_limit(session) or "",
        "max_tiles": settings.MAX_TILES,
        "can_redact": power.can(levels, create, session.user_id, "redact"),
        "can_pin": power.can_send_state(levels, create, session.user_id, "m.room.pinned_events"),
        "commands": COMMANDS,
        "show_help": request.GET.get("help") == "1",
        "url_previews": await previews.enabled(session, summary),
    }
    try:
        if event_id:
            context.update(await session.run(context_page, room_id=room_id, event_id=event_id))
        else:
            context.update(
                await session.run(
                    timeline_context,
                    room_id=room_id,
                    from_token=request.GET.get("from"),
                    after=request.GET.get("after"),
                )
            )
        if reply_to := reply_to or request.GET.get("reply_to"):
            context.update(await session.run(composer_context, room_id=room_id, reply_to=reply_to))
        if summary.pinned:
            context.update(await session.run(pinned_context, room_id=room_id))
        else:
            context.update(pins=[], pinned_ids="", pinned_total=0)
    except errors.MatrixError as exc:
        if event_id and exc.errcode == "M_NOT_FOUND":
            raise PageError(exc.message, _("Message not found"), 404) from exc
        context.update(
            {
                "timeline": [],
                "load_error": exc.message,
                "epoch": session.epoch,
                "pos": -1,
            }
        )
    if pane:
        context["page_base"] = "rooms/_pane_only.html"
    return render(request, "rooms/room.html", context, status=400 if send_error else 200)


def mark_current(sections: list[str], room_id: str) -> list[str]:
    """The room list's sections with the open room's entry marked as the current page
    (the entries are shared HTML, the same for every page; the mark is this page's)."""
    marker = f'data-room-id="{escape(room_id)}"'
    return [html.replace(marker, f'{marker} aria-current="page"', 1) for html in sections]


@matrix_login_required
async def room_view(request: HttpRequest, room: str) -> HttpResponse:
    return await room_page(request, room)


@matrix_login_required(fragment=True)
async def room_pane(request: HttpRequest, room: str) -> HttpResponse:
    """The conversation alone (header, timeline, composer): a room page beside its room
    list swaps it in when another room is chosen, without loading the list again."""
    return await room_page(request, room, pane=True)


@matrix_login_required
async def event_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    """A permalink: the room around one event, highlighted, with history both ways."""
    return await room_page(request, room, event_id=event_id)


@matrix_login_required(fragment=True)
async def room_timeline(request: HttpRequest, room: str) -> HttpResponse:
    """Just the timeline: a page that catches up after its socket missed events, or that
    loads older (`?from=`) or newer (`?after=`) history while scrolling."""
    session = await session_of(request)
    room_id = await session.resolve(room)
    context = await session.run(
        timeline_context,
        room_id=room_id,
        from_token=request.GET.get("from"),
        after=request.GET.get("after"),
    )
    context["room_id"] = room_id
    return render(request, "rooms/_timeline.html", context)


@matrix_login_required(fragment=True)
async def pins_view(request: HttpRequest, room: str) -> HttpResponse:
    """The banner of pinned messages alone: the room page fetches it when the pins change."""
    found = await access_room(request, room)
    pins = await found.session.run(pinned_context, room_id=found.room_id)
    context = {"room_id": found.room_id, **pins}
    return render(request, "rooms/_pins.html", context)


async def thread_page(
    request: HttpRequest,
    room: str,
    root_id: str,
    *,
    draft: str = "",
    send_error: str = "",
    txn_id: str = "",
) -> HttpResponse:
    """A thread: its root and its messages, with a composer that posts into it."""
    found: RoomAccess = await access_room(request, room)
    session, room_id = found.session, found.room_id
    try:
        thread = await session.run(thread_context, room_id=room_id, root_id=root_id)
    except OwnerUnavailable:
        raise
    except errors.MatrixError as exc:
        raise PageError(exc.message, _("Thread not found"), 404) from exc
    assert found.summary is not None
    context = {
        "room_id": room_id,
        "thread_root": root_id,
        "room_name": found.name,
        "own_name": member_display_name(session.user_id, found.summary.members),
        "timeline": thread["timeline"],
        "epoch": thread["epoch"],
        "pos": thread["pos"],
        "draft": draft,
        "send_error": send_error,
        "txn_id": txn_id or new_txn_id(),
        "upload_limit": "",
        "commands": COMMANDS,
    }
    return render(request, "rooms/thread.html", context, status=400 if send_error else 200)


@device_op(shared=True)
async def thread_context(session: MatrixSession, room_id: str, root_id: str) -> dict[str, Any]:
    """A thread's root and its messages, rendered by the device's owner."""
    pages = publisher.of(session)
    position = pages.position
    root = await session.event(room_id, root_id)
    page = await session.api.relations(
        room_id,
        root_id,
        "m.thread",
        query={"limit": "100", "dir": "b"},
        action=_("Loading the thread"),
    )
    store = session.timeline(room_id)
    replies = [e for e in reversed(page.get("chunk") or []) if isinstance(e, dict)]
    store.add_all(replies)
    ids = [root.get("event_id", root_id)] + tile_ids(replies)
    await session.fetch_missing_replies(room_id, ids)
    items = for_viewer(render_tiles(store, ids, session.members(room_id)), session.user_id)
    return {"timeline": items, "epoch": pages.epoch, "pos": position}


@matrix_login_required
async def thread_view(request: HttpRequest, room: str, root_id: str) -> HttpResponse:
    return await thread_page(request, room, root_id)


async def socket_over_http(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        _("This address is a websocket."), status=426, headers={"Upgrade": "websocket"}
    )
