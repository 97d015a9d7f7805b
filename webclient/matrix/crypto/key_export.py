"""Room key export files, the format Element's "Export E2E room keys" writes (spec "Key
exports"), so keys move between this client and any other by a file and a passphrase.

    -----BEGIN MEGOLM SESSION DATA-----
    base64 of: 0x01 | salt (16) | IV (16) | rounds (4, big-endian) | AES-256-CTR ciphertext
               | HMAC-SHA-256 (32) of everything before it
    -----END MEGOLM SESSION DATA-----

Keys: PBKDF2-HMAC-SHA-512(passphrase, salt, rounds) to 64 bytes, the first half for AES, the
second for HMAC. The plaintext is a JSON list of exported sessions. Reading tolerates what
files pick up on the way (CRLF line ends, indentation, text around the armour).
"""

from __future__ import annotations

import json
import secrets
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.utils.translation import gettext as _

from ._aes import aes_ctr, hmac_sha256, new_iv, same_bytes
from .encoding import decode_base64, encode_base64
from .errors import MalformedData, NotAnExportFile, UnsupportedAlgorithm, WrongPassphrase

HEADER = "-----BEGIN MEGOLM SESSION DATA-----"
TRAILER = "-----END MEGOLM SESSION DATA-----"
VERSION = 1
DEFAULT_ROUNDS = 500_000
LINE_LENGTH = 96
# The round count comes from the file: cap the work a hostile file can make us do.
MAX_ROUNDS = 10_000_000
_MIN_LENGTH = 1 + 16 + 16 + 4 + 32
EXPORT_FIELDS = (
    "algorithm",
    "room_id",
    "sender_key",
    "session_id",
    "session_key",
    "sender_claimed_keys",
    "forwarding_curve25519_key_chain",
)


def _derive(passphrase: str, salt: bytes, rounds: int) -> tuple[bytes, bytes]:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA512(), length=64, salt=salt, iterations=rounds)
    key = kdf.derive(passphrase.encode("utf-8"))
    return key[:32], key[32:]


def encrypt_export(plaintext: bytes, passphrase: str, rounds: int = DEFAULT_ROUNDS) -> str:
    """The armoured export file text for arbitrary `plaintext` bytes."""
    if not passphrase:
        raise ValueError("An export needs a passphrase.")
    if not 0 < rounds <= MAX_ROUNDS:
        raise ValueError(f"The round count must be between 1 and {MAX_ROUNDS}.")
    salt = secrets.token_bytes(16)
    iv = new_iv()
    aes_key, hmac_key = _derive(passphrase, salt, rounds)
    body = bytes([VERSION]) + salt + iv + struct.pack(">I", rounds)
    body += aes_ctr(aes_key, iv, plaintext)
    body += hmac_sha256(hmac_key, body)
    encoded = encode_base64(body)
    encoded += "=" * (-len(encoded) % 4)  # Element writes padded base64; keep the file alike
    lines = [encoded[i : i + LINE_LENGTH] for i in range(0, len(encoded), LINE_LENGTH)]
    return "\n".join([HEADER, *lines, TRAILER]) + "\n"


def _body(text: str) -> bytes:
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as error:
            raise NotAnExportFile(
                _("This is not a room key export file (it is not text).")
            ) from error
    lines = [line.strip() for line in text.splitlines()]
    try:
        start = lines.index(HEADER)
    except ValueError:
        raise NotAnExportFile(
            _(
                "This is not a room key export file: it has no "
                "'-----BEGIN MEGOLM SESSION DATA-----' line."
            )
        ) from None
    try:
        end = lines.index(TRAILER, start + 1)
    except ValueError:
        raise NotAnExportFile(
            _(
                "The room key export file is cut short: its "
                "'-----END MEGOLM SESSION DATA-----' line is missing."
            )
        ) from None
    try:
        return decode_base64("".join(lines[start + 1 : end]), "export file")
    except MalformedData as error:
        raise NotAnExportFile(
            _("The room key export file is damaged: %(error)s") % {"error": error}
        ) from error


def decrypt_export(text: str | bytes, passphrase: str) -> bytes:
    """The plaintext bytes of an export file.

    Raises `NotAnExportFile` for text that is not one (or is truncated), `UnsupportedAlgorithm`
    for an unknown version, and `WrongPassphrase` when the HMAC does not match.
    """
    body = _body(text)
    if len(body) < _MIN_LENGTH:
        raise NotAnExportFile(_("The room key export file is too short: part of it is missing."))
    if body[0] != VERSION:
        raise UnsupportedAlgorithm(
            _(
                "This room key export file has format version %(version)s, which this client "
                "cannot read."
            )
            % {"version": body[0]}
        )
    salt, iv = body[1:17], body[17:33]
    (rounds,) = struct.unpack(">I", body[33:37])
    if not 0 < rounds <= MAX_ROUNDS:
        raise UnsupportedAlgorithm(
            _(
                "This room key export file asks for more key-derivation rounds than this client "
                "will do."
            )
        )
    ciphertext, mac = body[37:-32], body[-32:]
    aes_key, hmac_key = _derive(passphrase, salt, rounds)
    if not same_bytes(hmac_sha256(hmac_key, body[:-32]), mac):
        raise WrongPassphrase(
            _("Wrong passphrase for this room key export file (or the file was damaged).")
        )
    return aes_ctr(aes_key, iv, ciphertext)


def export_keys(
    sessions: Iterable[Mapping[str, Any]], passphrase: str, rounds: int = DEFAULT_ROUNDS
) -> str:
    """An export file of `sessions` (ExportedSessionData objects: algorithm, room_id,
    sender_key, session_id, session_key, sender_claimed_keys,
    forwarding_curve25519_key_chain), encrypted with `passphrase`."""
    sessions = [dict(session) for session in sessions]
    for session in sessions:
        missing = [name for name in EXPORT_FIELDS if name not in session]
        if missing:
            raise MalformedData(f"An exported room key lacks {', '.join(missing)}.")
    plaintext = json.dumps(sessions, ensure_ascii=False, separators=(",", ":"))
    return encrypt_export(plaintext.encode("utf-8"), passphrase, rounds)


def import_keys(text: str | bytes, passphrase: str) -> list[dict[str, Any]]:
    """The exported sessions in an export file (entries that are not objects are dropped;
    the caller checks each session's fields before importing it)."""
    plaintext = decrypt_export(text, passphrase)
    try:
        sessions = json.loads(plaintext.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise NotAnExportFile(
            _("The room key export file decrypts, but not to a list of room keys.")
        ) from error
    if not isinstance(sessions, list):
        raise NotAnExportFile(
            _("The room key export file decrypts, but not to a list of room keys.")
        )
    return [session for session in sessions if isinstance(session, dict)]
