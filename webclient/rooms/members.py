"""A room's member list, grouped by power level, and inviting someone from it.

The list comes from the homeserver each time (`/members`, leaves excluded), not from the sync
loop: with lazy-loaded members the session only knows the people it has seen talk. Power
levels come from the room's `m.room.power_levels` state; creators of rooms of version 12 and
later outrank everyone without being listed there.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from webclient.accounts.current import matrix_login_required
from webclient.matrix import errors, power
from webclient.matrix.discovery import SERVER_NAME_RE
from webclient.matrix.power import ADMIN_LEVEL, power_of
from webclient.matrix.session import MatrixSession
from webclient.timeline.avatars import member_avatar
from webclient.matrix.names import member_display_names

from .views import _ended, joined_room

#: Rows shown at most; bigger rooms show the counts and a note.
MAX_SHOWN = 500
MODERATOR_LEVEL = 50
MAX_USER_ID_LENGTH = 255

# The spec's user ID grammar, with the historical localpart characters (any printable ASCII
# except ":") that older accounts still have; the server name is checked separately.
_USER_ID = re.compile(r"^@([!-9;-~]+):(\S+)$")


@dataclass
class Group:
    key: str
    heading: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    hidden: int = 0

    @property
    def count(self) -> int:
        return len(self.rows) + self.hidden


def valid_user_id(value: str) -> bool:
    """Whether `value` looks like `@localpart:server` (what the homeserver could invite)."""
    if len(value.encode("utf-8")) > MAX_USER_ID_LENGTH:
        return False
    match = _USER_ID.match(value)
    return bool(match) and SERVER_NAME_RE.match(match.group(2)) is not None


def group_members(
    events: list[dict[str, Any]],
    levels: dict[str, Any] | None,
    create: dict[str, Any] | None,
    limit: int | None = None,
) -> tuple[list[Group], dict[str, dict]]:
    """Member events into groups (Admins, Moderators, Members, Invited, Asked to join,
    Banned), each sorted by disambiguated name; at most `limit` (MAX_SHOWN) rows in all."""
    members: dict[str, dict] = {}
    for event in events:
        if not isinstance(event, dict) or event.get("type") != "m.room.member":
            continue
        user_id, content = event.get("state_key"), event.get("content")
        if isinstance(user_id, str) and user_id.startswith("@") and isinstance(content, dict):
            members[user_id] = content
    names = member_display_names(members)
    groups = {
        key: Group(key, heading)
        for key, heading in (
            ("admins", "Admins"),
            ("moderators", "Moderators"),
            ("members", "Members"),
            ("invited", "Invited"),
            ("knocking", "Asked to join"),
            ("banned", "Banned"),
        )
    }
    everyone: dict[str, list[dict[str, Any]]] = {key: [] for key in groups}
    for user_id, content in members.items():
        membership = content.get("membership")
        if membership == "join":
            power = power_of(user_id, levels, create)
            key = (
                "admins"
                if power >= ADMIN_LEVEL
                else "moderators"
                if power >= MODERATOR_LEVEL
                else "members"
            )
        elif membership == "invite":
            key, power = "invited", None
        elif membership == "knock":
            key, power = "knocking", None
        elif membership == "ban":
            key, power = "banned", None
        else:
            continue
        name = names.get(user_id, user_id)
        everyone[key].append(
            {
                "user_id": user_id,
                "name": name,
                "membership": membership,
                "power": None if power is None else ("creator" if power == float("inf") else power),
                "avatar": member_avatar(user_id, name, members),
                "reason": content.get("reason") if isinstance(content.get("reason"), str) else "",
            }
        )
    budget = MAX_SHOWN if limit is None else limit
    for key, rows in everyone.items():
        rows.sort(key=lambda row: (row["name"].lstrip("@").casefold(), row["user_id"]))
        shown = rows[: max(budget, 0)]
        budget -= len(shown)
        groups[key].rows = shown
        groups[key].hidden = len(rows) - len(shown)
    return [group for group in groups.values() if group.count], members


async def _state(session: MatrixSession, room_id: str, event_type: str) -> dict[str, Any] | None:
    """A state event's content, or None when the room has none of that type."""
    try:
        return await session.api(
            "GET",
            f"/rooms/{quote(room_id, safe='')}/state/{quote(event_type, safe='')}/",
            action="Loading the room's settings",
        )
    except errors.MatrixError as exc:
        if exc.errcode == "M_NOT_FOUND":
            return None
        raise


async def _create_event(session: MatrixSession, room_id: str) -> dict[str, Any] | None:
    """The whole `m.room.create` event (its sender is the creator); None if unavailable."""
    try:
        return await session.api(
            "GET",
            f"/rooms/{quote(room_id, safe='')}/state/m.room.create/",
            query={"format": "event"},
            action="Loading the room's settings",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            raise
        return None


async def _user_exists(session: MatrixSession, user_id: str) -> bool:
    """False only when the homeserver says the user has no profile (404): Synapse accepts an
    invite for a local user who does not exist. Anything else (profiles restricted to shared
    rooms, a remote server that cannot be reached) is left for the invite itself to answer."""
    try:
        await session.api(
            "GET", f"/profile/{quote(user_id, safe='')}", action=f"Looking up {user_id}"
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            raise
        return exc.status != 404
    return True


async def _members_page(
    request: HttpRequest,
    room: str,
    *,
    invite_value: str = "",
    invite_error: str = "",
    status: int = 200,
) -> HttpResponse:
    found = await joined_room(request, room)
    if isinstance(found, HttpResponse):
        return found
    session, room_id, summary = found
    context: dict[str, Any] = {
        "credential": request.credential,
        "room_id": room_id,
        "room_name": summary.display_name(session.user_id),
        "invite_value": invite_value,
        "invite_error": invite_error,
        "max_shown": MAX_SHOWN,
    }
    try:
        answer, levels, create = await asyncio.gather(
            session.api(
                "GET",
                f"/rooms/{quote(room_id, safe='')}/members",
                query={"not_membership": "leave"},
                action="Loading the members",
            ),
            _state(session, room_id, "m.room.power_levels"),
            _create_event(session, room_id),
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        context.update({"load_error": exc.message, "groups": []})
        return render(request, "rooms/members.html", context, status=502)
    chunk = answer.get("chunk") if isinstance(answer.get("chunk"), list) else []
    groups, members = group_members(chunk, levels, create)
    own_power = power_of(session.user_id, levels, create)
    invite_power = power.level((levels or {}).get("invite"), 0)
    memberships = [content.get("membership") for content in members.values()]
    shown = sum(len(group.rows) for group in groups)
    total = sum(group.count for group in groups)
    context.update(
        {
            "groups": groups,
            "joined": memberships.count("join"),
            "invited": memberships.count("invite"),
            "total": total,
            "shown": shown,
            "truncated": shown < total,
            "may_invite": own_power >= invite_power,
            "own_power": own_power,
            "invite_power": invite_power,
        }
    )
    return render(request, "rooms/members.html", context, status=status)


@matrix_login_required
async def members_view(request: HttpRequest, room: str) -> HttpResponse:
    return await _members_page(request, room)


@require_POST
@matrix_login_required
async def invite_view(request: HttpRequest, room: str) -> HttpResponse:
    """The invite form: the typed user ID is kept when it is malformed or refused."""
    value = request.POST.get("user_id", "")[:1000]
    user_id = value.strip()
    found = await joined_room(request, room)
    if isinstance(found, HttpResponse):
        return found
    session, room_id, summary = found
    if not valid_user_id(user_id):
        message = (
            "Enter the full Matrix ID of the person to invite, like @alice:example.org."
            if not user_id
            else f"“{user_id}” is not a Matrix user ID. "
            "A user ID looks like @alice:example.org: an @, a name, a colon and the server."
        )
        return await _members_page(
            request, room, invite_value=value, invite_error=message, status=400
        )
    try:
        if not await _user_exists(session, user_id):
            return await _members_page(
                request,
                room,
                invite_value=value,
                invite_error=f"There is no user {user_id}: their homeserver does not know "
                "that ID. Check it for typos.",
                status=400,
            )
        await session.api(
            "POST",
            f"/rooms/{quote(room_id, safe='')}/invite",
            body={"user_id": user_id},
            action=f"Inviting {user_id}",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return await _members_page(
            request, room, invite_value=value, invite_error=exc.message, status=400
        )
    messages.success(request, f"Invited {user_id}.")
    return HttpResponseRedirect(reverse("rooms:members", args=[room]))
