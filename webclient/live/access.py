"""Access for pages that are not the signed-in client: embed tickets and kiosk links.

An embed page is read through the viewer's own login, the display account or the guest
account (see `rooms/embed.py`); it then hands its websocket and media requests a short-lived
signed *ticket* naming that credential and the room, so they need no cookie (a cross-site
iframe may not send one). A kiosk screen's access is its link's token. Either way the
credential is checked on every use: signing out, revoking the link or the homeserver
revoking the token ends access at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from webclient.matrix.models import Credential, KioskLink

TICKET_SALT = "webclient.embed.ticket"
MODES = ("own", "display", "guest")


@dataclass
class Access:
    credential: Credential
    room_ids: list[str]
    mode: str  # "own", "display", "guest" or "kiosk"
    # The URL prefix that replaces "/media/" in fragments, so media loads without a cookie.
    media_prefix: str
    can_send: bool = False
    kiosk: KioskLink | None = field(default=None, repr=False)


def issue_ticket(credential: Credential, room_id: str, mode: str, can_send: bool = False) -> str:
    data = {"c": credential.pk, "r": room_id, "m": mode, "w": bool(can_send and mode == "own")}
    # One ticket per embedded page, even for two pages of one room in the same second (a
    # signature is otherwise the same): each page has its own media path.
    data["n"] = secrets.token_urlsafe(6)
    return signing.dumps(data, salt=TICKET_SALT, compress=False)


async def from_ticket(ticket: str) -> Access | None:
    """The access a ticket grants; None when it is forged, expired or its login is gone."""
    try:
        data = signing.loads(ticket, salt=TICKET_SALT, max_age=settings.EMBED_TICKET_SECONDS)
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or data.get("m") not in MODES:
        return None
    credential = await Credential.objects.filter(pk=data.get("c")).afirst()
    if credential is None or not isinstance(data.get("r"), str):
        return None
    return Access(
        credential=credential,
        room_ids=[data["r"]],
        mode=data["m"],
        media_prefix=reverse("rooms:embed_ticket_root", args=[ticket]),
        can_send=bool(data.get("w")),
    )


async def from_kiosk_token(token: str, *, seen: bool = False) -> Access | None:
    link = await KioskLink.from_token(token)
    if link is None:
        return None
    if seen:
        await KioskLink.objects.filter(pk=link.pk).aupdate(last_seen=timezone.now())
    return Access(
        credential=link.credential,
        room_ids=list(link.room_ids),
        mode="kiosk",
        media_prefix=reverse("rooms:kiosk", args=[token]),
        kiosk=link,
    )


@cache
def media_base() -> str:
    """Where fragments point media: "/media/" (the signed-in proxy)."""
    return reverse("media:download", args=["s", "i"]).removesuffix("s/i/")


def rewrite_media(html: str, prefix: str) -> str:
    """Point a fragment's media at `prefix` + "media/…". Only attribute values start with a
    quote and the media path: Matrix-supplied text has its quotes escaped."""
    base = media_base()
    return html.replace(f'"{base}', f'"{prefix}media/')
