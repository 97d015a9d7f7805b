"""Secret storage (SSSS), algorithm `m.secret_storage.v1.aes-hmac-sha2`.

Secrets (the cross-signing private keys, the backup key) live in account data, encrypted with
a key only the user holds. Per secret: HKDF-SHA-256 (salt 32 zero bytes, info = the secret's
name) gives an AES-256 key and an HMAC key; the secret string is encrypted with AES-CTR and the
ciphertext MACed. The key description (`m.secret_storage.key.<id>`) carries the encryption of 32
zero bytes under the name "" so a client can tell a wrong key from a right one before it
decrypts anything. Servers and clients write base64 with or without padding; both are read.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from ._aes import aes_ctr, hkdf_sha256, hmac_sha256, new_iv, same_bytes
from .encoding import decode_base64, encode_base64
from .errors import (
    InvalidRecoveryKey,
    MalformedData,
    UnsupportedAlgorithm,
    WrongPassphrase,
    WrongRecoveryKey,
)
from .recovery import PBKDF2, decode_recovery_key, looks_like_recovery_key, passphrase_to_key

AES_HMAC_SHA2 = "m.secret_storage.v1.aes-hmac-sha2"
DEFAULT_KEY_EVENT = "m.secret_storage.default_key"
KEY_EVENT_PREFIX = "m.secret_storage.key."
# Secret names the spec defines.
CROSS_SIGNING_MASTER = "m.cross_signing.master"
CROSS_SIGNING_SELF_SIGNING = "m.cross_signing.self_signing"
CROSS_SIGNING_USER_SIGNING = "m.cross_signing.user_signing"
MEGOLM_BACKUP = "m.megolm_backup.v1"

_ID_ALPHABET = string.ascii_letters + string.digits


def derive_keys(key: bytes, name: str) -> tuple[bytes, bytes]:
    """The AES key and the HMAC key for the secret called `name`."""
    if len(key) != 32:
        raise ValueError("A secret storage key has 32 bytes.")
    okm = hkdf_sha256(key, 64, name.encode("utf-8"))
    return okm[:32], okm[32:]


def _encrypt(name: str, plaintext: bytes, key: bytes) -> dict[str, str]:
    aes_key, hmac_key = derive_keys(key, name)
    iv = new_iv()
    ciphertext = aes_ctr(aes_key, iv, plaintext)
    return {
        "iv": encode_base64(iv),
        "ciphertext": encode_base64(ciphertext),
        "mac": encode_base64(hmac_sha256(hmac_key, ciphertext)),
    }


def _field(data: Mapping[str, Any], field: str, length: int | None, what: str) -> bytes:
    value = data.get(field) if isinstance(data, Mapping) else None
    if not isinstance(value, str):
        raise MalformedData(f"The {what} has no {field}.")
    raw = decode_base64(value, f"{what}'s {field}")
    if length is not None and len(raw) != length:
        raise MalformedData(f"The {what}'s {field} should have {length} bytes, not {len(raw)}.")
    return raw


def encrypt_secret(name: str, secret: str, key: bytes) -> dict[str, str]:
    """`{iv, ciphertext, mac}` for `secret` (a string, as the spec defines secrets) under
    `key`, to store as `encrypted[<key id>]` in the account data event `name`."""
    return _encrypt(name, secret.encode("utf-8"), key)


def decrypt_secret(name: str, encrypted: Mapping[str, Any], key: bytes) -> str:
    """The secret string from `{iv, ciphertext, mac}`.

    Raises `WrongRecoveryKey` when the MAC does not match (the key is not the one the secret
    was stored with, or the data was altered) and `MalformedData` when fields are missing.
    """
    what = f"stored secret {name}"
    iv = _field(encrypted, "iv", 16, what)
    ciphertext = _field(encrypted, "ciphertext", None, what)
    mac = _field(encrypted, "mac", 32, what)
    aes_key, hmac_key = derive_keys(key, name)
    if not same_bytes(hmac_sha256(hmac_key, ciphertext), mac):
        raise WrongRecoveryKey(
            _(
                "The secret storage key does not open %(name)s: it is the wrong key, or the "
                "stored secret was changed."
            )
            % {"name": name}
        )
    try:
        return aes_ctr(aes_key, iv, ciphertext).decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedData(f"The stored secret {name} is not text.") from error


def check_key(key: bytes, key_description: Mapping[str, Any]) -> bool:
    """Whether `key` is the key a `m.secret_storage.key.*` description describes.

    Without `iv` and `mac` there is nothing to compare, and the spec says to assume it is.
    Raises `UnsupportedAlgorithm` for another algorithm and `MalformedData` for a broken
    description (so a broken description is not reported as a wrong key).
    """
    if not isinstance(key_description, Mapping):
        raise MalformedData(_("The secret storage key description is not an object."))
    algorithm = key_description.get("algorithm")
    if algorithm != AES_HMAC_SHA2:
        raise UnsupportedAlgorithm(
            _("The secret storage key uses %(algorithm)r, which this client does not support.")
            % {"algorithm": algorithm}
        )
    if key_description.get("iv") is None and key_description.get("mac") is None:
        return True
    what = "secret storage key description"
    iv = _field(key_description, "iv", 16, what)
    mac = _field(key_description, "mac", 32, what)
    if len(key) != 32:
        return False
    aes_key, hmac_key = derive_keys(key, "")
    return same_bytes(hmac_sha256(hmac_key, aes_ctr(aes_key, iv, bytes(32))), mac)


def new_passphrase_info(iterations: int = 500_000, bits: int = 256) -> dict[str, Any]:
    """Fresh `passphrase` parameters (random salt) for a key derived from a passphrase."""
    salt = "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))
    return {"algorithm": PBKDF2, "salt": salt, "iterations": iterations, "bits": bits}


def new_key_description(
    key: bytes, name: str | None = None, passphrase: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """A new key ID and the content of its `m.secret_storage.key.<id>` event, with the check
    value (`iv`, `mac`) that lets clients recognise the key later.

    Pass the `passphrase` parameters the key was derived with (see `new_passphrase_info`), if
    any, so the passphrase can open it again.
    """
    if len(key) != 32:
        raise ValueError("A secret storage key has 32 bytes.")
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))
    check = _encrypt("", bytes(32), key)
    content: dict[str, Any] = {"algorithm": AES_HMAC_SHA2, "iv": check["iv"], "mac": check["mac"]}
    if name is not None:
        content["name"] = name
    if passphrase is not None:
        content["passphrase"] = dict(passphrase)
    return key_id, content


def encrypt_stored_secret(name: str, secret: str, keys: Mapping[str, bytes]) -> dict[str, Any]:
    """The account data content for secret `name`, encrypted under each `{key_id: key}`."""
    return {
        "encrypted": {key_id: encrypt_secret(name, secret, key) for key_id, key in keys.items()}
    }


def decrypt_stored_secret(name: str, content: Mapping[str, Any], key_id: str, key: bytes) -> str:
    """The secret from an account data event's content, using the copy for `key_id`.

    Raises `MalformedData` if the secret is not stored under that key (e.g. it was stored
    before the key was replaced), `WrongRecoveryKey` if `key` does not open it.
    """
    encrypted = content.get("encrypted") if isinstance(content, Mapping) else None
    entry = encrypted.get(key_id) if isinstance(encrypted, Mapping) else None
    if not isinstance(entry, Mapping):
        raise MalformedData(f"The secret {name} is not stored under the key {key_id}.")
    return decrypt_secret(name, entry, key)


def key_from_user_input(
    text: str, key_description: Mapping[str, Any], *, check: bool = True
) -> bytes:
    """The 32-byte secret storage key from what a person typed: a recovery key or a passphrase.

    A string that decodes as a valid recovery key is taken as one; otherwise, if the key
    description has `passphrase` parameters, the string is taken as the passphrase. With
    `check`, the result is compared with the description's `iv`/`mac` check value (when it
    has one; without one the spec says to assume the key is right).

    Raises `InvalidRecoveryKey` when it is neither ("This is not a recovery key.", or what is
    wrong with it when it is shaped like one: a typo, a missing part, a stray character),
    `WrongRecoveryKey` when a valid recovery key belongs to another key, `WrongPassphrase`
    when a passphrase gives the wrong key.
    """
    try:
        key = decode_recovery_key(text)
    except InvalidRecoveryKey as not_a_key:
        passphrase_info = key_description.get("passphrase")
        if not passphrase_info:
            if looks_like_recovery_key(text):
                raise  # a mistyped recovery key: say what is wrong with it
            raise InvalidRecoveryKey(_("This is not a recovery key.")) from not_a_key
        key = passphrase_to_key(text, passphrase_info)
        if check and not check_key(key, key_description):
            if looks_like_recovery_key(text):
                # Most likely a mistyped recovery key rather than a wrong passphrase.
                raise not_a_key
            raise WrongPassphrase(
                _(
                    "That passphrase is not the one for this secret storage. Check it, or use "
                    "the recovery key."
                )
            ) from None
        return key
    if check and not check_key(key, key_description):
        raise WrongRecoveryKey(
            _(
                "This recovery key is valid but belongs to another secret storage key (perhaps "
                "one that was replaced)."
            )
        )
    return key
