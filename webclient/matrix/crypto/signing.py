"""Signing JSON (spec appendix "Signing JSON") with Ed25519.

Device keys, cross-signing keys, backup `auth_data` and one-time keys are all signed the same
way: drop `signatures` and `unsigned`, encode the rest as canonical JSON, sign, and put the
unpadded-base64 signature under `signatures[user_id][key_id]` next to the ones already there.
Verification repeats the encoding, so anything a server adds under `unsigned` (or signatures
by others) does not break it, and a changed field does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from .canonicaljson import canonical_json
from .encoding import decode_base64, encode_base64
from .errors import BadSignature, MalformedData

ED25519 = "ed25519"

# Something that signs bytes: a private key, or a device account's sign method (vodozemac's
# `Account.sign` returns an object with `to_base64()`, nio's returns a base64 string).
Signer = Ed25519PrivateKey | Callable[[bytes], Any]


def signed_bytes(obj: Mapping[str, Any]) -> bytes:
    """The bytes a signature of `obj` covers: canonical JSON without signatures and unsigned."""
    if not isinstance(obj, Mapping):
        raise MalformedData("Only a JSON object can be signed.")
    return canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})


def ed25519_key_id(name: str) -> str:
    """`ed25519:<name>`: the key ID of a device (name = device ID) or a cross-signing key
    (name = its unpadded-base64 public key)."""
    return f"{ED25519}:{name}"


def _signature_b64(signer: Signer, message: bytes) -> str:
    if isinstance(signer, Ed25519PrivateKey):
        return encode_base64(signer.sign(message))
    result = signer(message)
    if isinstance(result, bytes | bytearray):
        return encode_base64(bytes(result))
    if isinstance(result, str):
        return result.rstrip("=")
    if hasattr(result, "to_base64"):
        return str(result.to_base64()).rstrip("=")
    raise TypeError("The signer returned neither bytes, a base64 string nor a signature object.")


def sign_json(obj: Mapping[str, Any], user_id: str, key_id: str, signer: Signer) -> dict[str, Any]:
    """A copy of `obj` with a signature by `signer` added under `signatures[user_id][key_id]`.

    `key_id` is the full key ID, e.g. `ed25519:DEVICEID` or `ed25519:<public key>`. Existing
    signatures (and `unsigned`) are kept; the input is not modified.
    """
    if not key_id.startswith(f"{ED25519}:"):
        raise ValueError(f"Key ID {key_id!r} should start with 'ed25519:'.")
    signature = _signature_b64(signer, signed_bytes(obj))
    result = copy.deepcopy(dict(obj))
    signatures = result.get("signatures")
    if not isinstance(signatures, dict):
        signatures = {}
    result["signatures"] = signatures
    entry = signatures.get(user_id)
    if not isinstance(entry, dict):
        entry = signatures[user_id] = {}
    entry[key_id] = signature
    return result


def load_public_key(public_key_b64: str) -> Ed25519PublicKey:
    """An Ed25519 public key from its unpadded base64 form."""
    raw = decode_base64(public_key_b64, "Ed25519 public key")
    if len(raw) != 32:
        raise MalformedData("An Ed25519 public key has 32 bytes; this one does not.")
    return Ed25519PublicKey.from_public_bytes(raw)


def check_signature(obj: Mapping[str, Any], user_id: str, key_id: str, public_key_b64: str) -> None:
    """Raise `BadSignature` unless `obj` carries a valid signature by that key (spec
    "Checking for a Signature")."""
    signatures = obj.get("signatures") if isinstance(obj, Mapping) else None
    by_user = signatures.get(user_id) if isinstance(signatures, Mapping) else None
    signature_b64 = by_user.get(key_id) if isinstance(by_user, Mapping) else None
    if not isinstance(signature_b64, str):
        raise BadSignature(f"There is no signature by {key_id} of {user_id}.")
    try:
        signature = decode_base64(signature_b64, "signature")
        public_key = load_public_key(public_key_b64)
    except MalformedData as error:
        raise BadSignature(f"The signature by {key_id} of {user_id} is malformed.") from error
    try:
        public_key.verify(signature, signed_bytes(obj))
    except InvalidSignature as error:
        raise BadSignature(
            f"The signature by {key_id} of {user_id} does not match: the data was changed "
            "or signed with another key."
        ) from error


def verify_signature(
    obj: Mapping[str, Any], user_id: str, key_id: str, public_key_b64: str
) -> bool:
    """Whether `obj` carries a valid signature by that key (False when missing or forged)."""
    try:
        check_signature(obj, user_id, key_id, public_key_b64)
    except (BadSignature, MalformedData):
        return False
    return True


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from its 32-byte seed (the form cross-signing secrets hold)."""
    if len(seed) != 32:
        raise MalformedData("An Ed25519 private key seed has 32 bytes; this one does not.")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


def seed_of(private_key: Ed25519PrivateKey) -> bytes:
    """The 32-byte seed of an Ed25519 private key."""
    return private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    """The unpadded base64 public key, as it appears in key IDs and `keys` objects."""
    return encode_base64(private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
