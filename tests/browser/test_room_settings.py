"""Room settings in Chromium: history visibility and a new address through the plain forms,
checked in the room's state on the homeserver."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import CS, create_room, login_with_password, q


def test_history_visibility_and_address(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("me")
    login_with_password(page, base, synapse, me)
    room_id = create_room(synapse, me, name="Settings Garden")

    page.goto(f"{base}/rooms/{q(room_id)}/settings/")
    expect(page.locator("#room-id-field")).to_have_value(room_id)
    # With the script, the room ID gets its Copy button.
    expect(page.locator('button[data-copy-target="room-id-field"]')).to_be_visible()
    expect(page.locator("#settings-history-visibility")).to_be_enabled()

    page.locator("#settings-history-visibility").select_option("joined")
    page.locator("#history-visibility-form button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(
        "Changed who can read the history: Members, from when they joined."
    )
    expect(page.locator("#settings-history-visibility")).to_have_value("joined")
    history = matrix_api(
        synapse.url,
        me.access_token,
        "GET",
        f"{CS}/rooms/{q(room_id)}/state/m.room.history_visibility/",
    )
    assert history["history_visibility"] == "joined"

    local = f"garden-{uuid.uuid4().hex[:8]}"
    alias = f"#{local}:localhost"
    page.locator("#alias-localpart").fill(local)
    page.locator("#alias-add").click()
    row = page.locator(f'#address-list tr[data-alias="{alias}"]')
    expect(row).to_contain_text("Not published")
    answer = matrix_api(synapse.url, me.access_token, "GET", f"{CS}/directory/room/{q(alias)}")
    assert answer["room_id"] == room_id

    # Make it the main address: the room's state and the page say so.
    row.get_by_role("button", name="Make main").click()
    expect(page.locator(f'#address-list tr[data-alias="{alias}"]')).to_contain_text("Main address")
    expect(page.locator("#settings-alias")).to_have_text(alias)
    canonical = matrix_api(
        synapse.url,
        me.access_token,
        "GET",
        f"{CS}/rooms/{q(room_id)}/state/m.room.canonical_alias/",
    )
    assert canonical["alias"] == alias

    # The same address again: refused in words, what was typed kept.
    page.locator("#alias-localpart").fill(local)
    page.locator("#alias-add").click()
    expect(page.locator("#alias-error")).to_contain_text("is already taken")
    expect(page.locator("#alias-localpart")).to_have_value(local)
