"""The fan-out channel layer: same delivery as Channels' in-memory layer, plus direct
delivery for screens (in order, one failing screen does not stop the others)."""

from __future__ import annotations

import asyncio

import pytest
from channels.exceptions import ChannelFull

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
