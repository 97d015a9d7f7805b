"""The media proxy and uploads against a real Synapse.

"Another client" uploads files and sends messages with plain HTTP; a signed-in session of our
client (pytest-django's async_client) fetches them through `/media/...`, and uploads through the
composer's `send_view`. What was sent is always checked on the homeserver.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse
from django.test import AsyncClient
from django.urls import reverse
from PIL import Image

from tests.matrix_helpers import q
from tests.media_helpers import download_raw, image_bytes, read_all, send_content, upload_raw
from tests.synapse_fixtures import matrix_api
from webclient.demo.homeserver import LocalSynapse, RegisteredUser
from webclient.matrix import media
from webclient.matrix.models import Credential

CS = "/_matrix/client/v3"

HTML_FILE = (
    b"<!doctype html><html><body><h1>hi</h1>"
    b"<script>document.title='pwned';alert(document.cookie)</script></body></html>"
)
SVG_FILE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.domain)</script><rect width='10' height='10'/></svg>"
)


def create_shared_room(hs: LocalSynapse, creator: RegisteredUser, member: RegisteredUser) -> str:
    room_id = matrix_api(
        hs.url, creator.access_token, "POST", f"{CS}/createRoom", {"preset": "private_chat"}
    )["room_id"]
    matrix_api(
        hs.url,
        creator.access_token,
        "POST",
        f"{CS}/rooms/{q(room_id)}/invite",
        {"user_id": member.user_id},
    )
    matrix_api(hs.url, member.access_token, "POST", f"{CS}/rooms/{q(room_id)}/join", {})
    return room_id


def room_messages(hs: LocalSynapse, user: RegisteredUser, room_id: str) -> list[dict[str, Any]]:
    path = f"{CS}/rooms/{q(room_id)}/messages?dir=b&limit=50"
    chunk = matrix_api(hs.url, user.access_token, "GET", path)["chunk"]
    return [e for e in chunk if e.get("type") == "m.room.message"]


def get_event(hs: LocalSynapse, user: RegisteredUser, room_id: str, event_id: str) -> dict:
    path = f"{CS}/rooms/{q(room_id)}/event/{q(event_id)}"
    return matrix_api(hs.url, user.access_token, "GET", path)


def new_user(hs: LocalSynapse, prefix: str) -> RegisteredUser:
    localpart = f"{prefix}-{uuid.uuid4().hex[:10]}"
    return hs.register(localpart, f"pw-{localpart}")


async def sign_in(client: AsyncClient, hs: LocalSynapse, user: RegisteredUser) -> None:
    response = await client.post(
        "/login/",
        {
            "mode": "password",
            "homeserver": hs.url,
            "username": user.localpart,
            "password": user.password,
        },
    )
    assert response.status_code == 302, response.content[:2000]


async def media_requests(hs: LocalSynapse, user_id: str) -> int:
    """Requests of `user_id` to the homeserver's media endpoints (access log lines are written
    when a request finishes, so give the log a moment first)."""
    await asyncio.sleep(0.5)
    return hs.count_requests("/_matrix/client/v1/media/", user_id=user_id)


def proxy_path(mxc: str, thumbnail: str = "") -> str:
    parsed = media.parse_mxc(mxc)
    assert parsed is not None
    return f"/media/{parsed.server_name}/{parsed.media_id}/{thumbnail}"


def assert_sandboxed(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == media.MEDIA_CSP
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def assert_placeholder(response, status: int) -> bytes:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.headers.get("X-Media-Error")
    assert response.headers["Cache-Control"] == "no-store"
    assert_sandboxed(response)
    body = response.content
    assert body.startswith(b"<svg")
    assert b"Traceback" not in body and b'File "' not in body
    return body


# -- fixtures --------------------------------------------------------------------------------


@dataclass
class MediaRoom:
    other: RegisteredUser
    me: RegisteredUser
    room_id: str
    png: bytes
    big: bytes
    mxc: dict[str, str]
    events: dict[str, str]


@pytest.fixture(scope="module")
def media_room(synapse) -> MediaRoom:
    """Another user uploads five files and sends a message with each into a room with us."""
    other = new_user(synapse, "uploader")
    me = new_user(synapse, "viewer")
    room_id = create_shared_room(synapse, other, me)
    png = image_bytes(400, 300)
    gif = image_bytes(20, 10, "GIF")
    big = os.urandom(5 * 1024 * 1024)
    files = {
        "png": (png, "image/png", "photo.png", "m.image", {"w": 400, "h": 300}),
        "gif": (gif, "image/gif", "anim.gif", "m.image", {"w": 20, "h": 10}),
        "html": (HTML_FILE, "text/html", "page.html", "m.file", {}),
        "svg": (SVG_FILE, "image/svg+xml", "drawing.svg", "m.image", {"w": 10, "h": 10}),
        "big": (big, "application/octet-stream", "big.bin", "m.file", {}),
    }
    mxc, events = {}, {}
    for key, (data, content_type, name, msgtype, dims) in files.items():
        mxc[key] = upload_raw(synapse, other.access_token, data, content_type, name)
        info = {"mimetype": content_type, "size": len(data), **dims}
        content = {"msgtype": msgtype, "body": name, "url": mxc[key], "info": info}
        events[key] = send_content(synapse, other, room_id, content)
    return MediaRoom(other, me, room_id, png, big, mxc, events)


class SmallLimitSynapse(LocalSynapse):
    """A homeserver that accepts uploads of at most 1 MiB."""

    def build_config(self) -> dict[str, Any]:
        config = super().build_config()
        config["max_upload_size"] = "1M"
        return config


@pytest.fixture(scope="module")
def small_synapse(tmp_path_factory) -> SmallLimitSynapse:
    hs = SmallLimitSynapse(Path(tmp_path_factory.mktemp("synapse-small")))
    with hs:
        yield hs


# -- the proxy -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_room_page_shows_every_file_through_our_proxy(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    response = await async_client.get(reverse("rooms:room", args=[media_room.room_id]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "mxc://" not in page
    for key in ("png", "gif", "html", "svg", "big"):
        assert proxy_path(media_room.mxc[key]) in page, key
    # No address of the homeserver's media (the homeserver's URL may be named, not linked).
    assert "/_matrix/" not in page
    assert f'src="{synapse.url}' not in page and f'href="{synapse.url}' not in page
    credential = await Credential.objects.aget(user_id=media_room.me.user_id)
    assert credential.access_token not in page


@pytest.mark.django_db(transaction=True)
async def test_png_is_served_inline_and_sandboxed(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    response = await async_client.get(proxy_path(media_room.mxc["png"]))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert 'filename="photo.png"' in response.headers["Content-Disposition"]
    assert_sandboxed(response)
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert await read_all(response) == media_room.png


@pytest.mark.django_db(transaction=True)
async def test_gif_is_served_inline(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    response = await async_client.get(proxy_path(media_room.mxc["gif"]))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert_sandboxed(response)
    assert (await read_all(response)).startswith(b"GIF8")


@pytest.mark.parametrize(("key", "data"), [("html", HTML_FILE), ("svg", SVG_FILE)])
@pytest.mark.django_db(transaction=True)
async def test_html_and_svg_are_attachments(async_client, synapse, media_room, key, data):
    await sign_in(async_client, synapse, media_room.me)
    for query in ("", "?filename=x.html"):
        response = await async_client.get(proxy_path(media_room.mxc[key]) + query)
        assert response.status_code == 200
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment"), disposition
        assert not disposition.startswith("inline")
        assert_sandboxed(response)
        # Not even the type is passed on: with nosniff, nothing can use it as a document,
        # script or stylesheet.
        assert response.headers["Content-Type"] == "application/octet-stream"
        # The bytes are passed on unchanged; the headers are what keep them from running.
        assert await read_all(response) == data


@pytest.mark.django_db(transaction=True)
async def test_hostile_filename_parameter_is_made_safe(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    name = quote('..\\../evil"\r\nSet-Cookie: a=b;.png', safe="")
    response = await async_client.get(proxy_path(media_room.mxc["png"]) + "?filename=" + name)
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert "Set-Cookie" not in response.headers or "a=b" not in response.headers["Set-Cookie"]
    assert ".." not in disposition and "\\" not in disposition
    assert disposition.startswith('inline; filename="evilSet-Cookie: a=b.png"'), disposition
    await read_all(response)


@pytest.mark.django_db(transaction=True)
async def test_five_megabytes_stream_completely(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    response = await async_client.get(proxy_path(media_room.mxc["big"]))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response.streaming
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Length"] == str(len(media_room.big))
    assert_sandboxed(response)
    chunks = [chunk async for chunk in response.streaming_content]
    assert len(chunks) > 1  # streamed, not buffered into one piece
    assert b"".join(chunks) == media_room.big


@pytest.mark.django_db(transaction=True)
async def test_thumbnail_of_the_png(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    path = proxy_path(media_room.mxc["png"], "thumbnail/")
    for query, max_size in (
        ("?width=96&height=96&method=crop", 96),
        ("?width=320&height=240", 320),
    ):
        response = await async_client.get(path + query)
        assert response.status_code == 200, response.headers.get("X-Media-Error")
        assert response.headers["Content-Type"] in ("image/png", "image/jpeg")
        assert response.headers["Content-Disposition"].startswith("inline")
        assert_sandboxed(response)
        with Image.open(io.BytesIO(await read_all(response))) as image:
            assert 0 < image.width <= max_size and 0 < image.height <= max_size


@pytest.mark.django_db(transaction=True)
async def test_thumbnail_with_a_bad_size_is_refused(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    path = proxy_path(media_room.mxc["png"], "thumbnail/")
    before = await media_requests(synapse, media_room.me.user_id)
    assert_placeholder(await async_client.get(path + "?width=abc&height=1"), 400)
    assert await media_requests(synapse, media_room.me.user_id) == before
    # Out-of-range sizes and methods are clamped, not passed on.
    response = await async_client.get(path + "?width=-5&height=999999&method=evil")
    assert response.status_code == 200
    await read_all(response)


@pytest.mark.django_db(transaction=True)
async def test_missing_media_is_a_placeholder(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    for path in ("/media/localhost/NoSuchMedia123/", "/media/localhost/NoSuchMedia123/thumbnail/"):
        body = assert_placeholder(await async_client.get(path), 404)
        assert b"NoSuchMedia" not in body


@pytest.mark.django_db(transaction=True)
async def test_unreachable_homeserver_is_a_placeholder(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    credential = await Credential.objects.aget(user_id=media_room.me.user_id)
    credential.homeserver = "http://127.0.0.1:9"  # discard port: nothing listens
    await credential.asave()
    response = await async_client.get(proxy_path(media_room.mxc["png"]))
    assert_placeholder(response, 502)


INVALID_PATHS = [
    "/media/a..b/x/",
    "/media/.localhost/x/",
    "/media/local%20host/x/",
    "/media/localhost%3F/x/",
    "/media/localhost%23/x/",
    "/media/localhost%5C/x/",
    "/media/localhost/bad.id/",
    "/media/localhost/..%5C..%5Cx/",
    "/media/localhost/x%0A/",
    "/media/localhost%0A/x/",
    "/media/localhost/x%25/",
    "/media/localhost/%C3%A9/",
    "/media/xn--%C3%A9/x/",
    "/media/localhost:99999999/x/",
    "/media/" + "a" * 64 + "/x/",
    "/media/localhost/" + "x" * 256 + "/",
    "/media/a..b/x/thumbnail/",
    "/media/localhost/bad.id/thumbnail/?width=10&height=10",
]


@pytest.mark.django_db(transaction=True)
async def test_invalid_addresses_never_reach_the_homeserver(async_client, synapse, media_room):
    me = media_room.me
    await sign_in(async_client, synapse, me)
    before = await media_requests(synapse, me.user_id)
    for path in INVALID_PATHS:
        assert_placeholder(await async_client.get(path), 404)
    # Paths the router does not take at all are plain 404s, and no request either.
    for path in ("/media/localhost/a/b/", "/media/localhost/..%2F..%2Fx/", "/media/../x/"):
        response = await async_client.get(path)
        assert response.status_code == 404, path
    assert await media_requests(synapse, me.user_id) == before
    # The counter does see our requests: one valid fetch is one more.
    response = await async_client.get(proxy_path(media_room.mxc["gif"]))
    assert response.status_code == 200
    await read_all(response)
    assert await media_requests(synapse, me.user_id) == before + 1


@pytest.mark.django_db(transaction=True)
async def test_not_signed_in_is_forbidden(synapse, media_room):
    client = AsyncClient()
    for path in (
        proxy_path(media_room.mxc["png"]),
        proxy_path(media_room.mxc["png"], "thumbnail/?width=96&height=96"),
    ):
        assert_placeholder(await client.get(path), 403)


@pytest.mark.django_db(transaction=True)
async def test_other_methods_are_refused(async_client, synapse, media_room):
    await sign_in(async_client, synapse, media_room.me)
    response = await async_client.post(proxy_path(media_room.mxc["png"]))
    assert response.status_code == 405


# -- uploads through send_view ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_upload_image_with_json(async_client, synapse, make_user):
    me, other = make_user("sender"), make_user("reader")
    room_id = create_shared_room(synapse, other, me)
    await sign_in(async_client, synapse, me)
    png = image_bytes(321, 123)
    response = await async_client.post(
        reverse("rooms:send", args=[room_id]),
        {
            "file": SimpleUploadedFile("holiday.png", png, content_type="image/png"),
            "body": "",
            "txn_id": "wcupload1",
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["ok"] is True and answer["txn_id"] == "wcupload1"
    event = get_event(synapse, other, room_id, answer["event_id"])
    assert event["sender"] == me.user_id
    assert event["unsigned"].get("transaction_id") is None  # another device's view
    content = event["content"]
    assert content["msgtype"] == "m.image"
    assert content["body"] == "holiday.png"
    assert "filename" not in content
    assert content["info"] == {
        "mimetype": "image/png",
        "size": len(png),
        "w": 321,
        "h": 123,
        "is_animated": False,
    }
    assert media.parse_mxc(content["url"]) is not None
    assert media.parse_mxc(content["url"]).server_name == "localhost"
    assert download_raw(synapse, other.access_token, content["url"]) == png
    # And our proxy gives the same bytes back.
    proxied = await async_client.get(proxy_path(content["url"]))
    assert await read_all(proxied) == png


@pytest.mark.django_db(transaction=True)
async def test_upload_file_with_caption(async_client, synapse, make_user):
    me, other = make_user("sender"), make_user("reader")
    room_id = create_shared_room(synapse, other, me)
    await sign_in(async_client, synapse, me)
    data = b"%PDF-1.4\n" + os.urandom(3000)
    response = await async_client.post(
        reverse("rooms:send", args=[room_id]),
        {
            "file": SimpleUploadedFile("notes.pdf", data, content_type="application/pdf"),
            "body": "the **notes**",
            "txn_id": "wcupload2",
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.content
    content = get_event(synapse, other, room_id, response.json()["event_id"])["content"]
    assert content["msgtype"] == "m.file"
    assert content["body"] == "the **notes**"
    assert content["filename"] == "notes.pdf"
    assert "<strong>notes</strong>" in content["formatted_body"]
    assert content["info"] == {"mimetype": "application/pdf", "size": len(data)}
    assert download_raw(synapse, other.access_token, content["url"]) == data


@pytest.mark.django_db(transaction=True)
async def test_upload_without_javascript_redirects(async_client, synapse, make_user):
    me, other = make_user("sender"), make_user("reader")
    room_id = create_shared_room(synapse, other, me)
    await sign_in(async_client, synapse, me)
    gif = image_bytes(30, 20, "GIF")
    response = await async_client.post(
        reverse("rooms:send", args=[room_id]),
        {"file": SimpleUploadedFile("nojs.gif", gif, content_type="image/gif"), "body": ""},
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("rooms:room", args=[room_id]))
    sent = [e for e in room_messages(synapse, other, room_id) if e["sender"] == me.user_id]
    assert len(sent) == 1
    content = sent[0]["content"]
    assert content["msgtype"] == "m.image" and content["body"] == "nojs.gif"
    assert (content["info"]["w"], content["info"]["h"]) == (30, 20)
    assert download_raw(synapse, other.access_token, content["url"]) == gif


@pytest.mark.django_db(transaction=True)
async def test_upload_over_the_limit_is_refused(async_client, small_synapse):
    config = matrix_api(
        small_synapse.url,
        new_user(small_synapse, "cfg").access_token,
        "GET",
        "/_matrix/client/v1/media/config",
    )
    assert config["m.upload.size"] == 1024 * 1024
    me, other = new_user(small_synapse, "sender"), new_user(small_synapse, "reader")
    room_id = create_shared_room(small_synapse, other, me)
    await sign_in(async_client, small_synapse, me)
    uploads_before = small_synapse.count_requests("/_matrix/media/v3/upload")

    # The room page tells the browser the limit.
    page = await async_client.get(reverse("rooms:room", args=[room_id]))
    assert f'data-upload-limit="{1024 * 1024}"' in page.content.decode()

    too_big = os.urandom(1024 * 1024 + 512 * 1024)
    response = await async_client.post(
        reverse("rooms:send", args=[room_id]),
        {
            "file": SimpleUploadedFile("huge.bin", too_big, content_type="application/zip"),
            "txn_id": "wcbig1",
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 413, response.content
    answer = response.json()
    assert answer["ok"] is False
    assert "1.0\xa0MB" in answer["error"] or "1.0 MB" in answer["error"], answer
    assert "1.5" in answer["error"], answer
    assert "Traceback" not in answer["error"]

    # Without JavaScript: the room page again, with the error and a 400.
    response = await async_client.post(
        reverse("rooms:send", args=[room_id]),
        {"file": SimpleUploadedFile("huge.bin", too_big, content_type="application/zip")},
    )
    assert response.status_code == 400
    assert "accepts files up to 1.0" in response.content.decode()

    await asyncio.sleep(0.5)
    assert small_synapse.count_requests("/_matrix/media/v3/upload") == uploads_before
    assert [
        e for e in room_messages(small_synapse, other, room_id) if e["sender"] == me.user_id
    ] == []

    # Under the limit still works on the same server.
    ok = await async_client.post(
        reverse("rooms:send", args=[room_id]),
        {"file": SimpleUploadedFile("ok.bin", b"x" * 1000, content_type="application/zip")},
        headers={"Accept": "application/json"},
    )
    assert ok.status_code == 200 and ok.json()["ok"] is True


# -- a homeserver behind a compressing reverse proxy -----------------------------------------


@pytest.fixture
async def gzip_front(synapse):
    """A reverse proxy in front of Synapse that gzips what it can (as nginx with `gzip on`
    and `gzip_types *` does): the media proxy must not pass on a compressed length.

    Yields `(url, mode)`; `mode["always"] = True` makes it gzip even when not asked to."""
    import gzip

    import aiohttp
    from aiohttp import web

    from tests.server import free_port

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {}
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        async with (
            aiohttp.ClientSession(auto_decompress=False) as http,
            http.get(
                synapse.url + request.rel_url.raw_path_qs, headers=headers, allow_redirects=False
            ) as upstream,
        ):
            body = await upstream.read()
            out = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() in ("content-type", "content-disposition")
            }
        if mode["always"] or "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            out["Content-Encoding"] = "gzip"
        return web.Response(status=upstream.status, body=body, headers=out)

    mode = {"always": False}
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", mode
    await runner.cleanup()


@pytest.mark.parametrize("always", [False, True])
@pytest.mark.django_db(transaction=True)
async def test_compressed_upstream_is_passed_on_whole(
    async_client, synapse, media_room, gzip_front, always
):
    url, mode = gzip_front
    mode["always"] = always
    await sign_in(async_client, synapse, media_room.me)
    credential = await Credential.objects.aget(user_id=media_room.me.user_id)
    credential.homeserver = url
    await credential.asave()
    for key, expected in (("html", HTML_FILE), ("png", media_room.png), ("big", media_room.big)):
        response = await async_client.get(proxy_path(media_room.mxc[key]))
        assert response.status_code == 200
        body = await read_all(response)
        assert body == expected, key
        assert "Content-Encoding" not in response.headers
        if "Content-Length" in response.headers:
            assert response.headers["Content-Length"] == str(len(expected))
