"""The sessions this process owns, one per Matrix device, and the leases that make this
process their one owner cluster-wide.

A device is run by exactly one process at a time: the one holding its lease
(`crypto.lease.DeviceLease`, in Redis with `REDIS_URL`, else PostgreSQL, else this process).
The owner syncs, decrypts (its crypto store is fenced by the same lease), renders once and
publishes; other processes serve the device's pages from what it publishes and ask it for
the rest (`live/devices.py`). `own` starts a device's session here when this process holds or
can take its lease; the lease is released when the device's last session here stops (a sign-
out, an idle loop, a graceful shutdown), so another process takes over at once, and a lease
this process loses (paused past its expiry) stops the device's sessions here.

This is the one piece of per-process state the design allows; everything else goes through
the database or the channel layer. Each session is handed the publisher named by
`settings.MATRIX_SESSION_PUBLISHER` (a dotted path, so this layer imports nothing above it).
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from . import errors
from .crypto.lease import DeviceLease, default_backend, process_owner_id
from .crypto.store import device_key
from .models import Credential
from .session import MatrixSession

logger = logging.getLogger("webclient.matrix")

_sessions: dict[int, MatrixSession] = {}
# Device key -> the lease this process holds for it, and the credentials running under it
# (normally one; two logins pasted with one device's token share the device).
_leases: dict[str, DeviceLease] = {}
_users: dict[str, set[int]] = {}
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_releasing: set[asyncio.Task[None]] = set()


def lease_key(credential: Credential) -> str:
    """What a device's lease is named by: the device (as its crypto store), or the login
    when the homeserver gave no device ID."""
    if credential.device_id:
        return device_key(credential.user_id, credential.device_id)
    return f"credential:{credential.pk}"


def _lock(key: str) -> asyncio.Lock:
    """One start at a time per device (locks belong to their event loop)."""
    locks = _locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


def _forget(session: MatrixSession) -> None:
    if _sessions.get(session.credential_id) is session:
        del _sessions[session.credential_id]
    lease = session.lease
    if lease is None:
        return
    users = _users.get(lease.device_key, set())
    users.discard(session.credential_id)
    if not users and _leases.get(lease.device_key) is lease:
        # Released once the session has stopped (its crypto store closed): the next owner
        # then never meets a store this process still writes to.
        del _leases[lease.device_key]
        _users.pop(lease.device_key, None)
        task = asyncio.get_running_loop().create_task(_release_after(session, lease))
        _releasing.add(task)
        task.add_done_callback(_releasing.discard)


async def _release_after(session: MatrixSession, lease: DeviceLease) -> None:
    await session.wait_stopped()
    await lease.release()
    logger.info("released device %s", lease.device_key)


def _lost(lease: DeviceLease) -> None:
    """Another process may own the device now: stop this process's sessions of it."""
    if _leases.get(lease.device_key) is lease:
        del _leases[lease.device_key]
    for credential_id in _users.pop(lease.device_key, set()):
        if session := _sessions.get(credential_id):
            logger.warning("device %s: lease lost, stopping its session", lease.device_key)
            asyncio.get_running_loop().create_task(session.stop())


async def own(
    credential: Credential, *, wait: float = 0.0, owner_id: str | None = None
) -> MatrixSession | None:
    """This process's running session of the device, started when this process holds or
    can take the device's lease (waiting up to `wait` seconds for its holder to release it
    or die); None when another process owns the device.

    `owner_id` is what the lease names this process by (`live/devices.py` adds where the
    process takes requests). A session starts from the credential as stored now (its sync
    token as the last owner left it); a credential gone meanwhile (signed out) is
    `UnknownToken`."""
    session = _sessions.get(credential.pk)
    if session is not None and not session.closed:
        session.touch()
        return session
    key = lease_key(credential)
    async with _lock(key):
        session = _sessions.get(credential.pk)
        if session is not None and not session.closed:
            session.touch()
            return session
        lease = _leases.get(key)
        if lease is None or not lease.held:
            lease = DeviceLease(key, owner_id or process_owner_id(), on_lost=_lost)
            if not await lease.acquire(wait=wait):
                return None
            _leases[key] = lease
            _users[key] = set()
        stored = await Credential.objects.filter(pk=credential.pk).afirst()
        if stored is None:
            if not _users.get(key):
                _leases.pop(key, None)
                _users.pop(key, None)
                await lease.release()
            raise errors.UnknownToken(_("This login has ended."))
        publisher = import_string(settings.MATRIX_SESSION_PUBLISHER)
        session = MatrixSession(stored, on_stop=_forget, publisher=publisher, lease=lease)
        _sessions[stored.pk] = session
        _users[key].add(stored.pk)
        session.start()
        logger.info("this process now runs device %s (%s)", key, lease.fencing_token)
    session.touch()
    return session


async def session_for(credential: Credential) -> MatrixSession:
    """The running session of this device in this process, started if there is none (waiting
    for another process's lease to expire if need be). Views and sockets go through
    `live.devices.device_for`, which serves a device another process owns from there."""
    session = await own(credential, wait=settings.DEVICE_LEASE_TTL + 1)
    if session is None:
        raise errors.MatrixError(
            _("Another process of this client runs this login."), errcode="W_NOT_OWNER"
        )
    return session


async def holder(credential: Credential) -> str | None:
    """Who holds the device's lease now (an owner ID), None when nobody does."""
    return await default_backend().holder(lease_key(credential))


def holds(credential: Credential) -> bool:
    """Whether this process holds the device's lease."""
    lease = _leases.get(lease_key(credential))
    return lease is not None and lease.held


def running(credential_id: int) -> MatrixSession | None:
    return _sessions.get(credential_id)


def owned() -> list[MatrixSession]:
    return [s for s in _sessions.values() if not s.closed]


async def stop(credential_id: int) -> None:
    if session := _sessions.get(credential_id):
        await session.stop()


async def stop_all() -> None:
    """Stop every session and give up every lease now (a graceful shutdown: the next owner
    takes over without waiting for the leases to expire)."""
    for session in list(_sessions.values()):
        await session.stop()
    if _releasing:
        await asyncio.gather(*list(_releasing), return_exceptions=True)
    for key, lease in list(_leases.items()):
        _leases.pop(key, None)
        _users.pop(key, None)
        await lease.release()
