"""Matrix logins kept on the server, so the browser never holds an access token: the
browser's own (`Credential`), automations' devices, and kiosk links' display devices."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
from django.db import models

from . import tokens

#: The browser session's key for the `Credential` it is signed in with.
SESSION_KEY = "matrix_credential_id"


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
    # The viewer's choices for this login; empty follows the browser (prefers-color-scheme
    # and prefers-contrast; Accept-Language; the browser's time zone).
    theme = models.CharField(max_length=16, blank=True, default="")
    language = models.CharField(max_length=16, blank=True, default="")
    time_zone = models.CharField(max_length=64, blank=True, default="")
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


KIOSK_SALT = "webclient.kiosk"
#: A kiosk screen's looks, and how many rooms it shows side by side at most.
KIOSK_THEMES = ("dark", "light")
KIOSK_MAX_ROOMS = 4


def _nonce() -> str:
    return secrets.token_urlsafe(16)


class KioskLink(models.Model):
    """A kiosk screen's signed, revocable link. It reads through its own display device
    (`credential`), so every screen showing the link shares one sync loop, and revoking the
    link signs that device out without touching the owner's other sessions."""

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
    # Membership changes and other state lines ("X joined", "X changed the topic"): hidden
    # on the wall unless the link asks for them.
    show_state = models.BooleanField(default=False)
    # Part of the signed token: a link whose nonce changed (or whose row is gone) is dead.
    nonce = models.CharField(max_length=40, default=_nonce)
    created = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Made by the rooms app before it had only views; the table keeps its name.
        db_table = "rooms_kiosklink"
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"kiosk {self.name} ({len(self.room_ids)} rooms)"

    @property
    def token(self) -> str:
        return signing.dumps({"k": self.pk, "n": self.nonce}, salt=KIOSK_SALT, compress=False)

    @classmethod
    async def from_token(cls, token: str) -> KioskLink | None:
        """The live link a token names; None for a forged, altered or revoked one."""
        try:
            data = signing.loads(token, salt=KIOSK_SALT)
        except signing.BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("k"), int):
            return None
        link = await cls.objects.select_related("credential").filter(pk=data["k"]).afirst()
        if link is None or not secrets.compare_digest(link.nonce, str(data.get("n", ""))):
            return None
        return link


def seal_snapshot(snapshot: dict) -> dict:
    """The room list as stored: encrypted, since its previews may be decrypted messages."""
    import json

    return {"sealed": tokens.encrypt(json.dumps(snapshot))}


def load_snapshot(stored: object) -> dict:
    """The room list from what `seal_snapshot` stored (or an older plain one)."""
    import json

    from cryptography.fernet import InvalidToken

    if not isinstance(stored, dict):
        return {}
    if "sealed" not in stored:
        return stored
    try:
        return json.loads(tokens.decrypt(str(stored["sealed"])))
    except (InvalidToken, ValueError):
        return {}


async def credential_for(session) -> Credential | None:  # noqa: ANN001 - a SessionBase
    """The login a browser session (Django's, of a page or a websocket) is signed in with."""
    credential_id = await session.aget(SESSION_KEY)
    if not credential_id:
        return None
    return await Credential.objects.filter(pk=credential_id).afirst()


# -- end-to-end encryption: the crypto store of each device in the shared database -----------
#
# Used when the database is PostgreSQL (webclient.matrix.crypto.store): nio calls its store
# synchronously from inside async code, so these tables are read and written with psycopg
# directly, never through the ORM. The models exist for the migrations (the schema) and for
# operators. On the embedded default each device's store is a SQLite file with the same
# tables instead, and these stay empty. Pickles are encrypted (CRYPTO_STORE_KEY).


class CryptoAccount(models.Model):
    """The olm account of one Matrix device, and the fencing token of its last writer."""

    user_id = models.TextField()
    device_id = models.TextField()
    # vodozemac pickle, encrypted with the store key; null until nio first saves it.
    account = models.BinaryField(null=True)
    shared = models.BooleanField(default=False)
    # The newest lease fencing token that wrote here: writes with an older one are refused.
    fence = models.BigIntegerField(default=0)
    # Tells a wrong store key from a corrupt store (not the key, nor anything derived from it
    # that decrypts anything).
    key_check = models.TextField()
    sync_token = models.TextField(default="")

    class Meta:
        db_table = "matrix_crypto_account"
        constraints = [
            models.UniqueConstraint(fields=["user_id", "device_id"], name="crypto_account_device")
        ]


class CryptoOlmSession(models.Model):
    account = models.ForeignKey(CryptoAccount, on_delete=models.CASCADE)
    session_id = models.TextField()
    sender_key = models.TextField()
    session = models.BinaryField()
    creation_time = models.FloatField()
    use_time = models.FloatField()

    class Meta:
        db_table = "matrix_crypto_olm_session"
        constraints = [
            models.UniqueConstraint(fields=["account", "session_id"], name="crypto_olm_session")
        ]


class CryptoGroupSession(models.Model):
    """An inbound megolm session (a room key)."""

    account = models.ForeignKey(CryptoAccount, on_delete=models.CASCADE)
    room_id = models.TextField()
    sender_key = models.TextField()
    session_id = models.TextField()
    signing_key = models.TextField()
    session = models.BinaryField()
    # JSON list of curve25519 keys the key was forwarded through.
    forwarding_chain = models.TextField(default="[]")

    class Meta:
        db_table = "matrix_crypto_group_session"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "room_id", "sender_key", "session_id"],
                name="crypto_group_session",
            )
        ]


class CryptoDevice(models.Model):
    """Another device's public keys as this device knows them, and how far it trusts it."""

    account = models.ForeignKey(CryptoAccount, on_delete=models.CASCADE)
    user_id = models.TextField()
    device_id = models.TextField()
    display_name = models.TextField(default="")
    deleted = models.BooleanField(default=False)
    # JSON object: key type (ed25519, curve25519) -> key.
    keys = models.TextField(default="{}")
    # nio's TrustState: 0 unset, 1 verified, 2 blacklisted, 3 ignored.
    trust_state = models.IntegerField(default=0)

    class Meta:
        db_table = "matrix_crypto_device"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "user_id", "device_id"], name="crypto_device"
            )
        ]


class CryptoEncryptedRoom(models.Model):
    account = models.ForeignKey(CryptoAccount, on_delete=models.CASCADE)
    room_id = models.TextField()

    class Meta:
        db_table = "matrix_crypto_encrypted_room"
        constraints = [
            models.UniqueConstraint(fields=["account", "room_id"], name="crypto_encrypted_room")
        ]


class CryptoKeyRequest(models.Model):
    """A room key request this device sent and has not seen answered."""

    account = models.ForeignKey(CryptoAccount, on_delete=models.CASCADE)
    request_id = models.TextField()
    session_id = models.TextField()
    room_id = models.TextField()
    algorithm = models.TextField()

    class Meta:
        db_table = "matrix_crypto_key_request"
        constraints = [
            models.UniqueConstraint(fields=["account", "request_id"], name="crypto_key_request")
        ]


class CryptoSecret(models.Model):
    """A secret the device keeps (a cross-signing private key, the backup key), encrypted."""

    account = models.ForeignKey(CryptoAccount, on_delete=models.CASCADE)
    name = models.TextField()
    value = models.TextField()

    class Meta:
        db_table = "matrix_crypto_secret"
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="crypto_secret")]


class CryptoLease(models.Model):
    """Which process drives a device's encryption, when leases are kept in PostgreSQL (no
    REDIS_URL). `token` only ever grows: it is the fencing token of the newest holder."""

    device_key = models.TextField(primary_key=True)
    owner = models.TextField()
    token = models.BigIntegerField()
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "matrix_crypto_lease"
