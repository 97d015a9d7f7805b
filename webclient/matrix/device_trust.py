"""Becoming a verified device: with the account's recovery key (or passphrase), or by
setting up cross-signing for an account that has none; and the device's encryption state.

With a recovery key, as Element does: read the default secret storage key's description,
turn what the person typed into the key (checked against the description), decrypt the
self-signing key and the backup key from the account data, check them against what the
homeserver publishes, sign this device with the self-signing key, keep the backup key (in the
device's store, encrypted at rest), restore the room keys from the backup and from then on
back up the keys this device receives. The recovery key is used in memory and forgotten: it
is never stored, logged or shown again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from . import errors, uia
from .crypto import backup as key_backup
from .crypto import cross_signing, secret_storage, signing
from .crypto.errors import CryptoError
from .crypto.recovery import encode_recovery_key
from .encryption import BACKUP_ALGORITHM, STATE_BACKUP_VERSION, DeviceCrypto

if TYPE_CHECKING:
    from .session import MatrixSession

logger = logging.getLogger("webclient.matrix.encryption")

NO_SECRET_STORAGE = "W_NO_SECRET_STORAGE"  # noqa: S105 - an error code
NOT_READY = "W_E2E_NOT_READY"


@dataclass
class EncryptionState:
    """What the encryption settings page shows about this device."""

    enabled: bool
    problem: str
    device_id: str
    identity_key: str
    cross_signed: bool
    account_has_cross_signing: bool
    backup_version: str
    backup_on: bool
    room_keys: int


def _crypto(session: MatrixSession) -> DeviceCrypto:
    crypto = session.crypto
    if crypto is None or not crypto.ready:
        problem = crypto.problem if crypto is not None else _("Encryption is turned off here.")
        raise errors.MatrixError(
            _("This device cannot use encryption: %(problem)s") % {"problem": problem},
            errcode=NOT_READY,
        )
    return crypto


async def state(session: MatrixSession) -> EncryptionState:
    crypto = session.crypto
    if crypto is not None:
        await crypto.wait_settled()
    if crypto is None or not crypto.ready:
        return EncryptionState(
            enabled=False,
            problem=crypto.problem if crypto is not None else "",
            device_id=session.device_id or "",
            identity_key="",
            cross_signed=False,
            account_has_cross_signing=False,
            backup_version="",
            backup_on=False,
            room_keys=0,
        )
    identity = await crypto.identity(session.user_id, refresh=True)
    backup = crypto.backup_key()
    olm = crypto.client.olm
    assert olm is not None
    return EncryptionState(
        enabled=True,
        problem=crypto.problem,
        device_id=crypto.device_id,
        identity_key=olm.account.identity_keys["ed25519"],
        cross_signed=identity.device_cross_signed(crypto.device_id),
        account_has_cross_signing=identity.master_key is not None,
        backup_version=backup[0] if backup else "",
        backup_on=backup is not None,
        room_keys=crypto.key_count(),
    )


async def ready_crypto(session: MatrixSession) -> DeviceCrypto:
    """The session's encryption, once it has opened (a session started a moment ago is still
    taking its lease and loading its store)."""
    if session.crypto is not None:
        await session.crypto.wait_settled()
    return _crypto(session)


def _crypto_error(exc: CryptoError) -> errors.MatrixError:
    """A recovery key problem in words, with nothing changed."""
    return errors.MatrixError(
        _("%(problem)s Nothing was changed.") % {"problem": str(exc)}, errcode="W_RECOVERY_KEY"
    )


async def _account_data(session: MatrixSession, event_type: str) -> dict[str, Any] | None:
    try:
        return await session.api.account_data(session.user_id, event_type)
    except errors.NotFound:
        return None


async def verify_with_recovery_key(session: MatrixSession, typed: str) -> dict[str, Any]:
    """Sign this device with the account's self-signing key from secret storage, and take
    up the key backup. Returns what was done: {"restored": room keys from the backup,
    "backup_version"}. A wrong key raises `MatrixError` and changes nothing."""
    crypto = await ready_crypto(session)
    default = await _account_data(session, secret_storage.DEFAULT_KEY_EVENT)
    key_id = default.get("key") if default else None
    if not isinstance(key_id, str):
        raise errors.MatrixError(
            _(
                "This account has no recovery key yet (no secret storage). Set up "
                "cross-signing below, or verify with another device."
            ),
            errcode=NO_SECRET_STORAGE,
        )
    description = await _account_data(session, secret_storage.KEY_EVENT_PREFIX + key_id)
    if description is None:
        raise errors.MatrixError(
            _("The account's secret storage key is missing its description."),
            errcode=NO_SECRET_STORAGE,
        )
    try:
        key = secret_storage.key_from_user_input(typed, description)
        secrets_found = {}
        for name in (
            secret_storage.CROSS_SIGNING_SELF_SIGNING,
            secret_storage.CROSS_SIGNING_USER_SIGNING,
            secret_storage.CROSS_SIGNING_MASTER,
            secret_storage.MEGOLM_BACKUP,
        ):
            content = await _account_data(session, name)
            if content is not None:
                try:
                    secrets_found[name] = secret_storage.decrypt_stored_secret(
                        name, content, key_id, key
                    )
                except CryptoError:
                    if name == secret_storage.CROSS_SIGNING_SELF_SIGNING:
                        raise
        if secret_storage.CROSS_SIGNING_SELF_SIGNING not in secrets_found:
            raise errors.MatrixError(
                _("The account's secret storage holds no self-signing key to verify with."),
                errcode=NO_SECRET_STORAGE,
            )
    except CryptoError as exc:
        raise _crypto_error(exc) from exc
    finally:
        del typed
    await sign_own_device(session, secrets_found[secret_storage.CROSS_SIGNING_SELF_SIGNING])
    for name, value in secrets_found.items():
        if name != secret_storage.MEGOLM_BACKUP:
            crypto.store.save_secret(name, value.encode())
    restored, version = 0, ""
    if backup_secret := secrets_found.get(secret_storage.MEGOLM_BACKUP):
        version = await take_up_backup(session, backup_secret)
        restored = await restore_backup(session)
    logger.info("device %s verified with the recovery key", crypto.device_id)
    return {"restored": restored, "backup_version": version}


async def verify_new_device(session: MatrixSession, typed: str, timeout: float = 30.0) -> None:
    """Verify a device that was just signed in (a kiosk screen's) with the recovery key, once
    its encryption is up and its keys are on the homeserver."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while session.crypto is not None and not session.crypto.ready and not session.closed:
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
    crypto = await ready_crypto(session)
    while True:
        identity = await crypto.identity(session.user_id, refresh=True)
        own = identity.query.get("device_keys", {}).get(session.user_id, {})
        if crypto.device_id in own:
            break
        if loop.time() > deadline:
            raise errors.MatrixError(
                _("The new device's keys did not reach the homeserver in time."),
                errcode="W_NO_DEVICE_KEYS",
            )
        await asyncio.sleep(0.5)
    await verify_with_recovery_key(session, typed)


async def sign_own_device(session: MatrixSession, self_signing_secret: str) -> None:
    """Sign this device's keys with the self-signing key (checked against the published one)."""
    crypto = await ready_crypto(session)
    identity = await crypto.identity(session.user_id, refresh=True)
    published = cross_signing.self_signing_key_of(identity.query, session.user_id)
    try:
        private = cross_signing.private_key_from_secret(self_signing_secret)
    except CryptoError as exc:
        raise _crypto_error(exc) from exc
    if not published or not cross_signing.private_key_matches(private, published):
        raise errors.MatrixError(
            _(
                "The self-signing key in secret storage is not the one the homeserver "
                "publishes (the account's cross-signing was reset). Nothing was changed."
            ),
            errcode="W_STALE_SECRET",
        )
    device_keys = (
        identity.query.get("device_keys", {}).get(session.user_id, {}).get(crypto.device_id)
    )
    if not isinstance(device_keys, dict):
        # Keys not uploaded yet: upload them first (nio does on the next sync).
        raise errors.MatrixError(
            _("This device's keys are not on the homeserver yet. Try again in a moment."),
            errcode="W_NO_DEVICE_KEYS",
        )
    signed = cross_signing.sign_device(device_keys, session.user_id, private)
    await session.api.upload_signatures(
        cross_signing.build_signatures_upload(signed), action=_("Verifying this device")
    )
    await crypto.identity(session.user_id, refresh=True)


async def take_up_backup(session: MatrixSession, backup_secret: str) -> str:
    """Keep the backup's private key (checked against the current backup version); its
    version."""
    crypto = await ready_crypto(session)
    try:
        private = key_backup.backup_key_from_secret(backup_secret)
    except CryptoError as exc:
        raise _crypto_error(exc) from exc
    try:
        version = await session.api.backup_version()
    except errors.NotFound:
        return ""
    if version.get("algorithm") != BACKUP_ALGORITHM or not key_backup.key_matches_backup(
        private, version.get("auth_data") or {}
    ):
        logger.info("the backup key in secret storage is for another backup version")
        return ""
    number = str(version.get("version", ""))
    crypto.store.save_secret(secret_storage.MEGOLM_BACKUP, private)
    crypto.store.save_secret(STATE_BACKUP_VERSION, number.encode())
    return number


async def restore_backup(session: MatrixSession) -> int:
    """After taking up the backup: import its room keys, decrypt the events that waited for
    them on every open page, and back up what this device has that the backup lacks. How
    many keys were new."""
    crypto = await ready_crypto(session)
    restored = await crypto.restore_from_backup()
    healed = set(crypto._new_sessions)
    crypto._new_sessions.clear()
    if healed:
        await session.heal(healed)
    await crypto.back_up_keys()
    return restored


async def set_up_cross_signing(session: MatrixSession, password: str) -> str:
    """For an account without cross-signing: make its keys (uploaded with the password),
    secret storage with a new recovery key, and a key backup; sign this device. Returns the
    recovery key, to be shown once."""
    crypto = await ready_crypto(session)
    identity = await crypto.identity(session.user_id, refresh=True)
    if identity.master_key is not None:
        raise errors.MatrixError(
            _(
                "This account already has cross-signing: verify this device with its "
                "recovery key or from another device."
            ),
            errcode="W_HAS_CROSS_SIGNING",
        )
    olm = crypto.client.olm
    assert olm is not None
    keys = cross_signing.CrossSigningKeys.generate()
    body = cross_signing.build_device_signing_upload(
        session.user_id,
        keys,
        device_id=crypto.device_id,
        # nio's account signs text; canonical JSON is UTF-8.
        device_signer=lambda message: olm.account.sign(message.decode()),
    )
    action = _("Setting up cross-signing")
    await uia.with_password(
        session.api,
        session.user_id,
        session.api.upload_cross_signing_keys,
        body,
        password,
        action=action,
    )
    # Secret storage: a new key, the cross-signing secrets and the backup key under it.
    storage_key = secrets.token_bytes(32)
    key_id, description = secret_storage.new_key_description(storage_key, name="webclient")
    api, me = session.api, session.user_id
    await api.set_account_data(me, secret_storage.KEY_EVENT_PREFIX + key_id, description)
    backup_key = key_backup.new_backup_key()
    auth_data = signing.sign_json(
        key_backup.new_auth_data(backup_key),
        me,
        signing.ed25519_key_id(keys.master_public),
        keys.master,
    )
    version = await api.create_backup_version(BACKUP_ALGORITHM, auth_data)
    stored = {
        **keys.secrets(),
        secret_storage.MEGOLM_BACKUP: key_backup.backup_key_to_secret(backup_key),
    }
    for name, value in stored.items():
        await api.set_account_data(
            me, name, secret_storage.encrypt_stored_secret(name, value, {key_id: storage_key})
        )
    await api.set_account_data(me, secret_storage.DEFAULT_KEY_EVENT, {"key": key_id})
    for name, value in keys.secrets().items():
        crypto.store.save_secret(name, value.encode())
    crypto.store.save_secret(secret_storage.MEGOLM_BACKUP, backup_key)
    crypto.store.save_secret(STATE_BACKUP_VERSION, version.encode())
    await sign_own_device(session, keys.secrets()[secret_storage.CROSS_SIGNING_SELF_SIGNING])
    await crypto.back_up_keys()
    logger.info("cross-signing set up for %s from device %s", me, crypto.device_id)
    return encode_recovery_key(storage_key)


# -- room key files (Element's export format) --------------------------------------------------

#: Marks, in a session's forwarding chain, a key imported from a file: not authenticated by
#: its sender, like a key from the backup.
FROM_FILE = "webclient:import"


def export_room_keys(session: MatrixSession, passphrase: str) -> str:
    """Every room key this device holds, as Element's passphrase-encrypted export file."""
    from .crypto import key_export
    from .encryption import MEGOLM, _all_group_sessions

    crypto = _crypto(session)
    olm = crypto.client.olm
    assert olm is not None
    exported = [
        {
            "algorithm": MEGOLM,
            "room_id": group.room_id,
            "sender_key": group.sender_key,
            "session_id": group.id,
            "session_key": group.export_session(group.first_known_index),
            "sender_claimed_keys": {"ed25519": group.ed25519},
            "forwarding_curve25519_key_chain": [
                key for key in group.forwarding_chain if not key.startswith("webclient:")
            ],
        }
        for groups in _all_group_sessions(olm)
        for group in groups
    ]
    return key_export.export_keys(exported, passphrase)


async def import_room_keys(session: MatrixSession, text: str, passphrase: str) -> int:
    """Add the room keys of an export file (Element's format); how many were new. Events
    waiting for them are decrypted on every open page."""
    from nio.crypto import InboundGroupSession

    from .crypto import key_export

    crypto = await ready_crypto(session)
    olm = crypto.client.olm
    assert olm is not None
    try:
        sessions = key_export.import_keys(text, passphrase)
    except CryptoError as exc:
        raise errors.MatrixError(
            _("%(problem)s No keys were imported.") % {"problem": str(exc)},
            errcode="W_KEY_FILE",
        ) from exc
    added = 0
    for item in sessions:
        try:
            group = InboundGroupSession.import_session(
                item["session_key"],
                item["sender_claimed_keys"]["ed25519"],
                item["sender_key"],
                item["room_id"],
                [*item.get("forwarding_curve25519_key_chain", []), FROM_FILE],
            )
        except (KeyError, TypeError, ValueError, Exception) as exc:  # noqa: BLE001
            logger.info("a room key of the file could not be read: %s", type(exc).__name__)
            continue
        if olm.inbound_group_store.add(group):
            crypto.store.save_inbound_group_session(group)
            crypto._new_sessions.add((group.room_id, group.id))
            added += 1
    healed = set(crypto._new_sessions)
    crypto._new_sessions.clear()
    if healed:
        await session.heal(healed)
        await crypto.back_up_keys()
    return added


async def trust_display_device(session: MatrixSession, recovery_key: str = "") -> bool:
    """The embeds' display account verifies its own device on first use, so senders who share
    keys only with verified devices reach it: with `recovery_key` (EMBED_DISPLAY_RECOVERY_KEY)
    when the account has cross-signing; by setting cross-signing up when it has none (the
    homeserver lets an account's first cross-signing keys in without a password; the keys stay
    in this device's store and no recovery key is kept); with the self-signing key this
    device kept from that. True when the device is cross-signed."""
    crypto = session.crypto
    if crypto is None or not crypto.ready:
        return False
    if await crypto.own_device_cross_signed():
        return True
    identity = await crypto.identity(session.user_id, refresh=True)
    try:
        if recovery_key and identity.master_key is not None:
            await verify_new_device(session, recovery_key)
        elif identity.master_key is None:
            await set_up_cross_signing(session, password="")
        elif held := crypto.store.load_secret(secret_storage.CROSS_SIGNING_SELF_SIGNING):
            await sign_own_device(session, held.decode())
        else:
            logger.warning(
                "the display account's device is not verified: its cross-signing was set up "
                "elsewhere; set EMBED_DISPLAY_RECOVERY_KEY"
            )
            return False
    except errors.MatrixError as exc:
        logger.warning("the display account's device could not be verified: %s", exc)
        return False
    return await crypto.own_device_cross_signed()
