"""What a room one is not in says about itself, from `/room_summary` (v1.15): shown before
joining or asking to join (the room's page, the join page).

Everything here is written by the room's members (name, topic, address, avatar): it is
rendered as text by one template, and the avatar goes through the media proxy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.template.loader import render_to_string

from webclient.matrix.names import is_valid_room_alias

from .avatars import avatar

MAX_NAME = 200
MAX_TOPIC = 1000
JOIN_RULES = {"public", "knock", "invite", "restricted", "knock_restricted", "private"}
#: Join rules under which one may ask to join (v1.1 knock, v1.7 knock_restricted).
KNOCKABLE = {"knock", "knock_restricted"}


def _text(value: object, limit: int) -> str:
    """One line of text (a summary is a glance; line breaks are spaces), shortened."""
    if not isinstance(value, str):
        return ""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def summary_view(answer: Mapping[str, Any], requested: str) -> dict[str, Any]:
    """The template's view of a `/room_summary` answer (anything malformed left out)."""
    room_id = answer.get("room_id")
    room_id = room_id if isinstance(room_id, str) and room_id.startswith("!") else requested
    alias = answer.get("canonical_alias")
    alias = alias if is_valid_room_alias(alias) else ""
    name = _text(answer.get("name"), MAX_NAME) or alias or room_id
    join_rule = answer.get("join_rule")
    join_rule = join_rule if join_rule in JOIN_RULES else "invite"
    membership = answer.get("membership")
    return {
        "room_id": room_id,
        "name": name,
        "alias": alias,
        "topic": _text(answer.get("topic"), MAX_TOPIC),
        "members": _count(answer.get("num_joined_members")),
        "join_rule": join_rule,
        "may_knock": join_rule in KNOCKABLE,
        "may_join": join_rule == "public",
        "membership": membership if isinstance(membership, str) else "",
        "is_space": answer.get("room_type") == "m.space",
        "encrypted": isinstance(answer.get("encryption"), str),
        "world_readable": answer.get("world_readable") is True,
        "avatar": avatar(room_id, name, answer.get("avatar_url"), 48),
    }


def render_room_summary(view: Mapping[str, Any]) -> str:
    return render_to_string("rooms/_room_summary.html", {"summary": view})
