"""Secrets between a user's own devices (`m.secret.request` / `m.secret.send`), as Element
does after a verification by emoji.

A device that a SAS verification just showed to be the user's own, cross-signed device asks
all the user's devices (`*`, as Element does) for what it lacks: the cross-signing keys
(`m.cross_signing.self_signing`, `.user_signing`, `.master`) and the backup key
(`m.megolm_backup.v1`). An answer is taken only for a request this device made, only
olm-encrypted, and only from a device this device trusts (see `trusted_sender`); each secret
is checked before it is kept (the cross-signing keys against the published ones, the backup
key against the current backup version). The self-signing key then signs this device, and the
backup key takes up the backup: room keys come back and waiting events heal.

This device answers the same requests from the user's other devices it trusts, when it holds
the secret: olm-encrypted to that one device.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from . import device_trust, errors
from .api import new_txn_id
from .crypto import backup as key_backup
from .crypto import cross_signing, secret_storage
from .crypto.errors import CryptoError

if TYPE_CHECKING:
    from .encryption import DeviceCrypto

logger = logging.getLogger("webclient.matrix.verification")

SECRET_REQUEST = "m.secret.request"  # noqa: S105 - an event type
SECRET_SEND = "m.secret.send"  # noqa: S105 - an event type
#: What a verified device may ask its siblings for, in the order they are taken up.
SECRET_NAMES = (
    secret_storage.CROSS_SIGNING_SELF_SIGNING,
    secret_storage.CROSS_SIGNING_USER_SIGNING,
    secret_storage.CROSS_SIGNING_MASTER,
    secret_storage.MEGOLM_BACKUP,
)
#: A request not answered by then is forgotten (a late answer is ignored).
REQUEST_LIFETIME = 300.0


@dataclass
class SecretRequest:
    name: str
    request_id: str
    sent: float = field(default_factory=time.monotonic)


class SecretSharing:
    """The secret requests of one device: those it made, and answering its siblings'."""

    def __init__(self, crypto: DeviceCrypto, changed: Callable[[], None]) -> None:
        self.crypto = crypto
        self._changed = changed
        # request_id -> what we asked for.
        self.pending: dict[str, SecretRequest] = {}
        # Own devices a SAS verification proved: device ID -> its curve25519 key.
        self.verified_devices: dict[str, str] = {}
        # What the person is told: secrets taken up, problems.
        self.notes: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def waiting(self) -> bool:
        self._forget_old()
        return bool(self.pending)

    @property
    def busy(self) -> bool:
        """Waiting for answers, or taking up what came (restoring the backup)."""
        return self.waiting or bool(self._tasks)

    def _forget_old(self) -> None:
        now = time.monotonic()
        for request_id, request in list(self.pending.items()):
            if now - request.sent > REQUEST_LIFETIME:
                del self.pending[request_id]

    def trust(self, device_id: str, curve25519: str) -> None:
        """An own device verified by emoji: its answers are taken, its requests answered."""
        self.verified_devices[device_id] = curve25519

    def missing(self) -> list[str]:
        """The secrets this device does not hold."""
        store = self.crypto.store
        return [name for name in SECRET_NAMES if not store.load_secret(name)]

    async def request(self, names: list[str]) -> None:
        """Ask all the user's devices for these secrets (one request each)."""
        asked = {request.name for request in self.pending.values()}
        crypto = self.crypto
        for name in names:
            if name in asked:
                continue
            request_id = secrets.token_hex(12)
            content = {
                "action": "request",
                "name": name,
                "request_id": request_id,
                "requesting_device_id": crypto.device_id,
            }
            try:
                await crypto.session.api.send_to_device(
                    SECRET_REQUEST, {crypto.user_id: {"*": content}}, new_txn_id("wcs")
                )
            except errors.MatrixError as exc:
                logger.info("asking for the secret %s failed: %s", name, exc)
                continue
            self.pending[request_id] = SecretRequest(name, request_id)
        self._changed()

    async def _cancel_request(self, request_id: str) -> None:
        content = {
            "action": "request_cancellation",
            "request_id": request_id,
            "requesting_device_id": self.crypto.device_id,
        }
        try:
            await self.crypto.session.api.send_to_device(
                SECRET_REQUEST, {self.crypto.user_id: {"*": content}}, new_txn_id("wcs")
            )
        except errors.MatrixError as exc:
            logger.info("cancelling a secret request failed: %s", exc)

    # -- incoming ------------------------------------------------------------------------------

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if event.get("sender") != self.crypto.user_id:
            return  # secrets are only ever shared between one user's devices
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        if kind == SECRET_REQUEST:
            await self._answer(content)
        elif kind == SECRET_SEND:
            sender_key = event.get("sender_key")
            if not isinstance(sender_key, str):
                logger.info("an m.secret.send that was not olm-encrypted was ignored")
                return
            await self._receive(content, sender_key)

    async def _own_device(self, device_id: str) -> dict[str, Any] | None:
        """The user's device keys of `device_id` (self-signed), asked again if not known."""
        crypto = self.crypto
        for refresh in (False, True):
            identity = await crypto.identity(crypto.user_id, refresh=refresh)
            devices = identity.query.get("device_keys", {}).get(crypto.user_id, {})
            keys = devices.get(device_id) if isinstance(devices, dict) else None
            if cross_signing.device_ed25519_key(keys, crypto.user_id, device_id):
                return keys
        return None

    async def trusted_sender(self, device_id: str, curve25519: str) -> bool:
        """Whether an own device may get or give secrets: verified by emoji here, or
        cross-signed by the self-signing key this device holds (so the chain ends in a key
        we have, not in what the server says)."""
        if self.verified_devices.get(device_id) == curve25519:
            return True
        keys = await self._own_device(device_id)
        if keys is None or keys.get("keys", {}).get(f"curve25519:{device_id}") != curve25519:
            return False
        crypto = self.crypto
        held = crypto.store.load_secret(secret_storage.CROSS_SIGNING_SELF_SIGNING)
        identity = await crypto.identity(crypto.user_id)
        published = cross_signing.self_signing_key_of(identity.query, crypto.user_id)
        if not held or not published:
            return False
        try:
            ours = cross_signing.private_key_matches(held.decode(), published)
        except CryptoError:
            return False
        return ours and identity.device_cross_signed(device_id)

    async def _device_of_key(self, curve25519: str) -> str | None:
        crypto = self.crypto
        for device_id, key in self.verified_devices.items():
            if key == curve25519:
                return device_id
        for refresh in (False, True):
            identity = await crypto.identity(crypto.user_id, refresh=refresh)
            devices = identity.query.get("device_keys", {}).get(crypto.user_id, {})
            for device_id, keys in (devices if isinstance(devices, dict) else {}).items():
                if (
                    isinstance(keys, dict)
                    and keys.get("keys", {}).get(f"curve25519:{device_id}") == curve25519
                    and cross_signing.device_ed25519_key(keys, crypto.user_id, device_id)
                ):
                    return device_id
        return None

    async def _receive(self, content: dict[str, Any], sender_key: str) -> None:
        request = self.pending.get(str(content.get("request_id", "")))
        secret = content.get("secret")
        if request is None or not isinstance(secret, str):
            logger.info("an m.secret.send for no request of ours was ignored")
            return
        device_id = await self._device_of_key(sender_key)
        if device_id is None or not await self.trusted_sender(device_id, sender_key):
            logger.warning("a secret from a device this device does not trust was ignored")
            return
        del self.pending[request.request_id]
        await self._cancel_request(request.request_id)
        try:
            await self._take_up(request.name, secret)
        except (errors.MatrixError, CryptoError) as exc:
            logger.info("the secret %s from %s was not taken: %s", request.name, device_id, exc)
            self.notes.append(
                _("Your other device sent a key this device could not use: %(problem)s")
                % {"problem": getattr(exc, "message", str(exc))}
            )
        finally:
            self._changed()

    async def _take_up(self, name: str, secret: str) -> None:
        crypto = self.crypto
        session = crypto.session
        me = crypto.user_id
        if name == secret_storage.MEGOLM_BACKUP:
            version = await device_trust.take_up_backup(session, secret)
            if not version:
                self.notes.append(_("The backup key from your other device is for an old backup."))
                return
            self.notes.append(_("Key backup is on (version %(version)s).") % {"version": version})
            task = asyncio.get_running_loop().create_task(self._restore())
            self._tasks.add(task)
            task.add_done_callback(self._restored)
            return
        identity = await crypto.identity(me, refresh=True)
        published = {
            secret_storage.CROSS_SIGNING_SELF_SIGNING: cross_signing.self_signing_key_of(
                identity.query, me
            ),
            secret_storage.CROSS_SIGNING_USER_SIGNING: cross_signing.user_signing_key_of(
                identity.query, me
            ),
            secret_storage.CROSS_SIGNING_MASTER: identity.master_key,
        }[name]
        if not published or not cross_signing.private_key_matches(secret, published):
            raise CryptoError(_("It is not the key your account publishes."))
        crypto.store.save_secret(name, secret.encode())
        if name == secret_storage.CROSS_SIGNING_SELF_SIGNING:
            if not identity.device_cross_signed(crypto.device_id):
                await device_trust.sign_own_device(session, secret)
            self.notes.append(_("This device is cross-signed: your contacts can trust it."))

    def _restored(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._changed()

    async def _restore(self) -> None:
        try:
            restored = await device_trust.restore_backup(self.crypto.session)
        except Exception:
            logger.exception("restoring the key backup after a verification failed")
            return
        self.notes.append(
            _("%(count)d room keys were restored from the backup.") % {"count": restored}
        )

    async def _answer(self, content: dict[str, Any]) -> None:
        crypto = self.crypto
        device_id = content.get("requesting_device_id")
        if content.get("action") != "request" or not isinstance(device_id, str):
            return  # a cancellation: we answer at once, so there is nothing to stop
        if device_id == crypto.device_id:
            return  # our own request, sent to all our devices
        name = content.get("name")
        request_id = content.get("request_id")
        if name not in SECRET_NAMES or not isinstance(request_id, str):
            return
        stored = crypto.store.load_secret(str(name))
        if not stored:
            return
        keys = await self._own_device(device_id)
        curve = keys.get("keys", {}).get(f"curve25519:{device_id}") if keys else None
        if not isinstance(curve, str) or not await self.trusted_sender(device_id, curve):
            logger.info("a secret request from an unverified device %s was not answered", device_id)
            return
        secret = (
            key_backup.backup_key_to_secret(stored)
            if name == secret_storage.MEGOLM_BACKUP
            else stored.decode()
        )
        await self.send_encrypted(
            device_id, SECRET_SEND, {"request_id": request_id, "secret": secret}
        )
        logger.info("sent the secret %s to own device %s", name, device_id)

    async def send_encrypted(self, device_id: str, kind: str, content: dict[str, Any]) -> None:
        """An olm-encrypted to-device message to one of the user's devices (an olm session is
        made first if there is none)."""
        crypto = self.crypto
        client = crypto.client
        olm = client.olm
        assert olm is not None
        me = crypto.user_id
        device = olm.device_store[me].get(device_id)
        if device is None:
            olm.users_for_key_query.add(me)
            await client.keys_query()
            device = olm.device_store[me].get(device_id)
        if device is None:
            raise errors.MatrixError(_("This device does not know your other device's keys."))
        session = olm.session_store.get(device.curve25519)
        if session is None:
            await client.keys_claim({me: [device_id]})
            session = olm.session_store.get(device.curve25519)
        if session is None:
            raise errors.MatrixError(_("No encrypted channel to your other device could be made."))
        encrypted = olm._olm_encrypt(session, device, kind, content)
        await crypto.session.api.send_to_device(
            "m.room.encrypted", {me: {device_id: encrypted}}, new_txn_id("wce")
        )
