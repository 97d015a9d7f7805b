"""Making, finding, joining and leaving rooms: plain forms that work without JavaScript.

- `/rooms/new/` creates a room (public or private, with a name, topic, address, invitees);
- `/rooms/dm/` opens the direct chat with someone, reusing the one `m.direct` records;
- `/rooms/join/` joins by room ID, address or a `matrix.to` / `matrix:` link;
- `/rooms/directory/` lists the public rooms of this or another server;
- `/rooms/<room>/invite/` shows a pending invitation with Accept and Decline;
- `/rooms/<room>/settings/` shows the room's ID and version, edits its name and topic (its
  other settings, avatar to power levels, are in room_settings.py), and leads to leaving
  (`/leave/`, with a confirmation) and forgetting (`/forget/`) it.

After a change the view waits (briefly) until the sync loop has seen it, so the page it
redirects to already shows the room as joined, or no longer lists it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from webclient.accounts.current import matrix_login_required
from webclient.matrix import errors, registry
from webclient.matrix.discovery import SERVER_NAME_RE
from webclient.matrix.power import level, power_of
from webclient.matrix.roomstate import RoomSummary
from webclient.matrix.session import MatrixSession
from webclient.middleware import embed_origins
from webclient.matrix.names import is_valid_room_alias, member_display_name

from .members import _create_event, _state, _user_exists, valid_user_id
from .views import _ended, _error, _resolve_room, _wait_synced

#: How long a view waits for the sync loop to show the result of a change.
ROOM_SYNC_WAIT = 10.0
MAX_INVITEES = 50
MAX_NAME = 255
MAX_TOPIC = 2000
MAX_REFERENCE = 2000
DIRECTORY_PAGE = 20

_SEPARATORS = re.compile(r"[\s,;]+")
_ALIAS_LOCALPART = re.compile(r"^[^\s:#@!]+$")


def _q(value: str) -> str:
    return quote(value, safe="")


def own_server(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


async def _wait_for(
    session: MatrixSession, done: Callable[[RoomSummary | None], bool], room_id: str
) -> bool:
    """Poll the session's room list until `done(summary)` holds (or ROOM_SYNC_WAIT passes)."""
    deadline = time.monotonic() + ROOM_SYNC_WAIT
    while True:
        if done(session.rooms.rooms.get(room_id)):
            return True
        if time.monotonic() >= deadline or session.closed:
            return False
        await asyncio.sleep(0.1)


async def _wait_joined(session: MatrixSession, room_id: str) -> bool:
    return await _wait_for(session, lambda s: s is not None and s.membership == "join", room_id)


async def _wait_gone(session: MatrixSession, room_id: str) -> bool:
    return await _wait_for(session, lambda s: s is None, room_id)


def _room_url(room_id: str) -> str:
    return reverse("rooms:room", args=[room_id])


# -- parsing what people type ------------------------------------------------------------------


def parse_user_ids(text: str) -> tuple[list[str], list[str]]:
    """A comma or space separated list of user IDs: (valid ones, in order without repeats;
    the pieces that are not user IDs)."""
    valid: list[str] = []
    invalid: list[str] = []
    for piece in _SEPARATORS.split(text.strip()):
        if not piece:
            continue
        if valid_user_id(piece):
            if piece not in valid:
                valid.append(piece)
        else:
            invalid.append(piece)
    return valid, invalid


def _via(values: list[str]) -> list[str]:
    servers = []
    for value in values:
        value = value.strip()
        if value and SERVER_NAME_RE.match(value) and value not in servers:
            servers.append(value)
    return servers[:10]


def _valid_room(identifier: str) -> bool:
    if not identifier or len(identifier.encode("utf-8")) > 255:
        return False
    if identifier.startswith("#"):
        return is_valid_room_alias(identifier)
    return identifier.startswith("!") and len(identifier) > 1 and not re.search(r"\s", identifier)


def parse_room_reference(text: str) -> tuple[str, list[str]] | None:
    """What to join from what someone pasted: `!id:server`, `#alias:server`, a matrix.to
    link (`https://matrix.to/#/#alias:server`, `.../!id:server/$event?via=server`) or a
    `matrix:` URI (`matrix:r/alias:server`, `matrix:roomid/id:server?via=server`).

    Returns (room ID or alias, servers to join through) or None when it is none of these."""
    text = text.strip()
    via: list[str] = []
    lowered = text.lower()
    if lowered.startswith(("https://matrix.to/", "http://matrix.to/", "matrix.to/")):
        if lowered.startswith("matrix.to/"):
            text = "https://" + text
        fragment = urlsplit(text).fragment.lstrip("/")
        path, _, query = fragment.partition("?")
        identifier = unquote(path.split("/")[0])
        via = parse_qs(query).get("via", [])
    elif lowered.startswith("matrix:"):
        path, _, query = text[len("matrix:") :].partition("?")
        segments = path.split("/")
        sigils = {"r": "#", "roomid": "!"}
        if len(segments) < 2 or segments[0] not in sigils:
            return None
        identifier = sigils[segments[0]] + unquote(segments[1])
        via = parse_qs(query).get("via", [])
    else:
        identifier = text
    if not _valid_room(identifier):
        return None
    return identifier, _via(via)


def _join_path(identifier: str, via: list[str]) -> str:
    path = f"/join/{_q(identifier)}"
    if via:
        path += "?" + urlencode([("server_name", server) for server in via])
    return path


def _join_error(identifier: str, exc: errors.MatrixError) -> str:
    """What a refused join means, in words."""
    detail = exc.message
    if exc.errcode == "M_NOT_FOUND":
        if identifier.startswith("#"):
            return f"There is no room with the address {identifier}. Check it for typos."
        return f"The room {identifier} could not be found. {detail}"
    if exc.errcode == "M_FORBIDDEN":
        return (
            f"You may not join {identifier}: it may be invite-only, or you may be banned. {detail}"
        )
    if exc.status == 404:
        return f"The room {identifier} could not be found. {detail}"
    return detail


# -- create a room ---------------------------------------------------------------------------


def _create_context(request: HttpRequest, values: dict[str, Any], **extra: Any) -> dict:
    return {
        "credential": request.credential,
        "server": own_server(request.credential.user_id),
        "values": values,
        "max_name": MAX_NAME,
        "max_topic": MAX_TOPIC,
        **extra,
    }


async def _check_users(session: MatrixSession, user_ids: list[str]) -> list[str]:
    """The IDs of those the homeserver says do not exist (404 on their profile)."""
    found = await asyncio.gather(*(_user_exists(session, user_id) for user_id in user_ids))
    return [user_id for user_id, exists in zip(user_ids, found, strict=True) if not exists]


@matrix_login_required
async def create_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        values = {"visibility": "private", "publish": True}
        return render(request, "rooms/create.html", _create_context(request, values))
    post = request.POST
    values = {
        "name": post.get("name", "")[: MAX_NAME * 2],
        "topic": post.get("topic", "")[: MAX_TOPIC * 2],
        "visibility": "public" if post.get("visibility") == "public" else "private",
        "alias": post.get("alias", "")[:300],
        "invite": post.get("invite", "")[:5000],
        "publish": post.get("publish") == "on",
    }
    public = values["visibility"] == "public"
    name, topic = values["name"].strip(), values["topic"].strip()
    alias = values["alias"].strip().lstrip("#")
    server = own_server(request.credential.user_id)
    field_errors: dict[str, str] = {}
    if len(name) > MAX_NAME:
        field_errors["name"] = f"The name is too long (at most {MAX_NAME} characters)."
    if len(topic) > MAX_TOPIC:
        field_errors["topic"] = f"The topic is too long (at most {MAX_TOPIC} characters)."
    if alias:
        if alias.endswith(f":{server}"):
            alias = alias[: -len(server) - 1]
        if not public:
            field_errors["alias"] = "Only public rooms get an address here; leave it empty."
        elif not _ALIAS_LOCALPART.match(alias) or len(f"#{alias}:{server}") > 255:
            field_errors["alias"] = (
                f"“{values['alias'].strip()}” cannot be an address. Type only the part "
                f"before :{server}, without spaces, colons, # or @."
            )
    invitees, bad = parse_user_ids(values["invite"])
    invitees = [user_id for user_id in invitees if user_id != request.credential.user_id]
    if bad:
        field_errors["invite"] = (
            f"Not a Matrix user ID: {', '.join(bad[:5])}. A user ID looks like @alice:example.org."
        )
    elif len(invitees) > MAX_INVITEES:
        field_errors["invite"] = f"Invite at most {MAX_INVITEES} people at once."
    if field_errors:
        context = _create_context(request, values, field_errors=field_errors)
        return render(request, "rooms/create.html", context, status=400)

    session = await registry.session_for(request.credential)
    body: dict[str, Any] = {
        "preset": "public_chat" if public else "private_chat",
        "visibility": "public" if public and values["publish"] else "private",
    }
    if name:
        body["name"] = name
    if topic:
        body["topic"] = topic
    if public and alias:
        body["room_alias_name"] = alias
    if invitees:
        body["invite"] = invitees
    try:
        unknown = await _check_users(session, invitees)
        if unknown:
            field_errors["invite"] = (
                f"No such user: {', '.join(unknown[:5])}. Their homeserver does not know "
                "that ID; check it for typos."
            )
            context = _create_context(request, values, field_errors=field_errors)
            return render(request, "rooms/create.html", context, status=400)
        answer = await session.api("POST", "/createRoom", body=body, action="Creating the room")
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        if exc.errcode == "M_ROOM_IN_USE":
            field_errors["alias"] = (
                f"The address #{alias}:{server} is already taken. Choose another one."
            )
            context = _create_context(request, values, field_errors=field_errors)
        else:
            context = _create_context(request, values, error=exc.message)
        return render(request, "rooms/create.html", context, status=400)
    room_id = str(answer.get("room_id", ""))
    if body["visibility"] == "public" and not await _listed(session, room_id):
        # Synapse creates the room but silently leaves it out of the directory when its
        # `room_list_publication_rules` say no (the default since 1.x).
        messages.warning(
            request,
            f"The room was created, but {server} did not list it in its public room "
            "directory (the homeserver's policy does not allow it). People can still join "
            "by its address or a link.",
        )
    # Synapse writes the new room's events one by one and a sync may carry only the first
    # ones: wait for the name too, so the room page does not open as "Empty Room".
    await _wait_for(
        session,
        lambda s: s is not None and s.membership == "join" and (not name or s.name == name),
        room_id,
    )
    return HttpResponseRedirect(_room_url(room_id))


async def _listed(session: MatrixSession, room_id: str) -> bool:
    try:
        answer = await session.api("GET", f"/directory/list/room/{_q(room_id)}")
    except errors.MatrixError:
        return True  # unknown: say nothing
    return answer.get("visibility") == "public"


# -- direct messages ---------------------------------------------------------------------------


async def _direct_content(session: MatrixSession) -> dict[str, Any]:
    """The `m.direct` account data as stored (user ID -> DM room IDs); {} when none."""
    try:
        return await session.api(
            "GET",
            f"/user/{_q(session.user_id)}/account_data/m.direct",
            action="Loading your direct chats",
        )
    except errors.MatrixError as exc:
        if exc.errcode == "M_NOT_FOUND":
            return {}
        raise


async def _direct_map(session: MatrixSession) -> dict[str, list[str]]:
    """`m.direct` with anything malformed left out."""
    return {
        user: [room for room in rooms if isinstance(room, str)]
        for user, rooms in (await _direct_content(session)).items()
        if isinstance(rooms, list)
    }


async def _record_dm(session: MatrixSession, user_id: str, room_id: str) -> dict[str, Any]:
    """Add the room to `m.direct`, read just before writing (another client may have changed
    it) and otherwise written back as it was."""
    content = await _direct_content(session)
    rooms = content.get(user_id)
    rooms = [room for room in rooms if isinstance(room, str)] if isinstance(rooms, list) else []
    if room_id not in rooms:
        rooms.append(room_id)
    content[user_id] = rooms
    await session.api(
        "PUT",
        f"/user/{_q(session.user_id)}/account_data/m.direct",
        body=content,
        action="Recording the direct chat",
    )
    return content


def existing_dm(session: MatrixSession, direct: dict[str, list[str]], user_id: str) -> str | None:
    """A room `m.direct` lists for `user_id` that we are still in and they have not left."""
    for room_id in direct.get(user_id, []):
        summary = session.rooms.rooms.get(room_id)
        if summary is None or summary.membership != "join":
            continue
        theirs = summary.members.get(user_id, {}).get("membership")
        if theirs in ("leave", "ban"):
            continue
        return room_id
    return None


@matrix_login_required
async def dm_view(request: HttpRequest) -> HttpResponse:
    """Open the direct chat with someone: the existing one, or a new one.

    GET `?user=` (the People page's *Start a DM*) fills in the form, or goes straight to the
    existing chat with them; only the POST creates a room."""
    value = (
        request.POST.get("user_id") or request.GET.get("user") or request.GET.get("user_id") or ""
    )[:1000]

    def page(error: str = "", status: int = 200) -> HttpResponse:
        context = _create_context(
            request, {"visibility": "private", "publish": True}, dm_value=value, dm_error=error
        )
        context["mode"] = "dm"
        return render(request, "rooms/create.html", context, status=status)

    user_id = value.strip()
    if request.method != "POST":
        if valid_user_id(user_id) and user_id != request.credential.user_id:
            session = await registry.session_for(request.credential)
            await _wait_synced(session)
            try:
                room_id = existing_dm(session, await _direct_map(session), user_id)
            except errors.MatrixError:
                room_id = None
            if room_id:
                return HttpResponseRedirect(_room_url(room_id))
        return page()
    if not valid_user_id(user_id):
        return page(
            f"“{user_id}” is not a Matrix user ID. A user ID looks like @alice:example.org."
            if user_id
            else "Enter the Matrix ID of the person to chat with, like @alice:example.org.",
            400,
        )
    if user_id == request.credential.user_id:
        return page("That is you. Enter someone else's user ID.", 400)
    session = await registry.session_for(request.credential)
    try:
        if not await _user_exists(session, user_id):
            return page(
                f"No such user: {user_id}. Their homeserver does not know that ID; "
                "check it for typos.",
                400,
            )
        await _wait_synced(session)
        direct = await _direct_map(session)
        room_id = existing_dm(session, direct, user_id)
        if room_id:
            return HttpResponseRedirect(_room_url(room_id))
        answer = await session.api(
            "POST",
            "/createRoom",
            body={"is_direct": True, "preset": "trusted_private_chat", "invite": [user_id]},
            action=f"Starting a chat with {user_id}",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return page(exc.message, 400)
    room_id = str(answer.get("room_id", ""))
    direct: dict[str, Any] | None = None
    try:
        direct = await _record_dm(session, user_id, room_id)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        # The chat exists and they are invited; only other clients will not know it is one.
        messages.warning(request, f"{exc.message} Other apps may list this chat as a room.")
    await _wait_joined(session, room_id)
    if direct is not None:
        session.rooms.apply_direct_map(direct)
    return HttpResponseRedirect(_room_url(room_id))


# -- join ------------------------------------------------------------------------------------


def _join_page(request: HttpRequest, value: str = "", error: str = "", status: int = 200):
    context = {"credential": request.credential, "value": value, "error": error}
    return render(request, "rooms/join.html", context, status=status)


@matrix_login_required
async def join_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _join_page(request, request.GET.get("room", "")[:MAX_REFERENCE])
    value = request.POST.get("room", "")[:MAX_REFERENCE]
    parsed = parse_room_reference(value)
    if parsed is None:
        message = (
            f"“{value.strip()}” is not a room. Enter a room address like #room:example.org, "
            "a room ID like !abc:example.org, or a matrix.to link."
            if value.strip()
            else "Enter the room's address, ID or a matrix.to link."
        )
        return _join_page(request, value, message, 400)
    identifier, via = parsed
    via = via or _via(request.POST.getlist("via"))
    session = await registry.session_for(request.credential)
    try:
        answer = await session.api("POST", _join_path(identifier, via), body={})
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return _join_page(request, value, _join_error(identifier, exc), 400)
    room_id = str(answer.get("room_id", ""))
    await _wait_joined(session, room_id)
    return HttpResponseRedirect(_room_url(room_id))


# -- the public room directory ----------------------------------------------------------------


def _directory_entry(room: dict[str, Any], summaries: dict[str, RoomSummary]) -> dict | None:
    room_id = room.get("room_id")
    if not isinstance(room_id, str) or not room_id.startswith("!"):
        return None

    def text(key: str, limit: int) -> str:
        value = room.get(key)
        if not isinstance(value, str):
            return ""
        value = " ".join(value.split())
        return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"

    alias = room.get("canonical_alias")
    alias = alias if is_valid_room_alias(alias) else ""
    members = room.get("num_joined_members")
    summary = summaries.get(room_id)
    return {
        "room_id": room_id,
        "name": text("name", 200) or alias or room_id,
        "topic": text("topic", 500),
        "alias": alias,
        "members": members if isinstance(members, int) and not isinstance(members, bool) else 0,
        "joined": summary is not None and summary.membership == "join",
        "join_rule": text("join_rule", 20) or "public",
    }


@matrix_login_required
async def directory_view(request: HttpRequest) -> HttpResponse:
    mine = own_server(request.credential.user_id)
    server = request.GET.get("server", "").strip()[:300]
    search = request.GET.get("q", "").strip()[:500]
    since = request.GET.get("since", "")[:500]
    context: dict[str, Any] = {
        "credential": request.credential,
        "server": server,
        "own_server": mine,
        "shown_server": server or mine,
        "q": search,
        "rooms": [],
    }
    if server and not SERVER_NAME_RE.match(server):
        context["error"] = f"“{server}” is not a server name. A server name looks like matrix.org."
        return render(request, "rooms/directory.html", context, status=400)
    session = await registry.session_for(request.credential)
    body: dict[str, Any] = {"limit": DIRECTORY_PAGE}
    if search:
        body["filter"] = {"generic_search_term": search}
    if since:
        body["since"] = since
    query = {"server": server} if server and server != mine else None
    try:
        answer = await session.api(
            "POST",
            "/publicRooms",
            query=query,
            body=body,
            action=f"Loading the public rooms of {server or mine}",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        context["error"] = exc.message
        return render(request, "rooms/directory.html", context, status=502)
    chunk = answer.get("chunk") if isinstance(answer.get("chunk"), list) else []
    rooms = [
        entry
        for room in chunk
        if isinstance(room, dict) and (entry := _directory_entry(room, session.rooms.rooms))
    ]

    def page_url(token: Any) -> str:
        if not isinstance(token, str) or not token:
            return ""
        params = {"server": server, "q": search, "since": token}
        return "?" + urlencode({k: v for k, v in params.items() if v})

    total = answer.get("total_room_count_estimate")
    context.update(
        {
            "rooms": rooms,
            "via": server if server and server != mine else "",
            "next_url": page_url(answer.get("next_batch")),
            "prev_url": page_url(answer.get("prev_batch")) if since else "",
            "total": total if isinstance(total, int) and not isinstance(total, bool) else None,
        }
    )
    return render(request, "rooms/directory.html", context)


# -- invitations -------------------------------------------------------------------------------


async def _summary_or_error(request: HttpRequest, room: str):
    """(session, room ID, summary or None) or an error response."""
    session = await registry.session_for(request.credential)
    try:
        room_id = await _resolve_room(session, room)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return _error(request, "Room not found", exc.message, 404)
    await _wait_synced(session)
    return session, room_id, session.rooms.rooms.get(room_id)


def _invite_context(request: HttpRequest, session: MatrixSession, summary: RoomSummary) -> dict:
    inviter = summary.inviter or ""
    return {
        "credential": request.credential,
        "room_id": summary.room_id,
        "room_name": summary.display_name(session.user_id),
        "topic": summary.topic or "",
        "alias": summary.canonical_alias or "",
        "inviter_id": inviter,
        "inviter_name": member_display_name(inviter, summary.members) if inviter else "",
        "is_direct": summary.is_direct,
    }


@matrix_login_required
async def invitation_view(request: HttpRequest, room: str) -> HttpResponse:
    """A pending invitation: who sent it and to what, with Accept and Decline."""
    found = await _summary_or_error(request, room)
    if isinstance(found, HttpResponse):
        return found
    session, room_id, summary = found
    if summary is not None and summary.membership == "join":
        return HttpResponseRedirect(_room_url(room_id))
    if summary is None or summary.membership != "invite":
        return _error(
            request,
            "No invitation",
            "You have no pending invitation to this room (it may have been withdrawn).",
            404,
        )
    context = _invite_context(request, session, summary)
    if request.method != "POST":
        return render(request, "rooms/invite.html", context)
    answer = request.POST.get("response")
    try:
        if answer == "accept":
            await session.api("POST", f"/join/{_q(room_id)}", body={}, action="Joining the room")
        elif answer == "decline":
            await session.api(
                "POST",
                f"/rooms/{_q(room_id)}/leave",
                body={},
                action="Declining the invitation",
            )
        else:
            context["error"] = "Choose Accept or Decline."
            return render(request, "rooms/invite.html", context, status=400)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        context["error"] = exc.message
        return render(request, "rooms/invite.html", context, status=400)
    if answer == "accept":
        await _wait_joined(session, room_id)
        return HttpResponseRedirect(_room_url(room_id))
    await _wait_gone(session, room_id)
    messages.info(request, f"Declined the invitation to {context['room_name']}.")
    return HttpResponseRedirect(reverse("rooms:list"))


# -- settings, leaving and forgetting ------------------------------------------------------------


def _needed_for(levels: dict[str, Any] | None, event_type: str) -> int:
    """The power level needed to send a state event of `event_type`."""
    if levels is None:
        return 0  # without a power levels event, anyone may send state (spec)
    events = levels.get("events") if isinstance(levels.get("events"), dict) else {}
    if event_type in events:
        return level(events[event_type], 50)
    return level(levels.get("state_default"), 50)


async def _left_membership(session: MatrixSession, room_id: str) -> str | None:
    """Our membership of a room the sync no longer lists ("leave", "ban"), or None."""
    try:
        content = await session.api(
            "GET",
            f"/rooms/{_q(room_id)}/state/m.room.member/{_q(session.user_id)}",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            raise
        return None
    membership = content.get("membership")
    return membership if membership in ("leave", "ban") else None


async def _left_room_name(session: MatrixSession, room_id: str) -> str:
    try:
        content = await session.api("GET", f"/rooms/{_q(room_id)}/state/m.room.name/")
    except errors.MatrixError:
        return room_id
    name = content.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else room_id


def _embed_context(request: HttpRequest, room_id: str) -> dict[str, Any]:
    """What "Embed this room" (rooms/_settings_embed.html) needs to write its snippet."""
    return {
        "embed_url": request.build_absolute_uri(reverse("rooms:embed", args=[room_id])),
        "origins": embed_origins(),
        "display": bool(settings.EMBED_DISPLAY_ACCESS_TOKEN),
        "cross_site_cookie": settings.EMBED_CROSS_SITE_COOKIE,
    }


async def _settings_page(
    request: HttpRequest,
    room: str,
    *,
    mode: str = "settings",
    values: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    found = await _summary_or_error(request, room)
    if isinstance(found, HttpResponse):
        return found
    session, room_id, summary = found
    context: dict[str, Any] = {
        "credential": request.credential,
        "room_id": room_id,
        "field_errors": field_errors or {},
        "error": (field_errors or {}).get("forget", ""),
    }
    if summary is not None and summary.membership == "invite":
        return HttpResponseRedirect(reverse("rooms:invitation", args=[room_id]))
    if summary is None:
        try:
            membership = await _left_membership(session, room_id)
        except errors.MatrixError:
            return _ended(request)
        if membership is None:
            return _error(
                request,
                "Not in this room",
                "You are not a member of this room, or it does not exist.",
                404,
            )
        context.update(
            {
                "mode": "left",
                "membership": membership,
                "room_name": await _left_room_name(session, room_id),
            }
        )
        return render(request, "rooms/settings.html", context, status=status)
    try:
        levels, create, join_rules = await asyncio.gather(
            _state(session, room_id, "m.room.power_levels"),
            _create_event(session, room_id),
            _state(session, room_id, "m.room.join_rules"),
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        levels, create, join_rules = None, None, None
        context["load_error"] = exc.message
    create_content = (create or {}).get("content") or {}
    own_power = power_of(session.user_id, levels, create)
    join_rule = (join_rules or {}).get("join_rule", "invite")
    alone = summary.joined_count <= 1 and not summary.invited_count
    server = own_server(session.user_id)
    share = summary.canonical_alias or room_id
    share_link = f"https://matrix.to/#/{quote(share, safe='!#:@')}"
    if not summary.canonical_alias and server:
        share_link += "?" + urlencode({"via": server})
    shown = values or {}
    context.update(
        {
            "mode": mode,
            "room_name": summary.display_name(session.user_id),
            "room_version": str(create_content.get("room_version", "1")),
            "alias": summary.canonical_alias or "",
            "share_link": share_link,
            "join_rule": join_rule if isinstance(join_rule, str) else "invite",
            "tombstone": summary.tombstone_replacement or "",
            "tombstone_joined": bool(
                summary.tombstone_replacement
                and (s := session.rooms.rooms.get(summary.tombstone_replacement))
                and s.membership == "join"
            ),
            "tombstone_via": server,
            "name_value": shown.get("name", summary.name or ""),
            "topic_value": shown.get("topic", summary.topic or ""),
            "may_name": own_power >= _needed_for(levels, "m.room.name"),
            "may_topic": own_power >= _needed_for(levels, "m.room.topic"),
            "need_name": _needed_for(levels, "m.room.name"),
            "need_topic": _needed_for(levels, "m.room.topic"),
            "own_power": "creator" if own_power == float("inf") else int(own_power),
            "alone": alone,
            "max_name": MAX_NAME,
            "max_topic": MAX_TOPIC,
        }
    )
    if mode == "settings":
        context["embed"] = _embed_context(request, room_id)
    if mode == "settings" and "load_error" not in context:
        from .room_settings import settings_context  # it builds on this module

        try:
            context.update(
                await settings_context(
                    session, room_id, summary, levels, create, values, field_errors
                )
            )
        except errors.MatrixError as exc:
            if exc.is_unknown_token:
                return _ended(request)
            context["load_error"] = exc.message
    return render(request, "rooms/settings.html", context, status=status)


@matrix_login_required
async def settings_view(request: HttpRequest, room: str) -> HttpResponse:
    """The room's settings; POST changes its name (`field=name`) or topic (`field=topic`)."""
    if request.method != "POST":
        return await _settings_page(request, room)
    field = request.POST.get("field")
    if field not in ("name", "topic"):
        return HttpResponseRedirect(reverse("rooms:settings", args=[room]))
    value = request.POST.get(field, "")[: MAX_TOPIC * 2]
    limit = MAX_NAME if field == "name" else MAX_TOPIC
    if len(value.strip()) > limit:
        return await _settings_page(
            request,
            room,
            values={field: value},
            field_errors={field: f"That is too long (at most {limit} characters)."},
            status=400,
        )
    found = await _summary_or_error(request, room)
    if isinstance(found, HttpResponse):
        return found
    session, room_id, summary = found
    if summary is None or summary.membership != "join":
        return await _settings_page(request, room)
    event_type = f"m.room.{field}"
    try:
        await session.api(
            "PUT",
            f"/rooms/{_q(room_id)}/state/{event_type}/",
            body={field: value.strip()},
            action=f"Changing the room's {field}",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return await _settings_page(
            request, room, values={field: value}, field_errors={field: exc.message}, status=400
        )
    wanted = value.strip() or None
    await _wait_for(session, lambda s: s is None or getattr(s, field) == wanted, room_id)
    messages.success(request, f"Room {field} changed." if wanted else f"Room {field} removed.")
    return HttpResponseRedirect(reverse("rooms:settings", args=[room]))


@matrix_login_required
async def leave_view(request: HttpRequest, room: str) -> HttpResponse:
    """GET asks to confirm; POST leaves, then shows the room's page with Forget."""
    if request.method != "POST":
        return await _settings_page(request, room, mode="leave")
    found = await _summary_or_error(request, room)
    if isinstance(found, HttpResponse):
        return found
    session, room_id, summary = found
    if summary is None:
        return HttpResponseRedirect(reverse("rooms:settings", args=[room_id]))
    try:
        await session.api("POST", f"/rooms/{_q(room_id)}/leave", body={}, action="Leaving")
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return _error(request, "Could not leave", exc.message, 400)
    await _wait_gone(session, room_id)
    messages.info(request, f"You left {summary.display_name(session.user_id)}.")
    return HttpResponseRedirect(reverse("rooms:settings", args=[room_id]))


@require_POST
@matrix_login_required
async def forget_view(request: HttpRequest, room: str) -> HttpResponse:
    found = await _summary_or_error(request, room)
    if isinstance(found, HttpResponse):
        return found
    session, room_id, summary = found
    if summary is not None:
        return await _settings_page(
            request,
            room,
            field_errors={"forget": "Leave the room before forgetting it."},
            status=400,
        )
    name = await _left_room_name(session, room_id)
    try:
        await session.api("POST", f"/rooms/{_q(room_id)}/forget", body={}, action="Forgetting")
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return await _settings_page(request, room, field_errors={"forget": exc.message}, status=400)
    messages.info(request, f"Forgot {name}.")
    return HttpResponseRedirect(reverse("rooms:list"))
