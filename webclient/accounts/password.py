"""Changing the account password: `POST /account/password` with the current password as the
user-interactive authentication stage. Other devices (and this one) stay signed in
(`logout_devices: false`)."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webclient.matrix import uia
from webclient.web.forms import FormPage
from webclient.web.rooms import session_of

logger = logging.getLogger("webclient.accounts")


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        strip=False, error_messages={"required": gettext_lazy("Enter your current password.")}
    )
    new_password = forms.CharField(
        strip=False, error_messages={"required": gettext_lazy("Enter a new password.")}
    )
    # Not required: an empty second copy is "not the same", as the form says.
    new_password_again = forms.CharField(strip=False, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        new = data.get("new_password")
        if new and new != data.get("new_password_again"):
            raise forms.ValidationError(
                _("The two new passwords are not the same."), code="mismatch"
            )
        return data


class PasswordPage(FormPage):
    template_name = "accounts/password.html"
    forms = {"password": PasswordChangeForm}  # noqa: RUF012 - FormPage's declaration

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        session = await session_of(request)
        await uia.with_password(
            session.api,
            session.user_id,
            session.api.change_password,
            {"new_password": form.cleaned_data["new_password"], "logout_devices": False},
            form.cleaned_data["current_password"],
            action=_("Changing your password"),
        )
        logger.info("password changed for %s", session.user_id)
        messages.success(
            request,
            _("Your password has been changed. Your devices, this one included, stay signed in."),
        )
        return self.done(reverse("accounts:password"))
