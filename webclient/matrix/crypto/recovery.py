"""Recovery keys and passphrases: how a person types the secret storage (or backup) key.

A recovery key is the spec's "cryptographic key representation": 0x8B 0x01, the 32-byte key,
and a parity byte (XOR of all before it), in base58, shown in groups of four. People copy it by
hand, so decoding ignores all whitespace and says *what* is wrong (a typo caught by the parity
byte, a missing chunk, a character base58 does not use) rather than just "invalid".

A passphrase becomes the key through PBKDF2-HMAC-SHA-512 with the salt and iteration count of
the key description's `passphrase` object. `secret_storage.key_from_user_input` decides
which of the two a person typed, the way Element's "Enter your Security Phrase or
Security Key" box does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.utils.translation import gettext as _

from .encoding import BASE58_ALPHABET, decode_base58, encode_base58
from .errors import (
    InvalidRecoveryKey,
    MalformedData,
    UnsupportedAlgorithm,
)

PREFIX = b"\x8b\x01"
KEY_LENGTH = 32
PBKDF2 = "m.pbkdf2"
# A key description comes from the server: cap the work it can make us do (Element uses 500k).
MAX_PBKDF2_ITERATIONS = 10_000_000
MAX_PBKDF2_BITS = 1024


def _parity(data: bytes) -> int:
    parity = 0
    for byte in data:
        parity ^= byte
    return parity


def encode_recovery_key(key: bytes) -> str:
    """The recovery key for a 32-byte key, in groups of four characters separated by spaces."""
    if len(key) != KEY_LENGTH:
        raise ValueError("A recovery key encodes exactly 32 bytes.")
    raw = PREFIX + bytes(key)
    text = encode_base58(raw + bytes([_parity(raw)]))
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def decode_recovery_key(text: str) -> bytes:
    """The 32-byte key written in a recovery key. Whitespace anywhere is ignored.

    Raises `InvalidRecoveryKey` with a sentence saying what is wrong with it.
    """
    compact = "".join(str(text).split())
    if not compact:
        raise InvalidRecoveryKey(_("The recovery key is empty."))
    bad = sorted({char for char in compact if char not in BASE58_ALPHABET})
    if bad:
        shown = ", ".join(repr(char) for char in bad)
        if set(bad) & set("0OIl"):
            message = _(
                "This is not a recovery key: it contains %(shown)s, which a recovery key "
                "cannot contain (recovery keys never use 0, O, I or l, which are easy to "
                "confuse)."
            )
        else:
            message = _(
                "This is not a recovery key: it contains %(shown)s, which a recovery key "
                "cannot contain."
            )
        raise InvalidRecoveryKey(message % {"shown": shown})
    try:
        raw = decode_base58(compact)
    except MalformedData as error:  # unreachable after the alphabet check, kept for safety
        raise InvalidRecoveryKey(_("This is not a recovery key.")) from error
    expected = len(PREFIX) + KEY_LENGTH + 1
    if len(raw) < expected:
        raise InvalidRecoveryKey(
            _(
                "The recovery key is too short: part of it is missing. Check that you copied all "
                "of it (12 groups of 4 characters)."
            )
        )
    if len(raw) > expected:
        raise InvalidRecoveryKey(
            _("The recovery key is too long: check that nothing extra was copied with it.")
        )
    # Every recovery key starts with "Es" (the 0x8B 0x01 prefix). Text that does too but has
    # a bad parity byte is a mistyped key, wherever the typo is (one in the first group also
    # changes the decoded prefix), so parity is checked before the prefix bytes.
    not_a_key = InvalidRecoveryKey(_("This is not a recovery key (recovery keys start with 'Es')."))
    if not compact.startswith("Es"):
        raise not_a_key
    if _parity(raw) != 0:
        raise InvalidRecoveryKey(
            _(
                "The recovery key has a typo: its check character does not match the rest. "
                "Compare it with your copy, character by character."
            )
        )
    if raw[: len(PREFIX)] != PREFIX:
        raise not_a_key
    return raw[len(PREFIX) : len(PREFIX) + KEY_LENGTH]


def passphrase_to_key(passphrase: str, passphrase_info: Mapping[str, Any]) -> bytes:
    """The key a passphrase gives with a key description's `passphrase` parameters
    (`{"algorithm": "m.pbkdf2", "salt": ..., "iterations": ..., "bits": 256}`).

    The salt is used as its UTF-8 text, not base64-decoded, as Element and the spec do.
    """
    if not isinstance(passphrase_info, Mapping):
        raise MalformedData(_("The key has no passphrase parameters."))
    algorithm = passphrase_info.get("algorithm")
    if algorithm != PBKDF2:
        raise UnsupportedAlgorithm(
            _(
                "This key is derived from a passphrase with %(algorithm)r, which this client "
                "does not support; use the recovery key instead."
            )
            % {"algorithm": algorithm}
        )
    salt = passphrase_info.get("salt")
    iterations = passphrase_info.get("iterations")
    bits = passphrase_info.get("bits", 256)
    if not isinstance(salt, str) or isinstance(iterations, bool) or not isinstance(iterations, int):
        raise MalformedData(_("The key's passphrase parameters lack a salt or an iteration count."))
    if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0 or bits % 8:
        raise MalformedData(_("The key's passphrase parameters give an impossible key length."))
    if not 0 < iterations <= MAX_PBKDF2_ITERATIONS or bits > MAX_PBKDF2_BITS:
        raise UnsupportedAlgorithm(
            _("The key's passphrase parameters ask for more work than this client will do.")
        )
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA512(),
        length=bits // 8,
        salt=salt.encode("utf-8"),
        iterations=iterations,
    )
    return kdf.derive(passphrase.encode("utf-8"))


def looks_like_recovery_key(text: str) -> bool:
    """Roughly a recovery key's length and alphabet (allowing a couple of typos)."""
    compact = "".join(text.split())
    strays = sum(char not in BASE58_ALPHABET for char in compact)
    return 40 <= len(compact) <= 56 and strays <= 2
