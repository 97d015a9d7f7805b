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
        # Per group, its queued channels and its direct (channel, handler)s, as of the last
        # change of any membership or direct delivery (a kiosk wall's group is sent to many
        # times between two changes; the lists are replaced, never changed, so a fan-out
        # under way keeps the one it started with).
        self._targets: dict[str, tuple[list[str], list[tuple[str, DirectHandler]]]] = {}

    def deliver_directly(self, channel: str, handler: DirectHandler) -> None:
        """Hand this channel's group messages to `handler` in the sender's task instead of
        queueing them for the consumer's receive loop (a queue, a task switch and a task per
        message each): for consumers whose handlers only forward frames. The handler returns
        None when it is done, or an awaitable that the layer awaits before the next channel
        (so a push's common case costs no coroutine per screen). Register before joining any
        group, so no message of the channel is ever queued and none can be overtaken."""
        self._direct[channel] = handler
        self._targets.clear()

    def stop_direct(self, channel: str) -> None:
        if self._direct.pop(channel, None) is not None:
            self._targets.clear()

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        members = sum(map(len, self.groups.values()))  # expired ones leave their groups
        super()._clean_expired()
        if sum(map(len, self.groups.values())) != members:
            self._targets.clear()

    async def flush(self) -> None:
        await super().flush()
        self._targets.clear()

    async def group_add(self, group: str, channel: str) -> None:
        new = channel not in self.groups.get(group, ())
        await super().group_add(group, channel)
        if new:
            self._targets.clear()

    async def group_discard(self, group: str, channel: str) -> None:
        member = channel in self.groups.get(group, ())
        await super().group_discard(group, channel)
        if member:
            self._targets.clear()

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

    def _targets_of(self, group: str) -> tuple[list[str], list[tuple[str, DirectHandler]]]:
        targets = self._targets.get(group)
        if targets is None:
            queued: list[str] = []
            direct: list[tuple[str, DirectHandler]] = []
            for channel in self.groups.get(group, ()):
                handler = self._direct.get(channel)
                if handler is None:
                    queued.append(channel)
                else:
                    direct.append((channel, handler))
            targets = self._targets[group] = (queued, direct)
        return targets

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        queued, direct = self._targets_of(group)
        for channel in queued:
            try:
                self._put(channel, message)
            except ChannelFull:
                pass
        if direct:  # one broken screen stops no other; the raw writes go out together
            await frames.fan_out(direct, message, logger)
