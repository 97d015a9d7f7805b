"""The pure rules of embedding and kiosk access: frame-ancestors per path, origin checking,
media rewriting, and the signed tickets and kiosk tokens (forged, expired, revoked)."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ImproperlyConfigured

from webclient import build
from webclient.live import access as viewers
from webclient.matrix.models import Credential, KioskLink
from webclient.web.middleware import POLICY, embed_origins, policy_for

db = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "origin",
    [
        "https://intranet.example.com",
        "http://localhost:8080",
        "http://127.0.0.1:9",
        "http://[::1]:3000",
    ],
)
def test_good_origins_are_kept(settings, origin):
    settings.EMBED_ALLOWED_ORIGINS = [origin + "/"]
    assert embed_origins() == [origin]


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://*.example.com",
        "intranet.example.com",
        "https://intranet.example.com/wiki",
        "https://a.example; script-src *",
        "'self'",
        "javascript:alert(1)",
        "https://a.example https://b.example",
    ],
)
def test_bad_origins_stop_the_server(settings, origin):
    settings.EMBED_ALLOWED_ORIGINS = [origin]
    with pytest.raises(ImproperlyConfigured, match="EMBED_ALLOWED_ORIGINS"):
        embed_origins()


def test_only_embed_pages_name_the_origins():
    origins = ["https://a.example", "http://b.example:8080"]
    embed = policy_for("/embed/!room:hs/", origins)
    assert "frame-ancestors https://a.example http://b.example:8080" in embed
    assert "frame-ancestors 'none'" not in embed
    assert "script-src 'self'" in embed
    for path in ("/rooms/!room:hs/", "/kiosk/token/", "/login/", "/settings/kiosks/", "/embedx/"):
        assert policy_for(path, origins) == POLICY
    assert policy_for("/embed/!room:hs/", []) == POLICY
    assert "frame-ancestors 'none'" in POLICY


def test_media_is_pointed_at_the_ticket_path():
    html = (
        '<img src="/media/hs.example/abc/thumbnail/?width=320" alt="x">'
        '<a href="/media/hs.example/abc/?filename=a.pdf">a.pdf</a>'
        "<p>see &quot;/media/hs.example/abc/&quot; or /media/x/</p>"
    )
    out = viewers.rewrite_media(html, "/kiosk/T/")
    assert '<img src="/kiosk/T/media/hs.example/abc/thumbnail/?width=320"' in out
    assert '<a href="/kiosk/T/media/hs.example/abc/?filename=a.pdf"' in out
    # Text a sender wrote is escaped, so it is never taken for an attribute.
    assert "<p>see &quot;/media/hs.example/abc/&quot; or /media/x/</p>" in out


def test_build_id_from_the_environment_or_the_code(settings):
    build.build_id.cache_clear()
    settings.WEBCLIENT_BUILD_ID = "release-42"
    assert build.build_id() == "release-42"
    build.build_id.cache_clear()
    settings.WEBCLIENT_BUILD_ID = ""
    computed = build.build_id()
    assert len(computed) == 16 and computed == build.build_id()
    build.build_id.cache_clear()


async def _credential(user_id: str = "@display:hs.example") -> Credential:
    owner, _ = await get_user_model().objects.aget_or_create(username=user_id)
    credential = Credential(
        owner=owner, user_id=user_id, device_id="DEV", homeserver="http://hs.example"
    )
    credential.access_token = "secret-token"
    await credential.asave()
    return credential


@db
async def test_a_ticket_grants_its_room_only_while_its_login_lives(settings):
    credential = await _credential()
    ticket = viewers.issue_ticket(credential, "!room:hs.example", "display", can_send=True)
    access = await viewers.from_ticket(ticket)
    assert access is not None
    assert access.credential.pk == credential.pk
    assert access.room_ids == ["!room:hs.example"]
    assert access.can_send is False  # only a viewer's own login may post
    assert access.media_prefix.endswith(ticket + "/")
    own = await viewers.from_ticket(viewers.issue_ticket(credential, "!r:hs", "own", True))
    assert own is not None and own.can_send is True

    # Altered: another room, or another credential.
    head, _, tail = ticket.partition(":")
    forged = signing.b64_encode(b'{"c":1,"r":"!other:hs.example","m":"display","w":true}')
    assert await viewers.from_ticket(forged.decode() + ":" + tail) is None
    assert await viewers.from_ticket(ticket[:-2] + "xx") is None
    assert await viewers.from_ticket("") is None

    await credential.adelete()  # signed out, or the token was revoked
    assert await viewers.from_ticket(ticket) is None


@db
async def test_an_expired_ticket_is_refused(settings):
    credential = await _credential()
    ticket = viewers.issue_ticket(credential, "!room:hs.example", "guest")
    settings.EMBED_TICKET_SECONDS = 1
    await asyncio.sleep(2.1)
    assert await viewers.from_ticket(ticket) is None
    settings.EMBED_TICKET_SECONDS = 3600
    assert await viewers.from_ticket(ticket) is not None


@db
async def test_kiosk_tokens_are_signed_and_revocable():
    credential = await _credential("@kiosk:hs.example")
    link = await KioskLink.objects.acreate(
        owner_id=credential.owner_id, credential=credential, name="lobby", room_ids=["!a:hs"]
    )
    token = link.token
    access = await viewers.from_kiosk_token(token, seen=True)
    assert access is not None and access.mode == "kiosk" and access.room_ids == ["!a:hs"]
    assert access.media_prefix == f"/kiosk/{token}/"
    await link.arefresh_from_db()
    assert link.last_seen is not None

    # A token for another link id, with this link's signature, does not verify.
    payload, _, rest = token.partition(":")
    other = signing.b64_encode(f'{{"k":{link.pk + 1},"n":"{link.nonce}"}}'.encode()).decode()
    assert await KioskLink.from_token(other + ":" + rest) is None
    # Rotating the nonce kills old tokens; deleting the link (revoking) too.
    link.nonce = "changed"
    await link.asave()
    assert await KioskLink.from_token(token) is None
    assert await KioskLink.from_token(link.token) is not None
    await credential.adelete()
    assert await KioskLink.from_token(link.token) is None
