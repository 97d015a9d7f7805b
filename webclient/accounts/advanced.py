"""Settings > Help & About > Advanced: what automations (n8n, Windmill, Netdata) need to post
to Matrix rooms: the homeserver URL, an access token, the room ID.

The browser session's access token stays on the server, except in the one response to
"Reveal" (after the homeserver confirmed the account password, see `automation`). Tokens for
automations belong to separate devices, shown once when created and revocable here. Every
response of these pages is `Cache-Control: no-store`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth import alogout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from webclient.matrix import errors, registry
from webclient.matrix.models import AutomationDevice, Credential

from . import automation, snippets
from .current import login_url, matrix_login_required

logger = logging.getLogger("webclient.accounts")

MAX_PASSWORD_LENGTH = 1024


def _no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)  # includes no-store, private
    return response


async def _session_revoked(request: HttpRequest) -> HttpResponse:
    """The homeserver no longer accepts this session's token: end it like the sync loop does."""
    credential: Credential = request.credential
    await registry.stop(credential.pk)
    groups = credential.groups
    await Credential.objects.filter(pk=credential.pk).adelete()
    await registry.end_pages(groups, "revoked")
    await alogout(request)
    return HttpResponseRedirect(login_url("revoked", request.get_full_path()))


def _password(request: HttpRequest) -> str:
    return request.POST.get("password", "")[:MAX_PASSWORD_LENGTH]


# -- Advanced: homeserver URL, user and device ID, and the token behind "Reveal" --------------


def _advanced_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    credential: Credential = request.credential
    return {
        "credential": credential,
        "homeserver": snippets.base_url(credential.homeserver),
        "user_id": credential.user_id,
        "device_id": credential.device_id,
        "owns_device": credential.owns_device,
        **extra,
    }


@require_GET
@matrix_login_required
async def advanced_view(request: HttpRequest) -> HttpResponse:
    context = _advanced_context(request)
    context["automation_count"] = await automation.devices_of(request.credential).acount()
    return _no_store(render(request, "accounts/advanced.html", context))


@require_POST
@matrix_login_required
async def reveal_view(request: HttpRequest) -> HttpResponse:
    """The session's access token, once, in this response only, after the password check."""
    credential: Credential = request.credential
    password = _password(request)
    status = 200
    extra: dict[str, Any] = {}
    if not password:
        extra["reveal_error"], status = "Enter your account password.", 400
    else:
        try:
            await automation.verify_password(credential, password)
        except errors.MatrixError as exc:
            if exc.is_unknown_token:
                return await _session_revoked(request)
            extra["reveal_error"] = exc.message
            status = (
                429
                if exc.is_rate_limit
                else 403
                if exc.errcode in {"M_FORBIDDEN", "W_NO_PASSWORD"}
                else 502
            )
        else:
            extra["revealed_token"] = credential.access_token
            logger.info("revealed the access token of %s to its owner", credential)
    context = _advanced_context(request, **extra)
    context["automation_count"] = await automation.devices_of(credential).acount()
    return _no_store(render(request, "accounts/advanced.html", context, status=status))


# -- Tokens for automations --------------------------------------------------------------------


async def _device_rows(credential: Credential) -> list[dict[str, Any]]:
    """The automation devices, each with whether the homeserver still has it."""
    rows = [device async for device in automation.devices_of(credential)]
    live = await automation.live_device_ids(credential) if rows else set()
    return [
        {
            "pk": device.pk,
            "name": device.name,
            "device_id": device.device_id,
            "display_name": automation.AUTOMATION_PREFIX + device.name,
            "created": device.created,
            "present": None if live is None else device.device_id in live,
        }
        for device in rows
    ]


async def _automation_page(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    credential: Credential = request.credential
    try:
        devices = await _device_rows(credential)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return await _session_revoked(request)
        raise
    context = {
        "credential": credential,
        "homeserver": snippets.base_url(credential.homeserver),
        "devices": devices,
        "name_max": automation.MAX_NAME_LENGTH,
        "prefix": automation.AUTOMATION_PREFIX,
        **extra,
    }
    return _no_store(render(request, "accounts/automation.html", context, status=status))


@require_GET
@matrix_login_required
async def automation_view(request: HttpRequest) -> HttpResponse:
    return await _automation_page(request)


@require_POST
@matrix_login_required
async def create_automation_view(request: HttpRequest) -> HttpResponse:
    """Sign in a separate device for an automation; its token is shown in this response only
    (on the room's integrations page when the form came from there)."""
    credential: Credential = request.credential
    name = automation.clean_name(request.POST.get("name", ""))
    password = _password(request)
    room = request.POST.get("room", "")
    error = None
    if not name:
        error = "Give the token a name, such as “netdata alerts”."
    elif not password:
        error = "Enter your account password."
    device = token = None
    if room:
        # The room first: a token must not be created for a page that cannot show it.
        found = await _joined_room(request, room)
        if isinstance(found, HttpResponse):
            return found
    if error is None:
        try:
            device, token = await automation.create_device(credential, name, password)
        except errors.MatrixError as exc:
            if exc.is_unknown_token:
                return await _session_revoked(request)
            error = exc.message
    if room:
        return await _integrations_page(
            request, room, device=device, token=token, create_error=error, name=name
        )
    if error:
        return await _automation_page(request, status=400, create_error=error, name=name)
    return await _automation_page(request, new_device=device, new_token=token)


@require_POST
@matrix_login_required
async def revoke_automation_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete the automation's device on the homeserver (its token stops working). The browser
    session is another device and stays signed in."""
    credential: Credential = request.credential
    device = await automation.devices_of(credential).filter(pk=pk).afirst()
    if device is None:
        messages.warning(request, "That token was already revoked.")
    else:
        try:
            revoked = await automation.revoke_device(device)
        except errors.MatrixError as exc:
            messages.error(request, f"Not revoked: {exc.message}")
        else:
            label = automation.AUTOMATION_PREFIX + device.name
            if revoked:
                messages.success(
                    request, f"Revoked “{label}” ({device.device_id}): its token no longer works."
                )
            else:
                messages.info(
                    request,
                    f"“{label}” ({device.device_id}) had already been signed out elsewhere; "
                    "it is no longer listed.",
                )
    return HttpResponseRedirect(reverse("accounts:automation"))


# -- Per room: ready-to-paste settings -----------------------------------------------------------


async def _joined_room(request: HttpRequest, room: str) -> tuple[str, str] | HttpResponse:
    """(room ID, room name) of a room the person has joined, or the error page to show."""
    from webclient.rooms.views import _ended, _error, _resolve_room, _wait_synced

    session = await registry.session_for(request.credential)
    try:
        room_id = await _resolve_room(session, room)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return _no_store(_error(request, "Room not found", exc.message, 404))
    await _wait_synced(session)
    summary = session.rooms.rooms.get(room_id)
    if summary is None or summary.membership != "join":
        message = "You are not a member of this room, or it does not exist."
        return _no_store(_error(request, "Not in this room", message, 404))
    return room_id, summary.display_name(session.user_id)


async def _integrations_page(
    request: HttpRequest,
    room: str,
    *,
    device: AutomationDevice | None = None,
    token: str | None = None,
    create_error: str | None = None,
    name: str = "",
) -> HttpResponse:
    credential: Credential = request.credential
    found = await _joined_room(request, room)
    if isinstance(found, HttpResponse):
        return found
    room_id, room_name = found
    try:
        devices = await _device_rows(credential)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return await _session_revoked(request)
        raise
    selected = None
    if device is not None:
        selected = device.pk
    elif (wanted := request.GET.get("device", "")).isdigit():
        selected = next((d["pk"] for d in devices if d["pk"] == int(wanted)), None)
    chosen = next((d for d in devices if d["pk"] == selected), None)
    value = token or snippets.PLACEHOLDER
    txn_prefix = "webclient-test-" + secrets.token_hex(4)
    context = {
        "credential": credential,
        "room_id": room_id,
        "room_name": room_name,
        "homeserver": snippets.base_url(credential.homeserver),
        "devices": devices,
        "selected": selected,
        "chosen": chosen,
        "token": value,
        "token_is_real": token is not None,
        "placeholder": snippets.PLACEHOLDER,
        "snippets": snippets.all_for_room(
            credential.homeserver,
            value,
            room_id,
            txn_prefix,
            chosen["display_name"] if chosen else "",
        ),
        "create_error": create_error,
        "name": name if create_error else "",
        "name_max": automation.MAX_NAME_LENGTH,
        "prefix": automation.AUTOMATION_PREFIX,
    }
    status = 400 if create_error else 200
    return _no_store(render(request, "rooms/integrations.html", context, status=status))


@require_GET
@matrix_login_required
async def integrations_view(request: HttpRequest, room: str) -> HttpResponse:
    return await _integrations_page(request, room)
