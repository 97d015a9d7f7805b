"""Every payload of tests/data/hostile_html.json against the sanitiser's invariants.

The corpus gathers hostile HTML from public sanitiser test suites and XSS cheat sheets
(DOMPurify, bleach, html5sec.org, OWASP, PortSwigger) plus the Matrix spec's own edge
cases; each entry records its source. Outputs are read back with the standard library's
`html.parser`, never with bleach, so these tests check what a browser is handed, not how
the sanitiser happens to work. The rules are the Matrix spec's (v1.11): see
tests/unit/test_sanitize.py for the rules one by one.

Payloads are also used as display names, topics, room names and file names, and the
templates must escape them: the markup of a tile or room entry must be the same whatever
the name is.
"""

from __future__ import annotations

import functools
import html
import json
import random
import re
import urllib.parse
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.loader import render_to_string

from webclient.matrix.previews import clean as clean_preview
from webclient.matrix.roomstate import RoomSummary
from webclient.timeline.messages import inline_media_url
from webclient.timeline.render import render_event_uncached
from webclient.timeline.roomlist import render_room_entry
from webclient.timeline.roompreview import render_room_summary, summary_view
from webclient.timeline.sanitize import clean_html, plain_to_html

CORPUS_PATH = Path(__file__).resolve().parent.parent / "data" / "hostile_html.json"
CORPUS: list[dict[str, str]] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
PAYLOADS = [pytest.param(entry["payload"], id=entry["id"]) for entry in CORPUS]

#: Crafted payloads put this token only inside <script>/<style> elements.
SCRIPT_MARK = "XSS_SCRIPT_TEXT"

# The spec's lists (v1.11, L7170-L7180), written out here rather than imported.
ALLOWED_TAGS = frozenset(
    "del h1 h2 h3 h4 h5 h6 blockquote p a ul ol sup sub li b i u strong em s code hr br div "
    "table thead tbody tr th td caption pre span img details summary".split()
)
ALLOWED_ATTRIBUTES = {
    "span": {"data-mx-bg-color", "data-mx-color", "data-mx-spoiler", "data-mx-maths"},
    "a": {"name", "target", "href", "rel"},  # rel="noopener" is ours (L7182)
    # data-mx-emoticon: custom emoticons, spec v1.19 (image packs).
    "img": {"width", "height", "alt", "title", "src", "data-mx-emoticon"},
    "ol": {"start"},
    "code": {"class"},
    "div": {"data-mx-maths"},
}
LINK_SCHEMES = ("https", "http", "ftp", "mailto", "magnet")
MAX_DEPTH = 100
VOID = frozenset({"br", "hr", "img"})
COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")
LANGUAGE_CLASS_RE = re.compile(r"language-\S+")
# What a browser ignores in a URL: leading/trailing C0 controls and spaces, and every
# tab and newline. Removing all of C0 and space everywhere is stricter still.
URL_IGNORED_RE = re.compile(r"[\x00-\x20\x7f]")
# What the sanitiser treats as invisible, for the text plain_to_html must keep.
INVISIBLE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


class Fragment(HTMLParser):
    """An HTML fragment as the standard library reads it: elements, depth, text, oddities."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.oddities: list[str] = []  # comments, declarations, processing instructions
        self.depth = 0
        self.max_depth = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))
        self.max_depth = max(self.max_depth, self.depth + 1)
        if tag not in VOID:
            self.depth += 1

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, attrs))
        self.max_depth = max(self.max_depth, self.depth + 1)

    def handle_endtag(self, tag):
        if tag not in VOID:
            self.depth -= 1

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.oddities.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.oddities.append(f"<!{decl}>")

    def handle_pi(self, data):
        self.oddities.append(f"<?{data}>")

    def unknown_decl(self, data):
        self.oddities.append(f"<![{data}]>")

    @property
    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}

    def all_text(self) -> str:
        return "".join(self.text)


def link_is_allowed(href: str) -> bool:
    """An absolute URL with an allowed scheme, however a browser reads the value.

    The parser has already decoded character references once; decode again in case the
    value was double-encoded, and check both readings.
    """
    for value in (href, html.unescape(href)):
        value = URL_IGNORED_RE.sub("", value)
        scheme, colon, rest = value.partition(":")
        if not colon or scheme.lower() not in LINK_SCHEMES:
            return False
        if scheme.lower() in ("http", "https", "ftp"):
            # Absolute: "scheme://". "https:x" or "https:/x" are relative on our page.
            if not rest.startswith("//"):
                return False
    return True


def assert_safe(out: str, *, media_urls: set[str] | None = None) -> Fragment:
    """The invariants every sanitised fragment keeps; returns the parsed fragment.

    `media_urls`: what the media hook handed out (None: no hook, so no image at all).
    """
    tree = Fragment(out)
    assert tree.tags <= ALLOWED_TAGS, tree.tags - ALLOWED_TAGS
    assert not tree.oddities, tree.oddities
    assert tree.max_depth <= MAX_DEPTH, tree.max_depth
    for tag, attr_list in tree.elements:
        names = [name for name, _ in attr_list]
        assert len(names) == len(set(names)), (tag, names)  # browsers keep the first one
        attrs = dict(attr_list)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, set()), (tag, attrs)
        if tag == "a":
            assert "noopener" in (attrs.get("rel") or "").split(), attrs
            if "href" in attrs:
                assert link_is_allowed(attrs["href"] or ""), attrs["href"]
                assert attrs.get("target") == "_blank", attrs
            else:
                assert "target" not in attrs, attrs
        if tag == "img":
            assert media_urls is not None, f"an image without a media hook: {attrs}"
            assert attrs.get("src") in media_urls, (attrs, media_urls)
        if tag == "code" and "class" in attrs:
            classes = (attrs["class"] or "").split()
            assert classes and all(LANGUAGE_CLASS_RE.fullmatch(c) for c in classes), attrs
        for name in ("data-mx-color", "data-mx-bg-color"):
            if name in attrs:
                assert COLOUR_RE.fullmatch(attrs[name] or ""), attrs
        if tag == "ol" and "start" in attrs:
            assert re.fullmatch(r"-?[0-9]+", attrs["start"] or ""), attrs
        for name in ("width", "height"):
            if name in attrs:
                assert re.fullmatch(r"[0-9]+", attrs[name] or ""), attrs
    return tree


class RecordingMediaHook:
    """A media hook like the real one: mxc URI in, URL of ours out; remembers its answers."""

    def __init__(self) -> None:
        self.handed_out: set[str] = set()

    def __call__(self, uri: str) -> str | None:
        if uri.endswith("/gone"):
            return None
        url = f"/_matrix/media-test/{len(self.handed_out)}"
        self.handed_out.add(url)
        return url


# --- clean_html --------------------------------------------------------------------------


def test_corpus_is_large_and_well_formed():
    assert len(CORPUS) >= 200
    ids = [entry["id"] for entry in CORPUS]
    assert len(ids) == len(set(ids))
    for entry in CORPUS:
        assert set(entry) == {"id", "source", "payload"}, entry.get("id")
        assert entry["source"].strip() and isinstance(entry["payload"], str)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_clean_html_keeps_the_invariants(payload):
    out = clean_html(payload)
    assert_safe(out)
    if SCRIPT_MARK in payload:
        assert SCRIPT_MARK not in out, "text from inside a <script> or <style> got out"
    assert clean_html(out) == out, "not idempotent"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_clean_html_with_a_media_hook_keeps_the_invariants(payload):
    hook = RecordingMediaHook()
    out = clean_html(payload, media_url=hook)
    assert_safe(out, media_urls=hook.handed_out)
    if SCRIPT_MARK in payload:
        assert SCRIPT_MARK not in out


@pytest.mark.parametrize("payload", PAYLOADS)
def test_clean_html_with_the_real_media_hook_keeps_the_invariants(payload):
    handed_out: set[str] = set()

    def hook(uri: str) -> str | None:
        url = inline_media_url(uri)
        if url is not None:
            handed_out.add(url)
        return url

    out = clean_html(payload, media_url=hook)
    tree = assert_safe(out, media_urls=handed_out)
    for tag, attrs in tree.elements:
        if tag == "img":
            assert dict(attrs)["src"].startswith("/media/"), attrs


def test_spliced_payload_fragments_keep_the_invariants():
    """Pieces of the corpus glued together at random (seeded, so a failure reproduces)."""
    rng = random.Random(20261122)
    short = [entry["payload"] for entry in CORPUS if len(entry["payload"]) < 600]
    for _ in range(400):
        pieces = []
        for _ in range(rng.randint(1, 10)):
            payload = rng.choice(short)
            start = rng.randint(0, len(payload))
            pieces.append(payload[start : start + rng.randint(1, 80)])
        spliced = "".join(pieces)
        try:
            out = clean_html(spliced)
            assert_safe(out)
            assert clean_html(out) == out, "not idempotent"
        except AssertionError as exc:
            raise AssertionError(f"{spliced!r}: {exc}") from exc


# --- plain_to_html -----------------------------------------------------------------------


def _plain_text(payload: str) -> str:
    """The text plain_to_html must show: line breaks become <br>, invisible characters go."""
    text = payload.replace("\r\n", "\n").replace("\r", "\n")
    return INVISIBLE_RE.sub("", text).replace("\n", "")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_plain_to_html_escapes_every_tag(payload):
    out = plain_to_html(payload)
    tree = assert_safe(out)
    assert tree.tags <= {"a", "br"}, tree.tags
    for tag, attrs in tree.elements:
        if tag == "a":
            assert dict(attrs)["href"], attrs  # only links it made itself
    assert tree.all_text() == _plain_text(payload)
    assert clean_html(out) == out


def assert_links_are_urls(out: str) -> None:
    """Every link plain text became is a URL with a host (issue 13: no `<a href>` of
    `http://;URL=javascript:`), read with the standard library's URL parser."""
    for tag, attrs in Fragment(out).elements:
        if tag != "a":
            continue
        href = dict(attrs)["href"] or ""
        parts = urllib.parse.urlsplit(href)
        if parts.scheme == "mailto":
            assert "@" in parts.path, href
            continue
        assert parts.scheme in ("http", "https", "ftp"), href
        assert parts.hostname, href
        assert parts.port is None or 0 <= parts.port <= 65535, href  # raises when malformed
        assert not any(c.isspace() for c in href), href


@pytest.mark.parametrize("payload", PAYLOADS)
def test_plain_text_links_of_the_corpus_are_urls(payload):
    assert_links_are_urls(plain_to_html(payload))
    assert_links_are_urls(plain_to_html(html.unescape(re.sub(r"<[^>]*>", " ", payload))))


def test_plain_text_links_of_spliced_urls_are_urls():
    rng = random.Random(20260713)
    pieces = [
        "http://",
        "https://",
        "ftp://",
        "mailto:",
        ";URL=",
        "javascript:",
        "@",
        ":",
        "[",
        "]",
        "::1",
        "example.org",
        "localhost",
        "1.2.3.4",
        "/",
        "?",
        "#",
        "\\",
        "%",
        " ",
        "x",
        "-",
        "_",
        ".",
        "80",
        "99999",
        "\u00fc",
        "xn--",
        "'",
        "(",
        ")",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        assert_links_are_urls(plain_to_html(text))


# --- templates: payloads as names, topics and file names ---------------------------------

ME = "@me:example.org"
EVE = "@eve:example.org"
NEUTRAL = "Plain Name"


def _structure(markup: str) -> list[tuple[str, tuple[str, ...]]]:
    tree = Fragment(markup)
    assert not tree.oddities, tree.oddities
    return [(tag, tuple(sorted(name for name, _ in attrs))) for tag, attrs in tree.elements]


def _member_event(name: str) -> dict:
    return {
        "event_id": "$member",
        "type": "m.room.member",
        "sender": EVE,
        "state_key": EVE,
        "origin_server_ts": 1_700_000_000_000,
        "content": {"membership": "join", "displayname": name},
    }


def _rename_event(name: str) -> dict:
    event = _member_event(name)
    event["unsigned"] = {"prev_content": {"membership": "join", "displayname": "Eve"}}
    return event


def _message_from(name: str) -> tuple[dict, dict]:
    """A message whose sender has `name` as display name (the tile's sender line)."""
    event = {
        "event_id": "$message",
        "type": "m.room.message",
        "sender": EVE,
        "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.emote", "body": "waves"},
    }
    return event, {EVE: {"displayname": name, "membership": "join"}}


def _state_event(event_type: str, key: str, value: str) -> dict:
    return {
        "event_id": "$state",
        "type": event_type,
        "sender": EVE,
        "state_key": "",
        "origin_server_ts": 1_700_000_000_000,
        "content": {key: value},
    }


def _file_event(content: dict) -> dict:
    return {
        "event_id": "$file",
        "type": "m.room.message",
        "sender": EVE,
        "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.file", "url": "mxc://example.org/abcdef", **content},
    }


def _room_entry(name: str, membership: str = "join") -> str:
    members = {
        EVE: {"displayname": name, "membership": "join"},
        ME: {"displayname": "Me", "membership": membership},
    }
    room = RoomSummary(
        room_id="!room:example.org",
        membership=membership,
        name=name,
        topic=name,
        members=members,
        last_event={"preview": name},
        notification_count=2,
        highlight_count=1,
        inviter=EVE if membership == "invite" else None,
    )
    return render_room_entry(room, ME)


def _unnamed_room_entry(name: str) -> str:
    """No room name: the room is named after the other member's display name."""
    room = RoomSummary(
        room_id="!room:example.org",
        members={
            EVE: {"displayname": name, "membership": "join"},
            ME: {"displayname": "Me", "membership": "join"},
        },
        heroes=[EVE],
        joined_count=2,
    )
    return render_room_entry(room, ME)


def _preview_card(title: str, description: str = "A description", site: str = "Site") -> str:
    """A URL preview: the linked page's og: properties, as the homeserver hands them on."""
    card = clean_preview(
        {
            "og:title": title,
            "og:description": description,
            "og:site_name": site,
            "og:image": "mxc://example.org/abcdef",
        }
    )
    return render_to_string(
        "rooms/_url_preview.html", {"url": "https://example.org/page", "card": card}
    )


def _room_summary(name: str, topic: str = "A topic") -> str:
    """A room one is not in, as `/room_summary` describes it."""
    return render_room_summary(
        summary_view(
            {
                "room_id": "!room:example.org",
                "name": name,
                "topic": topic,
                "num_joined_members": 3,
                "join_rule": "knock",
                "canonical_alias": "#room:example.org",
                "avatar_url": "mxc://example.org/abcdef",
            },
            "!room:example.org",
        )
    )


RENDERERS: dict[str, Callable[[str], str]] = {
    "URL preview title": _preview_card,
    "URL preview description": lambda text: _preview_card("A title", description=text),
    "URL preview site name": lambda text: _preview_card("A title", site=text),
    "room summary name": _room_summary,
    "room summary topic": lambda text: _room_summary("A room", topic=text),
    "member joined (display name)": lambda name: render_event_uncached(_member_event(name), {}),
    "display name change": lambda name: render_event_uncached(_rename_event(name), {}),
    "sender line": lambda name: render_event_uncached(*_message_from(name)),
    "topic change": lambda name: render_event_uncached(
        _state_event("m.room.topic", "topic", name), {}
    ),
    "room name change": lambda name: render_event_uncached(
        _state_event("m.room.name", "name", name), {}
    ),
    "m.file body as file name": lambda name: render_event_uncached(_file_event({"body": name}), {}),
    "m.file filename": lambda name: render_event_uncached(
        _file_event({"body": "a caption", "filename": name}), {}
    ),
    "m.image alt text": lambda name: render_event_uncached(
        _file_event({"msgtype": "m.image", "body": name, "info": {"w": 10, "h": 10}}), {}
    ),
    "room list entry": _room_entry,
    "room list invite": lambda name: _room_entry(name, membership="invite"),
    "room list entry named after a member": _unnamed_room_entry,
}


@functools.cache
def _expected_structure(what: str) -> list[tuple[str, tuple[str, ...]]]:
    structure = _structure(RENDERERS[what](NEUTRAL))
    assert structure, what
    return structure


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_as_names_topics_and_file_names_stays_text(payload):
    """The markup must not depend on the name: same elements, same attributes."""
    for what, render in RENDERERS.items():
        expected = _expected_structure(what)
        got = render(payload)
        assert _structure(got) == expected, what
        assert "<script" not in got.lower(), what


@pytest.fixture(autouse=True)
def _stop_sessions() -> None:
    """Pure functions and templates: no sync loop to stop, so no event loop per test."""
    return None
