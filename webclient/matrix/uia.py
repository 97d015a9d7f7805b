"""User-interactive authentication (UIA) with the account password.

Some requests (deleting devices, changing the password) make the homeserver ask who is there:
the first call answers 401 with the `flows` it accepts and a `session`; the client then repeats
the call with `auth: {type: m.login.password, identifier, password, session}`.
`HomeserverApi.request(…, uia=True)` hands such an answer back as a `Challenge`.

The password comes from the form the person just submitted; it is used for this one request
and kept nowhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.utils.translation import gettext as _

from . import errors
from .api import PASSWORD_STAGE, Challenge, HomeserverApi

__all__ = ["Challenge", "with_password", "unsupported", "wrong_password"]

PASSWORD = PASSWORD_STAGE

#: The `errcode` of the error raised for a wrong password (the homeserver's own code).
WRONG_PASSWORD = "M_FORBIDDEN"  # noqa: S105 - an error code
#: The `errcode` of the error raised when the homeserver wants more than a password.
UNSUPPORTED = "W_UIA_UNSUPPORTED"


def unsupported(challenge: Challenge, action: str) -> errors.MatrixError:
    return errors.MatrixError(
        _(
            "%(action)s: the homeserver wants a kind of confirmation this client cannot ask "
            "for (%(stages)s). Use another Matrix client for this."
        )
        % {"action": action, "stages": challenge.stages_text()},
        errcode=UNSUPPORTED,
        status=401,
    )


def wrong_password(action: str) -> errors.MatrixError:
    return errors.MatrixError(
        _("%(action)s: that is not your current password. Nothing was changed.")
        % {"action": action},
        errcode=WRONG_PASSWORD,
        status=401,
    )


Endpoint = Callable[..., Awaitable[dict[str, Any] | Challenge]]


async def with_password(
    api: HomeserverApi,
    user_id: str,
    endpoint: Endpoint,
    body: dict[str, Any],
    password: str,
    *,
    action: str,
) -> dict[str, Any]:
    """Make a UIA-protected request, confirming it with the account's password.

    `endpoint(body, action=…)` is a method of `api` that asks with `uia=True` (such as
    `api.delete_devices`). The first call goes without `auth` (rate limits waited out as
    `api` allows; a revoked token raises `UnknownToken`). When the homeserver answers with
    flows, a flow that needs only `m.login.password` is completed with `password`; the
    second call is not retried on a rate limit (a wrong password must not be sent again and again).

    Raises `MatrixError`: `errcode == WRONG_PASSWORD` for a wrong password, `UNSUPPORTED`
    when the homeserver wants other stages (single sign-on, email, terms)."""
    first = await endpoint(body, action=action)
    if not isinstance(first, Challenge):
        return first
    if not first.password_is_enough:
        raise unsupported(first, action)
    auth: dict[str, Any] = {
        "type": PASSWORD,
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
    }
    if first.session:
        auth["session"] = first.session
    budget, api.rate_limit_budget = api.rate_limit_budget, 0.0
    try:
        second = await endpoint({**body, "auth": auth}, action=action)
    finally:
        api.rate_limit_budget = budget
    if not isinstance(second, Challenge):
        return second
    if second.errcode == WRONG_PASSWORD or (
        PASSWORD not in second.completed and not second.errcode
    ):
        raise wrong_password(action)
    if second.errcode:
        raise errors.from_response(second.errcode, 401, second.error, action=action)
    raise unsupported(second, action)
