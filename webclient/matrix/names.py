"""Display names for room members and rooms, per the Matrix Client-Server spec (v1.11).

"Calculating the display name for a user" and "Calculating the display name for a
room" live in the Instant Messaging module.  Both are pure functions here so the
sync layer, the room list and the templates all name things the same way, and so a
spoofed display name is disambiguated everywhere (the spec says names MUST be
disambiguated before showing them, to prevent impersonation).

The returned strings are plain text: callers must still HTML-escape them (and
should wrap them in ``<bdi>`` so right-to-left text cannot reorder what follows).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

__all__ = [
    "MAX_HEROES",
    "is_valid_room_alias",
    "member_display_name",
    "member_display_names",
    "room_display_name",
]

#: The spec says clients SHOULD use at least 5 heroes; we show at most this many names.
MAX_HEROES = 5

# Invisible / formatting characters that let two visually identical names differ.
_HIDDEN_CHARS = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
# Bidirectional control characters: a name containing them can visually reorder the
# text around it (including a "(@user:server)" suffix), so always show the user ID.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Something that looks like a Matrix user ID inside a display name ("@admin:matrix.org").
_MXID_LIKE = re.compile(r"@[^\s:]+:\S+")
_WHITESPACE = re.compile(r"\s+")
_ALIAS = re.compile(r"^#[^:\s]+:\S+$")

# A deliberately small table of common Cyrillic/Greek look-alikes of Latin letters.
# Only used to decide *whether* to disambiguate, so over-matching is harmless.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ӏ": "l",
        "α": "a",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "0": "o",
        "1": "l",
        "|": "l",
    }
)

_COUNTED_MEMBERSHIPS = frozenset({"join", "invite"})


def _raw_display_name(content: object) -> str | None:
    """The member event's ``displayname`` if it is a usable string, else None."""
    if not isinstance(content, Mapping):
        return None
    name = content.get("displayname")
    if not isinstance(name, str):
        return None
    if not _HIDDEN_CHARS.sub("", name).strip():
        # Empty or only invisible characters: as good as no name at all.
        return None
    return name


def _normalise(name: str) -> str:
    """Collision key: two names with the same key could be confused by a reader."""
    name = _HIDDEN_CHARS.sub("", name)
    name = unicodedata.normalize("NFKC", name).casefold()
    name = name.translate(_HOMOGLYPHS)
    return _WHITESPACE.sub(" ", name).strip()


def _membership(content: object) -> str | None:
    if isinstance(content, Mapping):
        value = content.get("membership")
        if isinstance(value, str):
            return value
    return None


def _needs_disambiguation(user_id: str, name: str, clashing: Iterable[str]) -> bool:
    if _MXID_LIKE.search(name) or _BIDI_CONTROLS.search(name):
        return True
    return any(other != user_id for other in clashing)


def _format(user_id: str, name: str, disambiguate: bool) -> str:
    if name == user_id:
        return user_id
    return f"{name} ({user_id})" if disambiguate else name


def _by_name(members: Mapping[str, Mapping[str, object]]) -> dict[str, list[str]]:
    """Joined and invited members by the collision key of their display name."""
    by_name: dict[str, list[str]] = {}
    for user_id, content in members.items():
        if _membership(content) not in _COUNTED_MEMBERSHIPS:
            continue
        name = _raw_display_name(content)
        if name is not None:
            by_name.setdefault(_normalise(name), []).append(user_id)
    return by_name


class MemberMap(dict):
    """A room's members (user ID -> member content) that works out once, when first asked,
    who goes by each display name, so naming the sender of every tile is not a walk over
    every member of a big room (`member_display_name`). Any change to the map forgets
    that; a member's content is replaced when it changes, never edited in place. An index
    built while the map changed (another thread) is used once and not kept."""

    __slots__ = ("_by_name", "_changes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_name: dict[str, list[str]] | None = None
        self._changes = 0

    def named(self, key: str) -> Sequence[str]:
        """The joined and invited members whose display name has collision key `key`."""
        index = self._by_name
        if index is None:
            changes = self._changes
            index = _by_name(self)
            if changes == self._changes:
                self._by_name = index
        return index.get(key, ())

    def _changed(self) -> None:
        """After a change (so an index built meanwhile is not kept)."""
        self._changes += 1
        self._by_name = None

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def __ior__(self, other: Any) -> MemberMap:
        super().__ior__(other)
        self._changed()
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._changed()
        return value

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __reduce__(self) -> tuple[Any, ...]:
        return (MemberMap, (dict(self),))


def member_display_name(user_id: str, members: Mapping[str, Mapping[str, object]]) -> str:
    """The disambiguated, user-visible name of ``user_id`` in a room.

    ``members`` maps user ID -> ``m.room.member`` content (at least ``displayname`` and
    ``membership``).  Following the spec: no (or a null) displayname gives the raw user
    ID; a displayname shared with another *joined or invited* member becomes
    ``"Name (@user:server)"``.  We also disambiguate, as Element does, when the
    displayname itself looks like a user ID or contains bidi control characters, and
    compare names after stripping invisible characters, NFKC folding, case folding and
    mapping a few homoglyphs, because the spec's purpose is to stop spoofing.

    This is O(number of members) for a plain mapping, and O(1) for a `MemberMap` once its
    index is built (a room's summary keeps its members in one); for a whole member list
    use member_display_names().
    """
    return display_name_with(user_id, members.get(user_id), members)


def display_name_with(
    user_id: str, content: object, members: Mapping[str, Mapping[str, object]]
) -> str:
    """The name `user_id` shows with member content `content` (what a member event of
    theirs sets, say), disambiguated against the other members of `members` as
    `member_display_name` does."""
    name = _raw_display_name(content)
    if name is None:
        return user_id
    key = _normalise(name)
    if isinstance(members, MemberMap):
        clashing: Iterable[str] = members.named(key)
    else:
        clashing = (
            other
            for other, theirs in members.items()
            if other != user_id
            and _membership(theirs) in _COUNTED_MEMBERSHIPS
            and (other_name := _raw_display_name(theirs)) is not None
            and _normalise(other_name) == key
        )
    return _format(user_id, name, _needs_disambiguation(user_id, name, clashing))


def member_display_names(members: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Disambiguated names for every user in ``members`` in O(N).

    Uses the hash table from normalised displayname to users that the spec recommends,
    instead of calling member_display_name() per member (which would be O(N^2)).
    """
    by_name = _by_name(members)
    result: dict[str, str] = {}
    for user_id, content in members.items():
        name = _raw_display_name(content)
        if name is None:
            result[user_id] = user_id
            continue
        clashing = by_name.get(_normalise(name), ())
        result[user_id] = _format(user_id, name, _needs_disambiguation(user_id, name, clashing))
    return result


MAX_USER_ID_LENGTH = 255
# The spec's user ID grammar, with the historical localpart characters (any printable ASCII
# except ":") that older accounts still have; the server name is checked separately.
_USER_ID = re.compile(r"^@([!-9;-~]+):(\S+)$")
# A server name: a hostname, IPv4 or [IPv6] literal, and an optional port.
SERVER_NAME_RE = re.compile(r"^(?:[A-Za-z0-9.-]{1,255}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")


def valid_user_id(value: str) -> bool:
    """Whether `value` looks like `@localpart:server` (what the homeserver could invite)."""
    if len(value.encode("utf-8")) > MAX_USER_ID_LENGTH:
        return False
    match = _USER_ID.match(value)
    return bool(match) and SERVER_NAME_RE.match(match.group(2)) is not None


def is_valid_room_alias(alias: object) -> bool:
    """Whether ``alias`` is usable as a room name (``#localpart:server``, <= 255 bytes)."""
    return (
        isinstance(alias, str)
        and len(alias.encode("utf-8")) <= 255
        and _ALIAS.match(alias) is not None
    )


def _join_names(names: list[str], others: int = 0) -> str:
    """English list: "A", "A and B", "A, B and C", "A, B and 3 others"."""
    parts = list(names)
    if others > 0:
        parts.append(ngettext("%(count)d other", "%(count)d others", others) % {"count": others})
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return _("%(names)s and %(last)s") % {"names": ", ".join(parts[:-1]), "last": parts[-1]}


def room_display_name(
    *,
    name: str | None,
    canonical_alias: str | None,
    heroes: list[str],
    hero_names: Mapping[str, str],
    joined_count: int,
    invited_count: int,
    own_user_id: str,
) -> str:
    """The spec's room-name algorithm, so every view names a room the same way.

    1. a non-empty ``m.room.name``;
    2. a valid ``m.room.canonical_alias`` (``alt_aliases`` are never used);
    3. otherwise from ``m.heroes`` (own user excluded, at most MAX_HEROES names shown,
       ``hero_names`` should hold *disambiguated* names, the user ID is used if
       missing) and ``m.joined_member_count + m.invited_member_count``:
       - more than one member: "Alice", "Alice and Bob", "Alice, Bob and Carol", or
         "Alice, Bob and N others" when heroes do not cover everyone else;
       - one member or fewer (you are alone): "Empty Room (was Alice and Bob)", or
         "Empty Room" when there are no heroes.
       With members but no heroes at all (the spec does not cover it; the server is
       required to send heroes) we say "N people", as matrix-rust-sdk does.
    """
    if isinstance(name, str) and name.strip():
        return name
    if isinstance(canonical_alias, str) and is_valid_room_alias(canonical_alias):
        return canonical_alias

    seen: set[str] = set()
    clean_heroes: list[str] = []
    for hero in heroes:
        if isinstance(hero, str) and hero and hero != own_user_id and hero not in seen:
            seen.add(hero)
            clean_heroes.append(hero)
    shown = clean_heroes[:MAX_HEROES]
    names = [hero_names.get(hero) or hero for hero in shown]

    total = max(joined_count, 0) + max(invited_count, 0)
    if total <= 1:
        if not shown:
            return _("Empty Room")
        return _("Empty Room (was %(names)s)") % {
            "names": _join_names(names, len(clean_heroes) - len(shown))
        }

    others_total = total - 1  # everyone except the logged-in user
    if not shown:
        return ngettext("%(count)d person", "%(count)d people", others_total) % {
            "count": others_total
        }
    # Spec cases 3.1 (heroes cover everyone) and 3.2 (a count of the remaining users).
    remaining = max(others_total, len(clean_heroes)) - len(shown)
    return _join_names(names, remaining)


# -- room references people paste (the join page, /join) -----------------------------------


def via_servers(values: list[str]) -> list[str]:
    servers = []
    for value in values:
        value = value.strip()
        if value and SERVER_NAME_RE.match(value) and value not in servers:
            servers.append(value)
    return servers[:10]


def _valid_room(identifier: str) -> bool:
    if not identifier or len(identifier.encode("utf-8")) > 255:
        return False
    if identifier.startswith("#"):
        return is_valid_room_alias(identifier)
    return identifier.startswith("!") and len(identifier) > 1 and not re.search(r"\s", identifier)


def parse_room_reference(text: str) -> tuple[str, list[str]] | None:
    """What to join from what someone pasted: `!id:server`, `#alias:server`, a matrix.to
    link (`https://matrix.to/#/#alias:server`, `.../!id:server/$event?via=server`) or a
    `matrix:` URI (`matrix:r/alias:server`, `matrix:roomid/id:server?via=server`).

    Returns (room ID or alias, servers to join through) or None when it is none of these."""
    text = text.strip()
    via: list[str] = []
    lowered = text.lower()
    if lowered.startswith(("https://matrix.to/", "http://matrix.to/", "matrix.to/")):
        if lowered.startswith("matrix.to/"):
            text = "https://" + text
        fragment = urlsplit(text).fragment.lstrip("/")
        path, _sep, query = fragment.partition("?")
        identifier = unquote(path.split("/")[0])
        via = parse_qs(query).get("via", [])
    elif lowered.startswith("matrix:"):
        path, _sep, query = text[len("matrix:") :].partition("?")
        segments = path.split("/")
        sigils = {"r": "#", "roomid": "!"}
        if len(segments) < 2 or segments[0] not in sigils:
            return None
        identifier = sigils[segments[0]] + unquote(segments[1])
        via = parse_qs(query).get("via", [])
    else:
        identifier = text
    if not _valid_room(identifier):
        return None
    return identifier, via_servers(via)
