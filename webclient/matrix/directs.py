"""Direct chats: the `m.direct` account data that says which rooms are DMs with whom."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from . import errors
from .session import MatrixSession


async def direct_content(session: MatrixSession) -> dict[str, Any]:
    """`m.direct` as stored (user ID -> DM room IDs); {} when there is none yet."""
    try:
        return await session.api.account_data(
            session.user_id, "m.direct", action=_("Loading your direct chats")
        )
    except errors.NotFound:
        return {}


async def direct_map(session: MatrixSession) -> dict[str, list[str]]:
    """`m.direct` with anything malformed left out."""
    return {
        user: [room for room in rooms if isinstance(room, str)]
        for user, rooms in (await direct_content(session)).items()
        if isinstance(rooms, list)
    }


async def record_dm(session: MatrixSession, user_id: str, room_id: str) -> dict[str, Any]:
    """Add the room to `m.direct`, read just before writing (another client may have changed
    it) and otherwise written back as it was."""
    content = await direct_content(session)
    _list_room(content, user_id, room_id)
    await session.api.set_account_data(
        session.user_id, "m.direct", content, action=_("Recording the direct chat")
    )
    return content


def _list_room(content: dict[str, Any], user_id: str, room_id: str) -> None:
    """Add the room to `user_id`'s list in `content`, dropping entries that are not strings."""
    rooms = content.get(user_id)
    rooms = [room for room in rooms if isinstance(room, str)] if isinstance(rooms, list) else []
    if room_id not in rooms:
        rooms.append(room_id)
    content[user_id] = rooms


def existing_dm(session: MatrixSession, direct: dict[str, list[str]], user_id: str) -> str | None:
    """A room `m.direct` lists for `user_id` that we are still in and they have not left."""
    for room_id in direct.get(user_id, []):
        summary = session.room(room_id)
        if summary is None or summary.membership != "join":
            continue
        theirs = summary.members.get(user_id, {}).get("membership")
        if theirs in ("leave", "ban"):
            continue
        return room_id
    return None


async def set_dm_room(session: MatrixSession, room_id: str, user_id: str) -> dict[str, Any]:
    """Mark the room as the DM with `user_id` (Element's `setDMRoom`): taken out of every
    other person's list, since a room is a DM with one person only, and added to theirs."""
    content = await direct_content(session)
    for other, rooms in list(content.items()):
        if other != user_id and isinstance(rooms, list) and room_id in rooms:
            content[other] = [room for room in rooms if room != room_id]
    _list_room(content, user_id, room_id)
    await session.api.set_account_data(
        session.user_id, "m.direct", content, action=_("Marking the room as a direct chat")
    )
    return content
