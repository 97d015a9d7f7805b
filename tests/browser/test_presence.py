"""Read state and the presence of others in real Chromium, two real people on a real Synapse:
typing notifications, read receipts as avatars, unread counts that clear in every tab of a
login, and the "New messages" divider.

Each person has their own browser context (their own login); the homeserver is the witness
for what was read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.synapse_fixtures import MatrixAPIError, matrix_api
from webclient.demo.homeserver import LocalSynapse, RegisteredUser

from .helpers import (
    CS,
    assert_not_reloaded,
    event_tile,
    login_with_password,
    mark_page,
    open_room,
    q,
    send_text,
    shared_room,
    type_and_send,
    wait_for_message,
    wait_live,
)


@pytest.fixture
def contexts(browser) -> Iterator[list[BrowserContext]]:
    """Browser contexts a test opens (one per person); closed afterwards."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def new_page(browser, contexts: list[BrowserContext]) -> Page:
    context = browser.new_context()
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def fully_read(hs: LocalSynapse, user: RegisteredUser, room_id: str) -> str | None:
    path = f"{CS}/user/{q(user.user_id)}/rooms/{q(room_id)}/account_data/m.fully_read"
    try:
        return matrix_api(hs.url, user.access_token, "GET", path).get("event_id")
    except MatrixAPIError as exc:
        if exc.status == 404:
            return None
        raise


def wait_fully_read(hs, user, room_id: str, event_id: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (marker := fully_read(hs, user, room_id)) != event_id:
        assert time.monotonic() < deadline, f"fully read marker at {marker}, not {event_id}"
        time.sleep(0.2)


def receipt_of(page: Page, name: str):
    return page.locator(f'#timeline .receipts .receipt[title="{name} has read up to here"]')


def test_typing_and_read_receipts(
    page: Page, browser, contexts, webclient_server, synapse, make_user
):
    base = webclient_server.url
    alice = make_user("alice", displayname="Alice Ames")
    bob = make_user("bob", displayname="Bob Byrne")
    room_id = shared_room(synapse, alice, bob)
    send_text(synapse, alice, room_id, "before anyone looked")

    login_with_password(page, base, synapse, alice)
    open_room(page, base, room_id)
    bob_page = new_page(browser, contexts)
    login_with_password(bob_page, base, synapse, bob)
    open_room(bob_page, base, room_id)
    typing_line = bob_page.locator("#typing")
    expect(typing_line).to_have_text("")

    # Alice types: Bob sees it; she sends: it goes away.
    box = page.locator("form#composer textarea[name=body]")
    box.click()
    box.press_sequentially("hello Bo")
    expect(typing_line).to_have_text("Alice Ames is typing…")
    box.press_sequentially("b")
    box.press("Enter")
    sent = wait_for_message(
        synapse, bob, room_id, lambda e: e["content"].get("body") == "hello Bob"
    )
    expect(event_tile(bob_page, sent["event_id"])).to_be_visible()
    expect(typing_line).to_have_text("")

    # Typing, then leaving the box, also stops it.
    box.press_sequentially("wait")
    expect(typing_line).to_have_text("Alice Ames is typing…")
    page.locator("#room-name").click()
    expect(typing_line).to_have_text("")
    box.fill("")

    # Bob has the newest message on screen: his receipt moves there, and Alice sees his
    # avatar under it.
    wait_fully_read(synapse, bob, room_id, sent["event_id"])
    bob_receipt = receipt_of(page, "Bob Byrne")
    expect(bob_receipt).to_have_count(1)
    expect(
        event_tile(page, sent["event_id"]).locator(":scope > .receipts .receipt")
    ).to_have_attribute("title", "Bob Byrne has read up to here")
    # Only others' receipts: Alice sees no avatar of her own.
    expect(receipt_of(page, "Alice Ames")).to_have_count(0)
    mark_page(page)

    # A newer message: the avatar moves along, live, and stays one.
    type_and_send(page, "and another")
    newer = wait_for_message(
        synapse, bob, room_id, lambda e: e["content"].get("body") == "and another"
    )
    expect(event_tile(page, newer["event_id"]).locator(".receipts .receipt")).to_have_count(1)
    expect(bob_receipt).to_have_count(1)
    expect(event_tile(page, sent["event_id"]).locator(".receipts")).to_have_count(0)

    # A reaction replaces that tile on the page (its row of avatars goes with it): Bob's
    # avatar comes back under the new tile, once.
    matrix_api(
        synapse.url,
        alice.access_token,
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.reaction/react-{time.time_ns()}",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": newer["event_id"], "key": "👍"}},
    )
    tile = event_tile(page, newer["event_id"])
    expect(tile.locator(".reaction")).to_have_count(1)
    expect(tile.locator(":scope > .receipts .receipt")).to_have_count(1)
    expect(bob_receipt).to_have_count(1)
    expect(page.locator("#timeline .receipts")).to_have_count(1)
    assert_not_reloaded(page)


def test_counts_clear_in_every_tab(browser, contexts, webclient_server, synapse, make_user):
    base = webclient_server.url
    alice = make_user("alice", displayname="Alice Ames")
    bob = make_user("bob", displayname="Bob Byrne")
    room_id = shared_room(synapse, alice, bob, name="Count Room")
    tab1 = new_page(browser, contexts)
    login_with_password(tab1, base, synapse, bob)
    wait_live(tab1, "#room-list")
    entry = tab1.locator(f'[data-room-entry="{room_id}"]')
    expect(entry).to_be_visible()
    expect(entry.locator(".badge.unread")).to_have_count(0)
    assert not re.match(r"^\(\d+\)", tab1.title())
    mark_page(tab1)

    for n in range(3):
        send_text(synapse, alice, room_id, f"unread {n}")
    expect(entry.locator(".badge.unread")).to_have_text("3")
    expect(tab1).to_have_title(re.compile(r"^\(3\) Rooms"))

    # Bob opens the room in a second tab of the same login and sees it.
    tab2 = tab1.context.new_page()
    tab2.set_default_timeout(15000)
    open_room(tab2, base, room_id)
    tab2.bring_to_front()
    expect(tab2.locator("#timeline article.event", has_text="unread 2")).to_be_visible()

    # The first tab hears of it: no badge, no count in the title, no reload.
    expect(entry.locator(".badge.unread")).to_have_count(0)
    expect(tab1).to_have_title(re.compile(r"^Rooms"))
    expect(tab2).to_have_title(re.compile(r"^Count Room"))
    assert_not_reloaded(tab1)
    newest = wait_for_message(
        synapse, bob, room_id, lambda e: e["content"].get("body") == "unread 2"
    )
    assert fully_read(synapse, bob, room_id) == newest["event_id"]


def test_new_messages_divider(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    alice = make_user("alice", displayname="Alice Ames")
    bob = make_user("bob", displayname="Bob Byrne")
    room_id = shared_room(synapse, alice, bob, name="Divider Room")
    for n in range(3):
        send_text(synapse, alice, room_id, f"old {n}")
    read_up_to = send_text(synapse, alice, room_id, "read up to here")

    login_with_password(page, base, synapse, bob)
    open_room(page, base, room_id)
    wait_fully_read(synapse, bob, room_id, read_up_to)
    # Nothing new when everything was read.
    expect(page.locator("#unread-divider")).to_have_count(0)

    page.goto(f"{base}/rooms/")
    wait_live(page, "#room-list")
    new_ids = [send_text(synapse, alice, room_id, f"new {n}") for n in range(2)]
    expect(page.locator(f'[data-room-entry="{room_id}"] .badge.unread')).to_have_text("2")

    open_room(page, base, room_id)
    divider = page.locator("#unread-divider")
    expect(divider).to_have_count(1)
    expect(divider).to_have_text("New messages")
    neighbours = page.evaluate(
        """() => {
          const d = document.getElementById('unread-divider');
          const before = d.previousElementSibling, after = d.nextElementSibling;
          return [before && before.dataset.eventId, after && after.dataset.eventId];
        }"""
    )
    assert neighbours == [read_up_to, new_ids[0]]
    expect(event_tile(page, new_ids[1])).to_be_visible()

    # Reading them moves the marker; the room opens next time without a divider.
    wait_fully_read(synapse, bob, room_id, new_ids[1])
    open_room(page, base, room_id)
    expect(event_tile(page, new_ids[1])).to_be_visible()
    expect(page.locator("#unread-divider")).to_have_count(0)
