"""Base64 and base58 as Matrix uses them.

Matrix writes binary values as *unpadded* standard base64, but some implementations send the
padded form (secret storage, backup keys), so decoding accepts both; attachment keys (JWK `k`)
use the URL-safe alphabet. Decoding is strict about the alphabet: a stray character is a
corrupted value, not something to skip silently. Base58 (Bitcoin alphabet) is what recovery keys
are written in.
"""

from __future__ import annotations

import base64
import binascii
import re

from .errors import MalformedData

_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URLSAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def encode_base64(data: bytes) -> str:
    """Unpadded standard base64, the spec's form for keys, signatures and ciphertexts."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def encode_base64_urlsafe(data: bytes) -> str:
    """Unpadded URL-safe base64 (`-` and `_`), used for the JWK `k` of attachments."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _decode(value: str, pattern: re.Pattern[str], decoder, what: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("ascii", errors="replace")
    if not isinstance(value, str):
        raise MalformedData(f"The {what} is not a base64 string.")
    if not pattern.fullmatch(value):
        raise MalformedData(f"The {what} is not valid base64: it has characters outside base64.")
    body = value.rstrip("=")
    if len(body) % 4 == 1:
        raise MalformedData(f"The {what} is not valid base64: its length is impossible.")
    try:
        return decoder(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as error:
        raise MalformedData(f"The {what} is not valid base64.") from error


def decode_base64(value: str, what: str = "value") -> bytes:
    """Standard base64, padded or not. `what` names the value in the error message."""
    return _decode(value, _STANDARD, base64.b64decode, what)


def decode_base64_urlsafe(value: str, what: str = "value") -> bytes:
    """URL-safe base64, padded or not."""
    return _decode(value, _URLSAFE, base64.urlsafe_b64decode, what)


BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(BASE58_ALPHABET)}


def encode_base58(data: bytes) -> str:
    """Base58 with the Bitcoin alphabet; each leading zero byte becomes a leading '1'."""
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(BASE58_ALPHABET[remainder])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def decode_base58(text: str) -> bytes:
    """The inverse of `encode_base58`. Raises `MalformedData` naming the first bad character."""
    number = 0
    for char in text:
        index = _BASE58_INDEX.get(char)
        if index is None:
            raise MalformedData(f"{char!r} is not a base58 character.")
        number = number * 58 + index
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
