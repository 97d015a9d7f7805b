"""Read state over the websocket against a real Synapse: read receipts and the fully-read
marker, unread counts, typing notifications, others' receipts, and what the room page renders
from them (`data-receipts`, the "New messages" divider).

The person using the web client is Alice (signed in with `async_client`, pages' sockets are
`WebsocketCommunicator`s on the real ASGI application); Bob is "another client" over plain
client-server API calls, so every claim about the homeserver is checked on the homeserver.
"""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

import pytest
from django.urls import reverse

from tests.client_helpers import eventually, receive_until, sign_in, synced_session
from tests.matrix_helpers import api, q, send, shared_room
from webclient.live import publisher

db = pytest.mark.django_db(transaction=True)


def fully_read(hs, user, room_id: str) -> str | None:
    """The user's m.fully_read marker in a room, as the homeserver has it."""
    from tests.synapse_fixtures import MatrixAPIError, matrix_api

    path = f"/_matrix/client/v3/user/{q(user.user_id)}/rooms/{q(room_id)}/account_data/m.fully_read"
    try:
        return matrix_api(hs.url, user.access_token, "GET", path).get("event_id")
    except MatrixAPIError as exc:
        if exc.status == 404:
            return None
        raise


async def sync_room(hs, user, room_id: str, since: str | None = None, timeout_ms: int = 0):
    """One /sync of `user` (another client); returns (next_batch, the room's joined section)."""
    query = f"?timeout={timeout_ms}" + (f"&since={since}" if since else "")
    answer = await api(hs, user.access_token, "GET", f"/sync{query}")
    return answer["next_batch"], answer.get("rooms", {}).get("join", {}).get(room_id, {})


def read_receipts(joined: dict[str, Any]) -> dict[str, str]:
    """user ID -> event ID of the m.read receipts in a sync's room section."""
    found: dict[str, str] = {}
    for event in joined.get("ephemeral", {}).get("events", []):
        if event.get("type") != "m.receipt":
            continue
        for event_id, kinds in event.get("content", {}).items():
            for user_id in (kinds.get("m.read") or {}).keys():
                found[user_id] = event_id
    return found


def typing_users(joined: dict[str, Any]) -> list[str] | None:
    for event in joined.get("ephemeral", {}).get("events", []):
        if event.get("type") == "m.typing":
            return event.get("content", {}).get("user_ids", [])
    return None


async def wait_for_sync(hs, user, room_id: str, since: str, check, timeout: float = 20):
    """Long-poll `user`'s /sync until `check(joined)` is truthy; returns (next_batch, value)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        since, joined = await sync_room(hs, user, room_id, since, timeout_ms=2000)
        value = check(joined)
        if value:
            return since, value
    raise AssertionError(f"{user.user_id}'s sync never showed it within {timeout}s")


@db
async def test_read_moves_receipt_marker_and_clears_counts(
    async_client, synapse, make_user, sockets
):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    room = await shared_room(synapse, bob, alice, name="Read Room")
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    room_socket = await sockets.connect(async_client, room=room)
    list_socket = await sockets.connect(
        async_client, epoch=publisher.of(session).epoch, pos=publisher.of(session).position
    )

    await send(synapse, bob, room, "one")
    await send(synapse, bob, room, "two")
    newest = await send(synapse, bob, room, "three")
    # Alice's session sees the room's unread count, and so does its room list socket.
    await eventually(lambda: session.rooms.rooms[room].notification_count == 3)
    assert session.unread_total() == 3
    await receive_until(list_socket, lambda m: m["type"] == "unread" and m["total"] == 3)
    assert fully_read(synapse, alice, room) != newest

    await room_socket.send_json_to({"type": "read", "event_id": newest})

    # On the homeserver: the fully-read marker and Alice's public read receipt moved.
    await eventually(lambda: fully_read(synapse, alice, room) == newest)
    _, joined = await sync_room(synapse, bob, room)
    assert read_receipts(joined).get(alice.user_id) == newest
    # Alice's own unread count there is zero.
    _, own = await sync_room(synapse, alice, room)
    assert own["unread_notifications"].get("notification_count", 0) == 0

    # The session's counts drop, and every page of the login hears it: the room list gets the
    # room's entry without its badge and the total, the room page the total.
    seen: list[dict] = []
    entry = await receive_until(
        list_socket,
        lambda m: m["type"] == "room" and m["room_id"] == room and "badge unread" not in m["html"],
        seen=seen,
    )
    assert "three" in entry["html"]
    if not any(m["type"] == "unread" and m["total"] == 0 for m in seen):
        await receive_until(list_socket, lambda m: m["type"] == "unread" and m["total"] == 0)
    await receive_until(room_socket, lambda m: m["type"] == "unread" and m["total"] == 0)
    assert session.rooms.rooms[room].notification_count == 0
    assert session.unread_total() == 0

    # Malformed read messages are ignored (no request, no crash): the socket keeps working.
    await room_socket.send_json_to({"type": "read", "event_id": "not an event id"})
    await room_socket.send_json_to({"type": "read", "event_id": 12})
    again = await send(synapse, bob, room, "four")
    await room_socket.send_json_to({"type": "read", "event_id": again})
    await eventually(lambda: fully_read(synapse, alice, room) == again)


@db
async def test_typing_reaches_other_clients(async_client, synapse, make_user, sockets):
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice)
    credential = await sign_in(async_client, synapse, alice)
    await synced_session(credential)
    room_socket = await sockets.connect(async_client, room=room)
    since, _ = await sync_room(synapse, bob, room)

    await room_socket.send_json_to({"type": "typing", "typing": True})
    since, users = await wait_for_sync(synapse, bob, room, since, lambda j: typing_users(j) or None)
    assert users == [alice.user_id]

    await room_socket.send_json_to({"type": "typing", "typing": False})
    since, stopped = await wait_for_sync(
        synapse, bob, room, since, lambda j: typing_users(j) == [] and "stopped"
    )
    assert stopped == "stopped"


@db
async def test_others_typing_and_receipts_reach_the_room_socket(
    async_client, synapse, make_user, sockets
):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob Builder")
    room = await shared_room(synapse, bob, alice)
    credential = await sign_in(async_client, synapse, alice)
    await synced_session(credential)
    room_socket = await sockets.connect(async_client, room=room)

    await api(
        synapse,
        bob.access_token,
        "PUT",
        f"/rooms/{q(room)}/typing/{q(bob.user_id)}",
        {"typing": True, "timeout": 10000},
    )
    typing = await receive_until(room_socket, lambda m: m["type"] == "typing" and m["users"])
    assert typing["users"] == ["Bob Builder"]
    await api(
        synapse,
        bob.access_token,
        "PUT",
        f"/rooms/{q(room)}/typing/{q(bob.user_id)}",
        {"typing": False},
    )
    await receive_until(room_socket, lambda m: m["type"] == "typing" and m["users"] == [])

    mine = (
        await api(
            synapse,
            alice.access_token,
            "PUT",
            f"/rooms/{q(room)}/send/m.room.message/t1",
            {"msgtype": "m.text", "body": "hi"},
        )
    )["event_id"]
    await api(synapse, bob.access_token, "POST", f"/rooms/{q(room)}/receipt/m.read/{q(mine)}", {})
    message = await receive_until(
        room_socket,
        lambda m: (
            m["type"] == "receipts" and any(r["user_id"] == bob.user_id for r in m["receipts"])
        ),
    )
    receipt = next(r for r in message["receipts"] if r["user_id"] == bob.user_id)
    assert receipt["event_id"] == mine
    assert receipt["name"] == "Bob Builder"
    assert receipt["initial"] == "B"
    # Alice's own receipts are never shown to her.
    assert all(r["user_id"] != alice.user_id for r in message["receipts"])


@db
async def test_room_page_renders_receipts_and_divider(async_client, synapse, make_user, sockets):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob Builder")
    room = await shared_room(synapse, bob, alice)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    room_socket = await sockets.connect(async_client, room=room)

    read_up_to = await send(synapse, bob, room, "already read")
    await room_socket.send_json_to({"type": "read", "event_id": read_up_to})
    await eventually(lambda: fully_read(synapse, alice, room) == read_up_to)
    # The session learns its own marker through sync (account data).
    await eventually(lambda: session.fully_read.get(room) == read_up_to)
    await sockets.close(room_socket)

    first_new = await send(synapse, bob, room, "new one")
    second_new = await send(synapse, bob, room, "new two")
    await api(
        synapse, bob.access_token, "POST", f"/rooms/{q(room)}/receipt/m.read/{q(second_new)}", {}
    )
    await eventually(
        lambda: session.receipts.get(room, {}).get(bob.user_id, ("",))[0] == second_new
    )

    response = await async_client.get(reverse("rooms:room", args=[room]))
    assert response.status_code == 200
    page = response.content.decode()
    found = re.search(r'data-receipts="([^"]*)"', page)
    assert found, "no data-receipts on the timeline"
    receipts = json.loads(html.unescape(found.group(1)))
    bob_receipt = next(r for r in receipts if r["user_id"] == bob.user_id)
    assert bob_receipt["event_id"] == second_new
    assert bob_receipt["name"] == "Bob Builder"
    assert all(r["user_id"] != alice.user_id for r in receipts)

    # The divider comes right after the fully-read event, before the first new one.
    assert page.count('id="unread-divider"') == 1
    read_at = page.index(f'data-event-id="{read_up_to}"')
    divider_at = page.index('id="unread-divider"')
    new_at = page.index(f'data-event-id="{first_new}"')
    assert read_at < divider_at < new_at < page.index(f'data-event-id="{second_new}"')

    # Once everything is read, there is no divider.
    socket_ = await sockets.connect(async_client, room=room)
    await socket_.send_json_to({"type": "read", "event_id": second_new})
    await eventually(lambda: session.fully_read.get(room) == second_new)
    page = (await async_client.get(reverse("rooms:room", args=[room]))).content.decode()
    assert 'id="unread-divider"' not in page
