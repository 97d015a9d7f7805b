"""The scaled-out configuration: several daphne processes on one PostgreSQL database and
the Redis channel layer (DATABASE_URL, REDIS_URL), with no sticky sessions. A browser's tabs
on two processes are one login; signing out on one process reaches the tab on the other
through Redis. A device is run by one process; a page on another process shows its live
messages and sends through it, and when that process is killed the other takes the device
over and the page (and a kiosk screen) catch up with nothing lost or shown twice."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    event_tile,
    login_with_password,
    open_room,
    recent_messages,
    send_text,
    shared_room,
    type_and_send,
    wait_for_message,
)
from tests.cluster_helpers import Cluster
from tests.server import start_webclient, stop_webclient

PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture(scope="module")
def scaled_out(synapse, tmp_path_factory):
    name = f"webclient_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        "DATABASE_URL": f"{PG}/{name}",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        # Both processes must agree on the keys that sign sessions and encrypt tokens.
        "SECRET_KEY": uuid.uuid4().hex * 2,
    }
    first = start_webclient(tmp_path_factory.mktemp("proc-a"), synapse.url, **env)
    second = start_webclient(tmp_path_factory.mktemp("proc-b"), synapse.url, **env)
    yield first, second
    stop_webclient(first)
    stop_webclient(second)
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_processes_share_the_database_and_the_channel_layer(
    browser, scaled_out, synapse, make_user
):
    first, second = scaled_out
    me = make_user("me", displayname="Me Myself")
    bob = make_user("bob", displayname="Bob Builder")
    room = shared_room(synapse, bob, me, name="Scaled room")
    # Cookies do not depend on the port: one browser context is one login on both.
    context = browser.new_context()
    try:
        tab_a = context.new_page()
        login_with_password(tab_a, first.url, synapse, me)
        tab_b = context.new_page()
        open_room(tab_b, second.url, room)  # the other process knows this login (PostgreSQL)
        open_room(tab_a, first.url, room)
        text = f"to both processes {uuid.uuid4().hex[:6]}"
        send_text(synapse, bob, room, text)
        expect(tab_a.locator("#timeline")).to_contain_text(text, timeout=20000)
        expect(tab_b.locator("#timeline")).to_contain_text(text, timeout=20000)

        # Signing out on process A ends the tab on process B too (through Redis).
        tab_a.locator("#logout-button").click()
        tab_a.wait_for_url(f"{first.url}/login/?reason=signed_out")
        tab_b.wait_for_url("**/login/**", timeout=20000)
    finally:
        context.close()


# -- one owner per device, any process serves its pages ----------------------------------------

#: The issue's bound for a dead owner's devices to be served again.
TAKEOVER_LIMIT = 10.0
TILE_IDS = "sel => [...document.querySelectorAll(sel)].map(n => n.dataset.eventId)"


@pytest.fixture
def cluster(synapse, tmp_path):
    made = Cluster.create(tmp_path, synapse.url)
    try:
        made.start("a")
        made.start("b")
        yield made
    finally:
        made.close()


def tile_ids(page: Page, selector: str) -> list[str]:
    return page.evaluate(TILE_IDS, selector)


def test_a_page_and_a_kiosk_screen_on_another_process_survive_the_owner(
    browser, cluster, synapse, make_user
):
    a, b = cluster.url("a"), cluster.url("b")
    me = make_user("me", displayname="Me Myself")
    bob = make_user("bob", displayname="Bob Builder")
    room = shared_room(synapse, bob, me, name="Run by A")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(20000)
        login_with_password(page, a, synapse, me)  # process A runs the device
        device = cluster.credential_device(me.user_id)
        assert cluster.owner(me.user_id, device) == "a"

        # A kiosk link (its own display device, run by A once its page is opened there).
        page.goto(f"{a}/settings/kiosks/")
        form = page.locator("#create-kiosk-form")
        form.locator("input[name=name]").fill("lobby")
        form.locator(f'input[name=rooms][value="{room}"]').check()
        form.locator("input[name=password]").fill(me.password)
        form.locator("#create-kiosk-button").click()
        kiosk_path = page.locator("#new-kiosk-url").input_value().split("/kiosk/", 1)[1]
        screen = context.new_page()
        screen.set_default_timeout(20000)
        screen.goto(f"{a}/kiosk/{kiosk_path}")
        screen.goto(f"{b}/kiosk/{kiosk_path}")  # the screen itself is on B
        expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true")

        # The room page on B: A's pushes arrive, and what is typed is posted once.
        open_room(page, b, room)
        live = send_text(synapse, bob, room, "live through process B")
        expect(event_tile(page, live)).to_be_visible()
        expect(screen.locator(f'article.event[data-event-id="{live}"]')).to_be_visible()
        typed = f"typed on B {uuid.uuid4().hex[:6]}"
        type_and_send(page, typed)
        wait_for_message(synapse, bob, room, lambda e: e["content"].get("body") == typed)
        expect(page.locator("#timeline .event.pending")).to_have_count(0)

        # A dies. B takes the device over; the page and the screen catch up.
        died = cluster.kill("a")
        during = [send_text(synapse, bob, room, f"while A is dead {n}") for n in range(3)]
        for event_id in during:
            expect(event_tile(page, event_id)).to_be_visible(timeout=(TAKEOVER_LIMIT + 10) * 1000)
        took = time.monotonic() - died
        for event_id in during:
            expect(screen.locator(f'article.event[data-event-id="{event_id}"]')).to_be_visible()
        assert cluster.owner(me.user_id, device) == "b"
        after = send_text(synapse, bob, room, "after the takeover")
        expect(event_tile(page, after)).to_be_visible()
        expect(screen.locator(f'article.event[data-event-id="{after}"]')).to_be_visible()
        typed_after = f"typed after the takeover {uuid.uuid4().hex[:6]}"
        type_and_send(page, typed_after)
        wait_for_message(synapse, bob, room, lambda e: e["content"].get("body") == typed_after)
        expect(page.locator("#timeline .event.pending")).to_have_count(0)

        # Nothing lost, nothing twice: every message of the room once on the page and the
        # screen, and each typed message once on the homeserver.
        said = [e for e in recent_messages(synapse, bob, room) if e["type"] == "m.room.message"]
        on_page = tile_ids(page, "#timeline article.event[data-event-id]")
        on_screen = tile_ids(screen, "#kiosk article.event[data-event-id]")
        assert len(on_page) == len(set(on_page)), on_page
        assert len(on_screen) == len(set(on_screen)), on_screen
        for event in said:
            assert event["event_id"] in on_page, event["content"]
            assert event["event_id"] in on_screen, event["content"]
        bodies = [e["content"].get("body") for e in said]
        assert bodies.count(typed) == 1 and bodies.count(typed_after) == 1, bodies
        print(f"browser: messages sent during the takeover shown {took:.1f}s after SIGKILL")
    finally:
        context.close()
