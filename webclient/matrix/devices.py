"""The integrator's corner, homeserver side: checking the account password before the access
token is revealed, and separate devices (with their own tokens) for automations.

Checking the password without creating a device
-----------------------------------------------
The homeserver, not this client, knows the password. A fresh `/login` would check it but signs
in a new device each time: other clients of the account see a "new login" and the people who
share encrypted rooms see its device-list update. So the check is done with user-interactive
authentication (UIA) on a request that changes nothing: `POST /delete_devices` with an empty
device list.

1. Ask without `auth`: the homeserver answers 401 with the flows it offers (and a UIA session).
   If no flow is a lone `m.login.password`, the password cannot be checked here (an account
   that signs in through single sign-on, say); the page says so and reveals nothing.
2. Ask again with the password as the `m.login.password` stage of that session: 200 means the
   password is right (zero devices are deleted); 401 with `M_FORBIDDEN` means it is wrong.

Synapse can skip UIA for a while after a successful one (`ui_auth.session_timeout`); then step 1
already answers 200 and UIA proves nothing about the password typed now. Only in that case the
check falls back to a password `/login` of a throw-away device ("webclient (password check)")
that is logged out (deleted) at once.

Automation devices
------------------
An automation gets its own device from a password `/login` named "automation: <name>", never the
browser session's token: revoking it later (`/logout` with its token, which deletes the device)
leaves the person signed in here, and the list of sessions in any client shows what each token
is for. The token is shown once; it is stored encrypted (`AutomationDevice`) only to revoke it.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import errors
from .api import HomeserverApi
from .auth import logout, password_body
from .models import AutomationDevice, Credential
from .uia import Challenge

logger = logging.getLogger("webclient.matrix")

PASSWORD = "m.login.password"  # noqa: S105 - the UIA stage name
VERIFY_DEVICE_NAME = "webclient (password check)"
AUTOMATION_PREFIX = "automation: "
MAX_NAME_LENGTH = 80

WRONG_PASSWORD = gettext_lazy("That password is not right.")  # noqa: S105 - a message
UNCHECKABLE = gettext_lazy(
    "This homeserver offers no password check for this account (it may sign in through "
    "single sign-on), so the access token cannot be revealed here."
)
NO_DEVICE_LOGIN = gettext_lazy(
    "This homeserver does not let this account sign in with a password, so no separate "
    "device can be created here. Create one with another client or an admin tool."
)


class PasswordNotChecked(errors.MatrixError):
    """The password could not be checked at all (not: it was wrong)."""


def _wrong_password(exc: errors.MatrixError | None = None) -> errors.MatrixError:
    return errors.MatrixError(
        WRONG_PASSWORD, errcode="M_FORBIDDEN", status=exc.status if exc else 401
    )


def _rate_limited(exc: errors.MatrixError) -> errors.MatrixError:
    return errors.MatrixError(
        _("Too many password attempts.") + " " + errors.retry_phrase(exc.retry_after_ms),
        errcode=exc.errcode,
        status=exc.status,
        retry_after_ms=exc.retry_after_ms,
    )


async def verify_password(credential: Credential, password: str) -> None:
    """Return when the homeserver confirms `password` for the credential's account.

    Raises `MatrixError`: `M_FORBIDDEN` for a wrong password, `PasswordNotChecked` when it
    cannot be checked, a rate limit, or an unreachable homeserver; `UnknownToken` when the
    session's token is dead. See the module docstring for how.
    """
    body: dict[str, Any] = {"devices": []}
    action = _("Checking the password")
    async with HomeserverApi(credential.homeserver, credential.access_token) as api:
        try:
            probe = await api.delete_devices(body, action=action)
            if not isinstance(probe, Challenge):
                # UIA was skipped (a recent one still counts): check with a throw-away login.
                await _verify_by_login(credential, password)
                return
            if not any(flow == [PASSWORD] for flow in probe.flows):
                raise PasswordNotChecked(UNCHECKABLE, errcode="W_NO_PASSWORD")
            auth = password_body(credential.user_id, password)
            del auth["initial_device_display_name"]
            if probe.session:
                auth["session"] = probe.session
            answer = await api.delete_devices({**body, "auth": auth}, action=action)
        except errors.RateLimited as exc:
            raise _rate_limited(exc) from exc
        except errors.Forbidden as exc:
            raise _wrong_password(exc) from exc
    if isinstance(answer, Challenge) and PASSWORD not in answer.completed:
        raise _wrong_password()
    # (A challenge with the password stage completed wants more than a password, which is
    # not expected for an empty deletion: the password itself was right.)
    logger.info("password of %s confirmed through UIA", credential.user_id)


async def _login(homeserver: str, user_id: str, password: str, device_name: str) -> dict[str, Any]:
    async with HomeserverApi(homeserver) as api:
        try:
            answer = await api.login(password_body(user_id, password, device_name))
        except errors.Forbidden as exc:
            raise _wrong_password(exc) from exc
        except errors.RateLimited as exc:
            raise _rate_limited(exc) from exc
        except errors.MatrixError as exc:
            if exc.errcode in {"M_UNKNOWN", "M_UNRECOGNIZED"} and exc.status in {400, 404}:
                # "Unknown login type": the homeserver offers no password login.
                raise PasswordNotChecked(NO_DEVICE_LOGIN, errcode="W_NO_PASSWORD") from exc
            raise
    if not isinstance(answer.get("access_token"), str) or not isinstance(
        answer.get("device_id"), str
    ):
        raise errors.not_matrix(homeserver)
    return answer


async def _verify_by_login(credential: Credential, password: str) -> None:
    answer = await _login(credential.homeserver, credential.user_id, password, VERIFY_DEVICE_NAME)
    logger.info("password of %s confirmed by a throw-away login", credential.user_id)
    await logout(credential.homeserver, answer["access_token"])


def clean_name(value: str) -> str:
    """A device name as typed, without control characters and runs of spaces."""
    text = "".join(c for c in value if unicodedata.category(c)[0] != "C")
    return " ".join(text.split())[:MAX_NAME_LENGTH]


async def create_device(
    credential: Credential, name: str, password: str
) -> tuple[AutomationDevice, str]:
    """Sign in a separate device "automation: <name>" and remember it; returns the record and
    its access token (the only time the token leaves this module)."""
    answer = await _login(
        credential.homeserver, credential.user_id, password, AUTOMATION_PREFIX + name
    )
    token = answer["access_token"]
    if answer.get("user_id") not in (None, credential.user_id):
        # Not expected: the homeserver signed in someone else. Do not keep that.
        await logout(credential.homeserver, token)
        raise errors.MatrixError(_("The homeserver signed in a different account."))
    device = AutomationDevice(
        owner_id=credential.owner_id,
        user_id=credential.user_id,
        homeserver=credential.homeserver,
        device_id=answer["device_id"],
        name=name,
    )
    device.access_token = token
    await device.asave()
    logger.info("created automation device %s for %s", device.device_id, credential.user_id)
    return device, token


async def revoke_device(device: AutomationDevice) -> bool:
    """Log the device's token out, which deletes the device on the homeserver, and forget it.
    False when the homeserver no longer knew the token (removed elsewhere)."""
    revoked = await logout(device.homeserver, device.access_token)
    await device.adelete()
    logger.info("revoked automation device %s of %s", device.device_id, device.user_id)
    return revoked


def devices_of(credential: Credential):  # noqa: ANN201 - a QuerySet
    """The automation devices of the signed-in account on this homeserver."""
    return AutomationDevice.objects.filter(
        owner_id=credential.owner_id,
        user_id=credential.user_id,
        homeserver=credential.homeserver,
    )


async def live_device_ids(credential: Credential) -> set[str] | None:
    """The account's device IDs on the homeserver (`GET /devices`); None if unknown."""
    try:
        async with HomeserverApi(credential.homeserver, credential.access_token) as api:
            answer = await api.devices()
    except errors.MatrixError:
        return None
    devices = answer.get("devices")
    if not isinstance(devices, list):
        return None
    return {d["device_id"] for d in devices if isinstance(d, dict) and "device_id" in d}


async def sign_in_device(credential: Credential, password: str, device_name: str) -> dict[str, Any]:
    """A new device of the signed-in account, by password (kiosk screens use this too):
    the homeserver's `/login` answer, checked to be the same account."""
    answer = await _login(credential.homeserver, credential.user_id, password, device_name)
    if answer.get("user_id") not in (None, credential.user_id):
        await logout(credential.homeserver, answer["access_token"])
        raise errors.MatrixError(_("The homeserver signed in a different account."))
    return answer
