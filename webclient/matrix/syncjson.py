"""nio's parsed /sync rooms back into the spec's JSON shape.

The rest of the client (room list, rendering) works on events as the spec writes them, the
same shape `/messages` returns, so it never depends on nio's event classes. nio still does
the sync itself, so decryption can slot in there later.
"""

from __future__ import annotations

from typing import Any

from nio.events.account_data import FullyReadEvent, TagEvent, UnknownAccountDataEvent
from nio.events.ephemeral import ReceiptEvent, TypingNoticeEvent
from nio.responses import Rooms


def _sources(events: list[Any]) -> list[dict[str, Any]]:
    return [e.source for e in events if isinstance(getattr(e, "source", None), dict)]


def _invite_sources(events: list[Any]) -> list[dict[str, Any]]:
    """Like `_sources`, for stripped state: nio's `InviteMemberEvent` pops `content` out of
    its `source` (nio 0.25-0.26), which would lose the invite and who sent it."""
    sources = []
    for event in events:
        source = getattr(event, "source", None)
        if not isinstance(source, dict):
            continue
        content = getattr(event, "content", None)
        if "content" not in source and isinstance(content, dict):
            source = {**source, "content": content}
        sources.append(source)
    return sources


def _ephemeral(events: list[Any]) -> list[dict[str, Any]]:
    """nio parses typing and receipts into objects without their source; rebuild the JSON."""
    out: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, TypingNoticeEvent):
            out.append({"type": "m.typing", "content": {"user_ids": list(event.users)}})
        elif isinstance(event, ReceiptEvent):
            content: dict[str, Any] = {}
            for receipt in event.receipts:
                by_type = content.setdefault(receipt.event_id, {}).setdefault(
                    receipt.receipt_type, {}
                )
                by_type[receipt.user_id] = {"ts": receipt.timestamp}
            out.append({"type": "m.receipt", "content": content})
    return out


def _account_data(events: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, FullyReadEvent):
            out.append({"type": "m.fully_read", "content": {"event_id": event.event_id}})
        elif isinstance(event, TagEvent) and isinstance(event.tags, dict):
            out.append({"type": "m.tag", "content": {"tags": event.tags}})
        elif isinstance(event, UnknownAccountDataEvent) and isinstance(event.content, dict):
            # `m.marked_unread`, the URL preview switches, …
            out.append({"type": event.type, "content": event.content})
    return out


def global_account_data(events: list[Any]) -> list[dict[str, Any]]:
    """The global account data of a sync (`SyncResponse.account_data_events`) that nio
    leaves unparsed, such as `m.direct`, back as `{"type", "content"}`."""
    return [
        {"type": event.type, "content": event.content}
        for event in events
        if isinstance(event, UnknownAccountDataEvent) and isinstance(event.content, dict)
    ]


def rooms_to_json(rooms: Rooms) -> dict[str, dict[str, Any]]:
    join: dict[str, Any] = {}
    for room_id, info in rooms.join.items():
        room: dict[str, Any] = {
            "state": {"events": _sources(info.state)},
            "timeline": {
                "events": _sources(info.timeline.events),
                "limited": bool(info.timeline.limited),
                "prev_batch": info.timeline.prev_batch,
            },
        }
        if info.summary:
            summary: dict[str, Any] = {}
            if info.summary.heroes is not None:
                summary["m.heroes"] = info.summary.heroes
            if info.summary.joined_member_count is not None:
                summary["m.joined_member_count"] = info.summary.joined_member_count
            if info.summary.invited_member_count is not None:
                summary["m.invited_member_count"] = info.summary.invited_member_count
            room["summary"] = summary
        room["ephemeral"] = {"events": _ephemeral(info.ephemeral)}
        room["account_data"] = {"events": _account_data(info.account_data)}
        if info.unread_notifications:
            room["unread_notifications"] = {
                "notification_count": info.unread_notifications.notification_count or 0,
                "highlight_count": info.unread_notifications.highlight_count or 0,
            }
        join[room_id] = room
    invite = {
        room_id: {"invite_state": {"events": _invite_sources(info.invite_state)}}
        for room_id, info in rooms.invite.items()
    }
    leave = {
        room_id: {
            "state": {"events": _sources(info.state)},
            "timeline": {"events": _sources(info.timeline.events)},
        }
        for room_id, info in rooms.leave.items()
    }
    return {"join": join, "invite": invite, "leave": leave}
