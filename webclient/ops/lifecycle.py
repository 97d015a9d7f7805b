"""The ASGI wrapper around the whole application (webclient/asgi.py): the operations
endpoints, the counts behind the metrics, and a graceful shutdown.

- `/healthz`, `/readyz` and `/metrics` are answered here, before Django (health.py,
  metrics.py).
- Every HTTP request and websocket passes through: requests are counted and timed, open
  websockets are counted by kind, and the replies that tell a page its send went through or
  failed are counted. Nothing else of the traffic is looked at. Under daphne a websocket's
  scope also carries a writer of already framed messages (`live/frames.py`), so a push that
  is the same for thousands of screens is framed once; and daphne's periodic walk over every
  connection (timeouts, keep-alive pings) is done a slice at a time, with the pings of sockets
  opened together spread out (`timers.py`), so a push does not wait behind it.
- Shutdown (`drain`): on SIGTERM under daphne (or the ASGI lifespan's shutdown under a server
  that has one), the process stops listening, so the proxy sends new connections to the
  others; closes every websocket with 1012 ("service restart"), so pages reconnect at once,
  through the proxy, to another process; finishes what other processes asked of it as a
  device's owner and stops its sync loops (`live.devices.shutdown`), which releases each
  device's lease for another process to take at once rather than after `DEVICE_LEASE_TTL`;
  lets HTTP requests in flight finish; and then lets daphne
  stop. All within SHUTDOWN_TIMEOUT seconds (10); a second SIGTERM stops at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from webclient.live import frames
from webclient.live.frames import EXTENSION as FRAMES_EXTENSION

from . import health, metrics, timers

logger = logging.getLogger("webclient.ops")
access_logger = logging.getLogger("webclient.access")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Close code of a websocket closed because the process restarts (RFC 6455, IANA registry).
SERVICE_RESTART = 1012
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# The consumer's replies to a page's send or action (json.dumps of {"type": …, …}).
SENT = '{"type": "sent"'
SEND_FAILED = '{"type": "send_failed"'
ACTION_FAILED = '{"type": "action_failed"'
REPLIES = (SENT, SEND_FAILED, ACTION_FAILED)
SAMPLE_SECONDS = 1.0


#: What `_Socket.plain` is before a transport was seen (None is a transport not yet there).
_UNSEEN = object()


class _Socket:
    """One websocket: the server's `send` for it, and whether it was accepted."""

    __slots__ = ("send", "kind", "accepted", "protocol", "open", "plain", "sock", "rest", "queue")

    def __init__(self, send: Send, kind: str) -> None:
        self.send = send
        self.kind = kind
        self.accepted = False
        # Under daphne, its autobahn protocol (the `send` daphne hands out is
        # `partial(server.handle_reply, protocol)`), for frames written as bytes.
        args = getattr(send, "args", ())
        protocol = args[0] if args else None
        self.protocol = protocol if hasattr(protocol, "sendMessage") else None
        self.open = getattr(self.protocol, "STATE_OPEN", None)
        # autobahn's queue of frames not yet written (made with the connection, before the
        # handshake that brings this socket's scope; never replaced): without it, no order
        # to keep, so no raw writes.
        self.queue: Any = getattr(self.protocol, "send_queue", None)
        if self.queue is None:
            self.protocol = None
        #: The connection's transport once found to be Twisted's plain TCP, without TLS,
        #: under a socket without per-message compression (what does not change); its
        #: socket, and its `write` (for what the socket does not take).
        self.plain: Any = _UNSEEN
        self.sock: Any = None
        self.rest: Callable[[bytes], None] | None = None

    def write_frame(self, frame: bytes) -> bool:
        """Write an already framed websocket message (`live/frames.py`: the same bytes for
        every screen of a push) onto the connection, as autobahn's `sendMessage` would after
        framing it: only on an open socket without per-message compression or masking and
        with nothing queued in autobahn, so frames keep their order. False: send it through
        ASGI instead. (Runs once per screen of a push: what cannot change is checked once,
        and what can is read from as few objects as will do.)"""
        protocol = self.protocol
        if protocol is None or not self.accepted or protocol.state != self.open or self.queue:
            return False
        transport = protocol.transport
        if transport is not self.plain:
            if transport is None or protocol._perMessageCompress is not None:
                return False
            if not _is_plain_tcp(transport):
                transport.write(frame)  # TLS…: through the transport's own buffer
                return True
            self.plain, self.sock, self.rest = transport, transport.socket, transport.write
        # Twisted holds nothing for the socket when both its buffers are empty (its `doWrite`
        # empties `dataBuffer` once all of it is sent; a false alarm only takes the slow
        # way). A lost connection is autobahn's STATE_CLOSED, checked above.
        if transport.dataBuffer or transport._tempDataBuffer or transport.disconnecting:
            transport.write(frame)  # behind what Twisted holds, in order
        elif not frames.collect(self.sock, frame, self.rest):
            _send_now(self.sock, frame, self.rest)  # else with a push's rest (end_writes)
        return True

    async def close_for_restart(self) -> None:
        """Close with 1012. daphne refuses that code through ASGI (autobahn's `sendClose`
        takes only 1000 and 3000-4999, the codes meant for applications), so under daphne
        the close frame is sent on its protocol (the `send` daphne hands out is
        `partial(server.handle_reply, protocol)`); elsewhere through ASGI."""
        args = getattr(self.send, "args", ())
        protocol = args[0] if args else None
        if not self.accepted:
            await self.send({"type": "websocket.close", "code": SERVICE_RESTART})
        elif protocol is not None and hasattr(protocol, "sendCloseFrame"):
            protocol.sendCloseFrame(code=SERVICE_RESTART, isReply=False)
        else:
            await self.send({"type": "websocket.close", "code": SERVICE_RESTART})
        metrics.WEBSOCKETS_CLOSED.labels(str(SERVICE_RESTART)).inc()


# Per transport class: whether it is Twisted's plain TCP connection (the attributes below).
_PLAIN_TCP: dict[type, bool] = {}
_TCP_ATTRIBUTES = (
    "socket",
    "TLS",
    "disconnecting",
    "_tempDataBuffer",
    "dataBuffer",
)


def _is_plain_tcp(transport: Any) -> bool:
    """Whether `transport` is Twisted's TCP connection without TLS, whose socket this module
    may write to when Twisted holds nothing for it: Twisted's `write` buffers, registers the
    socket for writing (an `epoll_ctl`), and writes it on the next turn of the loop, after
    which it unregisters it (another): per screen of a push, more than the `send` itself."""
    kind = type(transport)
    plain = _PLAIN_TCP.get(kind)
    if plain is None:
        plain = _PLAIN_TCP[kind] = all(hasattr(transport, name) for name in _TCP_ATTRIBUTES)
    return plain and not transport.TLS


def _send_now(sock: Any, data: bytes, rest: Callable[[bytes], None]) -> None:
    """`data` onto the socket of a plain TCP transport that holds nothing; what the socket
    does not take now goes through Twisted's buffer (`rest`: the transport's `write`),
    behind what was sent, in order."""
    try:
        sent = sock.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        # The connection broke: Twisted's own write finds that out and closes it.
        sent = 0
    if sent < len(data):
        rest(data[sent:])


class Operations:
    """Wraps the ASGI application (ProtocolTypeRouter): see the module's docstring."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.draining = False
        self.sockets: set[_Socket] = set()
        self.requests_in_flight = 0
        self._drain: asyncio.Task[None] | None = None
        self._sampling: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            self._sample_sync_clock()
            handler = ENDPOINTS.get(scope.get("path", ""))
            if handler is not None:
                await handler(self, scope, send)
                return
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.app(scope, receive, send)

    # -- traffic ---------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        status = 500

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.requests_in_flight += 1
        try:
            await self.app(scope, receive, tracked)
        finally:
            self.requests_in_flight -= 1
            took = time.monotonic() - started
            method = scope.get("method", "GET")
            method = method if method in METHODS else "other"
            metrics.HTTP_REQUESTS.labels(method, str(status)).inc()
            metrics.HTTP_SECONDS.observe(took)
            if settings.ACCESS_LOG:
                client = scope.get("client") or ("", 0)
                access_logger.info(
                    "%s %s %s %s %.1fms",
                    client[0],
                    method,
                    scope.get("path", ""),
                    status,
                    took * 1000,
                    extra={
                        "client": client[0],
                        "method": method,
                        "path": scope.get("path", ""),
                        "status": status,
                        "duration_ms": round(took * 1000, 1),
                    },
                )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.draining:
            # Refused before it is accepted: the page tries again, on another process.
            await receive()
            await send({"type": "websocket.close", "code": SERVICE_RESTART})
            return
        socket = _Socket(send, metrics.websocket_kind(scope.get("query_string", b"")))
        if socket.protocol is not None:
            # daphne's walk over every connection, a slice at a time (timers.py).
            timers.spread(socket.protocol.server)

        async def tracked(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "websocket.send":
                text = message.get("text")
                if text is not None and text.startswith(REPLIES):
                    _count_reply(text)
            elif kind == "websocket.accept":
                if not socket.accepted:
                    socket.accepted = True
                    metrics.OPEN_VIEWERS.labels(socket.kind).inc()
                    if socket.protocol is not None:
                        timers.first_ping_within_interval(socket.protocol)
            elif kind == "websocket.close":
                metrics.WEBSOCKETS_CLOSED.labels(str(message.get("code", 1000))).inc()
            await send(message)

        if socket.protocol is not None and not socket.protocol.factory.maskServerFrames:
            # The consumer's way to write a frame encoded once for many screens (frames.py).
            extensions = {**(scope.get("extensions") or {}), FRAMES_EXTENSION: socket.write_frame}
            scope = {**scope, "extensions": extensions}
        self.sockets.add(socket)
        try:
            await self.app(scope, receive, tracked)
        finally:
            self.sockets.discard(socket)
            if socket.accepted:
                metrics.OPEN_VIEWERS.labels(socket.kind).dec()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """For servers that speak the lifespan protocol (daphne does not: see
        `take_sigterm_from_daphne`)."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._sample_sync_clock()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.drain(settings.SHUTDOWN_TIMEOUT)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _sample_sync_clock(self) -> None:
        """Every second, note which sync loops completed a sync (metrics.SyncClock). A timer
        rather than a task: it ends with its event loop without complaint."""
        loop = asyncio.get_running_loop()
        if self._sampling is loop:
            return
        self._sampling = loop

        def tick() -> None:
            if self._sampling is not loop or loop.is_closed():
                return
            try:
                metrics.SYNC_CLOCK.observe(metrics.running_sessions())
            except Exception:
                logger.exception("sampling the sync loops failed")
            loop.call_later(SAMPLE_SECONDS, tick)

        loop.call_later(SAMPLE_SECONDS, tick)

    # -- shutdown --------------------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Close the websockets with 1012, hand the devices over, let requests finish."""
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._drain_now(timeout))
        await asyncio.shield(self._drain)

    async def _drain_now(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.draining = True
        metrics.DRAINING.set(1)
        logger.info(
            "shutting down: closing %d websockets (%d), handing devices over",
            len(self.sockets),
            SERVICE_RESTART,
        )
        for socket in list(self.sockets):
            try:
                await socket.close_for_restart()
            except Exception:
                logger.exception("closing a websocket failed")
        # The consumers' disconnect handlers detach from their devices and let queued sends
        # go out; then the requests other processes sent this one as a device's owner
        # finish, the sessions stop, each releasing its device's lease (another process
        # takes the device over at once), and the relays leave their groups.
        await _until(lambda: not self.sockets, loop.time() + timeout / 2)
        from webclient.live import devices

        try:
            remaining = max(0.5, deadline - loop.time())
            await asyncio.wait_for(devices.shutdown(remaining / 2), remaining)
        except Exception:
            logger.exception("stopping the sync loops failed")
        await _until(lambda: self.requests_in_flight == 0, deadline)
        logger.info(
            "shut down: %d websockets and %d requests left",
            len(self.sockets),
            self.requests_in_flight,
        )


async def _until(done: Callable[[], bool], deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while not done() and loop.time() < deadline:
        await asyncio.sleep(0.05)


def _count_reply(text: str) -> None:
    if text.startswith(SENT):
        metrics.SENDS.inc()
    elif text.startswith(SEND_FAILED):
        metrics.SENDS_FAILED.labels("message").inc()
    else:
        metrics.SENDS_FAILED.labels("action").inc()


# -- the endpoints -------------------------------------------------------------------------


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    await _respond(send, status, json.dumps(body).encode(), "application/json")


async def healthz(ops: Operations, scope: Scope, send: Send) -> None:
    await _json(send, 200, {"status": "alive", "draining": ops.draining})


async def readyz(ops: Operations, scope: Scope, send: Send) -> None:
    status, body = await health.readiness(ops.draining)
    await _json(send, status, body)


async def metrics_view(ops: Operations, scope: Scope, send: Send) -> None:
    client = (scope.get("client") or ("", 0))[0]
    authorization = None
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            authorization = value.decode("latin-1")
    if not metrics.allowed(client, authorization):
        await _respond(send, 403, b"Forbidden\n", "text/plain; charset=utf-8")
        return
    body, content_type = metrics.exposition()
    await _respond(send, 200, body, content_type)


ENDPOINTS: dict[str, Callable[[Operations, Scope, Send], Awaitable[None]]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics_view,
}


# -- daphne --------------------------------------------------------------------------------


def take_sigterm_from_daphne(ops: Operations) -> None:
    """Under daphne, SIGTERM stops Twisted's reactor at once, which cancels every
    application: sockets drop without a close frame (1006) and leases run out instead of
    being released. Once the reactor runs (its own handlers installed), take SIGTERM over:
    drain first, then stop the reactor. Elsewhere (tests, other servers) this does nothing."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or getattr(reactor, "_asyncioEventloop", None) is None:
        return
    reactor.callWhenRunning(_install, reactor, ops)


def _install(reactor: Any, ops: Operations) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    loop: asyncio.AbstractEventLoop = reactor._asyncioEventloop

    async def drain_then_stop() -> None:
        _stop_listening(reactor)
        try:
            await ops.drain(settings.SHUTDOWN_TIMEOUT)
        finally:
            if reactor.running:
                reactor.stop()

    def on_sigterm(signum: int, frame: Any) -> None:
        if ops.draining:
            logger.warning("second SIGTERM: stopping now")
            reactor.callFromThread(reactor.stop)
            return
        loop.call_soon_threadsafe(lambda: loop.create_task(drain_then_stop()))

    signal.signal(signal.SIGTERM, on_sigterm)


def _stop_listening(reactor: Any) -> None:
    """Close daphne's listening sockets: new connections are refused at once, so the proxy
    takes them to another process, while open ones finish."""
    from twisted.internet import tcp, unix

    for reader in list(reactor.getReaders()):
        if isinstance(reader, tcp.Port | unix.Port):
            reader.stopListening()
