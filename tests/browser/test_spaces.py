"""The grouped room list in Chromium: tags toggled on a room page move the room between
sections of an open room list without a reload; a space's section leads to its page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import (
    CS,
    assert_not_reloaded,
    create_room,
    login_with_password,
    mark_page,
    open_room,
    open_room_menu,
    q,
    send_text,
    shared_room,
    wait_live,
)


def section_entries(page: Page, key: str):
    return page.locator(f'#rooms [data-section="{key}"] li[data-room-entry]')


def test_favourite_and_low_priority_move_the_room_live(
    page: Page, webclient_server, synapse, make_user
):
    base = webclient_server.url
    other = make_user("other", displayname="Olga")
    me = make_user("me")
    alpha = shared_room(synapse, other, me, name="Alpha room")
    bravo = shared_room(synapse, other, me, name="Bravo room")
    send_text(synapse, other, alpha, "older news")
    send_text(synapse, other, bravo, "newer news")

    login_with_password(page, base, synapse, me)
    expect(section_entries(page, "rooms")).to_have_count(2)
    expect(page.locator('#rooms [data-section="favourites"]')).to_have_count(0)
    wait_live(page, "#room-list")
    mark_page(page)

    # The room page, in another tab of the same login: its header has the toggles.
    room_page = page.context.new_page()
    open_room(room_page, base, alpha, live=False)
    toggle = room_page.locator("#favourite-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    open_room_menu(room_page)
    toggle.click()
    expect(room_page.locator("#favourite-toggle")).to_have_attribute("aria-pressed", "true")

    # The open list moved the room to Favourites, a section that was not there, on top.
    favourites = section_entries(page, "favourites")
    expect(favourites).to_have_count(1)
    expect(favourites.first).to_have_attribute("data-room-entry", alpha)
    expect(page.locator("#rooms > [data-section]").first).to_have_attribute(
        "data-section", "favourites"
    )
    expect(page.locator('#rooms [data-section="favourites"] h2')).to_have_text("Favourites")
    expect(section_entries(page, "rooms")).to_have_count(1)
    expect(page.locator(f'#rooms li[data-room-entry="{alpha}"]')).to_have_count(1)
    tags = matrix_api(
        synapse.url, me.access_token, "GET", f"{CS}/user/{q(me.user_id)}/rooms/{q(alpha)}/tags"
    )
    assert set(tags["tags"]) == {"m.favourite"}

    # Low priority: last, and the empty Favourites section goes away.
    open_room_menu(room_page)
    room_page.locator("#lowpriority-toggle").click()
    expect(room_page.locator("#lowpriority-toggle")).to_have_attribute("aria-pressed", "true")
    expect(room_page.locator("#favourite-toggle")).to_have_attribute("aria-pressed", "false")
    expect(section_entries(page, "lowpriority")).to_have_count(1)
    expect(page.locator('#rooms [data-section="favourites"]')).to_have_count(0)
    expect(page.locator("#rooms > [data-section]").last).to_have_attribute(
        "data-section", "lowpriority"
    )
    # New activity does not lift it out of Low priority.
    send_text(synapse, other, alpha, "newest news, still low priority")
    entry = page.locator(f'#rooms li[data-room-entry="{alpha}"]')
    expect(entry.locator(".room-preview")).to_have_text("newest news, still low priority")
    expect(section_entries(page, "lowpriority")).to_have_count(1)
    expect(section_entries(page, "rooms").first).to_have_attribute("data-room-entry", bravo)
    assert_not_reloaded(page)
    room_page.close()


def test_space_section_leads_to_the_space_page_and_joining(
    page: Page, webclient_server, synapse, make_user
):
    base = webclient_server.url
    owner = make_user("owner")
    me = make_user("me")
    space = create_room(
        synapse, owner, name="Book Club", preset="public_chat", creation_content={"type": "m.space"}
    )
    reading = create_room(synapse, owner, name="Now Reading", preset="public_chat")
    matrix_api(
        synapse.url,
        owner.access_token,
        "PUT",
        f"{CS}/rooms/{q(space)}/state/m.space.child/{q(reading)}",
        {"via": ["localhost"]},
    )
    matrix_api(synapse.url, me.access_token, "POST", f"{CS}/join/{q(space)}", {})

    login_with_password(page, base, synapse, me)
    heading = page.locator(f'#rooms [data-section="space:{space}"] h2 a')
    expect(heading).to_have_text("Book Club")
    expect(section_entries(page, f"space:{space}")).to_have_count(0)
    heading.click()
    page.wait_for_url(re.compile(r"/spaces/"))
    expect(page.locator("#space-name")).to_have_text("Book Club")
    row = page.locator(f'#space-rooms li[data-room-id="{reading}"]')
    expect(row).to_contain_text("Now Reading")
    row.get_by_role("button", name="Join").click()
    page.wait_for_url(re.compile(r"/rooms/![^/]+/$"))
    expect(page.locator("#room-name")).to_have_text("Now Reading")
    page.locator("#side-rooms-home").click()  # the room list, beside the room
    entries = section_entries(page, f"space:{space}")
    expect(entries).to_have_count(1)
    expect(entries.first).to_have_attribute("data-room-entry", reading)
