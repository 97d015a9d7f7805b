"""A Matrix login kept on the server, so the browser never holds the access token."""

from django.conf import settings
from django.db import models

from . import tokens


class Credential(models.Model):
    """One Matrix device that this client signed in (or was handed a token for)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="matrix_credentials"
    )
    user_id = models.CharField(max_length=255)
    device_id = models.CharField(max_length=255, blank=True)
    homeserver = models.URLField(max_length=500)
    access_token_encrypted = models.TextField()
    # True when we created the device by password login: logging out then deletes it on
    # the homeserver. A pasted access token belongs to someone else's device (a bot, an
    # automation): signing out of the client forgets it but does not revoke it.
    owns_device = models.BooleanField(default=True)
    sync_token = models.TextField(blank=True)
    # The room list as of `sync_token` (see matrix.roomstate), so a restarted server can
    # show rooms and resume with an incremental sync instead of a full initial sync.
    rooms_snapshot = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user_id", "device_id"])]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.device_id or 'unknown device'})"

    @property
    def access_token(self) -> str:
        return tokens.decrypt(self.access_token_encrypted)

    @access_token.setter
    def access_token(self, value: str) -> None:
        self.access_token_encrypted = tokens.encrypt(value)

    @property
    def group_name(self) -> str:
        """The channel-layer group that carries this device's live events to its viewers."""
        return f"device.{self.pk}"

    @property
    def screens_group(self) -> str:
        """The group of this device's viewers without a login of their own (embeds, kiosk
        screens): room events, headers, typing and status only, none of a person's unread
        counts, notifications or room list."""
        return f"device.{self.pk}.screens"

    @property
    def groups(self) -> tuple[str, str]:
        return (self.group_name, self.screens_group)


class AutomationDevice(models.Model):
    """A separate Matrix device signed in for an automation (n8n, Windmill, Netdata).

    Its access token is shown once, when it is created. It is kept here encrypted only so the
    device can be revoked with one click (`/logout` with that token deletes the device); no
    page ever shows it again.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="automation_devices"
    )
    user_id = models.CharField(max_length=255)
    homeserver = models.URLField(max_length=500)
    device_id = models.CharField(max_length=255)
    name = models.CharField(max_length=100)
    access_token_encrypted = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id} {self.device_id})"

    @property
    def access_token(self) -> str:
        return tokens.decrypt(self.access_token_encrypted)

    @access_token.setter
    def access_token(self, value: str) -> None:
        self.access_token_encrypted = tokens.encrypt(value)
