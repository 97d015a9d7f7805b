"""Room list and room pages, rendered on the server; live updates come over the websocket."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from webclient.accounts.current import login_url, matrix_login_required
from webclient.matrix import errors, power, registry
from webclient.matrix.roomstate import message_preview
from webclient.matrix.session import MatrixSession
from webclient.matrix.names import member_display_name
from webclient.timeline.render import (
    collapse_membership_runs,
    for_viewer,
    render_tiles,
    tile_ids,
)
from webclient.timeline.sanitize import plain_to_html

from . import moderation, sending, uploads
from .render import render_room_sections

logger = logging.getLogger("webclient.rooms")

FIRST_SYNC_WAIT = 20.0


async def _wait_synced(session: MatrixSession, timeout: float = FIRST_SYNC_WAIT) -> bool:
    try:
        await asyncio.wait_for(session.synced.wait(), timeout)
        return True
    except TimeoutError:
        return False


def _ended(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(login_url("revoked", request.get_full_path()))


@matrix_login_required
async def room_list(request: HttpRequest) -> HttpResponse:
    session = await registry.session_for(request.credential)
    position = session.position
    ready = await _wait_synced(session)
    if session.closed and not ready:
        return _ended(request)
    context = {
        "credential": request.credential,
        "unread_total": session.unread_total(),
        "sections": render_room_sections(session.rooms, session.user_id),
        "has_rooms": bool(session.rooms.rooms),
        "ready": ready,
        "epoch": session.epoch,
        "pos": position,
    }
    return render(request, "rooms/list.html", context)


async def _resolve_room(session: MatrixSession, room: str) -> str:
    if room.startswith("#"):
        response = await session.request(
            lambda: session.client.room_resolve_alias(room), "Looking up the room address"
        )
        return response.room_id
    return room


def _members_with_state(session: MatrixSession, room_id: str, page: dict[str, Any]) -> dict:
    members: dict[str, dict] = dict(session.members(room_id))
    for event in page.get("state") or []:
        if (
            isinstance(event, dict)
            and event.get("type") == "m.room.member"
            and isinstance(event.get("content"), dict)
        ):
            members.setdefault(str(event.get("state_key", "")), event["content"])
    return members


async def _timeline_context(
    session: MatrixSession, room_id: str, from_token: str | None, *, after: str | None = None
) -> dict[str, Any]:
    """A page of the room: the newest events, the page before `from_token`, or the page
    after `after`. Thread replies are left to their thread page (their root shows a
    summary). The page is one chunk carrying the tokens to load what is before and after
    it, so the browser can page both ways and drop chunks far off-screen."""
    position = session.position
    limit = settings.TIMELINE_PAGE_SIZE
    forward = after is not None
    page = await session.messages(
        room_id,
        from_token=after if forward else from_token,
        limit=limit,
        direction="f" if forward else "b",
    )
    members = _members_with_state(session, room_id, page)
    chunk = [e for e in page.get("chunk") or [] if isinstance(e, dict)]
    events = chunk if forward else list(reversed(chunk))
    full = len(chunk) >= limit
    ids = tile_ids(events)
    await session.fetch_missing_replies(room_id, ids)
    items = render_tiles(session.timeline(room_id), ids, members)
    items = [item for item in items if not item.get("thread_id")]
    newest = from_token is None and not forward
    if newest:
        items = _with_unread_divider(items, await session.fully_read_marker(room_id))
    if forward:
        prev_token, next_token = page.get("start"), page.get("end") if full else None
    else:
        prev_token, next_token = (page.get("end") if full else None), page.get("start")
    return {
        "timeline": collapse_membership_runs(for_viewer(items, session.user_id)),
        "receipts_json": json.dumps(session.receipt_view(room_id)),
        "unread_total": session.unread_total(),
        "older_token": prev_token,
        "next_token": next_token,
        # Not the live end: the page offers "Newer messages" and ignores live events.
        "newer_token": None if newest else next_token,
        "epoch": session.epoch,
        # A page of history is not followed live; pos -1 makes the socket skip replay.
        "pos": position if newest else -1,
    }


async def _context_page(session: MatrixSession, room_id: str, event_id: str) -> dict[str, Any]:
    """The room around one event (a permalink), via `/context`.

    `/context` finds the event and the token after the events following it; the page is then
    the `/messages` page before that token. Synapse's `events_before` starts one level of
    depth below the event, so it skips events at the event's own depth (concurrent sends
    fork the room's graph): they would never show, even scrolling up."""
    limit = settings.TIMELINE_PAGE_SIZE
    data = await session.api(
        "GET",
        f"/rooms/{quote(room_id, safe='')}/context/{quote(event_id, safe='')}",
        query={"limit": str(limit), "filter": json.dumps({"lazy_load_members": True})},
        action="Loading the message",
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
    return {
        "timeline": collapse_membership_runs(for_viewer(items, session.user_id)),
        "receipts_json": json.dumps(session.receipt_view(room_id)),
        "unread_total": session.unread_total(),
        "older_token": older_token,
        "next_token": data.get("end"),
        "newer_token": data.get("end"),
        "highlight": event_id,
        "epoch": session.epoch,
        "pos": -1,
    }


UNREAD_DIVIDER = (
    '<div class="unread-divider" id="unread-divider" role="separator">New messages</div>'
)


def _with_unread_divider(items: list[dict[str, Any]], marker: str | None) -> list[dict[str, Any]]:
    """A "New messages" line after the event the user had fully read, when newer ones follow."""
    ids = [item["event_id"] for item in items if item.get("html")]
    if not marker or marker not in ids or marker == ids[-1]:
        return items
    at = next(i for i, item in enumerate(items) if item["event_id"] == marker)
    return [*items[: at + 1], {"event_id": "", "html": UNREAD_DIVIDER}, *items[at + 1 :]]


async def _composer_context(
    session: MatrixSession, room_id: str, reply_to: str | None
) -> dict[str, Any]:
    """The banner above the composer when the user is replying (`?reply_to=`)."""
    if not reply_to:
        return {}
    try:
        event = await sending.get_event(session, room_id, reply_to)
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


async def _room_page(
    request: HttpRequest,
    room: str,
    *,
    draft: str = "",
    send_error: str = "",
    txn_id: str = "",
    reply_to: str | None = None,
    event_id: str | None = None,
) -> HttpResponse:
    session = await registry.session_for(request.credential)
    try:
        room_id = await _resolve_room(session, room)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return _error(request, "Room not found", exc.message, 404)
    await _wait_synced(session)
    summary = session.rooms.rooms.get(room_id)
    if summary is not None and summary.membership == "invite":
        return HttpResponseRedirect(reverse("rooms:invitation", args=[room_id]))
    if summary is None or summary.membership != "join":
        message = "You are not a member of this room, or it does not exist."
        return _error(request, "Not in this room", message, 404)
    context: dict[str, Any] = {
        "credential": request.credential,
        "room_id": room_id,
        "room_name": summary.display_name(session.user_id),
        "own_name": member_display_name(session.user_id, summary.members),
        "joined_count": summary.joined_count,
        "room_tags": summary.tags,
        "topic_html": plain_to_html(summary.topic) if summary.topic else "",
        "draft": draft,
        "send_error": send_error,
        "txn_id": txn_id or _new_txn_id(),
        "upload_limit": await uploads.upload_limit(session) or "",
        "max_tiles": settings.MAX_TILES,
        "can_redact": power.can(
            *await moderation.power_levels(session, room_id), session.user_id, "redact"
        ),
    }
    try:
        if event_id:
            context.update(await _context_page(session, room_id, event_id))
        else:
            context.update(
                await _timeline_context(
                    session, room_id, request.GET.get("from"), after=request.GET.get("after")
                )
            )
        context.update(
            await _composer_context(session, room_id, reply_to or request.GET.get("reply_to"))
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        if event_id and exc.errcode == "M_NOT_FOUND":
            return _error(request, "Message not found", exc.message, 404)
        context.update(
            {"timeline": [], "load_error": exc.message, "epoch": session.epoch, "pos": -1}
        )
    return render(request, "rooms/room.html", context, status=400 if send_error else 200)


async def joined_room(
    request: HttpRequest, room: str
) -> tuple[MatrixSession, str, Any] | HttpResponse:
    """The session, room ID and summary of a room the user has joined, or the page that
    says why not (token revoked, no such room, not a member)."""
    session = await registry.session_for(request.credential)
    try:
        room_id = await _resolve_room(session, room)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return _error(request, "Room not found", exc.message, 404)
    await _wait_synced(session)
    summary = session.rooms.rooms.get(room_id)
    if summary is None or summary.membership != "join":
        return _error(
            request,
            "Not in this room",
            "You are not a member of this room, or it does not exist.",
            404,
        )
    return session, room_id, summary


def _error(request: HttpRequest, heading: str, message: str, status: int) -> HttpResponse:
    context = {"credential": request.credential, "heading": heading, "message": message}
    return render(request, "rooms/error.html", context, status=status)


def _new_txn_id() -> str:
    return "wc" + secrets.token_hex(12)


@matrix_login_required
async def room_view(request: HttpRequest, room: str) -> HttpResponse:
    return await _room_page(request, room)


@matrix_login_required
async def event_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    """A permalink: the room around one event, highlighted, with history both ways."""
    return await _room_page(request, room, event_id=event_id)


@matrix_login_required
async def room_timeline(request: HttpRequest, room: str) -> HttpResponse:
    """Just the timeline: a page that catches up after its socket missed events, or that
    loads older (`?from=`) or newer (`?after=`) history while scrolling."""
    session = await registry.session_for(request.credential)
    try:
        room_id = await _resolve_room(session, room)
        context = await _timeline_context(
            session, room_id, request.GET.get("from"), after=request.GET.get("after")
        )
    except errors.MatrixError as exc:
        status = 401 if exc.is_unknown_token else 502
        return HttpResponse(exc.message, status=status, content_type="text/plain; charset=utf-8")
    context["room_id"] = room_id
    return render(request, "rooms/_timeline.html", context)


@require_POST
@matrix_login_required
async def send_view(request: HttpRequest, room: str) -> HttpResponse:
    """The composer's form: text, or a file with an optional caption.

    Without JavaScript it answers with the room page (or the error and the draft kept); the
    upload script asks for JSON instead.
    """
    wants_json = "application/json" in request.headers.get("Accept", "")
    body = request.POST.get("body", "")
    txn_id = request.POST.get("txn_id", "")
    uploaded = request.FILES.get("file")
    reply_to = request.POST.get("reply_to", "")
    thread_id = request.POST.get("thread_id", "")
    if not txn_id.isalnum() or len(txn_id) > 64:
        txn_id = _new_txn_id()
    if not body.strip() and uploaded is None:
        if wants_json:
            return JsonResponse({"ok": False, "error": "Nothing to send."}, status=400)
        return HttpResponseRedirect(reverse("rooms:room", args=[room]))
    session = await registry.session_for(request.credential)
    try:
        room_id = await _resolve_room(session, room)
        if uploaded is not None:
            content_uri = await uploads.upload(session, uploaded)
            content = uploads.message_for_file(uploaded, content_uri, caption=body)
        else:
            content = await sending.content_for(
                session, room_id, body, reply_to=reply_to or None, thread_id=thread_id or None
            )
        event_id = await session.send_message(room_id, content, txn_id)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            if wants_json:
                return JsonResponse({"ok": False, "error": exc.message, "retry": False}, status=401)
            return _ended(request)
        if wants_json:
            status = 413 if exc.errcode == "M_TOO_LARGE" else 400
            return JsonResponse({"ok": False, "error": exc.message, "retry": True}, status=status)
        # Same transaction ID on the re-rendered form: sending again cannot post twice.
        if thread_id:
            return await _thread_page(
                request,
                room,
                thread_id,
                draft=body,
                send_error=f"Not sent: {exc.message}",
                txn_id=txn_id,
            )
        return await _room_page(
            request,
            room,
            draft=body,
            send_error=f"Not sent: {exc.message}",
            txn_id=txn_id,
            reply_to=reply_to or None,
        )
    if wants_json:
        return JsonResponse({"ok": True, "event_id": event_id, "txn_id": txn_id})
    if thread_id:
        return HttpResponseRedirect(reverse("rooms:thread", args=[room, thread_id]) + "#composer")
    return HttpResponseRedirect(reverse("rooms:room", args=[room]) + "#composer")


async def socket_over_http(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        "This address is a websocket.", status=426, headers={"Upgrade": "websocket"}
    )


async def _thread_page(
    request: HttpRequest,
    room: str,
    root_id: str,
    *,
    draft: str = "",
    send_error: str = "",
    txn_id: str = "",
) -> HttpResponse:
    session = await registry.session_for(request.credential)
    try:
        room_id = await _resolve_room(session, room)
        await _wait_synced(session)
        summary = session.rooms.rooms.get(room_id)
        if summary is None or summary.membership != "join":
            return _error(request, "Not in this room", "You are not a member of this room.", 404)
        position = session.position
        root = await sending.get_event(session, room_id, root_id)
        page = await session.api(
            "GET",
            f"/rooms/{quote(room_id, safe='')}/relations/{quote(root_id, safe='')}/m.thread",
            query={"limit": "100", "dir": "b"},
            prefix="/_matrix/client/v1",
            action="Loading the thread",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return _error(request, "Thread not found", exc.message, 404)
    store = session.timeline(room_id)
    replies = [e for e in reversed(page.get("chunk") or []) if isinstance(e, dict)]
    store.add_all(replies)
    ids = [root.get("event_id", root_id)] + tile_ids(replies)
    await session.fetch_missing_replies(room_id, ids)
    items = for_viewer(render_tiles(store, ids, session.members(room_id)), session.user_id)
    context = {
        "credential": request.credential,
        "room_id": room_id,
        "thread_root": root_id,
        "room_name": summary.display_name(session.user_id),
        "own_name": member_display_name(session.user_id, summary.members),
        "timeline": items,
        "epoch": session.epoch,
        "pos": position,
        "draft": draft,
        "send_error": send_error,
        "txn_id": txn_id or _new_txn_id(),
        "upload_limit": "",
    }
    return render(request, "rooms/thread.html", context, status=400 if send_error else 200)


@matrix_login_required
async def thread_view(request: HttpRequest, room: str, root_id: str) -> HttpResponse:
    return await _thread_page(request, room, root_id)
