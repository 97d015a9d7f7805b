"""Which Matrix login belongs to the browser session making a request."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from django.contrib.auth import alogout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from webclient.matrix.models import Credential

SESSION_KEY = "matrix_credential_id"

# Why someone was sent to the login page; the page shows the sentence, never free text
# from the URL.
REASONS = {
    "revoked": "Your Matrix session has ended: the access token was revoked or has expired. "
    "Sign in again.",
    "signed_out": "You have signed out.",
    "expired": "Your session has ended. Sign in again.",
}


def login_url(reason: str | None = None, next_url: str | None = None) -> str:
    params = {}
    if reason:
        params["reason"] = reason
    if next_url:
        params["next"] = next_url
    url = reverse("accounts:login")
    return f"{url}?{urlencode(params)}" if params else url


async def credential_for(session) -> Credential | None:  # noqa: ANN001 - a SessionBase
    credential_id = await session.aget(SESSION_KEY)
    if not credential_id:
        return None
    return await Credential.objects.filter(pk=credential_id).afirst()


def matrix_login_required(
    view: Callable[..., Awaitable[HttpResponse]],
) -> Callable[..., Awaitable[HttpResponse]]:
    """Give the view `request.credential`, or send the browser to sign in."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        credential = await credential_for(request.session)
        if credential is None:
            had_login = await request.session.aget(SESSION_KEY) is not None
            if had_login:
                # The credential was deleted (token revoked, signed out in another tab).
                await alogout(request)
            return HttpResponseRedirect(
                login_url("revoked" if had_login else None, request.get_full_path())
            )
        request.credential = credential
        return await view(request, *args, **kwargs)

    return wrapper
