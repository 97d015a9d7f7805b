"""The account's devices: the list, renaming this one, and signing out the others.

Signing out other devices is `POST /delete_devices`, which the homeserver protects with
user-interactive authentication: the form asks for the password with the choice of devices.
This device is never offered here (that is *Sign out*, which also ends this session properly).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from webclient.live.devices import DeviceHandle
from webclient.matrix import errors, uia
from webclient.web.forms import FormPage
from webclient.web.rooms import session_of

#: Synapse refuses longer device names (`MAX_DEVICE_DISPLAY_NAME_LEN`).
MAX_DEVICE_NAME = 100
NOT_YOUR_PASSWORD = gettext_lazy("That is not your password. No device was signed out.")  # noqa: S105


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


async def list_devices(session: DeviceHandle) -> list[dict[str, Any]]:
    """This device first, then the others, most recently seen first."""
    answer = await session.api.devices(action=_("Loading your devices"))
    raw = answer.get("devices") if isinstance(answer.get("devices"), list) else []
    rows = [_device_row(d, session.device_id or "") for d in raw if isinstance(d, dict)]
    rows = [row for row in rows if row["device_id"]]
    epoch = datetime.fromtimestamp(0, tz=UTC)
    rows.sort(key=lambda row: (not row["is_this"], -(row["last_seen"] or epoch).timestamp()))
    return rows


class RenameForm(forms.Form):
    """Rename this device (only this one: the form names no device)."""

    display_name = forms.CharField(
        max_length=MAX_DEVICE_NAME,
        error_messages={
            "required": gettext_lazy("Enter a name for this device."),
            "max_length": format_lazy(
                gettext_lazy("A device name can be at most {max} characters long."),
                max=MAX_DEVICE_NAME,
            ),
        },
    )


class SignOutForm(forms.Form):
    """Other devices to sign out (`scope=all`: every one), confirmed with the password. What
    is missing is said once the device list is known (`DevicesPage.sign_out`)."""

    device = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    scope = forms.CharField(required=False)
    password = forms.CharField(required=False, strip=False)


class DevicesPage(FormPage):
    template_name = "accounts/devices.html"
    forms = {"rename": RenameForm, "signout": SignOutForm}  # noqa: RUF012 - FormPage's declaration

    #: Set when the homeserver would not list the devices: the page then answers 502.
    load_failed = False

    async def context(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        session = await session_of(request)
        context: dict[str, Any] = {
            "max_device_name": MAX_DEVICE_NAME,
            "this_device_id": session.device_id,
        }
        try:
            rows = await list_devices(session)
        except errors.MatrixError as exc:
            self.load_failed = True
            context.update({"load_error": exc.message, "this_device": None, "others": []})
            return context
        context["this_device"] = next((row for row in rows if row["is_this"]), None)
        context["others"] = [row for row in rows if not row["is_this"]]
        return context

    def initial(self, name: str, context: dict[str, Any]) -> dict[str, Any]:
        if name == "rename":
            this = context.get("this_device")
            return {"display_name": this["display_name"] if this else ""}
        return {"device": []}

    async def page(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        response = await super().page(request, **kwargs)
        if self.load_failed:
            response.status_code = 502
        return response

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        session = await session_of(request)
        if name == "rename":
            new_name = form.cleaned_data["display_name"]
            await session.api.rename_device(
                session.device_id or "", new_name, action=_("Renaming this device")
            )
            messages.success(
                request, _("This device is now called “%(name)s”.") % {"name": new_name}
            )
            return self.done(reverse("accounts:devices"))
        return await self.sign_out(request, session, form)

    async def sign_out(
        self, request: HttpRequest, session: DeviceHandle, form: forms.Form
    ) -> HttpResponse:
        data = form.cleaned_data
        everyone = data["scope"] == "all"
        chosen = {d for d in data["device"] if d and d != session.device_id}
        try:
            known = await list_devices(session)
        except errors.MatrixError:
            self.load_failed = True
            raise
        others = [row["device_id"] for row in known if not row["is_this"]]
        # Only devices the account has now (a stale page may name one already gone).
        targets = others if everyone else [device_id for device_id in others if device_id in chosen]
        problem = ""
        if not targets:
            problem = (
                _("There are no other devices to sign out.")
                if everyone or not others
                else _("Choose the devices to sign out.")
            )
        elif not data["password"]:
            problem = _("Enter your password to confirm.")
        if problem:
            form.add_error(None, problem)
            return await self.refused(request, "signout", form)
        try:
            await uia.with_password(
                session.api,
                session.user_id,
                session.api.delete_devices,
                {"devices": targets},
                data["password"],
                action=_("Signing out devices"),
            )
        except errors.MatrixError as exc:
            if exc.errcode == uia.WRONG_PASSWORD:
                raise errors.MatrixError(
                    NOT_YOUR_PASSWORD, errcode=exc.errcode, status=exc.status
                ) from exc
            raise
        count = len(targets)
        messages.success(
            request,
            ngettext(
                "Signed out %(count)d device: %(devices)s.",
                "Signed out %(count)d devices: %(devices)s.",
                count,
            )
            % {"count": count, "devices": ", ".join(targets)},
        )
        return self.done(reverse("accounts:devices"))
