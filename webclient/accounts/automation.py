"""Settings > Advanced > Tokens for automations: separate devices (`matrix.devices`), each
with its own token, shown once when created and revocable here. The browser session is
another device and stays signed in. Every response that lists or shows tokens is
`Cache-Control: no-store`.

The form on a room's integrations page posts here too (with `room`): the answer is then that
room's page with the new token filled in (`web.integrations.room_page`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from webclient.matrix import devices, errors
from webclient.matrix.models import AutomationDevice, Credential
from webclient.web import snippets
from webclient.web.auth import matrix_login_required
from webclient.web.confirm import require_confirmation
from webclient.web.forms import first_error
from webclient.web.integrations import AutomationTokenForm, device_rows, no_store, room_page
from webclient.web.rooms import RoomAccess, access_room


async def _page(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    credential: Credential = request.credential
    context = {
        "homeserver": snippets.base_url(credential.homeserver),
        "devices": await device_rows(credential),
        "name_max": devices.MAX_NAME_LENGTH,
        "prefix": devices.AUTOMATION_PREFIX,
        **extra,
    }
    return no_store(render(request, "accounts/automation.html", context, status=status))


@require_GET
@matrix_login_required
async def automation_view(request: HttpRequest) -> HttpResponse:
    return await _page(request)


@require_POST
@matrix_login_required
async def create_automation_view(request: HttpRequest) -> HttpResponse:
    """Sign in a separate device for an automation; its token is shown in this response only
    (on the room's integrations page when the form came from there)."""
    credential: Credential = request.credential
    form = AutomationTokenForm(request.POST)
    room = request.POST.get("room", "")
    access: RoomAccess | None = None
    if room:
        # The room first: a token must not be created for a page that cannot show it.
        access = await access_room(request, room)
    error = None
    device: AutomationDevice | None = None
    token: str | None = None
    if not form.is_valid():
        error = first_error(form)
    else:
        try:
            device, token = await devices.create_device(
                credential, form.cleaned_data["name"], form.cleaned_data["password"]
            )
        except errors.MatrixError as exc:
            error = exc.message
    name = form.cleaned_data.get("name", "")
    if access is not None:
        return await room_page(
            request, access, device=device, token=token, create_error=error, name=name
        )
    if error:
        return await _page(request, status=400, create_error=error, name=name)
    return await _page(request, new_device=device, new_token=token)


@require_POST
@matrix_login_required
async def revoke_automation_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete the automation's device on the homeserver (its token stops working). The browser
    session is another device and stays signed in."""
    credential: Credential = request.credential
    device = await devices.devices_of(credential).filter(pk=pk).afirst()
    if device is None:
        messages.warning(request, _("That token was already revoked."))
    else:
        require_confirmation(
            request,
            _("Revoke the token “%(name)s”? The automation using it stops working.")
            % {"name": devices.AUTOMATION_PREFIX + device.name},
            _("Revoke"),
        )
        try:
            revoked = await devices.revoke_device(device)
        except errors.MatrixError as exc:
            messages.error(request, _("Not revoked: %(error)s") % {"error": exc.message})
        else:
            label = devices.AUTOMATION_PREFIX + device.name
            if revoked:
                messages.success(
                    request,
                    _("Revoked “%(label)s” (%(device)s): its token no longer works.")
                    % {"label": label, "device": device.device_id},
                )
            else:
                messages.info(
                    request,
                    _(
                        "“%(label)s” (%(device)s) had already been signed out elsewhere; "
                        "it is no longer listed."
                    )
                    % {"label": label, "device": device.device_id},
                )
    return HttpResponseRedirect(reverse("accounts:automation"))
