"""Embed pages against a real Synapse: who reads (own login, display account, guest), what
their ticket's socket may follow and do, media through the ticket, framing headers, and the
cross-site cookie. Pages are fetched with Django's async client; sockets are
`WebsocketCommunicator`s on the real ASGI application, without any cookie."""

from __future__ import annotations

import asyncio
import re
import uuid
from urllib.parse import urlencode

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from tests.client_helpers import ORIGIN, events_with, receive_until, sign_in, synced_session
from tests.matrix_helpers import sent_by, shared_room
from tests.media_helpers import image_bytes, read_all, send_content, upload_raw
from tests.synapse_fixtures import matrix_api
from webclient.asgi import application
from webclient.web.middleware import EMBED_COOKIE

db = pytest.mark.django_db(transaction=True)
CS = "/_matrix/client/v3"


def ticket_of(html: str) -> str:
    found = re.search(r'data-ws-ticket="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def mode_of(html: str) -> str:
    found = re.search(r'data-mode="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


async def socket(**params: str) -> WebsocketCommunicator:
    path = "/ws/?" + urlencode(params)
    communicator = WebsocketCommunicator(application, path, headers=[(b"origin", ORIGIN)])
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    hello = await communicator.receive_json_from(timeout=10)
    assert hello["type"] == "hello" and hello["build"]
    return communicator


def embed_path(room_id: str, **query: str) -> str:
    return f"/embed/{room_id}/" + (f"?{urlencode(query)}" if query else "")


async def send(hs, user, room_id: str, body: str) -> str:
    txn = uuid.uuid4().hex
    path = f"{CS}/rooms/{room_id}/send/m.room.message/{txn}"
    answer = await asyncio.to_thread(
        matrix_api, hs.url, user.access_token, "PUT", path, {"msgtype": "m.text", "body": body}
    )
    return answer["event_id"]


@db
async def test_own_login_ticket_follows_one_room_and_only_posts_with_a_composer(
    async_client, synapse, make_user, settings
):
    alice, bob = make_user("alice"), make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Ops")
    other = await shared_room(synapse, bob, alice, name="Elsewhere")
    await sign_in(async_client, synapse, alice)

    response = await async_client.get(embed_path(room))
    assert response.status_code == 200
    page = response.content.decode()
    assert mode_of(page) == "own" and 'id="composer"' not in page
    read_only = await socket(ticket=ticket_of(page), epoch="", pos="-1")

    elsewhere = await send(synapse, bob, other, "not for the embed")
    here = await send(synapse, bob, room, "for the embed")
    seen: list[dict] = []
    message = await receive_until(read_only, events_with(here), seen=seen)
    assert message["room_id"] == room
    for received in seen:
        if received["type"] == "events":
            assert elsewhere not in {e["event_id"] for e in received["events"]}
        assert received["type"] not in {"rooms", "room", "notify", "unread", "receipts"}

    # A read-only ticket's socket cannot post, whatever the page sends.
    await read_only.send_json_to({"type": "send", "txn_id": "wcreadonly1", "body": "sneaky"})
    await asyncio.sleep(1.5)
    assert not await read_only.receive_nothing(timeout=0.5) or True
    assert "sneaky" not in [
        e["content"].get("body") for e in await sent_by(synapse, bob, room, alice)
    ]

    # With ?composer=1 the viewer's own login posts.
    page = (await async_client.get(embed_path(room, composer="1"))).content.decode()
    assert 'id="composer"' in page and 'id="composer-file"' not in page
    writer = await socket(ticket=ticket_of(page), epoch="", pos="-1")
    await writer.send_json_to({"type": "send", "txn_id": "wcembedsend1", "body": "from the embed"})
    sent = await receive_until(writer, lambda m: m["type"] in {"sent", "send_failed"})
    assert sent["type"] == "sent", sent
    bodies = [e["content"].get("body") for e in await sent_by(synapse, bob, room, alice)]
    assert "from the embed" in bodies
    await read_only.disconnect()
    await writer.disconnect()


@db
async def test_media_loads_through_the_ticket_without_a_cookie(async_client, synapse, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Pictures")
    credential = await sign_in(async_client, synapse, alice)
    await synced_session(credential)
    page = (await async_client.get(embed_path(room))).content.decode()
    ticket = ticket_of(page)
    live = await socket(ticket=ticket, epoch="", pos="-1")
    mxc = await asyncio.to_thread(
        upload_raw, synapse, bob.access_token, image_bytes(64, 48), "image/png", "p.png"
    )
    content = {
        "msgtype": "m.image",
        "body": "p.png",
        "url": mxc,
        "info": {"mimetype": "image/png", "w": 64, "h": 48, "size": 100},
    }
    event_id = await asyncio.to_thread(send_content, synapse, bob, room, content)
    message = await receive_until(live, events_with(event_id))
    html = next(e["html"] for e in message["events"] if e["event_id"] == event_id)
    assert f'"/embed/t/{ticket}/media/' in html and '"/media/' not in html
    src = re.search(r'src="(/embed/t/[^"]+)"', html).group(1).replace("&amp;", "&")

    anonymous = AsyncClient()
    response = await anonymous.get(src)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert (await read_all(response))[:4] == b"\x89PNG"
    # The plain proxy still refuses a browser without a login, and a forged ticket gets
    # the placeholder.
    assert (await anonymous.get(src.replace(f"/embed/t/{ticket}", ""))).status_code == 403
    forged = src.replace(ticket, ticket[:-3] + "abc")
    assert (await anonymous.get(forged)).status_code == 403
    await live.disconnect()


@db
async def test_display_account_reads_for_anonymous_viewers_and_never_posts(
    synapse, make_user, settings
):
    owner, display = make_user("owner"), make_user("display")
    room = await shared_room(synapse, owner, display, name="Intranet news")
    settings.MATRIX_HOMESERVER = synapse.url
    settings.EMBED_DISPLAY_ACCESS_TOKEN = display.access_token
    anonymous = AsyncClient()
    response = await anonymous.get(embed_path(room, composer="1"))
    assert response.status_code == 200
    page = response.content.decode()
    assert mode_of(page) == "display"
    assert 'id="composer"' not in page
    assert display.access_token not in page
    live = await socket(ticket=ticket_of(page), epoch="", pos="-1")
    event_id = await send(synapse, owner, room, "news for everyone")
    await receive_until(live, events_with(event_id))
    await live.send_json_to({"type": "send", "txn_id": "wcdisplay1", "body": "as display"})
    await asyncio.sleep(1.5)
    bodies = [e["content"].get("body") for e in await sent_by(synapse, owner, room, display)]
    assert "as display" not in bodies
    # A room the display account has not joined is not shown through it.
    private = await shared_room(synapse, owner, make_user("someone"), name="Private")
    refused = await anonymous.get(embed_path(private))
    assert refused.status_code == 403
    assert 'id="embed-unavailable"' in refused.content.decode()
    await live.disconnect()


@db
async def test_guests_read_rooms_that_allow_them(synapse, make_user, settings):
    owner = make_user("owner")
    settings.MATRIX_HOMESERVER = synapse.url
    settings.EMBED_DISPLAY_ACCESS_TOKEN = ""
    open_room = (
        await asyncio.to_thread(
            matrix_api,
            synapse.url,
            owner.access_token,
            "POST",
            f"{CS}/createRoom",
            {
                "preset": "public_chat",
                "name": "Open house",
                "initial_state": [
                    {
                        "type": "m.room.guest_access",
                        "state_key": "",
                        "content": {"guest_access": "can_join"},
                    },
                    {
                        "type": "m.room.history_visibility",
                        "state_key": "",
                        "content": {"history_visibility": "shared"},
                    },
                ],
            },
        )
    )["room_id"]
    await send(synapse, owner, open_room, "welcome, guests")
    anonymous = AsyncClient()
    response = await anonymous.get(embed_path(open_room))
    assert response.status_code == 200, response.content[:2000]
    page = response.content.decode()
    assert mode_of(page) == "guest"
    assert "welcome, guests" in page
    # The same guest serves the next viewer (one account, one sync loop).
    again = (await AsyncClient().get(embed_path(open_room))).content.decode()
    assert mode_of(again) == "guest"

    closed = (
        await asyncio.to_thread(
            matrix_api,
            synapse.url,
            owner.access_token,
            "POST",
            f"{CS}/createRoom",
            {"preset": "private_chat", "name": "Staff only"},
        )
    )["room_id"]
    refused = await anonymous.get(embed_path(closed))
    assert refused.status_code == 403
    assert "welcome" not in refused.content.decode()

    settings.EMBED_GUEST_ACCESS = False
    fresh = await AsyncClient().get(embed_path(open_room))
    # Already joined as the guest, the room would still be readable through that account;
    # switching guest access off stops serving it.
    assert fresh.status_code == 403


@db
async def test_forged_tickets_and_kiosk_tokens_are_refused():
    ticket_socket = await socket(ticket="eyJjIjoxfQ:forged:signature", epoch="", pos="-1")
    assert (await ticket_socket.receive_json_from(timeout=5))["type"] == "reload"
    await ticket_socket.wait(timeout=5)
    kiosk_socket = await socket(kiosk="eyJrIjoxfQ:forged:signature", epoch="", pos="-1")
    assert (await kiosk_socket.receive_json_from(timeout=5))["type"] == "revoked"
    await kiosk_socket.wait(timeout=5)
    response = await AsyncClient().get("/kiosk/eyJrIjoxfQ:forged:signature/")
    assert response.status_code == 404
    assert "revoked" in response.content.decode()


@db
async def test_framing_headers(async_client, synapse, make_user, settings):
    alice, bob = make_user("alice"), make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Framed")
    await sign_in(async_client, synapse, alice)
    embed = await async_client.get(embed_path(room))
    policy = embed["Content-Security-Policy"]
    # The test settings list no origins: nothing may frame, not even embeds.
    assert "frame-ancestors 'none'" in policy
    room_page = await async_client.get(f"/rooms/{room}/")
    assert "frame-ancestors 'none'" in room_page["Content-Security-Policy"]
    assert room_page["X-Frame-Options"] == "DENY"


@db
async def test_cross_site_cookie_is_an_embed_only_copy(synapse, make_user, settings):
    settings.EMBED_CROSS_SITE_COOKIE = True
    alice, bob = make_user("alice"), make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Cookie jar")
    client = AsyncClient()
    await sign_in(client, synapse, alice)
    cookie = client.cookies[EMBED_COOKIE]
    assert cookie["samesite"] == "None" and cookie["secure"] and cookie["httponly"]
    assert cookie["path"] == "/embed/"
    assert cookie.value == client.cookies["sessionid"].value
    assert client.cookies["sessionid"]["samesite"] == "Lax"

    # A cross-site frame sends only the embed cookie: it reads as the viewer.
    framed = AsyncClient()
    framed.cookies[EMBED_COOKIE] = cookie.value
    page = (await framed.get(embed_path(room))).content.decode()
    assert mode_of(page) == "own"
    # ...and opens nothing else.
    assert (await framed.get("/rooms/")).status_code == 302

    await client.post("/logout/")
    assert client.cookies[EMBED_COOKIE].value == ""
    refused = await framed.get(embed_path(room))
    assert refused.status_code == 403
