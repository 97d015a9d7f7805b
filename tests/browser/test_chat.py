"""The client in real Chromium against a real Synapse and a real daphne server.

"The other client" is plain HTTP to the homeserver (matrix_api), so every assertion about what
was sent is checked on the homeserver, not on the page that sent it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.server import free_port, start_webclient, stop_webclient
from webclient.demo.homeserver import RegisteredUser

from .helpers import (
    assert_not_reloaded,
    browser_device_token,
    event_tile,
    login_with_password,
    login_with_token,
    mark_page,
    messages_from,
    open_room,
    q,
    send_text,
    set_power_level,
    shared_room,
    type_and_send,
    wait_for_message,
    wait_live,
    whoami_errcode,
)


@dataclass
class Chat:
    me: RegisteredUser
    other: RegisteredUser
    room_id: str
    other_name: str


@pytest.fixture
def chat(synapse, make_user) -> Chat:
    """A fresh user in an unnamed room with one other user (who made it and invited them)."""
    other_name = f"Olga {time.monotonic_ns() % 100000}"
    other = make_user("other", displayname=other_name)
    me = make_user("me", displayname="Mia")
    room_id = shared_room(synapse, other, me)
    return Chat(me, other, room_id, other_name)


def _pending_recorder(page: Page) -> None:
    """Record when the Enter keydown happened and when each local echo was added."""
    page.evaluate(
        """() => {
          window.__keydowns = [];
          window.__echoes = [];
          document.addEventListener('keydown', (e) => {
            if (e.key === 'Enter') window.__keydowns.push(performance.now());
          }, true);
          new MutationObserver((records) => {
            for (const r of records) for (const n of r.addedNodes) {
              if (n.nodeType === 1 && n.matches('article.event.pending')) {
                window.__echoes.push({txn: n.dataset.txnId, at: performance.now(),
                                      text: n.querySelector('.event-body').textContent});
              }
            }
          }).observe(document.getElementById('timeline'), {childList: true});
        }"""
    )


def test_login_room_list_live_timeline_and_sending(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    login_with_password(page, base, synapse, chat.me)

    # The room list names the unnamed room after the other member (spec: heroes).
    entry = page.locator(f'#rooms li[data-room-entry="{chat.room_id}"]')
    expect(entry.locator(".room-name")).to_have_text(chat.other_name)
    entry.locator(f'a[data-room-id="{chat.room_id}"]').click()
    expect(page.locator("#room")).to_have_attribute("data-room-id", chat.room_id)
    expect(page.locator("#room-name")).to_have_text(chat.other_name)
    wait_live(page)
    mark_page(page)

    # A message from the other client shows up without a reload.
    incoming = send_text(synapse, chat.other, chat.room_id, "hello from the other client")
    expect(event_tile(page, incoming).locator(".event-body")).to_have_text(
        "hello from the other client"
    )
    assert event_tile(page, incoming).get_attribute("data-sender") == chat.other.user_id
    assert_not_reloaded(page)

    # Typed + Enter: a local echo at once, then the real event in its place.
    _pending_recorder(page)
    box = page.locator("form#composer textarea[name=body]")
    box.click()
    box.press_sequentially("hi from the browser")
    box.press("Enter")
    page.wait_for_function("window.__echoes.length === 1")
    echo = page.evaluate("window.__echoes[0]")
    keydown = page.evaluate("window.__keydowns[window.__keydowns.length - 1]")
    assert echo["text"] == "hi from the browser"
    assert echo["at"] - keydown < 100, "the local echo did not show at once"
    expect(box).to_have_value("")

    sent = wait_for_message(
        synapse,
        chat.other,
        chat.room_id,
        lambda e: e["sender"] == chat.me.user_id and e["content"]["body"] == "hi from the browser",
    )
    tile = event_tile(page, sent["event_id"])
    expect(tile).to_have_count(1)
    expect(tile.locator(".event-body")).to_have_text("hi from the browser")
    expect(page.locator("#timeline .pending")).to_have_count(0)
    expect(page.locator(f'#timeline [data-txn-id="{echo["txn"]}"]')).to_have_count(0)
    assert sent["content"]["msgtype"] == "m.text"
    assert len(messages_from(synapse, chat.other, chat.room_id, chat.me.user_id)) == 1
    assert_not_reloaded(page)


def test_markdown_and_emote_reach_the_other_client(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    login_with_password(page, base, synapse, chat.me)
    open_room(page, base, chat.room_id)

    type_and_send(page, "this is **bold** text")
    bold = wait_for_message(
        synapse,
        chat.other,
        chat.room_id,
        lambda e: e["sender"] == chat.me.user_id and "bold" in e["content"]["body"],
    )
    assert bold["content"]["format"] == "org.matrix.custom.html"
    assert "<strong>bold</strong>" in bold["content"]["formatted_body"]
    expect(event_tile(page, bold["event_id"]).locator(".event-body strong")).to_have_text("bold")

    type_and_send(page, "/me waves")
    emote = wait_for_message(
        synapse,
        chat.other,
        chat.room_id,
        lambda e: e["sender"] == chat.me.user_id and e["content"]["msgtype"] == "m.emote",
    )
    assert emote["content"]["body"] == "waves"
    expect(event_tile(page, emote["event_id"])).to_have_count(1)
    expect(event_tile(page, emote["event_id"])).to_contain_text("waves")
    expect(page.locator("#timeline .pending")).to_have_count(0)
    assert len(messages_from(synapse, chat.other, chat.room_id, chat.me.user_id)) == 2


def test_shift_enter_is_a_newline_and_does_not_send(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    login_with_password(page, base, synapse, chat.me)
    open_room(page, base, chat.room_id)

    box = page.locator("form#composer textarea[name=body]")
    box.click()
    box.press_sequentially("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    expect(box).to_have_value("line one\nline two")
    page.wait_for_timeout(1000)
    expect(page.locator("#timeline .pending")).to_have_count(0)
    assert messages_from(synapse, chat.other, chat.room_id, chat.me.user_id) == []

    # Enter then sends both lines as one message.
    box.press("Enter")
    sent = wait_for_message(
        synapse, chat.other, chat.room_id, lambda e: e["sender"] == chat.me.user_id
    )
    assert sent["content"]["body"] == "line one\nline two"
    expect(event_tile(page, sent["event_id"])).to_have_count(1)


def test_room_list_updates_live(page: Page, webclient_server, synapse, make_user):
    other = make_user("other", displayname="Olga")
    me = make_user("me")
    alpha = shared_room(synapse, other, me, name="Alpha room")
    bravo = shared_room(synapse, other, me, name="Bravo room")
    send_text(synapse, other, alpha, "old news in alpha")
    send_text(synapse, other, bravo, "newer news in bravo")

    login_with_password(page, webclient_server.url, synapse, me)
    entries = page.locator("#rooms li[data-room-entry]")
    expect(entries).to_have_count(2)
    first, second = entries.nth(0), entries.nth(1)
    expect(first).to_have_attribute("data-room-entry", bravo)
    expect(second).to_have_attribute("data-room-entry", alpha)
    expect(first.locator(".room-name")).to_have_text("Bravo room")
    expect(second.locator(".room-preview")).to_have_text("old news in alpha")
    wait_live(page, "#room-list")
    mark_page(page)

    send_text(synapse, other, alpha, "breaking news in alpha")
    alpha_entry = page.locator(f'#rooms li[data-room-entry="{alpha}"]')
    expect(alpha_entry.locator(".room-preview")).to_have_text("breaking news in alpha")
    expect(entries.nth(0)).to_have_attribute("data-room-entry", alpha)
    expect(entries.nth(1)).to_have_attribute("data-room-entry", bravo)
    expect(entries).to_have_count(2)
    expect(alpha_entry.locator(".badge.unread")).to_be_visible()
    assert_not_reloaded(page)


def test_access_token_never_reaches_the_browser(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    bodies: list[tuple[str, str]] = []
    frames: list[str] = []

    def on_response(response) -> None:
        if 300 <= response.status < 400:
            return
        try:
            bodies.append((response.url, response.text()))
        except Exception as exc:  # a body that cannot be read fails the test below
            bodies.append((response.url, f"<unreadable: {exc}>"))

    def on_websocket(ws) -> None:
        ws.on("framesent", lambda payload: frames.append(str(payload)))
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("response", on_response)
    page.on("websocket", on_websocket)

    login_with_password(page, base, synapse, chat.me)
    _, token = browser_device_token(synapse, chat.me)
    htmls = [page.content()]
    wait_live(page, "#room-list")
    open_room(page, base, chat.room_id)
    htmls.append(page.content())
    incoming = send_text(synapse, chat.other, chat.room_id, "a message to receive")
    expect(event_tile(page, incoming)).to_have_count(1)
    type_and_send(page, "a message to send")
    sent = wait_for_message(
        synapse, chat.other, chat.room_id, lambda e: e["sender"] == chat.me.user_id
    )
    expect(event_tile(page, sent["event_id"])).to_have_count(1)
    page.reload()
    wait_live(page)
    htmls.append(page.content())

    assert any("/static/js/live.js" in url for url, _ in bodies), "scripts were not collected"
    assert any(f"/rooms/{q(chat.room_id)}/" in url or chat.room_id in url for url, _ in bodies)
    assert sum("a message to" in f for f in frames) >= 2, "websocket frames were not collected"
    for url, body in bodies:
        assert not body.startswith("<unreadable"), (url, body)
        assert token not in body, f"access token in the response of {url}"
        assert chat.me.access_token not in body
    for frame in frames:
        assert token not in frame, "access token in a websocket frame"
    for html in htmls:
        assert token not in html
    for cookie in page.context.cookies():
        assert token not in cookie["value"]
    assert (
        page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)").find(token)
        == -1
    )


def test_logout_kills_token_and_signs_out_every_tab(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    login_with_password(page, base, synapse, chat.me)
    _, token = browser_device_token(synapse, chat.me)
    assert whoami_errcode(synapse, token) is None

    other_tab = page.context.new_page()
    other_tab.set_default_timeout(15000)
    open_room(other_tab, base, chat.room_id)
    open_room(page, base, chat.room_id)

    page.locator("#logout-button").click()
    page.wait_for_url("**/login/?reason=signed_out")
    expect(page.locator("#login-notice")).to_be_visible()
    expect(page.locator("form#login-form")).to_be_visible()

    # The homeserver no longer accepts the token of the browser's device.
    assert whoami_errcode(synapse, token) == "M_UNKNOWN_TOKEN"
    # The second tab was sent to the login page by itself.
    other_tab.wait_for_url("**/login/**")
    expect(other_tab.locator("form#login-form")).to_be_visible()
    expect(other_tab.locator("#login-notice")).to_be_visible()
    # And it really is signed out: the room page asks to sign in.
    other_tab.goto(f"{base}/rooms/{q(chat.room_id)}/")
    expect(other_tab.locator("form#login-form")).to_be_visible()


def test_token_revoked_elsewhere_ends_every_tab(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    device = synapse.login(chat.me.localpart, chat.me.password)
    login_with_token(page, base, synapse, device.access_token)
    other_tab = page.context.new_page()
    other_tab.set_default_timeout(15000)
    open_room(page, base, chat.room_id)
    open_room(other_tab, base, chat.room_id)

    # Another client (say, the user's phone) signs this device out.
    from tests.synapse_fixtures import matrix_api

    matrix_api(synapse.url, device.access_token, "POST", "/_matrix/client/v3/logout", {})
    assert whoami_errcode(synapse, device.access_token) == "M_UNKNOWN_TOKEN"

    for tab in (page, other_tab):
        tab.wait_for_url("**/login/?reason=revoked", timeout=45000)
        expect(tab.locator("#login-notice")).to_be_visible()
        expect(tab.locator("#login-notice")).to_contain_text("revoked")


def test_without_javascript(browser, webclient_server, synapse, chat):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        base = webclient_server.url
        earlier = send_text(synapse, chat.other, chat.room_id, "sent before the page loaded")

        login_with_password(page, base, synapse, chat.me)
        entry = page.locator(f'#rooms li[data-room-entry="{chat.room_id}"]')
        expect(entry.locator(".room-preview")).to_have_text("sent before the page loaded")
        entry.locator("a[data-room-id]").click()
        expect(page.locator("#room")).to_have_attribute("data-room-id", chat.room_id)
        expect(event_tile(page, earlier).locator(".event-body")).to_have_text(
            "sent before the page loaded"
        )
        assert page.locator("#room").get_attribute("data-live") is None

        page.locator("form#composer textarea[name=body]").fill("sent without javascript")
        with page.expect_navigation():
            page.locator("form#composer button[type=submit]").click()
        sent = wait_for_message(
            synapse, chat.other, chat.room_id, lambda e: e["sender"] == chat.me.user_id
        )
        assert sent["content"]["body"] == "sent without javascript"
        expect(page.locator("#room")).to_have_attribute("data-room-id", chat.room_id)
        expect(event_tile(page, sent["event_id"]).locator(".event-body")).to_have_text(
            "sent without javascript"
        )
        expect(page.locator("#send-error")).to_have_count(0)
        assert len(messages_from(synapse, chat.other, chat.room_id, chat.me.user_id)) == 1
    finally:
        context.close()


def test_rejected_send_fails_visibly_and_retry_sends_once(
    page: Page, webclient_server, synapse, make_user
):
    other = make_user("other", displayname="Olga")
    me = make_user("me")
    room_id = shared_room(
        synapse,
        other,
        me,
        name="Read only",
        power_level_content_override={"events_default": 50},
    )
    base = webclient_server.url
    login_with_password(page, base, synapse, me)
    open_room(page, base, room_id)

    type_and_send(page, "may I speak?")
    failed = page.locator("#timeline article.event.pending.failed")
    expect(failed).to_have_count(1)
    expect(failed.locator(".event-body")).to_have_text("may I speak?")
    expect(failed.locator(".send-state")).to_contain_text("Not sent")
    expect(failed.locator(".send-state")).to_contain_text("refused")
    expect(failed.locator("button.retry")).to_be_visible()
    expect(failed.locator("button.discard")).to_be_visible()
    assert messages_from(synapse, other, room_id, me.user_id) == []

    set_power_level(synapse, other, room_id, me.user_id, 50)
    failed.locator("button.retry").click()
    sent = wait_for_message(synapse, other, room_id, lambda e: e["sender"] == me.user_id)
    assert sent["content"]["body"] == "may I speak?"
    expect(event_tile(page, sent["event_id"])).to_have_count(1)
    expect(page.locator("#timeline .pending")).to_have_count(0)
    expect(page.locator("#timeline .failed")).to_have_count(0)
    page.wait_for_timeout(500)
    assert len(messages_from(synapse, other, room_id, me.user_id)) == 1


def test_page_reconnects_after_server_restart(page: Page, synapse, chat, tmp_path):
    port = free_port()
    server = start_webclient(tmp_path / "webclient", synapse.url, port=port)
    try:
        base = server.url
        login_with_password(page, base, synapse, chat.me)
        before = send_text(synapse, chat.other, chat.room_id, "before the restart")
        open_room(page, base, chat.room_id)
        expect(event_tile(page, before)).to_have_count(1)
        mark_page(page)

        stop_webclient(server)
        expect(page.locator("#room")).to_have_attribute("data-live", "false")
        expect(page.locator("#connection-status")).to_be_visible()
        # More than one sync's timeline limit (30), so the catch-up has a gap to fill too.
        missed = [
            send_text(synapse, chat.other, chat.room_id, f"sent while down #{n}") for n in range(35)
        ]

        server = start_webclient(tmp_path / "webclient", synapse.url, port=port)
        wait_live(page, timeout=40000)
        expect(event_tile(page, missed[-1]).locator(".event-body")).to_have_text(
            "sent while down #34", timeout=20000
        )
        for event_id in missed:
            expect(event_tile(page, event_id)).to_have_count(1)
        assert_not_reloaded(page)
        expect(event_tile(page, before)).to_have_count(1)
        ids = page.eval_on_selector_all(
            "#timeline [data-event-id]", "nodes => nodes.map(n => n.dataset.eventId)"
        )
        assert len(ids) == len(set(ids)), f"duplicate tiles: {ids}"
        # In the order they were sent, after what the page showed before.
        positions = [ids.index(event_id) for event_id in [before, *missed]]
        assert positions == sorted(positions), "tiles out of order after the catch-up"

        # And it is live again: a new message arrives without a reload.
        after = send_text(synapse, chat.other, chat.room_id, "after the restart")
        expect(event_tile(page, after)).to_have_count(1)
        assert_not_reloaded(page)
    finally:
        stop_webclient(server)
