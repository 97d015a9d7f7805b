"""The emoji picker's endpoints: the Unicode emoji (the same for everyone, cached by the
browser) and "the emoji for room R" (recently used ones, and the room's custom emoji).

`custom_groups` is where image packs (`m.room.image_pack` state, the account's
`m.image_pack.rooms`, v1.19) will add their emoji as groups of
`{"id", "name", "emoji": [{"key": "mxc://…", "name", "shortcodes", "src"}]}`; until then a
room has none."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from webclient.matrix import errors, recent_emoji
from webclient.matrix.session import MatrixSession
from webclient.timeline import emoji
from webclient.web.auth import matrix_login_required
from webclient.web.rooms import access_room

RECENT_SHOWN = 24


def emoji_data(request: HttpRequest) -> HttpResponse:
    """Every Unicode emoji in groups, with names and shortcodes: the same for everyone, so
    the browser keeps it for a day."""
    response = HttpResponse(emoji.picker_json(), content_type="application/json")
    response["Cache-Control"] = "public, max-age=86400"
    return response


async def custom_groups(session: MatrixSession, room_id: str) -> list[dict[str, Any]]:
    """The room's (and the account's) custom emoji, as picker groups: none yet (see the
    module's docstring)."""
    return []


async def recent_keys(session: MatrixSession) -> list[str]:
    try:
        entries = await recent_emoji.load(session)
    except errors.MatrixError:
        return []
    return [key for key, _count in entries[:RECENT_SHOWN]]


@matrix_login_required(fragment=True)
async def room_emoji(request: HttpRequest, room: str) -> HttpResponse:
    """The emoji for room R: recently used first (`m.recent_emoji`), then custom groups."""
    found = await access_room(request, room)
    recent = await recent_keys(found.session)
    return JsonResponse(
        {
            "recent": [{"key": key, "name": emoji.describe(key)["name"]} for key in recent],
            "quick": list(emoji.QUICK),
            "custom": await custom_groups(found.session, found.room_id),
        }
    )
