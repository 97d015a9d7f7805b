"""What the composer's text becomes: the content of an `m.room.message`."""

from __future__ import annotations

from typing import Any

from .markdown import render_markdown

HTML_FORMAT = "org.matrix.custom.html"


def message_content(text: str) -> dict[str, Any]:
    """`/me waves` is an emote; `//text` sends a literal slash; Markdown adds HTML."""
    msgtype = "m.text"
    if text.startswith("/me ") or text == "/me":
        msgtype, text = "m.emote", text[4:]
    elif text.startswith("//"):
        text = text[1:]
    content: dict[str, Any] = {"msgtype": msgtype, "body": text}
    formatted = render_markdown(text)
    if formatted is not None:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = formatted
    return content
