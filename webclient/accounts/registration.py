"""The page that creates an account (`matrix.registration` does the homeserver's part).

When the homeserver wants its terms accepted, what the exchange needs to carry on is kept in
the Django session (server-side; the password encrypted, only until the account exists or the
attempt is abandoned, never put in a page) and a second page lists the policies. On success
the new login becomes this browser's `Credential` exactly as a password sign-in does.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webclient.matrix import auth, errors
from webclient.matrix.registration import Pending, begin, carry_on

from .forms import MISMATCH, RegistrationForm
from .logins import replace_login

logger = logging.getLogger("webclient.accounts")

#: The Django session key of an unfinished registration (see `Pending`).
PENDING_KEY = "matrix_registration"

EXPIRED = gettext_lazy("That sign-up took too long and was forgotten. Fill in the form again.")
ACCEPT_ALL = gettext_lazy("Tick every box to accept the homeserver's policies, or cancel.")


def _render(
    request: HttpRequest,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    error_field: str = "",
    pending: Pending | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "values": values or {"homeserver": settings.MATRIX_HOMESERVER},
        "error": error,
        "error_field": error_field,
        "pending": pending,
    }
    return render(request, "accounts/register.html", context, status=status)


async def _signed_in(request: HttpRequest, result: auth.LoginResult) -> HttpResponse:
    await request.session.apop(PENDING_KEY, None)
    # Creating an account from a browser that was signed in replaces the earlier login.
    await replace_login(request, result, owns_device=True)
    logger.info("registered %s on %s", result.user_id, result.homeserver)
    return HttpResponseRedirect(reverse("rooms:list"))


def _status_of(exc: errors.MatrixError) -> int:
    return 429 if exc.is_rate_limit else 400


async def register_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # A fresh form forgets any sign-up left half-way (and the password kept for it).
        await request.session.apop(PENDING_KEY, None)
        return _render(request)
    step = request.POST.get("step", "details")
    if step == "cancel":
        await request.session.apop(PENDING_KEY, None)
        return HttpResponseRedirect(reverse("accounts:register"))
    if step == "terms":
        return await _terms_step(request)
    # Starting again drops a sign-up left at the terms step (and the password kept for it).
    await request.session.apop(PENDING_KEY, None)

    form = RegistrationForm(request.POST)
    values = {
        "homeserver": request.POST.get("homeserver", ""),
        "username": request.POST.get("username", ""),
        "registration_token": request.POST.get("registration_token", ""),
    }
    if not form.is_valid():
        if form.has_error("__all__", "mismatch"):
            return _render(
                request, values=values, error=MISMATCH, error_field="password", status=400
            )
        return _render(request, values=values, error=_("Fill in every field."), status=400)
    data = form.cleaned_data
    try:
        outcome = await begin(
            data["homeserver"], data["username"], data["password"], data["registration_token"]
        )
    except errors.MatrixError as exc:
        field_name = getattr(exc, "field", "")
        if field_name == "registration_token":
            values["registration_token"] = ""
        return _render(
            request,
            values=values,
            error=exc.message,
            error_field=field_name,
            status=_status_of(exc),
        )
    if isinstance(outcome, Pending):
        await request.session.aset(PENDING_KEY, outcome.to_session())
        return _render(request, pending=outcome)
    return await _signed_in(request, outcome)


async def _terms_step(request: HttpRequest) -> HttpResponse:
    pending = Pending.from_session(await request.session.aget(PENDING_KEY))
    if pending is None:
        await request.session.apop(PENDING_KEY, None)
        return _render(request, error=EXPIRED, status=400)
    accepted = set(request.POST.getlist("accept"))
    if not {policy["id"] for policy in pending.policies} <= accepted:
        return _render(request, pending=pending, error=ACCEPT_ALL, status=400)
    try:
        outcome = await carry_on(pending)
    except errors.MatrixError as exc:
        await request.session.apop(PENDING_KEY, None)
        values = {"homeserver": pending.homeserver, "username": pending.username}
        return _render(
            request,
            values=values,
            error=exc.message,
            error_field=getattr(exc, "field", ""),
            status=_status_of(exc),
        )
    if isinstance(outcome, Pending):  # pragma: no cover - carry_on accepts the terms
        return _render(request, pending=outcome)
    return await _signed_in(request, outcome)
