"""What crosses processes: requests to a device's owner, and one relay per process of each
device's pushes. Only with a channel layer that spans processes (Redis); with the in-memory
layer of the one-process default nothing here runs and viewers join their groups directly.

Requests. Every process has one channel (`Node.channel`) on which it takes requests and
their replies. A request names the device (its credential), an operation and its arguments
(`live/devices.py` decides what operations exist and where the owner is). The owner answers
with the result or the error, and while it works, every `HEARTBEAT` seconds, that it is
working on it:

```
asker ─{"type": "device.request", "id", "reply_to", "credential_id", "op", "args", "once"}─> owner
asker <─{"type": "device.reply", "id", "state": "working"} (every HEARTBEAT s while it works)─ owner
asker <─{"type": "device.reply", "id", "state": "done", "result"} or {…, "error"}─ owner
```

A caller that hears nothing for `DEVICE_REQUEST_SILENCE` seconds takes the owner for gone
(`Silent`) and asks again, under the same ID, wherever the device's lease then points. An
operation that must happen once (a send, a reaction) is remembered by its ID for a while, so
a request asked twice is answered twice but done once; sends carry the page's transaction
ID besides, so a send the next owner repeats is still posted once by the homeserver.

Relays. A device's owner publishes each push to the device's groups once; channels_redis
writes it to every member of a group. Consumers therefore do not join those groups
themselves: while a process has viewers of a group, ONE channel of the process is a member
(`Relay`), and what arrives on it is handed to the process's viewers in memory, in order, in
the relay's task (as `layers.FanoutInMemoryChannelLayer` does in one process). A push costs
Redis one message per process with viewers, not one per viewer.

Everything that goes through Redis is encrypted by the layer (`symmetric_encryption_keys`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

from webclient.matrix.crypto.lease import process_owner_id

from . import frames

logger = logging.getLogger("webclient.live.cluster")

#: Seconds between "working" replies while an operation runs.
HEARTBEAT = 1.0
#: How long the answers of operations that must happen once are remembered.
REMEMBER_SECONDS = 300.0
REMEMBER_MOST = 512
#: A relay joins its group again at least this often (one ZADD).
REJOIN_SECONDS = 30.0
#: How often a process asks Redis whether it is still the same server (one INFO each).
WATCH_SECONDS = 1.0
#: What a relay hands its viewers after Redis lost messages: catch up afresh.
GAP = {"type": "cluster.gap"}

# A page's handler of what the relay hands it (`frames.fan_out` calls it).
Handler = frames.Handler


def spans_processes() -> bool:
    """Whether the channel layer reaches other processes (Redis)."""
    return not isinstance(get_channel_layer(), InMemoryChannelLayer)


class Silent(Exception):
    """The owner did not answer (not even "working") in time."""


@dataclass
class _Job:
    task: asyncio.Task[None] | None = None
    listeners: set[str] = field(default_factory=set)


class Node:
    """This process's end of the cluster, on one event loop: its request channel, the
    requests it waits for, the operations it runs for others, and its relays."""

    def __init__(self, serve: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        self.layer = get_channel_layer()
        self.serve = serve
        # A process-specific channel named like every other of the process (consumers',
        # relays'): channels_redis receives all channels of one such name with one blocking
        # pop of one key; a channel of another name would be another key, popped only in
        # turn with it (5 s each).
        self.channel = f"specific.{self.layer.client_prefix}!{uuid.uuid4().hex}"
        #: What the device leases this process holds name it by: its owner ID and channel.
        self.address = f"{process_owner_id()}|{self.channel}"
        self._pending: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._running: dict[str, _Job] = {}
        self._done: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._relays: dict[str, Relay] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepting = True
        self._receiver = self._spawn(self._receive(), f"cluster node {self.channel}")
        self._watcher = self._spawn(self._watch(), f"cluster watch {self.channel}")

    @staticmethod
    def channel_of(address: str) -> str:
        """The request channel in an owner ID the lease holds ("" for a process that takes
        no requests)."""
        return address.partition("|")[2]

    def _spawn(self, coroutine: Any, name: str | None = None) -> asyncio.Task[Any]:
        # A fresh context: these tasks outlive the request that happened to start the node.
        task = asyncio.get_running_loop().create_task(
            coroutine, name=name, context=contextvars.Context()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _receive(self) -> None:
        async for message in _received(self.layer, self.channel, "process channel"):
            kind = message.get("type")
            if kind == "device.reply":
                queue = self._pending.get(message.get("id", ""))
                if queue is not None:
                    queue.put_nowait(message)
            elif kind == "device.request":
                self._accept(message)

    async def _watch(self) -> None:
        """Notice Redis losing what it held (a restart: another `run_id`) or being out of
        reach: its groups forgot this process's relays, and pushes published meanwhile went
        nowhere. Then every relay joins its group again at once (not at its next refresh)
        and tells its viewers to catch up afresh (`GAP`), so a page misses nothing."""
        connection = getattr(self.layer, "connection", None)
        hosts = getattr(self.layer, "ring_size", 0)
        if connection is None or not hosts:
            return
        known: dict[int, str] = {}
        broken = False
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            changed = False
            try:
                for index in range(hosts):
                    info = await connection(index).info("server")
                    run_id = str(info.get("run_id", ""))
                    if known.get(index, run_id) != run_id:
                        changed = True
                    known[index] = run_id
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not broken:
                    logger.warning("Redis out of reach: %r", exc)
                broken = True
                continue
            if changed or broken:
                logger.warning("Redis %s: relays join again", "restarted" if changed else "back")
                broken = False
                await self.rejoin()

    async def rejoin(self) -> None:
        """Every relay joins its group again and its viewers catch up afresh."""
        for relay in list(self._relays.values()):
            await relay.rejoin()

    # -- asking -----------------------------------------------------------------------------

    async def call(
        self, target: str, request_id: str, body: dict[str, Any], *, silence: float
    ) -> dict[str, Any]:
        """Ask the process at `target` and wait for its final reply (`state` "done" or
        "error"); `Silent` when it says nothing for `silence` seconds."""
        queue = self._pending[request_id] = asyncio.Queue()
        try:
            try:
                await self.layer.send(
                    target,
                    {"type": "device.request", "id": request_id, "reply_to": self.channel, **body},
                )
            except Exception as exc:  # a full channel (a dead process's), Redis trouble
                raise Silent(str(exc)) from exc
            while True:
                try:
                    reply = await asyncio.wait_for(queue.get(), silence)
                except TimeoutError:
                    raise Silent(f"no answer from {target} in {silence:.0f}s") from None
                if reply.get("state") != "working":
                    return reply
        finally:
            self._pending.pop(request_id, None)

    # -- answering --------------------------------------------------------------------------

    def _accept(self, request: dict[str, Any]) -> None:
        request_id, reply_to = str(request.get("id", "")), str(request.get("reply_to", ""))
        if not request_id or not reply_to:
            return
        self._forget_old()
        if (done := self._done.get(request_id)) is not None:
            self._spawn(self._send(reply_to, done[1]))
            return
        job = self._running.get(request_id)
        if job is not None:
            job.listeners.add(reply_to)
            self._spawn(self._send(reply_to, _working(request_id)))
            return
        if not self.accepting:
            reply = {"type": "device.reply", "id": request_id, "state": "error"}
            reply["error"] = {"kind": "not_owner", "message": "shutting down"}
            self._spawn(self._send(reply_to, reply))
            return
        job = self._running[request_id] = _Job(listeners={reply_to})
        job.task = self._spawn(self._run(request_id, request, job), f"request {request_id}")

    async def _run(self, request_id: str, request: dict[str, Any], job: _Job) -> None:
        try:
            # "Working" only while it takes longer than a heartbeat: a quick answer is one
            # message back.
            work = asyncio.ensure_future(self.serve(request))
            while True:
                done, _ = await asyncio.wait({work}, timeout=HEARTBEAT)
                if done:
                    break
                await self._send_all(job, _working(request_id))
            try:
                answer = work.result()
            except Exception as exc:  # serve turns errors into answers; this is a bug
                logger.exception("request %s failed", request.get("op"))
                answer = {"state": "error", "error": {"kind": "internal", "message": repr(exc)}}
            reply = {"type": "device.reply", "id": request_id, **answer}
            if request.get("once"):
                self._done[request_id] = (time.monotonic(), reply)
            await self._send_all(job, reply)
        finally:
            self._running.pop(request_id, None)

    def _forget_old(self) -> None:
        limit = time.monotonic() - REMEMBER_SECONDS
        while self._done and (
            len(self._done) > REMEMBER_MOST or next(iter(self._done.values()))[0] < limit
        ):
            self._done.popitem(last=False)

    async def _send_all(self, job: _Job, message: dict[str, Any]) -> None:
        for reply_to in list(job.listeners):
            await self._send(reply_to, message)

    async def _send(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self.layer.send(channel, message)
        except Exception as exc:  # the asker is gone; it asks again if it still cares
            logger.info("reply to %s not sent: %r", channel, exc)

    async def drain(self, timeout: float) -> None:
        """Stop taking requests and wait (up to `timeout`) for those under way."""
        self.accepting = False
        tasks = [job.task for job in self._running.values() if job.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    # -- relays -----------------------------------------------------------------------------

    async def subscribe(self, group: str, name: str, handler: Handler) -> None:
        """Hand `group`'s messages to `handler` (a consumer of this process), through the
        process's relay of that group."""
        relay = self._relays.get(group)
        if relay is None:
            relay = self._relays[group] = Relay(self, group)
            relay.started = self._spawn(relay.start())
        relay.members[name] = handler
        await asyncio.shield(relay.started)

    async def unsubscribe(self, group: str, name: str) -> None:
        relay = self._relays.get(group)
        if relay is None:
            return
        relay.members.pop(name, None)
        if not relay.members:
            del self._relays[group]
            await relay.stop()

    def relays(self) -> dict[str, int]:
        """Viewers per group in this process (for tests and measurements)."""
        return {group: len(relay.members) for group, relay in self._relays.items()}

    async def close(self) -> None:
        for group in list(self._relays):
            relay = self._relays.pop(group)
            await relay.stop()
        self._receiver.cancel()
        self._watcher.cancel()


async def _received(layer: Any, channel: str, what: str) -> AsyncIterator[dict[str, Any]]:
    """What arrives on a channel, for ever: a failure to receive (Redis out of reach) is
    logged and tried again a second later, since the channel outlives it."""
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: receiving on %s failed", what, channel)
            await asyncio.sleep(1)
            continue
        yield message


def _working(request_id: str) -> dict[str, Any]:
    return {"type": "device.reply", "id": request_id, "state": "working"}


class Relay:
    """One channel of this process in one device group, handing what arrives to the
    process's viewers of the group (in the relay's task, one after another, in order)."""

    def __init__(self, node: Node, group: str) -> None:
        self.node = node
        self.layer = node.layer
        self.group = group
        self.members: dict[str, Handler] = {}
        self.channel = ""
        self.started: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            self.channel = await self.layer.new_channel()  # see Node.channel
            # Receiving first: nothing that arrives once the group knows the channel is missed.
            self._receiver = self.node._spawn(self._receive(), f"relay {self.group}")
            await self.layer.group_add(self.group, self.channel)
            self._refresher = self.node._spawn(self._refresh())
        except BaseException:
            # Not joined: the next viewer of the group starts another relay.
            if self.node._relays.get(self.group) is self:
                del self.node._relays[self.group]
            if self._receiver is not None:
                self._receiver.cancel()
            raise

    async def _receive(self) -> None:
        async for message in _received(self.layer, self.channel, f"relay of {self.group}"):
            await self._hand(message)

    async def _refresh(self) -> None:
        """Join again now and then: layers drop members after `group_expiry` (a dead
        process's relay drops out after it), a relay (a kiosk wall's) may live for weeks, and
        a Redis restarted without its data has forgotten every group."""
        every = min(REJOIN_SECONDS, max(1.0, getattr(self.layer, "group_expiry", 86400) / 3))
        while True:
            await asyncio.sleep(every)
            try:
                await self.layer.group_add(self.group, self.channel)
            except Exception:
                logger.warning("relay of %s: joining again failed", self.group, exc_info=True)

    async def rejoin(self) -> None:
        """Join again now and hand the viewers `GAP` (what was published while this relay
        was not a member is fetched afresh, after the join, so nothing falls between)."""
        if not self.channel:
            return
        try:
            await self.layer.group_add(self.group, self.channel)
        except Exception:
            logger.warning("relay of %s: joining again failed", self.group, exc_info=True)
            return
        await self._hand(GAP)

    async def _hand(self, message: dict[str, Any]) -> None:
        # One broken page stops no other; the pages' raw writes go out together.
        await frames.fan_out(list(self.members.items()), message, logger)

    async def stop(self) -> None:
        for task in (self._refresher, self._receiver):
            if task is not None:
                task.cancel()
        if self.started is not None and not self.started.done():
            self.started.cancel()
        if self.channel:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception:
                logger.warning("relay of %s: leaving failed", self.group, exc_info=True)


_nodes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Node] = weakref.WeakKeyDictionary()


def node(serve: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> Node:
    """This process's node on the running loop, started on first use."""
    loop = asyncio.get_running_loop()
    found = _nodes.get(loop)
    if found is None:
        found = _nodes[loop] = Node(serve)
    return found


def current() -> Node | None:
    try:
        return _nodes.get(asyncio.get_running_loop())
    except RuntimeError:
        return None
