"""Frames that are the same for many screens, encoded and framed once.

A push of a device goes to every open page of it: with a kiosk wall of thousands of screens,
JSON-encoding the frame, encoding it to UTF-8 and building its websocket frame once per
screen (Channels' `send_json`, daphne's `handle_reply`, autobahn's `sendMessage`) was most of
the server's CPU per message. A `Frame` holds the JSON text of a frame and, built once on
first use, its bytes on the wire (RFC 6455: FIN, a text opcode, the length, the payload; a
server's frames are not masked), so a consumer writes the very same bytes to each socket.

The ASGI wrapper (`ops/lifecycle.py`) hands each websocket's consumer a writer
(`scope["extensions"]["webclient.frames"]`) that puts those bytes on the connection's
transport when it can (under daphne, an open socket without compression and with nothing
queued before it) and says no otherwise; the consumer then sends the text through ASGI, as
any other frame. Either way a socket's frames go out in the order they were sent.

`SharedFrames` caches the frames of one group message per variant of viewer (pages of the
login, screens with their media prefix…): the channel layer hands the same message object to
every viewer of a process (`layers.py` directly, `cluster.Relay` after one decode), so the
first viewer of each variant encodes and the others reuse. `LatestPush` keeps the wire bytes
of the latest such message by its identity, so that the many screens after the first find
theirs with one comparison and one lookup (a kiosk wall's fan-out runs that once per screen).
"""

from __future__ import annotations

import json
import struct
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from logging import Logger
from typing import Any

#: The writer a websocket's scope may carry: True when the bytes were written.
RawWriter = Callable[[bytes], bool]
EXTENSION = "webclient.frames"


def ws_text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked websocket text frame (what a server sends) of `payload`."""
    length = len(payload)
    if length <= 125:
        header = bytes((0x81, length))
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


class Frame:
    """A frame's JSON text, and its bytes on the wire once asked for."""

    __slots__ = ("text", "_wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    @classmethod
    def of(cls, content: Any) -> Frame:
        """The frame of `content` (encoded as Channels' `send_json` does)."""
        return cls(json.dumps(content))

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = ws_text_frame(self.text.encode("utf-8"))
        return self._wire


def raw_writer(scope: dict[str, Any]) -> RawWriter | None:
    """The writer the ASGI server side put in a websocket's scope, if any."""
    extensions = scope.get("extensions") or {}
    writer = extensions.get(EXTENSION)
    return writer if callable(writer) else None


class SharedFrames:
    """Encoded frames per (key, variant), the oldest forgotten first.

    `key` names one push: an identity that does not outlive the cache entry (the message
    object itself is kept in the entry, so its `id()` cannot be reused while it is cached) or
    a value such as (epoch, position, room)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[Any, dict[Hashable, Frame]]] = OrderedDict()
        #: How many frames were built (for tests and measurements).
        self.built = 0

    def get(
        self,
        key: Hashable,
        variant: Hashable,
        build: Callable[[], Any],
        *,
        holder: Any = None,
    ) -> Frame:
        """The frame for (`key`, `variant`), made from `build()` the first time. `holder` is
        kept alive with the entry and must be the same object for a hit (an identity key)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] is not holder:
            entry = (holder, {})
            self._entries[key] = entry
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        frames = entry[1]
        frame = frames.get(variant)
        if frame is None:
            frame = frames[variant] = Frame.of(build())
            self.built += 1
        return frame

    def for_message(
        self, message: dict[str, Any], variant: Hashable, build: Callable[[], Any]
    ) -> Frame:
        """The frame of a group message (the same object for every viewer of a process)."""
        return self.get(id(message), variant, build, holder=message)

    def clear(self) -> None:
        self._entries.clear()


class LatestPush:
    """The wire bytes of the latest group message per variant, found by the message's
    identity (the very object the layer hands every viewer of a process). The message is
    held, so an identity match is never a new message at a reused address.

    A variant is a viewer's media prefix (None for none) when the push points at media, and
    None for every viewer when it does not (`put`'s `media`), so a screen finds its frame
    with one call whatever its prefix."""

    __slots__ = ("message", "wires", "media")

    def __init__(self) -> None:
        self.message: Any = None
        self.wires: dict[Hashable, bytes] = {}
        self.media = False

    def get(self, message: Any, variant: Hashable) -> bytes | None:
        if message is not self.message:
            return None
        return self.wires.get(variant if self.media else None)

    def put(self, message: Any, variant: Hashable, wire: bytes, *, media: bool = True) -> None:
        """`wire` for the viewers of `variant`; `media`: whether the push points at media
        (when not, `variant` must be None: every viewer's frame is the same)."""
        if message is not self.message:
            self.message = message
            self.wires = {}
            self.media = media
        self.wires[variant] = wire


# -- one push's writes, together ---------------------------------------------------------------
#
# A fan-out loop (`fan_out`, for `layers.FanoutInMemoryChannelLayer.group_send` and
# `cluster.Relay`) hands a push to each screen in turn; between two awaits nothing else runs
# on the loop, so the bytes each screen's writer would put on its socket can be collected and
# written together at the next await or at the end, in the order collected per socket (each
# socket is written at most once per push). Together means from two threads when there are
# many: the `send` of a socket releases the GIL, and on loopback and on a real network alike
# most of its cost is the kernel's, which two cores share. The loop's thread waits for the
# helper, so no other code touches these sockets meanwhile; what a socket did not take goes
# through the transport's own buffer afterwards, in the loop's thread.

#: Writes collected since `begin_writes()`: (socket, bytes, what takes an unsent rest).
_collected: list[tuple[Any, bytes, Callable[[bytes], None]]] | None = None
_helper: ThreadPoolExecutor | None = None
#: From this many writes on, a batch is written by the loop's thread and a helper thread.
PARALLEL_FROM = 256


def begin_writes() -> None:
    """Collect raw writes (`collect`) until `end_writes()`; a no-op while collecting."""
    global _collected
    if _collected is None:
        _collected = []


def collect(sock: Any, data: bytes, rest: Callable[[bytes], None]) -> bool:
    """Queue `data` for `sock` in the batch under way; False (write it now) when none is."""
    if _collected is None:
        return False
    _collected.append((sock, data, rest))
    return True


#: A screen's or page's handler of a push: None when done, else an awaitable to wait for.
Handler = Callable[[Any], Awaitable[None] | None]


async def fan_out(targets: Sequence[tuple[str, Handler]], message: Any, log: Logger) -> None:
    """Hand `message` to each (name, handler) of `targets` in turn, their raw writes
    collected and written together at each await (what a handler hands back is awaited
    before the next) and at the end; a handler that fails is logged and stops nobody. Not a
    coroutine per target: a kiosk wall's push runs this loop once per screen."""
    try:
        begin_writes()
        for name, handler in targets:
            try:
                pending = handler(message)
                if pending is not None:
                    end_writes()
                    try:
                        await pending
                    finally:
                        begin_writes()
            except Exception:
                kind = message.get("type") if isinstance(message, dict) else message
                log.exception("delivering %s to %s failed", kind, name)
    finally:
        end_writes()


def end_writes() -> None:
    """Write what was collected and stop collecting; call before any await."""
    global _collected, _helper
    items, _collected = _collected, None
    if not items:
        return
    if len(items) >= PARALLEL_FROM:
        if _helper is None:
            _helper = ThreadPoolExecutor(1, thread_name_prefix="fanout-writer")
        half = len(items) // 2
        later = _helper.submit(_send_all, items[half:])
        leftovers = _send_all(items[:half])
        leftovers += later.result()
    else:
        leftovers = _send_all(items)
    for rest, data in leftovers:
        rest(data)


def _send_all(
    items: list[tuple[Any, bytes, Callable[[bytes], None]]],
) -> list[tuple[Callable[[bytes], None], bytes]]:
    """`send` each; what a socket did not take (all of it on an error, which the transport's
    own write then finds out), for the loop's thread to hand to its transport."""
    leftovers = []
    for sock, data, rest in items:
        try:
            sent = sock.send(data)
        except OSError:  # BlockingIOError, InterruptedError, a broken connection
            sent = 0
        if sent < len(data):
            leftovers.append((rest, data[sent:]))
    return leftovers
