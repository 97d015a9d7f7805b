"""Accessibility in real Chromium against real Synapse: axe-core (tests/a11y) finds no serious
or critical violation on any page, in each theme (colour contrast included); the timeline is
announced politely as messages arrive; the room page works with the keyboard alone; the
confirmation dialog of a destructive action takes focus and gives it back."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.synapse_fixtures import matrix_api

from .a11y import serious_violations
from .helpers import CS, login_with_password, q, send_text, shared_room, wait_live

THEMES = ("light", "dark", "contrast")
#: What the browser says it prefers in each run: signed-out pages follow it.
MEDIA = {
    "light": {"color_scheme": "light", "contrast": "no-preference"},
    "dark": {"color_scheme": "dark", "contrast": "no-preference"},
    "contrast": {"color_scheme": "light", "contrast": "more"},
}
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(21, 25, 30)", "contrast": "rgb(0, 0, 0)"}


def thread_reply(hs, user, room_id: str, root: str, body: str) -> str:
    content = {
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"rel_type": "m.thread", "event_id": root},
    }
    path = f"{CS}/rooms/{q(room_id)}/send/m.room.message/{uuid.uuid4().hex}"
    return matrix_api(hs.url, user.access_token, "PUT", path, content)["event_id"]


def choose_theme(page: Page, base: str, theme: str) -> None:
    page.goto(f"{base}/settings/preferences/")
    page.locator(f"#theme-{theme or 'browser'}").check()
    page.locator("#theme-save").click()
    page.wait_for_url(f"{base}/settings/preferences/")
    if theme:
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
    else:
        expect(page.locator("html")).not_to_have_attribute("data-theme", theme or "x")


def make_kiosk(page: Page, base: str, password: str, room_id: str, theme: str) -> str:
    page.goto(f"{base}/settings/kiosks/")
    form = page.locator("#create-kiosk-form")
    form.locator("input[name=name]").fill(f"wall {uuid.uuid4().hex[:4]}")
    form.locator(f'input[name=rooms][value="{room_id}"]').check()
    form.locator("select[name=theme]").select_option(theme)
    form.locator("input[name=password]").fill(password)
    form.locator("#create-kiosk-button").click()
    return page.locator("#new-kiosk-url").input_value()


@pytest.mark.parametrize("theme", THEMES)
def test_no_serious_violation_on_any_page(
    theme: str, browser: Browser, webclient_server, synapse, make_user
):
    base = webclient_server.url
    me = make_user("axe", displayname="Ada")
    bob = make_user("bob", displayname="Bob")
    room = shared_room(synapse, me, bob, name="Team room", topic="Plans for the week")
    send_text(synapse, bob, room, "hello there, **welcome**")
    root = send_text(synapse, bob, room, "a thread starts here")
    thread_reply(synapse, bob, room, root, "and goes on in the thread")
    mine = send_text(synapse, me, room, "my own message")

    context = browser.new_context(**MEDIA[theme])
    page = context.new_page()
    page.set_default_timeout(15000)
    found: dict[str, list[str]] = {}

    def check(name: str, path: str | None = None) -> None:
        if path is not None:
            page.goto(base + path)
        page.wait_for_load_state("load")
        assert (
            page.evaluate("getComputedStyle(document.body).backgroundColor") == (BACKGROUND[theme])
        ), name
        found[name] = serious_violations(page)

    try:
        # Signed out: the browser's preference decides.
        check("sign-in", "/login/")
        expect(page.locator("html")).not_to_have_attribute("data-theme", theme)
        check("registration", "/register/")

        login_with_password(page, base, synapse, me)
        choose_theme(page, base, theme)
        check("preferences")
        check("room list", "/rooms/")
        page.goto(f"{base}/rooms/{q(room)}/")
        wait_live(page)
        check("room")
        page.locator(f'[data-event-id="{mine}"] .actions-toggle').first.click()
        check("room, a message's menu open")
        page.keyboard.press("Escape")
        page.locator("#composer-emoji").click()
        expect(page.locator(".emoji-popover")).to_be_visible()
        check("room, the emoji picker open")
        check("thread", f"/rooms/{q(room)}/thread/{q(root)}/")
        check("members", f"/rooms/{q(room)}/members/")
        check("person", f"/rooms/{q(room)}/people/{q(bob.user_id)}/")
        check("room settings", f"/rooms/{q(room)}/settings/")
        check("leave", f"/rooms/{q(room)}/settings/?mode=leave")
        check("delete a message", f"/rooms/{q(room)}/event/{q(mine)}/delete/")
        check("search", "/search/?q=hello")
        check("room search", f"/rooms/{q(room)}/search/?q=thread")
        check("new room", "/rooms/new/")
        check("directory", "/rooms/directory/")
        check("integrations", f"/rooms/{q(room)}/integrations/")
        check("permalink", f"/rooms/{q(room)}/event/{q(root)}/")
        check("report a message", f"/rooms/{q(room)}/event/{q(mine)}/report/")
        check("react (emoji page)", f"/rooms/{q(room)}/event/{q(mine)}/react/")
        check("join a room", "/rooms/join/")
        check("direct message", "/rooms/dm/")
        for name, path in [
            ("profile", "/settings/profile/"),
            ("devices", "/settings/devices/"),
            ("encryption", "/settings/encryption/"),
            ("verify", "/settings/encryption/verify/"),
            ("password", "/settings/password/"),
            ("advanced", "/settings/advanced/"),
            ("automation", "/settings/automation/"),
            ("url previews", "/settings/previews/"),
            ("someone's profile", f"/users/{q(bob.user_id)}/"),
        ]:
            check(name, path)
        kiosk = make_kiosk(page, base, me.password, room, theme)
        check("kiosk links")
        page.locator("#kiosk-list .revoke-button").first.click()
        expect(page.locator("#confirm-dialog")).to_be_visible()
        check("kiosk links, the confirmation open")
        page.keyboard.press("Escape")
        expect(page.locator("#confirm-dialog")).to_be_hidden()
        page.goto(kiosk)
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
        check("kiosk")
        page.goto(f"{base}/embed/{q(room)}/?theme={theme}")
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
        check("embed")
    finally:
        context.close()

    bad = {name: lines for name, lines in found.items() if lines}
    assert not bad, "\n".join(f"{name}:\n  " + "\n  ".join(lines) for name, lines in bad.items())
    assert len(found) >= 30, sorted(found)


def test_new_messages_are_announced_politely_not_the_backlog(
    page: Page, webclient_server, synapse, make_user
):
    base = webclient_server.url
    me = make_user("reader")
    bob = make_user("bob", displayname="Bob")
    room = shared_room(synapse, me, bob, name="Quiet room")
    send_text(synapse, bob, room, "an old message")
    login_with_password(page, base, synapse, me)
    page.goto(f"{base}/rooms/{q(room)}/")
    wait_live(page)
    announcer = page.locator("#timeline-announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    # The timeline itself is no live region: loading it, or older history, says nothing.
    assert page.locator("#timeline").get_attribute("aria-live") is None
    expect(announcer).to_have_text("")

    send_text(synapse, bob, room, "fresh news")
    expect(announcer.locator("p")).to_have_text(["Bob: fresh news"])
    # One's own messages are not read back.
    box = page.locator("#composer-body")
    box.fill("my reply")
    box.press("Enter")
    expect(page.locator("#timeline .event.mine", has_text="my reply")).to_have_count(1)
    send_text(synapse, bob, room, "second")
    expect(announcer.locator("p")).to_have_text(["Bob: fresh news", "Bob: second"])


def test_room_page_by_keyboard_alone(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("keys")
    bob = make_user("bob")
    room = shared_room(synapse, me, bob, name="Keyboard room")
    send_text(synapse, bob, room, "say something")
    login_with_password(page, base, synapse, me)
    page.goto(f"{base}/rooms/{q(room)}/")
    wait_live(page)

    # Tab from the top of the page to the composer; every stop shows where focus is.
    page.locator("body").focus()
    reached = False
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                       const s = getComputedStyle(e);
                       return {id: e.id, tag: e.tagName, outline: s.outlineStyle,
                               width: parseFloat(s.outlineWidth),
                               visible: e.matches(':focus-visible')}; }"""
        )
        if focused["tag"] != "BODY":
            assert focused["visible"] and focused["outline"] != "none", focused
            assert focused["width"] >= 2, focused
        if focused["id"] == "composer-body":
            reached = True
            break
    assert reached, "Tab never reached the composer"
    page.keyboard.type("typed with keys only")
    page.keyboard.press("Enter")
    expect(page.locator("#timeline .event.mine", has_text="typed with keys only")).to_have_count(1)
    expect(page.locator("#composer-body")).to_be_focused()
    expect(page.locator("#composer-body")).to_have_value("")

    # Sent with the Send button (reached by Tab, pressed by Space): focus returns to the box.
    page.keyboard.type("second by button")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('#composer button[type=submit]')"):
            break
    page.keyboard.press("Space")
    expect(page.locator("#timeline .event.mine", has_text="second by button")).to_have_count(1)
    expect(page.locator("#composer-body")).to_be_focused()


def test_no_serious_violation_without_javascript(
    browser: Browser, webclient_server, synapse, make_user
):
    """The pages as they are without their scripts (refused, so axe itself can still run in
    the page): the confirmation checkboxes shown, no dialog."""
    base = webclient_server.url
    me = make_user("plain", displayname="Pat")
    bob = make_user("bob", displayname="Bob")
    room = shared_room(synapse, me, bob, name="Plain room")
    mine = send_text(synapse, me, room, "plain text")
    context = browser.new_context(color_scheme="dark")
    context.route("**/static/js/**", lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(15000)
    found: dict[str, list[str]] = {}
    try:
        login_with_password(page, base, synapse, me)
        make_kiosk(page, base, me.password, room, "light")
        expect(page.locator(".confirm-check").first).to_be_visible()
        for name, path in [
            ("kiosk links", "/settings/kiosks/"),
            ("room", f"/rooms/{q(room)}/"),
            ("person", f"/rooms/{q(room)}/people/{q(bob.user_id)}/"),
            ("delete a message", f"/rooms/{q(room)}/event/{q(mine)}/delete/"),
            ("devices", "/settings/devices/"),
            ("preferences", "/settings/preferences/"),
        ]:
            page.goto(base + path)
            found[name] = serious_violations(page)
        # The page that asks when such a form comes without its checkbox ticked.
        page.goto(base + "/settings/kiosks/")
        with page.expect_navigation():
            page.locator("form.revoke-form").first.evaluate(
                "f => { f.noValidate = true; f.submit(); }"
            )
        expect(page.locator("#confirm-page")).to_be_visible()
        found["asks first"] = serious_violations(page)
    finally:
        context.close()
    bad = {name: lines for name, lines in found.items() if lines}
    assert not bad, "\n".join(f"{name}:\n  " + "\n  ".join(lines) for name, lines in bad.items())
