"""Pure building blocks for end-to-end encryption that matrix-nio does not provide.

nio (with vodozemac) does olm, megolm and SAS. These modules add what it lacks, as functions
over plain JSON-shaped data with no network, database or Django: canonical JSON and signing
(`signing`), recovery keys and passphrases (`recovery`), secret storage (`secret_storage`),
cross-signing (`cross_signing`), server-side key backup (`backup`), room key export files
(`key_export`) and streaming attachment encryption (`attachments`); and where a device's
crypto lives: its store (`store`, encrypted at rest) and the lease that lets one process at
a time drive it (`lease`). Failures are the typed
exceptions of `errors`, with a sentence a person can act on.
"""

from .errors import (
    AttachmentIntegrityError,
    BadSignature,
    CanonicalJsonError,
    CryptoError,
    InvalidRecoveryKey,
    MalformedData,
    NotAnExportFile,
    UnsupportedAlgorithm,
    WrongBackupKey,
    WrongPassphrase,
    WrongRecoveryKey,
)

__all__ = [
    "AttachmentIntegrityError",
    "BadSignature",
    "CanonicalJsonError",
    "CryptoError",
    "InvalidRecoveryKey",
    "MalformedData",
    "NotAnExportFile",
    "UnsupportedAlgorithm",
    "WrongBackupKey",
    "WrongPassphrase",
    "WrongRecoveryKey",
]
