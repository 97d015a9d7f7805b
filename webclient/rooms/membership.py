"""Making, finding, joining and leaving rooms: plain forms that work without JavaScript.

- `/rooms/new/` creates a room (public or private, with a name, topic, address, invitees);
- `/rooms/dm/` opens the direct chat with someone, reusing the one `m.direct` records;
- `/rooms/join/` joins by room ID, address or a `matrix.to` / `matrix:` link;
- `/rooms/directory/` lists the public rooms of this or another server;
- `/rooms/<room>/invite/` shows a pending invitation with Accept and Decline;
- leaving (`/leave/`, after a confirmation on the settings page) and forgetting (`/forget/`).

After a change the view waits (briefly) until the sync loop has seen it, so the page it
redirects to already shows the room as joined, or no longer lists it.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webclient.live.devices import DeviceHandle
from webclient.matrix import directs, errors
from webclient.matrix.names import (
    SERVER_NAME_RE,
    is_valid_room_alias,
    member_display_name,
    valid_user_id,
)
from webclient.matrix.roomstate import RoomSummary
from webclient.web.auth import matrix_login_required
from webclient.web.confirm import require_confirmation
from webclient.web.errors import PageError
from webclient.web.forms import FormPage
from webclient.web.rooms import FIRST_SYNC_WAIT, ROOM_SYNC_WAIT, access_room, session_of

from . import knocking
from .forms import (
    MAX_NAME,
    MAX_TOPIC,
    CreateRoomForm,
    JoinForm,
    UserIdForm,
    own_server,
    parse_room_reference,
    via_servers,
)
from .room_settings import left_room_name, settings_page

DIRECTORY_PAGE = 20
#: What makes a new room encrypted (megolm, the algorithm every client speaks).
ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


def _room_url(room_id: str) -> str:
    return reverse("rooms:room", args=[room_id])


def _joined(summary: RoomSummary | None) -> bool:
    return summary is not None and summary.membership == "join"


async def unknown_users(session: DeviceHandle, user_ids: list[str]) -> list[str]:
    """The IDs of those the homeserver says do not exist (404 on their profile): Synapse
    accepts an invite for a local user who does not exist. Anything else (profiles
    restricted to shared rooms, a remote server out of reach) is left for the invite."""

    async def missing(user_id: str) -> bool:
        try:
            await session.api.profile(user_id, action=_("Looking up %(id)s") % {"id": user_id})
        except errors.MatrixError as exc:
            return exc.status == 404
        return False

    found = await asyncio.gather(*(missing(user_id) for user_id in user_ids))
    return [user_id for user_id, gone in zip(user_ids, found, strict=True) if gone]


def _join_error(identifier: str, exc: errors.MatrixError) -> str:
    """What a refused join means, in words."""
    detail = exc.message
    if exc.errcode == "M_NOT_FOUND":
        if identifier.startswith("#"):
            return _("There is no room with the address %(id)s. Check it for typos.") % {
                "id": identifier
            }
        return _("The room %(id)s could not be found. %(detail)s") % {
            "id": identifier,
            "detail": detail,
        }
    if exc.errcode == "M_FORBIDDEN":
        return _(
            "You may not join %(id)s: it may be invite-only, or you may be banned. %(detail)s"
        ) % {"id": identifier, "detail": detail}
    if exc.status == 404:
        return _("The room %(id)s could not be found. %(detail)s") % {
            "id": identifier,
            "detail": detail,
        }
    return detail


# -- create a room ---------------------------------------------------------------------------


class CreateRoomPage(FormPage):
    template_name = "rooms/create.html"
    forms = {"create": CreateRoomForm}

    def form_kwargs(self, request: HttpRequest, name: str) -> dict[str, Any]:
        return {"user_id": request.credential.user_id}

    async def context(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return {
            "server": own_server(request.credential.user_id),
            "max_name": MAX_NAME,
            "max_topic": MAX_TOPIC,
        }

    def initial(self, name: str, context: dict[str, Any]) -> dict[str, Any]:
        return {"visibility": "private", "publish": True}

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        data = form.cleaned_data
        public = data["visibility"] == "public"
        server = own_server(request.credential.user_id)
        body: dict[str, Any] = {
            "preset": "public_chat" if public else "private_chat",
            "visibility": "public" if public and data["publish"] else "private",
        }
        if data["name"]:
            body["name"] = data["name"]
        if data["topic"]:
            body["topic"] = data["topic"]
        if public and data["alias"]:
            body["room_alias_name"] = data["alias"]
        if data["invite"]:
            body["invite"] = data["invite"]
        if not public and settings.E2E_ENABLED:
            body["initial_state"] = [ENCRYPTION_STATE]  # private rooms encrypted, as Element
        session = await session_of(request)
        if unknown := await unknown_users(session, data["invite"]):
            form.add_error(
                "invite",
                _(
                    "No such user: %(ids)s. Their homeserver does not know that ID; check it "
                    "for typos."
                )
                % {"ids": ", ".join(unknown[:5])},
            )
            return await self.refused(request, name, form)
        try:
            room_id = await session.api.create_room(body, action=_("Creating the room"))
        except errors.MatrixError as exc:
            if exc.errcode != "M_ROOM_IN_USE":
                raise
            form.add_error(
                "alias",
                _("The address #%(alias)s:%(server)s is already taken. Choose another one.")
                % {"alias": data["alias"], "server": server},
            )
            return await self.refused(request, name, form)
        if body["visibility"] == "public" and not await _listed(session, room_id):
            # Synapse creates the room but silently leaves it out of the directory when its
            # `room_list_publication_rules` say no (the default since 1.x).
            messages.warning(
                request,
                _(
                    "The room was created, but %(server)s did not list it in its public room "
                    "directory (the homeserver's policy does not allow it). People can still "
                    "join by its address or a link."
                )
                % {"server": server},
            )
        # Synapse writes the new room's events one by one and a sync may carry only the
        # first ones: wait for the name too, so the room page does not open as "Empty Room".
        wanted = data["name"]
        await session.wait_until(
            room_id, lambda s: _joined(s) and (not wanted or s.name == wanted), ROOM_SYNC_WAIT
        )
        return self.done(_room_url(room_id))


async def _listed(session: DeviceHandle, room_id: str) -> bool:
    try:
        return await session.api.directory_visibility(room_id) == "public"
    except errors.MatrixError:
        return True  # unknown: say nothing


# -- direct messages ---------------------------------------------------------------------------


def _dm_page(request: HttpRequest, value: str, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "mode": "dm",
        "server": own_server(request.credential.user_id),
        "dm_value": value,
        "dm_error": error,
    }
    return render(request, "rooms/create.html", context, status=status)


@matrix_login_required
async def dm_view(request: HttpRequest) -> HttpResponse:
    """Open the direct chat with someone: the existing one, or a new one.

    GET `?user=` (the People page's *Start a DM*) fills in the form, or goes straight to the
    existing chat with them; only the POST creates a room."""
    data = (
        request.POST
        if request.method == "POST"
        else {"user_id": request.GET.get("user") or request.GET.get("user_id") or ""}
    )
    form = UserIdForm(data)
    form.is_valid()
    value = str(data.get("user_id", ""))[:1000]
    user_id = form.cleaned_data.get("user_id", "")
    me = request.credential.user_id
    session = await session_of(request)
    if request.method != "POST":
        if valid_user_id(user_id) and user_id != me:
            await session.wait_synced(FIRST_SYNC_WAIT)
            try:
                room_id = directs.existing_dm(session, await directs.direct_map(session), user_id)
            except errors.MatrixError:
                room_id = None
            if room_id:
                return HttpResponseRedirect(_room_url(room_id))
        return _dm_page(request, value)
    if not valid_user_id(user_id):
        return _dm_page(
            request,
            value,
            _("“%(id)s” is not a Matrix user ID. A user ID looks like @alice:example.org.")
            % {"id": user_id}
            if user_id
            else _("Enter the Matrix ID of the person to chat with, like @alice:example.org."),
            400,
        )
    if user_id == me:
        return _dm_page(request, value, _("That is you. Enter someone else's user ID."), 400)
    try:
        if await unknown_users(session, [user_id]):
            return _dm_page(
                request,
                value,
                _(
                    "No such user: %(id)s. Their homeserver does not know that ID; "
                    "check it for typos."
                )
                % {"id": user_id},
                400,
            )
        await session.wait_synced(FIRST_SYNC_WAIT)
        room_id = directs.existing_dm(session, await directs.direct_map(session), user_id)
        if room_id:
            return HttpResponseRedirect(_room_url(room_id))
        dm: dict[str, Any] = {"is_direct": True, "preset": "trusted_private_chat"}
        dm["invite"] = [user_id]
        if settings.E2E_ENABLED:
            dm["initial_state"] = [ENCRYPTION_STATE]  # new DMs are encrypted, as in Element
        room_id = await session.api.create_room(
            dm,
            action=_("Starting a chat with %(id)s") % {"id": user_id},
        )
    except errors.MatrixError as exc:
        return _dm_page(request, value, exc.message, 400)
    direct: dict[str, Any] | None = None
    try:
        direct = await directs.record_dm(session, user_id, room_id)
    except errors.MatrixError as exc:
        # The chat exists and they are invited; only other clients will not know it is one.
        messages.warning(request, exc.message + " " + _("Other apps may list this chat as a room."))
    await session.wait_until(room_id, _joined, ROOM_SYNC_WAIT)
    if direct is not None:
        session.rooms.apply_direct_map(direct)
    return HttpResponseRedirect(_room_url(room_id))


# -- join ------------------------------------------------------------------------------------


def _join_page(
    request: HttpRequest,
    value: str = "",
    error: str = "",
    status: int = 200,
    **extra: Any,
):
    context = {"value": value, "error": error, "max_reason": knocking.MAX_REASON, **extra}
    return render(request, "rooms/join.html", context, status=status)


@matrix_login_required
async def join_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        value = request.GET.get("room", "")[:2000]
        parsed = parse_room_reference(value) if value else None
        if parsed is None:
            return _join_page(request, value)
        # A preview from `/room_summary` (v1.15) before joining or asking to join.
        identifier, via = parsed
        via = via or via_servers(request.GET.getlist("via"))
        summary = await knocking.room_summary(request, identifier, via)
        return _join_page(request, value, summary=summary, via=via, preview_missing=summary is None)
    form = JoinForm(request.POST)
    value = request.POST.get("room", "")[:2000]
    if not form.is_valid():
        return _join_page(request, value, form.non_field_errors()[0], 400)
    identifier = form.cleaned_data["identifier"]
    via = form.cleaned_data["via"] or via_servers(request.POST.getlist("via"))
    session = await session_of(request)
    try:
        room_id = await session.api.join(identifier, via)
    except errors.MatrixError as exc:
        return _join_page(request, value, _join_error(identifier, exc), 400)
    await session.wait_until(room_id, _joined, ROOM_SYNC_WAIT)
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
        "joined": _joined(summary),
        "join_rule": text("join_rule", 20) or "public",
    }


@matrix_login_required
async def directory_view(request: HttpRequest) -> HttpResponse:
    mine = own_server(request.credential.user_id)
    server = request.GET.get("server", "").strip()[:300]
    search = request.GET.get("q", "").strip()[:500]
    since = request.GET.get("since", "")[:500]
    context: dict[str, Any] = {
        "server": server,
        "own_server": mine,
        "shown_server": server or mine,
        "q": search,
        "rooms": [],
    }
    if server and not SERVER_NAME_RE.match(server):
        context["error"] = _(
            "“%(server)s” is not a server name. A server name looks like matrix.org."
        ) % {"server": server}
        return render(request, "rooms/directory.html", context, status=400)
    session = await session_of(request)
    body: dict[str, Any] = {"limit": DIRECTORY_PAGE}
    if search:
        body["filter"] = {"generic_search_term": search}
    if since:
        body["since"] = since
    try:
        answer = await session.api.public_rooms(
            body,
            server if server and server != mine else None,
            action=_("Loading the public rooms of %(server)s") % {"server": server or mine},
        )
    except errors.MatrixError as exc:
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


def _invite_context(session: DeviceHandle, summary: RoomSummary) -> dict:
    inviter = summary.inviter or ""
    return {
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
    found = await access_room(request, room, membership=None)
    session, room_id, summary = found.session, found.room_id, found.summary
    if _joined(summary):
        return HttpResponseRedirect(_room_url(room_id))
    if summary is None or summary.membership != "invite":
        raise PageError(
            _("You have no pending invitation to this room (it may have been withdrawn)."),
            _("No invitation"),
            404,
        )
    context = _invite_context(session, summary)
    if request.method != "POST":
        return render(request, "rooms/invite.html", context)
    answer = request.POST.get("response")
    if answer not in ("accept", "decline"):
        context["error"] = _("Choose Accept or Decline.")
        return render(request, "rooms/invite.html", context, status=400)
    try:
        if answer == "accept":
            await session.api.join(room_id, action=_("Joining the room"))
        else:
            await session.api.leave(room_id, action=_("Declining the invitation"))
    except errors.MatrixError as exc:
        context["error"] = exc.message
        return render(request, "rooms/invite.html", context, status=400)
    if answer == "accept":
        await session.wait_until(room_id, _joined, ROOM_SYNC_WAIT)
        return HttpResponseRedirect(_room_url(room_id))
    await session.wait_until(room_id, lambda s: s is None, ROOM_SYNC_WAIT)
    messages.info(
        request, _("Declined the invitation to %(name)s.") % {"name": context["room_name"]}
    )
    return HttpResponseRedirect(reverse("rooms:list"))


# -- leaving and forgetting ----------------------------------------------------------------------


@matrix_login_required
async def leave_view(request: HttpRequest, room: str) -> HttpResponse:
    """GET asks to confirm; POST leaves, then shows the room's page with Forget."""
    if request.method != "POST":
        return await settings_page(request, room, mode="leave")
    found = await access_room(request, room, membership=None)
    session, room_id, summary = found.session, found.room_id, found.summary
    if summary is None:
        return HttpResponseRedirect(reverse("rooms:settings", args=[room_id]))
    try:
        await session.api.leave(room_id, action=_("Leaving"))
    except errors.MatrixError as exc:
        raise PageError(exc.message, _("Could not leave"), 400) from exc
    await session.wait_until(room_id, lambda s: s is None, ROOM_SYNC_WAIT)
    messages.info(request, _("You left %(name)s.") % {"name": found.name})
    return HttpResponseRedirect(reverse("rooms:settings", args=[room_id]))


@require_POST
@matrix_login_required
async def forget_view(request: HttpRequest, room: str) -> HttpResponse:
    found = await access_room(request, room, membership=None)
    session, room_id = found.session, found.room_id
    if found.summary is not None:
        return await settings_page(
            request,
            room,
            field_errors={"forget": _("Leave the room before forgetting it.")},
            status=400,
        )
    require_confirmation(
        request,
        _("Forget this room? Its history is no longer yours to read."),
        _("Forget this room"),
    )
    name = await left_room_name(session, room_id)
    try:
        await session.api.forget(room_id, action=_("Forgetting"))
    except errors.MatrixError as exc:
        return await settings_page(request, room, field_errors={"forget": exc.message}, status=400)
    messages.info(request, _("Forgot %(name)s.") % {"name": name})
    return HttpResponseRedirect(reverse("rooms:list"))
