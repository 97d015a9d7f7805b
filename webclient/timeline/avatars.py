"""Avatars: the homeserver's thumbnail through our media proxy, or initials on a colour
chosen from the ID (so a person keeps the same colour everywhere)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from webclient.matrix import media

SIZE = 32
COLOURS = 8


def initial(name: str) -> str:
    for char in name.lstrip("@#!+"):
        if char.isalnum():
            return char.upper()
    return "?"


def avatar(identifier: str, name: str, mxc: Any, size: int = SIZE) -> dict[str, Any]:
    """`{"src", "initial", "colour"}`; `src` is None when there is no usable picture."""
    return {
        "src": media.thumbnail_url(mxc, size, size, "crop") if mxc else None,
        "initial": initial(name or identifier),
        "colour": zlib.crc32(identifier.encode()) % COLOURS,
        "size": size,
    }


def member_avatar(user_id: str, name: str, members: Mapping[str, dict]) -> dict[str, Any]:
    member = members.get(user_id) or {}
    return avatar(user_id, name, member.get("avatar_url"))
