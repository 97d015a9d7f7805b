"""A room's integrations page: ready-to-paste settings for n8n, Windmill, Netdata and curl
that post to this room with an automation device's token (`web.integrations`). Its form
that creates a token posts to the account's automation page, which answers with this page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from webclient.web.auth import matrix_login_required
from webclient.web.integrations import room_page
from webclient.web.rooms import access_room


@require_GET
@matrix_login_required
async def integrations_view(request: HttpRequest, room: str) -> HttpResponse:
    return await room_page(request, await access_room(request, room))
