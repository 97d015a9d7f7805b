"""The sign-in and sign-up forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

MISMATCH = gettext_lazy("The two passwords are not the same. Type the same password twice.")


class PasswordLoginForm(forms.Form):
    homeserver = forms.CharField(required=False, max_length=500)
    username = forms.CharField(max_length=255)
    password = forms.CharField(max_length=1024, strip=False)


class TokenLoginForm(forms.Form):
    homeserver = forms.CharField(max_length=500)
    access_token = forms.CharField(max_length=4096)


class RegistrationForm(forms.Form):
    homeserver = forms.CharField(required=False, max_length=500)
    username = forms.CharField(max_length=255)
    password = forms.CharField(max_length=1024, strip=False)
    password_confirm = forms.CharField(max_length=1024, strip=False)
    registration_token = forms.CharField(required=False, max_length=64)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (
            "password" in data
            and "password_confirm" in data
            and data["password"] != data["password_confirm"]
        ):
            raise forms.ValidationError(MISMATCH, code="mismatch")
        return data
