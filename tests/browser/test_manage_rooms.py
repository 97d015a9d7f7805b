"""Making and joining rooms in Chromium: the forms from the room list to the room."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import CS, create_room, login_with_password, q


def room_id_of(page: Page) -> str:
    return page.locator("#room").get_attribute("data-room-id")


def test_create_room_through_the_form(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("me", displayname="Mia")
    friend = make_user("friend")
    login_with_password(page, base, synapse, me)

    page.locator("#new-room-link").click()
    page.wait_for_url(f"{base}/rooms/new/")
    # A mistake first: the error is shown and what was typed is kept.
    page.locator("#create-name").fill("Plant Swap")
    page.locator("#create-topic").fill("Cuttings & seeds")
    page.locator("#create-invite").fill("friend")
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#invite-error")).to_contain_text("Not a Matrix user ID: friend.")
    expect(page.locator("#create-name")).to_have_value("Plant Swap")

    page.locator("#create-invite").fill(friend.user_id)
    page.locator("#create-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/rooms/![^/]+/$"))
    expect(page.locator("#room-name")).to_have_text("Plant Swap")
    expect(page.locator("#room-topic")).to_have_text("Cuttings & seeds")
    room_id = room_id_of(page)

    members = matrix_api(synapse.url, me.access_token, "GET", f"{CS}/rooms/{q(room_id)}/members")
    memberships = {e["state_key"]: e["content"]["membership"] for e in members["chunk"]}
    assert memberships == {me.user_id: "join", friend.user_id: "invite"}

    # The room's settings are one click away, and the room is in the list.
    page.locator("#settings-link").click()
    expect(page.locator("#room-id-field")).to_have_value(room_id)
    page.goto(f"{base}/rooms/")
    expect(page.locator(f'#rooms a[data-room-id="{room_id}"] .room-name')).to_have_text(
        "Plant Swap"
    )

    # This homeserver keeps its directory closed (Synapse's default publication rules): a
    # public room is still made, and the page says it was not listed.
    page.locator("#new-room-link").click()
    page.locator("#create-name").fill("Open Garden")
    page.locator("#visibility-public").check()
    page.locator("#create-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/rooms/![^/]+/$"))
    expect(page.locator("#room-name")).to_have_text("Open Garden")
    expect(page.locator(".flash")).to_contain_text("did not list it in its public room directory")


def test_accept_invite_from_the_room_list(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("me")
    owner = make_user("owner", displayname="Olive Owner")
    room_id = create_room(synapse, owner, name="Garden Club")
    matrix_api(
        synapse.url,
        owner.access_token,
        "POST",
        f"{CS}/rooms/{q(room_id)}/invite",
        {"user_id": me.user_id},
    )
    login_with_password(page, base, synapse, me)

    invite = page.locator(f'#rooms a[data-invite-room-id="{room_id}"]')
    expect(invite).to_contain_text("Invited by Olive Owner")
    invite.click()
    page.wait_for_url(re.compile(r"/invite/$"))
    expect(page.locator("#room-name")).to_have_text("Garden Club")
    expect(page.locator("#inviter")).to_contain_text("Olive Owner")
    page.locator("#accept-invite").click()
    page.wait_for_url(re.compile(r"/rooms/![^/]+/$"))
    expect(page.locator("#room")).to_have_attribute("data-room-id", room_id)
    expect(page.locator("#room-name")).to_have_text("Garden Club")

    members = matrix_api(synapse.url, owner.access_token, "GET", f"{CS}/rooms/{q(room_id)}/members")
    memberships = {e["state_key"]: e["content"]["membership"] for e in members["chunk"]}
    assert memberships[me.user_id] == "join"

    page.locator("#side-rooms-home").click()  # the room list, beside the room
    expect(page.locator(f'#rooms a[data-room-id="{room_id}"]')).to_have_count(1)
    expect(page.locator(f'#rooms a[data-invite-room-id="{room_id}"]')).to_have_count(0)


def test_start_a_direct_message(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("me")
    bob = make_user("bob", displayname="Bob Builder")
    login_with_password(page, base, synapse, me)

    page.locator("#new-dm-link").click()
    page.wait_for_url(f"{base}/rooms/dm/")
    page.locator("#dm-user-id").fill(bob.user_id)
    page.locator("#dm-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/rooms/![^/]+/$"))
    expect(page.locator("#room-name")).to_have_text("Bob Builder")
    room_id = room_id_of(page)

    direct = matrix_api(
        synapse.url, me.access_token, "GET", f"{CS}/user/{q(me.user_id)}/account_data/m.direct"
    )
    assert direct == {bob.user_id: [room_id]}
    invite = matrix_api(
        synapse.url,
        me.access_token,
        "GET",
        f"{CS}/rooms/{q(room_id)}/state/m.room.member/{q(bob.user_id)}",
    )
    assert invite["membership"] == "invite" and invite["is_direct"] is True

    # Asking again opens the same room.
    page.goto(f"{base}/rooms/dm/")
    page.locator("#dm-user-id").fill(bob.user_id)
    page.locator("#dm-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/rooms/![^/]+/$"))
    assert room_id_of(page) == room_id
