"""The member list in Chromium: from the room header to an invitation the invitee can see."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import CS, login_with_password, open_room, set_power_level, shared_room


def test_members_page_and_invite(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    owner = make_user("owner", displayname="Olive Owner")
    me = make_user("me", displayname="Mia")
    friend = make_user("friend", displayname="Fred Friend")
    room_id = shared_room(synapse, owner, me, name="Members Room")
    # The owner lets Mia invite people by making her a moderator.
    set_power_level(synapse, owner, room_id, me.user_id, 50)

    login_with_password(page, base, synapse, me)
    open_room(page, base, room_id, live=False)
    link = page.locator("#members-link")
    expect(link).to_have_text(re.compile(r"^Members( \(2\))?$"))
    link.click()
    page.wait_for_url(re.compile(r"/rooms/[^/]+/members/$"))

    expect(page.locator("#room-name")).to_have_text("Members Room")
    expect(page.locator("#group-admins li.member")).to_have_attribute("data-user-id", owner.user_id)
    expect(page.locator("#group-admins .member-name")).to_have_text("Olive Owner")
    expect(page.locator("#group-moderators li.member")).to_have_attribute(
        "data-user-id", me.user_id
    )
    expect(page.locator("#member-counts")).to_have_text("2 joined")
    expect(page.locator("#invite-hint")).to_have_count(0)

    # A typo first: the error is shown and the typed value kept.
    field = page.locator("#invite-user-id")
    field.fill("fred")
    page.locator("#invite-form button[type=submit]").click()
    expect(page.locator("#invite-error")).to_contain_text("“fred” is not a Matrix user ID.")
    expect(page.locator("#invite-user-id")).to_have_value("fred")

    page.locator("#invite-user-id").fill(friend.user_id)
    page.locator("#invite-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/rooms/[^/]+/members/$"))
    expect(page.locator(".flash")).to_have_text(f"Invited {friend.user_id}.")
    expect(page.locator("#invite-error")).to_have_count(0)
    expect(page.locator("#group-invited li.member")).to_have_attribute(
        "data-user-id", friend.user_id
    )
    expect(page.locator("#member-counts")).to_have_text("2 joined, 1 invited")

    sync = matrix_api(synapse.url, friend.access_token, "GET", f"{CS}/sync?timeout=0")
    assert room_id in sync["rooms"]["invite"]
