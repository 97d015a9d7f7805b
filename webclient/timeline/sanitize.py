"""Sanitise Matrix HTML (`formatted_body`) and turn plain text into safe HTML.

Every use of bleach in the project is inside this module, and must stay here: bleach has
been unmaintained since June 2026, so keeping it behind these few pure functions means it
can be swapped (for nh3, say) by rewriting one file.

The rules are the Matrix Client-Server spec's (v1.11, "m.room.message msgtypes"): only the
listed tags, only the listed attributes per tag, links only to https/http/ftp/mailto/magnet
and never relative, images only from `mxc://`, `rel="noopener"` on every link, no nesting
deeper than 100 levels, and `mx-reply` stripped because this client renders rich replies
itself. `font` is not in the spec's list: legacy `<font color>` (still sent by Element's
/rainbow) becomes `<span data-mx-color>` so the colour survives in a spec-shaped form.
Colours stay in `data-mx-color` / `data-mx-bg-color` (validated as `#rrggbb`); turning them
into CSS is the stylesheet's job, since `style` is not an allowed attribute.

bleach is used through its html5lib pipeline (parser, tree walker, `BleachSanitizerFilter`,
serializer) rather than `bleach.clean`, because `bleach.clean(strip=True)` keeps the text of
`<script>` and `<style>` and cannot drop a whole subtree or limit depth.
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections.abc import Callable, Iterator
from typing import Any

from bleach import html5lib_shim  # first: it configures the vendored html5lib
from bleach._vendor.html5lib.treebuilders import getTreeBuilder
from bleach.sanitizer import INVISIBLE_CHARACTERS_RE, BleachSanitizerFilter

__all__ = [
    "ALLOWED_TAGS",
    "LINK_SCHEMES",
    "MAX_DEPTH",
    "MediaUrl",
    "clean_html",
    "clean_topic_html",
    "plain_to_html",
    "strip_reply_fallback_html",
    "strip_reply_fallback_text",
]

#: Maps an `mxc://` URI to the URL the browser should load, or None to drop the image.
MediaUrl = Callable[[str], "str | None"]

#: The spec's tag list, exactly (`mx-reply` is handled separately: it is always removed).
ALLOWED_TAGS = frozenset(
    "del h1 h2 h3 h4 h5 h6 blockquote p a ul ol sup sub li b i u strong em s code hr br div "
    "table thead tbody tr th td caption pre span img details summary".split()
)

#: Schemes a link may use; anything else, and every relative link, loses its href.
LINK_SCHEMES = ("https", "http", "ftp", "mailto", "magnet")

#: "Tags must not be nested more than 100 levels deep."
MAX_DEPTH = 100

# Elements removed together with everything inside them: their content is code, styling,
# embedded documents or form controls, never message text worth showing.
_DROP_WITH_CONTENT = frozenset(
    "mx-reply script style template iframe frame frameset object embed applet noscript "
    "noembed noframes xmp plaintext title textarea select option optgroup datalist button "
    "head svg math audio video canvas map".split()
)

_HTML_NAMESPACES = (None, html5lib_shim.namespaces["html"])

_COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")
# Special schemes need "//": "https:foo" on an https page is a relative link.
_LINK_RE = re.compile(r"(?:(?:https?|ftp)://|mailto:|magnet:)", re.IGNORECASE)
_MXC_RE = re.compile(r"mxc://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9_-]+")
_LANGUAGE_CLASS_RE = re.compile(r"language-[A-Za-z0-9_+#.-]+")
_INTEGER_RE = re.compile(r"-?[0-9]{1,9}")
_DIMENSION_RE = re.compile(r"[0-9]{1,5}")
_MEDIA_URL_RE = re.compile(r"(?:https?://|/(?!/))[^\s\"'<>\\]*")
_URL_WHITESPACE = " \t\n\r\f"


def _any(value: str) -> bool:
    return True


def _matching(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


def _is_link(value: str) -> bool:
    """An absolute link with an allowed scheme; control characters could hide a scheme.

    A web or FTP link must also name a host a browser can parse (`http://;URL=javascript:`
    names none: the browser refuses it, and the link would go nowhere or somewhere else)."""
    value = value.strip(_URL_WHITESPACE)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return False
    if _LINK_RE.match(value) is None:
        return False
    if _HIERARCHICAL_RE.match(value):
        return is_web_url(value, strict=False)
    return True


_HIERARCHICAL_RE = re.compile(r"(?:https?|ftp)://", re.IGNORECASE)
_AUTHORITY_END_RE = re.compile(r"[/?#\\]")
_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_TLD_RE = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")
_PORT_RE = re.compile(r"[0-9]{1,5}")
_USERINFO_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%:-]*")
_MAILBOX_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}")
_NOT_IN_URL = frozenset(' \t\n\r\f\v"<>`')


def _ascii_host(host: str) -> str | None:
    """The host in ASCII (IDNA for international names), or None when it is no name."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def valid_host(host: str, *, strict: bool) -> bool:
    """A host a browser can parse: an IPv4 or bracketed IPv6 address, or a domain name.

    `strict` (text that should become a link) also wants what linkify wants of a bare
    domain: at least two labels and a top-level domain of letters, or `localhost`."""
    if not host or len(host) > 253:
        return False
    if host.startswith("["):
        if not host.endswith("]"):
            return False
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    name = _ascii_host(host.rstrip("."))
    if name is None:
        return False
    labels = name.split(".")
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        return False
    if not strict:
        return True
    if name.lower() == "localhost":
        return True
    return len(labels) >= 2 and "_" not in name and _TLD_RE.fullmatch(labels[-1]) is not None


def is_web_url(value: str, *, strict: bool = True) -> bool:
    """An absolute http, https or ftp URL whose authority a browser parses as a host (and
    an optional user and port), with nothing after it that a browser would not keep."""
    match = _HIERARCHICAL_RE.match(value)
    if match is None:
        return False
    rest = value[match.end() :]
    end = _AUTHORITY_END_RE.search(rest)
    authority = rest if end is None else rest[: end.start()]
    if any(c in _NOT_IN_URL or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return False
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
        if not _USERINFO_RE.fullmatch(userinfo):
            return False
    host, port = authority, ""
    if authority.startswith("["):
        close = authority.find("]")
        host, port = authority[: close + 1], authority[close + 1 :]
        if port and not port.startswith(":"):
            return False
        port = port[1:]
    elif ":" in authority:
        host, port = authority.rsplit(":", 1)
        if not port and strict:
            return False
    if port and (not _PORT_RE.fullmatch(port) or int(port) > 65535):
        return False
    return valid_host(host, strict=strict)


def is_mail_url(value: str) -> bool:
    """`mailto:` with one address whose domain is a host (and optional header fields)."""
    if not value.lower().startswith("mailto:"):
        return False
    address = value[len("mailto:") :].split("?", 1)[0]
    local, at, domain = address.rpartition("@")
    return bool(at) and _MAILBOX_RE.fullmatch(local) is not None and valid_host(domain, strict=True)


def _is_mxc(value: str) -> bool:
    return _MXC_RE.fullmatch(value) is not None


def _is_language_class(value: str) -> bool:
    classes = value.split()
    return bool(classes) and all(_LANGUAGE_CLASS_RE.fullmatch(c) for c in classes)


_ATTRIBUTE_RULES: dict[str, dict[str, Callable[[str], bool]]] = {
    "span": {
        "data-mx-bg-color": _matching(_COLOUR_RE),
        "data-mx-color": _matching(_COLOUR_RE),
        "data-mx-spoiler": _any,
        "data-mx-maths": _any,
    },
    "a": {"name": _any, "target": _any, "href": _is_link},
    "img": {
        # Custom emoticons (spec v1.19, image packs): present or not, its value is ignored.
        "data-mx-emoticon": _any,
        "width": _matching(_DIMENSION_RE),
        "height": _matching(_DIMENSION_RE),
        "alt": _any,
        "title": _any,
        "src": _is_mxc,
    },
    "ol": {"start": _matching(_INTEGER_RE)},
    "code": {"class": _is_language_class},
    "div": {"data-mx-maths": _any},
}


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    """bleach's per-attribute callback: the spec's table plus a value check per attribute."""
    check = _ATTRIBUTE_RULES.get(tag, {}).get(name)
    return check is not None and check(value)


class _TooDeep(Exception):
    """The parser was asked to nest elements deeper than MAX_DEPTH."""


_EtreeBuilder: Any = getTreeBuilder("etree")


class _DepthLimitedTreeBuilder(_EtreeBuilder):
    """Stops parsing past MAX_DEPTH: html5lib's scope checks make deep nesting quadratic."""

    def _check_depth(self) -> None:
        # openElements[0] is the fragment's <html> root.
        if len(self.openElements) > MAX_DEPTH + 1:
            raise _TooDeep

    def insertElementNormal(self, token):
        element = super().insertElementNormal(token)
        self._check_depth()
        return element

    def insertElementTable(self, token):
        element = super().insertElementTable(token)
        self._check_depth()
        return element


_EtreeWalker: Any = html5lib_shim.getTreeWalker("etree")


class _LinearTreeWalker(_EtreeWalker):
    """html5lib's etree walker, minus its `list.index` on every way up (quadratic on wide trees).

    Nodes are `(element, index, parents, flag)` as in html5lib, but `parents` holds
    `(element, index)` pairs so going up needs no search.
    """

    def getFirstChild(self, node):
        if isinstance(node, tuple):
            element, key, parents, flag = node
        else:
            element, key, parents, flag = node, None, [], None
        if flag in ("text", "tail"):
            return None
        if element.text:
            return element, key, parents, "text"
        if len(element):
            parents.append((element, key))
            return element[0], 0, parents, None
        return None

    def getNextSibling(self, node):
        if not isinstance(node, tuple):
            return None
        element, key, parents, flag = node
        if flag == "text":
            if len(element):
                parents.append((element, key))
                return element[0], 0, parents, None
            return None
        if element.tail and flag != "tail":
            return element, key, parents, "tail"
        parent = parents[-1][0]
        if key < len(parent) - 1:
            return parent[key + 1], key + 1, parents, None
        return None

    def getParentNode(self, node):
        if not isinstance(node, tuple):
            return None
        element, key, parents, flag = node
        if flag == "text":
            return (element, key, parents, None) if parents else element
        parent, parent_key = parents.pop()
        return (parent, parent_key, parents, None) if parents else parent


class _StructureFilter(html5lib_shim.Filter):
    """Runs before bleach: drops whole subtrees, maps `font`, filters classes, handles `img`."""

    def __init__(self, source: Any, keep_mxc_images: bool) -> None:
        super().__init__(source)
        self.keep_mxc_images = keep_mxc_images

    def __iter__(self) -> Iterator[dict[str, Any]]:
        skipping = 0  # depth inside a subtree being dropped
        for token in super().__iter__():
            kind = token["type"]
            if skipping:
                if kind == "StartTag":
                    skipping += 1
                elif kind == "EndTag":
                    skipping -= 1
                continue
            if kind not in ("StartTag", "EmptyTag", "EndTag"):
                yield token
                continue
            name = token["name"]
            if token.get("namespace") not in _HTML_NAMESPACES or name in _DROP_WITH_CONTENT:
                if kind == "StartTag":
                    skipping = 1
                continue
            if name == "font":
                token["name"] = "span"
                if kind != "EndTag":
                    _font_to_span(token["data"])
            elif name == "code" and kind == "StartTag":
                _filter_code_classes(token["data"])
            elif name == "img":
                src = token["data"].get((None, "src"), "")
                if not (self.keep_mxc_images and _is_mxc(src)):
                    alt = token["data"].get((None, "alt"), "")
                    if alt:
                        yield {"type": "Characters", "data": alt}
                    continue
            yield token


def _font_to_span(attrs: dict[tuple[str | None, str], str]) -> None:
    """`<font color>` is legacy; its colour moves to the spec's `data-mx-color`."""
    colour = attrs.pop((None, "color"), None)
    if colour is not None and (None, "data-mx-color") not in attrs:
        attrs[(None, "data-mx-color")] = colour


def _filter_code_classes(attrs: dict[tuple[str | None, str], str]) -> None:
    """Only `language-*` classes may stay on `code` (for syntax highlighting)."""
    value = attrs.pop((None, "class"), None)
    if value is None:
        return
    kept = [c for c in value.split() if _LANGUAGE_CLASS_RE.fullmatch(c)]
    if kept:
        attrs[(None, "class")] = " ".join(kept)


class _SanitizerFilter(BleachSanitizerFilter):
    """bleach's allow-list filter, for text the tokenizer has already entity-decoded."""

    def sanitize_characters(self, token: dict[str, Any]) -> dict[str, Any]:
        # bleach re-tokenises entities here because it normally parses without decoding
        # them; we parse with decoding, so text is plain text and the serializer escapes it.
        token["data"] = INVISIBLE_CHARACTERS_RE.sub("", token.get("data", ""))
        return token


class _FinishFilter(html5lib_shim.Filter):
    """Runs after bleach: link attributes and the `<pre>` leading-newline quirk."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        after_pre = False
        for token in super().__iter__():
            kind = token["type"]
            if after_pre and kind in ("Characters", "SpaceCharacters"):
                # The parser drops one newline right after <pre>; add one back so that
                # re-parsing the output gives the same text.
                if token["data"].startswith("\n"):
                    token = {"type": kind, "data": "\n" + token["data"]}
            after_pre = kind == "StartTag" and token["name"] == "pre"
            if kind == "EmptyTag" and token["name"] == "img":
                if (None, "data-mx-emoticon") in token["data"]:
                    token["data"][(None, "data-mx-emoticon")] = ""
            if kind == "StartTag" and token["name"] == "a":
                attrs = token["data"]
                if (None, "href") in attrs:
                    attrs[(None, "target")] = "_blank"
                else:
                    attrs.pop((None, "target"), None)
                attrs[(None, "rel")] = "noopener"
            yield token


class _MediaFilter(html5lib_shim.Filter):
    """Points each (already validated) `mxc://` image at the URL the hook gives."""

    def __init__(self, source: Any, media_url: MediaUrl) -> None:
        super().__init__(source)
        self.media_url = media_url

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            if token["type"] == "EmptyTag" and token["name"] == "img":
                attrs = token["data"]
                url = self.media_url(attrs.get((None, "src"), ""))
                if url is None or _MEDIA_URL_RE.fullmatch(url) is None:
                    alt = attrs.get((None, "alt"), "")
                    if alt:
                        yield {"type": "Characters", "data": alt}
                    continue
                attrs[(None, "src")] = url
            yield token


class _SpoilerFilter(html5lib_shim.Filter):
    """For display only: a spoiler `span` goes inside `<details>`, so it reveals on click
    even without JavaScript (the summary says "Spoiler" and the sender's reason)."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        spans: list[bool] = []
        for token in super().__iter__():
            kind = token["type"]
            if kind == "StartTag" and token["name"] == "span":
                reason = token["data"].get((None, "data-mx-spoiler"))
                spans.append(reason is not None)
                if reason is not None:
                    label = f"Spoiler: {reason}" if reason.strip() else "Spoiler"
                    yield {
                        "type": "StartTag",
                        "name": "details",
                        "data": {(None, "class"): "spoiler"},
                    }
                    yield {"type": "StartTag", "name": "summary", "data": {}}
                    yield {"type": "Characters", "data": label}
                    yield {"type": "EndTag", "name": "summary"}
            elif kind == "EndTag" and token["name"] == "span" and spans:
                if spans.pop():
                    yield token
                    yield {"type": "EndTag", "name": "details"}
                    continue
            yield token


def _parse(text: str) -> Any:
    parser = html5lib_shim.BleachHTMLParser(
        tags=None,  # parse everything: disallowed tags are removed from the tree, not the text
        strip=True,
        consume_entities=True,  # values are checked as the browser will read them
        namespaceHTMLElements=False,
        tree=_DepthLimitedTreeBuilder,
    )
    return parser.parseFragment(text)


def _serialize(stream: Any) -> str:
    serializer = html5lib_shim.HTMLSerializer(
        quote_attr_values="always",
        quote_char='"',
        omit_optional_tags=False,
        minimize_boolean_attributes=False,
        escape_lt_in_attrs=True,
        resolve_entities=False,
        sanitize=False,
        alphabetical_attributes=True,
    )
    return serializer.render(stream)


#: What a formatted topic keeps (spec: m.room.topic, "clients SHOULD ignore things like
#: headings and enumerations"): inline formatting and links; the rest is unwrapped.
TOPIC_TAGS = frozenset("a b i u s del strong em code sup sub span br".split())


def _clean_once(text: str, keep_mxc_images: bool, tags: frozenset[str] = ALLOWED_TAGS) -> str:
    stream: Any = _StructureFilter(_LinearTreeWalker(_parse(text)), keep_mxc_images)
    stream = _SanitizerFilter(
        source=stream,
        allowed_tags=tags,
        attributes=_attribute_allowed,
        # URL values are checked by _attribute_allowed alone (stricter than bleach's check,
        # which allows relative links), so that plain_to_html can apply the very same rule.
        attr_val_is_uri=frozenset(),
        allowed_protocols=LINK_SCHEMES,
        strip_disallowed_tags=True,
        strip_html_comments=True,
    )
    return _serialize(_FinishFilter(stream))


_TAG_RE = re.compile(r"<[^<>]*>")
_TAG_NAME_RE = re.compile(r"<([A-Za-z][^\s/<>]*)")
_END_TAG_RES = {
    name: re.compile(rf"</{re.escape(name)}[\s/>]", re.IGNORECASE) for name in _DROP_WITH_CONTENT
}


def _text_fallback(text: str) -> str:
    """Markup we refuse to render as HTML is shown as its text, escaped (linear time).

    As in `clean_html`, the elements dropped with their content (`script`, `style`,
    `mx-reply`, ...) are dropped with their content here too: from the start tag to the
    first end tag of the same name, or to the end of the text when there is none (as a
    browser reads an unclosed `<script>`).
    """
    kept: list[str] = []
    position = 0
    while (tag := _TAG_RE.search(text, position)) is not None:
        kept.append(text[position : tag.start()])
        position = tag.end()
        name = _TAG_NAME_RE.match(tag.group())
        end_re = _END_TAG_RES.get(name.group(1).lower()) if name else None
        if end_re is not None:
            end = end_re.search(text, position)
            position = len(text) if end is None else end.start()
    kept.append(text[position:])
    return plain_to_html(html.unescape("".join(kept)))


def clean_html(
    html_text: str,
    media_url: MediaUrl | None = None,
    *,
    spoilers: bool = False,
    tags: frozenset[str] = ALLOWED_TAGS,
) -> str:
    """Sanitise a `formatted_body` to the spec's whitelist; the result is safe to embed.

    Removed with their content: `mx-reply`, `script`, `style`, embedded documents, SVG and
    MathML, form controls. Other unknown tags are unwrapped (their text stays). Images are
    replaced by their alt text unless `media_url` is given: then an `img` whose `src` is a
    valid `mxc://` URI gets `src=media_url(uri)`, and is replaced by its alt text when that
    returns None.

    Nesting limit: input that would nest elements more than 100 deep is refused as HTML
    and rendered as its escaped plain text instead (tags removed, and the elements listed
    above removed with their content). A message nested that deep is hostile or broken,
    and stopping the parser there also keeps html5lib's quadratic cost on deep trees
    bounded.

    Idempotent: `clean_html(clean_html(x)) == clean_html(x)`. The HTML parser can build a
    different tree from its own output once tags are removed (tables, `<p>` inside `<p>`),
    so the cleaning is repeated until the output is stable. With `media_url`, clean the raw
    event once: the rewritten `src` is no longer `mxc://`, so a second pass drops it.
    """
    if not html_text:
        return ""
    html_text = strip_reply_fallback_html(html_text)
    keep_mxc_images = media_url is not None
    try:
        previous = _clean_once(html_text, keep_mxc_images, tags)
        for _ in range(4):
            current = _clean_once(previous, keep_mxc_images, tags)
            if current == previous:
                break
            previous = current
        else:
            return _text_fallback(html_text)
    except _TooDeep:
        return _text_fallback(html_text)
    if media_url is not None and "<img" in previous:
        previous = _serialize(_MediaFilter(_LinearTreeWalker(_parse(previous)), media_url))
    if spoilers and "data-mx-spoiler" in previous:
        previous = _serialize(_SpoilerFilter(_LinearTreeWalker(_parse(previous))))
    return previous


def clean_topic_html(html_text: str) -> str:
    """A formatted room topic (spec v1.15, `m.topic`): the message whitelist narrowed to
    inline formatting and links, images as their alt text. Safe to embed."""
    return clean_html(html_text, tags=TOPIC_TAGS)


# A URL starts at an allowed scheme and runs to whitespace or a character that cannot be
# part of one in running text; trailing punctuation is trimmed afterwards.
# (A backslash ends it too: browsers read it as "/", so the text would not say where it goes.)
_PLAIN_URL_RE = re.compile(r"\b(?:(?:https?|ftp)://|mailto:)[^\s<>\"\\]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,:;!?'\"*_~"
_BRACKETS = {")": "(", "]": "[", "}": "{"}
_NEWLINE_RE = re.compile(r"\r\n?")


def _trim_url(url: str) -> str:
    """Drop trailing punctuation and closing brackets that the URL did not open."""
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCTUATION:
            url = url[:-1]
        elif last in _BRACKETS and url.count(last) > url.count(_BRACKETS[last]):
            url = url[:-1]
        else:
            break
    return url


def _escape_text(text: str) -> str:
    return html.escape(text, quote=False)


def _escape_attribute(value: str) -> str:
    # The same escaping as the serializer above, so plain_to_html output is a fixed point.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _link(url: str) -> str:
    href = _escape_attribute(url)
    return f'<a href="{href}" rel="noopener" target="_blank">{_escape_text(url)}</a>'


def plain_to_html(text: str) -> str:
    """Plain text (a `body`, room name or topic) as HTML: escaped, linkified, `<br>` lines.

    Only text that is a URL becomes a link: an absolute http, https or ftp URL whose host is
    an IP address, `localhost` or a domain name with a top-level domain (as Element's
    linkify wants), or a `mailto:` with an address. The output passes `clean_html`
    unchanged, so it can be treated like any sanitised HTML.
    """
    text = INVISIBLE_CHARACTERS_RE.sub("", _NEWLINE_RE.sub("\n", text))
    parts: list[str] = []
    position = 0
    for match in _PLAIN_URL_RE.finditer(text):
        url = _trim_url(match.group())
        if not _is_link(url) or not (is_web_url(url) or is_mail_url(url)):
            continue
        parts.append(_escape_text(text[position : match.start()]))
        parts.append(_link(url))
        position = match.start() + len(url)
    parts.append(_escape_text(text[position:]))
    return "".join(parts).replace("\n", "<br>")


_REPLY_HTML_RE = re.compile(r"\A\s*<mx-reply(?:\s[^>]*)?>.*?</mx-reply\s*>", re.I | re.S)


def strip_reply_fallback_html(html_text: str) -> str:
    """Remove a leading `<mx-reply>…</mx-reply>`: the client shows the replied-to event itself.

    The spec allows `mx-reply` only as the very first tag; one anywhere else is not a
    fallback, and `clean_html` removes it (with its content) like any other `mx-reply`.
    """
    return _REPLY_HTML_RE.sub("", html_text, count=1)


def strip_reply_fallback_text(body: str) -> str:
    """Remove the leading `> ` quote lines of a reply's `body`, and the blank line after them.

    Call it only for events that are replies (`m.relates_to.m.in_reply_to`): in any other
    message a leading quote is the sender's own text.
    """
    lines = body.split("\n")
    stripped = 0
    while stripped < len(lines) and lines[stripped].startswith("> "):
        stripped += 1
    if stripped and stripped < len(lines) and lines[stripped] == "":
        stripped += 1
    return "\n".join(lines[stripped:])
