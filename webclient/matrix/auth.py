"""Signing in and out of a homeserver: password, access token, logout."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from . import errors
from .client import DEVICE_NAME, call, make_client


@dataclass(frozen=True)
class LoginResult:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str


async def password_login(homeserver: str, username: str, password: str) -> LoginResult:
    client = make_client(homeserver, username.strip())
    try:
        try:
            resp = await call(client.login(password, device_name=DEVICE_NAME), homeserver)
        except errors.MatrixError as exc:
            if exc.errcode == "M_FORBIDDEN":
                raise errors.MatrixError(
                    _("Wrong username or password."), errcode=exc.errcode, status=exc.status
                ) from exc
            if exc.errcode == "M_USER_DEACTIVATED":
                raise
            if exc.is_rate_limit:
                raise errors.MatrixError(
                    _("Too many sign-in attempts.") + " " + errors.retry_phrase(exc.retry_after_ms),
                    errcode=exc.errcode,
                    status=exc.status,
                    retry_after_ms=exc.retry_after_ms,
                ) from exc
            raise
        return LoginResult(homeserver, resp.user_id, resp.device_id, resp.access_token)
    finally:
        await client.close()


async def token_login(homeserver: str, access_token: str) -> LoginResult:
    """Accept a token only once the homeserver says whose it is (`/account/whoami`)."""
    client = make_client(homeserver, access_token=access_token.strip())
    try:
        try:
            resp = await call(client.whoami(), homeserver)
        except errors.MatrixError as exc:
            if exc.is_unknown_token:
                raise errors.MatrixError(
                    _("The homeserver does not accept this access token."),
                    errcode=exc.errcode,
                    status=exc.status,
                ) from exc
            raise
        return LoginResult(homeserver, resp.user_id, resp.device_id or "", access_token.strip())
    finally:
        await client.close()


async def logout(homeserver: str, user_id: str, device_id: str, access_token: str) -> None:
    """Delete the device on the homeserver; an already dead token counts as logged out."""
    client = make_client(homeserver, user_id, device_id, access_token)
    try:
        await call(client.logout(), homeserver)
    except errors.MatrixError as exc:
        if not exc.is_unknown_token:
            raise
    finally:
        await client.close()
