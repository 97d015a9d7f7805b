"""Another client's calls to Synapse, for the async integration tests: each call runs off the
event loop, so the sync loop under test keeps running while it waits.

`hs` is a `LocalSynapse`, users are `RegisteredUser`s (see tests/synapse_fixtures.py); paths
are relative to the client-server API (`/_matrix/client/v3`)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

from tests.synapse_fixtures import matrix_api

CLIENT = "/_matrix/client/v3"


def q(value: str) -> str:
    return quote(value, safe="")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def api(hs, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict:
    """A client-server call (off the event loop, so the sync loop under test keeps running)."""
    return await asyncio.to_thread(matrix_api, hs.url, token, method, CLIENT + path, body)


async def create_room(hs, owner, **body) -> str:
    return (await api(hs, owner.access_token, "POST", "/createRoom", body))["room_id"]


async def join(hs, user, room_id: str) -> None:
    await api(hs, user.access_token, "POST", f"/join/{q(room_id)}", {})


async def send(hs, user, room_id: str, body: str) -> str:
    path = f"/rooms/{q(room_id)}/send/m.room.message/{uuid.uuid4().hex}"
    answer = await api(hs, user.access_token, "PUT", path, {"msgtype": "m.text", "body": body})
    return answer["event_id"]


async def messages(hs, user, room_id: str, limit: int = 100) -> list[dict]:
    """The room's newest events, oldest first."""
    path = f"/rooms/{q(room_id)}/messages?dir=b&limit={limit}"
    return list(reversed((await api(hs, user.access_token, "GET", path))["chunk"]))


async def sent_by(hs, reader, room_id: str, sender) -> list[dict]:
    return [
        event
        for event in await messages(hs, reader, room_id)
        if event["type"] == "m.room.message" and event["sender"] == sender.user_id
    ]


async def shared_room(hs, owner, member, **body) -> str:
    room_id = await create_room(hs, owner, invite=[member.user_id], **body)
    await join(hs, member, room_id)
    return room_id


async def state(hs, reader, room_id: str, event_type: str, state_key: str = "") -> dict:
    path = f"/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}"
    return await api(hs, reader.access_token, "GET", path)


async def set_power(hs, admin, room_id: str, user, level: int) -> None:
    path = f"/rooms/{q(room_id)}/state/m.room.power_levels/"
    levels = await api(hs, admin.access_token, "GET", path)
    levels.setdefault("users", {})[user.user_id] = level
    await api(hs, admin.access_token, "PUT", path, levels)
