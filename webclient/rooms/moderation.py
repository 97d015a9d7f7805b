"""Moderation: a member's page in a room, with kick, ban and unban when the viewer's power
level allows them; the homeserver's refusal, if it still says no, is shown as it is."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from webclient.accounts.current import login_url, matrix_login_required
from webclient.matrix import errors, power, registry
from webclient.matrix.session import MatrixSession
from webclient.timeline.avatars import member_avatar
from webclient.matrix.names import member_display_name

ACTIONS = {"kick": "kick", "ban": "ban", "unban": "unban"}
DONE = {"kick": "removed from the room", "ban": "banned", "unban": "unbanned"}


async def power_levels(
    session: MatrixSession, room_id: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The room's power levels and its create event (whose sender is the creator)."""
    from .members import _create_event, _state

    summary = session.rooms.rooms.get(room_id)
    levels = summary.power_levels if summary is not None and summary.power_levels else None
    if levels is None:
        try:
            levels = await _state(session, room_id, "m.room.power_levels")
        except errors.MatrixError:
            levels = None
        if summary is not None and levels:
            summary.power_levels = levels
    if summary is not None and summary.creators:
        create = {
            "sender": summary.creators[0],
            "content": {
                "room_version": summary.room_version or "1",
                "additional_creators": summary.creators[1:],
            },
        }
    else:
        create = await _create_event(session, room_id)
    return levels, create


async def _member(session: MatrixSession, room_id: str, user_id: str) -> dict[str, Any]:
    try:
        return await session.api(
            "GET",
            f"/rooms/{quote(room_id, safe='')}/state/m.room.member/{quote(user_id, safe='')}",
        )
    except errors.MatrixError as exc:
        if exc.errcode == "M_NOT_FOUND":
            return {}
        raise


@matrix_login_required
async def person_view(request: HttpRequest, room: str, user_id: str) -> HttpResponse:
    session = await registry.session_for(request.credential)
    room_id = room
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        reason = request.POST.get("reason", "").strip()[:500]
        if action in ACTIONS:
            body: dict[str, Any] = {"user_id": user_id}
            if reason:
                body["reason"] = reason
            try:
                await session.api(
                    "POST", f"/rooms/{quote(room_id, safe='')}/{ACTIONS[action]}", body=body
                )
            except errors.MatrixError as exc:
                if exc.is_unknown_token:
                    return HttpResponseRedirect(login_url("revoked"))
                error = exc.message
            else:
                messages.success(request, f"{user_id} was {DONE[action]}.")
                return HttpResponseRedirect(reverse("rooms:person", args=[room_id, user_id]))
    try:
        content = await _member(session, room_id, user_id)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return HttpResponseRedirect(login_url("revoked"))
        return render(
            request,
            "rooms/error.html",
            {"credential": request.credential, "heading": "Not found", "message": exc.message},
            status=404,
        )
    levels, create = await power_levels(session, room_id)
    summary = session.rooms.rooms.get(room_id)
    members = dict(summary.members) if summary else {}
    if content:
        members[user_id] = content
    name = member_display_name(user_id, members)
    me = session.user_id
    membership = content.get("membership", "") if content else ""
    context = {
        "credential": request.credential,
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


def _shown(level: float) -> str:
    return "creator" if level == float("inf") else str(int(level))
