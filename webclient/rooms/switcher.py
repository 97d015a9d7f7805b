"""`/rooms/switcher/`: the viewer's rooms as JSON, in the room list's order, for the room
switcher (Ctrl/Cmd+K) and Alt+Up/Down on pages that do not show the room list."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from webclient.web.auth import matrix_login_required
from webclient.web.rooms import FIRST_SYNC_WAIT, session_of


@matrix_login_required(fragment=True)
async def switcher_data(request: HttpRequest) -> JsonResponse:
    session = await session_of(request)
    await session.wait_synced(FIRST_SYNC_WAIT)
    rooms = []
    seen: set[str] = set()
    for section in session.rooms.sections(session.user_id):
        for room in section.rooms:
            if room.room_id in seen:
                continue
            seen.add(room.room_id)
            invited = room.membership == "invite"
            rooms.append(
                {
                    "id": room.room_id,
                    "name": room.display_name(session.user_id),
                    "url": reverse(
                        "rooms:invitation" if invited else "rooms:room", args=[room.room_id]
                    ),
                    "section": section.title,
                    "unread": room.notification_count or 0,
                    "highlight": room.highlight_count or 0,
                    "invite": invited,
                }
            )
    labels = {
        "title": _("Switch room"),
        "search": _("Search rooms"),
        "empty": _("No rooms match."),
        "close": _("Close"),
        "hint": _("Up and down to choose, Enter to open, Escape to close."),
        "unread": _("unread"),
        "invite": _("invitation"),
    }
    return JsonResponse({"rooms": rooms, "labels": labels})
