"""The account's devices: the list, renaming this one, and signing out the others.

Signing out other devices is `POST /delete_devices`, which the homeserver protects with
user-interactive authentication: the form asks for the password with the choice of devices.
This device is never offered here (that is *Sign out*, which also ends this session properly).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from webclient.matrix import errors, registry
from webclient.matrix.session import MatrixSession
from webclient.rooms.views import _ended

from . import uia
from .current import matrix_login_required

#: Synapse refuses longer device names (`MAX_DEVICE_DISPLAY_NAME_LEN`).
MAX_DEVICE_NAME = 100


def _device_row(device: dict[str, Any], own_device_id: str) -> dict[str, Any]:
    device_id = device.get("device_id") if isinstance(device.get("device_id"), str) else ""
    name = device.get("display_name") if isinstance(device.get("display_name"), str) else ""
    ts = device.get("last_seen_ts")
    last_seen = None
    if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0:
        try:
            last_seen = datetime.fromtimestamp(ts / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            last_seen = None
    ip = device.get("last_seen_ip") if isinstance(device.get("last_seen_ip"), str) else ""
    return {
        "device_id": device_id,
        "display_name": name,
        "last_seen": last_seen,
        "last_seen_ip": ip,
        "is_this": device_id == own_device_id,
    }


async def list_devices(session: MatrixSession) -> list[dict[str, Any]]:
    """This device first, then the others, most recently seen first."""
    answer = await session.api("GET", "/devices", action="Loading your devices")
    raw = answer.get("devices") if isinstance(answer.get("devices"), list) else []
    rows = [_device_row(d, session.device_id or "") for d in raw if isinstance(d, dict)]
    rows = [row for row in rows if row["device_id"]]
    epoch = datetime.fromtimestamp(0, tz=UTC)
    rows.sort(key=lambda row: (not row["is_this"], -(row["last_seen"] or epoch).timestamp()))
    return rows


async def _page(
    request: HttpRequest,
    session: MatrixSession,
    *,
    rename_value: str | None = None,
    rename_error: str = "",
    signout_error: str = "",
    selected: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "credential": request.credential,
        "rename_error": rename_error,
        "signout_error": signout_error,
        "selected": selected or [],
        "max_device_name": MAX_DEVICE_NAME,
        "this_device_id": session.device_id,
    }
    try:
        rows = await list_devices(session)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        context.update({"load_error": exc.message, "this_device": None, "others": []})
        return render(request, "accounts/devices.html", context, status=502)
    this = next((row for row in rows if row["is_this"]), None)
    context.update(
        {
            "this_device": this,
            "others": [row for row in rows if not row["is_this"]],
            "rename_value": rename_value
            if rename_value is not None
            else (this["display_name"] if this else ""),
        }
    )
    return render(request, "accounts/devices.html", context, status=status)


@require_http_methods(["GET", "POST"])
@matrix_login_required
async def devices_view(request: HttpRequest) -> HttpResponse:
    session = await registry.session_for(request.credential)
    if request.method == "GET":
        return await _page(request, session)
    form = request.POST.get("form", "")
    if form == "rename":
        return await _rename(request, session)
    if form == "signout":
        return await _sign_out_others(request, session)
    return await _page(request, session, signout_error="Unknown form.", status=400)


async def _rename(request: HttpRequest, session: MatrixSession) -> HttpResponse:
    """Rename this device (only this one: the form names no device)."""
    value = request.POST.get("display_name", "")[:1000]
    name = value.strip()
    problem = ""
    if not name:
        problem = "Enter a name for this device."
    elif len(name) > MAX_DEVICE_NAME:
        problem = f"A device name can be at most {MAX_DEVICE_NAME} characters long."
    if problem:
        return await _page(request, session, rename_value=value, rename_error=problem, status=400)
    try:
        await session.api(
            "PUT",
            f"/devices/{quote(session.device_id or '', safe='')}",
            body={"display_name": name},
            action="Renaming this device",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return await _page(
            request, session, rename_value=value, rename_error=exc.message, status=400
        )
    messages.success(request, f"This device is now called “{name}”.")
    return HttpResponseRedirect(reverse("accounts:devices"))


async def _sign_out_others(request: HttpRequest, session: MatrixSession) -> HttpResponse:
    password = request.POST.get("password", "")
    everyone = request.POST.get("scope") == "all"
    chosen = [d for d in request.POST.getlist("device") if d and d != session.device_id]
    try:
        known = await list_devices(session)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return await _page(request, session, signout_error=exc.message, status=502)
    others = [row["device_id"] for row in known if not row["is_this"]]
    if everyone:
        targets = others
    else:
        # Only devices the account has now (a stale page may name one already gone).
        targets = [device_id for device_id in others if device_id in set(chosen)]
    problem = ""
    if not targets:
        problem = (
            "There are no other devices to sign out."
            if everyone or not others
            else "Choose the devices to sign out."
        )
    elif not password:
        problem = "Enter your password to confirm."
    if problem:
        return await _page(request, session, signout_error=problem, selected=chosen, status=400)
    try:
        await uia.with_password(
            session,
            "POST",
            "/delete_devices",
            {"devices": targets},
            password,
            action="Signing out devices",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        message = exc.message
        if exc.errcode == uia.WRONG_PASSWORD:
            message = "That is not your password. No device was signed out."
        return await _page(
            request,
            session,
            signout_error=message,
            selected=chosen,
            status=429 if exc.is_rate_limit else 400,
        )
    count = len(targets)
    messages.success(
        request,
        f"Signed out {count} device{'s' if count != 1 else ''}: {', '.join(targets)}.",
    )
    return HttpResponseRedirect(reverse("accounts:devices"))
