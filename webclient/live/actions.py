"""What a page asks of its room, shared by the websocket and the plain forms: a message (a
reply, a message in a thread), an edit of one's own message, a deletion, a reaction.

They are device operations (`devices.device_op`): views and sockets call them through
`device.run(send_text, room_id=…, …)`, and the device's owner runs them on its session,
whichever process the page is served by."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from webclient.matrix import errors, power
from webclient.matrix.relations import has_tile
from webclient.matrix.session import MatrixSession
from webclient.timeline import compose
from webclient.timeline.sanitize import strip_reply_fallback_text

from .devices import device_op

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
    return await session.send_message(room_id, compose.edit_content(text, event_id), txn_id)


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
