"""What a page asks of its room, shared by the websocket and the plain forms: a message (a
reply, a message in a thread), an edit of one's own message, a deletion, a reaction, a vote
in a poll and the end of one, pinning and unpinning, and the slash commands that act
(`run_command`).

They are device operations (`devices.device_op`): views and sockets call them through
`device.run(send_text, room_id=…, …)`, and the device's owner runs them on its session,
whichever process the page is served by."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from webclient.matrix import directs, errors, polls, power, recent_emoji
from webclient.matrix.api import new_txn_id
from webclient.matrix.names import parse_room_reference, valid_user_id
from webclient.matrix.relations import has_tile
from webclient.matrix.session import MatrixSession
from webclient.timeline import compose
from webclient.timeline.sanitize import strip_reply_fallback_text

from .devices import DeviceHandle, device_op

#: How long a command waits for the sync loop to show what it did (a joined or left room).
COMMAND_SYNC_WAIT = 10.0
COMMAND_ERROR = "W_COMMAND"

EDITABLE_MSGTYPES = {"m.text", "m.emote", "m.notice"}


async def content_for(
    session: MatrixSession,
    room_id: str,
    text: str,
    *,
    reply_to: str | None = None,
    thread_id: str | None = None,
) -> dict[str, Any]:
    """The content a composer's text becomes (Markdown, `/me` and the other message
    commands, a reply or thread message)."""
    try:
        if thread_id:
            latest = session.timeline(room_id).latest_in_thread(thread_id)
            return compose.thread_content(text, thread_id, latest)
        if reply_to:
            replied = await session.event(room_id, reply_to)
            return compose.reply_content(text, replied, room_id)
        return compose.message_content(text)
    except compose.CommandError as exc:
        raise errors.MatrixError(exc.message, errcode=COMMAND_ERROR) from exc


@device_op(once=True)
async def send_text(
    session: MatrixSession,
    room_id: str,
    text: str,
    txn_id: str,
    *,
    reply_to: str | None = None,
    thread_id: str | None = None,
) -> str:
    """Send what the composer holds with the page's transaction ID; the event ID."""
    content = await content_for(session, room_id, text, reply_to=reply_to, thread_id=thread_id)
    return await session.send_message(room_id, content, txn_id)


async def own_message(session: MatrixSession, room_id: str, event_id: str) -> dict[str, Any]:
    """The user's own message, or a MatrixError saying why it cannot be changed here."""
    event = await session.event(room_id, event_id)
    if event.get("sender") != session.user_id:
        raise errors.MatrixError(_("You can only change your own messages."), errcode="W_NOT_OWN")
    if event.get("type") != "m.room.message" or not has_tile(event):
        raise errors.MatrixError(_("This message cannot be changed."), errcode="W_NOT_EDITABLE")
    return event


@device_op
async def editable_text(session: MatrixSession, room_id: str, event_id: str) -> str:
    """The current text of one's own message, as the composer should show it for editing."""
    await own_message(session, room_id, event_id)
    tile = session.timeline(room_id).tile(event_id)
    content = tile.event.get("content", {}) if tile else {}
    if content.get("msgtype") not in EDITABLE_MSGTYPES:
        raise errors.MatrixError(_("Only text messages can be edited."), errcode="W_NOT_EDITABLE")
    body = content.get("body") if isinstance(content.get("body"), str) else ""
    if content.get("msgtype") == "m.emote":
        body = f"/me {body}"
    if isinstance(content.get("m.relates_to"), dict) and "m.in_reply_to" in content["m.relates_to"]:
        body = strip_reply_fallback_text(body)
    return body


@device_op(once=True)
async def edit(session: MatrixSession, room_id: str, event_id: str, text: str, txn_id: str) -> str:
    await editable_text(session, room_id, event_id)
    try:
        content = compose.edit_content(text, event_id)
    except compose.CommandError as exc:
        raise errors.MatrixError(exc.message, errcode=COMMAND_ERROR) from exc
    return await session.send_message(room_id, content, txn_id)


@device_op(once=True)
async def redact(session: MatrixSession, room_id: str, event_id: str, reason: str = "") -> None:
    """Delete one's own message, or remove someone else's when one's power level allows."""
    event = await session.event(room_id, event_id)
    if event.get("sender") != session.user_id:
        levels, create = await session.power_levels(room_id)
        if not power.can(levels, create, session.user_id, "redact"):
            raise errors.MatrixError(
                _("You can only delete your own messages in this room."), errcode="W_NOT_OWN"
            )
    await session.redact(room_id, event_id, reason)


# -- polls (MSC3381) ----------------------------------------------------------------------------


async def poll_and_votes(
    session: MatrixSession, room_id: str, poll_id: str
) -> tuple[dict[str, Any], polls.Poll, polls.Tally]:
    """A poll start with its poll and its votes as far as they can be fetched."""
    event = await session.event(room_id, poll_id)
    await session.fetch_poll_relations(room_id, [poll_id])
    store = session.timeline(room_id)
    tile = store.tile(poll_id)
    counted = store.poll_of(tile.event) if tile is not None else None
    if counted is None:
        raise errors.MatrixError(_("This is not a poll."), errcode="W_NOT_A_POLL")
    return event, counted[0], counted[1]


@device_op(once=True)
async def vote(session: MatrixSession, room_id: str, poll_id: str, answer_id: str) -> str:
    """Vote for an answer, as Element does: the new selection replaces the old one. In a
    poll that allows several answers, choosing one again takes it back."""
    _, poll, result = await poll_and_votes(session, room_id, poll_id)
    if result.ended:
        raise errors.MatrixError(_("This poll has ended."), errcode="W_POLL_ENDED")
    if answer_id not in poll.answer_ids:
        raise errors.MatrixError(_("This poll has no such answer."), errcode="W_NO_ANSWER")
    mine = polls.my_selections(result, session.user_id)
    if poll.max_selections == 1:
        selections = [answer_id]
    elif answer_id in mine:
        selections = [a for a in mine if a != answer_id]
    else:
        selections = [*mine, answer_id][-poll.max_selections :]
    if selections == mine and poll.max_selections == 1:
        return ""  # already the vote
    event_type, content = polls.response_content(poll, poll_id, selections)
    return await session.send_message(room_id, content, new_txn_id("wcv", 10), event_type)


@device_op(once=True)
async def end_poll(session: MatrixSession, room_id: str, poll_id: str) -> str:
    """End a poll one started (or, with the power to redact, anyone's), with Element's text."""
    event, poll, result = await poll_and_votes(session, room_id, poll_id)
    if result.ended:
        raise errors.MatrixError(_("This poll has already ended."), errcode="W_POLL_ENDED")
    if event.get("sender") != session.user_id:
        levels, create = await session.power_levels(room_id)
        if not power.can(levels, create, session.user_id, "redact"):
            raise errors.MatrixError(
                _("Only the person who started this poll can end it."), errcode="W_NOT_OWN"
            )
    event_type, content = polls.end_content(poll, poll_id, polls.end_message(poll, result))
    return await session.send_message(room_id, content, new_txn_id("wcp", 10), event_type)


# -- pinned messages (m.room.pinned_events) ----------------------------------------------------

PINNED = "m.room.pinned_events"


@device_op(once=True)
async def set_pinned(session: MatrixSession, room_id: str, event_id: str, pinned: bool) -> None:
    """Pin a message (added last, as Element does) or unpin it, with the power level for it."""
    levels, create = await session.power_levels(room_id)
    if not power.can_send_state(levels, create, session.user_id, PINNED):
        raise errors.MatrixError(
            _("Your power level is too low to pin messages in this room."), errcode="W_POWER"
        )
    await session.event(room_id, event_id)  # it exists, and this user can see it
    current = await session.api.state_or_none(
        room_id, PINNED, action=_("Loading the pinned messages")
    )
    listed = current.get("pinned") if isinstance(current, dict) else None
    ids = [e for e in listed if isinstance(e, str)] if isinstance(listed, list) else []
    if pinned and event_id not in ids:
        ids.append(event_id)
    elif not pinned and event_id in ids:
        ids = [e for e in ids if e != event_id]
    else:
        return
    await session.api.put_state(
        room_id,
        PINNED,
        {"pinned": ids},
        action=_("Pinning the message") if pinned else _("Unpinning the message"),
    )


@device_op(once=True)
async def react(session: MatrixSession, room_id: str, event_id: str, key: str) -> bool:
    """React with `key` (any emoji, or text), or take one's reaction back; whether a
    reaction was added. An added one counts as a use in the recently used emoji."""
    added = not session.timeline(room_id).my_reaction(event_id, key, session.user_id)
    await session.toggle_reaction(room_id, event_id, key)
    if added:
        try:
            await recent_emoji.record(session, key)
        except errors.MatrixError:
            pass  # the reaction went out; the list of recent emoji is a nicety
    return added


# -- slash commands that act --------------------------------------------------------------------


@dataclass
class CommandResult:
    """What a command did, for the page: a sentence, and where to go next."""

    message: str = ""
    #: A room to open (after /join).
    open_room: str | None = None
    #: The room was left: the page goes to the room list.
    left: bool = False
    #: /help: the page shows the list of commands.
    help: bool = False


@device_op(once=True)
async def command(session: MatrixSession, room_id: str, text: str) -> dict[str, Any] | None:
    """`run_command` by the device's owner (its result as plain data)."""
    done = await run_command(session, room_id, text)
    return dataclasses.asdict(done) if done is not None else None


async def run_command_on(device: DeviceHandle, room_id: str, text: str) -> CommandResult | None:
    """`run_command` for a page of any process: what the command did, None for a message."""
    done = await device.run(command, room_id=room_id, text=text)
    return CommandResult(**done) if done is not None else None


def _command_error(message: str) -> errors.MatrixError:
    return errors.MatrixError(message, errcode=COMMAND_ERROR)


def _user_and_rest(command: compose.Command, args: str) -> tuple[str, str]:
    match = re.match(r"^(\S+?)(?: +(.*))?$", args, re.S)
    if not match or not valid_user_id(match.group(1)):
        raise _command_error(
            _("Usage: %(usage)s (a user ID looks like @alice:example.org)")
            % {"usage": command.usage}
        )
    return match.group(1), (match.group(2) or "").strip()


def _server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


async def run_command(session: MatrixSession, room_id: str, text: str) -> CommandResult | None:
    """Carry out a command that acts (`/join`, `/invite`, `/op`, …); None when the text is
    not one (a message, or a command that shapes a message: `content_for` sends those).
    Raises `MatrixError`: an unknown command or bad arguments (errcode `W_COMMAND`, in
    words), or the homeserver's refusal."""
    try:
        parsed = compose.parse_command(text)
    except compose.CommandError as exc:
        raise _command_error(exc.message) from exc
    if parsed is None or not parsed[0].acts:
        return None
    command, args = parsed
    name = command.name
    api, me = session.api, session.user_id
    if name == "help":
        return CommandResult(help=True)
    if name == "join":
        return await _join(session, command, args)
    if name == "leave":
        target = room_id
        if args:
            if not args.startswith("#") or " " in args:
                raise _command_error(_("Usage: %(usage)s") % {"usage": command.usage})
            alias = args if ":" in args else f"{args}:{_server_of(me)}"
            target = await session.resolve(alias)
        await api.leave(target, action=_("Leaving"))
        await session.wait_until(target, lambda s: s is None, COMMAND_SYNC_WAIT)
        return CommandResult(_("You left the room."), left=target == room_id)
    if name == "invite":
        user_id, reason = _user_and_rest(command, args)
        await api.invite(room_id, user_id, reason, action=_("Inviting %(id)s") % {"id": user_id})
        return CommandResult(_("Invited %(id)s.") % {"id": user_id})
    if name in ("kick", "ban"):
        user_id, reason = _user_and_rest(command, args)
        await api.moderate(room_id, name, user_id, reason, action="/" + name)
        done = _("Removed %(id)s from the room.") if name == "kick" else _("Banned %(id)s.")
        return CommandResult(done % {"id": user_id})
    if name == "unban":
        user_id, rest = _user_and_rest(command, args)
        if rest:
            raise _command_error(_("Usage: %(usage)s") % {"usage": command.usage})
        await api.moderate(room_id, "unban", user_id, action="/unban")
        return CommandResult(_("Unbanned %(id)s.") % {"id": user_id})
    if name == "topic":
        if not args:
            summary = session.room(room_id)
            topic = summary.topic if summary is not None else None
            if topic:
                return CommandResult(_("The topic is: %(topic)s") % {"topic": topic})
            return CommandResult(_("This room has no topic."))
        await api.put_state(
            room_id, "m.room.topic", compose.topic_content(args), action=_("Setting the topic")
        )
        return CommandResult(_("Topic changed."))
    if name == "nick":
        if not args:
            raise _command_error(_("Usage: %(usage)s") % {"usage": command.usage})
        await api.set_display_name(me, args, action=_("Changing your display name"))
        return CommandResult(_("Your display name is now %(name)s.") % {"name": args})
    if name == "myroomnick":
        if not args:
            raise _command_error(_("Usage: %(usage)s") % {"usage": command.usage})
        member = await api.state_or_none(room_id, "m.room.member", me) or {"membership": "join"}
        await api.put_state(
            room_id,
            "m.room.member",
            {**member, "displayname": args},
            me,
            action=_("Changing your name in this room"),
        )
        return CommandResult(_("Your name in this room is now %(name)s.") % {"name": args})
    if name in ("op", "deop"):
        return await _power(session, room_id, command, args)
    if name == "converttodm":
        other = await _dm_partner(session, room_id)
        await directs.set_dm_room(session, room_id, other)
        return CommandResult(_("This room is now a direct chat with %(id)s.") % {"id": other})
    raise _command_error(_("Unknown command /%(name)s.") % {"name": name})  # pragma: no cover


async def _join(session: MatrixSession, command: compose.Command, args: str) -> CommandResult:
    """`/join #alias`, `/join #alias` on this server without `:server`, `/join !id server…`,
    or a matrix.to link or `matrix:` URI, as Element accepts them."""
    words = args.split()
    if not words:
        raise _command_error(_("Usage: %(usage)s") % {"usage": command.usage})
    first = words[0]
    if first.startswith("#") and ":" not in first:
        first += f":{_server_of(session.user_id)}"
    parsed = parse_room_reference(first)
    if parsed is None:
        raise _command_error(
            _("“%(value)s” is not a room address, room ID or room link.") % {"value": words[0]}
        )
    target, via = parsed
    if target.startswith("!"):
        via = via or [w for w in words[1:] if w][:3]
    joined = await session.api.join(target, via, action=_("Joining %(room)s") % {"room": target})
    await session.wait_until(
        joined, lambda s: s is not None and s.membership == "join", COMMAND_SYNC_WAIT
    )
    return CommandResult(_("Joined %(room)s.") % {"room": target}, open_room=joined)


async def _power(
    session: MatrixSession, room_id: str, command: compose.Command, args: str
) -> CommandResult:
    """`/op <user> [<level>]` (50 by default) and `/deop <user>`, as Element: only for people
    in the room (joined or invited); `/deop` takes them out of the power levels' `users`."""
    match = re.match(r"^(\S+?)(?: +(-?\d+))?$", args)
    if (
        not match
        or not valid_user_id(match.group(1))
        or (command.name == "deop" and match.group(2))
    ):
        raise _command_error(_("Usage: %(usage)s") % {"usage": command.usage})
    user_id = match.group(1)
    api = session.api
    member, levels = await asyncio.gather(
        api.state_or_none(room_id, "m.room.member", user_id),
        api.state_or_none(room_id, "m.room.power_levels"),
    )
    if not member or member.get("membership") not in ("join", "invite"):
        raise _command_error(
            _("%(id)s is not in this room, so their power level cannot be set.") % {"id": user_id}
        )
    content = dict(levels or {})
    users = dict(content.get("users") or {}) if isinstance(content.get("users"), dict) else {}
    if command.name == "op":
        level = int(match.group(2)) if match.group(2) else 50
        users[user_id] = level
        message = _("%(id)s now has power level %(level)s.") % {"id": user_id, "level": level}
    else:
        users.pop(user_id, None)
        message = _("%(id)s has the default power level again.") % {"id": user_id}
    content["users"] = users
    await api.put_state(room_id, "m.room.power_levels", content, action=_("Setting power levels"))
    return CommandResult(message)


async def _dm_partner(session: MatrixSession, room_id: str) -> str:
    """Whom the room would be a DM with (Element's `guessDMRoomTargetId`): the joined member
    (not oneself) who has been in the room longest, else the oldest other member."""
    members = await session.api.members(room_id, action=_("Loading the members"))
    others = [
        m
        for m in members
        if m.get("state_key") != session.user_id and isinstance(m.get("state_key"), str)
    ]

    def ts(event: dict[str, Any]) -> int:
        value = event.get("origin_server_ts")
        return value if isinstance(value, int) else 0

    joined = [m for m in others if (m.get("content") or {}).get("membership") == "join"]
    for group in (joined, others):
        if group:
            return str(min(group, key=ts)["state_key"])
    return session.user_id
