"""The media proxy: `mxc://` content for signed-in sessions, streamed from the homeserver."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from email.message import Message
from urllib.parse import quote

import aiohttp
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from webclient.matrix.models import credential_for
from webclient.matrix import media
from webclient.matrix.models import Credential

logger = logging.getLogger("webclient.media")

CHUNK = 64 * 1024
# A grey box with a broken-file mark: what an <img> shows when the file cannot be had.
PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="72" viewBox="0 0 96 72">'
    '<rect width="96" height="72" rx="6" fill="#d8dde3"/>'
    '<path d="M30 50l12-16 9 11 7-8 10 13z" fill="#8a94a0"/>'
    '<circle cx="62" cy="26" r="6" fill="#8a94a0"/></svg>'
)
SECURITY_HEADERS = {
    "Content-Security-Policy": media.MEDIA_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
}


def _secure(response: HttpResponse) -> HttpResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def _placeholder(status: int, reason: str) -> HttpResponse:
    # The placeholder is our own constant SVG, served under the same sandboxing CSP.
    response = HttpResponse(PLACEHOLDER_SVG, status=status, content_type="image/svg+xml")
    _secure(response)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Media-Error"] = reason
    return response


def _filename_from(disposition: str | None) -> str | None:
    if not disposition:
        return None
    message = Message()
    message["content-disposition"] = disposition
    return message.get_filename()


def _disposition(kind: str, filename: str | None) -> str:
    if not filename:
        return kind
    safe = media.safe_filename(filename)
    ascii_name = safe.encode("ascii", "replace").decode().replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe)}"


async def _proxy(
    request: HttpRequest,
    upstream_path: str,
    params: dict[str, str],
    credential: Credential | None,
) -> HttpResponse:
    if credential is None:
        return _placeholder(403, "not signed in")
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=settings.MATRIX_REQUEST_TIMEOUT, sock_read=120
        )
    )
    try:
        upstream = await session.get(
            f"{credential.homeserver}{upstream_path}",
            params=params,
            # Ask for the bytes as stored: aiohttp would undo a compression a reverse proxy
            # in front of the homeserver adds, and the upstream length would then be wrong.
            headers={
                "Authorization": f"Bearer {credential.access_token}",
                "Accept-Encoding": "identity",
            },
            allow_redirects=True,  # the spec lets servers redirect downloads (307/308)
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        await session.close()
        logger.info("media fetch failed: %s", exc)
        return _placeholder(502, "homeserver unreachable")
    if upstream.status != 200:
        status = upstream.status
        upstream.release()
        await session.close()
        reason = {404: "not found", 403: "forbidden", 401: "forbidden"}.get(status, "unavailable")
        return _placeholder(404 if status in (401, 403, 404) else 502, reason)

    content_type = upstream.headers.get("Content-Type", "application/octet-stream")
    filename = request.GET.get("filename") or _filename_from(
        upstream.headers.get("Content-Disposition")
    )

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK):
                yield chunk
        finally:
            upstream.release()
            await session.close()

    inline = media.is_inline(content_type)
    if not inline:
        # Offered for saving only, under a type no browser acts on. Our pages allow script
        # and style from 'self', and this proxy is 'self': with `nosniff`, an uploaded
        # text/javascript or text/css file can then never be loaded as a script or stylesheet
        # (the file name keeps its extension for the download).
        content_type = "application/octet-stream"
    response = StreamingHttpResponse(body(), content_type=content_type)
    _secure(response)
    kind = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = _disposition(kind, filename)
    encoding = upstream.headers.get("Content-Encoding", "identity").strip().lower()
    if (length := upstream.headers.get("Content-Length")) and encoding == "identity":
        # Only a length of the bytes we pass on (aiohttp decompresses a compressed body).
        response.headers["Content-Length"] = length
    # mxc content never changes; only this browser's session may reuse it.
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


async def serve_download(
    request: HttpRequest, credential: Credential | None, server_name: str, media_id: str
) -> HttpResponse:
    """A download through `credential` (the signed-in one, or an embed's or kiosk's)."""
    if not media.valid_parts(server_name, media_id):
        return _placeholder(404, "invalid media address")
    upstream = f"/_matrix/client/v1/media/download/{server_name}/{media_id}"
    return await _proxy(request, upstream, {}, credential)


async def serve_thumbnail(
    request: HttpRequest, credential: Credential | None, server_name: str, media_id: str
) -> HttpResponse:
    if not media.valid_parts(server_name, media_id):
        return _placeholder(404, "invalid media address")
    try:
        width = max(1, min(int(request.GET.get("width", "320")), 1600))
        height = max(1, min(int(request.GET.get("height", "240")), 1600))
    except ValueError:
        return _placeholder(400, "bad size")
    method = request.GET.get("method", "scale")
    if method not in media.THUMBNAIL_METHODS:
        method = "scale"
    params = {"width": str(width), "height": str(height), "method": method}
    return await _proxy(
        request, f"/_matrix/client/v1/media/thumbnail/{server_name}/{media_id}", params, credential
    )


@require_GET
async def download(request: HttpRequest, server_name: str, media_id: str) -> HttpResponse:
    credential = await credential_for(request.session)
    return await serve_download(request, credential, server_name, media_id)


@require_GET
async def thumbnail(request: HttpRequest, server_name: str, media_id: str) -> HttpResponse:
    credential = await credential_for(request.session)
    return await serve_thumbnail(request, credential, server_name, media_id)
