"""Where a browser is sent to sign in again, with a reason the login page puts in words."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

# Why someone was sent to the login page; the page shows the sentence, never free text
# from the URL.
REASONS = {
    "revoked": _(
        "Your Matrix session has ended: the access token was revoked or has expired. Sign in again."
    ),
    "signed_out": _("You have signed out."),
    "expired": _("Your session has ended. Sign in again."),
}


def login_url(reason: str | None = None, next_url: str | None = None) -> str:
    params = {}
    if reason:
        params["reason"] = reason
    if next_url:
        params["next"] = next_url
    url = reverse("accounts:login")
    return f"{url}?{urlencode(params)}" if params else url
