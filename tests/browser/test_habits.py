"""Element's habits in real Chromium against a real Synapse: date separators between tiles
(room, thread, history pages, live), the room's creation folded into one line, Jump to first
unread / Jump to latest, and the keyboard (Ctrl/Cmd+K room switcher, Alt+Up/Down, Escape).

The server pages 15 events at a time, so a room of a few dozen messages has history to load.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

from tests.server import WebclientServer, start_webclient, stop_webclient
from tests.synapse_fixtures import matrix_api

from .helpers import (
    CS,
    create_room,
    event_tile,
    invite_and_join,
    login_with_password,
    open_room,
    q,
    send_text,
    shared_room,
    signed_in_without_script,
)
from .test_history import scroll_up_once

PAGE = 15


@pytest.fixture(scope="module")
def webclient_server(synapse, tmp_path_factory) -> Iterator[WebclientServer]:
    server = start_webclient(
        tmp_path_factory.mktemp("habits"), synapse.url, TIMELINE_PAGE_SIZE=str(PAGE)
    )
    yield server
    stop_webclient(server)


SEPARATORS = """() => [...document.querySelectorAll('#timeline .date-separator')]
  .map(s => s.textContent.trim())"""


SEPARATOR_DAYS = """() => [...document.querySelectorAll('#timeline .date-separator')]
  .map(s => s.dataset.day)"""


def separators(page: Page) -> list[str]:
    return page.evaluate(SEPARATORS)


def assert_separators_between_tiles(page: Page) -> None:
    """Separators are items of the page, never inside a (shared, cached) tile, and each sits
    directly in a chunk (or the timeline)."""
    inside = page.evaluate(
        """() => [...document.querySelectorAll('#timeline .date-separator')]
          .filter(s => s.closest('article.event, details') ||
                  !(s.parentElement.classList.contains('chunk') ||
                    s.parentElement.id === 'timeline'))
          .length"""
    )
    assert inside == 0


def send_thread_reply(hs, user, room_id: str, root: str, body: str) -> str:
    content = {
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"rel_type": "m.thread", "event_id": root},
    }
    path = f"{CS}/rooms/{q(room_id)}/send/m.room.message/t{abs(hash(body))}"
    return matrix_api(hs.url, user.access_token, "PUT", path, content)["event_id"]


def test_date_separators_on_room_history_thread_and_live(
    page: Page, browser, webclient_server, synapse, make_user
):
    base = webclient_server.url
    me = make_user("me")
    bob = make_user("bob", displayname="Bob")
    room = shared_room(synapse, bob, me, name="Days", topic="Counting days")
    ids = [send_text(synapse, bob, room, f"d{n:02d}") for n in range(2 * PAGE)]
    login_with_password(page, base, synapse, me)
    open_room(page, base, room)

    # One day so far: one "Today" above the first tile, every tile carries its time.
    expect(page.locator("#timeline .date-separator")).to_have_count(1)
    assert separators(page) == ["Today"]
    first = page.locator(
        "#timeline .date-separator + article.event, #timeline .date-separator + details"
    )
    expect(first.first).to_be_attached()
    assert_separators_between_tiles(page)
    assert event_tile(page, ids[-1]).get_attribute("data-ts").isdigit()
    expect(page.locator("#timeline .date-separator")).to_have_attribute(
        "data-day", re.compile(r"^\d{4}-\d\d-\d\d$")
    )

    # Scrolling back joins pages of history: each page comes with its own separator, and
    # the one that repeats the day above it goes.
    for _ in range(6):
        moved = scroll_up_once(page)
        if moved is None:
            break
        # The separator dropped above what was on screen does not move it.
        assert abs(moved) < 3, moved
    expect(page.locator("#timeline details.creation-burst")).to_have_count(1)
    expect(event_tile(page, ids[0])).to_be_attached()
    assert page.locator("#timeline > .chunk").count() >= 2
    assert separators(page) == ["Today"]
    assert_separators_between_tiles(page)

    # A page left open overnight (its tiles dated a day back, as if shown yesterday): the
    # separator becomes "Yesterday", and a live message starting the new day gets "Today".
    page.evaluate(
        """() => document.querySelectorAll('#timeline [data-ts]').forEach(
             t => { t.dataset.ts = String(Number(t.dataset.ts) - 86400000); })"""
    )
    live = send_text(synapse, bob, room, "a new day")
    expect(event_tile(page, live)).to_be_visible()
    expect(page.locator("#timeline .date-separator")).to_have_count(2)
    assert separators(page) == ["Yesterday", "Today"]
    assert page.evaluate(
        """(id) => {
          const tile = document.querySelector('#timeline [data-event-id="' + CSS.escape(id) + '"]');
          const prev = tile.previousElementSibling;
          return prev && prev.classList.contains('date-separator');
        }""",
        live,
    )
    assert_separators_between_tiles(page)

    # Another day later (every tile and separator a day further back, the page still right),
    # following the live end: the next live message is dated against the tile before it
    # alone, and gets "Today".
    days = page.evaluate(
        """() => { const back = (day) => new Date(Date.parse(day + 'T00:00:00Z') - 86400000)
                     .toISOString().slice(0, 10);
                   document.querySelectorAll('#timeline [data-ts]').forEach(
                     t => { t.dataset.ts = String(Number(t.dataset.ts) - 86400000); });
                   const seps = [...document.querySelectorAll('#timeline .date-separator')];
                   seps.forEach(s => { s.dataset.day = back(s.dataset.day); });
                   return seps.map(s => s.dataset.day); }"""
    )
    page.evaluate(
        "() => { const t = document.getElementById('timeline'); t.scrollTop = t.scrollHeight; }"
    )
    later = send_text(synapse, bob, room, "and another day")
    expect(event_tile(page, later)).to_be_visible()
    expect(page.locator("#timeline .date-separator")).to_have_count(3)
    today = page.locator("#timeline .date-separator").nth(2)
    assert page.evaluate(SEPARATOR_DAYS) == [*days, today.get_attribute("data-day")]
    assert days[1] < today.get_attribute("data-day")
    expect(today).to_have_text("Today")
    assert page.evaluate(
        """(id) => document.querySelector('#timeline [data-event-id="' + CSS.escape(id) + '"]')
             .previousElementSibling.classList.contains('date-separator')""",
        later,
    )
    assert_separators_between_tiles(page)

    # A thread page has them too.
    root = send_text(synapse, bob, room, "thread root")
    send_thread_reply(synapse, bob, room, root, "in the thread")
    page.goto(f"{base}/rooms/{q(room)}/thread/{q(root)}/")
    expect(page.locator("#timeline")).to_contain_text("in the thread")
    assert separators(page) == ["Today"]
    expect(page.locator("#timeline > .date-separator").first).to_be_attached()

    # Without JavaScript: the server's separators, on the newest page and on the older
    # pages the "Older messages" link opens, ending with the room's creation folded.
    with signed_in_without_script(browser, base, synapse, me) as plain:
        plain.goto(f"{base}/rooms/{q(room)}/")
        assert separators(plain) == ["Today"]
        assert_separators_between_tiles(plain)
        for _ in range(4):
            if not plain.locator("#older-link").count():
                break
            plain.locator("#older-link").click()
            assert separators(plain) == ["Today"]
        burst = plain.locator("#timeline details.creation-burst")
        expect(burst).to_have_count(1)
        expect(burst.locator("summary")).to_have_text("Bob created and configured the room.")
        # The folded lines open without JavaScript.
        topic_line = burst.locator("article.event", has_text="Counting days")
        expect(topic_line).to_be_hidden()
        burst.locator("summary").click()
        expect(topic_line).to_be_visible()
        # My join (an invitation accepted later) is not part of the room's creation.
        assert burst.locator("article.event").count() >= 5


def test_creation_burst_folds_the_setup_and_opens(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("me", displayname="Mona")
    bob = make_user("bob", displayname="Bob")
    room = create_room(
        synapse,
        me,
        name="Fresh room",
        topic="A topic",
        initial_state=[
            {
                "type": "m.room.guest_access",
                "state_key": "",
                "content": {"guest_access": "can_join"},
            }
        ],
    )
    invite_and_join(synapse, me, bob, room)
    hello = send_text(synapse, bob, room, "hello after the setup")
    login_with_password(page, base, synapse, me)
    open_room(page, base, room)

    burst = page.locator("#timeline details.creation-burst")
    expect(burst).to_have_count(1)
    expect(burst.locator("summary")).to_have_text("Mona created and configured the room.")
    # create, my join, power levels, join rules, history visibility, guest access, name,
    # topic: all folded, in one line, before anything else.
    assert int(burst.get_attribute("data-burst")) >= 8
    assert page.evaluate(
        "() => document.querySelector('#timeline .chunk > details.creation-burst')"
        ".previousElementSibling.classList.contains('date-separator')"
    )
    expect(burst.locator("article.event").first).to_be_hidden()
    burst.locator("summary").click()
    expect(burst.locator("article.event", has_text="A topic")).to_be_visible()
    # Bob's invitation and join are other people's: not folded into the creation.
    expect(burst.locator(f'article.event[data-sender="{bob.user_id}"]')).to_have_count(0)
    expect(event_tile(page, hello)).to_be_visible()
    inside = burst.locator(f'[data-event-id="{hello}"]')
    expect(inside).to_have_count(0)


def wait_for_room(page: Page, base: str, room_id: str) -> None:
    """Wait until the page shows `room_id`'s page (its ID quoted or not in the address)."""
    page.wait_for_url(lambda url: unquote(url) == f"{base}/rooms/{room_id}/")


def set_fully_read(hs, user, room_id: str, event_id: str) -> None:
    matrix_api(
        hs.url,
        user.access_token,
        "POST",
        f"{CS}/rooms/{q(room_id)}/read_markers",
        {"m.fully_read": event_id},
    )


def scrolled_to_bottom(page: Page) -> bool:
    return page.evaluate(
        """() => { const t = document.getElementById('timeline');
                   return t.scrollHeight - t.scrollTop - t.clientHeight < 40; }"""
    )


def test_jump_to_first_unread_and_to_latest(browser, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("me")
    bob = make_user("bob", displayname="Bob")
    near = shared_room(synapse, bob, me, name="Near")
    far = shared_room(synapse, bob, me, name="Far")
    # Near: read up to a message, then 12 more (the divider is on the page, above the fold).
    read_near = send_text(synapse, bob, near, "read so far")
    for n in range(12):
        send_text(synapse, bob, near, f"near {n}")
    set_fully_read(synapse, me, near, read_near)
    # Far: read up to a message that is more than a page back.
    read_far = send_text(synapse, bob, far, "read long ago")
    for n in range(2 * PAGE):
        send_text(synapse, bob, far, f"far {n}")
    set_fully_read(synapse, me, far, read_far)

    context = browser.new_context(viewport={"width": 1000, "height": 600})
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        login_with_password(page, base, synapse, me)

        open_room(page, base, near)
        jump = page.locator("#jump-unread")
        expect(jump).to_have_attribute("href", "#unread-divider")
        expect(jump).to_have_text("Jump to first unread")
        expect(jump).to_be_visible()
        expect(page.locator("#unread-divider")).not_to_be_in_viewport()
        jump.click()
        expect(page.locator("#unread-divider")).to_be_in_viewport()
        expect(jump).to_be_hidden()

        # Scrolled up: "Jump to latest" shows, and takes the timeline back to the end.
        latest = page.locator("#jump-latest")
        expect(latest).to_have_text("Jump to latest")
        expect(latest).to_be_visible()  # the divider is higher than the last screen
        latest.click()
        page.wait_for_function(
            "() => { const t = document.getElementById('timeline');"
            " return t.scrollHeight - t.scrollTop - t.clientHeight < 40; }"
        )
        expect(latest).to_be_hidden()
        page.evaluate("document.getElementById('timeline').scrollTop = 0")
        expect(latest).to_be_visible()
        latest.click()
        expect(latest).to_be_hidden()
        assert scrolled_to_bottom(page)

        # Far: the first unread is older than the page: the link opens the room around it.
        open_room(page, base, far)
        jump = page.locator("#jump-unread")
        href = unquote(jump.get_attribute("href") or "")
        assert href == f"/rooms/{far}/event/{read_far}/", href
        jump.click()
        page.wait_for_url(re.compile(r"/event/"))
        expect(event_tile(page, read_far)).to_have_class(re.compile(r"\bhighlighted\b"))
        expect(event_tile(page, read_far)).to_be_in_viewport()
        # Showing older history, "Jump to latest" loads the newest page.
        latest = page.locator("#jump-latest")
        expect(latest).to_be_visible()
        latest.click()
        wait_for_room(page, base, far)
        expect(page.locator("#timeline")).to_contain_text(f"far {2 * PAGE - 1}")
    finally:
        context.close()

    # Without JavaScript both are plain links.
    with signed_in_without_script(browser, base, synapse, me) as plain:
        plain.goto(f"{base}/rooms/{q(far)}/")
        expect(plain.locator("#jump-latest")).to_have_attribute("href", "#latest")
        expect(plain.locator("#latest")).to_have_count(1)
        plain.locator("#jump-latest").click()
        expect(plain.locator("#timeline article.event").last).to_be_in_viewport()


def test_keyboard_switcher_alt_arrows_and_escape(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("me")
    bob = make_user("bob", displayname="Bob")
    names = ["Alpha room", "Beta team", "Gamma ray", "Café society"]
    rooms = {name: shared_room(synapse, bob, me, name=name) for name in names}
    message = send_text(synapse, bob, rooms["Alpha room"], "menu target")
    login_with_password(page, base, synapse, me)
    open_room(page, base, rooms["Alpha room"])

    # Ctrl+K: a modal dialog with a labelled combobox over a listbox of my rooms.
    page.keyboard.press("Control+k")
    dialog = page.locator("dialog#room-switcher")
    expect(dialog).to_be_visible()
    box = dialog.get_by_role("combobox", name="Search rooms")
    expect(box).to_be_focused()
    expect(dialog).to_have_attribute("aria-labelledby", "room-switcher-title")
    options = dialog.get_by_role("option")
    expect(options).to_have_count(4)
    # Fuzzy: letters in order, accents ignored.
    box.fill("btm")
    expect(options.first).to_contain_text("Beta team")
    box.fill("cafe")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Café society")
    box.fill("zzzz")
    expect(options).to_have_count(0)
    expect(dialog.locator("#room-switcher-empty")).to_be_visible()
    box.fill("a")
    count = options.count()
    assert count >= 3
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    active = box.get_attribute("aria-activedescendant")
    assert active == options.nth(1).get_attribute("id")
    box.press("ArrowUp")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    # Escape closes it and gives the focus back.
    box.press("Escape")
    expect(dialog).to_be_hidden()

    # Enter opens the chosen room.
    page.keyboard.press("Control+k")
    expect(box).to_be_focused()
    box.fill("gamma")
    box.press("Enter")
    wait_for_room(page, base, rooms["Gamma ray"])
    expect(page.locator("#room-name")).to_have_text("Gamma ray")

    # Alt+Down / Alt+Up: the next and previous rooms of the room list.
    order = [
        r["id"] for r in page.evaluate("fetch('/rooms/switcher/').then(r => r.json())")["rooms"]
    ]
    assert sorted(order) == sorted(rooms.values())
    at = order.index(rooms["Gamma ray"])
    if at + 1 < len(order):
        page.keyboard.press("Alt+ArrowDown")
        wait_for_room(page, base, order[at + 1])
        page.keyboard.press("Alt+ArrowUp")
        wait_for_room(page, base, rooms["Gamma ray"])
    else:
        page.keyboard.press("Alt+ArrowUp")
        wait_for_room(page, base, order[at - 1])
        page.keyboard.press("Alt+ArrowDown")
        wait_for_room(page, base, rooms["Gamma ray"])
    # From the room list, Alt+Down opens the first room.
    page.goto(f"{base}/rooms/")
    expect(page.locator("#room-list")).to_have_attribute("data-live", "true")
    page.keyboard.press("Alt+ArrowDown")
    wait_for_room(page, base, order[0])

    # Escape closes an open menu (a message's actions) and gives the focus back to its button.
    open_room(page, base, rooms["Alpha room"])
    toggle = event_tile(page, message).locator(".actions-toggle")
    menu = event_tile(page, message).locator(".actions-menu")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    page.keyboard.press("Tab")
    expect(menu.locator("a.action-react")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_be_focused()
    # An action taken from the menu closes it (here Reply, which goes to the composer).
    toggle.click()
    menu.locator("a.action-reply").click()
    expect(menu).to_be_hidden()
    expect(page.locator("#reply-banner")).to_be_visible()
    expect(page.locator("#composer-body")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#reply-banner")).to_be_hidden()
    # …and the switcher works from the room list page too.
    page.goto(f"{base}/rooms/")
    page.keyboard.press("Control+k")
    expect(page.locator("dialog#room-switcher")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("dialog#room-switcher")).to_be_hidden()


def test_message_actions_open_without_javascript(browser, webclient_server, synapse, make_user):
    """A message's ⋯ menu is a popover the browser opens by itself: without JavaScript it
    opens, closes with Escape, and its links work (Reply: the composer replies to it)."""
    base = webclient_server.url
    me = make_user("me")
    bob = make_user("bob", displayname="Bob")
    room = shared_room(synapse, bob, me, name="Plain menus")
    message = send_text(synapse, bob, room, "reply to me plainly")
    with signed_in_without_script(browser, base, synapse, me) as plain:
        plain.goto(f"{base}/rooms/{q(room)}/")
        tile = event_tile(plain, message)
        menu = tile.locator(".actions-menu")
        expect(menu).to_be_hidden()
        tile.locator(".actions-toggle").click()
        expect(menu).to_be_visible()
        plain.keyboard.press("Escape")
        expect(menu).to_be_hidden()
        tile.locator(".actions-toggle").click()
        menu.locator("a.action-reply").click()
        expect(plain.locator("#reply-banner")).to_be_visible()
        expect(plain.locator("#reply-preview")).to_have_text("reply to me plainly")
        expect(plain.locator('#composer input[name="reply_to"]')).to_have_value(message)


def test_creation_burst_is_whole_when_a_page_boundary_cuts_it(
    page: Page, webclient_server, synapse, make_user
):
    base = webclient_server.url
    me = make_user("me")
    bob = make_user("bob", displayname="Bob")
    # create, Bob's join, power levels, join rules, history visibility, guest access, name,
    # topic; my invitation and join; then 10 messages: the newest 15 events start with the
    # last three events of the room's creation.
    room = shared_room(synapse, bob, me, name="Cut", topic="Cut topic")
    events = matrix_api(
        synapse.url, bob.access_token, "GET", f"{CS}/rooms/{q(room)}/messages?dir=b&limit=50"
    )["chunk"]
    creation = sum(1 for e in events if e["sender"] == bob.user_id and "state_key" in e) - 1
    assert creation == 8, [e["type"] for e in events]
    ids = [send_text(synapse, bob, room, f"c{n}") for n in range(PAGE - 2 - 3)]
    login_with_password(page, base, synapse, me)
    open_room(page, base, room)
    burst = page.locator("#timeline details.creation-burst")
    expect(burst).to_have_count(1)
    expect(burst).to_have_attribute("data-burst", "8")
    expect(burst.locator("article.event", has_text="Cut topic")).to_have_count(1)
    # The room's start was reached: nothing older to load.
    expect(page.locator("#timeline")).not_to_have_attribute("data-older", re.compile("."))
    expect(event_tile(page, ids[0])).to_be_attached()
