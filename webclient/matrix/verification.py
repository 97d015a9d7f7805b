"""Verifying devices by emoji (SAS) over to-device messages, the flow Element uses.

    requester                      other device
    m.key.verification.request ->                  (to one device, or each of the user's)
                               <- m.key.verification.ready    (others get cancel m.accepted)
    m.key.verification.start   ->                  (either side may start)
                               <- m.key.verification.accept   (with a commitment)
    m.key.verification.key     ->
                               <- m.key.verification.key      (both show 7 emoji, 3 numbers)
    m.key.verification.mac    <->                  (once the person says they match)
    m.key.verification.done   <->

One `Verifications` hangs on each open `DeviceCrypto` (it lives as long as the device's
session, so pages can reload): it gets every `m.key.verification.*` and `m.secret.*`
to-device event (nio's own SAS handling is switched off: it would answer with its own keys),
keeps each verification by transaction ID, and offers what a person does (`send_request`,
`accept`, `decline`, `start`, `confirm`, `mismatch`, `cancel`). The cryptography is
vodozemac's `Sas` with `crypto/sas.py`; nio's `Sas` speaks only the old MAC and MACs only the
device key, so it is not used.

When both sides are done: nio marks the other device verified. With the user's own device,
this device signs it when it holds the self-signing key (as Element does), and, when the other
device is cross-signed, asks for the secrets it lacks (`secret_sharing.py`), so a new device
ends up cross-signed with key backup on. With another user, this device signs their master
key when their MAC covered it and this device holds the user-signing key.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import vodozemac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from . import errors
from .api import new_txn_id
from .crypto import cross_signing, sas, secret_storage
from .crypto.errors import CryptoError
from .secret_sharing import SecretSharing

if TYPE_CHECKING:
    from .encryption import DeviceCrypto
    from .session import MatrixSession

logger = logging.getLogger("webclient.matrix.verification")

PREFIX = "m.key.verification."
REQUEST = PREFIX + "request"
READY = PREFIX + "ready"
START = PREFIX + "start"
ACCEPT = PREFIX + "accept"
KEY = PREFIX + "key"
MAC = PREFIX + "mac"
DONE = PREFIX + "done"
CANCEL = PREFIX + "cancel"

#: A request whose timestamp is older than this, or further in the future than
#: `REQUEST_MAX_AHEAD`, is ignored (the spec's numbers).
REQUEST_MAX_AGE = 600.0
REQUEST_MAX_AHEAD = 300.0
#: An incoming request nobody answered is dismissed after this long.
PROMPT_LIFETIME = 120.0
#: A verification not done by then is cancelled (`m.timeout`).
TIMEOUT = 600.0
#: How long a finished verification stays on the page.
KEEP_FINISHED = 600.0

#: Cancel codes in words (the spec's list and SAS's own).
CANCEL_WORDS = {
    "m.user": gettext_noop("The verification was cancelled."),
    "m.timeout": gettext_noop("The verification timed out."),
    "m.unknown_transaction": gettext_noop("The other device did not know this verification."),
    "m.unknown_method": gettext_noop("The two devices have no way of verifying in common."),
    "m.unexpected_message": gettext_noop("A device sent a message out of order."),
    "m.key_mismatch": gettext_noop(
        "The keys did not match: the other device may not be what it says."
    ),
    "m.user_mismatch": gettext_noop("The other device does not belong to whom it should."),
    "m.invalid_message": gettext_noop("A device sent a message that could not be read."),
    "m.accepted": gettext_noop("Another of your devices answered the request."),
    "m.mismatched_commitment": gettext_noop(
        "The other device's key did not match what it committed to."
    ),
    "m.mismatched_sas": gettext_noop("The emoji did not match."),
}


class Phase(StrEnum):
    REQUESTED = "requested"  # a request sent or received, not answered yet
    READY = "ready"  # accepted: either side may start comparing emoji
    STARTED = "started"  # keys being exchanged
    SHOWING = "showing"  # the emoji are known: the person compares them
    CONFIRMED = "confirmed"  # "they match" (our MAC sent): waiting for the other side
    DONE = "done"
    CANCELLED = "cancelled"


FINISHED = (Phase.DONE, Phase.CANCELLED)


@dataclass(eq=False)
class Verification:
    """One verification (a to-device transaction) with one other device."""

    transaction_id: str
    other_user_id: str
    other_device_id: str  # "" until a device answers our request to several
    incoming: bool  # the other device asked
    methods: list[str] = field(default_factory=list)
    requested_devices: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    # An incoming request is dismissed if not answered by then.
    prompt_until: float = 0.0
    phase: Phase = Phase.REQUESTED
    # The keys being verified, fixed when the SAS begins.
    their_device_key: str = ""
    their_curve_key: str = ""
    their_master_key: str | None = None
    our_master_key: str | None = None
    we_were_verified: bool = False
    # SAS.
    we_started: bool = False
    start: dict[str, Any] | None = None
    agreement: sas.Agreement | None = None
    sas: Any = None  # vodozemac.Sas, then vodozemac.EstablishedSas
    our_key: str = ""
    their_key: str = ""
    their_commitment: str = ""
    emoji: list[tuple[str, str]] = field(default_factory=list)
    decimals: tuple[int, int, int] | None = None
    their_mac: dict[str, Any] | None = None
    we_confirmed: bool = False
    master_verified: bool = False
    done_sent: bool = False
    done_received: bool = False
    # How it ended.
    cancel_code: str = ""
    cancelled_by_us: bool = False
    outcome: str = ""
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.phase not in FINISHED

    @property
    def supported(self) -> bool:
        return sas.SAS_V1 in self.methods

    @property
    def cancel_text(self) -> str:
        words = CANCEL_WORDS.get(self.cancel_code, CANCEL_WORDS["m.user"])
        if self.cancel_code == "m.user":
            words = (
                _("You cancelled the verification.")
                if self.cancelled_by_us
                else _("The other device cancelled the verification.")
            )
        return _(words)

    def finish(self, phase: Phase) -> None:
        self.phase = phase
        self.finished = time.monotonic()
        self.sas = None  # the ephemeral secret goes as soon as it is not needed


class VerificationError(errors.MatrixError):
    """A person's action that does not fit the verification's state."""


class Verifications:
    """The verifications of one device, kept in its session's memory."""

    def __init__(self, crypto: DeviceCrypto) -> None:
        self.crypto = crypto
        self.items: dict[str, Verification] = {}
        self.secrets = SecretSharing(crypto, self._hold_session)
        self._lock = asyncio.Lock()
        self._holding = False
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def attach(cls, crypto: DeviceCrypto) -> Verifications:
        """Hang the verifications on an open device: they get its to-device events, and
        nio's own SAS handling stops answering them."""
        verifications = cls(crypto)
        crypto.verifications = verifications
        crypto.to_device_handlers.append(verifications.handle)
        olm = crypto.client.olm
        if olm is not None:
            olm.handle_key_verification = lambda event: None  # type: ignore[method-assign]
        return verifications

    # -- what pages show -------------------------------------------------------------------

    def shown(self) -> list[Verification]:
        """The verifications a page lists: those going on, then those that ended lately,
        newest first."""
        self._expire()
        return sorted(self.items.values(), key=lambda v: (not v.active, -v.created))

    @property
    def busy(self) -> bool:
        """Something is under way (pages refresh while it is)."""
        return any(v.active for v in self.items.values()) or bool(self._tasks) or self.secrets.busy

    def get(self, transaction_id: str) -> Verification:
        found = self.items.get(transaction_id)
        if found is None:
            raise VerificationError(_("There is no such verification (it may have expired)."))
        return found

    # -- what a person does ----------------------------------------------------------------

    async def send_request(self, device_id: str | None = None) -> Verification:
        """Ask the user's other devices (or one) to verify this one."""
        crypto = self.crypto
        me = crypto.user_id
        identity = await crypto.identity(me, refresh=True)
        devices = identity.query.get("device_keys", {}).get(me, {})
        targets = [
            d
            for d, keys in (devices if isinstance(devices, dict) else {}).items()
            if d != crypto.device_id
            and (device_id is None or d == device_id)
            and cross_signing.device_ed25519_key(keys, me, d)
        ]
        if not targets:
            raise VerificationError(
                _("You have no other device with encryption to verify with. Sign in on one first.")
            )
        async with self._lock:
            for other in self.items.values():
                if other.active and not other.incoming:
                    await self._cancel(other, "m.user")
            verification = Verification(
                secrets.token_hex(16), me, "", incoming=False, requested_devices=targets
            )
            verification.methods = [sas.SAS_V1]
            content = {
                "from_device": crypto.device_id,
                "methods": [sas.SAS_V1],
                "timestamp": int(time.time() * 1000),
                "transaction_id": verification.transaction_id,
            }
            await self._send_many(REQUEST, me, targets, content)
            self._add(verification)
        return verification

    async def accept(self, transaction_id: str) -> None:
        """Answer an incoming request: `ready`, then wait for the other device to start (or
        `start` here)."""
        async with self._lock:
            verification = self._expect(transaction_id, Phase.REQUESTED, incoming=True)
            if not verification.supported:
                raise VerificationError(
                    _("The other device offers no way of verifying this client knows.")
                )
            await self._send(
                verification,
                READY,
                {"from_device": self.crypto.device_id, "methods": [sas.SAS_V1]},
            )
            verification.phase = Phase.READY
            self._hold_session()

    async def decline(self, transaction_id: str) -> None:
        async with self._lock:
            verification = self._expect(transaction_id, Phase.REQUESTED, incoming=True)
            await self._cancel(verification, "m.user")

    async def start(self, transaction_id: str) -> None:
        """Begin comparing emoji on a request both sides are ready for."""
        async with self._lock:
            verification = self._expect(transaction_id, Phase.READY)
            await self._start_sas(verification)

    async def confirm(self, transaction_id: str) -> None:
        """The person says the emoji match: send our MAC (and check theirs if it came)."""
        async with self._lock:
            verification = self._expect(transaction_id, Phase.SHOWING)
            await self._send_mac(verification)
            if verification.their_mac is not None:
                await self._check_mac(verification)

    async def mismatch(self, transaction_id: str) -> None:
        async with self._lock:
            verification = self._expect(transaction_id, Phase.SHOWING)
            await self._cancel(verification, "m.mismatched_sas")

    async def cancel(self, transaction_id: str) -> None:
        async with self._lock:
            verification = self.get(transaction_id)
            if verification.active:
                await self._cancel(verification, "m.user")

    def _expect(
        self, transaction_id: str, phase: Phase, *, incoming: bool | None = None
    ) -> Verification:
        verification = self.get(transaction_id)
        if verification.phase != phase or (
            incoming is not None and verification.incoming != incoming
        ):
            if not verification.active:
                raise VerificationError(_("This verification has already ended."))
            raise VerificationError(_("This verification has moved on: reload the page."))
        return verification

    # -- to-device events ------------------------------------------------------------------

    async def handle(self, event: dict[str, Any]) -> None:
        """Every to-device event nio does not consume (`DeviceCrypto.to_device_handlers`)."""
        kind = str(event.get("type", ""))
        if kind.startswith("m.secret."):
            await self.secrets.handle(event)
            return
        if not kind.startswith(PREFIX):
            return
        content = event.get("content")
        sender = event.get("sender")
        if not isinstance(content, dict) or not isinstance(sender, str):
            return
        transaction_id = content.get("transaction_id")
        if not isinstance(transaction_id, str) or not transaction_id:
            return
        async with self._lock:
            for timed_out in self._expire():
                await self._cancel(timed_out, "m.timeout")
            if kind == REQUEST:
                await self._on_request(sender, content, transaction_id)
                return
            verification = self.items.get(transaction_id)
            if verification is None or verification.other_user_id != sender:
                logger.info("%s for an unknown verification from %s ignored", kind, sender)
                return
            if not verification.active:
                return
            handler = {
                READY: self._on_ready,
                START: self._on_start,
                ACCEPT: self._on_accept,
                KEY: self._on_key,
                MAC: self._on_mac,
                DONE: self._on_done,
                CANCEL: self._on_cancel,
            }.get(kind)
            if handler is not None:
                await handler(verification, content)
            self._hold_session()

    async def _on_request(self, sender: str, content: dict[str, Any], transaction_id: str) -> None:
        crypto = self.crypto
        from_device = content.get("from_device")
        methods = content.get("methods")
        timestamp = content.get("timestamp")
        if not isinstance(from_device, str) or not isinstance(methods, list):
            return
        if sender == crypto.user_id and from_device == crypto.device_id:
            return  # our own request
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            return
        age = time.time() - timestamp / 1000
        if age > REQUEST_MAX_AGE or age < -REQUEST_MAX_AHEAD:
            logger.info("a verification request from %s was too old or too new", sender)
            return
        if transaction_id in self.items:
            return
        # A device asking again replaces its earlier request.
        for other in list(self.items.values()):
            if (
                other.active
                and other.other_user_id == sender
                and other.other_device_id == (from_device)
            ):
                await self._cancel(other, "m.user")
        verification = Verification(transaction_id, sender, from_device, incoming=True)
        verification.methods = [m for m in methods if isinstance(m, str)]
        # Dismissed 2 minutes after it arrived or 10 minutes after it was sent, if sooner.
        verification.prompt_until = verification.created + min(
            PROMPT_LIFETIME, REQUEST_MAX_AGE - max(0.0, age)
        )
        self._add(verification)
        logger.info("verification request %s from %s %s", transaction_id, sender, from_device)

    async def _on_ready(self, verification: Verification, content: dict[str, Any]) -> None:
        from_device = content.get("from_device")
        if verification.incoming or not isinstance(from_device, str):
            await self._cancel(verification, "m.unexpected_message")
            return
        if verification.phase != Phase.REQUESTED:
            # A second device answered too late: tell it another one did.
            if from_device != verification.other_device_id:
                await self._send_many(
                    CANCEL,
                    verification.other_user_id,
                    [from_device],
                    self._cancel_content(verification, "m.accepted"),
                )
            return
        if from_device not in verification.requested_devices:
            return
        verification.other_device_id = from_device
        methods = content.get("methods")
        verification.methods = (
            [m for m in methods if isinstance(m, str)] if isinstance(methods, list) else []
        )
        others = [d for d in verification.requested_devices if d != from_device]
        if others:
            await self._send_many(
                CANCEL,
                verification.other_user_id,
                others,
                self._cancel_content(verification, "m.accepted"),
            )
        if not verification.supported:
            await self._cancel(verification, "m.unknown_method")
            return
        verification.phase = Phase.READY
        # Only SAS in common: we asked, so we begin (the spec lets a side auto-select).
        await self._start_sas(verification)

    async def _start_sas(self, verification: Verification) -> None:
        if not await self._fix_keys(verification):
            return
        content = sas.start_content(verification.transaction_id, self.crypto.device_id)
        verification.we_started = True
        verification.start = content
        verification.phase = Phase.STARTED
        await self._send(verification, START, content)

    async def _on_start(self, verification: Verification, content: dict[str, Any]) -> None:
        crypto = self.crypto
        from_device = content.get("from_device")
        if from_device != verification.other_device_id:
            await self._cancel(verification, "m.unexpected_message")
            return
        if verification.phase == Phase.STARTED and verification.we_started:
            if verification.their_commitment:
                await self._cancel(verification, "m.unexpected_message")
                return
            # Both started: the start of the smaller user ID (then device ID) wins.
            if content.get("method") != sas.SAS_V1:
                await self._cancel(verification, "m.unexpected_message")
                return
            ours = (crypto.user_id, crypto.device_id)
            if ours < (verification.other_user_id, str(from_device)):
                return
        elif verification.phase != Phase.READY:
            await self._cancel(verification, "m.unexpected_message")
            return
        agreement = sas.choose(content)
        if agreement is None:
            await self._cancel(verification, "m.unknown_method")
            return
        if not verification.their_device_key and not await self._fix_keys(verification):
            return
        verification.we_started = False
        verification.start = dict(content)
        verification.agreement = agreement
        verification.sas = vodozemac.Sas()
        verification.our_key = verification.sas.public_key.to_base64()
        verification.phase = Phase.STARTED
        await self._send(
            verification,
            ACCEPT,
            agreement.accept_content(
                verification.transaction_id, sas.commitment(verification.our_key, content)
            ),
        )

    async def _on_accept(self, verification: Verification, content: dict[str, Any]) -> None:
        if (
            verification.phase != Phase.STARTED
            or not verification.we_started
            or verification.their_commitment
        ):
            await self._cancel(verification, "m.unexpected_message")
            return
        agreement = sas.check_accept(content)
        if agreement is None:
            await self._cancel(verification, "m.unknown_method")
            return
        verification.agreement = agreement
        verification.their_commitment = str(content["commitment"])
        verification.sas = vodozemac.Sas()
        verification.our_key = verification.sas.public_key.to_base64()
        await self._send(verification, KEY, {"key": verification.our_key})

    async def _on_key(self, verification: Verification, content: dict[str, Any]) -> None:
        key = content.get("key")
        expected = verification.phase == Phase.STARTED and verification.sas is not None
        if verification.we_started and not verification.their_commitment:
            expected = False
        if not expected or verification.their_key:
            await self._cancel(verification, "m.unexpected_message")
            return
        if not isinstance(key, str):
            await self._cancel(verification, "m.invalid_message")
            return
        assert verification.start is not None
        if verification.we_started and not sas.same(
            sas.commitment(key, verification.start), verification.their_commitment
        ):
            await self._cancel(verification, "m.mismatched_commitment")
            return
        try:
            established = verification.sas.diffie_hellman(
                vodozemac.Curve25519PublicKey.from_base64(key)
            )
        except Exception:  # noqa: BLE001 - vodozemac's key and SAS exceptions
            await self._cancel(verification, "m.invalid_message")
            return
        verification.their_key = key
        verification.sas = established
        if not verification.we_started:
            await self._send(verification, KEY, {"key": verification.our_key})
        crypto = self.crypto
        ours = (crypto.user_id, crypto.device_id, verification.our_key)
        theirs = (verification.other_user_id, verification.other_device_id, key)
        starter, accepter = (ours, theirs) if verification.we_started else (theirs, ours)
        info = sas.sas_info(starter, accepter, verification.transaction_id)
        verification.emoji, verification.decimals = sas.short_strings(established, info)
        verification.phase = Phase.SHOWING

    async def _send_mac(self, verification: Verification) -> None:
        crypto = self.crypto
        olm = crypto.client.olm
        assert olm is not None and verification.agreement is not None
        keys = {f"ed25519:{crypto.device_id}": olm.account.identity_keys["ed25519"]}
        if verification.our_master_key:
            keys[f"ed25519:{verification.our_master_key}"] = verification.our_master_key
        info = sas.mac_info(
            (crypto.user_id, crypto.device_id),
            (verification.other_user_id, verification.other_device_id),
            verification.transaction_id,
        )
        content = sas.mac_content(
            verification.sas,
            verification.agreement.mac_method,
            info,
            keys,
            verification.transaction_id,
        )
        await self._send(verification, MAC, content)
        verification.we_confirmed = True
        verification.phase = Phase.CONFIRMED

    async def _on_mac(self, verification: Verification, content: dict[str, Any]) -> None:
        if verification.phase not in (Phase.SHOWING, Phase.CONFIRMED) or verification.their_mac:
            await self._cancel(verification, "m.unexpected_message")
            return
        verification.their_mac = content
        if verification.we_confirmed:
            await self._check_mac(verification)

    async def _check_mac(self, verification: Verification) -> None:
        """Their MAC against the keys fixed when the SAS began; `done` when it holds."""
        crypto = self.crypto
        content = verification.their_mac or {}
        macs = content.get("mac")
        assert verification.agreement is not None
        method = verification.agreement.mac_method
        established = verification.sas
        info = sas.mac_info(
            (verification.other_user_id, verification.other_device_id),
            (crypto.user_id, crypto.device_id),
            verification.transaction_id,
        )
        device_key_id = f"ed25519:{verification.other_device_id}"
        if (
            not isinstance(macs, dict)
            or device_key_id not in macs
            or not sas.mac_matches(
                established, method, ",".join(sorted(macs)), info + "KEY_IDS", content.get("keys")
            )
        ):
            await self._cancel(verification, "m.key_mismatch")
            return
        master_id = (
            f"ed25519:{verification.their_master_key}" if verification.their_master_key else None
        )
        for key_id, mac in macs.items():
            if key_id == device_key_id:
                key = verification.their_device_key
            elif key_id == master_id:
                key = verification.their_master_key or ""
            else:
                continue  # a key we do not know is not verified, and not a failure
            if not sas.mac_matches(established, method, key, info + key_id, mac):
                await self._cancel(verification, "m.key_mismatch")
                return
            if key_id == master_id:
                verification.master_verified = True
        if verification.other_user_id == crypto.user_id:
            # Proven now: its secret requests (sent right after its MAC) get answered.
            self.secrets.trust(verification.other_device_id, verification.their_curve_key)
        await self._send(verification, DONE, {})
        verification.done_sent = True
        self._maybe_done(verification)

    async def _on_done(self, verification: Verification, content: dict[str, Any]) -> None:
        if verification.phase not in (Phase.SHOWING, Phase.CONFIRMED):
            await self._cancel(verification, "m.unexpected_message")
            return
        verification.done_received = True
        self._maybe_done(verification)

    def _maybe_done(self, verification: Verification) -> None:
        if not (verification.done_sent and verification.done_received):
            return
        me = self.crypto.user_id
        if verification.other_user_id != me:
            verification.outcome = _("%(user)s's device %(device)s is now verified.") % {
                "user": verification.other_user_id,
                "device": verification.other_device_id,
            }
        elif verification.we_were_verified:
            verification.outcome = _("Your device %(device)s is now verified.") % {
                "device": verification.other_device_id
            }
        else:
            verification.outcome = _("This device is now verified.")
        verification.finish(Phase.DONE)
        logger.info(
            "verified %s %s (%s)",
            verification.other_user_id,
            verification.other_device_id,
            verification.transaction_id,
        )
        self._spawn(self._after_verified(verification))

    async def _on_cancel(self, verification: Verification, content: dict[str, Any]) -> None:
        code = content.get("code")
        verification.cancel_code = code if isinstance(code, str) else "m.user"
        verification.cancelled_by_us = False
        if (
            not verification.incoming
            and verification.phase == Phase.REQUESTED
            and len(verification.requested_devices) > 1
        ):
            # One of several devices declined: the request is over at the others too.
            await self._send_many(
                CANCEL,
                verification.other_user_id,
                verification.requested_devices,
                self._cancel_content(verification, "m.user"),
            )
        verification.finish(Phase.CANCELLED)
        logger.info(
            "verification %s cancelled by the other side: %s",
            verification.transaction_id,
            verification.cancel_code,
        )

    # -- the keys being verified -----------------------------------------------------------

    async def _fix_keys(self, verification: Verification) -> bool:
        """Take the other device's keys (and the users' master keys) as they are now: the
        MACs are checked against these, whatever the server says later."""
        crypto = self.crypto
        user_id, device_id = verification.other_user_id, verification.other_device_id
        identity = await crypto.identity(user_id, refresh=True)
        devices = identity.query.get("device_keys", {}).get(user_id, {})
        keys = devices.get(device_id) if isinstance(devices, dict) else None
        ed25519 = cross_signing.device_ed25519_key(keys, user_id, device_id)
        if ed25519 is None or device_id in cross_signing.device_id_collisions(
            identity.query, user_id
        ):
            logger.warning("no usable keys for %s %s: cancelling", user_id, device_id)
            await self._cancel(verification, "m.key_mismatch")
            return False
        assert isinstance(keys, dict)
        verification.their_device_key = ed25519
        verification.their_curve_key = str(keys.get("keys", {}).get(f"curve25519:{device_id}", ""))
        verification.their_master_key = identity.master_key
        own = identity if user_id == crypto.user_id else await crypto.identity(crypto.user_id)
        verification.we_were_verified = own.device_cross_signed(crypto.device_id)
        verification.our_master_key = self._trusted_master(own, verification.we_were_verified)
        return True

    def _trusted_master(self, own: Any, device_cross_signed: bool) -> str | None:
        """Our master key, when this device has reason to vouch for it: it holds the
        private key, or it is itself cross-signed under it (as Element: an unverified device
        MACs only its device key)."""
        master = own.master_key
        if master is None:
            return None
        held = self.crypto.store.load_secret(secret_storage.CROSS_SIGNING_MASTER)
        if held:
            try:
                if cross_signing.private_key_matches(held.decode(), master):
                    return master
            except CryptoError:
                pass
        return master if device_cross_signed else None

    # -- after a verification --------------------------------------------------------------

    async def _after_verified(self, verification: Verification) -> None:
        crypto = self.crypto
        user_id, device_id = verification.other_user_id, verification.other_device_id
        await self._mark_in_nio(verification)
        if user_id == crypto.user_id:
            self.secrets.trust(device_id, verification.their_curve_key)
            await self._sign_own_device(verification)
            identity = await crypto.identity(crypto.user_id, refresh=True)
            missing = self.secrets.missing()
            if missing and identity.device_cross_signed(device_id):
                await self.secrets.request(missing)
        elif verification.master_verified:
            await self._sign_their_master(verification)
        self._hold_session()

    async def _mark_in_nio(self, verification: Verification) -> None:
        client = self.crypto.client
        olm = client.olm
        if olm is None:
            return
        user_id, device_id = verification.other_user_id, verification.other_device_id
        device = olm.device_store[user_id].get(device_id)
        if device is None:
            olm.users_for_key_query.add(user_id)
            try:
                await client.keys_query()
            except Exception as exc:  # noqa: BLE001 - the sync loop may have asked already
                logger.info("querying the keys of %s failed: %s", user_id, exc)
            device = olm.device_store[user_id].get(device_id)
        if device is not None and device.ed25519 == verification.their_device_key:
            olm.verify_device(device)

    async def _sign_own_device(self, verification: Verification) -> None:
        """This device holds the self-signing key: cross-sign the device just verified."""
        crypto = self.crypto
        held = crypto.store.load_secret(secret_storage.CROSS_SIGNING_SELF_SIGNING)
        if not held:
            return
        me, device_id = crypto.user_id, verification.other_device_id
        identity = await crypto.identity(me, refresh=True)
        published = cross_signing.self_signing_key_of(identity.query, me)
        keys = identity.query.get("device_keys", {}).get(me, {}).get(device_id)
        if (
            not published
            or identity.device_cross_signed(device_id)
            or cross_signing.device_ed25519_key(keys, me, device_id)
            != verification.their_device_key
        ):
            return
        try:
            private = cross_signing.private_key_from_secret(held.decode())
            if not cross_signing.private_key_matches(private, published):
                return
            signed = cross_signing.sign_device(keys, me, private)
            await crypto.session.api.upload_signatures(
                cross_signing.build_signatures_upload(signed),
                action=_("Cross-signing your other device"),
            )
        except (CryptoError, errors.MatrixError) as exc:
            logger.warning("cross-signing device %s failed: %s", device_id, exc)
            return
        await crypto.identity(me, refresh=True)
        self.secrets.notes.append(
            _("Your device %(device)s is now cross-signed.") % {"device": device_id}
        )

    async def _sign_their_master(self, verification: Verification) -> None:
        """Another user's master key, proven by their MAC: sign it with our user-signing key
        (when this device holds it), so all our devices trust them."""
        crypto = self.crypto
        held = crypto.store.load_secret(secret_storage.CROSS_SIGNING_USER_SIGNING)
        if not held or not verification.their_master_key:
            return
        me, them = crypto.user_id, verification.other_user_id
        own = await crypto.identity(me, refresh=True)
        identity = await crypto.identity(them, refresh=True)
        if identity.master_key != verification.their_master_key:
            return
        published = cross_signing.user_signing_key_of(own.query, me)
        master = identity.query.get("master_keys", {}).get(them)
        try:
            private = cross_signing.private_key_from_secret(held.decode())
            if not published or not cross_signing.private_key_matches(private, published):
                return
            signed = cross_signing.sign_master_key(master, me, private)
            await crypto.session.api.upload_signatures(
                cross_signing.build_signatures_upload(signed), action=_("Verifying %s") % them
            )
        except (CryptoError, errors.MatrixError, ValueError) as exc:
            logger.warning("signing the master key of %s failed: %s", them, exc)

    # -- sending, cancelling, time ---------------------------------------------------------

    async def _send(self, verification: Verification, kind: str, content: dict[str, Any]) -> None:
        await self._send_many(
            kind,
            verification.other_user_id,
            [verification.other_device_id],
            {**content, "transaction_id": verification.transaction_id},
        )

    async def _send_many(
        self, kind: str, user_id: str, device_ids: list[str], content: dict[str, Any]
    ) -> None:
        messages = {user_id: {device_id: content for device_id in device_ids}}
        await self.crypto.session.api.send_to_device(kind, messages, new_txn_id("wcv"))

    @staticmethod
    def _cancel_content(verification: Verification, code: str) -> dict[str, Any]:
        return {
            "transaction_id": verification.transaction_id,
            "code": code,
            "reason": CANCEL_WORDS.get(code, "Cancelled"),
        }

    async def _cancel(self, verification: Verification, code: str) -> None:
        """End a verification on both sides with `code`."""
        verification.cancel_code = code
        verification.cancelled_by_us = True
        verification.finish(Phase.CANCELLED)
        targets = (
            [verification.other_device_id]
            if verification.other_device_id
            else verification.requested_devices
        )
        try:
            await self._send_many(
                CANCEL,
                verification.other_user_id,
                targets,
                self._cancel_content(verification, code),
            )
        except errors.MatrixError as exc:
            logger.info("sending a verification cancel failed: %s", exc)
        logger.info("verification %s cancelled here: %s", verification.transaction_id, code)
        self._hold_session()

    def _add(self, verification: Verification) -> None:
        self.items[verification.transaction_id] = verification
        loop = asyncio.get_running_loop()
        for delay in (PROMPT_LIFETIME, TIMEOUT):
            loop.call_later(delay + 1, self._spawn_expiry)
        self._hold_session()

    def _spawn_expiry(self) -> None:
        if self.crypto.ready:
            self._spawn(self._expire_now())

    async def _expire_now(self) -> None:
        async with self._lock:
            for verification in self._expire():
                await self._cancel(verification, "m.timeout")
            self._hold_session()

    def _expire(self) -> list[Verification]:
        """Forget old finished verifications, dismiss unanswered incoming requests; the
        verifications that ran out of time (the caller cancels them)."""
        now = time.monotonic()
        timed_out = []
        for transaction_id, verification in list(self.items.items()):
            if verification.finished is not None and now - verification.finished > KEEP_FINISHED:
                del self.items[transaction_id]
            elif not verification.active:
                continue
            elif (
                verification.incoming
                and verification.phase == Phase.REQUESTED
                and now > verification.prompt_until
            ):
                verification.cancel_code = "m.timeout"
                verification.finish(Phase.CANCELLED)  # dismissed without a word, as Element
            elif now - verification.created > TIMEOUT:
                timed_out.append(verification)
        return timed_out

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._logged(work))
        self._tasks.add(task)

        def finished(task: asyncio.Task[Any]) -> None:
            self._tasks.discard(task)
            self._hold_session()

        task.add_done_callback(finished)

    @staticmethod
    async def _logged(work: Any) -> None:
        try:
            await work
        except Exception:
            logger.exception("work after a verification failed")

    def _hold_session(self) -> None:
        """Keep the session (and so this state) alive while something is under way, even
        with no page open; let it go idle again afterwards."""
        session = self.crypto.session
        busy = self.busy and not session.closed
        if busy and not self._holding:
            self._holding = True
            session.attach()
        elif not busy and self._holding:
            self._holding = False
            session.detach()


def of(session: MatrixSession) -> Verifications:
    """The device's verifications; `MatrixError` when this device cannot encrypt."""
    crypto = session.crypto
    verifications = crypto.verifications if crypto is not None and crypto.ready else None
    if verifications is None:
        problem = crypto.problem if crypto is not None else _("Encryption is turned off here.")
        raise errors.MatrixError(
            _("This device cannot use encryption: %(problem)s") % {"problem": problem},
            errcode="W_E2E_NOT_READY",
        )
    return verifications
