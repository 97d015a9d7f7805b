"""Media as another client has it: pictures made on the spot, raw uploads and downloads on
Synapse's media API (matrix_api only sends JSON), messages that carry media, and the body of a
(streamed) response of the client's media proxy."""

from __future__ import annotations

import io
import json
import urllib.request
import uuid

from PIL import Image

from tests.matrix_helpers import CLIENT, q
from tests.synapse_fixtures import matrix_api
from webclient.demo.homeserver import LocalSynapse, RegisteredUser
from webclient.matrix import media

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, fmt)
    return out.getvalue()


def upload_raw(hs: LocalSynapse, token: str, data: bytes, content_type: str, name: str) -> str:
    """Upload as another client (matrix_api only sends JSON); returns the mxc URI."""
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{hs.url}/_matrix/media/v3/upload?filename={q(name)}",
        data=data,
        method="POST",
        headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
    )
    with _OPENER.open(request, timeout=60) as response:
        return json.load(response)["content_uri"]


def download_raw(hs: LocalSynapse, token: str, mxc: str) -> bytes:
    parsed = media.parse_mxc(mxc)
    assert parsed is not None, mxc
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{hs.url}/_matrix/client/v1/media/download/{parsed.server_name}/{parsed.media_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with _OPENER.open(request, timeout=60) as response:
        return response.read()


def send_content(hs: LocalSynapse, user: RegisteredUser, room_id: str, content: dict) -> str:
    path = f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/{uuid.uuid4().hex}"
    return matrix_api(hs.url, user.access_token, "PUT", path, content)["event_id"]


def send_picture(
    hs: LocalSynapse, user: RegisteredUser, room_id: str, width: int = 800, height: int = 600
) -> str:
    """Upload a PNG as `user` and send it as an `m.image` (chart.png); returns the event ID."""
    png = image_bytes(width, height)
    mxc = upload_raw(hs, user.access_token, png, "image/png", "chart.png")
    info = {"mimetype": "image/png", "size": len(png), "w": width, "h": height}
    content = {"msgtype": "m.image", "body": "chart.png", "url": mxc, "info": info}
    return send_content(hs, user, room_id, content)


async def read_all(response) -> bytes:
    if response.streaming:
        return b"".join([chunk async for chunk in response.streaming_content])
    return response.content
