"""Moderation in the browser: without power the controls are absent and a forced attempt
shows the homeserver's refusal; with power, removing a message and banning work."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import (
    CS,
    confirm_dialog,
    event_tile,
    login_with_password,
    open_room,
    q,
    send_text,
    set_power_level,
    shared_room,
)
from tests.synapse_fixtures import matrix_api


def test_moderation_refused_then_allowed(page, webclient_server, synapse, make_user):
    me = make_user("me", displayname="Me Myself")
    boss = make_user("boss", displayname="The Boss")
    troll = make_user("troll", displayname="Troll")
    room = shared_room(synapse, boss, me, name="Moderated room")
    matrix_api(
        synapse.url,
        boss.access_token,
        "POST",
        f"{CS}/rooms/{q(room)}/invite",
        {"user_id": troll.user_id},
    )
    matrix_api(synapse.url, troll.access_token, "POST", f"{CS}/rooms/{q(room)}/join", {})
    spam = send_text(synapse, troll, room, "buy cheap stuff")
    login_with_password(page, webclient_server.url, synapse, me)
    open_room(page, webclient_server.url, room)

    # No power: no Remove in the message menu, no kick or ban on the person page.
    tile = event_tile(page, spam)
    tile.locator(".actions-toggle").click()
    expect(tile.locator(".action-remove")).to_be_hidden()
    tile.locator(".action-person").click()
    expect(page.locator("#person")).to_contain_text("Troll")
    expect(page.locator("#moderation-form")).to_have_count(0)

    # Forcing it anyway (the form posted by hand): the homeserver's refusal, plainly.
    with page.expect_navigation():
        page.evaluate(
            """() => {
            const form = document.createElement('form');
            form.method = 'post';
            form.innerHTML = '<input name="action" value="ban">';
            form.appendChild(document.querySelector('[name=csrfmiddlewaretoken]').cloneNode());
            document.body.appendChild(form);
            form.submit();
            }"""
        )
    # Sent without "I am sure": the server asks first; going ahead meets the refusal.
    expect(page.locator("#confirm-question")).to_contain_text("Ban Troll from")
    page.locator("#confirm-go").click()
    expect(page.locator("#moderation-error")).to_contain_text("refused")

    # Made a moderator: Remove and Ban appear and work.
    set_power_level(synapse, boss, room, me.user_id, 50)
    # The client learns the new level from its sync: reload until it has.
    for _ in range(20):
        open_room(page, webclient_server.url, room)
        if page.get_attribute("#room", "data-can-redact") == "true":
            break
        page.wait_for_timeout(500)
    expect(page.locator("#room")).to_have_attribute("data-can-redact", "true")
    tile = event_tile(page, spam)
    tile.locator(".actions-toggle").click()
    tile.locator(".action-remove").click()
    page.locator("#delete-form input[name=reason]").fill("spam")
    page.locator("#delete-form button[type=submit]").click()
    expect(event_tile(page, spam)).to_contain_text("Message deleted", timeout=15000)

    page.goto(f"{webclient_server.url}/rooms/{q(room)}/people/{q(troll.user_id)}/")
    page.locator("#moderation-form input[name=reason]").fill("repeated spam")
    page.locator("#moderation-form button[value=ban]").click()
    confirm_dialog(page)
    expect(page.locator(".flash")).to_contain_text("banned")
    state = matrix_api(
        synapse.url,
        boss.access_token,
        "GET",
        f"{CS}/rooms/{q(room)}/state/m.room.member/{q(troll.user_id)}",
    )
    assert state["membership"] == "ban" and state.get("reason") == "repeated spam"
