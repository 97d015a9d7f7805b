"""The in-memory channel layer, tuned for one device watched by hundreds of screens.

Channels' own `InMemoryChannelLayer` walks every channel and every group member on each
`receive()` and `group_send()` to expire old ones, deep-copies a message once per member and
starts a task per member: with 500 kiosk screens of one device that was half of the
server's CPU per chat message (measured by benchmarks/fanout.py). This one sweeps at most
once a second, copies shallowly (consumers never change a message they receive) and puts
messages straight into the members' queues, or hands them to consumers that asked for
direct delivery, whose raw socket writes between two awaits go out together
(`frames.fan_out`). Same semantics otherwise: a full queue drops the
message, like the original and channels_redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from . import frames

SWEEP_SECONDS = 1.0
#: A directly delivered channel's handler (`frames.fan_out` calls it).
DirectHandler = frames.Handler

logger = logging.getLogger("webclient.layers")


class FanoutInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._swept = 0.0
        self._direct: dict[str, DirectHandler] = {}

    def deliver_directly(self, channel: str, handler: DirectHandler) -> None:
        """Hand this channel's group messages to `handler` in the sender's task instead of
        queueing them for the consumer's receive loop (a queue, a task switch and a task per
        message each): for consumers whose handlers only forward frames. The handler returns
        None when it is done, or an awaitable that the layer awaits before the next channel
        (so a push's common case costs no coroutine per screen). Register before joining any
        group, so no message of the channel is ever queued and none can be overtaken."""
        self._direct[channel] = handler

    def stop_direct(self, channel: str) -> None:
        self._direct.pop(channel, None)

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        super()._clean_expired()

    def _put(self, channel: str, message: dict[str, Any]) -> None:
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            queue.put_nowait((time.time() + self.expiry, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._put(channel, message)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        direct = []
        for channel in list(self.groups.get(group, ())):
            handler = self._direct.get(channel)
            if handler is not None:
                direct.append((channel, handler))
                continue
            try:
                self._put(channel, message)
            except ChannelFull:
                pass
        if direct:  # one broken screen stops no other; the raw writes go out together
            await frames.fan_out(direct, message, logger)
