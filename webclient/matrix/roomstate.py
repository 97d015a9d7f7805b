"""An in-memory, JSON-serialisable model of the room list, built from /sync responses.

The room list page needs, per room: a name, avatar, unread counts and a one-line
preview of the latest activity.  Rebuilding that from a fresh /sync is slow, so the
sync worker folds every /sync ``rooms`` object into a :class:`RoomList` and can
persist it with ``to_dict()`` (plain JSON types only) and restore it with
``from_dict()``.

Everything here is pure: no I/O, no Django, no matrix-nio.  Input is the raw JSON of
the Client-Server API v1.11 (``GET /sync``: JoinedRoom, InvitedRoom, LeftRoom), which
is treated as untrusted: malformed pieces are skipped, never raised on.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.utils.translation import gettext, gettext_lazy, gettext_noop

from .names import (
    MAX_HEROES,
    MemberMap,
    is_valid_room_alias,
    member_display_name,
    member_display_names,
    room_display_name,
)

__all__ = [
    "ACTIVITY_TYPES",
    "PREVIEW_MAX_CHARS",
    "RoomList",
    "RoomSection",
    "RoomSummary",
]

#: Longest preview kept in ``last_event["preview"]``; the room list shows one line.
PREVIEW_MAX_CHARS = 140

#: Timeline event types that move a room up the list and replace its preview.
#: Reactions, redactions, edits, receipts-like noise and profile-only member changes
#: (join -> join) deliberately do not count.
ACTIVITY_TYPES = frozenset(
    {
        "m.room.message",
        "m.sticker",
        "m.room.encrypted",
        "m.room.member",
        "m.room.name",
        "m.room.topic",
        "m.room.avatar",
        "m.room.create",
        "m.room.tombstone",
    }
)

#: Per media msgtype: the preview without a body, and with one.
_MEDIA_LABELS = {
    "m.image": (gettext_noop("Image"), gettext_noop("Image: %(body)s")),
    "m.video": (gettext_noop("Video"), gettext_noop("Video: %(body)s")),
    "m.audio": (gettext_noop("Audio"), gettext_noop("Audio: %(body)s")),
    "m.file": (gettext_noop("File"), gettext_noop("File: %(body)s")),
    "m.location": (gettext_noop("Location"), gettext_noop("Location: %(body)s")),
}
_DELETED = gettext_noop("Message deleted")
_PLAIN = "%(body)s"

#: A preview kept untranslated, (msgid, arguments), so that each viewer reads it in their
#: own language: the room list is folded in the sync loop, which has no viewer.
Message = tuple[str, dict[str, str]]
_WHITESPACE = re.compile(r"\s+")


# --------------------------------------------------------------------------- helpers


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    # bool is an int subclass; a JSON true is not a count.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _events(container: object) -> list[dict[str, Any]]:
    """``container["events"]`` as a list of event dicts, skipping junk."""
    events = _dict(container).get("events")
    if not isinstance(events, list):
        return []
    return [event for event in events if isinstance(event, dict)]


def _shorten(text: str) -> str:
    """One line, at most PREVIEW_MAX_CHARS characters."""
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > PREVIEW_MAX_CHARS:
        text = text[: PREVIEW_MAX_CHARS - 1].rstrip() + "…"
    return text


def _strip_reply_fallback(body: str) -> str:
    """Remove the ``> `` quoted fallback a rich reply starts with (spec: Rich replies)."""
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith("> "):
        index += 1
    if index == 0:
        return body
    rest = lines[index:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    return "\n".join(rest)


def _relation(content: Mapping[str, Any]) -> dict[str, Any]:
    return _dict(content.get("m.relates_to"))


def _is_redacted(event: Mapping[str, Any]) -> bool:
    return "redacted_because" in _dict(event.get("unsigned"))


def _message(msgid: str, **args: str) -> Message:
    # Arguments are Matrix-supplied text; one line each is all a preview shows.
    return msgid, {key: _shorten(value) for key, value in args.items()}


def translate_message(message: Message | list[Any]) -> str:
    """A kept preview in the active language."""
    msgid, args = message
    if msgid == _PLAIN:
        return str(args.get("body", ""))
    text = gettext(msgid)
    return text % args if args else text


def preview_text(last_event: Mapping[str, Any]) -> str:
    """The room list's one line for a ``last_event``, in the active language (a state kept
    before previews were kept untranslated has only its English ``preview``)."""
    message = last_event.get("preview_message")
    if isinstance(message, (list, tuple)) and len(message) == 2 and isinstance(message[1], dict):
        try:
            return _shorten(translate_message(message))
        except (KeyError, TypeError, ValueError):
            pass  # a translation whose placeholders do not match: the kept text
    return str(last_event.get("preview", ""))


def message_preview_message(content: Mapping[str, Any], sender_name: str) -> Message:
    """The preview of an ``m.room.message`` content, untranslated (see message_preview)."""
    body = _str(content.get("body")) or ""
    if "m.in_reply_to" in _relation(content):
        body = _strip_reply_fallback(body)
    msgtype = _str(content.get("msgtype"))
    if msgtype == "m.emote":
        return _message(_PLAIN, body=f"* {sender_name} {body}")
    labels = _MEDIA_LABELS.get(msgtype or "")
    if labels:
        return _message(labels[1], body=body) if body.strip() else _message(labels[0])
    return _message(_PLAIN, body=body)


def message_preview(content: Mapping[str, Any], sender_name: str) -> str:
    """Plain text for an ``m.room.message`` content (the room list adds no sender), in the
    active language."""
    return translate_message(message_preview_message(content, sender_name))


def topic_texts(content: Mapping[str, Any]) -> tuple[str, str]:
    """(plain, formatted) topic of an m.room.topic content: `topic`, and from `m.topic` (spec
    v1.15) its text/html representation (and its plain one when `topic` is missing). An
    empty `topic` unsets the topic, whatever `m.topic` holds."""
    plain = _str(content.get("topic"))
    block = _dict(content.get("m.topic")).get("m.text")
    formatted = ""
    fallback = ""
    if isinstance(block, list):
        for rendering in block:
            if not isinstance(rendering, dict) or not isinstance(rendering.get("body"), str):
                continue
            mimetype = rendering.get("mimetype", "text/plain")
            if mimetype == "text/html" and not formatted:
                formatted = rendering["body"]
            elif mimetype == "text/plain" and not fallback:
                fallback = rendering["body"]
    if plain is None:
        plain = fallback
    if not plain.strip():
        return "", ""
    return plain, formatted if formatted.strip() else ""


# ---------------------------------------------------------------------- RoomSummary


@dataclass
class RoomSummary:
    """What the room list needs to know about one room, kept between syncs.

    ``members`` only holds members whose ``m.room.member`` events the server actually
    delivered: with lazy loading that is the senders of timeline events we saw, the
    heroes, and ourselves, so it stays small for ordinary rooms.  It is never evicted,
    so a huge busy room grows it by one entry per distinct sender seen; if that ever
    matters, evict ``leave``/``ban`` members that are not heroes.  Left and banned
    members are kept because "Empty Room (was Alice)" names them.

    Each member is ``{"displayname": str | None, "avatar_url": str | None,
    "membership": str}``; that is a subset of ``m.room.member`` content, so the dict
    can be passed straight to :func:`webclient.matrix.names.member_display_name`.
    """

    room_id: str
    membership: str = "join"  # "join" | "invite" | "leave"
    name: str | None = None
    canonical_alias: str | None = None
    topic: str | None = None
    # The formatted topic (spec v1.15 `m.topic`, its text/html representation), unsanitised.
    topic_html: str | None = None
    avatar_url: str | None = None
    # m.room.pinned_events: the pinned event IDs, in order.
    pinned: list[str] = field(default_factory=list)
    heroes: list[str] = field(default_factory=list)
    joined_count: int = 0
    invited_count: int = 0
    members: dict[str, dict[str, Any]] = field(default_factory=MemberMap)
    notification_count: int = 0
    highlight_count: int = 0
    last_event: dict[str, Any] | None = None
    last_activity_ts: int = 0
    inviter: str | None = None
    is_direct: bool = False
    encrypted: bool = False
    tombstone_replacement: str | None = None
    # The m.room.power_levels content: who may do what (moderation controls follow it).
    power_levels: dict[str, Any] = field(default_factory=dict)
    # "m.space" for spaces (from m.room.create), and a space's child room IDs.
    room_type: str | None = None
    space_children: list[str] = field(default_factory=list)
    # From m.room.create: from room version 12 on, creators have unlimited power and are
    # not listed in the power levels.
    room_version: str | None = None
    creators: list[str] = field(default_factory=list)
    # Room tags (``m.tag`` room account data): tag name -> {"order": float} or {}.
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "Mark as unread" (room account data ``m.marked_unread``, v1.12, and the unstable
    # ``com.famedly.marked_unread`` older clients write); the stable one wins when set.
    marked_unread_stable: bool | None = None
    marked_unread_unstable: bool | None = None
    # URL previews, as Element keeps them: the user's switch for this room (room account
    # data ``org.matrix.room.preview_urls`` {"disable"}), their switch for this room when
    # it is encrypted (``im.vector.web.settings`` {"urlPreviewsEnabled_e2ee"}), and the
    # room's default set by its admins (state ``org.matrix.room.preview_urls``).
    url_previews: bool | None = None
    url_previews_e2ee: bool | None = None
    room_url_previews: bool | None = None

    # ------------------------------------------------------------------ state

    def apply_state_event(self, event: Mapping[str, Any]) -> None:
        """Fold one state event (full or stripped) into the summary.

        Events without a string ``state_key`` are not state and are ignored.
        """
        if not isinstance(event, Mapping):
            return
        event_type = _str(event.get("type"))
        state_key = _str(event.get("state_key"))
        if event_type is None or state_key is None:
            return
        content = _dict(event.get("content"))

        if event_type == "m.room.member":
            self._apply_member(state_key, content, event)
            return
        if event_type == "m.space.child" and state_key:
            # A child is listed while its `via` is a non-empty list (spec: spaces).
            via = content.get("via")
            children = [c for c in self.space_children if c != state_key]
            if isinstance(via, list) and via:
                children.append(state_key)
            self.space_children = children
            return
        if state_key != "":
            return  # every other event we track uses the empty state key
        if event_type == "m.room.name":
            name = _str(content.get("name"))
            self.name = name if name and name.strip() else None
        elif event_type == "m.room.canonical_alias":
            alias = content.get("alias")
            self.canonical_alias = alias if is_valid_room_alias(alias) else None
        elif event_type == "m.room.topic":
            plain, formatted = topic_texts(content)
            self.topic = plain or None
            self.topic_html = formatted if plain and formatted else None
        elif event_type == "m.room.pinned_events":
            pinned = content.get("pinned")
            self.pinned = (
                [e for e in pinned if isinstance(e, str) and e.startswith("$")][:100]
                if isinstance(pinned, list)
                else []
            )
        elif event_type == "m.room.avatar":
            url = _str(content.get("url"))
            self.avatar_url = url or None
        elif event_type == "m.room.encryption":
            # Encryption can never be switched off; even a redacted (empty) event
            # means the room was encrypted, so err on the side of "encrypted".
            self.encrypted = True
        elif event_type == "m.room.power_levels":
            self.power_levels = dict(content)
        elif event_type == "m.room.create":
            room_type = _str(content.get("type"))
            self.room_type = room_type or None
            self.room_version = _str(content.get("room_version")) or "1"
            creators = [_str(event.get("sender")) or _str(content.get("creator")) or ""]
            extra = content.get("additional_creators")
            if isinstance(extra, list):
                creators += [c for c in extra if isinstance(c, str)]
            self.creators = [c for c in creators if c]
        elif event_type == "org.matrix.room.preview_urls":
            disable = content.get("disable")
            self.room_url_previews = (not disable) if isinstance(disable, bool) else None
        elif event_type == "m.room.tombstone":
            replacement = _str(content.get("replacement_room"))
            self.tombstone_replacement = replacement or None

    def _apply_member(
        self, user_id: str, content: Mapping[str, Any], event: Mapping[str, Any]
    ) -> None:
        if not user_id:
            return
        membership = _str(content.get("membership")) or "leave"
        displayname = _str(content.get("displayname"))
        avatar_url = _str(content.get("avatar_url"))
        if membership in ("leave", "ban") and displayname is None:
            # Leave/ban events usually carry no profile. Remember the old name so
            # "Empty Room (was Alice)" and "Alice left" read well; disambiguation
            # only looks at joined/invited members, so this cannot help a spoofer.
            previous = _dict(_dict(event.get("unsigned")).get("prev_content"))
            known = self.members.get(user_id, {})
            displayname = _str(previous.get("displayname")) or _str(known.get("displayname"))
        self.members[user_id] = {
            "displayname": displayname,
            "avatar_url": avatar_url,
            "membership": membership,
        }

    # --------------------------------------------------------------- timeline

    def apply_timeline(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Apply timeline events in order: state events update state; activity
        events (see ACTIVITY_TYPES) replace ``last_event``; edits and redactions of
        the current ``last_event`` rewrite its preview without moving the room."""
        for event in events:
            if not isinstance(event, Mapping) or _str(event.get("type")) is None:
                continue
            previous_member: dict[str, Any] | None = None
            if _str(event.get("state_key")) is not None:
                if event.get("type") == "m.room.member":
                    known = self.members.get(str(event.get("state_key")))
                    previous_member = dict(known) if known else None
                self.apply_state_event(event)
            self._note_activity(event, previous_member)

    def _name(self, user_id: str) -> str:
        return member_display_name(user_id, self.members)

    def _note_activity(
        self, event: Mapping[str, Any], previous_member: Mapping[str, Any] | None
    ) -> None:
        event_type = str(event.get("type"))
        content = _dict(event.get("content"))
        sender = _str(event.get("sender")) or ""
        last = self.last_event

        if event_type == "m.room.redaction":
            redacts = _str(content.get("redacts")) or _str(event.get("redacts"))
            if last is not None and redacts and last.get("event_id") == redacts:
                self._set_preview(last, _message(_DELETED))
            return

        relation = _relation(content)
        if event_type == "m.room.message" and relation.get("rel_type") == "m.replace":
            # An edit: only meaningful if it edits the event we are previewing, and
            # the spec requires the same sender for an edit to be valid.
            new_content = _dict(content.get("m.new_content"))
            if (
                last is not None
                and new_content
                and last.get("event_id") == relation.get("event_id")
                and last.get("sender") == sender
            ):
                self._set_preview(last, message_preview_message(new_content, self._name(sender)))
            return

        if event_type not in ACTIVITY_TYPES:
            return
        preview = self._preview(event, previous_member)
        if preview is None:
            return
        timestamp = _int(event.get("origin_server_ts"))
        self.last_event = {
            "event_id": _str(event.get("event_id")),
            "sender": sender,
            "origin_server_ts": timestamp,
            "type": event_type,
        }
        self._set_preview(self.last_event, preview)
        if timestamp is not None:
            # max(): a skewed remote clock must not sink a room that just had activity.
            self.last_activity_ts = max(self.last_activity_ts, timestamp)

    @staticmethod
    def _set_preview(last: dict[str, Any], message: Message) -> None:
        """Keep a preview untranslated (`preview_message`, for the room list) and in the
        active language (`preview`, for states read before previews were kept that way)."""
        last["preview_message"] = [message[0], message[1]]
        last["preview"] = _shorten(translate_message(message))

    def _preview(
        self, event: Mapping[str, Any], previous_member: Mapping[str, Any] | None
    ) -> Message | None:
        """The preview, untranslated, or None when the event is not worth showing."""
        event_type = str(event.get("type"))
        content = _dict(event.get("content"))
        sender = _str(event.get("sender")) or ""
        sender_name = self._name(sender) if sender else ""

        if event_type == "m.room.member":
            return self._member_preview(event, previous_member, sender_name)
        if _is_redacted(event) and event_type in ("m.room.message", "m.sticker"):
            return _message(_DELETED)
        if event_type == "m.room.message":
            return message_preview_message(content, sender_name)
        if event_type == "m.sticker":
            body = _str(content.get("body"))
            if body and body.strip():
                return _message(gettext_noop("Sticker: %(body)s"), body=body)
            return _message(gettext_noop("Sticker"))
        if event_type == "m.room.encrypted":
            return _message(gettext_noop("Encrypted message"))
        if not sender_name:
            sender_name = gettext("Someone")
        if event_type == "m.room.name":
            name = _str(content.get("name"))
            if name and name.strip():
                return _message(
                    gettext_noop("%(actor)s changed the room name to %(name)s"),
                    actor=sender_name,
                    name=name,
                )
            return _message(gettext_noop("%(actor)s removed the room name"), actor=sender_name)
        if event_type == "m.room.topic":
            topic = _str(content.get("topic"))
            if topic and topic.strip():
                return _message(
                    gettext_noop("%(actor)s changed the topic to %(topic)s"),
                    actor=sender_name,
                    topic=topic,
                )
            return _message(gettext_noop("%(actor)s removed the topic"), actor=sender_name)
        if event_type == "m.room.avatar":
            if _str(content.get("url")):
                return _message(
                    gettext_noop("%(actor)s changed the room avatar"), actor=sender_name
                )
            return _message(gettext_noop("%(actor)s removed the room avatar"), actor=sender_name)
        if event_type == "m.room.create":
            return _message(gettext_noop("%(actor)s created the room"), actor=sender_name)
        if event_type == "m.room.tombstone":
            return _message(gettext_noop("This room has been replaced and is no longer active"))
        return None

    def _member_preview(
        self,
        event: Mapping[str, Any],
        previous_member: Mapping[str, Any] | None,
        sender_name: str,
    ) -> Message | None:
        content = _dict(event.get("content"))
        sender = _str(event.get("sender")) or ""
        target = _str(event.get("state_key")) or ""
        if not target:
            return None
        previous = _dict(_dict(event.get("unsigned")).get("prev_content"))
        if not previous and previous_member:
            previous = dict(previous_member)
        membership = _str(content.get("membership"))
        before = _str(previous.get("membership"))
        who = {"actor": sender_name or gettext("Someone"), "target": self._name(target)}
        reason = _str(content.get("reason"))
        reason = reason if reason and reason.strip() else ""

        if membership == "join":
            if before == "join":
                return None  # a profile change; not activity for the room list
            return _message(gettext_noop("%(target)s joined"), **who)
        if membership == "invite":
            return _message(gettext_noop("%(actor)s invited %(target)s"), **who)
        if membership == "ban":
            if reason:
                return _message(
                    gettext_noop("%(actor)s banned %(target)s: %(reason)s"), reason=reason, **who
                )
            return _message(gettext_noop("%(actor)s banned %(target)s"), **who)
        if membership == "knock":
            return _message(gettext_noop("%(target)s asked to join"), **who)
        if membership == "leave":
            if sender == target:
                if before == "invite":
                    return _message(gettext_noop("%(target)s rejected the invitation"), **who)
                if before == "knock":
                    return _message(
                        gettext_noop("%(target)s withdrew their request to join"), **who
                    )
                return _message(gettext_noop("%(target)s left"), **who)
            if before == "ban":
                return _message(gettext_noop("%(actor)s unbanned %(target)s"), **who)
            if before == "invite":
                return _message(
                    gettext_noop("%(actor)s withdrew the invitation for %(target)s"), **who
                )
            if before == "knock":
                return _message(
                    gettext_noop("%(actor)s rejected the request to join from %(target)s"), **who
                )
            if reason:
                return _message(
                    gettext_noop("%(actor)s removed %(target)s: %(reason)s"), reason=reason, **who
                )
            return _message(gettext_noop("%(actor)s removed %(target)s"), **who)
        return None

    # ----------------------------------------------------------- sync shapes

    def apply_joined_room(self, room_json: Mapping[str, Any]) -> None:
        """Apply a /sync JoinedRoom: ``state`` first, then ``timeline``, ``summary``
        and ``unread_notifications``.  Summary fields the server omits ("unchanged
        since the last sync") keep their previous values."""
        self.membership = "join"
        self.inviter = None
        room = _dict(room_json)
        for event in _events(room.get("state")):
            self.apply_state_event(event)
        self.apply_timeline(_events(room.get("timeline")))

        summary = _dict(room.get("summary"))
        heroes = summary.get("m.heroes")
        if isinstance(heroes, list):
            self.heroes = [hero for hero in heroes if isinstance(hero, str) and hero]
        joined = _int(summary.get("m.joined_member_count"))
        if joined is not None:
            self.joined_count = max(joined, 0)
        invited = _int(summary.get("m.invited_member_count"))
        if invited is not None:
            self.invited_count = max(invited, 0)

        unread = _dict(room.get("unread_notifications"))
        notifications = _int(unread.get("notification_count"))
        if notifications is not None:
            self.notification_count = max(notifications, 0)
        highlights = _int(unread.get("highlight_count"))
        if highlights is not None:
            self.highlight_count = max(highlights, 0)

        for event in _events(room.get("account_data")):
            self.apply_account_data(event)

    def apply_account_data(self, event: Mapping[str, Any]) -> None:
        """One room account data event: tags, "marked as unread", URL preview switches."""
        event_type = event.get("type")
        content = _dict(event.get("content"))
        if event_type == "m.tag":
            self.apply_tags(content)
        elif event_type == "m.marked_unread":
            unread = content.get("unread")
            self.marked_unread_stable = unread if isinstance(unread, bool) else None
        elif event_type == "com.famedly.marked_unread":
            unread = content.get("unread")
            self.marked_unread_unstable = unread if isinstance(unread, bool) else None
        elif event_type == "org.matrix.room.preview_urls":
            disable = content.get("disable")
            self.url_previews = (not disable) if isinstance(disable, bool) else None
        elif event_type == "im.vector.web.settings":
            e2ee = content.get("urlPreviewsEnabled_e2ee")
            self.url_previews_e2ee = e2ee if isinstance(e2ee, bool) else None

    @property
    def marked_unread(self) -> bool:
        """Whether the user marked the room as unread (Element's `getMarkedUnreadState`)."""
        if self.marked_unread_stable is not None:
            return self.marked_unread_stable
        return bool(self.marked_unread_unstable)

    # ------------------------------------------------------------------ tags

    def apply_tags(self, content: Mapping[str, Any]) -> None:
        """Replace the tags with an ``m.tag`` content (``{"tags": {name: {"order": n}}}``).

        An ``order`` is kept only when it is a number (the spec says 0 to 1; others are
        clamped); tag names are any non-empty strings up to 255 characters.
        """
        tags: dict[str, dict[str, Any]] = {}
        for name, value in _dict(content.get("tags")).items():
            if not isinstance(name, str) or not name or len(name) > 255:
                continue
            order = _dict(value).get("order")
            if isinstance(order, (int, float)) and not isinstance(order, bool):
                if order == order:  # not NaN
                    tags[name] = {"order": min(max(float(order), 0.0), 1.0)}
                    continue
            tags[name] = {}
        self.tags = tags

    @property
    def is_favourite(self) -> bool:
        return "m.favourite" in self.tags

    @property
    def is_low_priority(self) -> bool:
        return "m.lowpriority" in self.tags

    @property
    def is_space(self) -> bool:
        return self.room_type == "m.space"

    def tag_order(self, tag: str) -> float | None:
        order = self.tags.get(tag, {}).get("order")
        return order if isinstance(order, float) else None

    def apply_invited_room(self, room_json: Mapping[str, Any], own_user_id: str) -> None:
        """Apply a /sync InvitedRoom (``invite_state.events``, stripped state).

        The inviter is the sender of the ``m.room.member`` event whose state key is our
        own user ID; its ``is_direct`` marks a DM invite.  Synapse sends that event in
        full, so its ``origin_server_ts`` dates the invite for ordering.
        """
        self.membership = "invite"
        for event in _events(_dict(room_json).get("invite_state")):
            self.apply_state_event(event)
            if event.get("type") != "m.room.member" or event.get("state_key") != own_user_id:
                continue
            content = _dict(event.get("content"))
            if content.get("membership") != "invite":
                continue
            self.inviter = _str(event.get("sender"))
            if content.get("is_direct") is True:
                self.is_direct = True
            timestamp = _int(event.get("origin_server_ts"))
            if timestamp is not None:
                self.last_activity_ts = max(self.last_activity_ts, timestamp)
            inviter_name = self._name(self.inviter) if self.inviter else gettext("Someone")
            self.last_event = {
                "event_id": _str(event.get("event_id")),
                "sender": self.inviter or "",
                "origin_server_ts": timestamp,
                "type": "m.room.member",
            }
            self._set_preview(
                self.last_event,
                _message(gettext_noop("%(actor)s invited you"), actor=inviter_name),
            )

    # ------------------------------------------------------------------ names

    def display_name(self, own_user_id: str) -> str:
        """The room's name per the spec algorithm (see names.room_display_name).

        Hero names are disambiguated against the members we know.  Without a
        summary (invites; servers may omit it) the counts and heroes are derived
        from the members we have seen, as Element does.
        """
        names = member_display_names(self.members)
        joined, invited = self.joined_count, self.invited_count
        if joined + invited == 0:
            joined_ids = {u for u, m in self.members.items() if m.get("membership") == "join"}
            invited_ids = {u for u, m in self.members.items() if m.get("membership") == "invite"}
            if self.membership == "join":
                joined_ids.add(own_user_id)
                invited_ids.discard(own_user_id)
            elif self.membership == "invite" and own_user_id not in joined_ids:
                invited_ids.add(own_user_id)
                if self.inviter:
                    joined_ids.add(self.inviter)  # only a joined member can invite
                    invited_ids.discard(self.inviter)
            joined, invited = len(joined_ids), len(invited_ids)

        heroes = [hero for hero in self.heroes if hero != own_user_id]
        if not heroes:
            heroes = self._members_with(("join", "invite"), own_user_id)
            if not heroes and self.membership == "invite" and self.inviter:
                heroes = [self.inviter]  # stripped state without the inviter's member event
            if not heroes:
                heroes = self._members_with(("leave", "ban"), own_user_id)
        return room_display_name(
            name=self.name,
            canonical_alias=self.canonical_alias,
            heroes=heroes,
            hero_names=names,
            joined_count=joined,
            invited_count=invited,
            own_user_id=own_user_id,
        )

    def _members_with(self, memberships: tuple[str, ...], own_user_id: str) -> list[str]:
        found = [
            user_id
            for user_id, member in self.members.items()
            if user_id != own_user_id and member.get("membership") in memberships
        ]
        return found[:MAX_HEROES]

    # ---------------------------------------------------------- persistence

    def __post_init__(self) -> None:
        # Naming a tile's sender looks the name up in an index of the members (names.py).
        if not isinstance(self.members, MemberMap):
            self.members = MemberMap(self.members)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy made only of JSON types (dict/list/str/int/bool/None)."""
        return asdict(self)

    def fingerprint(self) -> str:
        """The summary as canonical JSON, to tell whether a sync changed it: what `to_dict`
        holds, without its deep copy (5-10x slower, and on the way of every new message)."""
        return json.dumps(self.__dict__, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoomSummary:
        """Inverse of to_dict(); unknown keys are ignored so old snapshots still load."""
        known = {f.name for f in fields(cls)}
        values = {key: copy.deepcopy(value) for key, value in data.items() if key in known}
        return cls(**values)


# ------------------------------------------------------------------------- RoomList


# Section keys of the grouped room list (RoomList.sections); a space's is SPACE_PREFIX + ID.
SECTION_INVITES = "invites"
SECTION_FAVOURITES = "favourites"
SECTION_DIRECT = "direct"
SECTION_ROOMS = "rooms"
SECTION_LOW_PRIORITY = "lowpriority"
SPACE_PREFIX = "space:"
_SECTION_TITLES = {
    SECTION_INVITES: gettext_lazy("Invites"),
    SECTION_FAVOURITES: gettext_lazy("Favourites"),
    SECTION_DIRECT: gettext_lazy("Direct messages"),
    SECTION_ROOMS: gettext_lazy("Rooms"),
    SECTION_LOW_PRIORITY: gettext_lazy("Low priority"),
}


@dataclass
class RoomSection:
    """One section of the grouped room list: its rooms in display order.

    ``space`` is the space's summary for a space's section (``key`` is ``space:<id>``)."""

    key: str
    title: str
    rooms: list[RoomSummary]
    space: RoomSummary | None = None


@dataclass
class RoomList:
    """Every room the user is joined to or invited to, folded from /sync responses."""

    rooms: dict[str, RoomSummary] = field(default_factory=dict)
    # Every room ID the last ``m.direct`` listed, so a DM joined after it arrived is one too.
    direct_room_ids: list[str] = field(default_factory=list)

    def apply_sync(self, sync_json_rooms: Mapping[str, Any], own_user_id: str) -> set[str]:
        """Apply the ``rooms`` object of a /sync response; return the changed room IDs.

        ``leave`` is applied first (the room is removed), then ``join`` and
        ``invite``, so the current membership wins.  A room is "changed" when its
        serialised summary differs, so typing-only updates do not count.  A room that
        moves from invite to join starts from a fresh summary (the spec says stripped
        state is discarded once real state is available), keeping only ``is_direct`` and tags.
        ``knock`` is not tracked.
        """
        changed: set[str] = set()
        rooms = _dict(sync_json_rooms)
        direct = set(self.direct_room_ids)

        for room_id in _dict(rooms.get("leave")):
            if self.rooms.pop(room_id, None) is not None:
                changed.add(room_id)

        for room_id, room_json in _dict(rooms.get("join")).items():
            existing = self.rooms.get(room_id)
            before = existing.fingerprint() if existing is not None else None
            if existing is None or existing.membership != "join":
                summary = RoomSummary(
                    room_id=room_id,
                    membership="join",
                    is_direct=(existing is not None and existing.is_direct) or room_id in direct,
                    tags=existing.tags if existing is not None else {},
                )
            else:
                summary = existing
            summary.apply_joined_room(_dict(room_json))
            self.rooms[room_id] = summary
            if summary.fingerprint() != before:
                changed.add(room_id)

        for room_id, room_json in _dict(rooms.get("invite")).items():
            existing = self.rooms.get(room_id)
            before = existing.fingerprint() if existing is not None else None
            # Invite state is a complete snapshot each time: rebuild from scratch.
            summary = RoomSummary(room_id=room_id, membership="invite")
            summary.apply_invited_room(_dict(room_json), own_user_id)
            self.rooms[room_id] = summary
            if summary.fingerprint() != before:
                changed.add(room_id)

        return changed

    def apply_direct_map(self, direct_content: Mapping[str, Any]) -> set[str]:
        """Apply global ``m.direct`` account data (user ID -> [room IDs]).

        Joined rooms follow the map exactly; invites stay direct if their invite
        event said ``is_direct``.  Returns the IDs whose flag changed.
        """
        direct_rooms: set[str] = set()
        for room_ids in _dict(direct_content).values():
            if isinstance(room_ids, list):
                direct_rooms.update(r for r in room_ids if isinstance(r, str))
        self.direct_room_ids = sorted(direct_rooms)
        changed: set[str] = set()
        for room_id, summary in self.rooms.items():
            is_direct = room_id in direct_rooms or (
                summary.membership == "invite" and summary.is_direct
            )
            if is_direct != summary.is_direct:
                summary.is_direct = is_direct
                changed.add(room_id)
        return changed

    def ordered(self, own_user_id: str) -> list[RoomSummary]:
        """Invites first, then joined rooms, each newest activity first; ties by name."""
        group = {"invite": 0, "join": 1}

        def key(summary: RoomSummary) -> tuple[int, int, str, str]:
            return (
                group.get(summary.membership, 2),
                -summary.last_activity_ts,
                summary.display_name(own_user_id).casefold(),
                summary.room_id,
            )

        return sorted(self.rooms.values(), key=key)

    # ------------------------------------------------------------ sections

    def _joined_spaces(self, own_user_id: str) -> list[RoomSummary]:
        spaces = [r for r in self.rooms.values() if r.membership == "join" and r.is_space]
        return sorted(spaces, key=lambda s: (s.display_name(own_user_id).casefold(), s.room_id))

    def placements(self, own_user_id: str) -> dict[str, str]:
        """Room ID -> section key for every listed room (joined spaces are headings, not
        rooms).  The first rule that matches wins: invites; favourites; low priority;
        direct messages; the first joined space (by name) listing the room as a child;
        the other rooms."""
        space_of: dict[str, str] = {}
        for space in self._joined_spaces(own_user_id):
            for child in space.space_children:
                space_of.setdefault(child, SPACE_PREFIX + space.room_id)
        placed: dict[str, str] = {}
        for room_id, room in self.rooms.items():
            if room.membership == "invite":
                placed[room_id] = SECTION_INVITES
            elif room.is_space and room.membership == "join":
                continue
            elif room.is_favourite:
                placed[room_id] = SECTION_FAVOURITES
            elif room.is_low_priority:
                placed[room_id] = SECTION_LOW_PRIORITY
            elif room.is_direct:
                placed[room_id] = SECTION_DIRECT
            else:
                placed[room_id] = space_of.get(room_id, SECTION_ROOMS)
        return placed

    def sections(self, own_user_id: str) -> list[RoomSection]:
        """The grouped room list: Invites, Favourites, Direct messages, one section per
        joined space (shown even when none of its rooms is joined), Rooms, Low priority.

        Sections other than spaces are left out when empty.  Within a section the newest
        activity comes first; favourites go by their tag ``order`` first (rooms without
        one after those with one)."""
        names: dict[str, str] = {}

        def name(room: RoomSummary) -> str:
            if room.room_id not in names:
                names[room.room_id] = room.display_name(own_user_id).casefold()
            return names[room.room_id]

        def by_activity(room: RoomSummary) -> tuple[int, str, str]:
            return (-room.last_activity_ts, name(room), room.room_id)

        def by_order(room: RoomSummary) -> tuple[bool, float, int, str, str]:
            order = room.tag_order("m.favourite")
            return (order is None, order or 0.0, *by_activity(room))

        grouped: dict[str, list[RoomSummary]] = {}
        for room_id, key in self.placements(own_user_id).items():
            grouped.setdefault(key, []).append(self.rooms[room_id])

        def section(key: str, title: str, space: RoomSummary | None = None) -> RoomSection:
            rooms = grouped.get(key, [])
            rooms.sort(key=by_order if key == SECTION_FAVOURITES else by_activity)
            return RoomSection(key=key, title=title, rooms=rooms, space=space)

        sections = [
            section(key, _SECTION_TITLES[key])
            for key in (SECTION_INVITES, SECTION_FAVOURITES, SECTION_DIRECT)
        ]
        sections += [
            section(SPACE_PREFIX + space.room_id, space.display_name(own_user_id), space)
            for space in self._joined_spaces(own_user_id)
        ]
        sections += [
            section(key, _SECTION_TITLES[key]) for key in (SECTION_ROOMS, SECTION_LOW_PRIORITY)
        ]
        return [s for s in sections if s.rooms or s.space is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe snapshot: ``{"rooms": {room_id: RoomSummary.to_dict()}, "direct":
        [room IDs m.direct lists]}``."""
        return {
            "rooms": {room_id: room.to_dict() for room_id, room in self.rooms.items()},
            "direct": list(self.direct_room_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoomList:
        """Inverse of to_dict()."""
        rooms = _dict(_dict(data).get("rooms"))
        direct = _dict(data).get("direct")
        return cls(
            rooms={
                room_id: RoomSummary.from_dict(room)
                for room_id, room in rooms.items()
                if isinstance(room, dict)
            },
            direct_room_ids=[r for r in direct if isinstance(r, str)]
            if isinstance(direct, list)
            else [],
        )
