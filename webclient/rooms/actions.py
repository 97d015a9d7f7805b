"""Message actions without JavaScript: react, edit and delete each have a small page with a
form (the shared tile fragments cannot carry a per-session CSRF token, so the tile links
here). With JavaScript the same actions go over the websocket."""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from webclient.accounts.current import login_url, matrix_login_required
from webclient.matrix import errors, registry
from webclient.matrix.roomstate import message_preview
from webclient.matrix.names import member_display_name

from . import sending

MAX_KEY = 64


async def _action_page(
    request: HttpRequest, room_id: str, event_id: str, action: str, **extra: Any
) -> HttpResponse:
    session = await registry.session_for(request.credential)
    context: dict[str, Any] = {
        "credential": request.credential,
        "room_id": room_id,
        "event_id": event_id,
        "action": action,
        **extra,
    }
    try:
        event = await sending.get_event(session, room_id, event_id)
        sender = str(event.get("sender", ""))
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        name = member_display_name(sender, session.members(room_id))
        context["sender_name"] = name
        context["preview"] = message_preview(content, name)[:300]
    except errors.MatrixError as exc:
        context.setdefault("error", exc.message)
    status = 400 if context.get("error") else 200
    return render(request, "rooms/action.html", context, status=status)


def _back(room_id: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("rooms:room", args=[room_id]) + "#composer")


@matrix_login_required
async def react_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    key = (request.POST.get("key") or request.GET.get("key") or "").strip()[:MAX_KEY]
    if request.method != "POST" or not key:
        return await _action_page(request, room, event_id, "react", key=key or "👍")
    session = await registry.session_for(request.credential)
    try:
        await session.toggle_reaction(room, event_id, key)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return HttpResponseRedirect(login_url("revoked"))
        return await _action_page(request, room, event_id, "react", key=key, error=exc.message)
    return _back(room)


@matrix_login_required
async def edit_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    session = await registry.session_for(request.credential)
    if request.method != "POST":
        try:
            text = await sending.editable_text(session, room, event_id)
        except errors.MatrixError as exc:
            return await _action_page(request, room, event_id, "edit", error=exc.message)
        if "application/json" in request.headers.get("Accept", ""):
            from django.http import JsonResponse

            return JsonResponse({"body": text})
        return await _action_page(
            request, room, event_id, "edit", body=text, txn_id="wce" + secrets.token_hex(10)
        )
    body = request.POST.get("body", "")
    txn_id = request.POST.get("txn_id", "")
    if not txn_id.isalnum() or len(txn_id) > 64:
        txn_id = "wce" + secrets.token_hex(10)
    if not body.strip():
        return await _action_page(
            request,
            room,
            event_id,
            "edit",
            body=body,
            txn_id=txn_id,
            error="An edit cannot be empty; delete the message instead.",
        )
    try:
        await sending.edit(session, room, event_id, body, txn_id)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return HttpResponseRedirect(login_url("revoked"))
        return await _action_page(
            request, room, event_id, "edit", body=body, txn_id=txn_id, error=exc.message
        )
    return _back(room)


@matrix_login_required
async def redact_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    if request.method != "POST":
        return await _action_page(request, room, event_id, "delete")
    session = await registry.session_for(request.credential)
    try:
        await sending.redact(session, room, event_id, request.POST.get("reason", "")[:500])
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return HttpResponseRedirect(login_url("revoked"))
        return await _action_page(request, room, event_id, "delete", error=exc.message)
    return _back(room)
