"""Encrypted attachments (spec "Sending encrypted attachments"), chunk by chunk.

nio's `decrypt_attachment` needs the whole ciphertext in memory and checks the hash before it
returns anything; a media proxy wants to pass plaintext on as it arrives. `AttachmentDecryptor`
does that, and checks the SHA-256 of the ciphertext in `finalize()`: until then the output is
*unverified*, so the proxy must hold back (or abort the response on) the end of the stream when
`finalize()` raises. `AttachmentEncryptor` is the upload side, producing the `file` object
(v2: JWK key, IV with its low 64 bits zero, unpadded-base64 SHA-256) after the last chunk.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._aes import Ctr64, same_bytes
from .encoding import decode_base64, decode_base64_urlsafe, encode_base64, encode_base64_urlsafe
from .errors import AttachmentIntegrityError, MalformedData, UnsupportedAlgorithm

JWK_ALGORITHM = "A256CTR"


def _jwk_key(key: Any) -> bytes:
    if not isinstance(key, Mapping):
        raise MalformedData("The attachment's key is not a JSON Web Key.")
    if key.get("kty") != "oct" or key.get("alg", JWK_ALGORITHM) != JWK_ALGORITHM:
        raise UnsupportedAlgorithm(
            f"The attachment is encrypted with {key.get('alg')!r}/{key.get('kty')!r}, not "
            "AES-256-CTR."
        )
    k = key.get("k")
    if not isinstance(k, str):
        raise MalformedData("The attachment's key has no 'k'.")
    # The spec says URL-safe; tolerate standard base64 from sloppy senders.
    try:
        raw = decode_base64_urlsafe(k, "attachment key")
    except MalformedData:
        raw = decode_base64(k, "attachment key")
    if len(raw) != 32:
        raise MalformedData("The attachment's key does not have 32 bytes.")
    return raw


class AttachmentDecryptor:
    """Decrypts an attachment chunk by chunk from its `file` object (EncryptedFile).

    `update(chunk)` returns plaintext for each ciphertext chunk; `finalize()` raises
    `AttachmentIntegrityError` if the ciphertext's SHA-256 is not `file.hashes.sha256`.
    """

    def __init__(self, file: Mapping[str, Any]) -> None:
        if not isinstance(file, Mapping):
            raise MalformedData("The attachment has no 'file' object.")
        version = file.get("v", "v2")
        if version not in ("v1", "v2"):
            raise UnsupportedAlgorithm(f"Encrypted attachments of version {version!r} are unknown.")
        hashes = file.get("hashes")
        expected = hashes.get("sha256") if isinstance(hashes, Mapping) else None
        if not isinstance(expected, str):
            raise MalformedData("The attachment has no SHA-256 hash to check it against.")
        self._expected = decode_base64(expected, "attachment hash")
        if len(self._expected) != 32:
            raise MalformedData("The attachment's SHA-256 hash does not have 32 bytes.")
        iv_text = file.get("iv")
        if not isinstance(iv_text, str):
            raise MalformedData("The attachment has no IV.")
        iv = decode_base64(iv_text, "attachment IV")
        if len(iv) != 16:
            raise MalformedData("The attachment's IV does not have 16 bytes.")
        self._stream = Ctr64(_jwk_key(file.get("key")), iv)
        self._hash = hashlib.sha256()
        self._finished = False

    def update(self, chunk: bytes) -> bytes:
        """Plaintext for the next ciphertext chunk (not yet verified, see `finalize`)."""
        if self._finished:
            raise ValueError("The attachment was already finalized.")
        self._hash.update(chunk)
        return self._stream.update(chunk)

    def finalize(self) -> None:
        """Check the whole ciphertext's hash. Raises `AttachmentIntegrityError` on mismatch."""
        self._finished = True
        if not same_bytes(self._hash.digest(), self._expected):
            raise AttachmentIntegrityError(
                "The attachment is damaged or was tampered with: its content does not match "
                "the hash in the message."
            )


def decrypt_stream(file: Mapping[str, Any], chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Plaintext chunks for ciphertext `chunks`; raises `AttachmentIntegrityError` after the
    last chunk if the hash does not match (earlier chunks are already out by then)."""
    decryptor = AttachmentDecryptor(file)
    for chunk in chunks:
        out = decryptor.update(chunk)
        if out:
            yield out
    decryptor.finalize()


class AttachmentEncryptor:
    """Encrypts an upload chunk by chunk; `finalize(url)` gives the event's `file` object."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        # v2: random high 64 bits, counter (low 64 bits) from zero, so it never wraps.
        self._iv = secrets.token_bytes(8) + bytes(8)
        self._stream = Ctr64(self._key, self._iv)
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> bytes:
        """Ciphertext for the next plaintext chunk."""
        out = self._stream.update(chunk)
        self._hash.update(out)
        self.size += len(chunk)
        return out

    def finalize(self, url: str | None = None) -> dict[str, Any]:
        """The EncryptedFile object (add `url` once the upload returned its mxc:// URI)."""
        file: dict[str, Any] = {
            "v": "v2",
            "key": {
                "kty": "oct",
                "key_ops": ["encrypt", "decrypt"],
                "alg": JWK_ALGORITHM,
                "k": encode_base64_urlsafe(self._key),
                "ext": True,
            },
            "iv": encode_base64(self._iv),
            "hashes": {"sha256": encode_base64(self._hash.digest())},
        }
        if url is not None:
            file["url"] = url
        return file
