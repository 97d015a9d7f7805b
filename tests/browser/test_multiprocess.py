"""The scaled-out configuration: several daphne processes on one PostgreSQL database and
the Redis channel layer (DATABASE_URL, REDIS_URL). A browser's tabs on two processes are one
login; signing out on one process reaches the tab on the other through Redis, and each
process serves the same rooms from the shared database."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import login_with_password, open_room, send_text, shared_room
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
