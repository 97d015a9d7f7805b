"""`/media/…`: the media proxy for the signed-in session (embeds and kiosk screens reach the
same proxy through their own addresses, see rooms/screens.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from webclient.matrix.models import credential_for
from webclient.web.media_proxy import serve_download, serve_encrypted, serve_thumbnail


@require_GET
async def download(request: HttpRequest, server_name: str, media_id: str) -> HttpResponse:
    credential = await credential_for(request.session)
    return await serve_download(request, credential, server_name, media_id)


@require_GET
async def thumbnail(request: HttpRequest, server_name: str, media_id: str) -> HttpResponse:
    credential = await credential_for(request.session)
    return await serve_thumbnail(request, credential, server_name, media_id)


@require_GET
async def encrypted(request: HttpRequest, server_name: str, media_id: str) -> HttpResponse:
    credential = await credential_for(request.session)
    return await serve_encrypted(request, credential, server_name, media_id)
