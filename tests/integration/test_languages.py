"""Languages and time zones against a real Synapse: the browser's Accept-Language picks the
language until the login chooses one (Settings > Language), the sign-in page's choice is a
cookie, `<html lang>` follows, times are shown in the viewer's zone, and live tiles reach
each open page in its own language while pages of one language share one rendering.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from tests.client_helpers import ORIGIN, eventually, receive_until, sign_in, synced_session
from tests.matrix_helpers import api, join, q, send, shared_room
from webclient.asgi import application
from webclient.live import publisher
from webclient.matrix.models import Credential

pytestmark = pytest.mark.django_db(transaction=True)

ROOMS = reverse("rooms:list")
LANGUAGE = reverse("accounts:language")
GERMAN = "de-DE,de;q=0.9,en;q=0.5"


async def send_content(hs, user, room_id: str, content: dict) -> None:
    path = f"/rooms/{q(room_id)}/send/m.room.message/{q(str(id(content)))}"
    await api(hs, user.access_token, "PUT", path, content)


def html_lang(page: str) -> str:
    match = re.search(r'<html lang="([^"]*)"', page)
    assert match, page[:500]
    return match.group(1)


async def get(async_client, path: str, **kwargs) -> str:
    response = await async_client.get(path, **kwargs)
    assert response.status_code == 200, response.content[:2000]
    return response.content.decode()


async def test_accept_language_picks_german_until_the_login_chooses(
    async_client, synapse, make_user
):
    alice = make_user("alice")
    # Before signing in: the sign-in page in German, English without the header.
    page = await get(async_client, "/login/", headers={"accept-language": GERMAN})
    assert html_lang(page) == "de"
    assert "<h1>Bei Matrix anmelden</h1>" in page
    page = await get(async_client, "/login/")
    assert html_lang(page) == "en"
    assert "<h1>Sign in to Matrix</h1>" in page

    credential = await sign_in(async_client, synapse, alice)
    page = await get(async_client, ROOMS, headers={"accept-language": GERMAN})
    assert html_lang(page) == "de"
    assert ">Abmelden</button>" in page
    response = await async_client.get(ROOMS, headers={"accept-language": GERMAN})
    assert response["Content-Language"] == "de"
    assert "Accept-Language" in response["Vary"]

    # The login chooses English: it wins over the browser's German, on every page.
    response = await async_client.post(
        LANGUAGE, {"language": "en", "time_zone": ""}, headers={"accept-language": GERMAN}
    )
    assert response.status_code == 302
    page = await get(async_client, response["Location"], headers={"accept-language": GERMAN})
    assert html_lang(page) == "en"
    assert "Your language and time zone are saved." in html.unescape(page)
    assert (await Credential.objects.aget(pk=credential.pk)).language == "en"
    assert html_lang(await get(async_client, ROOMS, headers={"accept-language": GERMAN})) == "en"

    # German chosen, an English browser: German.
    await async_client.post(LANGUAGE, {"language": "de", "time_zone": ""})
    page = await get(async_client, ROOMS, headers={"accept-language": "en-GB,en"})
    assert html_lang(page) == "de"
    page = await get(async_client, LANGUAGE)
    assert "<h1>Sprache und Zeitzone</h1>" in page
    assert '<option value="de" selected>Deutsch</option>' in page

    # Back to "the browser's": Accept-Language decides again.
    await async_client.post(LANGUAGE, {"language": "", "time_zone": ""})
    assert html_lang(await get(async_client, ROOMS)) == "en"
    assert html_lang(await get(async_client, ROOMS, headers={"accept-language": GERMAN})) == "de"


async def test_language_form_refuses_what_is_not_offered(async_client, synapse, make_user):
    alice = make_user("alice")
    credential = await sign_in(async_client, synapse, alice)
    response = await async_client.post(LANGUAGE, {"language": "xx", "time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    saved = await Credential.objects.aget(pk=credential.pk)
    assert (saved.language, saved.time_zone) == ("", "")


async def test_sign_in_page_language_choice_is_a_cookie(async_client):
    page = await get(async_client, "/login/")
    assert 'action="/i18n/setlang/"' in page
    response = await async_client.post("/i18n/setlang/", {"language": "de", "next": "/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    page = await get(async_client, "/login/")
    assert html_lang(page) == "de"
    assert "<h1>Bei Matrix anmelden</h1>" in page
    # The cookie beats the browser's header (the person chose).
    assert html_lang(await get(async_client, "/login/", headers={"accept-language": "en"})) == "de"


async def test_times_in_the_viewers_zone(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob")
    room = await shared_room(synapse, bob, alice, name="Zones")
    event_id = await send(synapse, bob, room, "what time is it")
    await sign_in(async_client, synapse, alice)

    def tile_time(page: str) -> tuple[str, str]:
        tile = re.search(rf'data-event-id="{re.escape(event_id)}".*?</article>', page, re.S)
        assert tile, "the message is not on the page"
        match = re.search(r'<time datetime="([^"]+)"[^>]*>([^<]+)</time>', tile.group(0))
        assert match
        return match.group(1), match.group(2)

    room_url = reverse("rooms:room", args=[room])
    # The browser's zone, as its script reported it (a cookie).
    async_client.cookies["webclient_tz"] = "Asia/Tokyo"
    page = await get(async_client, room_url)
    assert 'data-tz="Asia/Tokyo"' in page
    stamp, shown = tile_time(page)
    when = datetime.fromisoformat(stamp)
    assert when.utcoffset().total_seconds() == 9 * 3600
    assert shown == when.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")

    # A zone chosen for the login wins over the browser's; a bogus cookie is ignored.
    await async_client.post(LANGUAGE, {"language": "", "time_zone": "America/New_York"})
    async_client.cookies["webclient_tz"] = "Not/AZone"
    page = await get(async_client, room_url)
    assert 'data-tz="America/New_York"' in page
    stamp, shown = tile_time(page)
    when = datetime.fromisoformat(stamp)
    assert shown == when.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M")
    new_york = when.astimezone(ZoneInfo("America/New_York"))
    assert when.utcoffset() == new_york.utcoffset()


async def _socket(async_client, room: str, accept_language: str | None) -> WebsocketCommunicator:
    headers = [
        (b"origin", ORIGIN),
        (b"cookie", f"sessionid={async_client.cookies['sessionid'].value}".encode()),
    ]
    if accept_language:
        headers.append((b"accept-language", accept_language.encode()))
    communicator = WebsocketCommunicator(application, f"/ws/?{urlencode({'room': room})}", headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def test_live_tiles_reach_each_page_in_its_language(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob")
    carol = make_user("carol", displayname="Carol")
    room = await shared_room(synapse, bob, alice, name="Sprachen", preset="public_chat")
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    pages = publisher.of(session)

    english = await _socket(async_client, room, None)
    german = await _socket(async_client, room, GERMAN)
    german_too = await _socket(async_client, room, "de")
    try:
        for socket_ in (english, german, german_too):
            assert (await socket_.receive_json_from(timeout=10))["type"] == "hello"
        # Three pages, two variants: the German ones share one rendering.
        await eventually(lambda: dict(pages.variants) == {"en|UTC": 1, "de|UTC": 2})

        await join(synapse, carol, room)

        def joined(message: dict) -> bool:
            return message["type"] == "events" and any(
                "Carol" in e["html"] and "event-state" in e["html"] for e in message["events"]
            )

        def text(message: dict) -> str:
            return " ".join(e["html"] for e in message["events"])

        assert "Carol joined the room" in text(await receive_until(english, joined))
        assert "Carol hat den Raum betreten" in text(await receive_until(german, joined))
        assert "Carol hat den Raum betreten" in text(await receive_until(german_too, joined))
    finally:
        for socket_ in (english, german, german_too):
            await socket_.disconnect()
    # Closed pages are no longer rendered for.
    await eventually(lambda: not pages.variants)
    assert pages.rendering_variants() == [pages.default_variant]


async def _list_socket(async_client, accept_language: str | None) -> WebsocketCommunicator:
    headers = [
        (b"origin", ORIGIN),
        (b"cookie", f"sessionid={async_client.cookies['sessionid'].value}".encode()),
    ]
    if accept_language:
        headers.append((b"accept-language", accept_language.encode()))
    communicator = WebsocketCommunicator(application, "/ws/", headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def test_room_list_reaches_each_page_in_its_language(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob")
    room = await shared_room(synapse, bob, alice, name="Liste")
    credential = await sign_in(async_client, synapse, alice)
    await synced_session(credential)

    english = await _list_socket(async_client, None)
    german = await _list_socket(async_client, GERMAN)
    try:
        # The whole list on connecting, each in its language.
        whole = await receive_until(english, lambda m: m["type"] == "rooms")
        assert any('class="room-section-title">Rooms</h2>' in s for s in whole["entries"])
        whole = await receive_until(german, lambda m: m["type"] == "rooms")
        assert any('class="room-section-title">Räume</h2>' in s for s in whole["entries"])

        await send(synapse, bob, room, "news for the list")

        def entry(message: dict) -> bool:
            return message["type"] == "room" and message["room_id"] == room

        frame = await receive_until(english, entry)
        assert any(">Rooms</h2>" in s["html"] for s in frame["sections"])
        frame = await receive_until(german, entry)
        assert any(">Räume</h2>" in s["html"] for s in frame["sections"])
        assert not any(">Rooms</h2>" in s["html"] for s in frame["sections"])

        # The entry's one-line preview, kept untranslated by the sync loop, in each language.
        await send_content(synapse, bob, room, {"msgtype": "m.file", "body": "plan.pdf"})

        def preview(text: str):
            return lambda m: entry(m) and text in m["html"]

        await receive_until(english, preview("File: plan.pdf"))
        frame = await receive_until(german, preview("Datei: plan.pdf"))
        assert "File: plan.pdf" not in frame["html"]
        page = await get(async_client, ROOMS, headers={"accept-language": GERMAN})
        assert "Datei: plan.pdf" in page and "File: plan.pdf" not in page
    finally:
        await english.disconnect()
        await german.disconnect()
