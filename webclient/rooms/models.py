"""Kiosk links: a signed, revocable address that shows rooms on a screen with no login."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
from django.db import models

from webclient.matrix.models import Credential

SALT = "webclient.kiosk"
THEMES = ("dark", "light")
MAX_ROOMS = 4


def _nonce() -> str:
    return secrets.token_urlsafe(16)


class KioskLink(models.Model):
    """A kiosk screen's link. It reads through its own display device (`credential`), so
    every screen showing the link shares one sync loop, and revoking the link signs that
    device out without touching the owner's other sessions."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="kiosk_links"
    )
    # The display device the screens read through (signing out of the browser that made
    # the link leaves it running; signing this device out anywhere ends the link).
    credential = models.OneToOneField(
        Credential, on_delete=models.CASCADE, related_name="kiosk_link"
    )
    name = models.CharField(max_length=100)
    room_ids = models.JSONField(default=list)
    theme = models.CharField(max_length=10, default="dark")
    font_scale = models.FloatField(default=1.5)
    # Part of the signed token: a link whose nonce changed (or whose row is gone) is dead.
    nonce = models.CharField(max_length=40, default=_nonce)
    created = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"kiosk {self.name} ({len(self.room_ids)} rooms)"

    @property
    def token(self) -> str:
        return signing.dumps({"k": self.pk, "n": self.nonce}, salt=SALT, compress=False)

    @classmethod
    async def from_token(cls, token: str) -> KioskLink | None:
        """The live link a token names; None for a forged, altered or revoked one."""
        try:
            data = signing.loads(token, salt=SALT)
        except signing.BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("k"), int):
            return None
        link = await cls.objects.select_related("credential").filter(pk=data["k"]).afirst()
        if link is None or not secrets.compare_digest(link.nonce, str(data.get("n", ""))):
            return None
        return link
