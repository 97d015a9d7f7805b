"""Sign in (password or access token) and sign out."""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import alogin, alogout, get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from webclient.matrix import auth, discovery, errors, registry
from webclient.matrix.models import Credential

from .current import REASONS, SESSION_KEY, credential_for, login_url
from .forms import PasswordLoginForm, TokenLoginForm

logger = logging.getLogger("webclient.accounts")


def _django_username(user_id: str) -> str:
    """Django usernames stop at 150 characters; Matrix user IDs may reach 255."""
    if len(user_id) <= 150:
        return user_id
    return "mxid-" + hashlib.sha256(user_id.encode()).hexdigest()


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("rooms:list")


async def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and await credential_for(request.session):
        return HttpResponseRedirect(_safe_next(request, request.GET.get("next")))
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
                if previous := await credential_for(request.session):
                    await _end_credential(request, previous)
                await _start_session(request, result, owns_device=mode != "token")
                return HttpResponseRedirect(_safe_next(request, request.POST.get("next")))
        else:
            error = "Fill in every field."
            status = 400
    context = {
        "password_form": password_form,
        "token_form": token_form,
        "mode": mode,
        "error": error,
        "notice": REASONS.get(request.GET.get("reason", "")),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    from .sso import login_options  # sso.py imports this module

    context["sso"] = await login_options(request, context["next"])
    return render(request, "accounts/login.html", context, status=status)


async def _sign_in(mode: str, data: dict) -> auth.LoginResult:
    if mode == "token":
        homeserver = await discovery.resolve_homeserver(data["homeserver"])
        return await auth.token_login(homeserver, data["access_token"])
    homeserver = await discovery.resolve_homeserver(data["homeserver"], data["username"])
    return await auth.password_login(homeserver, data["username"], data["password"])


async def _start_session(request: HttpRequest, result: auth.LoginResult, owns_device: bool) -> None:
    user_model = get_user_model()
    user, _ = await user_model.objects.aget_or_create(username=_django_username(result.user_id))
    credential = Credential(
        owner=user,
        user_id=result.user_id,
        device_id=result.device_id,
        homeserver=result.homeserver,
        owns_device=owns_device,
    )
    credential.access_token = result.access_token
    await credential.asave()
    # alogin rotates the session key, so a session fixed before login is worthless.
    await alogin(request, user, backend="django.contrib.auth.backends.ModelBackend")
    await request.session.aset(SESSION_KEY, credential.pk)
    # Start syncing now, so the room list is ready by the time the browser asks for it.
    await registry.session_for(credential)
    logger.info("signed in %s on %s", result.user_id, result.homeserver)


async def _end_credential(
    request: HttpRequest, credential: Credential, *, tell_tabs: bool = True
) -> tuple[str, ...]:
    """Stop the device's sync loop, delete a device we created, forget the credential, and
    send every open tab of it to the login page (unless the caller does that later); returns
    the device's channel groups."""
    await registry.stop(credential.pk)
    if credential.owns_device:
        try:
            await auth.logout(
                credential.homeserver,
                credential.user_id,
                credential.device_id,
                credential.access_token,
            )
        except errors.MatrixError as exc:
            messages.warning(
                request,
                f"Signed out here, but the homeserver could not be told ({exc.message}). "
                "Remove this device from another client's session list.",
            )
    groups = credential.groups
    await credential.adelete()
    if tell_tabs:
        await _tell_tabs(groups)
    return groups


async def _tell_tabs(groups: tuple[str, ...]) -> None:
    await registry.end_pages(groups, "signed_out")


@require_POST
async def logout_view(request: HttpRequest) -> HttpResponse:
    credential = await credential_for(request.session)
    groups: tuple[str, ...] = ()
    if credential is not None:
        groups = await _end_credential(request, credential, tell_tabs=False)
    stored = list(messages.get_messages(request))
    await alogout(request)
    for message in stored:
        messages.add_message(request, message.level, message.message)
    if groups:
        # Only now: a tab sent to the login page before the session was cleared could reach
        # the server first and be treated as still signed in.
        await _tell_tabs(groups)
    return HttpResponseRedirect(login_url("signed_out"))
