"""What a page asks of its room, shared by the websocket and the plain forms: a message (a
reply, a message in a thread), an edit of one's own message, a deletion, a reaction, a vote
in a poll and the end of one, pinning and unpinning."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from webclient.matrix import errors, polls, power
from webclient.matrix.api import new_txn_id
from webclient.matrix.relations import has_tile
from webclient.matrix.session import MatrixSession
from webclient.timeline import compose
from webclient.timeline.sanitize import strip_reply_fallback_text

EDITABLE_MSGTYPES = {"m.text", "m.emote", "m.notice"}


async def content_for(
    session: MatrixSession,
    room_id: str,
    text: str,
    *,
    reply_to: str | None = None,
    thread_id: str | None = None,
) -> dict[str, Any]:
    """The content a composer's text becomes (Markdown, `/me`, a reply or thread message)."""
    if thread_id:
        latest = session.timeline(room_id).latest_in_thread(thread_id)
        return compose.thread_content(text, thread_id, latest)
    if reply_to:
        replied = await session.event(room_id, reply_to)
        return compose.reply_content(text, replied, room_id)
    return compose.message_content(text)


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


async def edit(session: MatrixSession, room_id: str, event_id: str, text: str, txn_id: str) -> str:
    await editable_text(session, room_id, event_id)
    return await session.send_message(room_id, compose.edit_content(text, event_id), txn_id)


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
