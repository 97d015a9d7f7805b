"""Server-side key backup, algorithm `m.megolm_backup.v1.curve25519-aes-sha2`.

Each room key is encrypted to the backup's Curve25519 public key (`auth_data.public_key`): an
ephemeral X25519 key agreement, HKDF-SHA-256 (salt 32 zero bytes, empty info) to 80 bytes
(AES-256 key, MAC key, CBC IV), AES-256-CBC with PKCS#7 of the JSON, and an 8-byte MAC.

The MAC is HMAC-SHA-256 over the *empty string*, not the ciphertext: libolm's PkEncryption did
that by mistake, vodozemac copied it for compatibility, and the spec now documents it, so every
real client writes and expects it. It authenticates nothing about the ciphertext; it only tells
a wrong private key from a right one. Decryption also accepts a MAC over the ciphertext (what
the spec text originally described) in case some implementation followed the text.

Anyone with the public key can write to a backup, so keys restored from it must be treated as
unauthenticated by the caller.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils.translation import gettext as _

from ._aes import hkdf_sha256, hmac_sha256, same_bytes
from .encoding import decode_base64, encode_base64
from .errors import MalformedData, WrongBackupKey

CURVE25519_AES_SHA2 = "m.megolm_backup.v1.curve25519-aes-sha2"
MEGOLM_ALGORITHM = "m.megolm.v1.aes-sha2"
MAC_LENGTH = 8
# The fields of BackedUpSessionData; an exported session has room_id and session_id besides.
SESSION_FIELDS = (
    "algorithm",
    "forwarding_curve25519_key_chain",
    "sender_claimed_keys",
    "sender_key",
    "session_key",
)


def new_backup_key() -> bytes:
    """A new random backup private key (32 bytes)."""
    return secrets.token_bytes(32)


def _private(private_key: bytes) -> X25519PrivateKey:
    if len(private_key) != 32:
        raise MalformedData("A backup private key has 32 bytes.")
    return X25519PrivateKey.from_private_bytes(bytes(private_key))


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def backup_public_key(private_key: bytes) -> str:
    """The unpadded base64 public key for `auth_data.public_key`."""
    return encode_base64(_raw_public(_private(private_key).public_key()))


def backup_key_to_secret(private_key: bytes) -> str:
    """The secret-storage form (`m.megolm_backup.v1`): base64 of the private key."""
    _private(private_key)
    return encode_base64(private_key)


def backup_key_from_secret(secret: str) -> bytes:
    """The private key from its secret-storage form (padded base64 accepted)."""
    key = decode_base64(secret.strip(), "backup key")
    if len(key) != 32:
        raise MalformedData("The stored backup key does not have 32 bytes.")
    return key


def new_auth_data(private_key: bytes) -> dict[str, Any]:
    """Unsigned `auth_data` for `POST /room_keys/version`; sign it with the device key or the
    master key (`signing.sign_json`) so other clients can trust it."""
    return {"public_key": backup_public_key(private_key)}


def key_matches_backup(private_key: bytes, auth_data: Mapping[str, Any] | str) -> bool:
    """Whether the private key belongs to this backup (its `auth_data` or public key): False
    means the key is for another (older) backup version."""
    public = auth_data.get("public_key") if isinstance(auth_data, Mapping) else auth_data
    if not isinstance(public, str):
        return False
    try:
        return backup_public_key(private_key) == public.rstrip("=")
    except MalformedData:
        return False


def _keys(shared: bytes) -> tuple[bytes, bytes, bytes]:
    okm = hkdf_sha256(shared, 80, b"")
    return okm[:32], okm[32:64], okm[64:]


def encrypt_session_data(session: Mapping[str, Any], public_key: str) -> dict[str, str]:
    """`session_data` (`{ephemeral, ciphertext, mac}`) for a BackedUpSessionData object,
    encrypted to the backup public key (unpadded base64, from `auth_data.public_key`)."""
    raw_public = decode_base64(public_key, "backup public key")
    if len(raw_public) != 32:
        raise MalformedData("The backup public key does not have 32 bytes.")
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(raw_public))
    aes_key, mac_key, iv = _keys(shared)
    padder = padding.PKCS7(128).padder()
    plaintext = json.dumps(session, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return {
        "ephemeral": encode_base64(_raw_public(ephemeral.public_key())),
        "ciphertext": encode_base64(ciphertext),
        "mac": encode_base64(hmac_sha256(mac_key, b"")[:MAC_LENGTH]),
    }


def decrypt_session_data(session_data: Mapping[str, Any], private_key: bytes) -> dict[str, Any]:
    """The BackedUpSessionData object from a backup's `session_data`.

    Raises `WrongBackupKey` when the MAC shows the private key is not the backup's, and
    `MalformedData` for missing fields or content that is not the expected JSON object.
    """
    if not isinstance(session_data, Mapping):
        raise MalformedData("The backed-up session data is not an object.")
    fields = {}
    for name in ("ephemeral", "ciphertext", "mac"):
        value = session_data.get(name)
        if not isinstance(value, str):
            raise MalformedData(f"The backed-up session data has no {name}.")
        fields[name] = decode_base64(value, f"backed-up session's {name}")
    if len(fields["ephemeral"]) != 32:
        raise MalformedData("The backed-up session's ephemeral key does not have 32 bytes.")
    ciphertext = fields["ciphertext"]
    if not ciphertext or len(ciphertext) % 16:
        raise MalformedData("The backed-up session's ciphertext has an impossible length.")
    shared = _private(private_key).exchange(X25519PublicKey.from_public_bytes(fields["ephemeral"]))
    aes_key, mac_key, iv = _keys(shared)
    mac = fields["mac"]
    libolm_mac = hmac_sha256(mac_key, b"")[:MAC_LENGTH]
    spec_text_mac = hmac_sha256(mac_key, ciphertext)[:MAC_LENGTH]
    # Evaluate both comparisons, so timing does not tell which one matched.
    matches = [same_bytes(mac, libolm_mac), same_bytes(mac, spec_text_mac)]
    if not any(matches):
        raise WrongBackupKey(
            _(
                "This backup key does not decrypt the backed-up keys: it is the key of another "
                "backup, or the data was damaged."
            )
        )
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plaintext = unpadder.update(padded) + unpadder.finalize()
        session = json.loads(plaintext.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedData("The backed-up session does not decrypt to a room key.") from error
    if not isinstance(session, dict):
        raise MalformedData("The backed-up session does not decrypt to a room key.")
    return session


def session_from_export(exported: Mapping[str, Any]) -> dict[str, Any]:
    """The BackedUpSessionData fields of an exported session (drops room_id, session_id)."""
    missing = [name for name in SESSION_FIELDS if name not in exported]
    if missing:
        raise MalformedData(f"The room key lacks {', '.join(missing)}.")
    return {name: exported[name] for name in SESSION_FIELDS}


def build_key_backup_data(
    session: Mapping[str, Any],
    public_key: str,
    *,
    first_message_index: int,
    forwarded_count: int,
    is_verified: bool,
) -> dict[str, Any]:
    """A `KeyBackupData` body for `PUT /room_keys/keys/{roomId}/{sessionId}`. `session` is a
    BackedUpSessionData object (or an exported session; room_id and session_id are dropped)."""
    return {
        "first_message_index": int(first_message_index),
        "forwarded_count": int(forwarded_count),
        "is_verified": bool(is_verified),
        "session_data": encrypt_session_data(session_from_export(session), public_key),
    }
