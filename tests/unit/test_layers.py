"""The fan-out channel layer: same delivery as Channels' in-memory layer, plus direct
delivery for screens (in order, one failing screen does not stop the others)."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.exceptions import ChannelFull

from webclient.live import layers as layers_module
from webclient.live.layers import FanoutInMemoryChannelLayer


async def test_group_messages_reach_every_member_in_order():
    layer = FanoutInMemoryChannelLayer(capacity=10)
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("device.1", a)
    await layer.group_add("device.1", b)
    for n in range(3):
        await layer.group_send("device.1", {"type": "room.events", "n": n})
    for channel in (a, b):
        assert [(await layer.receive(channel))["n"] for _ in range(3)] == [0, 1, 2]


async def test_a_full_viewer_drops_messages_and_others_still_get_them():
    layer = FanoutInMemoryChannelLayer(capacity=2)
    slow, fast = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", slow)
    await layer.group_add("g", fast)
    for n in range(3):
        await layer.group_send("g", {"type": "x", "n": n})
        if n < 2:
            assert (await layer.receive(fast))["n"] == n
    assert (await layer.receive(fast))["n"] == 2
    assert [(await layer.receive(slow))["n"] for _ in range(2)] == [0, 1]
    with pytest.raises(ChannelFull):
        for _ in range(3):
            await layer.send(slow, {"type": "x"})


async def test_receivers_get_their_own_copy_of_the_message():
    layer = FanoutInMemoryChannelLayer()
    a = await layer.new_channel()
    await layer.group_add("g", a)
    sent = {"type": "x", "n": 1}
    await layer.group_send("g", sent)
    received = await layer.receive(a)
    received["n"] = 2
    assert sent["n"] == 1


async def test_direct_delivery_in_order_and_a_broken_screen_stops_nobody():
    layer = FanoutInMemoryChannelLayer()
    got: dict[str, list[int]] = {"ok": [], "queued": []}

    async def broken(message):
        raise RuntimeError("socket gone")

    async def ok(message):
        got["ok"].append(message["n"])

    first, second, queued = [await layer.new_channel() for _ in range(3)]
    layer.deliver_directly(first, broken)
    layer.deliver_directly(second, ok)
    for channel in (first, second, queued):
        await layer.group_add("g", channel)
    for n in range(4):
        await layer.group_send("g", {"type": "x", "n": n})
    assert got["ok"] == [0, 1, 2, 3]
    assert [(await layer.receive(queued))["n"] for _ in range(4)] == [0, 1, 2, 3]
    assert first not in layer.channels and second not in layer.channels  # never queued
    layer.stop_direct(second)
    await layer.group_send("g", {"type": "x", "n": 4})
    assert got["ok"] == [0, 1, 2, 3]
    assert (await layer.receive(second))["n"] == 4


async def test_a_direct_handler_may_finish_at_once_or_hand_back_what_to_await(caplog):
    """A screen's handler writes a push's common case without a coroutine (returns None) and
    hands anything else back to await; both kinds keep one order, and a plain handler that
    raises stops nobody either."""
    layer = FanoutInMemoryChannelLayer()
    order: list[str] = []

    def at_once(name):
        def handler(message):
            order.append(f"{name}{message['n']}")

        return handler

    def later(name):
        def handler(message):
            async def finish():
                await asyncio.sleep(0)
                order.append(f"{name}{message['n']}")

            return finish()

        return handler

    def broken(message):
        raise RuntimeError("socket gone")

    channels = [await layer.new_channel() for _ in range(4)]
    handlers = [at_once("a"), later("b"), broken, at_once("c")]
    for channel, handler in zip(channels, handlers, strict=True):
        layer.deliver_directly(channel, handler)
        await layer.group_add("g", channel)
    for n in range(2):
        await layer.group_send("g", {"type": "x", "n": n})
    assert order == ["a0", "b0", "c0", "a1", "b1", "c1"]
    # Only the broken handler's failures were logged (not "awaiting None" of the others).
    failures = [r for r in caplog.records if r.name == "webclient.layers"]
    assert [r.exc_info[1].args for r in failures] == [("socket gone",), ("socket gone",)]


async def test_each_change_of_a_group_or_its_direct_handlers_reaches_the_next_send(monkeypatch):
    """The layer keeps a group's targets between sends (a kiosk wall's group is sent to many
    times between two changes): joining, leaving, direct delivery started or stopped, a
    membership expired or a channel dropped for an expired message, and a flush are each seen
    by the very next send, also while a send awaits."""
    layer = FanoutInMemoryChannelLayer(expiry=60, group_expiry=3600)
    got: list[str] = []

    def screen(name):
        return lambda message: got.append(f"{name}{message['n']}")

    async def send(n: int) -> list[str]:
        got.clear()
        await layer.group_send("g", {"type": "x", "n": n})
        return sorted(got)

    a, b, c = [await layer.new_channel() for _ in range(3)]
    layer.deliver_directly(a, screen("a"))
    await layer.group_add("g", a)
    assert await send(0) == ["a0"]
    layer.deliver_directly(b, screen("b"))
    await layer.group_add("g", b)
    assert await send(1) == ["a1", "b1"]
    await layer.group_add("g", b)  # a refresh of a membership changes nobody
    assert await send(2) == ["a2", "b2"]
    await layer.group_discard("g", a)
    assert await send(3) == ["b3"]
    layer.stop_direct(b)  # b's messages now wait in its queue
    assert await send(4) == []
    assert (await layer.receive(b))["n"] == 4
    layer.deliver_directly(b, screen("b"))
    assert await send(5) == ["b5"]

    # A queued channel with an expired message leaves every group at the next sweep.
    await layer.group_add("g", c)
    await layer.group_send("g", {"type": "x", "n": 6})
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 120)
    layer._swept = 0.0
    assert await send(7) == ["b7"]
    assert c not in layer.groups["g"]
    assert c not in layer.channels  # the expired message was dropped, 7 never queued

    # A membership older than group_expiry ends at the next sweep.
    monkeypatch.setattr(time, "time", lambda: now + 7200)
    monkeypatch.setattr(layers_module.time, "monotonic", lambda: 10**9)
    assert await send(8) == []
    await layer.group_add("g", a)
    assert await send(9) == ["a9"]
    await layer.flush()
    assert await send(10) == []


async def test_a_send_under_way_keeps_the_targets_it_started_with():
    """A screen that joins while a send awaits another screen's handler gets the next send,
    not the rest of this one (as Channels' own layer, which copies the group first)."""
    layer = FanoutInMemoryChannelLayer()
    got: list[str] = []
    a, b, late = [await layer.new_channel() for _ in range(3)]

    def slow(message):
        async def finish():
            layer.deliver_directly(late, lambda m: got.append(f"late{m['n']}"))
            await layer.group_add("g", late)
            await layer.group_discard("g", b)
            got.append(f"a{message['n']}")

        return finish() if message["n"] == 0 else got.append(f"a{message['n']}")

    layer.deliver_directly(a, slow)
    layer.deliver_directly(b, lambda m: got.append(f"b{m['n']}"))
    await layer.group_add("g", a)
    await layer.group_add("g", b)
    await layer.group_send("g", {"type": "x", "n": 0})
    assert got == ["a0", "b0"]
    await layer.group_send("g", {"type": "x", "n": 1})
    assert got[2:] == ["a1", "late1"]
