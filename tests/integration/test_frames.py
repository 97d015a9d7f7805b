"""A push is framed once and the same bytes go to every socket of a variant (live/frames.py,
ops/lifecycle.py's writer): every kind of viewer still gets exactly its frames, each event
once and in order.

Real Synapse, real daphne processes (one on SQLite with the in-memory layer; two on
PostgreSQL and Redis, the viewers on both), sockets and pages over HTTP as browsers use them.
The viewers: a signed-in room page, a signed-in room list, two kiosk screens of one link, a
read-only embed and an embed with a composer (each embed page has its own ticket, hence its
own media prefix). The pushes: plain text, an image (its fragment points at media, which
each screen must get under its own prefix), and a message whose frame is longer than 65,535
bytes (the longest length encoding of a websocket frame).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from html import unescape
from pathlib import Path

import aiohttp
import pytest

from tests.cluster_helpers import Cluster, Socket, Visitor, page_position
from tests.matrix_helpers import send, shared_room
from tests.media_helpers import image_bytes, send_content, upload_raw
from tests.server import start_webclient, stop_webclient

pytestmark = pytest.mark.timeout(300)

MEDIA = re.compile(r'(?:src|href)="([^"]*?/media/[^"]*)"')


class RawSocket(Socket):
    """`Socket`, keeping each frame's text as it came off the wire too."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.texts: list[str] = []
        super().__init__(ws)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.texts.append(message.data)
                    self.frames.append(json.loads(message.data))
                    self._arrived.set()
        finally:
            self.closed.set()
            self._arrived.set()

    def events_texts(self) -> list[str]:
        return [t for t, f in zip(self.texts, self.frames, strict=True) if f["type"] == "events"]


def _first_difference(texts: list[str]) -> str:
    """Where two frames that should be the same differ (for the assertion's message)."""
    a, b = texts[0], texts[1]
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    return (
        f"{len(texts)} frames differ at {at}: {a[at - 80 : at + 80]!r} / {b[at - 80 : at + 80]!r}"
    )


async def open_socket(visitor: Visitor, url: str, **params: str) -> RawSocket:
    from urllib.parse import urlencode

    ws_url = "ws" + url.removeprefix("http") + "/ws/?" + urlencode(params)
    ws = await visitor.http.ws_connect(ws_url, headers={"Origin": url}, max_msg_size=0)
    socket = RawSocket(ws)
    hello = await socket.next(timeout=30)
    assert hello["type"] == "hello", hello
    return socket


async def make_kiosk(visitor: Visitor, url: str, password: str, room_id: str) -> str:
    _, links = await visitor.get(f"{url}/settings/kiosks/")
    status, made = await visitor.post(
        f"{url}/settings/kiosks/new/",
        links,
        {"name": "wall", "rooms": room_id, "theme": "dark", "scale": "1", "password": password},
    )
    assert status == 200, made[-2000:]
    match = re.search(r'id="new-kiosk-url" value="([^"]+)"', made)
    assert match, "no kiosk URL on the page"
    return unescape(match.group(1)).rstrip("/").rsplit("/", 1)[1]


async def embed_socket(visitor: Visitor, url: str, room_id: str, **query: str) -> RawSocket:
    status, page = await visitor.get(f"{url}/embed/{room_id}/", **query)
    assert status == 200, page[-2000:]
    ticket = unescape(re.search(r'data-ws-ticket="([^"]+)"', page).group(1))
    epoch, pos = page_position(page)
    socket = await open_socket(visitor, url, ticket=ticket, epoch=epoch, pos=str(pos))
    socket.prefix = f"/embed/t/{ticket}/"  # type: ignore[attr-defined]
    return socket


async def every_viewer_gets_its_frames(synapse, make_user, owner_url: str, urls: list[str]) -> None:
    """Viewers of every kind on each of `urls` (the device runs on `owner_url`)."""
    me = make_user("me", displayname="Me")
    bob = make_user("bob", displayname="Bob")
    room_id = await shared_room(synapse, bob, me, name="Frames")
    visitor = Visitor()
    kiosk_visitor = Visitor()
    sockets: list[RawSocket] = []
    try:
        await visitor.sign_in(owner_url, synapse.url, me)
        token = await make_kiosk(visitor, owner_url, me.password, room_id)
        status, kiosk_page = await kiosk_visitor.get(f"{owner_url}/kiosk/{token}/")
        assert status == 200, kiosk_page[-2000:]
        pages: dict[str, list[RawSocket]] = {}
        for url in urls:
            status, page = await visitor.get(f"{url}/rooms/{room_id}/")
            assert status == 200, page[-2000:]
            epoch, pos = page_position(page)
            kepoch, kpos = page_position(kiosk_page)
            kinds = {
                "page": [await open_socket(visitor, url, room=room_id, epoch=epoch, pos=str(pos))],
                "list": [await open_socket(visitor, url)],
                "kiosk": [
                    await open_socket(kiosk_visitor, url, kiosk=token, epoch=kepoch, pos=str(kpos))
                    for _ in range(2)
                ],
                "embed": [
                    await embed_socket(visitor, url, room_id),
                    await embed_socket(visitor, url, room_id, composer="1"),
                ],
            }
            for kind, opened in kinds.items():
                pages.setdefault(kind, []).extend(opened)
                sockets += opened

        text = await send(synapse, bob, room_id, f"plain {uuid.uuid4().hex[:6]}")
        # Escaped in HTML and again in JSON: a frame well over 65,535 bytes.
        long = await send(synapse, bob, room_id, "&<> " * 7_000)
        screens = pages["page"] + pages["kiosk"] + pages["embed"]

        async def arrived(wanted: list[str]) -> None:
            for socket in screens:
                await socket.wait_for(
                    lambda f, s=socket: all(e in s.event_ids() for e in wanted),
                    timeout=60,
                    seen=True,
                )

        # The image only once those are everywhere: a push of its own (a push that also
        # carried the image would point at media, and differ per embed).
        await arrived([text, long])
        mxc = upload_raw(synapse, bob.access_token, image_bytes(40, 30), "image/png", "p.png")
        image = send_content(
            synapse,
            bob,
            room_id,
            {"msgtype": "m.image", "body": "p.png", "url": mxc, "info": {"w": 40, "h": 30}},
        )
        sent = [text, long, image]
        await arrived(sent)
        await pages["list"][0].wait_for(
            lambda f: f["type"] == "room" and f["room_id"] == room_id, timeout=30, seen=True
        )
        await asyncio.sleep(1.0)  # anything doubled or late

        for socket in pages["page"] + pages["kiosk"] + pages["embed"]:
            ours = [e for e in socket.event_ids() if e in sent]
            assert ours == sent, "each event once, in order"
            positions = [f["pos"] for f in socket.frames if f["type"] == "events"]
            assert positions == sorted(set(positions))
            assert max(len(t.encode()) for t in socket.events_texts()) > 65535
        for socket in sockets:
            kinds_seen = {f["type"] for f in socket.frames}
            if socket in pages["list"]:
                assert "events" not in kinds_seen
            if socket not in pages["page"] + pages["list"]:
                # A screen hears no person's counts, notifications, room list or receipts.
                assert not kinds_seen & {"room", "unread", "notify", "receipts", "rooms"}

        def image_frame(socket: RawSocket) -> dict:
            return next(
                item
                for f in socket.frames
                if f["type"] == "events"
                for item in f["events"]
                if item["event_id"] == image
            )

        def frame_of(socket: RawSocket, event_id: str) -> str:
            return next(
                t
                for t, f in zip(socket.texts, socket.frames, strict=True)
                if f["type"] == "events" and any(i["event_id"] == event_id for i in f["events"])
            )

        # Media under each viewer's own path: the cookie's /media/ for the page, the link's
        # for kiosk screens, each ticket's for embeds.
        for socket in pages["page"]:
            urls_in = MEDIA.findall(image_frame(socket)["html"])
            assert urls_in and all(u.startswith("/media/") for u in urls_in), urls_in
        for socket in pages["kiosk"]:
            urls_in = MEDIA.findall(image_frame(socket)["html"])
            assert urls_in and all(u.startswith(f"/kiosk/{token}/media/") for u in urls_in)
        for socket in pages["embed"]:
            urls_in = MEDIA.findall(image_frame(socket)["html"])
            assert urls_in and all(u.startswith(socket.prefix) for u in urls_in), urls_in
        embed_images = {frame_of(s, image) for s in pages["embed"]}
        assert len(embed_images) == len(pages["embed"]), "each embed its own media prefix"

        # Frames without media are the same bytes for every viewer of the device: the signed-in
        # page and the embeds read through the login's device, the kiosk screens through the
        # link's own.
        for event_id in (text, long):
            for viewers in (pages["page"] + pages["embed"], pages["kiosk"]):
                distinct = sorted({frame_of(s, event_id) for s in viewers})
                assert len(distinct) == 1, _first_difference(distinct)
        assert len({frame_of(s, image) for s in pages["kiosk"]}) == 1
    finally:
        for socket in sockets:
            await socket.close()
        await visitor.close()
        await kiosk_visitor.close()


async def test_every_viewer_of_one_process_gets_its_frames(synapse, make_user, tmp_path: Path):
    server = start_webclient(tmp_path / "one", synapse.url)
    try:
        await every_viewer_gets_its_frames(synapse, make_user, server.url, [server.url])
        log = server.log()
        assert "Traceback" not in log, log[-3000:]
    finally:
        stop_webclient(server)


async def test_every_viewer_on_two_processes_gets_its_frames(synapse, make_user, tmp_path: Path):
    cluster = Cluster.create(tmp_path, synapse.url)
    try:
        cluster.start("a")
        cluster.start("b")
        a, b = cluster.url("a"), cluster.url("b")
        await every_viewer_gets_its_frames(synapse, make_user, a, [a, b])
    finally:
        cluster.close()
