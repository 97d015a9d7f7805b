"""The failures of the crypto building blocks, one type per thing a person can act on.

The session code catches these by type to choose what to say or do (ask again for the recovery
key, offer to reset secret storage, drop a forged signature); `str(error)` is an English sentence
that names the problem, for logs and as a fallback. No Django here: these modules stay pure, so
translating is the caller's job, keyed on the type.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class: something in the end-to-end encryption data could not be used."""


class MalformedData(CryptoError, ValueError):
    """Data from the server, a file or a peer is not in the shape the spec gives it."""


class UnsupportedAlgorithm(CryptoError):
    """The data names an algorithm (or parameters) that this client does not implement."""


class CanonicalJsonError(CryptoError, ValueError):
    """A value cannot be written as canonical JSON (a fraction, a huge number, a bad string)."""


class BadSignature(CryptoError):
    """A signature that should be there is missing, malformed, or does not verify."""


class InvalidRecoveryKey(CryptoError, ValueError):
    """What was typed is not a well-formed recovery key (typo, wrong length, stray characters)."""


class WrongRecoveryKey(CryptoError):
    """A well-formed key that does not open this data: it belongs to something else."""


class WrongBackupKey(WrongRecoveryKey):
    """The backup key does not decrypt this backup (another backup's key, or a stale one)."""


class WrongPassphrase(CryptoError):
    """The passphrase does not open this data (a typo, or a different passphrase)."""


class NotAnExportFile(CryptoError, ValueError):
    """The file is not an Element-style room key export."""


class AttachmentIntegrityError(CryptoError):
    """An encrypted attachment's bytes do not match the hash its event announced."""
