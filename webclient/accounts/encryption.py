"""Settings → Encryption: this device's encryption state, and how it becomes verified.

The client decrypts on the server (like Pantalaimon): the page says so plainly. A device
becomes verified with the account's recovery key or passphrase (`form#recovery-form`), by
emoji with another device (`verification.py`), or, for an account that has no cross-signing
yet, by setting it up here (the new recovery key is shown once). Room keys can be exported
to and imported from Element's key files.

What the person types here (recovery keys, passphrases, passwords) is used for the one
request and forgotten: the views are marked `sensitive_post_parameters`, every response is
`no-store`, and nothing of it is logged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters

from webclient.live.devices import device_op
from webclient.matrix import device_trust, devices, errors
from webclient.matrix.session import MatrixSession
from webclient.web.forms import FormPage
from webclient.web.rooms import session_of

MAX_KEY_FILE = 50 * 1024 * 1024


class RecoveryForm(forms.Form):
    recovery_key = forms.CharField(
        max_length=1024,
        strip=True,
        error_messages={"required": gettext_lazy("Enter your recovery key or passphrase.")},
    )


class SetUpForm(forms.Form):
    password = forms.CharField(
        max_length=1024,
        strip=False,
        error_messages={"required": gettext_lazy("Enter your account password.")},
    )


class ExportForm(forms.Form):
    passphrase = forms.CharField(
        max_length=1024,
        strip=False,
        error_messages={"required": gettext_lazy("Choose a passphrase for the file.")},
    )
    passphrase_again = forms.CharField(max_length=1024, strip=False, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("passphrase") and data.get("passphrase") != data.get("passphrase_again"):
            raise forms.ValidationError(_("The two passphrases are not the same."))
        return data


class ImportForm(forms.Form):
    key_file = forms.FileField(
        error_messages={"required": gettext_lazy("Choose a key file exported from Element.")}
    )
    passphrase = forms.CharField(
        max_length=1024,
        strip=False,
        error_messages={"required": gettext_lazy("Enter the file's passphrase.")},
    )


@method_decorator(
    sensitive_post_parameters("recovery_key", "password", "passphrase", "passphrase_again"),
    name="dispatch",
)
class EncryptionPage(FormPage):
    template_name = "accounts/encryption.html"
    forms = {  # noqa: RUF012 - FormPage's declaration
        "recovery": RecoveryForm,
        "setup": SetUpForm,
        "export": ExportForm,
        "import": ImportForm,
    }

    async def context(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        session = await session_of(request)
        return {
            "state": await session.run(encryption_state),
            "new_recovery_key": kwargs.get("new_recovery_key", ""),
        }

    async def page(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        response = await super().page(request, **kwargs)
        add_never_cache_headers(response)
        return response

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        session = await session_of(request)
        here = reverse("accounts:encryption")
        if name == "recovery":
            done = await session.run(recover, typed=form.cleaned_data["recovery_key"])
            text = _("This device is now verified.")
            if done["backup_version"]:
                text += " " + _("Key backup is on; %(count)d room keys were restored from it.") % {
                    "count": done["restored"]
                }
            messages.success(request, text)
            return self.done(here)
        if name == "setup":
            # Synapse takes an account's first cross-signing keys without asking who is there
            # (MSC3967); this page asks all the same, as setting up identity deserves.
            await devices.verify_password(request.credential, form.cleaned_data["password"])
            recovery_key = await session.run(set_up, password=form.cleaned_data["password"])
            # Shown once, in this response only.
            return await self.page(request, new_recovery_key=recovery_key, **kwargs)
        if name == "export":
            text = await session.run(export_keys, passphrase=form.cleaned_data["passphrase"])
            response = HttpResponse(text, content_type="text/plain; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="element-keys.txt"'
            add_never_cache_headers(response)
            return response
        uploaded = form.cleaned_data["key_file"]
        if uploaded.size > MAX_KEY_FILE:
            raise errors.MatrixError(_("That file is too large to be a key file."))
        text = uploaded.read().decode("utf-8", errors="replace")
        added = await session.run(
            import_keys, text=text, passphrase=form.cleaned_data["passphrase"]
        )
        messages.success(request, _("Imported %(count)d new room keys.") % {"count": added})
        return self.done(here)


# -- what the device's owner does (it holds the olm account), whichever process serves the page


@device_op
async def encryption_state(session: MatrixSession) -> dict[str, Any]:
    return dataclasses.asdict(await device_trust.state(session))


@device_op(once=True)
async def recover(session: MatrixSession, typed: str) -> dict[str, Any]:
    return await device_trust.verify_with_recovery_key(session, typed)


@device_op(once=True)
async def set_up(session: MatrixSession, password: str) -> str:
    return await device_trust.set_up_cross_signing(session, password)


@device_op
async def export_keys(session: MatrixSession, passphrase: str) -> str:
    return device_trust.export_room_keys(session, passphrase)


@device_op(once=True)
async def import_keys(session: MatrixSession, text: str, passphrase: str) -> int:
    return await device_trust.import_room_keys(session, text, passphrase)
