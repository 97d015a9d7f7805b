"""Events as view models and HTML tiles (webclient.timeline.viewmodels and .render).

Uses Django's template engine (pytest-django sets the settings up); no database.
"""

from __future__ import annotations

import html
import re

import pytest
from django.core.cache import cache

from webclient.timeline import render, viewmodels
from webclient.timeline.render import render_event_uncached, render_events

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
TS = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC

MEMBERS = {
    ALICE: {"displayname": "Alice", "membership": "join"},
    BOB: {"displayname": "Bob", "membership": "join"},
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def message(content, *, sender=BOB, event_id="$msg", **extra):
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.room.message",
        "origin_server_ts": TS,
        "content": content,
        **extra,
    }


def state(etype, content, *, sender=BOB, state_key="", prev=None, event_id="$state"):
    event = {
        "event_id": event_id,
        "sender": sender,
        "type": etype,
        "state_key": state_key,
        "origin_server_ts": TS,
        "content": content,
    }
    if prev is not None:
        event["unsigned"] = {"prev_content": prev}
    return event


def body_of(tile: str) -> str:
    """The inner HTML of the tile's `.event-body` (divs inside it are balanced)."""
    start = tile.index('<div class="event-body">') + len('<div class="event-body">')
    depth, position = 1, start
    for match in re.finditer(r"<(/?)div\b", tile[start:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            position = start + match.start()
            break
    else:
        raise AssertionError(f"unbalanced tile: {tile}")
    return tile[start:position].strip()


def classes_of(tile: str) -> set[str]:
    match = re.match(r'<article class="([^"]*)"', tile)
    assert match, tile
    return set(match.group(1).split())


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


# -- messages ---------------------------------------------------------------------------------


def test_text_message_tile():
    tile = render_event_uncached(message({"msgtype": "m.text", "body": "hello there"}), MEMBERS)
    assert tile.startswith("<article ")
    assert {"event", "event-message", "msgtype-text"} <= classes_of(tile)
    assert 'data-event-id="$msg"' in tile
    assert f'data-sender="{BOB}"' in tile
    assert f'data-ts="{TS}"' in tile
    assert f'<span class="sender" title="{BOB}">Bob</span>' in tile
    assert '<time datetime="2023-11-14T22:13:20+00:00"' in tile
    assert body_of(tile) == "hello there"


def test_plain_body_is_escaped_and_linkified():
    body = "<script>alert(1)</script> see https://example.org/a?b=1&c=2\nnext line"
    tile = render_event_uncached(message({"msgtype": "m.text", "body": body}), MEMBERS)
    inner = body_of(tile)
    assert "<script" not in inner
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in inner
    assert '<a href="https://example.org/a?b=1&amp;c=2"' in inner
    assert "<br>" in inner


def test_formatted_body_is_sanitised():
    content = {
        "msgtype": "m.text",
        "body": "fallback",
        "format": "org.matrix.custom.html",
        "formatted_body": '<strong>bold</strong><img src=x onerror="alert(1)">'
        '<script>bad()</script><a href="javascript:alert(2)">link</a>',
    }
    inner = body_of(render_event_uncached(message(content), MEMBERS))
    assert "<strong>bold</strong>" in inner
    for bad in ("<script", "onerror", "<img", "javascript:", "bad()"):
        assert bad not in inner


def test_formatted_body_in_another_format_is_ignored():
    content = {
        "msgtype": "m.text",
        "body": "the *body*",
        "format": "x",
        "formatted_body": "<b>x</b>",
    }
    assert body_of(render_event_uncached(message(content), MEMBERS)) == "the *body*"


def test_reply_fallbacks_are_stripped():
    content = {
        "msgtype": "m.text",
        "body": "> <@alice:example.org> original\n\nthe reply",
        "format": "org.matrix.custom.html",
        "formatted_body": "<mx-reply><blockquote>original</blockquote></mx-reply>the reply",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}},
    }
    inner = body_of(render_event_uncached(message(content), MEMBERS))
    assert inner == "the reply"
    del content["format"], content["formatted_body"]
    assert body_of(render_event_uncached(message(content), MEMBERS)) == "the reply"


def test_edit_has_no_tile_of_its_own():
    content = {
        "msgtype": "m.text",
        "body": "* fixed",
        "m.new_content": {"msgtype": "m.text", "body": "fixed"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"},
    }
    assert viewmodels.build(message(content), MEMBERS) is None
    assert render_event_uncached(message(content), MEMBERS) == ""


def test_emote():
    tile = render_event_uncached(message({"msgtype": "m.emote", "body": "waves"}), MEMBERS)
    assert "msgtype-emote" in classes_of(tile)
    inner = body_of(tile)
    assert '<span class="emote">* <span class="emote-sender">Bob</span> waves</span>' == inner


def test_notice():
    tile = render_event_uncached(message({"msgtype": "m.notice", "body": "beep"}), MEMBERS)
    assert "msgtype-notice" in classes_of(tile)
    assert body_of(tile) == '<div class="notice">beep</div>'


def test_unknown_msgtype_falls_back_to_its_body():
    content = {"msgtype": "org.example.poll", "body": "Poll: <lunch>?"}
    tile = render_event_uncached(message(content), MEMBERS)
    assert "msgtype-other" in classes_of(tile)
    assert body_of(tile) == "Poll: &lt;lunch&gt;?"


def test_unknown_msgtype_without_body_says_so():
    tile = render_event_uncached(message({"msgtype": "org.example.thing"}), MEMBERS)
    assert "not supported" in text_of(body_of(tile))


@pytest.mark.parametrize(
    "event",
    [
        message({}),
        message({}, unsigned={"redacted_because": {"type": "m.room.redaction"}}),
    ],
    ids=["empty-content", "redacted_because"],
)
def test_redacted_message(event):
    tile = render_event_uncached(event, MEMBERS)
    assert "redacted" in classes_of(tile)
    assert text_of(body_of(tile)) == "Message deleted"
    assert 'data-event-id="$msg"' in tile


def test_encrypted_message_gets_a_placeholder():
    event = {
        "event_id": "$enc",
        "sender": BOB,
        "type": "m.room.encrypted",
        "origin_server_ts": TS,
        "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA", "session_id": "s"},
    }
    tile = render_event_uncached(event, MEMBERS)
    assert {"event-message", "encrypted"} <= classes_of(tile)
    assert "Encrypted message" in body_of(tile)
    assert "AAAA" not in tile


# -- state changes: one compact line each ------------------------------------------------------


def member(membership, *, by=BOB, name=None, before=None, before_name=None, **content):
    """An `m.room.member` event about Alice; `before` is the previous membership."""
    content = {"membership": membership, **content}
    if name is not None:
        content["displayname"] = name
    prev = None
    if before is not None:
        prev = {"membership": before}
        if before_name is not None:
            prev["displayname"] = before_name
    return state("m.room.member", content, sender=by, state_key=ALICE, prev=prev)


STATE_LINES = [
    # The name in the event itself: the name the member had at that time, else the user ID.
    (member("join", by=ALICE), f"{ALICE} joined the room"),
    (member("join", by=ALICE, name="Alice"), "Alice joined the room"),
    (member("invite", name="Alice"), "Bob invited Alice"),
    (member("invite"), f"Bob invited {ALICE}"),
    (member("leave", by=ALICE, before="join", before_name="Alice"), "Alice left the room"),
    (member("leave", by=ALICE, before="invite"), f"{ALICE} rejected the invitation"),
    (member("leave", before="invite", before_name="Alice"), "Bob withdrew Alice's invitation"),
    (member("leave", before="join", before_name="Alice", reason="spam"), "Bob removed Alice: spam"),
    (member("leave", before="join", before_name="Alice"), "Bob removed Alice"),
    (member("ban", before="join", before_name="Alice", reason="abuse"), "Bob banned Alice: abuse"),
    (member("ban", before="join", before_name="Alice"), "Bob banned Alice"),
    (member("leave", before="ban", before_name="Alice"), "Bob unbanned Alice"),
    (member("knock", by=ALICE, name="Alice"), "Alice asked to join"),
    (
        member("join", by=ALICE, name="Ally", before="join", before_name="Alice"),
        "Alice changed their display name to Ally",
    ),
    (
        member("join", by=ALICE, name="Alice", before="join"),
        f"{ALICE} set their display name to Alice",
    ),
    (
        member("join", by=ALICE, before="join", before_name="Alice"),
        "Alice removed their display name",
    ),
    (
        state(
            "m.room.member",
            {"membership": "join", "displayname": "Alice", "avatar_url": "mxc://x/new"},
            sender=ALICE,
            state_key=ALICE,
            prev={"membership": "join", "displayname": "Alice", "avatar_url": "mxc://x/old"},
        ),
        "Alice changed their avatar",
    ),
    (state("m.room.name", {"name": "Lunch"}), "Bob changed the room name to Lunch"),
    (state("m.room.name", {}), "Bob removed the room name"),
    (state("m.room.topic", {"topic": "Where to eat"}), "Bob changed the topic to Where to eat"),
    (state("m.room.topic", {"topic": ""}), "Bob removed the topic"),
    (state("m.room.create", {"creator": BOB, "room_version": "10"}), "Bob created the room"),
    (state("m.room.avatar", {"url": "mxc://x/y"}), "Bob changed the room avatar"),
    (
        state("m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"}),
        "Bob turned on end-to-end encryption",
    ),
    (
        state("m.room.canonical_alias", {"alias": "#lunch:example.org"}),
        "Bob set the main address to #lunch:example.org",
    ),
    (state("m.room.join_rules", {"join_rule": "invite"}), "Bob made the room invite only"),
    (
        state("m.room.join_rules", {"join_rule": "public"}),
        "Bob made the room public (anyone can join)",
    ),
    (
        state("m.room.history_visibility", {"history_visibility": "shared"}),
        "Bob made future history visible to all room members",
    ),
    (state("m.room.guest_access", {"guest_access": "can_join"}), "Bob allowed guests to join"),
    (
        state("m.room.guest_access", {"guest_access": "forbidden"}),
        "Bob stopped guests from joining",
    ),
    (state("m.room.power_levels", {"users": {BOB: 100}}), "Bob changed the power levels"),
    (
        state("m.room.tombstone", {"replacement_room": "!new:example.org", "body": "moved"}),
        "Bob upgraded this room. The conversation continues in a new room.",
    ),
]


@pytest.mark.parametrize(("event", "expected"), STATE_LINES, ids=[t for _, t in STATE_LINES])
def test_state_line(event, expected):
    view = viewmodels.build(event, MEMBERS)
    assert view is not None
    assert view.kind == "state"
    assert view.text == expected
    tile = render_event_uncached(event, MEMBERS)
    assert {"event", "event-state"} <= classes_of(tile)
    assert "event-message" not in classes_of(tile)
    assert 'class="event-meta"' not in tile  # compact: no sender header
    assert f'<span class="state-line">{html.escape(expected)}</span>' in tile


@pytest.mark.parametrize(
    "event",
    [
        # Nothing visible changed in a join -> join.
        state(
            "m.room.member",
            {"membership": "join", "displayname": "Alice"},
            sender=ALICE,
            state_key=ALICE,
            prev={"membership": "join", "displayname": "Alice"},
        ),
        state("m.room.canonical_alias", {}),
        state("org.example.custom.state", {"anything": 1}),
        state("m.room.member", {"membership": "weird"}, state_key=ALICE),
        {"event_id": "$typing", "sender": BOB, "type": "org.example.custom", "content": {}},
    ],
    ids=[
        "profile-unchanged",
        "alias-removed",
        "custom-state",
        "bad-membership",
        "custom",
    ],
)
def test_events_without_a_tile(event):
    assert viewmodels.build(event, MEMBERS) is None
    assert render_event_uncached(event, MEMBERS) == ""


# -- names are text, never markup ---------------------------------------------------------------

EVIL = '<img src=x onerror=alert(1)>"Evil"'
EVIL_MEMBERS = {BOB: {"displayname": EVIL, "membership": "join"}, **{ALICE: MEMBERS[ALICE]}}


@pytest.mark.parametrize(
    "event",
    [
        message({"msgtype": "m.text", "body": "hi"}),
        message({"msgtype": "m.emote", "body": "waves"}),
        state("m.room.topic", {"topic": "<script>alert(1)</script>"}),
        state("m.room.member", {"membership": "invite", "displayname": EVIL}, state_key=BOB),
        state("m.room.name", {"name": "<b>room</b>"}),
    ],
    ids=["sender", "emote", "topic", "invitee", "room-name"],
)
def test_display_names_and_state_text_are_escaped(event):
    tile = render_event_uncached(event, EVIL_MEMBERS)
    assert "<img" not in tile
    assert "<script" not in tile
    assert "<b>" not in tile
    assert "&lt;" in tile
    if event["type"] != "m.room.name":
        assert "&lt;img src=x onerror=alert(1)&gt;&quot;Evil&quot;" in tile


def test_clashing_display_names_are_disambiguated():
    members = {
        ALICE: {"displayname": "Alice", "membership": "join"},
        "@mallory:example.org": {"displayname": "Alice", "membership": "join"},
    }
    tile = render_event_uncached(
        message({"msgtype": "m.text", "body": "hi"}, sender="@mallory:example.org"), members
    )
    assert (
        '<span class="sender" title="@mallory:example.org">Alice (@mallory:example.org)</span>'
        in (tile)
    )


def test_sender_without_a_member_event_is_shown_by_user_id():
    tile = render_event_uncached(message({"msgtype": "m.text", "body": "hi"}, sender="@x:y"), {})
    assert '<span class="sender" title="@x:y">@x:y</span>' in tile


# -- malformed events ---------------------------------------------------------------------------

MALFORMED = [
    message("not an object"),
    message(["a", "list"]),
    message(None),
    message({"msgtype": 5, "body": ["x"]}),
    message({"body": None, "format": "org.matrix.custom.html", "formatted_body": 7}),
    message({"msgtype": "m.text", "body": "ts"}, origin_server_ts="yesterday"),
    message({"msgtype": "m.text", "body": "ts"}, origin_server_ts=10**30),
    message({"msgtype": "m.text", "body": "ts"}, origin_server_ts=-1),
    message({"msgtype": "m.text", "body": "x", "m.relates_to": "nope"}),
    message({"msgtype": "m.text", "body": "x"}, unsigned="nope"),
    state("m.room.member", {"membership": ["join"]}, state_key=ALICE),
    state("m.room.member", {"membership": "join", "displayname": {}}, state_key=ALICE, prev="x"),
    state("m.room.name", {"name": 42}),
    state("m.room.topic", {"topic": None}),
    state("m.room.name", "not an object"),
]


@pytest.mark.parametrize("event", MALFORMED)
def test_malformed_events_never_crash(event):
    tile = render_event_uncached(event, {ALICE: "junk", BOB: {"displayname": 3}})
    if tile:
        assert 'data-event-id="' in tile
        assert body_of(tile) is not None


@pytest.mark.parametrize(
    "event",
    [
        {"sender": BOB, "type": "m.room.message", "content": {"body": "no id"}},
        {"event_id": "$x", "type": "m.room.message", "content": {"body": "no sender"}},
        {"event_id": "$x", "sender": BOB, "type": 5, "content": {"body": "bad type"}},
        {"event_id": 5, "sender": BOB, "type": "m.room.message", "content": {"body": "bad id"}},
    ],
)
def test_events_missing_required_fields_get_no_tile(event):
    assert viewmodels.build(event, MEMBERS) is None
    assert render_event_uncached(event, MEMBERS) == ""


def test_a_failing_view_model_gets_a_placeholder_tile(monkeypatch):
    def broken(event, members):
        raise KeyError("surprise")

    monkeypatch.setattr(viewmodels, "build", broken)
    tile = render_event_uncached(message({"msgtype": "m.text", "body": "hi"}), MEMBERS)
    assert 'data-event-id="$msg"' in tile
    assert "unrenderable" in classes_of(tile)
    assert "could not be displayed" in text_of(body_of(tile))


def test_timestamp_is_optional():
    tile = render_event_uncached(
        message({"msgtype": "m.text", "body": "x"}, origin_server_ts=None), {}
    )
    assert "data-ts" not in tile
    assert "<time" not in tile


# -- render_events: once per event, with the local-echo transaction ID ---------------------------


def test_render_events_returns_fragments_in_order_with_txn_ids():
    events = [
        message({"msgtype": "m.text", "body": "one"}, event_id="$1"),
        message(
            {"msgtype": "m.text", "body": "two"}, event_id="$2", unsigned={"transaction_id": "wc4"}
        ),
        {"type": "m.room.message", "content": {}},  # no event ID: skipped
        message(
            {"msgtype": "m.text", "body": "three"}, event_id="$3", unsigned={"transaction_id": 9}
        ),
    ]
    items = render_events(events, MEMBERS)
    assert [i["event_id"] for i in items] == ["$1", "$2", "$3"]
    assert [i["txn_id"] for i in items] == [None, "wc4", None]
    assert "one" in items[0]["html"] and "two" in items[1]["html"]


def test_render_events_renders_each_event_once(monkeypatch):
    calls = []
    original = render.render_event_uncached

    def counting(event, members):
        calls.append(event["event_id"])
        return original(event, members)

    monkeypatch.setattr(render, "render_event_uncached", counting)
    event = message({"msgtype": "m.text", "body": "cached"}, event_id="$cache")
    first = render_events([event], MEMBERS)
    second = render_events([event], MEMBERS)
    assert calls == ["$cache"]
    assert first[0]["html"] == second[0]["html"]


def test_render_events_keeps_events_without_a_tile_as_empty_fragments():
    edit = message(
        {
            "msgtype": "m.text",
            "body": "* x",
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"},
        },
        event_id="$edit",
    )
    items = render_events([edit], MEMBERS)
    assert items == [{"event_id": "$edit", "html": "", "txn_id": None}]


# -- regressions found by the integration tests ---------------------------------------------


def test_membership_line_disambiguates_an_impersonator():
    members = {"@alice:example.org": {"displayname": "Alice", "membership": "join"}}
    event = {
        "event_id": "$imp",
        "sender": "@mallory:evil.org",
        "type": "m.room.member",
        "state_key": "@mallory:evil.org",
        "origin_server_ts": 1,
        "content": {"membership": "join", "displayname": "Alice"},
    }
    view = viewmodels.build(event, members)
    assert view.text == "Alice (@mallory:evil.org) joined the room"


def test_redacted_state_event_gets_no_tile():
    event = {
        "event_id": "$t",
        "sender": "@alice:example.org",
        "type": "m.room.topic",
        "state_key": "",
        "origin_server_ts": 1,
        "content": {},
        "unsigned": {"redacted_because": {"type": "m.room.redaction"}},
    }
    assert viewmodels.build(event, {}) is None


def test_message_whose_content_is_not_an_object_is_unrenderable_not_deleted():
    event = {
        "event_id": "$bad",
        "sender": "@alice:example.org",
        "type": "m.room.message",
        "origin_server_ts": 1,
        "content": "not an object",
    }
    view = viewmodels.build(event, {})
    assert view.template == "events/unrenderable.html"


def test_spoilers_reveal_without_javascript_through_details():
    from webclient.timeline.viewmodels import message_body_html

    html_out = message_body_html(
        {
            "msgtype": "m.text",
            "body": "the butler did it",
            "format": "org.matrix.custom.html",
            "formatted_body": (
                'Plot: <span data-mx-spoiler="ending">the <b>butler</b></span> did it'
            ),
        }
    )
    assert '<details class="spoiler"><summary>Spoiler: ending</summary>' in html_out
    assert '<span data-mx-spoiler="ending">the <b>butler</b></span></details> did it' in html_out


def test_spoiler_reason_is_escaped():
    from webclient.timeline.viewmodels import message_body_html

    html_out = message_body_html(
        {
            "msgtype": "m.text",
            "body": "x",
            "format": "org.matrix.custom.html",
            "formatted_body": '<span data-mx-spoiler="&lt;img src=x onerror=alert(1)&gt;">x</span>',
        }
    )
    assert "<img" not in html_out and "&lt;img" in html_out
