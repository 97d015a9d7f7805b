"""The shared logins that read rooms for embed viewers who have none: the operator's display
account and one Matrix guest account per homeserver.

Each is one `Credential`, owned by a Django user that cannot sign in, so every embed viewer
reading through it attaches to the same `MatrixSession` (one sync loop however many iframes
are open). Guests are the Matrix feature for rooms whose `m.room.guest_access` is
`can_join`: the guest joins such a room to read it, and shows in its member list.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from weakref import WeakKeyDictionary

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from . import auth, errors
from .api import HomeserverApi
from .models import Credential

logger = logging.getLogger("webclient.matrix")

DISPLAY_OWNER = "webclient:embed-display"
GUEST_OWNER = "webclient:embed-guest"
GUEST_DEVICE_NAME = "webclient embed (guest)"


# Token fingerprint → credential ID of the display account (the database holds the truth).
_display_ids: dict[str, int] = {}
_locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def _lock() -> asyncio.Lock:
    """One first sign-in at a time, so simultaneous first viewers share one account."""
    loop = asyncio.get_running_loop()
    if loop not in _locks:
        _locks[loop] = asyncio.Lock()
    return _locks[loop]


async def _system_user(username: str):  # noqa: ANN202 - a User
    user, created = await get_user_model().objects.aget_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.is_active = False
        await user.asave()
    return user


def display_homeserver() -> str:
    return (settings.EMBED_DISPLAY_HOMESERVER or settings.MATRIX_HOMESERVER).rstrip("/")


async def display_credential() -> Credential | None:
    async with _lock():
        return await _display_credential()


async def _display_credential() -> Credential | None:
    """The display account's credential, or None when the operator configured none.

    Found again by the token's fingerprint, so changing EMBED_DISPLAY_ACCESS_TOKEN starts a
    fresh credential (the old one is removed)."""
    token = settings.EMBED_DISPLAY_ACCESS_TOKEN
    homeserver = display_homeserver()
    if not token or not homeserver:
        return None
    fingerprint = _fingerprint(token)
    if known := _display_ids.get(fingerprint):
        # Found before in this process: one query, no decrypting every stored token.
        if credential := await Credential.objects.filter(pk=known).afirst():
            return credential
    owner = await _system_user(DISPLAY_OWNER)
    found = None
    async for credential in Credential.objects.filter(owner=owner):
        if _fingerprint(credential.access_token) == fingerprint:
            found = credential
        else:
            await credential.adelete()  # a previous token
    if found is not None:
        _display_ids[fingerprint] = found.pk
        return found
    result = await auth.token_login(homeserver, token)
    credential = Credential(
        owner=owner,
        user_id=result.user_id,
        device_id=result.device_id,
        homeserver=homeserver,
        owns_device=False,  # the operator's token: never log it out
    )
    credential.access_token = token
    await credential.asave()
    _display_ids[fingerprint] = credential.pk
    logger.info("embed display account %s (%s)", result.user_id, result.device_id)
    return credential


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def guest_credential(homeserver: str) -> Credential:
    async with _lock():
        return await _guest_credential(homeserver)


async def _guest_credential(homeserver: str) -> Credential:
    """This client's guest account on `homeserver`, registered the first time it is needed.

    Raises `MatrixError` when the homeserver does not allow guests."""
    owner = await _system_user(GUEST_OWNER)
    homeserver = homeserver.rstrip("/")
    credential = await Credential.objects.filter(owner=owner, homeserver=homeserver).afirst()
    if credential is not None:
        return credential
    try:
        async with HomeserverApi(homeserver) as api:
            answer = await api.register_guest(
                {"initial_device_display_name": GUEST_DEVICE_NAME}, action=_("Joining as a guest")
            )
    except errors.MatrixError as exc:
        if exc.errcode == "M_GUEST_ACCESS_FORBIDDEN" or exc.status == 403:
            raise errors.MatrixError(
                _(
                    "This homeserver does not allow guests, so this room can only be shown to "
                    "people who sign in."
                ),
                errcode="M_GUEST_ACCESS_FORBIDDEN",
                status=403,
            ) from exc
        raise
    if not all(isinstance(answer.get(k), str) for k in ("access_token", "user_id")):
        raise errors.not_matrix(homeserver)
    credential = Credential(
        owner=owner,
        user_id=answer["user_id"],
        device_id=str(answer.get("device_id") or ""),
        homeserver=homeserver,
        owns_device=True,
    )
    credential.access_token = answer["access_token"]
    await credential.asave()
    logger.info("registered embed guest %s on %s", credential.user_id, homeserver)
    return credential
