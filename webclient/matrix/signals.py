"""What happens when a login is forgotten (its device's crypto store goes with it), and
what an open device's encryption listens to (key verification, secret requests)."""

from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .crypto.store import forget_credential
from .encryption import DeviceCrypto, opened
from .models import Credential
from .verification import Verifications


@receiver(post_delete, sender=Credential)
def _delete_crypto_store(sender, instance: Credential, **kwargs) -> None:  # noqa: ANN001
    """Signing out (or a revoked token) deletes the device's crypto store, once committed."""
    forget_credential(instance)


@receiver(opened, sender=DeviceCrypto)
def _verifications(sender, crypto: DeviceCrypto, **kwargs) -> None:  # noqa: ANN001
    """An open device answers and makes key verifications (SAS) and secret requests."""
    Verifications.attach(crypto)
