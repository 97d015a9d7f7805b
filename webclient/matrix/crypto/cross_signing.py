"""Cross-signing: the user's master, self-signing (SSK) and user-signing (USK) keys.

The master key vouches for the SSK and USK; the SSK vouches for the user's own devices; the
USK vouches for other users' master keys. Here are the pieces to create and publish such keys
(`keys/device_signing/upload`), to sign a device or another user (`keys/signatures/upload`),
and to judge a `keys/query` answer: is this device cross-signed by its owner, have we verified
that user. Every check walks the chain from the published keys and verifies each signature;
nothing is trusted because the server put it in a particular field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .encoding import decode_base64, encode_base64
from .errors import MalformedData
from .signing import (
    ED25519,
    Signer,
    ed25519_key_id,
    private_key_from_seed,
    public_key_b64,
    seed_of,
    sign_json,
    verify_signature,
)

MASTER = "master"
SELF_SIGNING = "self_signing"
USER_SIGNING = "user_signing"


def seed_to_secret(seed: bytes) -> str:
    """The secret-storage form of a cross-signing private key: base64 of its 32-byte seed."""
    if len(seed) != 32:
        raise ValueError("A cross-signing seed has 32 bytes.")
    return encode_base64(seed)


def secret_to_seed(secret: str) -> bytes:
    """The 32-byte seed from its secret-storage form (padded base64 is accepted: some
    clients write it)."""
    seed = decode_base64(secret.strip(), "cross-signing private key")
    if len(seed) != 32:
        raise MalformedData("The stored cross-signing private key does not have 32 bytes.")
    return seed


def private_key_from_secret(secret: str) -> Ed25519PrivateKey:
    """The Ed25519 private key from its secret-storage form."""
    return private_key_from_seed(secret_to_seed(secret))


def private_key_matches(private_key: Ed25519PrivateKey | bytes | str, public_b64: str) -> bool:
    """Whether a private key (key object, seed or stored secret) is the one whose public key
    is published, to catch a wrong or stale secret before signing with it."""
    if isinstance(private_key, str):
        private_key = private_key_from_secret(private_key)
    elif isinstance(private_key, bytes | bytearray):
        private_key = private_key_from_seed(bytes(private_key))
    return public_key_b64(private_key) == str(public_b64).rstrip("=")


@dataclass(frozen=True)
class CrossSigningKeys:
    """A user's three cross-signing private keys."""

    master: Ed25519PrivateKey
    self_signing: Ed25519PrivateKey
    user_signing: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        """Three new random keys."""
        return cls(
            Ed25519PrivateKey.generate(),
            Ed25519PrivateKey.generate(),
            Ed25519PrivateKey.generate(),
        )

    @classmethod
    def from_secrets(cls, master: str, self_signing: str, user_signing: str) -> CrossSigningKeys:
        """The keys from their secret-storage strings."""
        return cls(
            private_key_from_secret(master),
            private_key_from_secret(self_signing),
            private_key_from_secret(user_signing),
        )

    def secrets(self) -> dict[str, str]:
        """`{secret name: secret}` to put in secret storage."""
        from .secret_storage import (
            CROSS_SIGNING_MASTER,
            CROSS_SIGNING_SELF_SIGNING,
            CROSS_SIGNING_USER_SIGNING,
        )

        return {
            CROSS_SIGNING_MASTER: seed_to_secret(seed_of(self.master)),
            CROSS_SIGNING_SELF_SIGNING: seed_to_secret(seed_of(self.self_signing)),
            CROSS_SIGNING_USER_SIGNING: seed_to_secret(seed_of(self.user_signing)),
        }

    @property
    def master_public(self) -> str:
        return public_key_b64(self.master)

    @property
    def self_signing_public(self) -> str:
        return public_key_b64(self.self_signing)

    @property
    def user_signing_public(self) -> str:
        return public_key_b64(self.user_signing)


def cross_signing_key(user_id: str, usage: str, public_b64: str) -> dict[str, Any]:
    """An unsigned `CrossSigningKey` object."""
    return {
        "user_id": user_id,
        "usage": [usage],
        "keys": {ed25519_key_id(public_b64): public_b64},
    }


def build_device_signing_upload(
    user_id: str,
    keys: CrossSigningKeys,
    *,
    device_id: str | None = None,
    device_signer: Signer | None = None,
) -> dict[str, Any]:
    """The body of `POST /keys/device_signing/upload` (without `auth`, which the UIA flow adds).

    The SSK and USK are signed by the master key. With `device_id` and `device_signer` (the
    device account's Ed25519 signing), the master key is also signed by this device, which
    lets the user's other clients trust it from this device's verification.
    """
    master = cross_signing_key(user_id, MASTER, keys.master_public)
    if device_signer is not None:
        if not device_id:
            raise ValueError("Signing the master key with the device needs the device ID.")
        master = sign_json(master, user_id, ed25519_key_id(device_id), device_signer)
    master_key_id = ed25519_key_id(keys.master_public)
    return {
        "master_key": master,
        "self_signing_key": sign_json(
            cross_signing_key(user_id, SELF_SIGNING, keys.self_signing_public),
            user_id,
            master_key_id,
            keys.master,
        ),
        "user_signing_key": sign_json(
            cross_signing_key(user_id, USER_SIGNING, keys.user_signing_public),
            user_id,
            master_key_id,
            keys.master,
        ),
    }


def _without_signatures(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def sign_device(
    device_keys: Mapping[str, Any], user_id: str, self_signing: Ed25519PrivateKey
) -> dict[str, Any]:
    """The device keys object with only our SSK's signature, for `keys/signatures/upload`
    (the server merges it with the signatures it has)."""
    if device_keys.get("user_id") != user_id:
        raise ValueError("A self-signing key signs only its own user's devices.")
    key_id = ed25519_key_id(public_key_b64(self_signing))
    return sign_json(_without_signatures(device_keys), user_id, key_id, self_signing)


def sign_master_key(
    master_key: Mapping[str, Any], our_user_id: str, user_signing: Ed25519PrivateKey
) -> dict[str, Any]:
    """Another user's master key object with only our USK's signature (marks them verified)."""
    if master_key.get("user_id") == our_user_id:
        raise ValueError("The user-signing key signs other users' master keys, not our own.")
    key_id = ed25519_key_id(public_key_b64(user_signing))
    return sign_json(_without_signatures(master_key), our_user_id, key_id, user_signing)


def build_signatures_upload(*signed: Mapping[str, Any]) -> dict[str, Any]:
    """The body of `POST /keys/signatures/upload` for signed device keys and/or master keys:
    `{user_id: {device_id or master public key: signed object}}`."""
    body: dict[str, dict[str, Any]] = {}
    for obj in signed:
        user_id = obj.get("user_id")
        if not isinstance(user_id, str):
            raise ValueError("A signed object without user_id cannot be uploaded.")
        if "device_id" in obj:
            target = obj["device_id"]
        else:
            target = cross_signing_public_key(obj)
            if target is None:
                raise ValueError("A signed key object needs one ed25519 key.")
        body.setdefault(user_id, {})[target] = dict(obj)
    return body


# --- judging a keys/query answer -------------------------------------------------------------


def cross_signing_public_key(
    key_obj: Any, user_id: str | None = None, usage: str | None = None
) -> str | None:
    """The public key of a `CrossSigningKey` object, or None if it is not a well-formed one
    (exactly one `ed25519:<key>` entry whose value is that key, for `user_id` with `usage`)."""
    if not isinstance(key_obj, Mapping):
        return None
    if user_id is not None and key_obj.get("user_id") != user_id:
        return None
    usages = key_obj.get("usage")
    if usage is not None and (not isinstance(usages, list) or usage not in usages):
        return None
    keys = key_obj.get("keys")
    if not isinstance(keys, Mapping) or len(keys) != 1:
        return None
    ((key_id, public),) = keys.items()
    if not isinstance(public, str) or key_id != ed25519_key_id(public):
        return None
    return public


def _section(query: Mapping[str, Any], name: str, user_id: str) -> Any:
    section = query.get(name) if isinstance(query, Mapping) else None
    return section.get(user_id) if isinstance(section, Mapping) else None


def master_key_of(query: Mapping[str, Any], user_id: str) -> str | None:
    """The user's published master public key, if well-formed."""
    return cross_signing_public_key(_section(query, "master_keys", user_id), user_id, MASTER)


def _signed_by_master(
    query: Mapping[str, Any], section: str, usage: str, user_id: str
) -> str | None:
    master = master_key_of(query, user_id)
    if master is None:
        return None
    key_obj = _section(query, section, user_id)
    public = cross_signing_public_key(key_obj, user_id, usage)
    if public is None or not verify_signature(key_obj, user_id, ed25519_key_id(master), master):
        return None
    return public


def self_signing_key_of(query: Mapping[str, Any], user_id: str) -> str | None:
    """The user's self-signing public key, only if their master key validly signed it."""
    return _signed_by_master(query, "self_signing_keys", SELF_SIGNING, user_id)


def user_signing_key_of(query: Mapping[str, Any], user_id: str) -> str | None:
    """The user's user-signing public key (servers show it only to its owner), only if their
    master key validly signed it."""
    return _signed_by_master(query, "user_signing_keys", USER_SIGNING, user_id)


def device_id_collisions(query: Mapping[str, Any], user_id: str) -> set[str]:
    """Device IDs of `user_id` that equal one of their cross-signing public keys.

    Key IDs of devices and of cross-signing keys share a namespace; a malicious server could
    make them collide, and the spec says to refuse to verify such a user.
    """
    devices = _section(query, "device_keys", user_id)
    if not isinstance(devices, Mapping):
        return set()
    published = {
        cross_signing_public_key(_section(query, section, user_id))
        for section in ("master_keys", "self_signing_keys", "user_signing_keys")
    } - {None}
    return {device_id for device_id in devices if device_id in published}


def device_ed25519_key(device_keys: Any, user_id: str, device_id: str) -> str | None:
    """The device's Ed25519 key, if the device keys object is for that user and device and
    is signed by that very key (a device always signs its own keys)."""
    if not isinstance(device_keys, Mapping):
        return None
    if device_keys.get("user_id") != user_id or device_keys.get("device_id") != device_id:
        return None
    keys = device_keys.get("keys")
    key_id = ed25519_key_id(device_id)
    public = keys.get(key_id) if isinstance(keys, Mapping) else None
    if not isinstance(public, str) or not verify_signature(device_keys, user_id, key_id, public):
        return None
    return public


def is_device_cross_signed(query: Mapping[str, Any], user_id: str, device_id: str) -> bool:
    """Whether the device is cross-signed by its owner in this `keys/query` answer: the
    master key signed the self-signing key, which signed these (self-signed) device keys.

    This says the *owner* vouches for the device; whether we trust the owner's master key is
    `is_user_verified` (or, for our own user, holding the master key).
    """
    if device_id in device_id_collisions(query, user_id):
        return False
    ssk = self_signing_key_of(query, user_id)
    if ssk is None:
        return False
    devices = _section(query, "device_keys", user_id)
    device = devices.get(device_id) if isinstance(devices, Mapping) else None
    if device_ed25519_key(device, user_id, device_id) is None:
        return False
    return verify_signature(device, user_id, ed25519_key_id(ssk), ssk)


def is_user_verified(query: Mapping[str, Any], our_user_id: str, their_user_id: str) -> bool:
    """Whether we verified `their_user_id`: our master key signed our user-signing key, which
    signed their current master key. The query must include our own user (for our USK)."""
    if their_user_id == our_user_id:
        raise ValueError("Our own identity is trusted through our master key, not our USK.")
    if device_id_collisions(query, their_user_id):
        return False
    usk = user_signing_key_of(query, our_user_id)
    if usk is None or master_key_of(query, their_user_id) is None:
        return False
    their_master = _section(query, "master_keys", their_user_id)
    return verify_signature(their_master, our_user_id, ed25519_key_id(usk), usk)


def keys_match_published(
    query: Mapping[str, Any], user_id: str, keys: CrossSigningKeys
) -> dict[str, bool]:
    """For each of our private keys, whether it is the one published for `user_id`
    (`{"master": ..., "self_signing": ..., "user_signing": ...}`): False means the secret we
    hold is stale or wrong, and signing with it would be rejected or mislead."""
    published = {
        MASTER: master_key_of(query, user_id),
        SELF_SIGNING: cross_signing_public_key(
            _section(query, "self_signing_keys", user_id), user_id, SELF_SIGNING
        ),
        USER_SIGNING: cross_signing_public_key(
            _section(query, "user_signing_keys", user_id), user_id, USER_SIGNING
        ),
    }
    ours = {
        MASTER: keys.master_public,
        SELF_SIGNING: keys.self_signing_public,
        USER_SIGNING: keys.user_signing_public,
    }
    return {usage: published[usage] == ours[usage] for usage in ours}


__all__ = [
    "ED25519",
    "MASTER",
    "SELF_SIGNING",
    "USER_SIGNING",
    "CrossSigningKeys",
    "build_device_signing_upload",
    "build_signatures_upload",
    "cross_signing_key",
    "cross_signing_public_key",
    "device_ed25519_key",
    "device_id_collisions",
    "is_device_cross_signed",
    "is_user_verified",
    "keys_match_published",
    "master_key_of",
    "private_key_from_secret",
    "private_key_matches",
    "secret_to_seed",
    "seed_to_secret",
    "self_signing_key_of",
    "sign_device",
    "sign_master_key",
    "user_signing_key_of",
]
