"""Rooms one is not in: their preview from `/room_summary` (v1.15) with Join or Ask to join,
asking to join (`POST /knock`, v1.1) with a reason, and, on the members page, accepting
(an invite) or declining (a kick) those who asked, for people whose power level allows it.

Element's shapes: the knock carries `reason` in its body and the servers as both `via` and
`server_name`; accepting is an invite, declining is a kick of the knocking member."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webclient.matrix import errors
from webclient.matrix.names import valid_user_id, via_servers
from webclient.timeline.roompreview import summary_view
from webclient.web.auth import matrix_login_required
from webclient.web.errors import NotInRoom, PageError
from webclient.web.rooms import ROOM_SYNC_WAIT, access_room, session_of

MAX_REASON = 500


async def room_summary(request: HttpRequest, room: str, via: list[str]) -> dict[str, Any] | None:
    """The summary view of a room, or None when the homeserver will not say (a private room
    it knows nothing of, or one on a server out of reach)."""
    session = await session_of(request)
    try:
        answer = await session.api.room_summary(room, via, action=_("Looking up the room"))
    except errors.MatrixError:
        return None
    return summary_view(answer, room)


async def room_preview_page(
    request: HttpRequest, room: str, *, error: str = "", reason: str = "", status: int = 200
) -> HttpResponse:
    """The page of a room one is not in: what it says about itself, and how to get in."""
    via = via_servers(request.GET.getlist("via") or request.POST.getlist("via"))
    summary = await room_summary(request, room, via)
    if summary is None:
        raise NotInRoom()
    if summary["membership"] in ("join", "invite"):
        # The homeserver knows more than the sync loop yet: wait for it, then go there
        # (and never back here, should it still not know: that would loop).
        session = await session_of(request)
        membership = summary["membership"]
        known = await session.wait_until(
            summary["room_id"],
            lambda s: s is not None and s.membership == membership,
            ROOM_SYNC_WAIT,
        )
        if not known:
            raise NotInRoom()
        page = "rooms:room" if membership == "join" else "rooms:invitation"
        return HttpResponseRedirect(reverse(page, args=[summary["room_id"]]))
    context = {
        "summary": summary,
        "room": room,
        "via": via,
        "error": error,
        "reason": reason,
        "max_reason": MAX_REASON,
    }
    return render(request, "rooms/preview.html", context, status=status)


@require_POST
@matrix_login_required
async def knock_view(request: HttpRequest, room: str) -> HttpResponse:
    """Ask to join, with an optional reason the room's moderators see."""
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    via = via_servers(request.POST.getlist("via"))
    session = await session_of(request)
    try:
        room_id = await session.api.knock(room, via, reason, action=_("Asking to join"))
    except errors.MatrixError as exc:
        return await room_preview_page(request, room, error=exc.message, reason=reason, status=400)
    messages.info(request, _("You asked to join. Someone in the room has to let you in."))
    target = reverse("rooms:room", args=[room_id])
    if via:
        target += "?" + "&".join(f"via={server}" for server in via)
    return HttpResponseRedirect(target)


@require_POST
@matrix_login_required
async def knock_answer_view(request: HttpRequest, room: str) -> HttpResponse:
    """Let someone who asked to join in (invite them) or turn them away (kick them)."""
    found = await access_room(request, room)
    session, room_id = found.session, found.room_id
    user_id = request.POST.get("user_id", "")
    answer = request.POST.get("answer", "")
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    if not valid_user_id(user_id) or answer not in ("accept", "decline"):
        raise PageError(_("Choose Accept or Decline for someone who asked to join."), status=400)
    member = await session.api.state_or_none(room_id, "m.room.member", user_id) or {}
    if member.get("membership") != "knock":
        raise PageError(
            _("%(id)s is not asking to join (any more).") % {"id": user_id},
            _("No request to join"),
            409,
        )
    try:
        if answer == "accept":
            await session.api.invite(
                room_id, user_id, action=_("Letting %(id)s in") % {"id": user_id}
            )
        else:
            await session.api.moderate(
                room_id, "kick", user_id, reason, action=_("Declining %(id)s") % {"id": user_id}
            )
    except errors.MatrixError as exc:
        raise PageError(exc.message, _("Could not answer the request"), 400) from exc
    done = _("%(id)s was invited in.") if answer == "accept" else _("%(id)s was turned away.")
    messages.success(request, done % {"id": user_id})
    return HttpResponseRedirect(reverse("rooms:members", args=[room_id]) + "#group-knocking")
