"""URL previews against a real Synapse whose preview endpoint fetches pages from a web server
on the loopback: the card is rendered as text (the page's title is hostile), its picture
comes through the media proxy, only links a message carries are previewed, and the per-room
and per-account switches decide, as Element's settings do (off in encrypted rooms unless
turned on there)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client_helpers import eventually, sign_in, synced_session
from tests.matrix_helpers import api, create_room, q, send
from tests.preview_helpers import PageServer, page_html, preview_synapse

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = '<script>alert("title")</script><img src=x onerror=alert(1)> & "quotes"'


@pytest.fixture(scope="module")
def hs(tmp_path_factory) -> Iterator:
    with preview_synapse(tmp_path_factory.mktemp("hs-previews")) as server:
        yield server


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    with PageServer(
        {
            "/article": page_html(HOSTILE, "A description <b>not bold</b>"),
            "/second": page_html("Second page", "second description", image=False),
            "/bare": "<html><body>nothing to say</body></html>",
        }
    ) as server:
        yield server


def make(hs, prefix):
    import uuid

    return hs.register(f"{prefix}-{uuid.uuid4().hex[:8]}", "pw-secret-123")


async def preview(async_client, room, event_id, url):
    return await async_client.get(f"/rooms/{room}/preview/", {"event": event_id, "url": url})


async def test_preview_card_is_text_with_the_picture_through_the_proxy(async_client, hs, pages):
    me = make(hs, "me")
    room = await create_room(hs, me, preset="private_chat")
    link = f"{pages.url}/article"
    event_id = await send(hs, me, room, f"look at {link} and {pages.url}/second")
    await synced_session(await sign_in(async_client, hs, me))

    page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert 'data-url-previews="on"' in page

    response = await preview(async_client, room, event_id, link)
    assert response.status_code == 200
    card = response.content.decode()
    assert "<script" not in card and "<img src=x" not in card
    assert "&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;" in card
    assert "A description &lt;b&gt;not bold&lt;/b&gt;" in card
    assert "Loopback News" in card
    assert 'class="url-preview-image" src="/media/' in card  # og:image, an mxc, proxied
    assert f'href="{link}"' in card and 'rel="noopener noreferrer nofollow"' in card
    image = card.split('class="url-preview-image" src="', 1)[1].split('"', 1)[0]
    assert (await async_client.get(image.replace("&amp;", "&"))).status_code == 200

    second = (await preview(async_client, room, event_id, f"{pages.url}/second")).content.decode()
    assert "Second page" in second and "url-preview-image" not in second

    # A page with nothing to show, and a link the message does not carry: no card, and the
    # homeserver is not asked to fetch what no message links to.
    assert (await preview(async_client, room, event_id, f"{pages.url}/bare")).status_code == 204
    before = pages.hits.get("/elsewhere", 0)
    assert (
        await preview(async_client, room, event_id, f"{pages.url}/elsewhere")
    ).status_code == 204
    assert pages.hits.get("/elsewhere", 0) == before
    assert (await preview(async_client, room, event_id, "javascript:alert(1)")).status_code == 204

    # Asked again: answered from what is kept (the page is fetched once).
    hits = pages.hits["/article"]
    assert (await preview(async_client, room, event_id, link)).status_code == 200
    assert pages.hits["/article"] == hits


async def test_switches_per_room_per_account_and_encrypted_rooms(async_client, hs, pages):
    me = make(hs, "me")
    plain = await create_room(hs, me, preset="private_chat")
    secret = await create_room(
        hs,
        me,
        preset="private_chat",
        initial_state=[
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ],
    )
    link = f"{pages.url}/second"
    in_plain = await send(hs, me, plain, f"see {link}")
    session = await synced_session(await sign_in(async_client, hs, me))

    # The account's switch (org.matrix.preview_urls, as Element writes it).
    page = (await async_client.get("/settings/previews/")).content.decode()
    assert "Link previews are on for your account" in page
    await async_client.post("/settings/previews/", {"on": "0"})
    data = await api(
        hs, me.access_token, "GET", f"/user/{q(me.user_id)}/account_data/org.matrix.preview_urls"
    )
    assert data == {"disable": True}
    assert (await preview(async_client, plain, in_plain, link)).status_code == 204
    assert (
        'data-url-previews="off"' in (await async_client.get(f"/rooms/{plain}/")).content.decode()
    )

    # The room's switch wins over the account's (org.matrix.room.preview_urls).
    await async_client.post(f"/rooms/{plain}/previews/", {"on": "1"})
    data = await api(
        hs,
        me.access_token,
        "GET",
        f"/user/{q(me.user_id)}/rooms/{q(plain)}/account_data/org.matrix.room.preview_urls",
    )
    assert data == {"disable": False}
    assert (await preview(async_client, plain, in_plain, link)).status_code == 200

    # Encrypted rooms: off, whatever the account says, until turned on for that room
    # (im.vector.web.settings urlPreviewsEnabled_e2ee).
    await async_client.post("/settings/previews/", {"on": "1"})
    await eventually(lambda: session.room(secret) is not None and session.room(secret).encrypted)
    settings = (await async_client.get(f"/rooms/{secret}/settings/")).content.decode()
    assert "Link previews are off for you in this room" in settings
    assert (
        'data-url-previews="off"' in (await async_client.get(f"/rooms/{secret}/")).content.decode()
    )
    await async_client.post(f"/rooms/{secret}/previews/", {"on": "1"})
    data = await api(
        hs,
        me.access_token,
        "GET",
        f"/user/{q(me.user_id)}/rooms/{q(secret)}/account_data/im.vector.web.settings",
    )
    assert data == {"urlPreviewsEnabled_e2ee": True}
    assert (
        'data-url-previews="on"' in (await async_client.get(f"/rooms/{secret}/")).content.decode()
    )
