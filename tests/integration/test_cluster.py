"""Several daphne processes on PostgreSQL and Redis, with no sticky sessions: exactly one
process owns a device (syncs, decrypts, publishes), any process serves its pages and sockets
from what the owner publishes and asks it for the rest, and when the owner dies (SIGKILL) or
stops (SIGTERM) another process takes the device over and the pages catch up.

Real Synapse, real daphne processes (tests/cluster_helpers.py), websockets and forms as the
pages use them. PostgreSQL and Redis on 127.0.0.1 are required (never skipped)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from html import unescape

import pytest

from tests.cluster_helpers import Cluster, Visitor, event_ids, page_position
from tests.matrix_helpers import messages, send, shared_room

pytestmark = pytest.mark.timeout(300)

#: The issue's bound: a dead owner's devices are served again within this.
TAKEOVER_LIMIT = 10.0


@pytest.fixture
def cluster(synapse, tmp_path, request):
    """Processes "a" and "b" (settings from a `cluster_env` mark)."""
    mark = request.node.get_closest_marker("cluster_env")
    made = Cluster.create(tmp_path, synapse.url, **(mark.kwargs if mark else {}))
    try:
        made.start("a")
        made.start("b")
        yield made
    finally:
        made.close()


@pytest.fixture
async def visitor():
    made = Visitor()
    yield made
    await made.close()


async def room_page(visitor: Visitor, url: str, room_id: str) -> str:
    status, page = await visitor.get(f"{url}/rooms/{room_id}/")
    assert status == 200, page[-2000:]
    return page


async def test_pages_and_sends_on_a_process_that_does_not_own_the_device(
    cluster, visitor, synapse, make_user
):
    me = make_user("me", displayname="Me")
    bob = make_user("bob", displayname="Bob")
    room_id = await shared_room(synapse, bob, me, name="Across processes")
    before = await send(synapse, bob, room_id, "said before the page")

    await visitor.sign_in(cluster.url("a"), synapse.url, me)  # process A starts the device
    device = cluster.credential_device(me.user_id)
    assert cluster.owner(me.user_id, device) == "a"

    # Process B serves the page from the owner: rendered, with the owner's epoch.
    page = await room_page(visitor, cluster.url("b"), room_id)
    assert before in event_ids(page)
    epoch, pos = page_position(page)
    socket = await visitor.socket(cluster.url("b"), room=room_id, epoch=epoch, pos=str(pos))
    live = await send(synapse, bob, room_id, "live to process B")
    frame = await socket.wait_for(lambda f: f["type"] == "events")
    assert [i["event_id"] for i in frame["events"]] == [live]
    assert frame["epoch"] == epoch
    assert "live to process B" in frame["events"][0]["html"]

    # A send from a socket on B reaches the owner, which sends it with the page's
    # transaction ID: asked twice, posted once.
    txn = f"wc{uuid.uuid4().hex[:16]}"
    text = f"sent through B {uuid.uuid4().hex[:6]}"
    await socket.send({"type": "send", "txn_id": txn, "body": text})
    sent = await socket.wait_for(lambda f: f["type"] in ("sent", "send_failed"))
    assert sent["type"] == "sent", sent
    await socket.send({"type": "send", "txn_id": txn, "body": text})
    again = await socket.wait_for(lambda f: f["type"] in ("sent", "send_failed"))
    assert again == sent
    echo = await socket.wait_for(
        lambda f: f["type"] == "events" and sent["event_id"] in event_ids_of(f), seen=True
    )
    assert echo["events"][0]["txn_id"] == txn
    posted = [e for e in await messages(synapse, bob, room_id) if e["content"].get("body") == text]
    assert [e["event_id"] for e in posted] == [sent["event_id"]]

    # Only the owner syncs: B never started the device.
    assert cluster.owner(me.user_id, device) == "a"
    assert "now runs device" not in cluster.servers["b"].log()
    await socket.close()


async def test_a_dead_owner_is_taken_over_and_the_page_catches_up(
    cluster, visitor, synapse, make_user
):
    me = make_user("me", displayname="Me")
    bob = make_user("bob", displayname="Bob")
    room_id = await shared_room(synapse, bob, me, name="Takeover")
    await visitor.sign_in(cluster.url("a"), synapse.url, me)
    device = cluster.credential_device(me.user_id)
    page = await room_page(visitor, cluster.url("b"), room_id)
    epoch, pos = page_position(page)
    socket = await visitor.socket(cluster.url("b"), room=room_id, epoch=epoch, pos=str(pos))
    first = await send(synapse, bob, room_id, "before the owner dies")
    await socket.wait_for(lambda f: f["type"] == "events" and first in event_ids_of(f))

    died = cluster.kill("a")
    during = [await send(synapse, bob, room_id, f"while nobody owns it {n}") for n in range(3)]
    # B takes the device over (its page is open there) and tells the page to catch up.
    resync = await socket.wait_for(lambda f: f["type"] == "resync", timeout=TAKEOVER_LIMIT + 5)
    took = time.monotonic() - died
    assert resync["room_id"] == room_id
    assert cluster.owner(me.user_id, device) == "b"
    assert took < TAKEOVER_LIMIT, f"takeover took {took:.1f}s"
    # What the page then fetches (as live.js does) has what was said meanwhile.
    status, fragment = await visitor.get(f"{cluster.url('b')}/rooms/{room_id}/timeline/")
    assert status == 200, fragment
    fetched = event_ids(fragment)
    after = await send(synapse, bob, room_id, "after the takeover")
    frame = await socket.wait_for(
        lambda f: f["type"] == "events" and after in event_ids_of(f), timeout=20
    )
    assert frame["epoch"] != epoch
    shown = set(fetched) | set(socket.event_ids())
    for event_id in [first, *during, after]:
        assert event_id in shown, f"{event_id} lost"
    # Each owner pushes an event once. The new one may push again what the dead one pushed
    # after the sync token it stored last: the page keys tiles by event ID and shows it once.
    by_epoch: dict[str, list[str]] = {}
    for f in socket.frames:
        if f["type"] == "events":
            by_epoch.setdefault(f["epoch"], []).extend(event_ids_of(f))
    assert len(by_epoch) == 2
    for ids in by_epoch.values():
        assert len(ids) == len(set(ids)), ids
    print(f"takeover: resync {took:.1f}s after SIGKILL")
    await socket.close()


def event_ids_of(frame: dict) -> list[str]:
    return [i["event_id"] for i in frame.get("events", [])]


async def test_sockets_on_another_process_count_once_per_process(
    cluster, visitor, synapse, make_user
):
    """Many sockets of one device on one process: the device's group in Redis holds one
    channel of that process, not one per socket."""
    import redis

    from tests.cluster_helpers import REDIS_URL

    me = make_user("me")
    bob = make_user("bob")
    room_id = await shared_room(synapse, bob, me, name="Fan-out")
    await visitor.sign_in(cluster.url("a"), synapse.url, me)
    page = await room_page(visitor, cluster.url("b"), room_id)
    epoch, pos = page_position(page)
    sockets = [
        await visitor.socket(cluster.url("b"), room=room_id, epoch=epoch, pos=str(pos))
        for _ in range(5)
    ]
    client = redis.Redis.from_url(REDIS_URL)
    prefix = cluster.env["REDIS_KEY_PREFIX"]
    groups = {
        key.decode(): [m.decode() for m in client.zrange(key, 0, -1)]
        for key in client.scan_iter(f"{prefix}:asgi:group:device.*")
    }
    assert groups, "no device group in Redis"
    for members in groups.values():
        assert len(members) == 1, members  # B's relay only (A has no viewers)
    text_id = await send(synapse, bob, room_id, "to five sockets")
    for socket in sockets:
        await socket.wait_for(lambda f: f["type"] == "events" and text_id in event_ids_of(f))
        await socket.close()


async def test_a_send_while_the_owner_is_dead_waits_for_the_takeover_and_posts_once(
    cluster, visitor, synapse, make_user
):
    me = make_user("me")
    bob = make_user("bob")
    room_id = await shared_room(synapse, bob, me, name="Send across a takeover")
    await visitor.sign_in(cluster.url("a"), synapse.url, me)
    page = await room_page(visitor, cluster.url("b"), room_id)
    epoch, pos = page_position(page)
    socket = await visitor.socket(cluster.url("b"), room=room_id, epoch=epoch, pos=str(pos))

    cluster.kill("a")
    txn = f"wc{uuid.uuid4().hex[:16]}"
    text = f"typed while the owner was dead {uuid.uuid4().hex[:6]}"
    asked = time.monotonic()
    await socket.send({"type": "send", "txn_id": txn, "body": text})
    sent = await socket.wait_for(
        lambda f: f["type"] in ("sent", "send_failed"), timeout=TAKEOVER_LIMIT + 10
    )
    assert sent["type"] == "sent", sent
    assert time.monotonic() - asked < TAKEOVER_LIMIT + 5
    # The page retries an unconfirmed send after a reconnect, with the same transaction ID.
    await socket.send({"type": "send", "txn_id": txn, "body": text})
    again = await socket.wait_for(lambda f: f["type"] in ("sent", "send_failed"))
    assert again["event_id"] == sent["event_id"]
    posted = [e for e in await messages(synapse, bob, room_id) if e["content"].get("body") == text]
    assert [e["event_id"] for e in posted] == [sent["event_id"]]
    await socket.close()


@pytest.mark.cluster_env(DEVICE_LEASE_TTL="20")
async def test_a_graceful_stop_hands_the_device_over_at_once(cluster, visitor, synapse, make_user):
    """With a lease that lasts 20 s, a takeover in a few seconds means it was handed over."""
    me = make_user("me")
    bob = make_user("bob")
    room_id = await shared_room(synapse, bob, me, name="Handover")
    await visitor.sign_in(cluster.url("a"), synapse.url, me)
    device = cluster.credential_device(me.user_id)
    page = await room_page(visitor, cluster.url("b"), room_id)
    epoch, pos = page_position(page)
    socket = await visitor.socket(cluster.url("b"), room=room_id, epoch=epoch, pos=str(pos))

    stopping = time.monotonic()
    cluster.stop("a")  # SIGTERM: the lease is released, not left to lapse
    await socket.wait_for(lambda f: f["type"] == "resync", timeout=10)
    took = time.monotonic() - stopping
    assert cluster.owner(me.user_id, device) == "b"
    assert took < 8.0, f"handover took {took:.1f}s (the lease was left to lapse)"
    assert "released device" in cluster.servers["a"].log()
    said = await send(synapse, bob, room_id, "to the new owner")
    await socket.wait_for(lambda f: f["type"] == "events" and said in event_ids_of(f))
    print(f"graceful handover: resync {took:.1f}s after SIGTERM")
    await socket.close()


async def test_kiosk_screens_on_another_process_survive_the_owner(
    cluster, visitor, synapse, make_user
):
    me = make_user("me")
    bob = make_user("bob")
    room_id = await shared_room(synapse, bob, me, name="Lobby")
    a, b = cluster.url("a"), cluster.url("b")
    await visitor.sign_in(a, synapse.url, me)
    _, links = await visitor.get(f"{a}/settings/kiosks/")
    status, made = await visitor.post(
        f"{a}/settings/kiosks/new/",
        links,
        {
            "name": "lobby",
            "rooms": room_id,
            "theme": "dark",
            "scale": "1.5",
            "password": me.password,
        },
    )
    assert status == 200, made[-2000:]
    token = unescape_token(made)
    screen = Visitor()
    try:
        status, kiosk = await screen.get(f"{a}/kiosk/{token}/")  # A runs the kiosk device
        assert status == 200, kiosk[-2000:]
        epoch, pos = page_position(kiosk)
        screens = [await screen.socket(b, kiosk=token, epoch=epoch, pos=str(pos)) for _ in range(3)]
        first = await send(synapse, bob, room_id, "on every screen")
        for socket in screens:
            await socket.wait_for(lambda f: f["type"] == "events" and first in event_ids_of(f))

        died = cluster.kill("a")
        meanwhile = await send(synapse, bob, room_id, "said while the owner was dead")
        for socket in screens:
            await socket.wait_for(lambda f: f["type"] == "resync", timeout=TAKEOVER_LIMIT + 5)
        took = time.monotonic() - died
        assert took < TAKEOVER_LIMIT, f"takeover took {took:.1f}s"
        status, fragment = await screen.get(f"{b}/kiosk/{token}/timeline/{room_id}/")
        assert status == 200 and meanwhile in event_ids(fragment)
        later = await send(synapse, bob, room_id, "after the takeover")
        for socket in screens:
            await socket.wait_for(lambda f: f["type"] == "events" and later in event_ids_of(f))
            await socket.close()
        print(f"kiosk takeover: resync {took:.1f}s after SIGKILL")
    finally:
        await screen.close()


def unescape_token(page: str) -> str:
    match = re.search(r'id="new-kiosk-url" value="([^"]+)"', page)
    assert match, "no kiosk URL on the page"
    return unescape(match.group(1)).rstrip("/").rsplit("/", 1)[1]


async def test_an_encrypted_room_keeps_decrypting_after_the_takeover(
    cluster, visitor, synapse, make_user, js_peer
):
    """The device's crypto store is in PostgreSQL: the process that takes it over opens it
    (fenced by the lease) and decrypts with the room keys the dead owner received."""
    me = make_user("me", displayname="Me")
    bob = await js_peer(make_user("bob", displayname="Bob"), bootstrap=True)
    a, b = cluster.url("a"), cluster.url("b")
    await visitor.sign_in(a, synapse.url, me)
    room_id = (await bob.call("create_room", encrypted=True, invite=[me.user_id]))["room_id"]
    await api_join(synapse, me, room_id)
    page = await wait_page(visitor, b, room_id)
    epoch, pos = page_position(page)
    socket = await visitor.socket(b, room=room_id, epoch=epoch, pos=str(pos))
    await asyncio.sleep(1)  # bob's client hears of the web client's device

    await bob.call("send_text", room_id=room_id, body="secret before the takeover")
    frame = await socket.wait_for(
        lambda f: f["type"] == "events" and "secret before the takeover" in frame_html(f),
        timeout=30,
    )
    assert "Waiting for the key" not in frame_html(frame)

    cluster.kill("a")
    await socket.wait_for(lambda f: f["type"] == "resync", timeout=TAKEOVER_LIMIT + 5)
    await bob.call("send_text", room_id=room_id, body="secret after the takeover")
    frame = await socket.wait_for(
        lambda f: f["type"] == "events" and "secret after the takeover" in frame_html(f),
        timeout=30,
    )
    assert frame["epoch"] != epoch
    # The new owner also encrypts: bob's Element-grade client decrypts its answer.
    txn = f"wc{uuid.uuid4().hex[:16]}"
    await socket.send({"type": "send", "txn_id": txn, "body": "an encrypted answer"})
    sent = await socket.wait_for(lambda f: f["type"] in ("sent", "send_failed"), timeout=30)
    assert sent["type"] == "sent", sent
    seen = await bob.wait_message(room_id, body="an encrypted answer", timeout=30)
    assert seen["encrypted"] and seen["decrypted"] and seen["error"] is None
    await socket.close()


def frame_html(frame: dict) -> str:
    return "".join(i.get("html") or "" for i in frame.get("events", []))


async def api_join(synapse, user, room_id: str) -> None:
    from tests.matrix_helpers import join

    await join(synapse, user, room_id)


async def wait_page(visitor: Visitor, url: str, room_id: str, timeout: float = 20) -> str:
    """The room page once the room is joined (the owner's sync has seen the join)."""
    deadline = time.monotonic() + timeout
    while True:
        status, page = await visitor.get(f"{url}/rooms/{room_id}/")
        if status == 200 or time.monotonic() > deadline:
            assert status == 200, page[-2000:]
            return page
        await asyncio.sleep(0.5)


async def test_every_kind_of_page_is_served_by_a_process_that_does_not_own_the_device(
    cluster, visitor, synapse, make_user
):
    """Pages that read the room list, the decrypted timeline, the device's encryption state
    and its verifications, and forms that react, edit and delete: all from process B, while
    A runs the device."""
    me = make_user("me", displayname="Me")
    bob = make_user("bob", displayname="Bob")
    room_id = await shared_room(synapse, bob, me, name="Everything on B")
    theirs = await send(synapse, bob, room_id, "a searchable haystack message")
    a, b = cluster.url("a"), cluster.url("b")
    await visitor.sign_in(a, synapse.url, me)
    device = cluster.credential_device(me.user_id)

    status, rooms = await visitor.get(f"{b}/rooms/")
    assert status == 200 and f'data-room-id="{room_id}"' in rooms
    page = await room_page(visitor, b, room_id)
    assert theirs in event_ids(page)
    for path in (
        f"/rooms/{room_id}/event/{theirs}/",
        f"/rooms/{room_id}/thread/{theirs}/",
        f"/rooms/{room_id}/members/",
        f"/rooms/{room_id}/settings/",
        f"/rooms/{room_id}/people/{bob.user_id}/",
        "/settings/devices/",
        "/settings/encryption/verify/",
    ):
        status, body = await visitor.get(b + path)
        assert status == 200, (path, body[-1500:])
    status, found = await visitor.get(f"{b}/search/", q="haystack")
    assert status == 200 and theirs in found
    status, encryption = await visitor.get(f"{b}/settings/encryption/")
    assert status == 200 and device in encryption  # the owner's olm account answered

    # Forms: a message, a reaction, an edit and a deletion, each done by the owner.
    status, answer = await visitor.post(
        f"{b}/rooms/{room_id}/send/", page, {"body": "from a form on B", "txn_id": "formtxn1"}
    )
    assert status == 302, answer[-1500:]
    mine = next(
        e
        for e in await messages(synapse, bob, room_id)
        if e["content"].get("body") == "from a form on B"
    )
    status, _ = await visitor.post(
        f"{b}/rooms/{room_id}/event/{theirs}/react/", page, {"key": "👍"}
    )
    assert status == 302
    status, _ = await visitor.post(
        f"{b}/rooms/{room_id}/event/{mine['event_id']}/edit/",
        page,
        {"body": "edited on B", "txn_id": "edittxn1"},
    )
    assert status == 302
    status, _ = await visitor.post(
        f"{b}/rooms/{room_id}/event/{mine['event_id']}/delete/", page, {"reason": ""}
    )
    assert status == 302
    said = await messages(synapse, bob, room_id)
    reactions = [e for e in said if e["type"] == "m.reaction"]
    assert [r["content"]["m.relates_to"]["key"] for r in reactions] == ["👍"]
    edits = [e for e in said if e["content"].get("m.new_content", {}).get("body") == "edited on B"]
    assert len(edits) == 1
    redacted = next(e for e in said if e["event_id"] == mine["event_id"])
    assert redacted["content"] == {}
    assert cluster.owner(me.user_id, device) == "a"
    assert "now runs device" not in cluster.servers["b"].log()
