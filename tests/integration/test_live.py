"""Live updates and sending over the websocket, and the life of a device's sync loop.

The person using the web client signs in through the login form with `async_client`; their
pages' websockets are `WebsocketCommunicator`s on the real ASGI application (Origin check,
session cookie, routing), in the same event loop as the sync loop they attach to. Other
people act through plain client-server API calls. Synapse's access log is the witness for
what the client asked the homeserver.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid

import pytest
from channels.layers import get_channel_layer
from django.urls import reverse
from django.utils import translation
from nio import SyncResponse

from tests.client_helpers import (
    events_with,
    eventually,
    receive_until,
    sign_in,
    sync_count,
    synced_session,
)
from tests.matrix_helpers import api, q, send, sent_by, set_power, shared_room
from webclient.demo.homeserver import LocalSynapse
from webclient.live import publisher
from webclient.matrix import registry
from webclient.matrix.models import Credential, load_snapshot
from webclient.matrix.session import MatrixSession

db = pytest.mark.django_db(transaction=True)


# -- live events ----------------------------------------------------------------------------


@db
async def test_room_socket_gets_rendered_events(async_client, synapse, make_user, sockets):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    room = await shared_room(synapse, bob, alice, name="Live Room")
    other = await shared_room(synapse, bob, alice, name="Other Room")
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)

    room_socket = await sockets.connect(async_client, room=room)
    list_socket = await sockets.connect(async_client)
    assert room_socket.connected and list_socket.connected
    # The room list socket, connecting without a position, gets the whole list first.
    rooms = await receive_until(list_socket, lambda m: m["type"] == "rooms")
    assert any(f'data-room-id="{room}"' in entry for entry in rooms["entries"])

    elsewhere = await send(synapse, bob, other, "in the other room")
    event_id = await send(synapse, bob, room, "live <hello> & welcome")
    seen: list[dict] = []
    message = await receive_until(room_socket, events_with(event_id), seen=seen)
    item = next(e for e in message["events"] if e["event_id"] == event_id)
    assert f'data-event-id="{event_id}"' in item["html"]
    assert f'data-sender="{bob.user_id}"' in item["html"]
    assert "live &lt;hello&gt; &amp; welcome" in item["html"]
    assert ">Bob Builder</span>" in item["html"]
    assert item["txn_id"] is None  # someone else's event: nothing to match locally
    assert message["epoch"] == publisher.of(session).epoch
    assert isinstance(message["pos"], int) and message["pos"] > 0
    assert message["limited"] is False
    # A room page only hears about its own room, and never about the room list.
    for other_message in seen:
        # (plus what every page hears: unread totals and notifications)
        assert other_message["type"] in {
            "hello",
            "events",
            "status",
            "unread",
            "notify",
            "typing",
            "header",
        }
        if other_message["type"] == "events":
            assert elsewhere not in {e["event_id"] for e in other_message["events"]}

    # The room list socket gets the room's new entry: preview and order.
    list_seen: list[dict] = []
    update = await receive_until(
        list_socket,
        lambda m: m["type"] == "room" and m["room_id"] == room and "live" in m["html"],
        seen=list_seen,
    )
    assert "live &lt;hello&gt; &amp; welcome" in update["html"]
    assert f'data-room-id="{room}"' in update["html"]
    assert update["order"][0] == room  # newest activity first
    assert set(update["order"]) == {room, other}
    assert all(m["type"] != "events" for m in list_seen)


@db
async def test_plain_messages_go_out_before_nio_parses_their_sync(
    async_client, synapse, make_user, sockets
):
    """A sync of new messages alone is published from its JSON, before nio checks and parses
    it; a sync that also changes state (a new member, a new name) the usual way, after the
    room list took it in. Either way each event goes out once, with its sender's name."""
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    carol = make_user("carol", displayname="Carol Singer")
    room = await shared_room(synapse, bob, alice, name="Early Room")
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    room_socket = await sockets.connect(async_client, room=room)

    order: list[tuple[str, set[str]]] = []
    publish, parse = session.publisher.room_events, session.client.receive_response

    async def room_events(room_id, events, *args, **kwargs):
        order.append(("published", {e["event_id"] for e in events}))
        await publish(room_id, events, *args, **kwargs)

    async def receive_response(response):
        if isinstance(response, SyncResponse):
            ids = {e.event_id for r in response.rooms.join.values() for e in r.timeline.events}
            order.append(("parsed", ids))
        await parse(response)

    session.publisher.room_events = room_events
    session.client.receive_response = receive_response

    def when(kind: str, event_id: str) -> int:
        return next(i for i, (k, ids) in enumerate(order) if k == kind and event_id in ids)

    seen: list[dict] = []
    plain = await send(synapse, bob, room, "early <bird>")
    message = await receive_until(room_socket, events_with(plain), seen=seen)
    assert ">Bob Builder</span>" in message["events"][0]["html"]
    assert "early &lt;bird&gt;" in message["events"][0]["html"]
    await eventually(lambda: any(k == "parsed" and plain in ids for k, ids in order))
    assert when("published", plain) < when("parsed", plain)

    # A new name and a message in one sync: the name is state, so the usual way. (The
    # sync loop stops at a gate after the sync that brings "wait", while both are sent.)
    gate = asyncio.Event()
    gate.set()
    sync = session.client.sync

    async def gated_sync(*args, **kwargs):
        await gate.wait()
        response = await sync(*args, **kwargs)
        if isinstance(response, SyncResponse) and any(
            getattr(e, "body", None) == "wait"
            for r in response.rooms.join.values()
            for e in r.timeline.events
        ):
            gate.clear()
        return response

    session.client.sync = gated_sync
    wait = await send(synapse, bob, room, "wait")
    await receive_until(room_socket, events_with(wait), seen=seen)
    await eventually(lambda: not gate.is_set())
    named = await api(
        synapse,
        bob.access_token,
        "PUT",
        f"/rooms/{q(room)}/state/m.room.name/",
        {"name": "Renamed Room"},
    )
    after_name = await send(synapse, bob, room, "after the name")
    gate.set()
    await receive_until(room_socket, events_with(after_name), seen=seen)
    assert when("parsed", after_name) < when("published", after_name)
    assert named["event_id"] in next(ids for k, ids in order if after_name in ids)

    # A new member's first message shows their name, whichever way it went.
    invite = {"user_id": carol.user_id}
    await api(synapse, bob.access_token, "POST", f"/rooms/{q(room)}/invite", invite)
    await api(synapse, carol.access_token, "POST", f"/join/{q(room)}", {})
    hello = await send(synapse, carol, room, "hello from carol")
    message = await receive_until(room_socket, events_with(hello), seen=seen)
    tile = next(e for e in message["events"] if e["event_id"] == hello)
    assert ">Carol Singer</span>" in tile["html"]

    # Each event went out once.
    await asyncio.sleep(0.5)
    for event_id in (plain, wait, after_name, hello):
        assert sum(1 for k, ids in order if k == "published" and event_id in ids) == 1
        frames = [m for m in seen if events_with(event_id)(m)]
        assert len(frames) == 1, frames


@db
async def test_follow_moves_a_room_socket_to_another_room(
    async_client, synapse, make_user, sockets
):
    """A room page beside the room list swaps rooms: its socket follows the new room from
    the pane's position (what arrived since is replayed), forwards no more of the old one,
    sends to the new one, keeps the room list, and refuses a room the login is not in."""
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    first = await shared_room(synapse, bob, alice, name="First")
    second = await shared_room(synapse, bob, alice, name="Second")
    outside = await shared_room(synapse, bob, make_user("carol"), name="Not hers")
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    pages = publisher.of(session)
    socket_ = await sockets.connect(async_client, room=first, with_list=True)

    # Not a room of hers: refused, and the socket stays on its room.
    await socket_.send_json_to({"type": "follow", "room_id": outside, "epoch": "", "pos": -1})
    refused = await receive_until(socket_, lambda m: m["type"] == "follow_refused")
    assert refused["room_id"] == outside

    # The pane of the second room is rendered here; a message arrives before the follow.
    epoch, position = pages.epoch, pages.position
    missed = await send(synapse, bob, second, "between the pane and the follow")
    await eventually(lambda: pages.position > position)
    await socket_.send_json_to(
        {"type": "follow", "room_id": second, "epoch": epoch, "pos": position}
    )
    seen: list[dict] = []
    await receive_until(socket_, lambda m: m["type"] == "following", seen=seen)
    assert any(events_with(missed)(m) for m in seen), "the follow did not catch up"

    old = await send(synapse, bob, first, "in the old room")
    new = await send(synapse, bob, second, "in the new room")
    seen = []
    await receive_until(socket_, events_with(new), seen=seen)
    # The room list comes along (the old room's new message moves it up).
    listed = lambda m: m["type"] == "room" and m["room_id"] == first and "old room" in m["html"]  # noqa: E731
    if not any(listed(m) for m in seen):
        await receive_until(socket_, listed, seen=seen)
    assert not any(events_with(old)(m) for m in seen)

    # A send now goes to the room on show.
    await socket_.send_json_to({"type": "send", "txn_id": "follow.1", "body": "to the second"})
    sent = await receive_until(socket_, lambda m: m["type"] == "sent")
    event = await api(
        synapse, bob.access_token, "GET", f"/rooms/{q(second)}/event/{q(sent['event_id'])}"
    )
    assert event["content"]["body"] == "to the second"


# -- sending ----------------------------------------------------------------------------------


@db
async def test_send_over_websocket(async_client, synapse, make_user, sockets):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Send Room")
    credential = await sign_in(async_client, synapse, alice)
    await synced_session(credential)
    socket_ = await sockets.connect(async_client, room=room)

    await socket_.send_json_to({"type": "send", "txn_id": "wsTxn.1", "body": "hi **there**"})
    seen: list[dict] = []
    sent = await receive_until(socket_, lambda m: m["type"] == "sent", seen=seen)
    assert sent["txn_id"] == "wsTxn.1"
    event_id = sent["event_id"]
    assert event_id.startswith("$")

    # The other client sees it, with the content the composer promised.
    event = await api(synapse, bob.access_token, "GET", f"/rooms/{q(room)}/event/{q(event_id)}")
    assert event["sender"] == alice.user_id
    assert event["content"]["msgtype"] == "m.text"
    assert event["content"]["body"] == "hi **there**"
    assert event["content"]["format"] == "org.matrix.custom.html"
    assert "<strong>there</strong>" in event["content"]["formatted_body"]

    # The same socket then gets the rendered event, tagged with our transaction ID, so the
    # page can replace its local echo.
    echo_check = events_with(event_id)
    echo = next((m for m in seen if echo_check(m)), None) or await receive_until(
        socket_, echo_check
    )
    item = next(e for e in echo["events"] if e["event_id"] == event_id)
    assert item["txn_id"] == "wsTxn.1"
    assert "<strong>there</strong>" in item["html"]

    # An emote, and a message that is not sent at all.
    await socket_.send_json_to({"type": "send", "txn_id": "wsTxn.2", "body": "/me waves"})
    sent = await receive_until(socket_, lambda m: m["type"] == "sent")
    event = await api(
        synapse, bob.access_token, "GET", f"/rooms/{q(room)}/event/{q(sent['event_id'])}"
    )
    assert event["content"] == {"msgtype": "m.emote", "body": "waves"}
    await socket_.send_json_to({"type": "send", "txn_id": "wsTxn.3", "body": "   "})
    failed = await receive_until(socket_, lambda m: m["type"] == "send_failed")
    assert failed["txn_id"] == "wsTxn.3"
    assert failed["retry"] is False
    assert "empty" in failed["error"]


@db
async def test_rejected_send_then_retry(async_client, synapse, make_user, sockets):
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(
        synapse, bob, alice, name="Read Only", power_level_content_override={"events_default": 50}
    )
    credential = await sign_in(async_client, synapse, alice)
    await synced_session(credential)
    socket_ = await sockets.connect(async_client, room=room)

    message = {"type": "send", "txn_id": "retryMe1", "body": "let me speak"}
    await socket_.send_json_to(message)
    failed = await receive_until(socket_, lambda m: m["type"] in {"sent", "send_failed"})
    assert failed["type"] == "send_failed"
    assert failed["txn_id"] == "retryMe1"
    assert failed["retry"] is True
    assert failed["error"].startswith("The homeserver refused this.")
    assert "{" not in failed["error"]  # a sentence, not a JSON dump

    await set_power(synapse, bob, room, alice, 50)
    await socket_.send_json_to(message)
    sent = await receive_until(socket_, lambda m: m["type"] in {"sent", "send_failed"})
    assert sent["type"] == "sent", sent
    # And once more, as a page that did not hear the answer would: still one event.
    await socket_.send_json_to(message)
    again = await receive_until(socket_, lambda m: m["type"] in {"sent", "send_failed"})
    assert again == sent
    bodies = [e["content"]["body"] for e in await sent_by(synapse, bob, room, alice)]
    assert bodies == ["let me speak"]


# -- who may connect ----------------------------------------------------------------------------


@db
async def test_foreign_origin_is_refused(async_client, synapse, make_user, sockets):
    alice = make_user("alice")
    await sign_in(async_client, synapse, alice)
    for origin in (b"http://evil.example", b"http://localhost.evil.example", b"null"):
        refused = await sockets.connect(async_client, origin=origin)
        assert refused.connected is False, origin
    accepted = await sockets.connect(async_client)
    assert accepted.connected is True


@db
async def test_no_session_gets_logout(sockets):
    socket_ = await sockets.connect(None, room="!room:localhost")
    assert socket_.connected  # accepted, to be told why it is closed
    hello = await socket_.receive_json_from(timeout=10)
    assert hello["type"] == "hello"  # every page learns the server's build first
    message = await socket_.receive_json_from(timeout=10)
    assert message["type"] == "logout"
    assert message["url"].startswith("/login/")
    closed = await socket_.receive_output(timeout=10)
    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4401


# -- one sync loop per device, and its lifetime ------------------------------------------------


@db
async def test_one_sync_loop_per_device(async_client, synapse, make_user, sockets, settings):
    settings.MATRIX_SYNC_TIMEOUT_MS = 1000  # an idle loop polls about once a second
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    window = 5.0

    first = await sockets.connect(async_client, room=room)
    assert first.connected
    await asyncio.sleep(1)
    before = sync_count(synapse, alice)
    await asyncio.sleep(window)
    one_socket = sync_count(synapse, alice) - before

    more = [await sockets.connect(async_client, room=room if i % 2 else None) for i in range(4)]
    assert all(s.connected for s in more)
    assert registry.running(credential.pk) is session
    assert session.viewers == 5
    await asyncio.sleep(1)
    before = sync_count(synapse, alice)
    await asyncio.sleep(window)
    five_sockets = sync_count(synapse, alice) - before

    assert one_socket >= 2, "the loop should be polling"
    assert five_sockets <= one_socket + 2, (one_socket, five_sockets)

    # Every page hears about one event: the room pages get the same fragment (rendered
    # once), the room-list pages the room's new entry.
    event_id = await send(synapse, bob, room, "for everyone")
    received = [await receive_until(s, events_with(event_id)) for s in (first, more[1], more[3])]
    assert len({m["events"][-1]["html"] for m in received}) == 1
    for list_page in (more[0], more[2]):
        await receive_until(
            list_page, lambda m: m["type"] == "room" and "for everyone" in m.get("html", "")
        )


@db
async def test_a_lease_lost_in_a_stall_is_taken_back_while_pages_are_open(
    async_client, synapse, make_user, sockets, settings
):
    """One process whose event loop stalled past its device lease (thousands of sockets
    connecting at once did it): the session stops, and since pages are still open the
    process takes the device back, so they go on getting events without a reload."""
    settings.DEVICE_LEASE_TTL = settings.CRYPTO_LEASE_TTL = 1.0
    settings.DEVICE_TAKEOVER_POLL = 0.2
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    page = await sockets.connect(async_client, room=room)
    assert page.connected
    time.sleep(2.0)  # noqa: ASYNC251 - the stall: the loop cannot renew the lease
    await eventually(lambda: session.closed, timeout=10)
    again = await synced_session(credential)
    assert again is not session
    event_id = await send(synapse, bob, room, "after the stall")
    await receive_until(page, events_with(event_id))


@db
async def test_session_stops_after_idle(async_client, synapse, make_user, sockets, settings):
    settings.MATRIX_SYNC_TIMEOUT_MS = 1000
    settings.MATRIX_SESSION_IDLE_SECONDS = 2
    alice = make_user("alice")
    credential = await sign_in(async_client, synapse, alice)
    socket_ = await sockets.connect(async_client)
    session = await synced_session(credential)

    # A viewer keeps it running past the idle time.
    await asyncio.sleep(3)
    assert not session.closed
    assert registry.running(credential.pk) is session
    assert sync_count(synapse, alice) >= 2

    await sockets.close(socket_)
    assert session.viewers == 0
    started = time.monotonic()
    await eventually(lambda: session.closed, timeout=settings.MATRIX_SESSION_IDLE_SECONDS + 3)
    assert time.monotonic() - started <= settings.MATRIX_SESSION_IDLE_SECONDS + 1.5
    assert registry.running(credential.pk) is None

    await asyncio.sleep(1.5)  # the long-poll that was cut off may still be logged
    after_stop = sync_count(synapse, alice)
    await asyncio.sleep(3)
    assert sync_count(synapse, alice) == after_stop


@db
async def test_resume_from_stored_sync_token(async_client, synapse, make_user, settings):
    settings.MATRIX_SYNC_TIMEOUT_MS = 1000
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Remembered Room")
    credential = await sign_in(async_client, synapse, alice)
    await synced_session(credential)
    await registry.stop_all()
    assert registry.running(credential.pk) is None

    await credential.arefresh_from_db()
    token = credential.sync_token
    assert token
    snapshot = load_snapshot(credential.rooms_snapshot)
    assert room in snapshot["rooms"]
    assert snapshot["rooms"][room]["name"] == "Remembered Room"

    await asyncio.sleep(1.5)  # let the cut-off long-poll reach the log
    total, incremental = sync_count(synapse, alice), synapse.count_requests("since=", alice.user_id)
    resumed_with_token = synapse.count_requests(f"since={token}", alice.user_id)

    session = await registry.session_for(credential)
    # Ready at once, from the snapshot: no initial sync to wait for.
    assert session.synced.is_set()
    assert session.sync_token == token
    assert session.rooms.rooms[room].display_name(alice.user_id) == "Remembered Room"
    response = await async_client.get("/rooms/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-room-id="{room}"' in page
    assert 'id="rooms-loading"' not in page

    await eventually(lambda: sync_count(synapse, alice) >= total + 2, timeout=15)
    new_syncs = sync_count(synapse, alice) - total
    new_incremental = synapse.count_requests("since=", alice.user_id) - incremental
    assert new_incremental == new_syncs, "a resumed session must never do a full initial sync"
    # Its first request carried the stored token.
    assert synapse.count_requests(f"since={token}", alice.user_id) > resumed_with_token


@db
async def test_sync_filter_is_stored_once_and_a_forgotten_one_goes_inline(
    async_client, synapse, make_user, settings
):
    settings.MATRIX_SYNC_TIMEOUT_MS = 1000
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Filtered Room")
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    # The long-polls name the filter stored on the homeserver instead of carrying it.
    filter_id = session._filter_id
    assert isinstance(filter_id, str)
    await eventually(
        lambda: synapse.count_requests(f"filter={filter_id}", alice.user_id) >= 2, timeout=15
    )
    assert synapse.count_requests("filter=%7B", alice.user_id) == 0

    # A homeserver that forgot it: the loop goes on with the filter inline, nothing missed.
    session._filter_id = "987654"
    event_id = await send(synapse, bob, room, "after the filter was forgotten")
    await eventually(lambda: session.timeline(room).get(event_id) is not None, timeout=15)
    assert session._filter_id is False
    await eventually(lambda: synapse.count_requests("filter=%7B", alice.user_id) >= 1)


@db
async def test_revoked_token_logs_out(async_client, synapse, make_user, sockets, settings):
    settings.MATRIX_SYNC_TIMEOUT_MS = 1000
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    room_socket = await sockets.connect(async_client, room=room)
    list_socket = await sockets.connect(async_client)

    # Signed out elsewhere (e.g. the device was deleted from another client).
    await api(synapse, credential.access_token, "POST", "/logout", {})

    for socket_ in (room_socket, list_socket):
        logout = await receive_until(socket_, lambda m: m["type"] == "logout")
        assert logout == {"type": "logout", "url": "/login/?reason=revoked"}
        closed = await socket_.receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": 4401}
    assert session.closed
    assert not await Credential.objects.filter(pk=credential.pk).aexists()

    response = await async_client.get("/rooms/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?reason=revoked")


# -- failures: backoff, not spinning ------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_session(homeserver: str) -> MatrixSession:
    credential = Credential(
        pk=10**9 + int(uuid.uuid4().int % 10**6),
        user_id="@ghost:localhost",
        device_id="GHOST",
        homeserver=homeserver,
    )
    credential.access_token = "syt_not_a_real_token"
    return MatrixSession(
        credential, on_stop=lambda session: None, publisher=publisher.DevicePublisher
    )


async def drain_group(group: str, channel: str, timeout: float = 0.2) -> list[dict]:
    layer = get_channel_layer()
    found = []
    while True:
        try:
            found.append(await asyncio.wait_for(layer.receive(channel), timeout))
        except TimeoutError:
            return found


@pytest.mark.parametrize("failure", ["closed-port", "bug"])
async def test_backoff_when_unreachable(failure):
    session = offline_session(f"http://127.0.0.1:{closed_port()}")
    attempts: list[float] = []
    original = session.client.sync

    async def counting_sync(*args, **kwargs):
        attempts.append(time.monotonic())
        if failure == "bug":
            raise ValueError("a bug in handling the response")
        return await original(*args, **kwargs)

    session.client.sync = counting_sync
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(publisher.of(session).group, channel)
    # An English and a German page are open: each reads the problem in its language.
    publisher.of(session).want("en|UTC", 1)
    publisher.of(session).want("de|Europe/Berlin", 1)
    window = 8.0
    try:
        session.start()
        session.attach()  # a viewer: the idle timer must not end the test early
        await asyncio.sleep(window)
    finally:
        await session.stop()
        await layer.group_discard(publisher.of(session).group, channel)

    # 1 s, 2 s, 4 s between attempts: 4 in 8 s (a spinning loop would make thousands).
    assert 3 <= len(attempts) <= 5, attempts
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    for gap, expected in zip(gaps, [1, 2, 4, 8], strict=False):
        assert expected - 0.2 <= gap <= expected + 1, gaps

    statuses = await drain_group(publisher.of(session).group, channel)
    if failure == "closed-port":
        assert statuses, "the pages must hear that the homeserver is unreachable"
        assert all(m["type"] == "session.status" for m in statuses)
        assert {m["state"] for m in statuses} == {"offline"}
        assert "Could not reach the homeserver" in statuses[0]["messages"]["en|UTC"]
        assert "Homeserver" in statuses[0]["messages"]["de|Europe/Berlin"]
        assert statuses[0]["messages"]["de|Europe/Berlin"] != statuses[0]["messages"]["en|UTC"]
        with translation.override("de"):
            assert session.status_message == statuses[0]["messages"]["de|Europe/Berlin"]
        assert [m["retry_in"] for m in statuses] == [1, 2, 4, 8][: len(statuses)]
        assert session.status == "offline"


# -- rate limits -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_synapse(tmp_path_factory) -> LocalSynapse:
    """A private homeserver with Synapse's default rate limits (10 messages, then 1 per 5 s)."""
    with LocalSynapse(tmp_path_factory.mktemp("synapse-limits"), relaxed_rate_limits=False) as hs:
        yield hs


@db
@pytest.mark.timeout(170)
async def test_rate_limited_sends_all_arrive_in_order(async_client, strict_synapse, sockets):
    hs = strict_synapse
    alice = hs.register(f"alice-{uuid.uuid4().hex[:8]}", "pw-alice")
    bob = hs.register(f"bob-{uuid.uuid4().hex[:8]}", "pw-bob")
    room = await shared_room(hs, bob, alice, name="Busy Room")
    credential = await sign_in(async_client, hs, alice)
    await synced_session(credential)
    socket_ = await sockets.connect(async_client, room=room)

    count = 20
    for i in range(count):
        await socket_.send_json_to({"type": "send", "txn_id": f"burst{i:02d}", "body": f"m{i:02d}"})
    results = []
    while len(results) < count:
        results.append(
            await receive_until(socket_, lambda m: m["type"] in {"sent", "send_failed"}, 120)
        )
    assert [m["type"] for m in results] == ["sent"] * count, results
    assert [m["txn_id"] for m in results] == [f"burst{i:02d}" for i in range(count)]
    assert len({m["event_id"] for m in results}) == count

    bodies = [e["content"]["body"] for e in await sent_by(hs, bob, room, alice)]
    assert bodies == [f"m{i:02d}" for i in range(count)]
    assert hs.count_requests("/send/m.room.message/", alice.user_id) > count, (
        "expected the homeserver to have rate-limited some sends"
    )


# -- replay between render and connect ------------------------------------------------------------


def page_position(page: str) -> tuple[str, int]:
    section = re.search(r'<section class="room" id="room"[^>]*>', page)
    assert section, page
    epoch = re.search(r'data-epoch="([^"]*)"', section.group(0)).group(1)
    pos = re.search(r'data-pos="(-?\d+)"', section.group(0)).group(1)
    return epoch, int(pos)


@db
async def test_replay_after_render(async_client, synapse, make_user, sockets):
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Replay Room")
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)

    response = await async_client.get(reverse("rooms:room", args=[room]))
    assert response.status_code == 200
    epoch, pos = page_position(response.content.decode())
    assert epoch == publisher.of(session).epoch
    assert pos >= 0

    # Events arrive after the page was rendered, before its socket connects.
    first = await send(synapse, bob, room, "missed one")
    second = await send(synapse, bob, room, "missed two")

    def replayed_ids():
        missed = publisher.of(session).replay(room, epoch, pos) or []
        ids = [e["event_id"] for payload in missed for e in payload["events"]]
        return ids if second in ids else None

    assert await eventually(replayed_ids) == [first, second]

    socket_ = await sockets.connect(async_client, room=room, epoch=epoch, pos=pos)
    got: list[str] = []
    while second not in got:
        message = await receive_until(socket_, lambda m: m["type"] in {"events", "resync"})
        assert message["type"] == "events"
        assert message["epoch"] == epoch and message["pos"] > pos
        got += [e["event_id"] for e in message["events"]]
    assert got == [first, second]
    assert 'data-event-id="' in message["events"][-1]["html"]

    # A page rendered now has nothing to catch up on.
    up_to_date = await sockets.connect(
        async_client, room=room, epoch=epoch, pos=publisher.of(session).position
    )
    assert (await up_to_date.receive_json_from(timeout=10))["type"] == "hello"
    assert await up_to_date.receive_nothing(timeout=0.5)

    # A page from another session (another epoch) must fetch its timeline afresh.
    stale = await sockets.connect(async_client, room=room, epoch="0123456789ab", pos=pos)
    assert (await stale.receive_json_from(timeout=10))["type"] == "hello"
    assert await stale.receive_json_from(timeout=10) == {"type": "resync", "room_id": room}

    # The room list works the same way: a current position gets nothing, an old one the list.
    current = await sockets.connect(
        async_client, epoch=publisher.of(session).epoch, pos=publisher.of(session).position
    )
    assert (await current.receive_json_from(timeout=10))["type"] == "hello"
    assert await current.receive_nothing(timeout=0.5)
    old = await sockets.connect(async_client, epoch=publisher.of(session).epoch, pos=0)
    assert (await old.receive_json_from(timeout=10))["type"] == "hello"
    rooms = await old.receive_json_from(timeout=10)
    assert rooms["type"] == "rooms"
    assert any(f'data-room-id="{room}"' in entry for entry in rooms["entries"])
