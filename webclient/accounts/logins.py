"""What every way of signing in shares (password, access token, registration, single sign-on):
turning a homeserver login into this browser's `Credential`, ending the one it replaces, and
the checked address to land on afterwards."""

from __future__ import annotations

import hashlib
import logging

from django.contrib import messages
from django.contrib.auth import alogin, get_user_model
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from webclient.live import devices
from webclient.live.publisher import end_pages
from webclient.matrix import auth, errors
from webclient.matrix.models import SESSION_KEY, Credential, credential_for

logger = logging.getLogger("webclient.accounts")


def django_username(user_id: str) -> str:
    """Django usernames stop at 150 characters; Matrix user IDs may reach 255."""
    if len(user_id) <= 150:
        return user_id
    return "mxid-" + hashlib.sha256(user_id.encode()).hexdigest()


def safe_next(request: HttpRequest, value: str | None) -> str:
    """`value` when it stays on this site (no open redirect), else the room list."""
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("rooms:list")


async def start_session(request: HttpRequest, result: auth.LoginResult, owns_device: bool) -> None:
    """Keep the login as this browser's credential and start its sync loop."""
    user_model = get_user_model()
    user, _ = await user_model.objects.aget_or_create(username=django_username(result.user_id))
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
    await devices.device_for(credential)
    logger.info("signed in %s on %s", result.user_id, result.homeserver)


async def end_credential(
    request: HttpRequest, credential: Credential, *, tell_tabs: bool = True
) -> int:
    """Stop the device's sync loop, log out a device we created (a flash message when the
    homeserver could not be told), forget the credential, and send every open tab of it to
    the login page (unless the caller does that later, with `tell_tabs_signed_out`);
    returns the credential's ID."""
    credential_id = credential.pk
    await devices.stop(credential)
    # Forgotten before the token dies: another process whose sync then meets the dead token
    # finds no credential left and leaves telling the tabs to this sign-out ("signed out",
    # not "revoked").
    await credential.adelete()
    if credential.owns_device:
        try:
            await auth.logout(credential.homeserver, credential.access_token)
        except errors.MatrixError as exc:
            messages.warning(
                request,
                _(
                    "Signed out here, but the homeserver could not be told (%(error)s). "
                    "Remove this device from another client's session list."
                )
                % {"error": exc.message},
            )
    if tell_tabs:
        await tell_tabs_signed_out(credential_id)
    return credential_id


async def tell_tabs_signed_out(credential_id: int) -> None:
    await end_pages(credential_id, "signed_out")


async def replace_login(request: HttpRequest, result: auth.LoginResult, owns_device: bool) -> None:
    """Sign this browser in with `result`; a login it had (a form left open, say) ends first."""
    if previous := await credential_for(request.session):
        await end_credential(request, previous)
    await start_session(request, result, owns_device=owns_device)
