"""Reporting to the homeserver's admins: a message (`POST /rooms/{roomId}/report/{eventId}`),
a room (`/rooms/{roomId}/report`, v1.13) or a person (`/users/{userId}/report`, v1.14), each
with a reason. Plain pages with a form, reached from a message's menu, the room's settings
and a person's page; the reason goes to the admins and is never shown here."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from webclient.matrix import errors
from webclient.matrix.names import member_display_name, valid_user_id
from webclient.matrix.roomstate import message_preview
from webclient.web.auth import matrix_login_required
from webclient.web.errors import PageError
from webclient.web.rooms import access_room

MAX_REASON = 1000


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(
        request, "rooms/report.html", {"max_reason": MAX_REASON, **context}, status=status
    )


@matrix_login_required
async def report_event_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    found = await access_room(request, room)
    session, room_id = found.session, found.room_id
    context: dict[str, Any] = {
        "what": "message",
        "room_id": room_id,
        "room_name": found.name,
        "back": reverse("rooms:event", args=[room_id, event_id]),
    }
    try:
        event = await session.event(room_id, event_id)
    except errors.MatrixError as exc:
        raise PageError(exc.message, _("Message not found"), 404) from exc
    sender = str(event.get("sender", ""))
    content = event.get("content") if isinstance(event.get("content"), dict) else {}
    name = member_display_name(sender, session.members(room_id))
    context.update({"sender_name": name, "preview": message_preview(content, name)[:300]})
    if request.method != "POST":
        return _page(request, context)
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    try:
        await session.api.report_event(room_id, event_id, reason, action=_("Reporting"))
    except errors.MatrixError as exc:
        return _page(request, {**context, "reason": reason, "error": exc.message}, 400)
    messages.success(request, _("Reported the message to the admins of your homeserver."))
    return HttpResponseRedirect(reverse("rooms:room", args=[room_id]))


@matrix_login_required
async def report_room_view(request: HttpRequest, room: str) -> HttpResponse:
    found = await access_room(request, room, membership=None)
    session, room_id = found.session, found.room_id
    context: dict[str, Any] = {
        "what": "room",
        "room_id": room_id,
        "room_name": found.name,
        "back": reverse("rooms:settings", args=[room_id]),
        "reason_required": True,
    }
    if request.method != "POST":
        return _page(request, context)
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    if not reason:
        return _page(request, {**context, "error": _("Say why you report this room.")}, 400)
    try:
        await session.api.report_room(room_id, reason, action=_("Reporting the room"))
    except errors.MatrixError as exc:
        return _page(request, {**context, "reason": reason, "error": exc.message}, 400)
    messages.success(request, _("Reported the room to the admins of your homeserver."))
    return HttpResponseRedirect(reverse("rooms:settings", args=[room_id]))


@matrix_login_required
async def report_user_view(request: HttpRequest, room: str, user_id: str) -> HttpResponse:
    if not valid_user_id(user_id):
        raise PageError(_("That is not a user ID."), _("Not found"), 404)
    found = await access_room(request, room, membership=None)
    session, room_id = found.session, found.room_id
    context: dict[str, Any] = {
        "what": "user",
        "room_id": room_id,
        "room_name": found.name,
        "user_id": user_id,
        "user_name": member_display_name(user_id, session.members(room_id)),
        "back": reverse("rooms:person", args=[room_id, user_id]),
        "reason_required": True,
    }
    if request.method != "POST":
        return _page(request, context)
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    if not reason:
        return _page(request, {**context, "error": _("Say why you report this person.")}, 400)
    try:
        await session.api.report_user(
            user_id, reason, action=_("Reporting %(id)s") % {"id": user_id}
        )
    except errors.MatrixError as exc:
        return _page(request, {**context, "reason": reason, "error": exc.message}, 400)
    messages.success(
        request, _("Reported %(id)s to the admins of your homeserver.") % {"id": user_id}
    )
    return HttpResponseRedirect(reverse("rooms:person", args=[room_id, user_id]))
