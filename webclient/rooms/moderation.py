"""Moderation: a member's page in a room, with kick, ban and unban when the viewer's power
level allows them; the homeserver's refusal, if it still says no, is shown as it is."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webclient.live.devices import DeviceHandle
from webclient.matrix import errors, power
from webclient.matrix.names import member_display_name
from webclient.timeline.avatars import member_avatar
from webclient.web.auth import matrix_login_required
from webclient.web.confirm import require_confirmation
from webclient.web.errors import PageError
from webclient.web.rooms import session_of

ACTIONS = {"kick": "kick", "ban": "ban", "unban": "unban"}
DONE = {
    "kick": gettext_lazy("%(user_id)s was removed from the room."),
    "ban": gettext_lazy("%(user_id)s was banned."),
    "unban": gettext_lazy("%(user_id)s was unbanned."),
}


async def _member(session: DeviceHandle, room_id: str, user_id: str) -> dict[str, Any]:
    return await session.api.state_or_none(room_id, "m.room.member", user_id) or {}


@matrix_login_required
async def person_view(request: HttpRequest, room: str, user_id: str) -> HttpResponse:
    session = await session_of(request)
    room_id = room
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        reason = request.POST.get("reason", "").strip()[:500]
        if action in ACTIONS:
            if action != "unban":
                require_confirmation(request, *_question(session, room_id, user_id, action))
            try:
                await session.api.moderate(room_id, ACTIONS[action], user_id, reason)
            except errors.MatrixError as exc:
                error = exc.message
            else:
                messages.success(request, DONE[action] % {"user_id": user_id})
                return HttpResponseRedirect(reverse("rooms:person", args=[room_id, user_id]))
    try:
        content = await _member(session, room_id, user_id)
    except errors.MatrixError as exc:
        raise PageError(exc.message, _("Not found"), 404) from exc
    levels, create = await session.power_levels(room_id)
    summary = session.rooms.rooms.get(room_id)
    members = dict(summary.members) if summary else {}
    if content:
        members[user_id] = content
    name = member_display_name(user_id, members)
    me = session.user_id
    membership = content.get("membership", "") if content else ""
    context = {
        "room_id": room_id,
        "room_name": summary.display_name(me) if summary else room_id,
        "user_id": user_id,
        "name": name,
        "avatar": member_avatar(user_id, name, members),
        "membership": membership or "not in the room",
        "level": _shown(power.power_of(user_id, levels, create)),
        "can_kick": user_id != me
        and membership in ("join", "invite")
        and power.can_act_on(levels, create, me, user_id, "kick"),
        "can_ban": user_id != me
        and membership != "ban"
        and power.can_act_on(levels, create, me, user_id, "ban"),
        "can_unban": membership == "ban" and power.can(levels, create, me, "ban"),
        "error": error,
    }
    return render(request, "rooms/person.html", context, status=400 if error else 200)


def _question(session: DeviceHandle, room_id: str, user_id: str, action: str) -> tuple[str, str]:
    """What the moderation page's buttons ask (`data-confirm`), for a page that asks."""
    summary = session.rooms.rooms.get(room_id)
    members = dict(summary.members) if summary else {}
    names = {
        "name": member_display_name(user_id, members),
        "room_name": summary.display_name(session.user_id) if summary else room_id,
    }
    if action == "kick":
        return _("Remove %(name)s from %(room_name)s?") % names, _("Remove from room")
    return (
        _("Ban %(name)s from %(room_name)s? They cannot come back until unbanned.") % names,
        _("Ban"),
    )


def _shown(level: float) -> str:
    return "creator" if level == float("inf") else str(int(level))
