"""Room-list entries, rendered by one template for the first page and the live updates."""

from __future__ import annotations

from django.template.loader import render_to_string

from webclient.matrix.roomstate import RoomSummary
from webclient.timeline.avatars import avatar
from webclient.timeline.names import member_display_name


def render_room_entry(room: RoomSummary, own_user_id: str) -> str:
    last = room.last_event or {}
    inviter = member_display_name(room.inviter, room.members) if room.inviter else ""
    name = room.display_name(own_user_id)
    return render_to_string(
        "rooms/_room_entry.html",
        {
            "room": room,
            "name": name,
            "avatar": avatar(room.room_id, name, room.avatar_url),
            "preview": last.get("preview", ""),
            "inviter": inviter,
        },
    )
