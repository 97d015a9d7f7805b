"""The media proxy: `mxc://` content streamed from the homeserver through a credential (the
signed-in one, or an embed's or kiosk screen's), served so it can never run script here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from email.message import Message
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from webclient.live.devices import RemoteError, device_for
from webclient.matrix import errors, media
from webclient.matrix.api import HomeserverApi
from webclient.matrix.crypto.attachments import AttachmentDecryptor
from webclient.matrix.crypto.errors import CryptoError
from webclient.matrix.models import Credential

logger = logging.getLogger("webclient.web")

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
    server_name: str,
    media_id: str,
    credential: Credential | None,
    thumbnail: dict[str, str] | None = None,
) -> HttpResponse:
    if credential is None:
        return _placeholder(403, "not signed in")
    api = HomeserverApi(credential.homeserver, credential.access_token)
    try:
        upstream = await api.open_media(server_name, media_id, thumbnail=thumbnail)
    except errors.MatrixError as exc:
        logger.info("media fetch failed: %s", exc)
        if exc.status in (401, 403, 404):
            reason = "not found" if exc.status == 404 else "forbidden"
            return _placeholder(404, reason)
        return _placeholder(502, "unavailable" if exc.status else "homeserver unreachable")

    content_type = upstream.headers.get("Content-Type", "application/octet-stream")
    filename = request.GET.get("filename") or _filename_from(
        upstream.headers.get("Content-Disposition")
    )

    inline = media.is_inline(content_type)
    if not inline:
        # Offered for saving only, under a type no browser acts on. Our pages allow script
        # and style from 'self', and this proxy is 'self': with `nosniff`, an uploaded
        # text/javascript or text/css file can then never be loaded as a script or stylesheet
        # (the file name keeps its extension for the download).
        content_type = "application/octet-stream"
    response = StreamingHttpResponse(upstream.chunks(), content_type=content_type)
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
    return await _proxy(request, server_name, media_id, credential)


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
    return await _proxy(request, server_name, media_id, credential, thumbnail=params)


async def serve_encrypted(
    request: HttpRequest, credential: Credential | None, server_name: str, media_id: str
) -> HttpResponse:
    """An encrypted attachment, decrypted as it streams. `?room=&event=` name the message
    that carries it; its `file` object (and key) is taken from that event as the credential's
    session decrypted it, and must name this very media. The SHA-256 of what the homeserver
    sends is checked at the end: a mismatch aborts the response (the browser sees a broken
    download, never a complete wrong file)."""
    if credential is None:
        return _placeholder(403, "not signed in")
    room_id, event_id = request.GET.get("room", ""), request.GET.get("event", "")
    if not media.valid_parts(server_name, media_id) or not room_id or not event_id:
        return _placeholder(404, "invalid media address")
    try:
        # The key is in the message as the device's owner decrypted it (whichever process
        # that is); the file itself streams through this process, decrypted here.
        event = await (await device_for(credential)).event(room_id, event_id)
    except (errors.MatrixError, errors.UnknownToken, RemoteError):
        return _placeholder(404, "not found")
    content = event.get("content") if isinstance(event.get("content"), dict) else {}
    info = content.get("info") if isinstance(content.get("info"), dict) else {}
    file = info.get("thumbnail_file") if request.GET.get("thumbnail") else content.get("file")
    wanted = f"mxc://{server_name}/{media_id}"
    if not isinstance(file, dict) or file.get("url") != wanted:
        return _placeholder(404, "not found")
    try:
        decryptor = AttachmentDecryptor(file)
    except CryptoError:
        return _placeholder(404, "unreadable")
    api = HomeserverApi(credential.homeserver, credential.access_token)
    try:
        upstream = await api.open_media(server_name, media_id)
    except errors.MatrixError as exc:
        logger.info("encrypted media fetch failed: %s", exc)
        return _placeholder(404 if exc.status in (401, 403, 404) else 502, "unavailable")

    async def body() -> AsyncIterator[bytes]:
        async for chunk in upstream.chunks():
            yield decryptor.update(chunk)
        try:
            decryptor.finalize()
        except CryptoError as exc:
            logger.warning("an encrypted attachment failed its hash check")
            raise ConnectionAbortedError("attachment hash mismatch") from exc

    meta = info.get("thumbnail_info") if request.GET.get("thumbnail") else info
    mimetype = (meta or {}).get("mimetype") if isinstance(meta, dict) else None
    content_type = mimetype if isinstance(mimetype, str) else "application/octet-stream"
    inline = media.is_inline(content_type)
    if not inline:
        content_type = "application/octet-stream"
    response = StreamingHttpResponse(body(), content_type=content_type)
    _secure(response)
    filename = request.GET.get("filename") or None
    response.headers["Content-Disposition"] = _disposition(
        "inline" if inline else "attachment", filename
    )
    if (length := upstream.headers.get("Content-Length")) and upstream.headers.get(
        "Content-Encoding", "identity"
    ).strip().lower() == "identity":
        response.headers["Content-Length"] = length  # AES-CTR keeps the length
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
