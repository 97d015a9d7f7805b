"""Power levels (spec: m.room.power_levels): what a member may do in a room, so the client
offers only the controls that will work (the homeserver still decides, and its refusal is
shown as it is). One place for the rules: the member list and moderation both use them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ADMIN_LEVEL = 100
DEFAULTS = {"kick": 50, "ban": 50, "redact": 50, "invite": 0, "state_default": 50}
# Room versions whose creators have "infinite" power (MSC4289) and are not in `users`.
_CREATOR_POWER_VERSIONS = frozenset({"org.matrix.hydra.11"})


def level(value: Any, default: int = 0) -> int:
    """A power level as an integer (rooms before version 10 allowed strings)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def creators_outrank(create: Mapping[str, Any]) -> bool:
    version = str((create.get("content") or {}).get("room_version", "1"))
    return version in _CREATOR_POWER_VERSIONS or (version.isdigit() and int(version) >= 12)


def power_of(
    user_id: str, levels: Mapping[str, Any] | None, create: Mapping[str, Any] | None
) -> float:
    """The user's power level as the spec defines it (`inf` for a v12 room's creators).

    `create` is the whole m.room.create event (its sender is the creator)."""
    create = create or {}
    creator = create.get("sender")
    if creators_outrank(create):
        content = create.get("content") or {}
        additional = content.get("additional_creators")
        creators = {creator, *(additional if isinstance(additional, list) else [])}
        if user_id in creators:
            return float("inf")
    if levels is None:
        # No power levels event: the creator has 100, everyone else 0.
        return ADMIN_LEVEL if user_id == creator else 0
    users = levels.get("users") if isinstance(levels.get("users"), dict) else {}
    default = level(levels.get("users_default"), 0)
    return level(users[user_id], default) if user_id in users else default


def required(levels: Mapping[str, Any] | None, action: str) -> int:
    return level((levels or {}).get(action), DEFAULTS.get(action, 50))


def can(
    levels: Mapping[str, Any] | None, create: Mapping[str, Any] | None, user_id: str, action: str
) -> bool:
    """May `user_id` kick, ban, redact (others' events) or invite in this room?"""
    return power_of(user_id, levels, create) >= required(levels, action)


def can_act_on(
    levels: Mapping[str, Any] | None,
    create: Mapping[str, Any] | None,
    actor: str,
    target: str,
    action: str,
) -> bool:
    """Kicking and banning also need a higher level than the target's (spec)."""
    return can(levels, create, actor, action) and power_of(actor, levels, create) > power_of(
        target, levels, create
    )


def can_send_state(
    levels: Mapping[str, Any] | None,
    create: Mapping[str, Any] | None,
    user_id: str,
    event_type: str,
) -> bool:
    """May `user_id` send a state event of this type (its level in `events`, else
    `state_default`)? Pinning messages is `m.room.pinned_events`."""
    events = (levels or {}).get("events")
    events = events if isinstance(events, dict) else {}
    needed = (
        level(events[event_type], 50) if event_type in events else required(levels, "state_default")
    )
    return power_of(user_id, levels, create) >= needed
