"""The raw writer of a websocket under daphne (ops/lifecycle.py's `_Socket.write_frame`):
a shared frame's bytes go onto the socket itself only when Twisted holds nothing for it,
else behind what it holds, and not at all on a socket that is closing, queues in autobahn or
compresses. Twisted's own TCP connection (its buffers, `write` and `doWrite`) over a real
socket pair; autobahn's side is its few attributes the writer reads."""

from __future__ import annotations

import socket
from collections import deque
from functools import partial
from typing import Any

import pytest
from twisted.internet import tcp

from webclient.live import frames
from webclient.ops.lifecycle import _Socket

OPEN, CLOSING = 3, 4


class Reactor:
    """What a connection asks of its reactor to write later: noted, not run."""

    def __init__(self) -> None:
        self.writers: set[Any] = set()

    def addWriter(self, writer: Any) -> None:  # noqa: N802 (Twisted's names)
        self.writers.add(writer)

    def removeWriter(self, writer: Any) -> None:  # noqa: N802
        self.writers.discard(writer)


class Protocol:
    """autobahn's WebSocketProtocol, as far as the writer looks at it."""

    STATE_OPEN = OPEN

    def __init__(self, transport: Any) -> None:
        self.state = OPEN
        self.send_queue: deque[Any] = deque()
        self.transport = transport
        self._perMessageCompress = None

    def sendMessage(self, payload: bytes) -> None:  # noqa: N802
        raise AssertionError("a shared frame never goes through autobahn")


@pytest.fixture
def connection():
    ours, theirs = socket.socketpair()
    reactor = Reactor()
    transport = tcp.Connection(ours, None, reactor)
    transport.connected = 1
    protocol = Protocol(transport)
    # What daphne hands out as a websocket's `send`: its `handle_reply` bound to the protocol.
    writer = _Socket(partial(lambda protocol, message: None, protocol), "websocket")
    writer.accepted = True
    theirs.settimeout(2)
    yield writer, protocol, transport, reactor, theirs
    ours.close()
    theirs.close()


def received(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += peer.recv(size - len(data))
    return data


def test_a_frame_goes_straight_onto_a_socket_twisted_holds_nothing_for(connection):
    writer, _protocol, transport, reactor, peer = connection
    assert writer.write_frame(b"first")
    assert received(peer, 5) == b"first"
    assert not reactor.writers and not transport._tempDataBuffer  # Twisted never saw it


def test_a_frame_goes_behind_what_twisted_holds_and_the_next_straight_again(connection):
    """A ping autobahn wrote (Twisted buffers it until its loop's next turn) stays first."""
    writer, _protocol, transport, reactor, peer = connection
    transport.write(b"ping")
    assert writer.write_frame(b"push")
    assert reactor.writers == {transport}
    transport.doWrite()  # the loop's next turn
    assert received(peer, 8) == b"pingpush"
    assert transport.dataBuffer == b"" and not transport._tempDataBuffer
    assert writer.write_frame(b"next")
    assert received(peer, 4) == b"next"


def test_a_partly_written_buffer_keeps_the_frame_behind_it(connection):
    writer, _protocol, transport, _reactor, peer = connection
    transport.SEND_LIMIT = 4
    transport.write(b"0123456789")
    transport.doWrite()  # Twisted wrote some of it; the rest waits in its dataBuffer
    assert transport.dataBuffer and not transport._tempDataBuffer
    assert writer.write_frame(b"push")
    while transport.dataBuffer or transport._tempDataBuffer:
        transport.doWrite()
    assert received(peer, 14) == b"0123456789push"


def test_in_a_push_the_frame_waits_for_the_push_s_writes(connection):
    writer, _protocol, _transport, _reactor, peer = connection
    frames.begin_writes()
    try:
        assert writer.write_frame(b"shared")
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):
            peer.recv(10)
        peer.setblocking(True)
    finally:
        frames.end_writes()
    assert received(peer, 6) == b"shared"


def test_a_closing_connection_takes_the_frame_through_twisted(connection):
    writer, _protocol, transport, _reactor, peer = connection
    transport.disconnecting = True
    assert writer.write_frame(b"late")
    assert transport._tempDataBuffer == [b"late"]


@pytest.mark.parametrize("change", ["closing", "queued", "compressing", "no transport"])
def test_the_writer_says_no_when_autobahn_must_send_it(connection, change):
    writer, protocol, transport, reactor, _peer = connection
    if change == "closing":
        protocol.state = CLOSING
    elif change == "queued":
        protocol.send_queue.append(("frame", None))
    elif change == "compressing":
        protocol._perMessageCompress = object()
    else:
        protocol.transport = None
    assert not writer.write_frame(b"frame")
    assert not transport._tempDataBuffer and not reactor.writers


def test_a_socket_not_yet_accepted_or_outside_daphne_has_no_writer(connection):
    writer, *_ = connection
    writer.accepted = False
    assert not writer.write_frame(b"frame")
    assert not _Socket(lambda message: None, "websocket").write_frame(b"frame")
