"""Power levels (spec: m.room.power_levels): what a member may do in a room, so the client
offers only the controls that will work (the homeserver still decides, and its refusal is
shown as it is)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULTS = {"kick": 50, "ban": 50, "redact": 50, "invite": 0, "state_default": 50}


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


CREATOR = 2**53  # "infinite": above any level a power_levels event can hold


def privileged_creators(room_version: str | None) -> bool:
    """Room versions 12 and later give creators unlimited power (MSC4289)."""
    try:
        return int(room_version or "1") >= 12
    except ValueError:
        return (room_version or "").startswith("org.matrix.hydra")


def user_level(levels: Mapping[str, Any], user_id: str) -> int:
    creators = levels.get("_creators") if isinstance(levels.get("_creators"), list) else []
    if user_id in creators:
        return CREATOR
    users = levels.get("users") if isinstance(levels.get("users"), dict) else {}
    if user_id in users:
        return _int(users[user_id], 0)
    return _int(levels.get("users_default"), 0)


def with_creators(
    levels: Mapping[str, Any], room_version: str | None, creators: list[str]
) -> dict[str, Any]:
    """Power levels with the room's privileged creators folded in (room v12+)."""
    levels = dict(levels)
    if privileged_creators(room_version):
        levels["_creators"] = list(creators)
    return levels


def required(levels: Mapping[str, Any], action: str) -> int:
    return _int(levels.get(action), DEFAULTS.get(action, 50))


def can(levels: Mapping[str, Any], user_id: str, action: str) -> bool:
    """May `user_id` kick, ban, redact (others' events) or invite in this room?"""
    return user_level(levels, user_id) >= required(levels, action)


def can_act_on(levels: Mapping[str, Any], actor: str, target: str, action: str) -> bool:
    """Kicking and banning also need a higher level than the target's (spec)."""
    return can(levels, actor, action) and user_level(levels, actor) > user_level(levels, target)


def can_send_state(levels: Mapping[str, Any], user_id: str, event_type: str) -> bool:
    events = levels.get("events") if isinstance(levels.get("events"), dict) else {}
    need = _int(events.get(event_type), required(levels, "state_default"))
    return user_level(levels, user_id) >= need
