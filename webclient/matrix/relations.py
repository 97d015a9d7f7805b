"""What one room's events mean together: edits, redactions, reactions, threads, poll votes.

Events are immutable, so a tile's look depends on the event and on the events that relate
to it. `RoomEvents` records both and says which tiles a new event changes; `TileState` is
everything one tile shows, with a key that changes whenever the tile does (the render
cache is keyed by it, so each state is rendered once for every viewer).
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import polls

REPLACE = "m.replace"
ANNOTATION = "m.annotation"
THREAD = "m.thread"
REFERENCE = "m.reference"
# Poll responses count on their poll's tile (MSC3381: no text fallback, hidden).
NO_TILE_TYPES = frozenset({"m.reaction", "m.room.redaction"}) | polls.RESPONSE_TYPES


def _relation(event: Mapping[str, Any]) -> dict[str, Any]:
    content = event.get("content")
    relates = content.get("m.relates_to") if isinstance(content, dict) else None
    return relates if isinstance(relates, dict) else {}


def relation_type(event: Mapping[str, Any]) -> str | None:
    rel = _relation(event).get("rel_type")
    return rel if isinstance(rel, str) else None


def relation_target(event: Mapping[str, Any]) -> str | None:
    target = _relation(event).get("event_id")
    return target if isinstance(target, str) else None


def reply_target(event: Mapping[str, Any]) -> str | None:
    reply = _relation(event).get("m.in_reply_to")
    target = reply.get("event_id") if isinstance(reply, dict) else None
    return target if isinstance(target, str) else None


def thread_root(event: Mapping[str, Any]) -> str | None:
    return relation_target(event) if relation_type(event) == THREAD else None


def redacts(event: Mapping[str, Any]) -> str | None:
    """The target of a redaction (top level before room v11, in content from v11)."""
    target = event.get("redacts")
    if not isinstance(target, str):
        content = event.get("content")
        target = content.get("redacts") if isinstance(content, dict) else None
    return target if isinstance(target, str) else None


def is_redacted(event: Mapping[str, Any]) -> bool:
    unsigned = event.get("unsigned")
    return isinstance(unsigned, dict) and "redacted_because" in unsigned


def has_tile(event: Mapping[str, Any]) -> bool:
    """Edits, reactions and redactions change other tiles and have none of their own."""
    if event.get("type") in NO_TILE_TYPES:
        return False
    return relation_type(event) != REPLACE


def tile_ids(events: list[Mapping[str, Any]]) -> list[str]:
    """The IDs of the events that have a tile, in order."""
    return [e["event_id"] for e in events if isinstance(e.get("event_id"), str) and has_tile(e)]


def _order(event: Mapping[str, Any]) -> tuple[int, str]:
    ts = event.get("origin_server_ts")
    return (ts if isinstance(ts, int) else 0, str(event.get("event_id", "")))


@dataclass
class TileState:
    """One tile's inputs: the event as it now reads, and what relates to it."""

    event: dict[str, Any]
    edited: bool = False
    redacted: bool = False
    reactions: list[tuple[str, list[str]]] = field(default_factory=list)  # (key, senders)
    thread_count: int = 0
    thread_latest: dict[str, Any] | None = None
    reply_to: dict[str, Any] | None = None  # the replied-to event, when known
    poll: polls.Tally | None = None  # a poll start's votes and end, counted

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id", ""))

    def cache_key(self) -> str:
        e2e = self.event.get("webclient_e2e")
        parts = [
            self.event_id,
            str(self.event.get("type", "")),
            # Encrypted: whether it is decrypted yet (or why not), and the sender's shield.
            repr(sorted(e2e.items())) if isinstance(e2e, dict) else "",
            str(self.event.get("unsigned", {}).get("webclient_edit", ""))
            if isinstance(self.event.get("unsigned"), dict)
            else "",
            "r" if self.redacted else "",
            repr(self.reactions),
            str(self.thread_count),
            str((self.thread_latest or {}).get("event_id", "")),
            str((self.reply_to or {}).get("event_id", "")),
            "rr" if self.reply_to and is_redacted(self.reply_to) else "",
            self.poll.key() if self.poll is not None else "",
        ]
        return hashlib.sha1("\x00".join(parts).encode(), usedforsecurity=False).hexdigest()


class RoomEvents:
    """The events of one room that this process has seen, with their relations.

    Bounded: the oldest events are forgotten past `limit` (their tiles then show what the
    homeserver's bundled aggregations say when they are loaded again).
    """

    def __init__(
        self,
        room_id: str = "",
        limit: int = 2000,
        can_redact: Callable[[str], bool] | None = None,
    ) -> None:
        self.room_id = room_id
        self.limit = limit
        # Whether a user may redact others' events (and so end others' polls): the session
        # answers from the room's power levels.
        self.can_redact = can_redact
        self.poll_votes: dict[str, dict[str, polls.Vote]] = {}
        self.poll_ends: dict[str, dict[str, polls.End]] = {}
        self.poll_relation_of: dict[str, str] = {}
        # Polls whose responses were fetched with /relations (MSC3381 asks clients to).
        self.poll_fetched: set[str] = set()
        self.events: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.edits: dict[str, dict[str, Any]] = {}
        self.reactions: dict[str, dict[str, dict[str, str]]] = {}
        self.reaction_of: dict[str, tuple[str, str, str]] = {}
        self.threads: dict[str, dict[str, Any]] = {}
        self.thread_members: dict[str, set[str]] = {}
        self.redacted: set[str] = set()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.events

    def get(self, event_id: str) -> dict[str, Any] | None:
        return self.events.get(event_id)

    def add_all(self, events: Iterable[Mapping[str, Any]]) -> set[str]:
        changed: set[str] = set()
        for event in events:
            changed |= self.add(event)
        return changed

    def add(self, event: Mapping[str, Any]) -> set[str]:
        """Record an event; return the IDs of *other* known events whose tiles it changes."""
        event_id = event.get("event_id")
        if not isinstance(event_id, str):
            return set()
        event = dict(event)
        changed: set[str] = set()
        self.events[event_id] = event
        self.events.move_to_end(event_id)
        if is_redacted(event):
            self.redacted.add(event_id)
        changed |= self._bundled(event)
        etype = event.get("type")
        rel = relation_type(event)
        target = relation_target(event)
        if etype == "m.room.redaction":
            if target_id := redacts(event):
                changed |= self._redact(target_id)
        elif etype == "m.reaction" and rel == ANNOTATION and target:
            key = _relation(event).get("key")
            sender = event.get("sender")
            if isinstance(key, str) and isinstance(sender, str) and event_id not in self.redacted:
                self.reactions.setdefault(target, {}).setdefault(key, {})[sender] = event_id
                self.reaction_of[event_id] = (target, key, sender)
                changed.add(target)
        elif (
            (etype in polls.RESPONSE_TYPES or etype in polls.END_TYPES)
            and rel == REFERENCE
            and target
        ):
            if event_id not in self.redacted:
                changed |= self._poll_relation(event, event_id, str(etype), target)
        elif rel == REPLACE and target and etype != "m.room.encrypted":
            # (An edit still waiting for its key changes nothing until it is decrypted.)
            current = self.edits.get(target)
            if current is None or _order(event) > _order(current):
                self.edits[target] = event
            changed.add(target)
        elif rel == THREAD and target:
            seen = self.thread_members.setdefault(target, set())
            if event_id not in seen:
                seen.add(event_id)
                summary = self.threads.setdefault(target, {"count": 0, "latest": None})
                summary["count"] += 1
                latest = summary["latest"]
                if latest is None or _order(event) >= _order(latest):
                    summary["latest"] = event
                changed.add(target)
        self._trim()
        changed.discard(event_id)
        return {c for c in changed if c in self.events}

    def _poll_relation(
        self, event: Mapping[str, Any], event_id: str, etype: str, target: str
    ) -> set[str]:
        sender = event.get("sender")
        ts = event.get("origin_server_ts")
        if not isinstance(sender, str) or not isinstance(ts, int):
            return set()
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        if etype in polls.RESPONSE_TYPES:
            selections = polls.response_selections(content)
            vote = polls.Vote(
                sender, ts, event_id, tuple(selections) if selections is not None else None
            )
            self.poll_votes.setdefault(target, {})[event_id] = vote
        else:
            self.poll_ends.setdefault(target, {})[event_id] = polls.End(sender, ts, event_id)
        self.poll_relation_of[event_id] = target
        return {target}

    def _bundled(self, event: dict[str, Any]) -> set[str]:
        """Aggregations the homeserver bundled into `unsigned` (from /messages, /event)."""
        unsigned = event.get("unsigned")
        relations = unsigned.get("m.relations") if isinstance(unsigned, dict) else None
        if not isinstance(relations, dict):
            return set()
        event_id = event["event_id"]
        replace = relations.get(REPLACE)
        if isinstance(replace, dict) and isinstance(replace.get("event_id"), str):
            current = self.edits.get(event_id)
            if current is None or _order(replace) > _order(current):
                self.edits[event_id] = replace
        thread = relations.get(THREAD)
        if isinstance(thread, dict) and isinstance(thread.get("count"), int):
            summary = self.threads.setdefault(event_id, {"count": 0, "latest": None})
            summary["count"] = max(summary["count"], thread["count"])
            latest = thread.get("latest_event")
            if isinstance(latest, dict) and (
                summary["latest"] is None or _order(latest) >= _order(summary["latest"])
            ):
                summary["latest"] = latest
        return set()

    def _redact(self, target_id: str) -> set[str]:
        self.redacted.add(target_id)
        if target_id in self.poll_relation_of:
            # A redacted vote is no vote: the sender's previous one counts again (MSC3381).
            poll_id = self.poll_relation_of.pop(target_id)
            self.poll_votes.get(poll_id, {}).pop(target_id, None)
            self.poll_ends.get(poll_id, {}).pop(target_id, None)
            return {poll_id}
        if target_id in self.reaction_of:
            target, key, sender = self.reaction_of.pop(target_id)
            senders = self.reactions.get(target, {}).get(key, {})
            if senders.get(sender) == target_id:
                del senders[sender]
                if not senders:
                    del self.reactions[target][key]
            return {target}
        for original, edit in list(self.edits.items()):
            if edit.get("event_id") == target_id:
                # The edit is gone; the tile shows the original (or an earlier edit when
                # the room is loaded again and the server bundles it).
                del self.edits[original]
                return {original}
        event = self.events.get(target_id)
        if event is not None:
            event["content"] = {}
            unsigned = event.setdefault("unsigned", {})
            if isinstance(unsigned, dict):
                unsigned.setdefault("redacted_because", {"type": "m.room.redaction"})
            return {target_id}
        return set()

    def _trim(self) -> None:
        while len(self.events) > self.limit:
            old_id, _ = self.events.popitem(last=False)
            self.edits.pop(old_id, None)
            self.reactions.pop(old_id, None)
            self.threads.pop(old_id, None)
            self.thread_members.pop(old_id, None)
            self.poll_votes.pop(old_id, None)
            self.poll_ends.pop(old_id, None)
            self.poll_fetched.discard(old_id)

    def my_reaction(self, target: str, key: str, sender: str) -> str | None:
        return self.reactions.get(target, {}).get(key, {}).get(sender)

    def poll_of(self, event: Mapping[str, Any]) -> tuple[polls.Poll, polls.Tally] | None:
        """A poll start's poll and its count, from the votes and ends this store knows."""
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        poll = polls.parse_start(str(event.get("type", "")), content)
        if poll is None:
            return None
        event_id = str(event.get("event_id", ""))
        end = polls.valid_end(
            self.poll_ends.get(event_id, {}).values(), str(event.get("sender", "")), self.can_redact
        )
        return poll, polls.tally(poll, self.poll_votes.get(event_id, {}).values(), end)

    def latest_in_thread(self, root: str) -> str | None:
        latest = (self.threads.get(root) or {}).get("latest")
        return latest.get("event_id") if isinstance(latest, dict) else None

    def tile(self, event_id: str) -> TileState | None:
        """The state of one tile, or None for an unknown event or one with no tile."""
        original = self.events.get(event_id)
        if original is None or not has_tile(original):
            return None
        event = copy.deepcopy(original)
        redacted = event_id in self.redacted or is_redacted(event)
        edited = False
        if redacted:
            event["content"] = {}
        else:
            edit = self.edits.get(event_id)
            new_content = (edit or {}).get("content", {}).get("m.new_content")
            if (
                edit is not None
                and edit.get("sender") == event.get("sender")
                and edit.get("event_id") not in self.redacted
                and isinstance(new_content, dict)
                and event.get("type") == edit.get("type")
            ):
                content = dict(new_content)
                # An edit cannot change what the message replies to or which thread it is in.
                if "m.relates_to" in event.get("content", {}):
                    content["m.relates_to"] = event["content"]["m.relates_to"]
                else:
                    content.pop("m.relates_to", None)
                event["content"] = content
                event.setdefault("unsigned", {})["webclient_edit"] = edit.get("event_id")
                edited = True
        reactions = sorted(
            (
                (key, sorted(senders))
                for key, senders in self.reactions.get(event_id, {}).items()
                if senders
            ),
            # Most given first; ties keep the order the reactions first appeared (stable sort).
            key=lambda item: -len(item[1]),
        )
        thread = self.threads.get(event_id) or {}
        reply_id = reply_target(event) if not redacted else None
        reply_to = None
        if reply_id:
            replied = self.tile(reply_id) if reply_id != event_id else None
            reply_to = replied.event if replied else {"event_id": reply_id, "missing": True}
        counted = self.poll_of(event) if not redacted else None
        return TileState(
            event=event,
            edited=edited,
            redacted=redacted,
            reactions=reactions,
            thread_count=int(thread.get("count") or 0),
            thread_latest=thread.get("latest"),
            reply_to=reply_to,
            poll=counted[1] if counted else None,
        )
