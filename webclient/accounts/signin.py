"""Sign in (password or access token) and sign out."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import alogout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webclient.matrix import auth, discovery, errors
from webclient.matrix.models import credential_for
from webclient.web.redirects import REASONS, login_url

from . import sso
from .forms import PasswordLoginForm, TokenLoginForm
from .logins import end_credential, replace_login, safe_next, tell_tabs_signed_out


async def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and await credential_for(request.session):
        return HttpResponseRedirect(safe_next(request, request.GET.get("next")))
    mode = request.POST.get("mode", "password") if request.method == "POST" else "password"
    initial = {"homeserver": settings.MATRIX_HOMESERVER}
    password_form = PasswordLoginForm(initial=initial)
    token_form = TokenLoginForm(initial=initial)
    error = None
    status = 200
    if request.method == "POST":
        if mode == "token":
            token_form = TokenLoginForm(request.POST)
            form = token_form
        else:
            password_form = PasswordLoginForm(request.POST)
            form = password_form
        if form.is_valid():
            try:
                result = await _sign_in(mode, form.cleaned_data)
            except errors.MatrixError as exc:
                error, status = exc.message, 429 if exc.is_rate_limit else 400
            else:
                # Signing in again (from a form left open) replaces the earlier login.
                await replace_login(request, result, owns_device=mode != "token")
                return HttpResponseRedirect(safe_next(request, request.POST.get("next")))
        else:
            error = _("Fill in every field.")
            status = 400
    context = {
        "password_form": password_form,
        "token_form": token_form,
        "mode": mode,
        "error": error,
        "notice": REASONS.get(request.GET.get("reason", "")),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    context["sso"] = await sso.login_options(request, context["next"])
    return render(request, "accounts/login.html", context, status=status)


async def _sign_in(mode: str, data: dict) -> auth.LoginResult:
    if mode == "token":
        homeserver = await discovery.resolve_homeserver(data["homeserver"])
        return await auth.token_login(homeserver, data["access_token"])
    homeserver = await discovery.resolve_homeserver(data["homeserver"], data["username"])
    return await auth.password_login(homeserver, data["username"], data["password"])


@require_POST
async def logout_view(request: HttpRequest) -> HttpResponse:
    credential = await credential_for(request.session)
    credential_id = None
    if credential is not None:
        credential_id = await end_credential(request, credential, tell_tabs=False)
    stored = list(messages.get_messages(request))
    await alogout(request)
    for message in stored:
        messages.add_message(request, message.level, message.message)
    if credential_id is not None:
        # Only now: a tab sent to the login page before the session was cleared could reach
        # the server first and be treated as still signed in.
        await tell_tabs_signed_out(credential_id)
    return HttpResponseRedirect(login_url("signed_out"))
