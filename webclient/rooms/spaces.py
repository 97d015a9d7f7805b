"""Spaces and room tags: plain forms that work without JavaScript.

- `/spaces/<space>/` lists a space's rooms from `GET /_matrix/client/v1/rooms/{id}/hierarchy`
  (name, topic, member count, joined or not), with a Join button for the others; the button
  posts to `/rooms/join/` with the servers the space's `m.space.child` events name (`via`).
- `/rooms/<room>/tags/` (POST) adds or removes the `m.favourite` and `m.lowpriority` tags; the
  room list moves the room to its section when the sync loop sees the change.

The room list's grouping itself is `RoomList.sections` (webclient/matrix/roomstate.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webclient.live.devices import DeviceHandle
from webclient.matrix import errors
from webclient.matrix.names import SERVER_NAME_RE, is_valid_room_alias
from webclient.matrix.roomstate import RoomSummary
from webclient.web.auth import matrix_login_required
from webclient.web.errors import PageError
from webclient.web.rooms import FIRST_SYNC_WAIT, ROOM_SYNC_WAIT, access_room, session_of

#: Rooms asked for per page of a space (Synapse gives at most 50 children per space anyway).
SPACE_PAGE = 50
#: The tags the room page toggles, and what their buttons say.
TAGS = {"m.favourite": "Favourite", "m.lowpriority": "Low priority"}
MAX_TEXT = {"name": 200, "topic": 1000}


def _text(room: dict[str, Any], key: str) -> str:
    """One line of a hierarchy room's text field, shortened; "" when missing or not text."""
    value = room.get(key)
    if not isinstance(value, str):
        return ""
    value = " ".join(value.split())
    limit = MAX_TEXT[key]
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _via_of(children_state: object) -> dict[str, list[str]]:
    """Child room ID -> the servers its `m.space.child` event says to join through."""
    found: dict[str, list[str]] = {}
    if not isinstance(children_state, list):
        return found
    for event in children_state:
        if not isinstance(event, dict) or event.get("type") != "m.space.child":
            continue
        child = event.get("state_key")
        content = event.get("content")
        via = content.get("via") if isinstance(content, dict) else None
        if not isinstance(child, str) or not isinstance(via, list):
            continue
        servers = [s for s in via if isinstance(s, str) and SERVER_NAME_RE.match(s)]
        if servers:
            found[child] = servers[:10]
    return found


def _suggested(children_state: object) -> set[str]:
    if not isinstance(children_state, list):
        return set()
    return {
        event["state_key"]
        for event in children_state
        if isinstance(event, dict)
        and event.get("type") == "m.space.child"
        and isinstance(event.get("state_key"), str)
        and isinstance(event.get("content"), dict)
        and event["content"].get("suggested") is True
    }


def _server_of(identifier: str) -> str:
    """The server part of a room ID or user ID, when it has one (room v12 IDs do not)."""
    server = identifier.split(":", 1)[1] if ":" in identifier else ""
    return server if SERVER_NAME_RE.match(server) else ""


def _entry(
    session: DeviceHandle, room: dict[str, Any], via: list[str], suggested: bool
) -> dict[str, Any] | None:
    room_id = room.get("room_id")
    if not isinstance(room_id, str) or not room_id.startswith("!"):
        return None
    alias = room.get("canonical_alias")
    alias = alias if is_valid_room_alias(alias) else ""
    summary = session.rooms.rooms.get(room_id)
    return {
        "room_id": room_id,
        "name": _text(room, "name") or alias or room_id,
        "topic": _text(room, "topic"),
        "alias": alias,
        "members": _count(room.get("num_joined_members")),
        "joined": summary is not None and summary.membership == "join",
        "invited": summary is not None and summary.membership == "invite",
        "is_space": room.get("room_type") == "m.space",
        "via": via,
        "suggested": suggested,
    }


@matrix_login_required
async def space_view(request: HttpRequest, space: str) -> HttpResponse:
    session = await session_of(request)
    page_token = request.GET.get("from", "")[:500]
    try:
        space_id = await session.resolve(space)
        await session.wait_synced(FIRST_SYNC_WAIT)
        query = {"max_depth": "1", "limit": str(SPACE_PAGE)}
        if page_token:
            query["from"] = page_token
        answer = await session.api.hierarchy(
            space_id, query, action=_("Loading the rooms of the space")
        )
    except errors.MatrixError as exc:
        if exc.errcode == "M_FORBIDDEN" or exc.status == 403:
            message = (
                _(
                    "You cannot see the rooms of this space: it is private and you are not "
                    "in it, or it does not exist."
                )
                + " "
                + exc.message
            )
            raise PageError(message, _("Space not available"), 403) from exc
        if exc.status == 404 or exc.errcode == "M_NOT_FOUND":
            raise PageError(exc.message, _("Space not found"), 404) from exc
        raise PageError(exc.message, _("Could not load the space"), 502) from exc

    rooms = [r for r in answer.get("rooms") or [] if isinstance(r, dict)]
    own = next((r for r in rooms if r.get("room_id") == space_id), None)
    via = _via_of(own.get("children_state")) if own else {}
    suggested = _suggested(own.get("children_state")) if own else set()
    # Later pages no longer carry the space itself: join through the space's server, ours.
    fallback = [s for s in (_server_of(space_id), _server_of(session.user_id)) if s]
    children = []
    for room in rooms:
        if room.get("room_id") == space_id:
            continue
        room_id = str(room.get("room_id", ""))
        entry = _entry(session, room, via.get(room_id) or fallback, room_id in suggested)
        if entry is not None:
            children.append(entry)

    summary = session.rooms.rooms.get(space_id)
    joined = summary is not None and summary.membership == "join"
    if summary is not None and joined:
        name = summary.display_name(session.user_id)
    else:
        name = (own and (_text(own, "name") or own.get("canonical_alias"))) or space_id
    next_batch = answer.get("next_batch")
    context = {
        "space_id": space_id,
        "space_name": name,
        "space_topic": _text(own, "topic") if own else "",
        "space_members": _count(own.get("num_joined_members")) if own else 0,
        "space_joined": joined,
        "space_via": fallback,
        "children": children,
        "next_url": "?" + urlencode({"from": next_batch}) if isinstance(next_batch, str) else "",
        "first_url": reverse("rooms:space", args=[space_id]) if page_token else "",
    }
    return render(request, "rooms/space.html", context)


def _next_url(request: HttpRequest, room_id: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("rooms:room", args=[room_id])


@require_POST
@matrix_login_required
async def tags_view(request: HttpRequest, room: str) -> HttpResponse:
    """Add (`on=1`) or remove (`on=0`) the room's `tag`. Favourite and low priority exclude
    each other, as in other clients: adding one takes the other away."""
    tag = request.POST.get("tag", "")
    on = request.POST.get("on") == "1"
    if tag not in TAGS:
        raise PageError(_("Only favourite and low priority can be set."), _("Unknown tag"), 400)
    found = await access_room(request, room)
    session, room_id, summary = found.session, found.room_id, found.summary
    assert summary is not None
    me = session.user_id
    try:
        if on:
            await session.api.add_tag(me, room_id, tag, action=_("Tagging the room"))
            for other in TAGS:
                if other != tag and other in summary.tags:
                    await session.api.remove_tag(me, room_id, other, action=_("Tagging the room"))
        else:
            await session.api.remove_tag(me, room_id, tag, action=_("Untagging the room"))
    except errors.MatrixError as exc:
        raise PageError(exc.message, _("Could not change the room's tags"), 502) from exc
    # The page we go back to should already show the change (both tags, when one went).
    wanted = {tag: on} | ({other: False for other in TAGS if other != tag} if on else {})

    def done(summary: RoomSummary | None) -> bool:
        return summary is None or all((t in summary.tags) == v for t, v in wanted.items())

    await session.wait_until(room_id, done, ROOM_SYNC_WAIT)
    return HttpResponseRedirect(_next_url(request, room_id))


@matrix_login_required
async def unread_view(request: HttpRequest, room: str) -> HttpResponse:
    """Mark a room as unread (`unread=1`) or as read (`unread=0`) from the room list.

    GET asks to confirm (the list's entries are shared fragments without a CSRF token);
    POST sets `m.marked_unread`. Marking as read also moves the read marker to the newest
    message, as Element's "Mark as read"."""
    found = await access_room(request, room)
    session, room_id, summary = found.session, found.room_id, found.summary
    assert summary is not None
    source = request.POST if request.method == "POST" else request.GET
    unread = source.get("unread", "1") != "0"
    if request.method != "POST":
        return render(
            request,
            "rooms/unread.html",
            {"room_id": room_id, "room_name": found.name, "unread": unread},
        )
    try:
        await session.set_marked_unread(room_id, unread)
        last = (summary.last_event or {}).get("event_id")
        if not unread and isinstance(last, str) and summary.notification_count:
            await session.mark_read(room_id, last)
    except errors.MatrixError as exc:
        raise PageError(exc.message, _("Could not mark the room"), 502) from exc
    await session.wait_until(
        room_id, lambda s: s is None or s.marked_unread == unread, ROOM_SYNC_WAIT
    )
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(reverse("rooms:list"))
