"""Kiosk screens on a wall, in real Chromium against a real Synapse: the whole screen at
1080p and 4K (one room, or a grid of four), type that grows with the display, large images,
and membership and other state lines hidden unless the link asks for them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.media_helpers import send_picture
from tests.server import WebclientServer, start_webclient, stop_webclient
from tests.synapse_fixtures import matrix_api
from webclient.demo.homeserver import LocalSynapse, RegisteredUser

from .helpers import CS, invite_and_join, login_with_password, q, send_text, shared_room
from .test_kiosk import panel, tile


@pytest.fixture(scope="module")
def webclient_server(synapse, tmp_path_factory) -> Iterator[WebclientServer]:
    server = start_webclient(tmp_path_factory.mktemp("kiosk-wall"), synapse.url)
    yield server
    stop_webclient(server)


def make_link(
    page: Page,
    base: str,
    hs: LocalSynapse,
    user: RegisteredUser,
    name: str,
    rooms: list[str],
    *,
    show_state: bool = False,
    scale: str = "1.5",
) -> str:
    login_with_password(page, base, hs, user)
    page.goto(f"{base}/settings/kiosks/")
    form = page.locator("#create-kiosk-form")
    form.locator("input[name=name]").fill(name)
    for room_id in rooms:
        form.locator(f'input[name=rooms][value="{room_id}"]').check()
    form.locator("select[name=scale]").select_option(scale)
    box = form.get_by_label("Show membership changes and other room events")
    expect(box).not_to_be_checked()  # hidden by default
    if show_state:
        box.check()
    form.locator("input[name=password]").fill(user.password)
    form.locator("#create-kiosk-button").click()
    url = page.locator("#new-kiosk-url").input_value()
    assert url.startswith(f"{base}/kiosk/"), url
    entry = page.locator("#kiosk-list li.kiosk-link", has_text=name)
    expect(entry.locator(".kiosk-shows-state")).to_have_count(1 if show_state else 0)
    return url


def open_wall(browser: Browser, url: str, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    screen = context.new_page()
    screen.set_default_timeout(15000)
    assert screen.goto(url).status == 200
    expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true")
    return context, screen


def set_topic(hs: LocalSynapse, user: RegisteredUser, room_id: str, topic: str) -> str:
    path = f"{CS}/rooms/{q(room_id)}/state/m.room.topic/"
    return matrix_api(hs.url, user.access_token, "PUT", path, {"topic": topic})["event_id"]


def font_px(screen: Page) -> float:
    return screen.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")


def test_one_room_fills_the_wall_hides_state_lines_and_shows_images_large(
    page: Page, browser: Browser, webclient_server, synapse, make_user
):
    base = webclient_server.url
    writer = make_user("writer", displayname="Wanda")
    owner = make_user("owner", displayname="Olga")
    guest = make_user("guest", displayname="Gus")
    room = shared_room(synapse, writer, owner, name="Lobby wall", topic="Welcome")
    invite_and_join(synapse, writer, guest, room)
    hello = send_text(synapse, writer, room, "good morning, everyone")
    url = make_link(page, base, synapse, owner, "lobby wall", [room])

    context, screen = open_wall(browser, url, 1920, 1080)
    try:
        # The whole screen: no centre column.
        grid = screen.locator(".kiosk-grid").bounding_box()
        room_panel = panel(screen, room).bounding_box()
        assert grid and room_panel
        assert grid["x"] == 0 and grid["width"] == 1920, grid
        assert room_panel["width"] >= 1910, room_panel
        assert grid["y"] + grid["height"] >= 1075, grid
        assert screen.evaluate("document.documentElement.scrollWidth") <= 1920
        # Text size 150 %: 24 px at 1920 px wide.
        assert font_px(screen) == pytest.approx(24, abs=0.5)

        # Messages only: no joins, no topic or name lines, no folded room creation.
        expect(tile(screen, room, hello)).to_be_visible()
        expect(panel(screen, room).locator(".event-state")).to_have_count(0)
        folded = panel(screen, room).locator("details.creation-burst, details.membership-run")
        expect(folded).to_have_count(0)

        # Live: a state change does not show; the message after it does.
        set_topic(synapse, writer, room, "Live topic")
        after = send_text(synapse, writer, room, "after the topic change")
        expect(tile(screen, room, after)).to_be_visible()
        expect(panel(screen, room).locator(".event-state")).to_have_count(0)
        expect(panel(screen, room)).not_to_contain_text("Live topic")

        # An image fills the panel's width or a good part of its height, larger than its
        # thumbnail.
        image_id = send_picture(synapse, writer, room)
        img = tile(screen, room, image_id).locator("img")
        expect(img).to_be_visible()
        screen.wait_for_function(
            "el => el.complete && el.naturalWidth > 0", arg=img.element_handle()
        )
        box = img.bounding_box()
        natural = img.evaluate("el => [el.naturalWidth, el.naturalHeight]")
        assert box and box["height"] >= 0.5 * 1080, box
        assert box["height"] > natural[1], (box, natural)

        # The option can be changed on the link later: the open screen reloads to follow.
        page.goto(f"{base}/settings/kiosks/")
        entry = page.locator("#kiosk-list li.kiosk-link", has_text="lobby wall")
        entry.get_by_role("button", name="Show room events too").click()
        expect(page.locator(".flash")).to_contain_text("now shows room events")
        expect(entry.locator(".kiosk-shows-state")).to_have_count(1)
        topic = panel(screen, room).locator(".kiosk-timeline > .event-state", has_text="Live topic")
        expect(topic).to_be_visible(timeout=15000)
        expect(panel(screen, room).locator("details.membership-run")).to_contain_text("Gus")
        expect(screen.locator("#kiosk")).to_have_attribute("data-show-state", "true")
        entry.get_by_role("button", name="Show messages only").click()
        expect(screen.locator("#kiosk")).to_have_attribute("data-show-state", "false")
        expect(panel(screen, room).locator(".event-state")).to_have_count(0)
        expect(tile(screen, room, hello)).to_be_visible()
    finally:
        context.close()

    # A 4K wall: the same screen, twice the type.
    context, screen = open_wall(browser, url, 3840, 2160)
    try:
        assert font_px(screen) == pytest.approx(48, abs=0.5)
        assert panel(screen, room).bounding_box()["width"] >= 3830
        expect(panel(screen, room).locator(".event-state")).to_have_count(0)
    finally:
        context.close()


def test_four_rooms_fill_a_grid_and_the_option_shows_state_lines(
    page: Page, browser: Browser, webclient_server, synapse, make_user
):
    base = webclient_server.url
    writer = make_user("writer", displayname="Wanda")
    owner = make_user("owner", displayname="Olga")
    rooms = [shared_room(synapse, writer, owner, name=f"Wall {n}") for n in range(4)]
    for n, room in enumerate(rooms):
        send_text(synapse, writer, room, f"hello {n}")
    url = make_link(page, base, synapse, owner, "four rooms", rooms, show_state=True)

    context, screen = open_wall(browser, url, 1920, 1080)
    try:
        expect(screen.locator(".kiosk-grid.rooms-4 > .kiosk-panel")).to_have_count(4)
        boxes = [panel(screen, room).bounding_box() for room in rooms]
        for box in boxes:
            assert box and 950 <= box["width"] <= 961, box
            assert box["height"] >= 450, box
        # Two by two, covering the width.
        xs = sorted({round(b["x"]) for b in boxes})
        ys = sorted({round(b["y"]) for b in boxes})
        assert len(xs) == 2 and len(ys) == 2, boxes
        assert xs[0] == 0 and max(b["x"] + b["width"] for b in boxes) >= 1919

        # State lines shown: the room's creation (folded) and joins.
        first = panel(screen, rooms[0])
        expect(first.locator("details.creation-burst summary")).to_have_text(
            "Wanda created and configured the room."
        )
        expect(first.locator(".kiosk-timeline > .event-state", has_text="joined")).to_be_visible()
        set_topic(synapse, writer, rooms[0], "A topic for the wall")
        expect(first.locator(".event-state", has_text="A topic for the wall")).to_be_visible()
        expect(screen.locator("html")).to_have_class(re.compile(r"\bscale-150\b"))
    finally:
        context.close()
