"""What the composer's text becomes: the content of an `m.room.message`, and the one parser
of slash commands (the websocket and the no-JS form both come here).

Commands that only shape a message (`/me`, `/shrug`, `/plain`, `/html`, `/spoiler`, …) are
turned into content here, as Element's `SlashCommands.tsx` builds it; commands that act on
the room or the account (`/join`, `/invite`, `/op`, …) are carried out by
`webclient.live.actions.run_command`. Anything else starting with one slash is an unknown
command, said so and never sent as text; `//text` sends a literal slash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .markdown import render_markdown

HTML_FORMAT = "org.matrix.custom.html"

SHRUG = "¯\\_(ツ)_/¯"
TABLEFLIP = "(╯°□°）╯︵ ┻━┻"
UNFLIP = "┬──┬ ノ( ゜-゜ノ)"
LENNY = "( ͡° ͜ʖ ͡°)"


class CommandError(ValueError):
    """A slash command that cannot run as typed; the message is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str
    #: Acts on the room or the account (live/actions.py) rather than shaping a message.
    acts: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.args}".rstrip()


#: Every command, in the order the help lists them (Element's names and arguments).
COMMANDS: tuple[Command, ...] = (
    Command("me", "<message>", gettext_lazy("Send the message as an action (“* you waves”)")),
    Command("shrug", "[<message>]", gettext_lazy("Put ¯\\_(ツ)_/¯ before a plain-text message")),
    Command(
        "tableflip", "[<message>]", gettext_lazy("Put (╯°□°）╯︵ ┻━┻ before a plain-text message")
    ),
    Command(
        "unflip", "[<message>]", gettext_lazy("Put ┬──┬ ノ( ゜-゜ノ) before a plain-text message")
    ),
    Command("lenny", "[<message>]", gettext_lazy("Put ( ͡° ͜ʖ ͡°) before a plain-text message")),
    Command("plain", "<message>", gettext_lazy("Send the message as plain text, without Markdown")),
    Command("html", "<message>", gettext_lazy("Send the message as HTML, without Markdown")),
    Command("spoiler", "<message>", gettext_lazy("Send the message as a spoiler")),
    Command(
        "join", "<room-address>", gettext_lazy("Join a room by address, ID or link"), True, ("j",)
    ),
    Command(
        "leave",
        "[<room-address>]",
        gettext_lazy("Leave this room (or the one named)"),
        True,
        ("part",),
    ),
    Command("invite", "<user-id> [<reason>]", gettext_lazy("Invite someone to this room"), True),
    Command(
        "kick",
        "<user-id> [<reason>]",
        gettext_lazy("Remove someone from this room"),
        True,
        ("remove",),
    ),
    Command("ban", "<user-id> [<reason>]", gettext_lazy("Ban someone from this room"), True),
    Command("unban", "<user-id>", gettext_lazy("Lift someone's ban from this room"), True),
    Command("topic", "[<topic>]", gettext_lazy("Set this room's topic (or show it)"), True),
    Command("nick", "<display-name>", gettext_lazy("Change your display name everywhere"), True),
    Command(
        "myroomnick",
        "<display-name>",
        gettext_lazy("Change your display name in this room only"),
        True,
        ("roomnick",),
    ),
    Command(
        "op", "<user-id> [<power-level>]", gettext_lazy("Set someone's power level (50)"), True
    ),
    Command("deop", "<user-id>", gettext_lazy("Reset someone's power level to the default"), True),
    Command(
        "converttodm",
        "",
        gettext_lazy("Mark this room as a direct chat with its other member"),
        True,
    ),
    Command("help", "", gettext_lazy("List the commands"), True),
)
_BY_NAME = {name: c for c in COMMANDS for name in (c.name, *c.aliases)}
_COMMAND_RE = re.compile(r"^/(\S+?)(?:[ \n]+(.*))?$", re.S)


def parse_command(text: str) -> tuple[Command, str] | None:
    """`(command, arguments)` for a message that is a command; None for plain text (no
    leading slash, or `//` for a literal one). Raises `CommandError` for an unknown
    command: it is never sent as text."""
    if not text.startswith("/") or text.startswith("//"):
        return None
    match = _COMMAND_RE.match(text.rstrip())
    name = (match.group(1) if match else text[1:]).lower()
    args = (match.group(2) or "").strip() if match else ""
    command = _BY_NAME.get(name)
    if command is None:
        raise CommandError(
            _(
                "Unknown command /%(name)s. Type /help for the list, or start the message "
                "with // to send it with one leading slash."
            )
            % {"name": name[:40]}
        )
    return command, args


def _plain(prefix: str, args: str) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": f"{prefix} {args}" if args else prefix}


def message_content(text: str) -> dict[str, Any]:
    """`/me waves` is an emote; `//text` sends a literal slash; Markdown adds HTML; the
    message commands shape the content as Element does. Raises `CommandError` for an
    unknown command, a missing argument, or a command that is not a message."""
    parsed = parse_command(text)
    msgtype = "m.text"
    if parsed is not None:
        command, args = parsed
        name = command.name
        if command.acts:
            raise CommandError(
                _("/%(name)s does something rather than send a message.") % {"name": name}
            )
        if not args and name in ("me", "plain", "html", "spoiler"):
            raise CommandError(_("Usage: %(usage)s") % {"usage": command.usage})
        if name == "shrug":
            return _plain(SHRUG, args)
        if name == "tableflip":
            return _plain(TABLEFLIP, args)
        if name == "unflip":
            return _plain(UNFLIP, args)
        if name == "lenny":
            return _plain(LENNY, args)
        if name == "plain":
            return {"msgtype": "m.text", "body": args}
        if name == "html":
            # As Element: the body is the HTML as typed. Shown sanitised, like all HTML.
            return {
                "msgtype": "m.text",
                "format": HTML_FORMAT,
                "body": args,
                "formatted_body": args,
            }
        if name == "spoiler":
            html = escape(args, quote=False).replace("\n", "<br>")
            return {
                "msgtype": "m.text",
                "format": HTML_FORMAT,
                "body": args,
                "formatted_body": f"<span data-mx-spoiler>{html}</span>",
            }
        msgtype, text = "m.emote", args
    elif text.startswith("//"):
        text = text[1:]
    content: dict[str, Any] = {"msgtype": msgtype, "body": text}
    formatted = render_markdown(text)
    if formatted is not None:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = formatted
    return content


def topic_content(topic: str) -> dict[str, Any]:
    """`m.room.topic` as matrix-js-sdk's `makeTopicContent` writes it (v1.15 `m.topic`): the
    HTML rendering first when Markdown made one, then the plain text."""
    renderings = []
    html = render_markdown(topic)
    if html is not None:
        renderings.append({"body": html, "mimetype": "text/html"})
    renderings.append({"body": topic, "mimetype": "text/plain"})
    return {"topic": topic, "m.topic": {"m.text": renderings}}


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
    own_html = content.get("formatted_body") or escape(content["body"]).replace("\n", "<br>")
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
