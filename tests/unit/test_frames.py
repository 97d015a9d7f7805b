"""Frames encoded once for many screens (webclient/live/frames.py): the bytes are a websocket
frame any client reads (parsed here by aiohttp's own reader, not by our code), and the cache
hands each variant of viewer its own frame, built once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import socket

import aiohttp
import pytest
from aiohttp import WSMsgType

from webclient.live import frames
from webclient.live.frames import (
    EXTENSION,
    Frame,
    LatestPush,
    SharedFrames,
    raw_writer,
    ws_text_frame,
)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def read_back(data: bytes) -> list[tuple[WSMsgType, str]]:
    """Serve `data` as the frames of a websocket (after a hand-made handshake) and read them
    with aiohttp's websocket client: (type, text) per message until the server closes."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        digest = hashlib.sha1((key + GUID).encode()).digest()  # noqa: S324 - RFC 6455's
        accept = base64.b64encode(digest).decode()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        # In small pieces, as a socket may hand them over.
        for start in range(0, len(data), 1000):
            writer.write(data[start : start + 1000])
            await writer.drain()
        writer.write(b"\x88\x02\x03\xe8")  # close, 1000
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    got = []
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"ws://127.0.0.1:{port}/", max_msg_size=0) as ws:
                async for message in ws:
                    got.append((message.type, message.data))
    finally:
        server.close()
    return got


def parse(data: bytes) -> list[tuple[WSMsgType, str]]:
    return asyncio.run(read_back(data))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 4000, 65535, 65536, 200_000])
def test_a_frame_of_every_length_class_is_read_back_by_a_websocket_client(size):
    text = ("é" * size)[: size // 2] + "x" * (size - size // 2)
    frame = Frame(text)
    assert parse(frame.wire + ws_text_frame(b"next")) == [
        (WSMsgType.TEXT, text),
        (WSMsgType.TEXT, "next"),
    ]


def test_a_frame_is_json_as_send_json_writes_it():
    content = {"type": "events", "events": [{"html": '<p class="a">ü & "q"</p>'}]}
    frame = Frame.of(content)
    assert frame.text == json.dumps(content)
    assert json.loads(parse(frame.wire)[0][1]) == content
    assert frame.wire is frame.wire  # built once


def test_each_variant_is_built_once_and_shared():
    frames = SharedFrames(8)
    built = []

    def build(variant):
        def make():
            built.append(variant)
            return {"variant": variant}

        return make

    first = [frames.get(("events", "e", 1, "!r"), v, build(v)) for v in (None, "/k/", None, "/k/")]
    assert built == [None, "/k/"]
    assert first[0] is first[2] and first[1] is first[3]
    assert json.loads(first[1].text) == {"variant": "/k/"}
    assert frames.built == 2


def test_a_message_object_is_its_own_key():
    frames = SharedFrames(8)
    one, other = {"type": "room.typing"}, {"type": "room.typing"}
    a = frames.for_message(one, "typing", lambda: {"n": 1})
    b = frames.for_message(other, "typing", lambda: {"n": 2})  # equal, but another push
    assert a is frames.for_message(one, "typing", lambda: {"n": 3})
    assert json.loads(b.text) == {"n": 2}


def test_the_oldest_pushes_are_forgotten():
    frames = SharedFrames(2)
    for pos in range(5):
        frames.get(pos, None, lambda: {})
    assert frames.built == 5
    frames.get(4, None, lambda: {})
    frames.get(0, None, lambda: {})
    assert frames.built == 6


def test_the_writer_comes_from_the_scope_only_when_the_server_offers_one():
    assert raw_writer({"type": "websocket"}) is None
    assert raw_writer({"extensions": None}) is None
    assert raw_writer({"extensions": {EXTENSION: "not callable"}}) is None

    def write(data: bytes) -> bool:
        return True

    assert raw_writer({"extensions": {EXTENSION: write}}) is write


def test_the_parser_is_a_real_one():
    # A corrupted length must not read back as the text (the test above could not fail
    # otherwise).
    wire = bytearray(Frame("hello").wire)
    wire[1] = 3
    assert parse(bytes(wire))[:1] != [(WSMsgType.TEXT, "hello")]


def test_the_latest_push_is_found_by_identity_only():
    latest = LatestPush()
    push = {"type": "room.events", "pos": 1}
    assert latest.get(push, None) is None
    latest.put(push, None, b"plain")
    latest.put(push, "/kiosk/t/", b"prefixed")
    assert latest.get(push, None) == b"plain"
    assert latest.get(push, "/kiosk/t/") == b"prefixed"
    assert latest.get(push, "/embed/other/") is None
    # An equal message that is another object (another push) finds nothing, and a new push
    # forgets the previous one's bytes.
    assert latest.get(dict(push), None) is None
    following = {"type": "room.events", "pos": 2}
    latest.put(following, None, b"next")
    assert latest.get(push, None) is None
    assert latest.get(following, "/kiosk/t/") is None
    assert latest.get(following, None) == b"next"


def test_a_push_without_media_is_the_same_frame_for_every_prefix():
    """A push that points at no media (`put(..., media=False)`, under None) is every viewer's
    frame whatever its prefix; one that does is found per prefix only."""
    latest = LatestPush()
    plain = {"type": "room.events", "pos": 1}
    latest.put(plain, None, b"same for all", media=False)
    assert latest.get(plain, None) == b"same for all"
    assert latest.get(plain, "/kiosk/t/") == b"same for all"
    assert latest.get(plain, "/embed/ticket/") == b"same for all"
    pictures = {"type": "room.events", "pos": 2}
    latest.put(pictures, "/kiosk/t/", b"kiosk media")
    assert latest.get(pictures, "/kiosk/t/") == b"kiosk media"
    assert latest.get(pictures, None) is None
    assert latest.get(pictures, "/embed/ticket/") is None


async def test_fan_out_writes_before_each_await_and_at_the_end_and_stops_for_nobody(caplog):
    """`fan_out`: the raw writes of handlers that finish at once are collected, go out before
    a handler's awaitable runs (so its slow way writes behind them) and at the end; a handler
    that raises, or an awaitable that fails, is logged under the caller's logger."""
    pairs = _socket_pairs(3)
    rests: list[bytes] = []
    seen_before_await: list[bytes] = []
    order: list[str] = []

    def writes(i):
        def handler(message):
            order.append(f"w{i}")
            assert frames.collect(pairs[i][0], f"{message['n']}:{i}".encode(), rests.append)

        return handler

    def slow(message):
        async def later():
            pairs[0][1].setblocking(False)
            seen_before_await.append(pairs[0][1].recv(100))
            order.append("slow")

        return later()

    def broken(message):
        raise RuntimeError("socket gone")

    def broken_later(message):
        async def later():
            raise RuntimeError("gone later")

        return later()

    logger = logging.getLogger("webclient.test_fan_out")
    targets = [
        ("a", writes(0)),
        ("b", slow),
        ("c", broken),
        ("d", broken_later),
        ("e", writes(1)),
        ("f", writes(2)),
    ]
    try:
        await frames.fan_out(targets, {"type": "x", "n": 7}, logger)
        assert order == ["w0", "slow", "w1", "w2"]
        assert seen_before_await == [b"7:0"]  # written before the awaitable ran
        for i in (1, 2):
            pairs[i][1].setblocking(False)
            assert pairs[i][1].recv(100) == f"7:{i}".encode()
        assert rests == []
        assert not frames.collect(pairs[0][0], b"x", rests.append)  # no batch left open
        failures = [r for r in caplog.records if r.name == "webclient.test_fan_out"]
        assert [r.exc_info[1].args for r in failures] == [("socket gone",), ("gone later",)]
        assert all("to c" in r.getMessage() or "to d" in r.getMessage() for r in failures)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def _socket_pairs(n: int) -> list[tuple[socket.socket, socket.socket]]:
    pairs = [socket.socketpair() for _ in range(n)]
    for ours, _ in pairs:
        ours.setblocking(False)
    return pairs


@pytest.mark.parametrize("n", [3, frames.PARALLEL_FROM + 44])
def test_a_pushs_writes_go_out_together_each_socket_its_bytes(n):
    """Collected writes go out at `end_writes` (from two threads when there are many): every
    socket gets exactly its bytes, once; nothing is collected outside a batch."""
    pairs = _socket_pairs(n)
    rests: list[bytes] = []
    try:
        assert not frames.collect(pairs[0][0], b"x", rests.append)  # no batch: write it now
        frames.begin_writes()
        for i, (ours, _) in enumerate(pairs):
            assert frames.collect(ours, f"frame {i}".encode(), rests.append)
        for _, theirs in pairs:
            theirs.setblocking(False)
            with pytest.raises(BlockingIOError):  # nothing written before end_writes
                theirs.recv(100)
        frames.end_writes()
        for i, (_, theirs) in enumerate(pairs):
            assert theirs.recv(100) == f"frame {i}".encode()
        assert rests == []
        assert not frames.collect(pairs[0][0], b"x", rests.append)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_what_a_full_socket_does_not_take_goes_to_its_transport_in_order():
    pairs = _socket_pairs(frames.PARALLEL_FROM)
    full, reader = pairs[7]
    try:
        while True:  # fill one socket's buffers
            try:
                full.send(b"f" * 65536)
            except BlockingIOError:
                break
        rests: list[bytes] = []
        closed_ours, closed_theirs = pairs[9]
        closed_theirs.close()
        closed_ours.close()  # a broken connection: all of it to the transport
        frames.begin_writes()
        for i, (ours, _) in enumerate(pairs):
            frames.collect(ours, f"frame {i}".encode(), rests.append)
        frames.end_writes()
        assert sorted(rests) == [b"frame 7", b"frame 9"]
        assert pairs[8][1].recv(100) == b"frame 8"
    finally:
        for a, b in pairs:
            a.close()
            b.close()
