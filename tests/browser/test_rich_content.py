"""Issue 13 in real Chromium: colours sent by a bot are shown (by the stylesheet's typed
attr(), and by the script where a browser cannot, without breaking the CSP), a poll is voted
in and the vote changed by clicking, and an animated image plays only while hovered."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import CS, event_tile, login_with_password, open_room, open_room_menu, q, shared_room

T = "org.matrix.msc1767.text"
CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
}, true);
"""


def send(hs, user, room_id: str, event_type: str, content: dict) -> str:
    path = f"{CS}/rooms/{q(room_id)}/send/{q(event_type)}/{uuid.uuid4().hex}"
    return matrix_api(hs.url, user.access_token, "PUT", path, content)["event_id"]


def alert(hs, bot, room_id: str) -> str:
    return send(
        hs,
        bot,
        room_id,
        "m.room.message",
        {
            "msgtype": "m.notice",
            "body": "CRITICAL disk",
            "format": "org.matrix.custom.html",
            "formatted_body": '<font color="#ff0000">CRITICAL</font> '
            '<span data-mx-bg-color="#ffff00" data-mx-color="#0000ff">disk</span>',
        },
    )


def colours(page: Page, event_id: str) -> dict:
    return event_tile(page, event_id).evaluate(
        """(tile) => {
          const red = tile.querySelector('[data-mx-color="#ff0000"]');
          const disk = tile.querySelector('[data-mx-bg-color]');
          return {red: getComputedStyle(red).color, blue: getComputedStyle(disk).color,
                  bg: getComputedStyle(disk).backgroundColor,
                  styled: !!tile.querySelector('[style]'), csp: window.__csp};
        }"""
    )


def test_colours_show_with_css_and_with_the_script_fallback(
    browser, webclient_server, synapse, make_user
):
    bot = make_user("netdata", displayname="Netdata")
    me = make_user("me", displayname="Mia")
    room_id = shared_room(synapse, bot, me)
    first = alert(synapse, bot, room_id)
    base = webclient_server.url
    for fallback in (False, True):
        context = browser.new_context()
        context.add_init_script(CSP_WATCH)
        if fallback:
            # A browser without typed attr(): static/js/colours.js paints through the CSSOM.
            context.add_init_script("CSS.supports = () => false;")
        page = context.new_page()
        try:
            login_with_password(page, base, synapse, me)
            open_room(page, base, room_id)
            expect(event_tile(page, first)).to_have_count(1)
            got = colours(page, first)
            assert got["red"] == "rgb(255, 0, 0)", got
            assert got["blue"] == "rgb(0, 0, 255)" and got["bg"] == "rgb(255, 255, 0)", got
            assert got["styled"] is fallback and got["csp"] == [], got
            live = alert(synapse, bot, room_id)  # a live tile is coloured too
            expect(event_tile(page, live)).to_have_count(1)
            page.wait_for_timeout(200)
            got = colours(page, live)
            assert got["red"] == "rgb(255, 0, 0)" and got["csp"] == [], got
        finally:
            context.close()


def test_vote_change_the_vote_and_see_the_count(page: Page, webclient_server, synapse, make_user):
    bob = make_user("bob", displayname="Bob")
    me = make_user("me", displayname="Mia")
    room_id = shared_room(synapse, bob, me)
    poll_id = send(
        synapse,
        bob,
        room_id,
        "org.matrix.msc3381.poll.start",
        {
            "org.matrix.msc3381.poll.start": {
                "question": {T: "Lunch?"},
                "kind": "org.matrix.msc3381.poll.disclosed",
                "max_selections": 1,
                "answers": [{"id": "pizza", T: "Pizza"}, {"id": "sushi", T: "Sushi"}],
            },
            T: "Lunch?\n1. Pizza\n2. Sushi",
        },
    )
    base = webclient_server.url
    login_with_password(page, base, synapse, me)
    open_room(page, base, room_id)
    tile = event_tile(page, poll_id)
    expect(tile.locator(".poll-question")).to_contain_text("Lunch?")
    tile.locator('a.poll-vote[data-answer="pizza"]').click()
    expect(tile.locator('.poll-answer[data-answer="pizza"]')).to_have_attribute(
        "data-voters", me.user_id
    )
    expect(tile.locator('.poll-answer.mine[data-answer="pizza"]')).to_have_count(1)
    expect(tile.locator(".poll-status")).to_contain_text("Based on 1 votes")
    tile.locator('a.poll-vote[data-answer="sushi"]').click()
    expect(tile.locator('.poll-answer[data-answer="sushi"]')).to_have_attribute(
        "data-voters", me.user_id
    )
    expect(tile.locator(".poll-answer.mine")).to_have_count(1)
    expect(tile.locator('.poll-answer[data-answer="sushi"] .poll-count')).to_have_text("1 vote")
    answers = [
        e["content"]["org.matrix.msc3381.poll.response"]["answers"]
        for e in matrix_api(
            synapse.url,
            bob.access_token,
            "GET",
            f"{CS}/rooms/{q(room_id)}/messages?dir=f&limit=100",
        )["chunk"]
        if e["type"] == "org.matrix.msc3381.poll.response"
    ]
    assert answers == [["pizza"], ["sushi"]]
    # My own poll: I end it from the tile.
    mine = send(
        synapse,
        me,
        room_id,
        "org.matrix.msc3381.poll.start",
        {
            "org.matrix.msc3381.poll.start": {
                "question": {T: "Tea?"},
                "kind": "org.matrix.msc3381.poll.undisclosed",
                "answers": [{"id": "y", T: "Yes"}, {"id": "n", T: "No"}],
            },
            T: "Tea?",
        },
    )
    own = event_tile(page, mine)
    expect(own.locator(".poll-status")).to_contain_text("Results will be visible")
    page.once("dialog", lambda dialog: dialog.accept())
    own.locator("a.poll-end-link.own-only").click()
    expect(own.locator(".poll-status")).to_contain_text("The poll has ended", timeout=15000)


def test_animated_images_play_only_on_hover_or_when_allowed(
    page: Page, webclient_server, synapse, make_user
):
    bob = make_user("bob", displayname="Bob")
    me = make_user("me", displayname="Mia")
    room_id = shared_room(synapse, bob, me)
    gif = send(
        synapse,
        bob,
        room_id,
        "m.room.message",
        {
            "msgtype": "m.image",
            "body": "dance.gif",
            "url": "mxc://localhost/dancegif",
            "info": {"mimetype": "image/gif", "w": 200, "h": 150, "is_animated": True},
        },
    )
    base = webclient_server.url
    login_with_password(page, base, synapse, me)
    open_room(page, base, room_id)
    img = event_tile(page, gif).locator("img[data-animated-src]")
    still = img.get_attribute("data-still-src")
    moving = img.get_attribute("data-animated-src")
    assert "/thumbnail/" in still and moving == "/media/localhost/dancegif/"
    assert img.get_attribute("src") == still
    img.hover()
    expect(img).to_have_attribute("src", moving)
    page.mouse.move(0, 0)
    expect(img).to_have_attribute("src", still)
    open_room_menu(page)
    page.locator("#play-animated").check()
    expect(img).to_have_attribute("src", moving)
    page.reload()
    img = event_tile(page, gif).locator("img[data-animated-src]")
    expect(img).to_have_attribute("src", moving)  # the choice is kept in this browser
