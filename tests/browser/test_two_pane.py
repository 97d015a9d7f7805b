"""Two panes: the room list beside the conversation from 900 px wide, swapping rooms without
reloading the page (address, Back/Forward, the socket follows), one pane on narrow screens,
and the same links as ordinary page loads without JavaScript."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from webclient.demo.homeserver import RegisteredUser

from .helpers import (
    assert_not_reloaded,
    create_room,
    event_tile,
    login_with_password,
    mark_page,
    open_room,
    q,
    send_text,
    shared_room,
    signed_in_without_script,
    type_and_send,
    wait_for_message,
    wait_live,
)

WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 375, "height": 740}


@dataclass
class Rooms:
    me: RegisteredUser
    other: RegisteredUser
    first: str
    second: str
    first_name: str
    second_name: str


@pytest.fixture
def rooms(synapse, make_user) -> Rooms:
    """A fresh user in two named rooms with one other user."""
    tag = time.monotonic_ns() % 100000
    other = make_user("other", displayname=f"Olga {tag}")
    me = make_user("me", displayname="Mia")
    first_name, second_name = f"Alpha {tag}", f"Bravo {tag}"
    first = shared_room(synapse, other, me, name=first_name)
    second = shared_room(synapse, other, me, name=second_name)
    return Rooms(me, other, first, second, first_name, second_name)


def at_room(base: str, room_id: str, rest: str = "") -> re.Pattern[str]:
    """The address of a room's page, with its ID quoted or not (links carry it as it is)."""
    quoted = "(" + re.escape(room_id) + "|" + re.escape(q(room_id)) + ")"
    return re.compile("^" + re.escape(base) + "/rooms/" + quoted + "/" + rest + "$")


def entry(page: Page, room_id: str):
    return page.locator(f'#side-rooms a[data-room-id="{room_id}"]')


def test_room_list_beside_the_room_and_swapping_without_reload(
    page: Page, webclient_server, synapse, rooms
):
    base = webclient_server.url
    page.set_viewport_size(WIDE)
    login_with_password(page, base, synapse, rooms.me)
    open_room(page, base, rooms.first)
    side = page.locator("#side-rooms")
    expect(side).to_be_visible()
    expect(entry(page, rooms.first)).to_have_attribute("aria-current", "page")
    expect(entry(page, rooms.second)).not_to_have_attribute("aria-current", "page")
    # The room list and the conversation sit side by side.
    side_box, room_box = side.bounding_box(), page.locator("#room").bounding_box()
    assert side_box and room_box and side_box["x"] + side_box["width"] <= room_box["x"]

    mark_page(page)
    entry(page, rooms.second).click()
    expect(page.locator("#room")).to_have_attribute("data-room-id", rooms.second)
    expect(page).to_have_url(at_room(base, rooms.second))
    expect(page.locator("#room-name")).to_have_text(rooms.second_name)
    expect(page).to_have_title(f"{rooms.second_name} · webclient")
    expect(entry(page, rooms.second)).to_have_attribute("aria-current", "page")
    expect(entry(page, rooms.first)).not_to_have_attribute("aria-current", "page")
    wait_live(page)
    assert_not_reloaded(page)

    # The socket follows: the new room's messages arrive live, the old room's no longer do.
    old = send_text(synapse, rooms.other, rooms.first, "in the old room")
    new = send_text(synapse, rooms.other, rooms.second, "in the new room")
    expect(event_tile(page, new)).to_be_visible()
    expect(page.locator("#timeline")).not_to_contain_text("in the old room")
    expect(event_tile(page, old)).to_have_count(0)
    # The old room's news shows as a badge in the list instead.
    expect(entry(page, rooms.first).locator(".badge.unread")).to_be_visible()

    # The composer works on the new room (sending goes to it).
    type_and_send(page, "sent after the swap")
    sent = "sent after the swap"
    wait_for_message(synapse, rooms.other, rooms.second, lambda e: e["content"].get("body") == sent)
    expect(page.locator("#timeline article.event.mine").last).to_contain_text("sent after the swap")

    # Back and Forward swap again, still without a reload.
    page.go_back()
    expect(page.locator("#room")).to_have_attribute("data-room-id", rooms.first)
    expect(page).to_have_url(at_room(base, rooms.first))
    wait_live(page)
    expect(entry(page, rooms.first)).to_have_attribute("aria-current", "page")
    later = send_text(synapse, rooms.other, rooms.first, "back in the first room")
    expect(event_tile(page, later)).to_be_visible()
    expect(event_tile(page, old)).to_be_visible()
    page.go_forward()
    expect(page.locator("#room")).to_have_attribute("data-room-id", rooms.second)
    wait_live(page)
    assert_not_reloaded(page)
    last = send_text(synapse, rooms.other, rooms.second, "forward again")
    expect(event_tile(page, last)).to_be_visible()
    expect(event_tile(page, later)).to_have_count(0)


def test_modules_start_again_on_the_swapped_pane(page: Page, webclient_server, synapse, rooms):
    """Drafts per room, typing, the emoji picker and reactions work after a swap."""
    base = webclient_server.url
    page.set_viewport_size(WIDE)
    login_with_password(page, base, synapse, rooms.me)
    open_room(page, base, rooms.first)
    box = page.locator("#composer-body")
    box.fill("a draft for the first room")
    mark_page(page)
    entry(page, rooms.second).click()
    expect(page.locator("#room")).to_have_attribute("data-room-id", rooms.second)
    wait_live(page)
    expect(page.locator("#composer-body")).to_have_value("")
    # Shown again on the way back, kept per room.
    entry(page, rooms.first).click()
    expect(page.locator("#room")).to_have_attribute("data-room-id", rooms.first)
    expect(page.locator("#composer-body")).to_have_value("a draft for the first room")
    wait_live(page)
    page.locator("#composer-body").fill("")

    # Reactions over the socket from the swapped pane's message menu.
    event_id = send_text(synapse, rooms.other, rooms.first, "react to me")
    tile = event_tile(page, event_id)
    expect(tile).to_be_visible()
    # The emoji picker opens from the swapped composer.
    button = page.locator("#composer-emoji")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator(".emoji-popover")).to_be_visible()
    page.keyboard.press("Escape")
    # Other people's typing shows in the new pane.
    from tests.browser.helpers import CS, matrix_api  # noqa: PLC0415

    matrix_api(
        synapse.url,
        rooms.other.access_token,
        "PUT",
        f"{CS}/rooms/{q(rooms.first)}/typing/{q(rooms.other.user_id)}",
        {"typing": True, "timeout": 10000},
    )
    expect(page.locator("#typing")).to_contain_text("is typing")
    assert_not_reloaded(page)


def test_history_and_read_markers_work_on_the_swapped_pane(
    page: Page, webclient_server, synapse, rooms
):
    """Scrolling back loads older messages in the room swapped in, and read receipts and
    the unread badge follow the room on show."""
    base = webclient_server.url
    first = send_text(synapse, rooms.other, rooms.second, "the very first message")
    for n in range(60):
        send_text(synapse, rooms.other, rooms.second, f"filler {n}")
    page.set_viewport_size(WIDE)
    login_with_password(page, base, synapse, rooms.me)
    open_room(page, base, rooms.first)
    expect(entry(page, rooms.second).locator(".badge.unread")).to_be_visible()
    entry(page, rooms.second).click()
    expect(page.locator("#room")).to_have_attribute("data-room-id", rooms.second)
    wait_live(page)
    # The page read the room (its read marker went over the followed socket).
    expect(entry(page, rooms.second).locator(".badge.unread")).to_have_count(0, timeout=15000)
    expect(event_tile(page, first)).to_have_count(0)
    expect(page.locator("#older-link")).to_be_hidden()  # history.js took over the pane
    page.locator("#timeline").evaluate("t => { t.scrollTop = 0; }")
    expect(event_tile(page, first)).to_be_visible(timeout=15000)


def test_navigate_on_the_bus_swaps_and_matrix_to_links_use_it(
    page: Page, webclient_server, synapse, rooms
):
    base = webclient_server.url
    page.set_viewport_size(WIDE)
    login_with_password(page, base, synapse, rooms.me)
    open_room(page, base, rooms.first)
    mark_page(page)
    page.evaluate(
        """async (url) => {
          const bus = await import('/static/js/bus.js');
          bus.emit('navigate', url);
        }""",
        f"/rooms/{q(rooms.second)}/",
    )
    expect(page.locator("#room")).to_have_attribute("data-room-id", rooms.second)
    wait_live(page)
    assert_not_reloaded(page)
    # A page that is not a room's (an event's permalink) loads as a page.
    event_id = send_text(synapse, rooms.other, rooms.second, "a permalink target")
    expect(event_tile(page, event_id)).to_be_visible()
    page.evaluate(
        """async (url) => {
          const bus = await import('/static/js/bus.js');
          bus.emit('navigate', url);
        }""",
        f"/rooms/{q(rooms.second)}/event/{q(event_id)}/",
    )
    expect(page).to_have_url(f"{base}/rooms/{q(rooms.second)}/event/{q(event_id)}/")
    expect(page.locator("#timeline")).to_have_attribute("data-highlight", event_id)


def test_a_room_one_is_invited_to_opens_as_a_page(page: Page, webclient_server, synapse, rooms):
    base = webclient_server.url
    page.set_viewport_size(WIDE)
    invited = create_room(synapse, rooms.other, name="Invitation room")
    from tests.browser.helpers import CS, matrix_api  # noqa: PLC0415

    matrix_api(
        synapse.url,
        rooms.other.access_token,
        "POST",
        f"{CS}/rooms/{q(invited)}/invite",
        {"user_id": rooms.me.user_id},
    )
    login_with_password(page, base, synapse, rooms.me)
    open_room(page, base, rooms.first)
    link = page.locator(f'#side-rooms a[data-invite-room-id="{invited}"]')
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(at_room(base, invited, "invite/"))
    # The pane of a room one is not in is refused: the script loads the page instead.
    answer = page.request.get(f"{base}/rooms/{q(invited)}/pane/")
    assert answer.status == 409


def test_narrow_screens_show_one_pane_with_a_way_back(page: Page, webclient_server, synapse, rooms):
    base = webclient_server.url
    page.set_viewport_size(NARROW)
    login_with_password(page, base, synapse, rooms.me)
    open_room(page, base, rooms.first)
    expect(page.locator("#side-rooms")).to_be_hidden()
    back = page.locator("#back-to-rooms")
    expect(back).to_be_visible()
    # The room's actions are in a menu that opens without script.
    expect(page.locator("#integrations-link")).to_be_hidden()
    page.locator("#room-menu > summary").click()
    expect(page.locator("#integrations-link")).to_be_visible()
    back.click()
    expect(page).to_have_url(f"{base}/rooms/")
    # Asking for a room on a narrow screen loads its page.
    page.locator(f'#rooms a[data-room-id="{rooms.second}"]').click()
    expect(page).to_have_url(at_room(base, rooms.second))
    wait_live(page)


def test_without_javascript_entries_are_page_loads(browser, webclient_server, synapse, rooms):
    base = webclient_server.url
    with signed_in_without_script(browser, base, synapse, rooms.me, viewport=WIDE) as page:
        page.goto(f"{base}/rooms/{q(rooms.first)}/")
        expect(page.locator("#side-rooms")).to_be_visible()
        expect(entry(page, rooms.first)).to_have_attribute("aria-current", "page")
        entry(page, rooms.second).click()
        expect(page).to_have_url(at_room(base, rooms.second))
        expect(page.locator("#room-name")).to_have_text(rooms.second_name)
        expect(entry(page, rooms.second)).to_have_attribute("aria-current", "page")
        # The room menu is a <details>: it opens without script.
        page.locator("#room-menu > summary").click()
        expect(page.locator("#integrations-link")).to_be_visible()
        page.go_back()
        expect(page).to_have_url(at_room(base, rooms.first))
        expect(page.locator("#room-name")).to_have_text(rooms.first_name)


PAGE_WEIGHT_LIMIT = 60 * 1024


def page_weight(page: Page, url: str) -> dict[str, int]:
    """Bytes transferred (compressed bodies and headers) for the page's HTML, CSS and JS,
    loaded into a fresh context with nothing cached."""
    sizes: dict[str, int] = {}

    def finished(request) -> None:
        kind = request.resource_type
        if kind not in ("document", "stylesheet", "script"):
            return
        size = request.sizes()
        sizes[request.url] = size["responseBodySize"] + size["responseHeadersSize"]

    page.on("requestfinished", finished)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.remove_listener("requestfinished", finished)
    return sizes


def test_room_page_weighs_under_60_kb(browser, webclient_server, synapse, rooms):
    """HTML + CSS + JS of a room page with a screenful of messages and the room list beside
    it, as transferred (compressed): a size check, not a timing."""
    base = webclient_server.url
    for n in range(30):
        send_text(synapse, rooms.other, rooms.first, f"message {n} of a screenful, with some words")
    last = send_text(synapse, rooms.other, rooms.first, "the last one")
    signing_in = browser.new_context(viewport=WIDE)
    page = signing_in.new_page()
    page.set_default_timeout(15000)
    try:
        login_with_password(page, base, synapse, rooms.me)
        state = signing_in.storage_state()
    finally:
        signing_in.close()
    # The same login in a context with an empty cache.
    context = browser.new_context(viewport=WIDE, storage_state=state)
    try:
        fresh = context.new_page()
        fresh.set_default_timeout(15000)
        sizes = page_weight(fresh, f"{base}/rooms/{q(rooms.first)}/")
        expect(event_tile(fresh, last)).to_be_visible()
    finally:
        context.close()
    total = sum(sizes.values())
    assert any(url.endswith(".js") for url in sizes) and any(url.endswith(".css") for url in sizes)
    listing = "\n".join(f"{n:7d} {url}" for url, n in sorted(sizes.items(), key=lambda kv: -kv[1]))
    assert total < PAGE_WEIGHT_LIMIT, f"{total} bytes:\n{listing}"
    print(f"room page: {total} bytes transferred in {len(sizes)} files")
