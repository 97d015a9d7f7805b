"""What happens when a login is forgotten: its device's crypto store goes with it."""

from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .crypto.store import forget_credential
from .models import Credential


@receiver(post_delete, sender=Credential)
def _delete_crypto_store(sender, instance: Credential, **kwargs) -> None:  # noqa: ANN001
    """Signing out (or a revoked token) deletes the device's crypto store, once committed."""
    forget_credential(instance)
