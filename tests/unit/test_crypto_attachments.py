"""Streaming encrypted attachments (webclient.matrix.crypto.attachments) against nio's
nio.crypto.attachments, and the 64-bit counter of AES-CTR (webclient.matrix.crypto._aes)."""

from __future__ import annotations

import base64
import os
import random

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from nio.crypto.attachments import decrypt_attachment, encrypt_attachment

from webclient.matrix.crypto._aes import Ctr64
from webclient.matrix.crypto.attachments import (
    AttachmentDecryptor,
    AttachmentEncryptor,
    decrypt_stream,
)
from webclient.matrix.crypto.errors import (
    AttachmentIntegrityError,
    MalformedData,
    UnsupportedAlgorithm,
)


def b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def chunks(data: bytes, seed: int) -> list[bytes]:
    """`data` cut at random places (including empty pieces), as a network delivers it."""
    rng = random.Random(seed)
    out, at = [], 0
    while at < len(data):
        size = rng.choice([0, 1, 7, 15, 16, 17, 1000, 65536])
        out.append(data[at : at + size])
        at += size
    return out


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 100_000])
def test_we_decrypt_what_nio_encrypts_chunk_by_chunk(size: int) -> None:
    plaintext = os.urandom(size)
    ciphertext, info = encrypt_attachment(plaintext)
    file = {**info, "url": "mxc://example.org/abc"}
    decryptor = AttachmentDecryptor(file)
    out = b"".join(decryptor.update(piece) for piece in chunks(ciphertext, size))
    decryptor.finalize()
    assert out == plaintext
    assert b"".join(decrypt_stream(file, chunks(ciphertext, size + 1))) == plaintext


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 100_000])
def test_nio_decrypts_what_we_encrypt(size: int) -> None:
    plaintext = os.urandom(size)
    encryptor = AttachmentEncryptor()
    ciphertext = b"".join(encryptor.update(piece) for piece in chunks(plaintext, size))
    file = encryptor.finalize("mxc://example.org/xyz")
    assert encryptor.size == size
    assert decrypt_attachment(
        ciphertext, file["key"]["k"], file["hashes"]["sha256"], file["iv"]
    ) == (plaintext)


def test_file_object_shape() -> None:
    encryptor = AttachmentEncryptor()
    encryptor.update(b"hello")
    file = encryptor.finalize("mxc://example.org/xyz")
    assert file["v"] == "v2" and file["url"] == "mxc://example.org/xyz"
    key = file["key"]
    assert key["kty"] == "oct" and key["alg"] == "A256CTR" and key["ext"] is True
    assert key["key_ops"] == ["encrypt", "decrypt"]
    assert "=" not in key["k"] and "+" not in key["k"] and "/" not in key["k"]
    assert len(base64.urlsafe_b64decode(key["k"] + "=")) == 32
    iv = b64(file["iv"])
    assert len(iv) == 16 and iv[8:] == bytes(8), "v2: the counter half of the IV starts at 0"
    assert not file["iv"].endswith("=") and not file["hashes"]["sha256"].endswith("=")
    assert "url" not in AttachmentEncryptor().finalize()


def test_tampered_or_wrong_hash_is_detected_at_the_end() -> None:
    ciphertext, info = encrypt_attachment(b"x" * 1000)
    tampered = bytearray(ciphertext)
    tampered[500] ^= 1
    decryptor = AttachmentDecryptor(info)
    decryptor.update(bytes(tampered))
    with pytest.raises(AttachmentIntegrityError, match="does not match"):
        decryptor.finalize()
    with pytest.raises(AttachmentIntegrityError):
        list(decrypt_stream(info, [ciphertext[:-1]]))
    with pytest.raises(ValueError):
        decryptor.update(b"more")


def test_malformed_file_objects() -> None:
    _, info = encrypt_attachment(b"data")
    with pytest.raises(MalformedData, match="hash"):
        AttachmentDecryptor({**info, "hashes": {}})
    with pytest.raises(MalformedData, match="IV"):
        AttachmentDecryptor({**info, "iv": "AAAA"})
    with pytest.raises(UnsupportedAlgorithm):
        AttachmentDecryptor({**info, "key": {**info["key"], "alg": "A128GCM"}})
    with pytest.raises(UnsupportedAlgorithm):
        AttachmentDecryptor({**info, "v": "v3"})
    with pytest.raises(MalformedData):
        AttachmentDecryptor({**info, "key": {**info["key"], "k": "c2hvcnQ"}})


def test_standard_alphabet_key_from_sloppy_senders_is_accepted() -> None:
    plaintext = os.urandom(100)
    ciphertext, info = encrypt_attachment(plaintext)
    raw_key = base64.urlsafe_b64decode(info["key"]["k"] + "=")
    standard = base64.b64encode(raw_key).decode()
    decryptor = AttachmentDecryptor({**info, "key": {**info["key"], "k": standard}})
    assert decryptor.update(ciphertext) == plaintext
    decryptor.finalize()


# --- the 64-bit counter ----------------------------------------------------------------------


def keystream_by_blocks(key: bytes, iv: bytes, length: int) -> bytes:
    """AES of successive counter blocks, low 64 bits wrapping (WebCrypto `length: 64`)."""
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 (CTR by hand)
    high, low = iv[:8], int.from_bytes(iv[8:], "big")
    out = b""
    while len(out) < length:
        out += ecb.update(high + low.to_bytes(8, "big"))
        low = (low + 1) % 2**64
    return out[:length]


@pytest.mark.parametrize("low", [0, 2**63 - 1, 2**64 - 3, 2**64 - 1])
def test_counter_wraps_in_the_low_64_bits_like_browsers(low: int) -> None:
    key = os.urandom(32)
    iv = os.urandom(8) + low.to_bytes(8, "big")
    data = os.urandom(16 * 6 + 5)
    expected = bytes(
        a ^ b for a, b in zip(data, keystream_by_blocks(key, iv, len(data)), strict=True)
    )
    stream = Ctr64(key, iv)
    assert b"".join(stream.update(piece) for piece in chunks(data, low % 1000)) == expected
