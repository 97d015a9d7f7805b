"""A room's member list, grouped by power level, and inviting someone from it.

The list comes from the homeserver each time (`/members`, leaves excluded), not from the sync
loop: with lazy-loaded members the session only knows the people it has seen talk. Power
levels come from the room's `m.room.power_levels` state; creators of rooms of version 12 and
later outrank everyone without being listed there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webclient.matrix import errors, power
from webclient.matrix.names import member_display_names, valid_user_id
from webclient.matrix.power import ADMIN_LEVEL, power_of
from webclient.timeline.avatars import member_avatar
from webclient.web.auth import matrix_login_required
from webclient.web.rooms import access_room

from .forms import UserIdForm
from .membership import unknown_users

#: Rows shown at most; bigger rooms show the counts and a note.
MAX_SHOWN = 500
MODERATOR_LEVEL = 50


@dataclass
class Group:
    key: str
    heading: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    hidden: int = 0

    @property
    def count(self) -> int:
        return len(self.rows) + self.hidden


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
            ("admins", _("Admins")),
            ("moderators", _("Moderators")),
            ("members", _("Members")),
            ("invited", _("Invited")),
            ("knocking", _("Asked to join")),
            ("banned", _("Banned")),
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


async def _members_page(
    request: HttpRequest,
    room: str,
    *,
    invite_value: str = "",
    invite_error: str = "",
    status: int = 200,
) -> HttpResponse:
    found = await access_room(request, room)
    session, room_id = found.session, found.room_id
    context: dict[str, Any] = {
        "room_id": room_id,
        "room_name": found.name,
        "invite_value": invite_value,
        "invite_error": invite_error,
        "max_shown": MAX_SHOWN,
    }
    try:
        chunk, levels, create = await asyncio.gather(
            session.api.members(room_id, not_membership="leave", action=_("Loading the members")),
            session.api.state_or_none(
                room_id, "m.room.power_levels", action=_("Loading the room's settings")
            ),
            session.create_event(room_id),
        )
    except errors.MatrixError as exc:
        context.update({"load_error": exc.message, "groups": []})
        return render(request, "rooms/members.html", context, status=502)
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
            # Those who asked to join: let in (an invite) or turn away (a kick).
            "may_answer_knocks": own_power >= invite_power,
            "may_decline_knocks": power.can(levels, create, session.user_id, "kick"),
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
    form = UserIdForm(request.POST)
    form.is_valid()
    user_id = form.cleaned_data.get("user_id", "")
    found = await access_room(request, room)
    session, room_id = found.session, found.room_id
    if not valid_user_id(user_id):
        message = (
            _("Enter the full Matrix ID of the person to invite, like @alice:example.org.")
            if not user_id
            else _(
                "“%(user_id)s” is not a Matrix user ID. A user ID looks like "
                "@alice:example.org: an @, a name, a colon and the server."
            )
            % {"user_id": user_id}
        )
        return await _members_page(
            request, room, invite_value=value, invite_error=message, status=400
        )
    try:
        if await unknown_users(session, [user_id]):
            return await _members_page(
                request,
                room,
                invite_value=value,
                invite_error=_(
                    "There is no user %(user_id)s: their homeserver does not know that ID. "
                    "Check it for typos."
                )
                % {"user_id": user_id},
                status=400,
            )
        await session.api.invite(room_id, user_id, action=_("Inviting %(id)s") % {"id": user_id})
    except errors.MatrixError as exc:
        return await _members_page(
            request, room, invite_value=value, invite_error=exc.message, status=400
        )
    messages.success(request, _("Invited %(user_id)s.") % {"user_id": user_id})
    return HttpResponseRedirect(reverse("rooms:members", args=[room]))
