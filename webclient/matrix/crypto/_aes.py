"""AES-256-CTR as Matrix clients run it, plus the small helpers every module needs.

Browsers (WebCrypto with `length: 64`) and libolm count only in the low 64 bits of the counter
block and wrap to zero there, keeping the high 64 bits; OpenSSL's CTR carries into the high
half. The spec clears bit 63 of new IVs so the two never differ for data we write, but files
from older clients can have any IV, so `Ctr64` switches to a fresh counter at the wrap point and
matches the browsers byte for byte.
"""

from __future__ import annotations

import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BLOCK = 16
_LOW = 2**64


class Ctr64:
    """An AES-256-CTR keystream over a 64-bit counter (the IV's low 8 bytes), fed in chunks."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256 needs a 32-byte key.")
        if len(iv) != BLOCK:
            raise ValueError("AES-CTR needs a 16-byte counter block.")
        self._key = key
        self._prefix = iv[:8]
        # Bytes this keystream can give before the low counter wraps.
        self._left = (_LOW - int.from_bytes(iv[8:], "big")) * BLOCK
        self._context = self._cipher(iv)

    def _cipher(self, iv: bytes) -> CipherContext:
        return Cipher(algorithms.AES(self._key), modes.CTR(iv)).encryptor()

    def update(self, data: bytes) -> bytes:
        """Encrypt or decrypt the next bytes of the stream (CTR is its own inverse)."""
        if len(data) <= self._left:
            self._left -= len(data)
            return self._context.update(data)
        head, tail = data[: self._left], data[self._left :]
        out = self._context.update(head)
        self._context = self._cipher(self._prefix + bytes(8))
        self._left = _LOW * BLOCK
        return out + self.update(tail)


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """One-shot AES-256-CTR with the browsers' 64-bit counter."""
    return Ctr64(key, iv).update(data)


def hkdf_sha256(secret: bytes, length: int, info: bytes, salt: bytes = bytes(32)) -> bytes:
    """HKDF-SHA-256; Matrix uses a salt of 32 zero bytes almost everywhere."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def same_bytes(a: bytes, b: bytes) -> bool:
    """Constant-time comparison, for MACs."""
    return hmac.compare_digest(a, b)


def new_iv() -> bytes:
    """16 random bytes with bit 63 cleared, as the spec asks for AES-CTR IVs it defines, so
    the 64-bit counter can never wrap inside a message."""
    iv = bytearray(secrets.token_bytes(BLOCK))
    iv[8] &= 0x7F
    return bytes(iv)
