"""What the account's automation pages and a room's integrations page share: the list of
automation devices, the form that creates one, and the room's page of ready-to-paste settings
(which the form, posted from that page, answers with the new token filled in).

A token is never the browser session's own; an automation device's token appears only in the
one response that created it. Every response of these pages is `Cache-Control: no-store`.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy

from webclient.matrix import devices
from webclient.matrix.models import AutomationDevice, Credential

from . import snippets
from .rooms import RoomAccess

#: Longer passwords are cut (no homeserver takes them; the check just fails).
MAX_PASSWORD_LENGTH = 1024
NEED_NAME = gettext_lazy("Give the token a name, such as “netdata alerts”.")
NEED_PASSWORD = gettext_lazy("Enter your account password.")  # noqa: S105 - a message


def no_store(response: HttpResponse) -> HttpResponse:
    """Keep a page that may carry a token out of every cache (includes `private`)."""
    add_never_cache_headers(response)
    return response


class PasswordField(forms.CharField):
    """The account password as typed (never stripped), cut at `MAX_PASSWORD_LENGTH`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strip=False, error_messages={"required": NEED_PASSWORD}, **kwargs)

    def to_python(self, value: Any) -> str:
        return super().to_python(value)[:MAX_PASSWORD_LENGTH]


class AutomationTokenForm(forms.Form):
    """A new automation device: its name and the account password (the homeserver signs the
    device in with it); `room` when the form was posted from a room's integrations page."""

    name = forms.CharField(required=False, strip=False)
    password = PasswordField()
    room = forms.CharField(required=False)

    def clean_name(self) -> str:
        name = devices.clean_name(self.cleaned_data.get("name", ""))
        if not name:
            raise forms.ValidationError(NEED_NAME, code="required")
        return name


async def device_rows(credential: Credential) -> list[dict[str, Any]]:
    """The automation devices, each with whether the homeserver still has it."""
    rows = [device async for device in devices.devices_of(credential)]
    live = await devices.live_device_ids(credential) if rows else set()
    return [
        {
            "pk": device.pk,
            "name": device.name,
            "device_id": device.device_id,
            "display_name": devices.AUTOMATION_PREFIX + device.name,
            "created": device.created,
            "present": None if live is None else device.device_id in live,
        }
        for device in rows
    ]


async def room_page(
    request: HttpRequest,
    access: RoomAccess,
    *,
    device: AutomationDevice | None = None,
    token: str | None = None,
    create_error: str | None = None,
    name: str = "",
) -> HttpResponse:
    """A room's integrations page: its ID, the homeserver, and settings for n8n, Windmill,
    Netdata and curl with the token just created (`device`, `token`) or a placeholder."""
    credential: Credential = request.credential
    rows = await device_rows(credential)
    selected = None
    if device is not None:
        selected = device.pk
    elif (wanted := request.GET.get("device", "")).isdigit():
        selected = next((d["pk"] for d in rows if d["pk"] == int(wanted)), None)
    chosen = next((d for d in rows if d["pk"] == selected), None)
    value = token or snippets.PLACEHOLDER
    txn_prefix = "webclient-test-" + secrets.token_hex(4)
    context = {
        "room_id": access.room_id,
        "room_name": access.name,
        "homeserver": snippets.base_url(credential.homeserver),
        "devices": rows,
        "selected": selected,
        "chosen": chosen,
        "token": value,
        "token_is_real": token is not None,
        "placeholder": snippets.PLACEHOLDER,
        "snippets": snippets.all_for_room(
            credential.homeserver,
            value,
            access.room_id,
            txn_prefix,
            chosen["display_name"] if chosen else "",
        ),
        "create_error": create_error,
        "name": name if create_error else "",
        "name_max": devices.MAX_NAME_LENGTH,
        "prefix": devices.AUTOMATION_PREFIX,
    }
    status = 400 if create_error else 200
    return no_store(render(request, "rooms/integrations.html", context, status=status))
