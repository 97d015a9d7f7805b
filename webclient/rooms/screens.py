"""What embeds and kiosk screens share: their timeline fragment (for catching up after a
reconnect and for scrolling back) and media, read through an `Access` (an embed ticket or a
kiosk link) instead of the session cookie."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webclient.live.access import Access
from webclient.live.devices import DeviceHandle
from webclient.matrix import errors
from webclient.web.media_proxy import serve_download, serve_encrypted, serve_thumbnail

from .timeline_pages import screen_timeline


async def timeline_fragment(
    request: HttpRequest, session: DeviceHandle, room_id: str, access: Access
) -> HttpResponse:
    """`#timeline` alone, with media pointed at the access's own address."""
    try:
        context = await session.run(
            screen_timeline,
            room_id=room_id,
            media_prefix=access.media_prefix,
            from_token=request.GET.get("from"),
            after=request.GET.get("after"),
        )
    except errors.MatrixError as exc:
        return HttpResponse(exc.message, status=502, content_type="text/plain; charset=utf-8")
    except errors.UnknownToken as exc:
        return HttpResponse(exc.message, status=401, content_type="text/plain; charset=utf-8")
    context["room_id"] = room_id
    return render(request, "rooms/_timeline.html", context)


async def media(
    request: HttpRequest,
    access: Access | None,
    server_name: str,
    media_id: str,
    *,
    thumbnail: bool = False,
    encrypted: bool = False,
) -> HttpResponse:
    """The media proxy through an embed's or kiosk's credential (the placeholder when the
    ticket or link is no longer valid)."""
    if encrypted and access is not None and request.GET.get("room") not in access.room_ids:
        access = None  # a screen opens only its own rooms' attachments
    serve = serve_encrypted if encrypted else serve_thumbnail if thumbnail else serve_download
    return await serve(request, access.credential if access else None, server_name, media_id)
