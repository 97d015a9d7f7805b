"""The emoji picker's data: every emoji in Unicode's groups and order (a data file derived
from `emoji-test.txt`), with the CLDR name and the shortcodes people type (`thumbsup`, `+1`,
`tada`, from the `emoji` package) to search by.

`picker_groups()` is what the picker shows after the recently used emoji. Custom emoji from
image packs (`m.room.image_pack`, `m.image_pack.rooms`, v1.19) join as more groups through
`room_emoji` (`webclient/rooms/emoji.py`), which today has none: that is the hook.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import emoji as emoji_package

DATA = Path(__file__).resolve().parent / "data" / "emoji_groups.json"
#: What the quick row offers before anything was used (Element's default quick reactions).
QUICK = ("👍", "👎", "😄", "🎉", "😕", "❤️", "🚀", "👀")


def _shortcodes(char: str) -> list[str]:
    data = emoji_package.EMOJI_DATA.get(char) or {}
    names = [data.get("en", "")] + list(data.get("alias") or [])
    out: list[str] = []
    for name in names:
        code = name.strip(":").lower()
        if code and code not in out:
            out.append(code)
    return out


@functools.cache
def picker_groups() -> list[dict[str, Any]]:
    """[{"id", "name", "emoji": [{"key", "name", "shortcodes"}]}] in Unicode's order."""
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    groups = []
    for number, group in enumerate(raw["groups"]):
        groups.append(
            {
                "id": f"g{number}",
                "name": group["name"],
                "emoji": [
                    {"key": char, "name": name, "shortcodes": _shortcodes(char)}
                    for char, name in group["emoji"]
                ],
            }
        )
    return groups


@functools.cache
def picker_json() -> str:
    """The groups as the picker script reads them: `[[char, name, "code code"], …]` per
    group, encoded once per process (it is the same for everyone)."""
    return json.dumps(
        {
            "groups": [
                {
                    "id": g["id"],
                    "name": g["name"],
                    "emoji": [[e["key"], e["name"], " ".join(e["shortcodes"])] for e in g["emoji"]],
                }
                for g in picker_groups()
            ]
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


@functools.cache
def _by_key() -> dict[str, dict[str, Any]]:
    return {e["key"]: e for g in picker_groups() for e in g["emoji"]}


def describe(key: str) -> dict[str, Any]:
    """An emoji's entry (name, shortcodes), or a bare one for a key the data does not know
    (a reaction written as text, a newer emoji)."""
    return _by_key().get(key) or {"key": key, "name": key, "shortcodes": []}


def search(query: str, limit: int = 120) -> list[dict[str, Any]]:
    """Emoji whose name or a shortcode contains every word of the query (`:tada:`, `thumbs
    up`, `heart`); names that start with the query first."""
    words = [w for w in query.casefold().replace(":", " ").replace("_", " ").split() if w]
    if not words:
        return []
    phrase = " ".join(words)
    found: list[tuple[int, int, dict[str, Any]]] = []
    for order, entry in enumerate(e for g in picker_groups() for e in g["emoji"]):
        haystack = " ".join([entry["name"].casefold(), *entry["shortcodes"]]).replace("_", " ")
        if all(word in haystack for word in words) or entry["key"] == query.strip():
            starts = entry["name"].casefold().startswith(phrase) or any(
                code.replace("_", " ").startswith(phrase) for code in entry["shortcodes"]
            )
            found.append((0 if starts else 1, order, entry))
    found.sort(key=lambda item: item[:2])
    return [entry for _, _, entry in found[:limit]]
