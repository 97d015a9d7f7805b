"""What the composer's text becomes: the content of an `m.room.message`."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from .markdown import render_markdown

HTML_FORMAT = "org.matrix.custom.html"


def message_content(text: str) -> dict[str, Any]:
    """`/me waves` is an emote; `//text` sends a literal slash; Markdown adds HTML."""
    msgtype = "m.text"
    if text.startswith("/me ") and text[4:].strip():
        msgtype, text = "m.emote", text[4:]
    elif text.startswith("//"):
        text = text[1:]
    content: dict[str, Any] = {"msgtype": msgtype, "body": text}
    formatted = render_markdown(text)
    if formatted is not None:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = formatted
    return content


def _strip_fallback(content: dict[str, Any]) -> tuple[str, str | None]:
    """The replied-to message's own text, without its own reply fallback."""
    from .sanitize import strip_reply_fallback_html, strip_reply_fallback_text

    body = content.get("body") if isinstance(content.get("body"), str) else ""
    formatted = content.get("formatted_body")
    is_reply = isinstance(content.get("m.relates_to"), dict) and (
        "m.in_reply_to" in content["m.relates_to"]
    )
    if is_reply:
        body = strip_reply_fallback_text(body)
    if content.get("format") == HTML_FORMAT and isinstance(formatted, str):
        return body, strip_reply_fallback_html(formatted) if is_reply else formatted
    return body, None


def reply_content(text: str, replied: dict[str, Any], room_id: str) -> dict[str, Any]:
    """A rich reply, with the fallbacks the spec (v1.11) asks for and the replied-to sender
    as an intentional mention."""
    content = message_content(text)
    sender = str(replied.get("sender", ""))
    event_id = str(replied.get("event_id", ""))
    replied_content = replied.get("content") if isinstance(replied.get("content"), dict) else {}
    body, formatted = _strip_fallback(replied_content)
    quoted = "\n".join(f"> {line}" for line in (f"<{sender}> {body}").split("\n"))
    content["body"] = f"{quoted}\n\n{content['body']}"
    own_html = content.get("formatted_body") or escape(text).replace("\n", "<br>")
    replied_html = formatted if formatted is not None else escape(body).replace("\n", "<br>")
    room_link = f"https://matrix.to/#/{quote(room_id, safe='')}/{quote(event_id, safe='')}"
    user_link = f"https://matrix.to/#/{quote(sender, safe='@:')}"
    content["format"] = HTML_FORMAT
    content["formatted_body"] = (
        f'<mx-reply><blockquote><a href="{room_link}">In reply to</a> '
        f'<a href="{user_link}">{escape(sender)}</a><br>{replied_html}</blockquote></mx-reply>'
        f"{own_html}"
    )
    content["m.relates_to"] = {"m.in_reply_to": {"event_id": event_id}}
    content["m.mentions"] = {"user_ids": [sender]} if sender else {}
    return content


def thread_content(text: str, root_id: str, latest_id: str | None) -> dict[str, Any]:
    """A message in a thread; `m.in_reply_to` is the fallback for clients without threads."""
    content = message_content(text)
    content["m.relates_to"] = {
        "rel_type": "m.thread",
        "event_id": root_id,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": latest_id or root_id},
    }
    return content


def edit_content(text: str, original_id: str) -> dict[str, Any]:
    """An edit: `m.new_content` holds the message; the outer body is the `* ` fallback."""
    new = message_content(text)
    content: dict[str, Any] = {
        "msgtype": new["msgtype"],
        "body": f"* {new['body']}",
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original_id},
    }
    if "formatted_body" in new:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = f"* {new['formatted_body']}"
    return content
