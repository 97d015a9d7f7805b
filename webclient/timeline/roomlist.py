"""Room-list entries, rendered by one template for the first page and the live updates.

The list is grouped into sections (`RoomList.sections`): Invites, Favourites, Direct
messages, one per joined space, Rooms, Low priority. The first page and a reconnecting page
get whole sections; a live update carries one room's entry, the key of the section it
belongs in, the empty shells of every section (so a page can add, rename, reorder or drop
sections) and the order of all listed rooms.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.template.loader import render_to_string

from webclient.matrix.names import member_display_name
from webclient.matrix.roomstate import RoomList, RoomSection, RoomSummary, preview_text

from .avatars import avatar


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
            "preview": preview_text(last),
            "inviter": inviter,
        },
    )


def render_section(section: RoomSection, entries: Iterable[str] = ()) -> str:
    """A section with its entries' HTML (none: the empty shell a live update carries)."""
    return render_to_string(
        "rooms/_room_section.html",
        {"section": section, "entries": list(entries)},
    )


def render_room_sections(rooms: RoomList, own_user_id: str) -> list[str]:
    """Every section of the list, filled, in display order."""
    return [
        render_section(section, (render_room_entry(r, own_user_id) for r in section.rooms))
        for section in rooms.sections(own_user_id)
    ]


def room_list_updates(
    rooms: RoomList, room_ids: Iterable[str], own_user_id: str
) -> list[dict[str, Any]]:
    """One `{room_id, html, section, sections, order}` per room: its entry (empty when it is
    no longer listed: left, or a joined space, which is a heading) and where it goes."""
    sections = rooms.sections(own_user_id)
    placed = {room.room_id: s.key for s in sections for room in s.rooms}
    order = [room.room_id for s in sections for room in s.rooms]
    shells = [{"key": s.key, "html": render_section(s)} for s in sections]
    updates = []
    for room_id in room_ids:
        summary = rooms.rooms.get(room_id)
        listed = summary is not None and room_id in placed
        updates.append(
            {
                "room_id": room_id,
                "html": render_room_entry(summary, own_user_id) if listed else "",
                "section": placed.get(room_id, ""),
                "sections": shells,
                "order": order,
            }
        )
    return updates
