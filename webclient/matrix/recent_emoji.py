"""Recently used emoji, shared with the person's other clients through account data.

The spec's `m.recent_emoji` (v1.18): `{"recent_emoji": [{"emoji": "👍", "total": 3}, …]}`,
most recently used first, at most 100 entries recommended. Element Web wrote its own
`io.element.recent_emoji` (`{"recent_emoji": [["👍", 3], …]}`, the same order) before the
spec had one and still writes both, so this does too, and reads the older one when the
account has no `m.recent_emoji` yet.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from .session import MatrixSession

STABLE = "m.recent_emoji"
LEGACY = "io.element.recent_emoji"
LIMIT = 100
MAX_KEY = 64

_locks: weakref.WeakKeyDictionary[MatrixSession, asyncio.Lock] = weakref.WeakKeyDictionary()


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**53:
        return value
    return None


def parse(stable: dict[str, Any], legacy: dict[str, Any]) -> list[tuple[str, int]]:
    """(emoji, times used), most recent first; malformed entries are left out."""
    found: list[tuple[str, int]] = []
    seen: set[str] = set()
    entries = stable.get("recent_emoji")
    if isinstance(entries, list):
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            emoji, total = entry.get("emoji"), _count(entry.get("total"))
            if isinstance(emoji, str) and 0 < len(emoji) <= MAX_KEY and total and emoji not in seen:
                seen.add(emoji)
                found.append((emoji, total))
        return found[:LIMIT]
    entries = legacy.get("recent_emoji")
    if isinstance(entries, list):
        for entry in entries:
            if not isinstance(entry, list) or len(entry) < 2:
                continue
            emoji, total = entry[0], _count(entry[1])
            if isinstance(emoji, str) and 0 < len(emoji) <= MAX_KEY and total and emoji not in seen:
                seen.add(emoji)
                found.append((emoji, total))
    return found[:LIMIT]


def bumped(entries: list[tuple[str, int]], key: str) -> list[tuple[str, int]]:
    """The list after using `key` once more: moved (or added) to the front, counted."""
    total = next((count for emoji, count in entries if emoji == key), 0) + 1
    return [(key, total)] + [(e, c) for e, c in entries if e != key][: LIMIT - 1]


async def load(session: MatrixSession) -> list[tuple[str, int]]:
    stable, legacy = await asyncio.gather(
        session.global_account_data(STABLE), session.global_account_data(LEGACY)
    )
    return parse(stable, legacy)


async def record(session: MatrixSession, key: str) -> list[tuple[str, int]]:
    """Count one more use of `key` (a reaction, or an emoji picked for a message)."""
    if not key or len(key) > MAX_KEY:
        return await load(session)
    lock = _locks.setdefault(session, asyncio.Lock())
    async with lock:
        entries = bumped(await load(session), key)
        await session.set_global_account_data(
            STABLE, {"recent_emoji": [{"emoji": e, "total": c} for e, c in entries]}
        )
        await session.set_global_account_data(
            LEGACY, {"recent_emoji": [[e, c] for e, c in entries]}
        )
    return entries
