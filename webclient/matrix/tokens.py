"""Access tokens are encrypted at rest, so a leaked database does not leak Matrix accounts.

The key comes from `TOKEN_ENCRYPTION_KEY` (a Fernet key), or is derived from `SECRET_KEY`
when that is not set.
"""

import base64
from functools import cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@cache
def _fernet(key_setting: str, secret_key: str) -> Fernet:
    if key_setting:
        return Fernet(key_setting.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"webclient access tokens"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(settings.TOKEN_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt(token: str) -> str:
    return fernet().encrypt(token.encode()).decode()


def decrypt(ciphertext: str) -> str:
    return fernet().decrypt(ciphertext.encode()).decode()
