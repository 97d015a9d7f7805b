"""Themes, forms and destructive actions in real Chromium against real Synapse.

The browser's prefers-color-scheme / prefers-contrast decide until the viewer picks a theme on
Settings > Preferences (kept per login, written server-side as <html data-theme>); an embed
takes ?theme= from the embedding page; prefers-reduced-motion stops transitions. Destructive
actions are styled as danger and ask first: a <dialog> with script, a required checkbox
without."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import (
    CS,
    confirm_dialog,
    event_tile,
    login_with_password,
    open_room,
    q,
    send_text,
    shared_room,
)
from .test_a11y import BACKGROUND, choose_theme, make_kiosk


def background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_theme_follows_the_browser_until_chosen_and_is_kept_per_login(
    browser: Browser, webclient_server, synapse, make_user
):
    base = webclient_server.url
    me = make_user("theme")
    context = browser.new_context(color_scheme="dark")
    other = browser.new_context(color_scheme="light")
    try:
        page = context.new_page()
        login_with_password(page, base, synapse, me)
        html = page.locator("html")
        expect(html).not_to_have_attribute("data-theme", "dark")
        assert html.get_attribute("data-theme") is None
        assert background(page) == BACKGROUND["dark"]
        page.emulate_media(contrast="more")
        assert background(page) == BACKGROUND["contrast"]
        page.emulate_media(contrast="no-preference")

        # The choice beats the browser's preference, on every page, after reloads.
        choose_theme(page, base, "light")
        expect(page.locator(".flash")).to_contain_text("Light")
        expect(page.locator("#theme-light")).to_be_checked()
        page.goto(f"{base}/rooms/")
        expect(html).to_have_attribute("data-theme", "light")
        assert background(page) == BACKGROUND["light"]
        choose_theme(page, base, "contrast")
        page.goto(f"{base}/settings/devices/")
        assert background(page) == BACKGROUND["contrast"]

        # Kept per login: another sign-in of the same account follows its own browser.
        second = other.new_page()
        login_with_password(second, base, synapse, me)
        assert second.locator("html").get_attribute("data-theme") is None
        assert background(second) == BACKGROUND["light"]

        # Back to following the browser.
        choose_theme(page, base, "")
        assert html.get_attribute("data-theme") is None
        assert background(page) == BACKGROUND["dark"]
    finally:
        context.close()
        other.close()


def test_the_embedding_page_sets_the_embed_theme(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("embedder")
    bob = make_user("bob")
    room = shared_room(synapse, me, bob, name="Embedded")
    login_with_password(page, base, synapse, me)
    html = page.locator("html")
    page.goto(f"{base}/embed/{q(room)}/?theme=dark")
    expect(html).to_have_attribute("data-theme", "dark")
    assert background(page) == BACKGROUND["dark"]
    # Anything but a theme name is ignored (it would land in an attribute).
    page.goto(f"{base}/embed/{q(room)}/?theme=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
    assert html.get_attribute("data-theme") is None
    assert "alert(1)" not in page.content()
    # Without ?theme= the viewer's own choice applies.
    choose_theme(page, base, "contrast")
    page.goto(f"{base}/embed/{q(room)}/")
    expect(html).to_have_attribute("data-theme", "contrast")
    page.goto(f"{base}/embed/{q(room)}/?theme=light")
    expect(html).to_have_attribute("data-theme", "light")


def test_reduced_motion_stops_transitions_and_smooth_scrolling(browser: Browser, webclient_server):
    probe = """() => {
      const box = document.createElement("div");
      box.style.transition = "opacity 1s"; box.style.scrollBehavior = "smooth";
      document.body.append(box);
      const s = getComputedStyle(box);
      return [s.transitionDuration, s.scrollBehavior];
    }"""
    for motion, expected in [("no-preference", ["1s", "smooth"]), ("reduce", ["0s", "auto"])]:
        context = browser.new_context(reduced_motion=motion)
        try:
            page = context.new_page()
            page.goto(f"{webclient_server.url}/login/")
            assert page.evaluate(probe) == expected, motion
        finally:
            context.close()


def test_destructive_revoke_looks_destructive_and_asks_first(
    browser: Browser, webclient_server, synapse, make_user
):
    base = webclient_server.url
    me = make_user("careful")
    bob = make_user("bob")
    room = shared_room(synapse, me, bob, name="Lobby")
    context = browser.new_context(color_scheme="light")
    try:
        page = context.new_page()
        login_with_password(page, base, synapse, me)
        make_kiosk(page, base, me.password, room, "dark")
        make_kiosk(page, base, me.password, room, "light")
        links = page.locator("#kiosk-list li.kiosk-link")
        expect(links).to_have_count(2)

        # The kiosk form: each room's checkbox sits beside its name, on the same line.
        label = page.locator("#create-kiosk-form .kiosk-rooms label").first
        box, text = label.bounding_box(), label.locator("input").bounding_box()
        assert box and text and text["x"] <= box["x"] + 2 and box["height"] < 2.2 * text["height"]

        # Revoke is red, not the accent colour of the primary action.
        revoke = links.first.locator("button.revoke-button")
        create = page.locator("#create-kiosk-button")
        colour = "el => getComputedStyle(el).backgroundColor"
        assert revoke.evaluate(colour) == "rgb(179, 38, 30)"
        assert create.evaluate(colour) == "rgb(11, 122, 90)"
        # With script the no-JS checkbox is hidden: the dialog asks instead.
        expect(page.locator(".confirm-check").first).to_be_hidden()

        # Escape and Cancel keep the link; focus goes back to the button that asked.
        revoke.click()
        dialog = page.locator("#confirm-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Revoke the kiosk link")
        expect(page.locator("#confirm-dialog-cancel")).to_be_focused()
        expect(page.locator("#confirm-dialog-ok")).to_have_text("Revoke")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(revoke).to_be_focused()
        revoke.click()
        page.locator("#confirm-dialog-cancel").click()
        expect(dialog).to_be_hidden()
        expect(revoke).to_be_focused()
        expect(links).to_have_count(2)

        revoke.click()
        confirm_dialog(page)
        expect(page.locator(".flash")).to_contain_text("revoked")
        expect(links).to_have_count(1)
    finally:
        context.close()

    # Without JavaScript a required checkbox asks: the form is not sent until it is ticked.
    plain = browser.new_context(java_script_enabled=False)
    try:
        page = plain.new_page()
        login_with_password(page, base, synapse, me)
        page.goto(f"{base}/settings/kiosks/")
        links = page.locator("#kiosk-list li.kiosk-link")
        expect(links).to_have_count(1)
        form = links.first.locator("form.revoke-form")
        check = form.locator(".confirm-check input[type=checkbox]")
        expect(check).to_be_visible()
        assert form.evaluate("f => f.checkValidity()") is False
        form.locator("button.revoke-button").click()
        assert form.evaluate("f => f.checkValidity()") is False
        expect(links).to_have_count(1)
        check.check()
        form.locator("button.revoke-button").click()
        expect(page.locator(".flash")).to_contain_text("revoked")
        expect(page.locator("#kiosk-empty")).to_be_visible()
    finally:
        plain.close()


def test_deleting_a_message_asks_in_a_dialog_then_focus_returns_to_the_composer(
    page: Page, webclient_server, synapse, make_user
):
    base = webclient_server.url
    me = make_user("deleter")
    bob = make_user("bob")
    room = shared_room(synapse, me, bob, name="Mistakes")
    mine = send_text(synapse, me, room, "oops, wrong room")
    login_with_password(page, base, synapse, me)
    open_room(page, base, room)
    tile = event_tile(page, mine)
    tile.locator(".actions-toggle").click()
    tile.locator("a.action-delete").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete this message?")
    page.locator("#confirm-dialog-cancel").click()
    expect(page.locator("#composer-body")).to_be_focused()
    expect(tile).not_to_have_class(re.compile(r"\bredacted\b"))

    tile.locator(".actions-toggle").click()
    tile.locator("a.action-delete").click()
    confirm_dialog(page)
    expect(tile).to_have_class(re.compile(r"\bredacted\b"))
    expect(page.locator("#composer-body")).to_be_focused()


def test_removing_an_address_asks_with_script_and_without(
    browser: Browser, webclient_server, synapse, make_user
):
    """An address row's Remove has no checkbox of its own: with script the dialog asks (and
    the answer goes with the form), without script the server asks on a page of its own."""
    base = webclient_server.url
    me = make_user("addresses")
    bob = make_user("bob")
    tag = re.sub(r"\W", "", me.user_id.split(":")[0][1:])
    room = shared_room(synapse, me, bob, name="Addressed", room_alias_name=f"first{tag}")
    server = me.user_id.split(":", 1)[1]
    first = f"#first{tag}:{server}"
    second = f"#second{tag}:{server}"
    matrix_api(
        synapse.url, me.access_token, "PUT", f"{CS}/directory/room/{q(second)}", {"room_id": room}
    )
    settings = f"{base}/rooms/{q(room)}/settings/"

    plain = browser.new_context(java_script_enabled=False)
    try:
        page = plain.new_page()
        login_with_password(page, base, synapse, me)
        page.goto(settings)
        row = page.locator(f'#address-list tr[data-alias="{second}"]')
        row.locator("button[value=delete]").click()
        expect(page.locator("#confirm-page")).to_be_visible()
        expect(page.locator("#confirm-question")).to_have_text(f"Remove the address {second}?")
        # Cancel goes back and keeps it.
        page.locator("#confirm-cancel").click()
        expect(page.locator(f'#address-list tr[data-alias="{second}"]')).to_have_count(1)
        page.locator(f'#address-list tr[data-alias="{second}"] button[value=delete]').click()
        page.locator("#confirm-go").click()
        expect(page.locator(".flash")).to_contain_text(f"Removed the address {second}.")
        expect(page.locator(f'#address-list tr[data-alias="{second}"]')).to_have_count(0)
    finally:
        plain.close()

    context = browser.new_context()
    try:
        page = context.new_page()
        login_with_password(page, base, synapse, me)
        page.goto(settings)
        page.locator(f'#address-list tr[data-alias="{first}"] button[value=delete]').click()
        expect(page.locator("#confirm-dialog")).to_contain_text(f"Remove the address {first}?")
        confirm_dialog(page)
        # Straight to the result: the dialog's answer went with the form.
        expect(page.locator(".flash")).to_contain_text(f"Removed the address {first}.")
        expect(page.locator("#confirm-page")).to_have_count(0)
        expect(page.locator(f'#address-list tr[data-alias="{first}"]')).to_have_count(0)
    finally:
        context.close()
