"""Searching from the room page's and the room list's search boxes, in real Chromium."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

from playwright.sync_api import Page, expect

from .helpers import login_with_password, open_room, open_room_menu, send_text, shared_room


def test_search_from_room_and_room_list(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    other = make_user("other", displayname="Olga Searcher")
    me = make_user("me", displayname="Mia")
    word = "qx" + uuid.uuid4().hex[:12]
    room_id = shared_room(synapse, other, me, name="Findings")
    elsewhere = shared_room(synapse, other, me, name="Elsewhere")
    send_text(synapse, other, room_id, "just before it")
    hit = send_text(synapse, other, room_id, f"the {word} <b>is</b> here")
    far = send_text(synapse, other, elsewhere, f"another {word} far away")

    login_with_password(page, base, synapse, me)
    open_room(page, base, room_id)

    # The room's search box searches this room only.
    open_room_menu(page)
    box = page.locator("#room-search-form input[name=q]")
    box.fill(word)
    box.press("Enter")
    page.wait_for_url(lambda url: unquote(url) == f"{base}/rooms/{room_id}/search/?q={word}")
    results = page.locator("#search-results li.search-result")
    expect(results).to_have_count(1)
    result = page.locator(f'li.search-result[data-event-id="{hit}"]')
    expect(result.locator(".search-hit article.event")).to_contain_text(
        f"the {word} <b>is</b> here"
    )
    expect(result.locator(".search-before")).to_contain_text("just before it")
    link = result.locator("a.permalink")
    expect(link).to_have_text("Jump to message")
    href = link.get_attribute("href")
    assert href and unquote(href) == f"/rooms/{room_id}/event/{hit}/"
    expect(page.locator("#search-count")).to_contain_text("1 result")
    expect(page.locator("#search-q")).to_have_value(word)

    # "Search all rooms instead" keeps the term and finds both, with the rooms' names.
    page.locator("#search-all-rooms").click()
    page.wait_for_url(f"{base}/search/?q={word}")
    expect(results).to_have_count(2)
    expect(page.locator(f'li[data-event-id="{far}"] a.search-room')).to_have_text("Elsewhere")
    expect(page.locator(f'li[data-event-id="{hit}"] a.search-room')).to_have_text("Findings")

    # The room list's box searches every room; a word nobody wrote says so.
    page.goto(f"{base}/rooms/")
    missing = "qx" + uuid.uuid4().hex[:12]
    box = page.locator("#rooms-search-form input[name=q]")
    box.fill(missing)
    box.press("Enter")
    page.wait_for_url(f"{base}/search/?q={missing}")
    expect(page.locator("#search-empty")).to_have_text(f"No messages match “{missing}”.")
    expect(results).to_have_count(0)

    # Following a result's link opens the message's page.
    page.goto(f"{base}/search/?q={word}")
    page.locator(f'li[data-event-id="{hit}"] a.permalink').click()
    page.wait_for_url(lambda url: unquote(url).endswith(f"/rooms/{room_id}/event/{hit}/"))
