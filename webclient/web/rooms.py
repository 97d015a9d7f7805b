"""`access_room`: resolve a room from the URL, wait for the room list, check membership.

Every page of a room starts here; what goes wrong becomes a typed error (`RoomNotFound`,
`NotInRoom`) that `web.errors` turns into the page saying so. Views get the login's device
as a `live.devices.DeviceHandle` (its session when this process owns it, else its owner's
state and operations, with the same names), so a view never knows where the device runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from webclient.live.devices import DeviceHandle, device_for
from webclient.matrix import errors
from webclient.matrix.roomstate import RoomSummary

from .errors import NotInRoom, RoomNotFound

#: How long a page waits for a new session's first sync before showing what it has.
FIRST_SYNC_WAIT = 20.0
#: How long a view waits for the sync loop to show the result of a change it made.
ROOM_SYNC_WAIT = 10.0


@dataclass
class RoomAccess:
    session: DeviceHandle
    room_id: str
    summary: RoomSummary | None

    @property
    def name(self) -> str:
        summary = self.summary
        return summary.display_name(self.session.user_id) if summary else self.room_id


async def session_of(request: HttpRequest) -> DeviceHandle:
    """The device of the request's login (its session started if nobody runs it)."""
    return await device_for(request.credential)


async def access_room(
    request: HttpRequest, room: str, *, membership: str | None = "join"
) -> RoomAccess:
    """The session, room ID and summary of `room` (an ID or an alias) once the room list is
    known. With `membership`, the user must have that membership (joined by default);
    `membership=None` gives whatever the room list knows (None when not listed)."""
    session = await session_of(request)
    try:
        room_id = await session.resolve(room)
    except errors.MatrixError as exc:
        raise RoomNotFound(exc.message) from exc
    await session.wait_synced(FIRST_SYNC_WAIT)
    summary = session.room(room_id)
    if membership is not None and (summary is None or summary.membership != membership):
        raise NotInRoom()
    return RoomAccess(session, room_id, summary)
