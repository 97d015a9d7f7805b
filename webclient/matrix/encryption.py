"""End-to-end encryption for one device's session: olm/megolm through matrix-nio, and what
nio lacks (cross-signing trust, key backup, withheld keys, healing undecryptable events).

The session owns one `DeviceCrypto` when encryption is on. It:

- takes the device's lease (only one process drives a device's olm account at a time,
  cluster-wide) and opens the device's crypto store (encrypted at rest) for nio;
- after each sync, uploads one-time keys, queries changed devices, sends nio's queued
  to-device messages, records withheld keys and new room keys, backs new keys up, and heals
  the events those keys open;
- decrypts the spec's JSON of an `m.room.encrypted` event into the JSON of the event it
  carries, with a `webclient_e2e` description (who sent it from which device, whether that
  device is cross-signed by its owner, whether the key came from a backup or another device,
  or why it could not be decrypted). Decrypted events live in memory only: the session's
  event stores and the render cache of this process;
- prepares an encrypted room before a send: its members' devices known, each other user's
  device marked by cross-signing (the spec's v1.18 advice, MSC4153: keys only to devices
  their owner cross-signed, `m.room_key.withheld` to the rest), unless
  `settings.E2E_SHARE_WITH_UNSIGNED_DEVICES` says otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.dispatch import Signal
from django.utils.translation import gettext as _
from nio import (
    AsyncClient,
    EncryptionError,
    ForwardedRoomKeyEvent,
    MegolmEvent,
    RoomKeyEvent,
    UnknownToDeviceEvent,
)
from nio.crypto import InboundGroupSession, OlmDevice

from . import errors
from .crypto import backup as key_backup
from .crypto import cross_signing, secret_storage
from .crypto.errors import CryptoError
from .crypto.lease import DeviceLease
from .crypto.store import CryptoStore, device_key, store_factory
from .nioclient import call
from .relations import is_redacted


class Session(Protocol):
    """What encryption needs of its `session.MatrixSession` (named here, not imported: the
    session imports this module)."""

    user_id: str
    device_id: str | None
    homeserver: str
    client: AsyncClient
    api: Any

    def room(self, room_id: str) -> Any: ...

    async def stop(self) -> None: ...


logger = logging.getLogger("webclient.matrix.encryption")

MEGOLM = "m.megolm.v1.aes-sha2"
BACKUP_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
#: Marks, in a session's forwarding chain, a key that came from the key backup: such keys are
#: not authenticated by their sender (Element says "can't be guaranteed").
FROM_BACKUP = "webclient:backup"
#: How long a device's cross-signing status is trusted before it is asked again.
IDENTITY_MAX_AGE = 300.0
#: Room keys uploaded to the backup per request.
BACKUP_BATCH = 200

# What the device keeps in its store's secrets besides the secrets of secret storage
# (`secret_storage.CROSS_SIGNING_*`, `secret_storage.MEGOLM_BACKUP`).
STATE_BACKUP_VERSION = "webclient.backup_version"
STATE_BACKED_UP = "webclient.backed_up"

UTD_WAITING = "waiting"
UTD_WITHHELD = "withheld"
UTD_UNAVAILABLE = "unavailable"
UTD_ERROR = "error"

#: Sent (`crypto=`) once a device's encryption is open: `signals.py` hangs the verification
#: handlers (`verification.py`) on it, which this module does not import.
opened = Signal()


@dataclass
class Identity:
    """A user's cross-signing keys and devices as the homeserver last told them."""

    user_id: str
    query: dict[str, Any]
    fetched: float = field(default_factory=time.monotonic)

    def device_cross_signed(self, device_id: str) -> bool:
        return cross_signing.is_device_cross_signed(self.query, self.user_id, device_id)

    @property
    def master_key(self) -> str | None:
        return cross_signing.master_key_of(self.query, self.user_id)


class DeviceCrypto:
    """The encryption of one Matrix device, for its `MatrixSession`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.user_id = session.user_id
        self.device_id = session.device_id or ""
        self.client: AsyncClient = session.client
        self.lease: DeviceLease | None = None
        self._own_lease = False
        self.ready = False
        self.problem = ""
        self.identities: dict[str, Identity] = {}
        # Sessions whose keys were withheld by their sender: session_id -> (code, reason).
        self.withheld: dict[str, tuple[str, str]] = {}
        # Key requests made, so each missing session is asked for once.
        self._requested: set[str] = set()
        self._new_sessions: set[tuple[str, str]] = set()
        self._unknown_olm: list[dict[str, Any]] = []
        self._backup_task: asyncio.Task[int] | None = None
        self._rotation: dict[str, tuple[float, int]] = {}
        self._pinned: dict[str, str] = {}
        # Per room: the devices that get no key for its current session (told after a send).
        self._withheld_devices: dict[str, dict[str, dict[str, Any]]] = {}
        # Verification and secret handlers (to-device), set by `verification.py`.
        self.to_device_handlers: list[Callable[[dict[str, Any]], Awaitable[None]]] = []
        # The device's `verification.Verifications` (SAS in progress, secrets asked for).
        self.verifications: Any = None
        # Set once opening has succeeded or failed (pages opened meanwhile wait for it).
        self.settled = asyncio.Event()
        self.opening = False

    # -- lifetime -------------------------------------------------------------------------

    async def open(self) -> bool:
        """Take the device's lease and load its olm account; False when another process
        drives this device's encryption or its store cannot be opened."""
        self.opening = True
        try:
            return await self._open()
        finally:
            self.settled.set()

    async def wait_settled(self, timeout: float = 20.0) -> bool:
        """Wait (briefly) until opening has succeeded or failed; whether it is ready."""
        try:
            await asyncio.wait_for(self.settled.wait(), timeout)
        except TimeoutError:
            pass
        return self.ready

    async def _open(self) -> bool:
        if not self.device_id:
            self.problem = _("This login has no device ID, so it cannot encrypt.")
            return False
        given = getattr(self.session, "lease", None)
        if given is not None:
            # The device's owner lease (`registry.own`): this process runs the device; the
            # registry releases the lease, and stops the session when it is lost.
            if not given.held or given.claimed_by not in (None, self):
                self.problem = _("Another session of this client handles this device's encryption.")
                return False
            given.claimed_by = self
            self.lease, self._own_lease = given, False
        else:
            self.lease = DeviceLease(
                device_key(self.user_id, self.device_id), on_lost=self._lease_lost
            )
            self._own_lease = True
            if not await self.lease.acquire(wait=settings.CRYPTO_LEASE_TTL + 1):
                self.problem = _("Another process of this client handles this device's encryption.")
                return False
        factory = store_factory(lease=self.lease)
        client = self.client
        client.config = dataclasses.replace(client.config, store=factory, encryption_enabled=True)
        client.store_path = factory.store_path
        try:
            await asyncio.to_thread(
                client.restore_login, self.user_id, self.device_id, client.access_token
            )
        except Exception as exc:
            logger.exception("the crypto store of %s could not be opened", self.device_id)
            self.problem = f"This device's encryption store could not be opened ({exc})."
            await self._let_go()
            return False
        olm = client.olm
        assert olm is not None
        # nio drops olm payloads it does not know (m.secret.send): keep them for us.
        original = olm._handle_olm_event

        def handle(sender: str, sender_key: str, payload: dict[str, Any]):  # noqa: ANN202
            if payload.get("type") not in ("m.room_key", "m.forwarded_room_key", "m.dummy"):
                self._unknown_olm.append(
                    {"sender": sender, "sender_key": sender_key, "payload": payload}
                )
                return None
            return original(sender, sender_key, payload)

        olm._handle_olm_event = handle  # type: ignore[method-assign]
        self.ready = True
        opened.send(sender=DeviceCrypto, crypto=self)
        return True

    async def close(self) -> None:
        if self._backup_task:
            self._backup_task.cancel()
        store = getattr(self.client, "store", None)
        if isinstance(store, CryptoStore):
            await asyncio.to_thread(store.close)
        await self._let_go()
        self.ready = False

    async def _let_go(self) -> None:
        """Give up the lease when it is this object's own (the registry's stays with the
        registry); no longer claim the device's olm account."""
        lease = self.lease
        if lease is None:
            return
        if lease.claimed_by is self:
            lease.claimed_by = None
        if self._own_lease:
            await lease.release()

    def _lease_lost(self, lease: DeviceLease) -> None:
        logger.warning("device %s: the encryption lease was lost; stopping", self.device_id)
        self.ready = False
        asyncio.get_running_loop().create_task(self.session.stop())

    @property
    def store(self) -> CryptoStore:
        store = self.client.store
        assert isinstance(store, CryptoStore)
        return store

    # -- after each sync --------------------------------------------------------------------

    async def after_sync(self, response: Any) -> set[tuple[str, str]]:
        """Housekeeping after nio has processed a sync; the (room, session) of room keys
        that arrived, so their events can be healed."""
        if not self.ready:
            return set()
        new = set(self._new_sessions)
        self._new_sessions.clear()
        for event in getattr(response, "to_device_events", []) or []:
            if isinstance(event, ForwardedRoomKeyEvent | RoomKeyEvent):
                new.add((event.room_id, event.session_id))
            elif isinstance(event, UnknownToDeviceEvent):
                await self._to_device(event.source)
            else:
                source = getattr(event, "source", None)
                if isinstance(source, dict) and str(source.get("type", "")).startswith(
                    "m.key.verification."
                ):
                    await self._to_device(source)
        olm_payloads, self._unknown_olm = self._unknown_olm, []
        for item in olm_payloads:
            await self._to_device(
                {**item["payload"], "sender": item["sender"], "sender_key": item["sender_key"]}
            )
        changed = getattr(getattr(response, "device_list", None), "changed", None) or []
        for user_id in changed:
            self.identities.pop(user_id, None)
        await self._nio_housekeeping()
        if new:
            self._schedule_backup()
        return new

    async def _nio_housekeeping(self) -> None:
        client = self.client
        if client.outgoing_to_device_messages:
            for response in await client.send_to_device_messages():
                _check_quietly(response, "sending to-device messages")
        if client.should_upload_keys:
            response = await client.keys_upload()
            if _check_quietly(response, "uploading device keys") is None:
                message = getattr(response, "message", "")
                self.problem = (
                    "The homeserver did not accept this device's encryption keys"
                    f" ({message}). A device made by another app cannot encrypt here."
                )
        if client.should_query_keys:
            _check_quietly(await client.keys_query(), "querying device keys")

    async def _to_device(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "m.room_key.withheld":
            content = event.get("content") if isinstance(event.get("content"), dict) else {}
            session_id = content.get("session_id")
            if isinstance(session_id, str):
                self.withheld[session_id] = (
                    str(content.get("code", "")),
                    str(content.get("reason", "")),
                )
                room_id = content.get("room_id")
                if isinstance(room_id, str):
                    self._new_sessions.add((room_id, session_id))
            return
        for handler in list(self.to_device_handlers):
            try:
                await handler(event)
            except Exception:
                logger.exception("handling a to-device %s failed", kind)

    # -- decrypting --------------------------------------------------------------------------

    def decrypt(self, room_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """The event an `m.room.encrypted` one carries, described by `webclient_e2e`; the
        encrypted event itself (with why) when it cannot be decrypted."""
        if event.get("type") != "m.room.encrypted" or "webclient_e2e" in event:
            return event
        if is_redacted(event):
            return event  # deleted: nothing left to decrypt
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        session_id = str(content.get("session_id", ""))
        if not self.ready or self.client.olm is None:
            return _undecryptable(event, UTD_UNAVAILABLE, session_id)
        if content.get("algorithm") != MEGOLM:
            return _undecryptable(event, UTD_ERROR, session_id, "an unknown algorithm")
        try:
            megolm = MegolmEvent.from_dict(event)
        except Exception:  # a malformed event
            return _undecryptable(event, UTD_ERROR, session_id, "a malformed event")
        if not isinstance(megolm, MegolmEvent):
            return _undecryptable(event, UTD_ERROR, session_id, "a malformed event")
        megolm.room_id = room_id
        try:
            decrypted = self.client.olm.decrypt_megolm_event(megolm, room_id)
        except EncryptionError as exc:
            if session_id in self.withheld:
                code, reason = self.withheld[session_id]
                return _undecryptable(event, UTD_WITHHELD, session_id, reason or code)
            if "no session found" in str(exc):
                return _undecryptable(event, UTD_WAITING, session_id)
            return _undecryptable(event, UTD_ERROR, session_id, str(exc)[:200])
        source = getattr(decrypted, "source", None)
        if not isinstance(source, dict) or not getattr(decrypted, "decrypted", False):
            return _undecryptable(event, UTD_ERROR, session_id, "a malformed message")
        return self.describe(room_id, event, source, megolm)

    def describe(
        self,
        room_id: str,
        encrypted: dict[str, Any],
        clear: dict[str, Any],
        megolm: MegolmEvent,
    ) -> dict[str, Any]:
        """The decrypted event as pages get it: the clear type and content, the encrypted
        event's own envelope (IDs, `unsigned`), and what is known about its sender."""
        unsigned = (
            dict(encrypted.get("unsigned") or {})
            if isinstance(encrypted.get("unsigned"), dict)
            else {}
        )
        content = clear.get("content") if isinstance(clear.get("content"), dict) else {}
        # The relation is in the clear on the envelope (servers aggregate it); keep it.
        outer = encrypted.get("content") if isinstance(encrypted.get("content"), dict) else {}
        if "m.relates_to" not in content and isinstance(outer.get("m.relates_to"), dict):
            content = {**content, "m.relates_to": outer["m.relates_to"]}
        event = {
            **{k: v for k, v in encrypted.items() if k not in ("type", "content")},
            "type": clear.get("type"),
            "content": content,
            "unsigned": unsigned,
            "room_id": room_id,
            "webclient_e2e": self.trust(megolm),
        }
        return event

    def trust(self, megolm: MegolmEvent) -> dict[str, Any]:
        """What a shield says of a decrypted event's sender (Element's words, kept short)."""
        olm = self.client.olm
        assert olm is not None
        described: dict[str, Any] = {"session_id": megolm.session_id}
        group = olm.inbound_group_store.get(
            megolm.room_id or "", megolm.sender_key, megolm.session_id
        )
        if group is not None and group.forwarding_chain:
            # Forwarded by another device, restored from the backup or a file.
            described["shield"] = "unauthenticated"
            return described
        device = self._device_by_key(megolm.sender, megolm.sender_key)
        if device is None:
            described["shield"] = "unknown_device"
            return described
        described["device_id"] = device.id
        if megolm.sender == self.user_id and device.id == self.device_id:
            return described
        identity = self.identities.get(megolm.sender)
        if identity is None or not identity.query:
            self._want_identity(megolm.sender)
            return described
        if not identity.device_cross_signed(device.id):
            described["shield"] = "unverified_device"
        elif self.identity_changed(megolm.sender, identity):
            described["shield"] = "identity_changed"
        return described

    def identity_changed(self, user_id: str, identity: Identity) -> bool:
        """Whether the user's master key is not the one first seen (trust on first use, as
        Element pins identities); the first one seen is pinned."""
        master = identity.master_key
        if master is None or user_id == self.user_id:
            return False
        name = f"webclient.pinned:{user_id}"
        pinned = self._pinned.get(user_id)
        if pinned is None:
            stored = self.store.load_secret(name)
            pinned = stored.decode() if stored else None
            if pinned is None:
                self.store.save_secret(name, master.encode())
                pinned = master
            self._pinned[user_id] = pinned
        return pinned != master

    def _device_by_key(self, user_id: str, sender_key: str) -> OlmDevice | None:
        olm = self.client.olm
        if olm is None:
            return None
        for device in olm.device_store.active_user_devices(user_id):
            if device.curve25519 == sender_key:
                return device
        return None

    def waiting_sessions(self, room_id: str, events: Iterable[dict[str, Any]]) -> set[str]:
        """The sessions of events still waiting for their key."""
        return {
            str(e["webclient_e2e"].get("session_id"))
            for e in events
            if isinstance(e.get("webclient_e2e"), dict)
            and e["webclient_e2e"].get("utd") in (UTD_WAITING, UTD_WITHHELD)
        }

    async def ask_for_keys(self, room_id: str, events: Iterable[dict[str, Any]]) -> None:
        """For events waiting for their key: ask the backup, then the user's other devices
        (each session once)."""
        if not self.ready:
            return
        for event in events:
            e2e = event.get("webclient_e2e")
            if not isinstance(e2e, dict) or e2e.get("utd") != UTD_WAITING:
                continue
            session_id = str(e2e.get("session_id", ""))
            if not session_id or session_id in self._requested:
                continue
            self._requested.add(session_id)
            if await self.restore_from_backup(room_id, session_id):
                continue
            try:
                megolm = MegolmEvent.from_dict(
                    {k: v for k, v in event.items() if k != "webclient_e2e"}
                )
                megolm.room_id = room_id
                await self.client.request_room_key(megolm)
            except Exception as exc:  # noqa: BLE001 - a key request is best effort
                logger.info("asking other devices for a room key failed: %s", exc)

    # -- trust -------------------------------------------------------------------------------

    async def know_senders(self, events: Iterable[dict[str, Any]]) -> None:
        """Fetch the cross-signing keys of the senders of encrypted events not known yet, so
        their messages carry the right shield from the first render."""
        if not self.ready:
            return
        wanted = {
            str(e.get("sender"))
            for e in events
            if isinstance(e, dict) and e.get("type") == "m.room.encrypted" and e.get("sender")
        }
        unknown = [u for u in wanted if u not in self.identities or not self.identities[u].query]
        if unknown:
            try:
                await self.identities_of(unknown)
            except errors.MatrixError as exc:
                logger.info("querying senders' keys failed: %s", exc)

    def _want_identity(self, user_id: str) -> None:
        """Fetch a user's cross-signing keys soon (for shields rendered later)."""
        if user_id in self.identities:
            return
        self.identities[user_id] = Identity(user_id, {}, fetched=0.0)
        asyncio.get_running_loop().create_task(self.identity(user_id, refresh=True))

    async def identity(self, user_id: str, *, refresh: bool = False) -> Identity:
        """A user's cross-signing keys, from the homeserver when not known or old."""
        known = self.identities.get(user_id)
        if (
            known is not None
            and known.query
            and not refresh
            and time.monotonic() - known.fetched < IDENTITY_MAX_AGE
        ):
            return known
        await self.identities_of([user_id])
        return self.identities[user_id]

    async def identities_of(self, user_ids: list[str]) -> None:
        if not user_ids:
            return
        query = await self.session.api.keys_query(user_ids)
        for user_id in user_ids:
            self.identities[user_id] = Identity(user_id, query)

    async def own_device_cross_signed(self) -> bool:
        identity = await self.identity(self.user_id, refresh=True)
        return identity.device_cross_signed(self.device_id)

    def room_encrypted(self, room_id: str) -> bool:
        summary = self.session.room(room_id)
        return bool(summary and summary.encrypted)

    def nio_room(self, room_id: str) -> Any:
        """nio's view of a room, made from the room list when nio has not seen it (a
        session resumed from a stored sync token only hears of rooms that change)."""
        from nio.rooms import MatrixRoom

        client = self.client
        room = client.rooms.get(room_id)
        if room is None:
            room = client.rooms[room_id] = MatrixRoom(room_id, self.user_id)
        if self.room_encrypted(room_id):
            room.encrypted = True
            client.encrypted_rooms.add(room_id)
        return room

    async def rotation(self, room_id: str) -> tuple[float, int]:
        """(seconds, messages) after which the room's outbound session is replaced, as its
        `m.room.encryption` says (Element's defaults: a week, 100 messages)."""
        if room_id not in self._rotation:
            content = await self.session.api.state_or_none(room_id, "m.room.encryption") or {}
            period = content.get("rotation_period_ms")
            count = content.get("rotation_period_msgs")
            self._rotation[room_id] = (
                period / 1000 if isinstance(period, int) and period > 0 else 7 * 24 * 3600.0,
                count if isinstance(count, int) and count > 0 else 100,
            )
        return self._rotation[room_id]

    async def rotate_if_due(self, room_id: str) -> None:
        """Drop the room's outbound session when the room's rotation limits say so (nio only
        knows its own defaults), so the next send starts and shares a new one."""
        olm = self.client.olm
        outbound = olm.outbound_group_sessions.get(room_id) if olm is not None else None
        if outbound is None:
            return
        seconds, messages = await self.rotation(room_id)
        age = (datetime.now() - outbound.creation_time).total_seconds()
        if outbound.message_count >= messages or age >= seconds:
            del olm.outbound_group_sessions[room_id]

    async def prepare_room(self, room_id: str) -> bool:
        """Before sending in an encrypted room: mark every member device by cross-signing
        (verified when its owner signed it, else blacklisted, unless unsigned devices get
        keys too); True when unsigned devices should get keys anyway."""
        client = self.client
        room = self.nio_room(room_id)
        olm = client.olm
        if olm is None or not room.encrypted:
            return True
        await self.rotate_if_due(room_id)
        if not room.members_synced:
            await call(client.joined_members(room_id), self.session.homeserver)
        if client.should_query_keys:
            _check_quietly(await client.keys_query(), "querying device keys")
        share_with_unsigned = settings.E2E_SHARE_WITH_UNSIGNED_DEVICES
        users = [u for u in room.users if u]
        stale = [
            u
            for u in users
            if u not in self.identities
            or not self.identities[u].query
            or time.monotonic() - self.identities[u].fetched > IDENTITY_MAX_AGE
        ]
        await self.identities_of(stale)
        withheld: dict[str, dict[str, Any]] = {}
        for user_id in users:
            identity = self.identities.get(user_id)
            for device in olm.device_store.active_user_devices(user_id):
                if user_id == self.user_id and device.id == self.device_id:
                    continue
                signed = identity is not None and identity.device_cross_signed(device.id)
                if signed or share_with_unsigned:
                    if olm.is_device_blacklisted(device):
                        olm.unblacklist_device(device)
                    if signed and not olm.is_device_verified(device):
                        olm.verify_device(device)
                elif not olm.is_device_blacklisted(device):
                    olm.blacklist_device(device)
                if not signed and not share_with_unsigned:
                    withheld.setdefault(user_id, {})[device.id] = device
        self._withheld_devices[room_id] = withheld
        return share_with_unsigned

    async def tell_withheld(self, room_id: str) -> None:
        """`m.room_key.withheld` (code `m.unverified`) to the devices that got no key for
        the room's current session, so their owners see why."""
        olm = self.client.olm
        devices = self._withheld_devices.pop(room_id, {})
        if olm is None or not devices:
            return
        outbound = olm.outbound_group_sessions.get(room_id)
        if outbound is None:
            return
        identity = olm.account.identity_keys
        messages: dict[str, dict[str, Any]] = {}
        for user_id, by_device in devices.items():
            for device_id in by_device:
                messages.setdefault(user_id, {})[device_id] = {
                    "room_id": room_id,
                    "algorithm": MEGOLM,
                    "session_id": outbound.id,
                    "sender_key": identity["curve25519"],
                    "code": "m.unverified",
                    "reason": _("The sender shares keys only with devices their owner verified."),
                    "from_device": self.device_id,
                }
        try:
            await self.session.api.send_to_device(
                "m.room_key.withheld", messages, "wcw" + secrets.token_hex(10)
            )
        except errors.MatrixError as exc:
            logger.info("could not send m.room_key.withheld: %s", exc)

    # -- key backup ---------------------------------------------------------------------------

    def backup_key(self) -> tuple[str, bytes] | None:
        """(version, private key) of the backup this device writes to, if it has one."""
        if not self.ready:
            return None
        key = self.store.load_secret(secret_storage.MEGOLM_BACKUP)
        version = self.store.load_secret(STATE_BACKUP_VERSION)
        if not key or not version:
            return None
        return version.decode(), key

    async def restore_from_backup(
        self, room_id: str | None = None, session_id: str | None = None
    ) -> int:
        """Import room keys from the backup (all, or one session's); how many were new."""
        found = self.backup_key()
        if found is None:
            return 0
        version, private_key = found
        try:
            data = await self.session.api.backup_keys(version, room_id, session_id)
        except errors.NotFound:
            return 0
        except errors.MatrixError as exc:
            logger.info("reading the key backup failed: %s", exc)
            return 0
        if session_id and room_id:
            rooms = {room_id: {"sessions": {session_id: data}}}
        elif room_id:
            rooms = {room_id: data}
        else:
            rooms = data.get("rooms") if isinstance(data.get("rooms"), dict) else {}
        return await asyncio.to_thread(self._import_backup, rooms, private_key)

    def _import_backup(self, rooms: dict[str, Any], private_key: bytes) -> int:
        olm = self.client.olm
        if olm is None:
            return 0
        added = 0
        for room_id, room in rooms.items():
            sessions = room.get("sessions") if isinstance(room, dict) else None
            for session_id, data in (sessions or {}).items():
                if not isinstance(data, dict):
                    continue
                try:
                    clear = key_backup.decrypt_session_data(data.get("session_data"), private_key)
                    group = InboundGroupSession.import_session(
                        clear["session_key"],
                        clear["sender_claimed_keys"]["ed25519"],
                        clear["sender_key"],
                        room_id,
                        [*clear.get("forwarding_curve25519_key_chain", []), FROM_BACKUP],
                    )
                except (CryptoError, KeyError, TypeError, ValueError) as exc:
                    logger.info("a backed-up key of %s could not be read: %s", room_id, exc)
                    continue
                if group.id != session_id:
                    continue
                if olm.inbound_group_store.add(group):
                    self.store.save_inbound_group_session(group)
                    self._new_sessions.add((room_id, session_id))
                    added += 1
        return added

    def _schedule_backup(self) -> None:
        if self.backup_key() is None:
            return
        if self._backup_task and not self._backup_task.done():
            return
        self._backup_task = asyncio.get_running_loop().create_task(self.back_up_keys())

    async def back_up_keys(self) -> int:
        """Upload the room keys this device holds that the backup does not have yet."""
        found = self.backup_key()
        olm = self.client.olm
        if found is None or olm is None:
            return 0
        version, private_key = found
        public_key = key_backup.backup_public_key(private_key)
        done_raw = self.store.load_secret(STATE_BACKED_UP) or b""
        done = set(done_raw.decode().split()) if done_raw else set()
        pending = [
            session
            for sessions in _all_group_sessions(olm)
            for session in sessions
            if session.id not in done and FROM_BACKUP not in session.forwarding_chain
        ]
        uploaded = 0
        for start in range(0, len(pending), BACKUP_BATCH):
            batch = pending[start : start + BACKUP_BATCH]
            rooms: dict[str, Any] = {}
            for session in batch:
                exported = {
                    "algorithm": MEGOLM,
                    "sender_key": session.sender_key,
                    "sender_claimed_keys": {"ed25519": session.ed25519},
                    "forwarding_curve25519_key_chain": [
                        key for key in session.forwarding_chain if not key.startswith("webclient:")
                    ],
                    "session_key": session.export_session(session.first_known_index),
                }
                rooms.setdefault(session.room_id, {"sessions": {}})["sessions"][session.id] = (
                    key_backup.build_key_backup_data(
                        exported,
                        public_key,
                        first_message_index=session.first_known_index,
                        forwarded_count=len(session.forwarding_chain),
                        is_verified=False,
                    )
                )
            try:
                await self.session.api.put_backup_keys(version, rooms)
            except errors.MatrixError as exc:
                logger.info("backing up room keys failed: %s", exc)
                break
            done.update(session.id for session in batch)
            uploaded += len(batch)
            self.store.save_secret(STATE_BACKED_UP, " ".join(sorted(done)).encode())
        return uploaded

    def key_count(self) -> int:
        olm = self.client.olm
        if olm is None:
            return 0
        return sum(len(sessions) for sessions in _all_group_sessions(olm))


def _all_group_sessions(olm: Any) -> list[list[InboundGroupSession]]:
    """Every inbound group session nio holds, grouped (its store nests room → key → id)."""
    found: list[list[InboundGroupSession]] = []
    for by_sender in olm.inbound_group_store._entries.values():
        for by_id in by_sender.values():
            found.append(list(by_id.values()))
    return found


def _undecryptable(
    event: dict[str, Any], why: str, session_id: str, detail: str = ""
) -> dict[str, Any]:
    described: dict[str, Any] = {"utd": why, "session_id": session_id}
    if detail:
        described["detail"] = detail
    return {**event, "webclient_e2e": described}


def _check_quietly(response: Any, what: str) -> Any:
    """nio's answer, or None (logged) when it is an error: housekeeping never stops a sync."""
    from nio import ErrorResponse

    if isinstance(response, ErrorResponse):
        logger.warning("%s failed: %s", what, response)
        return None
    return response
