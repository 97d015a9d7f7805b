"""gzip of pages and static files in the plain configuration (web/middleware.py's
CompressMiddleware): whole, readable bodies; media and partial answers left alone."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse
from django.test import AsyncClient, RequestFactory

from webclient.web.middleware import CompressMiddleware


async def body_of(response) -> bytes:  # noqa: ANN001
    if response.streaming:
        return b"".join([chunk async for chunk in response])
    return response.content


async def test_a_static_script_comes_gzipped_in_one_piece():
    # Larger than a file-serving chunk: each chunk compressed apart would leave a browser
    # with the first chunk only.
    client = AsyncClient()
    response = await client.get("/static/js/live.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    body = await body_of(response)
    assert int(response.headers["Content-Length"]) == len(body)
    source = Path(settings.BASE_DIR) / "static" / "js" / "live.js"
    # One gzip member holding the whole file (browsers stop after the first member).
    member = zlib.decompressobj(wbits=31)
    assert member.decompress(body) == source.read_bytes()
    assert member.eof and member.unused_data == b""
    assert len(body) < len(source.read_bytes()) / 2


async def test_without_accept_encoding_nothing_is_compressed():
    response = await AsyncClient().get("/static/js/live.js")
    assert "Content-Encoding" not in response.headers


def _answer(content_type: str, status: int = 200):  # noqa: ANN202
    async def get_response(request):  # noqa: ANN001, ANN202
        return HttpResponse(b"x" * 5000, content_type=content_type, status=status)

    return get_response


async def test_pages_are_compressed_media_and_partial_answers_are_not():
    request = RequestFactory().get("/rooms/", headers={"Accept-Encoding": "gzip, br"})
    page = await CompressMiddleware(_answer("text/html; charset=utf-8"))(request)
    assert page.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(page.content) == b"x" * 5000
    image = await CompressMiddleware(_answer("image/png"))(request)
    assert "Content-Encoding" not in image.headers
    partial = await CompressMiddleware(_answer("text/plain", 206))(request)
    assert "Content-Encoding" not in partial.headers
