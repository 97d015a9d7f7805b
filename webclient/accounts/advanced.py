"""Settings > Help & About > Advanced: what automations (n8n, Windmill, Netdata) need to post
to Matrix rooms: the homeserver URL, an access token, the room ID.

The browser session's access token stays on the server, except in the one response to
"Reveal" (after the homeserver confirmed the account password, `matrix.devices`). Tokens for
automations are on their own page (`automation`). Every response here is
`Cache-Control: no-store`.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from webclient.matrix import devices, errors
from webclient.matrix.models import Credential
from webclient.web import snippets
from webclient.web.auth import matrix_login_required
from webclient.web.forms import first_error
from webclient.web.integrations import PasswordField, no_store

logger = logging.getLogger("webclient.accounts")


class RevealForm(forms.Form):
    password = PasswordField()


async def _page(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    credential: Credential = request.credential
    context = {
        "homeserver": snippets.base_url(credential.homeserver),
        "user_id": credential.user_id,
        "device_id": credential.device_id,
        "owns_device": credential.owns_device,
        "automation_count": await devices.devices_of(credential).acount(),
        **extra,
    }
    return no_store(render(request, "accounts/advanced.html", context, status=status))


@require_GET
@matrix_login_required
async def advanced_view(request: HttpRequest) -> HttpResponse:
    return await _page(request)


@require_POST
@matrix_login_required
async def reveal_view(request: HttpRequest) -> HttpResponse:
    """The session's access token, once, in this response only, after the password check."""
    credential: Credential = request.credential
    form = RevealForm(request.POST)
    if not form.is_valid():
        return await _page(request, status=400, reveal_error=first_error(form))
    try:
        await devices.verify_password(credential, form.cleaned_data["password"])
    except errors.MatrixError as exc:
        if exc.is_rate_limit:
            status = 429
        elif exc.errcode in {"M_FORBIDDEN", "W_NO_PASSWORD"}:
            status = 403
        else:
            status = 502
        return await _page(request, status=status, reveal_error=exc.message)
    logger.info("revealed the access token of %s to its owner", credential)
    return await _page(request, revealed_token=credential.access_token)
