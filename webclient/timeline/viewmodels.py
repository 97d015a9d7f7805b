"""Matrix events as view models: what a tile needs, worked out once, with no HTML in it.

Templates turn these into markup (one template per kind of event); anything here that is
Matrix-supplied text is left raw for the template to escape, except `body_html`, which is
already sanitised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webclient.matrix import polls
from webclient.matrix.names import display_name_with, member_display_name
from webclient.matrix.relations import TileState, thread_root
from webclient.matrix.roomstate import message_preview, topic_texts

from .avatars import member_avatar
from .messages import inline_media_url, is_emoji_only, location_extra, media_extra
from .sanitize import (
    clean_html,
    clean_topic_html,
    plain_to_html,
    strip_reply_fallback_html,
    strip_reply_fallback_text,
)

HTML_FORMAT = "org.matrix.custom.html"
TEXT_MSGTYPES = {"m.text": "text", "m.emote": "emote", "m.notice": "notice"}
JOIN_RULES = {
    "public": gettext_lazy("public (anyone can join)"),
    "invite": gettext_lazy("invite only"),
    "knock": gettext_lazy("ask to join"),
    "restricted": gettext_lazy("joinable by members of other rooms"),
    "knock_restricted": gettext_lazy("ask to join, or joinable by members of other rooms"),
}
HISTORY_VISIBILITY = {
    "world_readable": gettext_lazy("anyone"),
    "shared": gettext_lazy("all room members"),
    "invited": gettext_lazy("members, from when they were invited"),
    "joined": gettext_lazy("members, from when they joined"),
}
MEDIA_MSGTYPES = {"m.image": "image", "m.file": "file", "m.audio": "audio", "m.video": "video"}


@dataclass
class EventView:
    event_id: str
    sender: str
    sender_name: str
    timestamp: datetime | None
    template: str
    kind: str  # "message" or "state": messages get a sender line, state changes are compact
    css: str = ""
    body_html: str = ""
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # What relates to the event (see relations.TileState); the same for every viewer.
    edited: bool = False
    reactions: list[dict[str, Any]] = field(default_factory=list)
    thread: dict[str, Any] | None = None
    thread_root: str = ""
    reply: dict[str, Any] | None = None
    mentions: list[str] = field(default_factory=list)
    room_id: str = ""
    avatar: dict[str, Any] | None = None
    # End-to-end encryption: a warning about the sender's device (Element's shields).
    shield: dict[str, str] | None = None
    # Nothing but emoji (and custom emoticons): shown large.
    big_emoji: bool = False

    @property
    def ts_ms(self) -> int:
        return int(self.timestamp.timestamp() * 1000) if self.timestamp else 0

    def __getitem__(self, name: str) -> Any:
        """`view.kind` in a template: Django tries `view["kind"]` first, and a dataclass
        that cannot answer raises (and catches) an exception for each of a tile's ~30
        lookups before `getattr` (7% of rendering a new message's tile)."""
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None


def _timestamp(event: Mapping[str, Any]) -> datetime | None:
    ts = event.get("origin_server_ts")
    if isinstance(ts, int) and ts > 0:
        try:
            return datetime.fromtimestamp(ts / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def message_body_html(content: Mapping[str, Any]) -> str:
    """The sanitised HTML of a text message: its formatted body when it has a valid one."""
    formatted = content.get("formatted_body")
    relates = content.get("m.relates_to")
    is_reply = isinstance(relates, dict) and "m.in_reply_to" in relates
    if content.get("format") == HTML_FORMAT and isinstance(formatted, str) and formatted.strip():
        if is_reply:
            formatted = strip_reply_fallback_html(formatted)
        cleaned = clean_html(formatted, media_url=inline_media_url, spoilers=True)
        if cleaned.strip():
            return cleaned
        # Nothing survived sanitising (say, only an image): the plain body still says something.
    body = _str(content.get("body"))
    if is_reply:
        body = strip_reply_fallback_text(body)
    return plain_to_html(body)


def topic_html(topic: str | None, formatted: str | None) -> str:
    """A room's topic as the header shows it: formatted (spec v1.15) when it has a formatted
    version that survives sanitising, else its plain text, linkified."""
    if formatted:
        cleaned = clean_topic_html(formatted)
        if cleaned.strip():
            return cleaned
    return plain_to_html(topic) if topic else ""


def member_text(event: Mapping[str, Any], members: Mapping[str, dict]) -> str | None:
    content = event.get("content") if isinstance(event.get("content"), dict) else {}
    prev = (
        event.get("unsigned", {}).get("prev_content")
        if isinstance(event.get("unsigned"), dict)
        else None
    )
    prev = prev if isinstance(prev, dict) else {}
    sender = _str(event.get("sender"))
    target = _str(event.get("state_key"))
    actor = member_display_name(sender, members)
    # The name the event gives, disambiguated against the room's other members, so an
    # impersonator called "Alice" reads as "Alice (@mallory:evil.org)".
    shown = (
        dict(content)
        if _str(content.get("displayname"))
        else {
            **content,
            "displayname": _str(prev.get("displayname")),
        }
    )
    target_name = display_name_with(target, shown, members)
    membership = content.get("membership")
    before = prev.get("membership")
    reason = _str(content.get("reason"))
    names = {"actor": actor, "target": target_name}
    if membership == "join" and before == "join":
        old, new = _str(prev.get("displayname")), _str(content.get("displayname"))
        if old != new:
            if not new:
                return _("%(old)s removed their display name") % {"old": old}
            if not old:
                return _("%(target)s set their display name to %(new)s") % {
                    "target": target,
                    "new": new,
                }
            return _("%(old)s changed their display name to %(new)s") % {"old": old, "new": new}
        if prev.get("avatar_url") != content.get("avatar_url"):
            return _("%(target)s changed their avatar") % names
        return None
    if membership == "join":
        return _("%(target)s joined the room") % names
    if membership == "invite":
        return _("%(actor)s invited %(target)s") % names
    if membership == "leave":
        if sender == target:
            if before == "invite":
                return _("%(target)s rejected the invitation") % names
            return _("%(target)s left the room") % names
        if before == "ban":
            return _("%(actor)s unbanned %(target)s") % names
        if before == "invite":
            return _("%(actor)s withdrew %(target)s's invitation") % names
        text = _("%(actor)s removed %(target)s") % names
        return f"{text}: {reason}" if reason else text
    if membership == "ban":
        text = _("%(actor)s banned %(target)s") % names
        return f"{text}: {reason}" if reason else text
    if membership == "knock":
        return _("%(target)s asked to join") % names
    return None


def _state_text(event: Mapping[str, Any], members: Mapping[str, dict]) -> str | None:
    etype = event.get("type")
    content = event.get("content") if isinstance(event.get("content"), dict) else {}
    actor = member_display_name(_str(event.get("sender")), members)
    if etype == "m.room.member":
        return member_text(event, members)
    if etype == "m.room.name":
        name = _str(content.get("name"))
        if name:
            return _("%(actor)s changed the room name to %(name)s") % {"actor": actor, "name": name}
        return _("%(actor)s removed the room name") % {"actor": actor}
    if etype == "m.room.topic":
        topic = topic_texts(content)[0]
        if topic:
            return _("%(actor)s changed the topic to %(topic)s") % {"actor": actor, "topic": topic}
        return _("%(actor)s removed the topic") % {"actor": actor}
    if etype == "m.room.create":
        return _("%(actor)s created the room") % {"actor": actor}
    if etype == "m.room.tombstone":
        return _("%(actor)s upgraded this room. The conversation continues in a new room.") % {
            "actor": actor
        }
    if etype == "m.room.join_rules":
        rule = _str(content.get("join_rule"))
        label = JOIN_RULES.get(rule, rule)
        return _("%(actor)s made the room %(rule)s") % {"actor": actor, "rule": label}
    if etype == "m.room.history_visibility":
        visibility = _str(content.get("history_visibility"))
        label = HISTORY_VISIBILITY.get(visibility, visibility)
        return _("%(actor)s made future history visible to %(who)s") % {
            "actor": actor,
            "who": label,
        }
    if etype == "m.room.guest_access":
        if content.get("guest_access") == "can_join":
            return _("%(actor)s allowed guests to join") % {"actor": actor}
        return _("%(actor)s stopped guests from joining") % {"actor": actor}
    if etype == "m.room.power_levels":
        return _("%(actor)s changed the power levels") % {"actor": actor}
    if etype == "m.room.avatar":
        return _("%(actor)s changed the room avatar") % {"actor": actor}
    if etype == "m.room.encryption":
        return _("%(actor)s turned on end-to-end encryption") % {"actor": actor}
    if etype == "m.room.pinned_events":
        added, removed = pinned_change(event)
        if added and not removed:
            if len(added) == 1:
                return _("%(actor)s pinned a message") % {"actor": actor}
            return _("%(actor)s pinned %(n)s messages") % {"actor": actor, "n": len(added)}
        if removed and not added:
            if len(removed) == 1:
                return _("%(actor)s unpinned a message") % {"actor": actor}
            return _("%(actor)s unpinned %(n)s messages") % {"actor": actor, "n": len(removed)}
        return _("%(actor)s changed the pinned messages") % {"actor": actor}
    if etype == "m.room.canonical_alias":
        alias = _str(content.get("alias"))
        if alias:
            return _("%(actor)s set the main address to %(alias)s") % {
                "actor": actor,
                "alias": alias,
            }
        return None
    return None


#: Why an encrypted message cannot be read (`matrix.encryption` says which), in words.
UTD_TEXT = {
    "waiting": gettext_lazy(
        "Waiting for the key from this message's sender. It will appear here when it arrives."
    ),
    "withheld": gettext_lazy("The sender did not share the key for this message with this device"),
    "unavailable": gettext_lazy("Encrypted message: this device cannot decrypt messages."),
    "error": gettext_lazy("This message could not be decrypted"),
}
SHIELD_TEXT = {
    "unverified_device": gettext_lazy("Encrypted by a device not verified by its owner."),
    "unknown_device": gettext_lazy("Encrypted by an unknown or deleted device."),
    "unauthenticated": gettext_lazy(
        "The authenticity of this encrypted message can't be guaranteed on this device."
    ),
    "identity_changed": gettext_lazy("The sender's identity changed."),
}


def undecryptable(event: Mapping[str, Any]) -> dict[str, Any]:
    """What an encrypted event's tile says: waiting for its key, withheld (and why), or not
    decryptable here at all."""
    e2e = event.get("webclient_e2e")
    why = e2e.get("utd") if isinstance(e2e, dict) else "unavailable"
    text = str(UTD_TEXT.get(why, UTD_TEXT["unavailable"]))
    detail = e2e.get("detail") if isinstance(e2e, dict) else ""
    if why in ("withheld", "error") and detail:
        text = f"{text}: {detail}"
    elif why in ("withheld", "error"):
        text = f"{text}."
    return {"utd": why or "unavailable", "utd_text": text}


def shield_of(event: Mapping[str, Any]) -> dict[str, str] | None:
    """The warning a decrypted event carries about its sender's device, if any."""
    e2e = event.get("webclient_e2e")
    kind = e2e.get("shield") if isinstance(e2e, dict) else None
    if not kind or kind not in SHIELD_TEXT:
        return None
    return {"kind": kind, "text": str(SHIELD_TEXT[kind])}


def build(event: Mapping[str, Any], members: Mapping[str, dict]) -> EventView | None:
    """The view model of an event, or None for events that get no tile of their own."""
    event_id = _str(event.get("event_id"))
    sender = _str(event.get("sender"))
    etype = event.get("type")
    if not event_id or not sender or not isinstance(etype, str):
        return None
    content = event.get("content")
    base = {
        "event_id": event_id,
        "sender": sender,
        "sender_name": member_display_name(sender, members),
        "timestamp": _timestamp(event),
    }
    if not isinstance(content, dict):
        return EventView(
            **base, template="events/unrenderable.html", kind="message", css="unrenderable"
        )
    redacted = isinstance(event.get("unsigned"), dict) and "redacted_because" in event["unsigned"]
    if not content and etype in ("m.room.message", "m.sticker", "m.room.encrypted"):
        return EventView(**base, template="events/redacted.html", kind="message", css="redacted")
    if redacted and "state_key" in event and etype != "m.room.member":
        return None  # a redacted state event changed nothing that can be shown
    if etype == "m.room.message":
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            return None  # an edit re-renders its target; it has no tile of its own
        msgtype = _str(content.get("msgtype"))
        name = TEXT_MSGTYPES.get(msgtype)
        if name:
            body_html = message_body_html(content)
            return EventView(
                **base,
                template=f"events/message_{name}.html",
                kind="message",
                css=f"msgtype-{name}",
                body_html=body_html,
                big_emoji=name != "emote" and is_emoji_only(content, body_html),
            )
        if msgtype in MEDIA_MSGTYPES:
            extra = media_extra(msgtype, content, event)
            if extra is not None:
                return EventView(
                    **base,
                    template=f"events/message_{MEDIA_MSGTYPES[msgtype]}.html",
                    kind="message",
                    css=f"msgtype-{MEDIA_MSGTYPES[msgtype]}",
                    extra=extra,
                )
        if msgtype == "m.location" and (extra := location_extra(content)):
            return EventView(
                **base,
                template="events/message_location.html",
                kind="message",
                css="msgtype-location",
                extra=extra,
            )
        # An unknown msgtype, or a media message that cannot be shown, falls back to its body.
        body = _str(content.get("body"))
        return EventView(
            **base,
            template="events/message_fallback.html",
            kind="message",
            css="msgtype-other",
            body_html=plain_to_html(body) if body else "",
        )
    if etype in polls.START_TYPES or etype in polls.END_TYPES:
        return _poll_view(base, str(etype), content)
    if etype == "m.sticker":
        extra = media_extra("m.sticker", content, event)
        if extra is None:
            return EventView(
                **base,
                template="events/message_fallback.html",
                kind="message",
                css="sticker",
                body_html=plain_to_html(_str(content.get("body"))),
            )
        return EventView(
            **base, template="events/sticker.html", kind="message", css="sticker", extra=extra
        )
    if etype == "m.room.encrypted":
        return EventView(
            **base,
            template="events/encrypted.html",
            kind="message",
            css=f"encrypted utd-{undecryptable(event)['utd']}",
            extra=undecryptable(event),
        )
    if "state_key" in event:
        text = _state_text(event, members)
        if text is None:
            return None
        view = EventView(**base, template="events/state.html", kind="state", css="state", text=text)
        if etype == "m.room.member":
            view.css = "state state-member"
        link = _room_link(etype, content)
        if link:
            view.extra = link
        if etype == "m.room.pinned_events":
            added, removed = pinned_change(event)
            changed = added or removed
            if len(changed) == 1:
                view.extra = {"link_event": changed[0], "link_text": _("View the message")}
        return view
    return None


def poll_extra(poll: polls.Poll, result: polls.Tally | None) -> dict[str, Any]:
    """What a poll's tile shows: the question, the answers, and the votes where they may be
    seen (a disclosed poll always, an undisclosed one once it has ended)."""
    result = result or polls.Tally()
    show = poll.disclosed or result.ended
    top = set(result.top_answers()) if result.ended else set()
    most = max((len(v) for v in result.votes.values()), default=0)
    if result.ended:
        status = (
            _("Final result based on %(count)s votes") % {"count": result.voters}
            if result.voters
            else _("The poll has ended. No votes were cast.")
        )
    elif poll.disclosed:
        status = (
            _("Based on %(count)s votes") % {"count": result.voters}
            if result.voters
            else _("No votes cast")
        )
    else:
        status = _("Results will be visible when the poll is ended")
    return {
        "question": poll.question,
        "answers": [
            {
                "id": answer_id,
                "text": text,
                "count": len(result.votes.get(answer_id, [])),
                "voters": " ".join(result.votes.get(answer_id, [])),
                "winner": answer_id in top,
            }
            for answer_id, text in poll.answers
        ],
        "disclosed": poll.disclosed,
        "ended": result.ended,
        "show_results": show,
        "most": max(most, 1),
        "max_selections": poll.max_selections,
        "status": status,
    }


def _poll_view(base: dict[str, Any], etype: str, content: Mapping[str, Any]) -> EventView:
    """A poll's start (the poll, or its text fallback when it cannot be read) or its end (a
    line with the end's text, linking to the poll)."""
    if etype in polls.END_TYPES:
        relates = content.get("m.relates_to")
        poll_id = relates.get("event_id") if isinstance(relates, dict) else None
        return EventView(
            **base,
            template="events/poll_end.html",
            kind="message",
            css="poll-end",
            text=polls.fallback_text(content) or _("The poll has ended."),
            extra={"poll_id": poll_id if isinstance(poll_id, str) else ""},
        )
    poll = polls.parse_start(etype, content)
    if poll is None:
        text = polls.fallback_text(content)
        return EventView(
            **base,
            template="events/message_fallback.html",
            kind="message",
            css="msgtype-other",
            body_html=plain_to_html(text) if text else "",
        )
    return EventView(
        **base,
        template="events/poll.html",
        kind="message",
        css="poll",
        extra=poll_extra(poll, None),
    )


def _pinned_ids(content: Any) -> list[str]:
    listed = content.get("pinned") if isinstance(content, dict) else None
    return [e for e in listed if isinstance(e, str)] if isinstance(listed, list) else []


def pinned_change(event: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(pinned, unpinned) event IDs of an m.room.pinned_events event, from its prev_content."""
    unsigned = event.get("unsigned") if isinstance(event.get("unsigned"), dict) else {}
    before = _pinned_ids(unsigned.get("prev_content"))
    after = _pinned_ids(event.get("content"))
    return [e for e in after if e not in before], [e for e in before if e not in after]


def _room_link(etype: str, content: Mapping[str, Any]) -> dict[str, str] | None:
    """Room upgrades link the old and the new room (spec: room upgrades)."""
    if etype == "m.room.tombstone":
        room_id = _str(content.get("replacement_room"))
        if room_id.startswith("!"):
            return {"link_room": room_id, "link_text": _("Go to the new room")}
    if etype == "m.room.create":
        predecessor = content.get("predecessor")
        room_id = _str(predecessor.get("room_id")) if isinstance(predecessor, dict) else ""
        if room_id.startswith("!"):
            return {"link_room": room_id, "link_text": _("See older messages in the old room")}
    return None


PILL_RE = re.compile(r'href="https://matrix\.to/#/(@[^"?/]+)')


def mentioned_users(content: Mapping[str, Any]) -> list[str]:
    """Who a message mentions: its `m.mentions`, or the user pills in its HTML (clients
    from before intentional mentions only sent pills)."""
    users: list[str] = []
    mentions = content.get("m.mentions")
    listed = mentions.get("user_ids") if isinstance(mentions, dict) else None
    if isinstance(listed, list):
        users.extend(u for u in listed if isinstance(u, str))
    formatted = content.get("formatted_body")
    if isinstance(formatted, str) and "matrix.to" in formatted:
        users.extend(unquote(m) for m in PILL_RE.findall(formatted))
    return list(dict.fromkeys(u for u in users if u.startswith("@")))[:50]


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _reply_view(replied: Mapping[str, Any], members: Mapping[str, dict]) -> dict[str, Any]:
    event_id = _str(replied.get("event_id"))
    if replied.get("missing"):
        return {"event_id": event_id, "missing": True}
    sender = _str(replied.get("sender"))
    content = replied.get("content") if isinstance(replied.get("content"), dict) else {}
    name = member_display_name(sender, members)
    preview = message_preview(content, name) if content else _("Message deleted")
    return {"event_id": event_id, "sender": sender, "sender_name": name, "preview": _short(preview)}


def build_tile(tile: TileState, members: Mapping[str, dict], room_id: str = "") -> EventView | None:
    """The view model of a tile with everything that relates to its event."""
    view = build(tile.event, members)
    if view is None:
        return None
    view.room_id = room_id
    if view.kind == "message":
        view.avatar = member_avatar(view.sender, view.sender_name, members)
        view.shield = shield_of(tile.event)
    content = tile.event.get("content") if isinstance(tile.event.get("content"), dict) else {}
    view.edited = tile.edited
    view.thread_root = thread_root(tile.event) or ""
    view.mentions = mentioned_users(content)
    view.reactions = [
        {
            "key": key,
            "count": len(senders),
            "senders": " ".join(senders),
            "names": ", ".join(member_display_name(u, members) for u in senders[:20]),
        }
        for key, senders in tile.reactions
    ]
    if tile.thread_count:
        latest = tile.thread_latest or {}
        latest_content = latest.get("content") if isinstance(latest.get("content"), dict) else {}
        latest_name = member_display_name(_str(latest.get("sender")), members)
        view.thread = {
            "count": tile.thread_count,
            "latest_name": latest_name if latest else "",
            "latest_preview": _short(message_preview(latest_content, latest_name))
            if latest_content
            else "",
        }
    if tile.reply_to is not None:
        view.reply = _reply_view(tile.reply_to, members)
    if tile.poll is not None and view.template == "events/poll.html":
        poll = polls.parse_start(str(tile.event.get("type")), content)
        if poll is not None:
            view.extra = poll_extra(poll, tile.poll)
    return view
