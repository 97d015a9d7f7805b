"""The request protocol between processes and the per-process relays (live/cluster.py), on
the real Redis channel layer (127.0.0.1, encrypted as configured; never skipped): answers and
errors travel, a long operation keeps its asker waiting, an operation with effects asked
twice is done once, silence means the owner is gone, and a device group holds one channel
per process however many viewers it has."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
from channels.layers import channel_layers, get_channel_layer

from tests.cluster_helpers import REDIS_URL, require_services
from webclient.live import cluster, devices
from webclient.matrix import errors


@pytest.fixture
def redis_layer(settings):
    """The Redis channel layer under a prefix of its own, as settings.py configures it."""
    require_services()
    prefix = f"test-{uuid.uuid4().hex[:10]}:asgi"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": prefix,
                "symmetric_encryption_keys": ["a test key for the channel layer"],
            },
        }
    }
    channel_layers.backends.clear()
    yield prefix
    channel_layers.backends.clear()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


async def test_answers_errors_and_long_operations(redis_layer):
    calls: list[dict] = []

    async def serve(request: dict) -> dict:
        calls.append(request)
        args = request["args"]
        await asyncio.sleep(args.get("sleep", 0))
        if args.get("fail"):
            return {"state": "error", "error": devices._error_of(errors.RateLimited("slow down"))}
        return {"state": "done", "result": {"echo": args}}

    owner, asker = cluster.Node(serve), cluster.Node(serve)
    try:
        assert cluster.spans_processes()
        reply = await asker.call(owner.channel, "r1", {"op": "x", "args": {"n": 1}}, silence=2)
        assert reply["state"] == "done" and reply["result"] == {"echo": {"n": 1}}

        failed = await asker.call(owner.channel, "r2", {"op": "x", "args": {"fail": 1}}, silence=2)
        with pytest.raises(errors.RateLimited, match="slow down"):
            devices._raise(failed["error"])

        # Longer than the silence allowed: the owner's "working" keeps the asker waiting.
        started = time.monotonic()
        slow = await asker.call(owner.channel, "r3", {"op": "x", "args": {"sleep": 3}}, silence=1.5)
        assert slow["state"] == "done" and time.monotonic() - started >= 3
    finally:
        await owner.close()
        await asker.close()


async def test_an_operation_with_effects_asked_twice_is_done_once(redis_layer):
    done: list[int] = []

    async def serve(request: dict) -> dict:
        await asyncio.sleep(0.5)
        done.append(request["args"]["n"])
        return {"state": "done", "result": len(done)}

    owner, asker, other = cluster.Node(serve), cluster.Node(serve), cluster.Node(serve)
    try:
        body = {"op": "send", "args": {"n": 7}, "once": True}
        # Asked by two processes at once (a retry after a silence), and once more later.
        first, second = await asyncio.gather(
            asker.call(owner.channel, "same", body, silence=3),
            other.call(owner.channel, "same", body, silence=3),
        )
        third = await asker.call(owner.channel, "same", body, silence=3)
        assert done == [7]
        assert first["result"] == second["result"] == third["result"] == 1
        # Without `once`, each request is its own.
        await asker.call(owner.channel, "read-1", {"op": "read", "args": {"n": 8}}, silence=3)
        await asker.call(owner.channel, "read-1", {"op": "read", "args": {"n": 8}}, silence=3)
        assert done == [7, 8, 8]
    finally:
        for node in (owner, asker, other):
            await node.close()


async def test_nobody_answering_is_silence(redis_layer):
    async def serve(request: dict) -> dict:
        raise AssertionError("nobody should be asked")

    asker = cluster.Node(serve)
    gone = cluster.Node(serve)
    await gone.close()  # a process that died: its channel is nobody's
    try:
        started = time.monotonic()
        with pytest.raises(cluster.Silent):
            await asker.call(gone.channel, "r", {"op": "x", "args": {}}, silence=1)
        assert 0.9 <= time.monotonic() - started < 3
    finally:
        await asker.close()


async def test_a_group_holds_one_channel_per_process_however_many_viewers(redis_layer):
    async def serve(request: dict) -> dict:
        return {"state": "done", "result": None}

    node = cluster.Node(serve)
    layer = get_channel_layer()
    group = f"device.{uuid.uuid4().hex[:8]}.screens"
    received: dict[str, list[dict]] = {name: [] for name in ("one", "two", "three")}
    try:
        for name, inbox in received.items():

            async def handler(message: dict, inbox: list[dict] = inbox) -> None:
                inbox.append(message)

            await node.subscribe(group, name, handler)
        members = redis.Redis.from_url(REDIS_URL).zrange(f"{redis_layer}:group:{group}", 0, -1)
        assert len(members) == 1
        for n in range(3):
            await layer.group_send(group, {"type": "room.events", "n": n})
        deadline = time.monotonic() + 5
        while any(len(inbox) < 3 for inbox in received.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for inbox in received.values():
            assert [m["n"] for m in inbox] == [0, 1, 2]  # each once, in order
        assert node.relays() == {group: 3}
        for name in received:
            await node.unsubscribe(group, name)
        assert node.relays() == {}
        assert redis.Redis.from_url(REDIS_URL).zrange(f"{redis_layer}:group:{group}", 0, -1) == []
    finally:
        await node.close()


def test_results_and_errors_survive_the_trip():
    assert devices._plain({"a": (1, 2), "b": {frozenset({3})}.pop(), "c": [{"d": {4}}]}) == {
        "a": [1, 2],
        "b": [3],
        "c": [{"d": [4]}],
    }
    for exc in (
        errors.NotFound("no such event", errcode="M_NOT_FOUND", status=404),
        errors.Forbidden("no", errcode="M_FORBIDDEN", status=403),
        errors.MatrixError("plain", retry_after_ms=5),
        devices.owner_unavailable(),
    ):
        with pytest.raises(errors.MatrixError) as raised:
            devices._raise(devices._error_of(exc))
        expected = type(exc) if type(exc) is not devices.OwnerUnavailable else errors.MatrixError
        assert type(raised.value) is expected
        assert (raised.value.message, raised.value.errcode, raised.value.status) == (
            exc.message,
            exc.errcode,
            exc.status,
        )
    with pytest.raises(errors.UnknownToken):
        devices._raise(devices._error_of(errors.UnknownToken("gone")))
    with pytest.raises(devices.RemoteError, match="ValueError: bad"):
        devices._raise(devices._error_of(ValueError("bad")))


@pytest.fixture
def private_redis_layer(settings):
    """The Redis channel layer on a Redis of the test's own, which it may restart."""
    from tests.private_services import PrivateRedis

    server = PrivateRedis().start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": server.url, "socket_timeout": 15}],
                "symmetric_encryption_keys": ["a test key for the channel layer"],
            },
        }
    }
    channel_layers.backends.clear()
    yield server
    channel_layers.backends.clear()
    server.close()


async def test_a_redis_restart_rejoins_the_relays_and_pages_catch_up(private_redis_layer):
    """Redis restarted without its data has forgotten the groups: within about a second
    every relay is a member again and its viewers hear `cluster.gap` (they resync)."""

    async def serve(request: dict) -> dict:
        return {"state": "done", "result": None}

    node = cluster.Node(serve)
    got: list[dict] = []
    arrived = asyncio.Event()

    async def viewer(message: dict) -> None:
        got.append(message)
        arrived.set()

    layer = get_channel_layer()
    try:
        await node.subscribe("device.1", "page-1", viewer)
        await asyncio.sleep(cluster.WATCH_SECONDS * 1.5)  # the watcher knows this Redis
        await layer.group_send("device.1", {"type": "room.events", "n": 1})
        await asyncio.wait_for(arrived.wait(), 5)
        assert [m["type"] for m in got] == ["room.events"]

        await asyncio.get_running_loop().run_in_executor(None, private_redis_layer.restart)
        got.clear()
        arrived.clear()
        await asyncio.wait_for(arrived.wait(), 10)
        assert got == [cluster.GAP]
        # A member again: what is published now arrives (not only after REJOIN_SECONDS).
        arrived.clear()
        await layer.group_send("device.1", {"type": "room.events", "n": 2})
        await asyncio.wait_for(arrived.wait(), 5)
        assert got[-1] == {"type": "room.events", "n": 2}
    finally:
        await node.close()
