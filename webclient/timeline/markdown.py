"""What the composer's Markdown becomes: the `formatted_body` of a message, or nothing.

CommonMark (markdown-it-py) with strikethrough, raw HTML escaped rather than passed
through, and single newlines kept as `<br>` (as Element does, since chat users press
Enter meaning a line break). Plain text gets no `formatted_body`: the spec asks clients not
to emit HTML that is not needed, and receivers render a plain `body` just as well.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .sanitize import clean_html

__all__ = ["render_markdown"]

_md = MarkdownIt("commonmark", {"html": False, "breaks": True, "xhtmlOut": False}).enable(
    "strikethrough"
)

# Inline tokens that carry no formatting: a paragraph made of only these is plain text.
_PLAIN_INLINE = frozenset({"text", "softbreak"})


def _inline_text(token: Token) -> str:
    return "".join("\n" if c.type == "softbreak" else c.content for c in token.children or [])


def _is_plain(tokens: list[Token]) -> bool:
    """True when Markdown changed nothing: only paragraphs, each exactly its source text.

    Comparing the rendered text with the source catches backslash escapes and entities
    (`1\\. item`, `&amp;`), which render differently from the body even without markup.
    """
    for token in tokens:
        if token.type in ("paragraph_open", "paragraph_close"):
            continue
        if token.type != "inline":
            return False
        children = token.children or []
        if any(child.type not in _PLAIN_INLINE for child in children):
            return False
        if _inline_text(token) != token.content:
            return False
    return True


def render_markdown(body: str) -> str | None:
    """The sanitised HTML for `formatted_body`, or None when `body` is plain text.

    The HTML goes through `clean_html`, so what we send obeys the same whitelist we accept
    (links get `rel="noopener"`, images become their alt text until media is proxied).
    """
    tokens = _md.parse(body)
    if _is_plain(tokens):
        return None
    html = clean_html(_md.renderer.render(tokens, _md.options, {}))
    # One paragraph is sent without its <p> wrapper, as Element does (no stray margins).
    inner = html.strip()
    if inner.startswith("<p>") and inner.endswith("</p>") and inner.count("<p>") == 1:
        return inner[3:-4]
    return html
