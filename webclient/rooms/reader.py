"""A room's timeline for pages that read through an embed ticket or a kiosk link: the same
tiles as the room page, with media pointed at an address that needs no cookie."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webclient.matrix import errors
from webclient.matrix.session import MatrixSession
from webclient.media.views import serve_download, serve_thumbnail

from . import viewers
from .views import _timeline_context


async def timeline_context(
    session: MatrixSession,
    room_id: str,
    media_prefix: str,
    *,
    from_token: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    context = await _timeline_context(session, room_id, from_token, after=after)
    context["timeline"] = [
        {**item, "html": viewers.rewrite_media(item["html"], media_prefix)}
        if item.get("html")
        else item
        for item in context["timeline"]
    ]
    # Receipts name people and belong to the signed-in client, not a shared screen.
    context["receipts_json"] = "[]"
    return context


async def timeline_fragment(
    request: HttpRequest, session: MatrixSession, room_id: str, access: viewers.Access
) -> HttpResponse:
    """`#timeline` alone, for catching up after a reconnect and for scrolling back."""
    try:
        context = await timeline_context(
            session,
            room_id,
            access.media_prefix,
            from_token=request.GET.get("from"),
            after=request.GET.get("after"),
        )
    except errors.MatrixError as exc:
        status = 401 if exc.is_unknown_token else 502
        return HttpResponse(exc.message, status=status, content_type="text/plain; charset=utf-8")
    context["room_id"] = room_id
    return render(request, "rooms/_timeline.html", context)


async def media(
    request: HttpRequest,
    access: viewers.Access | None,
    server_name: str,
    media_id: str,
    *,
    thumbnail: bool = False,
) -> HttpResponse:
    """The media proxy through an embed's or kiosk's credential (the placeholder when the
    ticket or link is no longer valid)."""
    serve = serve_thumbnail if thumbnail else serve_download
    return await serve(request, access.credential if access else None, server_name, media_id)
