"""Signing in and out of a homeserver: password, access token, single sign-on token, logout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from . import errors
from .api import HomeserverApi

#: How this client's devices are called in every Matrix client's list of sessions.
DEVICE_NAME = "webclient (browser)"


@dataclass(frozen=True)
class LoginResult:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str


def password_body(user: str, password: str, device_name: str = DEVICE_NAME) -> dict[str, Any]:
    """`POST /login` with `m.login.password` for a user ID or localpart."""
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
        "initial_device_display_name": device_name,
    }


def _result(homeserver: str, answer: dict[str, Any]) -> LoginResult:
    user_id, device_id = answer.get("user_id"), answer.get("device_id")
    token = answer.get("access_token")
    if not all(isinstance(v, str) and v for v in (user_id, device_id, token)):
        raise errors.MatrixError(
            _("The homeserver's answer to the sign-in was incomplete."),
            errcode="W_BAD_LOGIN_RESPONSE",
        )
    return LoginResult(homeserver, user_id, device_id, token)


async def password_login(
    homeserver: str, username: str, password: str, device_name: str = DEVICE_NAME
) -> LoginResult:
    async with HomeserverApi(homeserver) as api:
        try:
            answer = await api.login(password_body(username.strip(), password, device_name))
        except errors.RateLimited as exc:
            raise errors.RateLimited(
                _("Too many sign-in attempts.") + " " + errors.retry_phrase(exc.retry_after_ms),
                errcode=exc.errcode,
                status=exc.status,
                retry_after_ms=exc.retry_after_ms,
            ) from exc
        except errors.Forbidden as exc:
            raise errors.Forbidden(
                _("Wrong username or password."), errcode=exc.errcode, status=exc.status
            ) from exc
    return _result(homeserver, answer)


async def token_login(homeserver: str, access_token: str) -> LoginResult:
    """Accept a token only once the homeserver says whose it is (`/account/whoami`)."""
    token = access_token.strip()
    async with HomeserverApi(homeserver, token) as api:
        try:
            answer = await api.whoami()
        except errors.UnknownToken as exc:
            raise errors.MatrixError(
                _("The homeserver does not accept this access token."),
                errcode=exc.errcode,
                status=401,
            ) from exc
    user_id = answer.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise errors.not_matrix(homeserver)
    device_id = answer.get("device_id")
    return LoginResult(homeserver, user_id, device_id if isinstance(device_id, str) else "", token)


async def sso_login(homeserver: str, login_token: str) -> LoginResult:
    """`POST /login` with `m.login.token` (the end of single sign-on): a new device."""
    body = {
        "type": "m.login.token",
        "token": login_token,
        "initial_device_display_name": DEVICE_NAME,
    }
    async with HomeserverApi(homeserver) as api:
        try:
            answer = await api.login(body, action=_("Single sign-on"))
        except errors.MatrixError as exc:
            if exc.status in {401, 403} or exc.errcode == "M_FORBIDDEN":
                raise errors.MatrixError(
                    _(
                        "The homeserver did not accept the single sign-on result (it may have "
                        "expired or been used already). Sign in again."
                    ),
                    errcode=exc.errcode,
                    status=exc.status,
                ) from exc
            raise
    try:
        return _result(homeserver, answer)
    except errors.MatrixError as exc:
        raise errors.MatrixError(
            _("The homeserver's answer to the single sign-on was incomplete."),
            errcode="W_BAD_LOGIN_RESPONSE",
            status=200,
        ) from exc


async def logout(homeserver: str, access_token: str) -> bool:
    """Log the token out, which deletes its device on the homeserver. False when the token
    was already dead (which counts as logged out)."""
    async with HomeserverApi(homeserver, access_token) as api:
        try:
            await api.logout()
        except errors.UnknownToken:
            return False
    return True
