"""Polls (MSC3381) as Element sends them: reading, counting by the proposal's rules, the
tile that re-renders when votes change (TileState), and the per-viewer marks."""

from __future__ import annotations

from webclient.matrix import polls
from webclient.matrix.relations import RoomEvents
from webclient.timeline.render import for_viewer, render_tiles
from webclient.timeline.viewmodels import build

ALICE, BOB, CAROL = "@alice:example.org", "@bob:example.org", "@carol:example.org"
T = "org.matrix.msc1767.text"


def element_poll(kind: str = "org.matrix.msc3381.poll.disclosed", max_selections: int = 1) -> dict:
    """matrix-js-sdk's PollStartEvent.from(...).serialize(), as Element's poll dialog sends it."""
    return {
        "event_id": "$poll",
        "type": "org.matrix.msc3381.poll.start",
        "sender": ALICE,
        "origin_server_ts": 1000,
        "content": {
            "org.matrix.msc3381.poll.start": {
                "question": {T: "Lunch?"},
                "kind": kind,
                "max_selections": max_selections,
                "answers": [
                    {"id": "pizzaaaaaaaaaaaa", T: "Pizza"},
                    {"id": "sushiiiiiiiiiiii", T: "Sushi"},
                ],
            },
            T: "Lunch?\n1. Pizza\n2. Sushi",
        },
    }


def response(event_id: str, sender: str, ts: int, answers) -> dict:
    return {
        "event_id": event_id,
        "type": "org.matrix.msc3381.poll.response",
        "sender": sender,
        "origin_server_ts": ts,
        "content": {
            "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"},
            "org.matrix.msc3381.poll.response": {"answers": answers},
        },
    }


def end(event_id: str, sender: str, ts: int) -> dict:
    return {
        "event_id": event_id,
        "type": "org.matrix.msc3381.poll.end",
        "sender": sender,
        "origin_server_ts": ts,
        "content": {
            "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"},
            "org.matrix.msc3381.poll.end": {},
            T: "The poll has ended. Top answer: Pizza",
            "body": "The poll has ended. Top answer: Pizza",
            "msgtype": "m.text",
        },
    }


def test_parse_element_and_stable_shapes():
    poll = polls.parse_start("org.matrix.msc3381.poll.start", element_poll()["content"])
    assert poll and poll.question == "Lunch?" and poll.disclosed and not poll.stable
    assert poll.answers == (("pizzaaaaaaaaaaaa", "Pizza"), ("sushiiiiiiiiiiii", "Sushi"))
    stable = polls.parse_start(
        "m.poll.start",
        {
            "m.text": [{"body": "Q\n1. A"}],
            "m.poll": {
                "kind": "m.disclosed",
                "question": {"m.text": [{"body": "Q"}]},
                "answers": [{"m.id": "a", "m.text": [{"body": "A"}]}],
            },
        },
    )
    assert stable and stable.stable and stable.answers == (("a", "A"),) and stable.disclosed
    # Unknown kinds are undisclosed; malformed polls are none (their fallback text shows).
    assert not polls.parse_start(
        "org.matrix.msc3381.poll.start", element_poll("x.custom")["content"]
    ).disclosed
    assert polls.parse_start("org.matrix.msc3381.poll.start", {T: "x"}) is None
    view = build({**element_poll(), "content": {T: "Lunch? (fallback)"}}, {})
    assert view.template == "events/message_fallback.html" and "Lunch? (fallback)" in view.body_html


def test_latest_vote_per_user_before_the_end_counts():
    store = RoomEvents("!r", can_redact=lambda user: user == CAROL)
    store.add(element_poll())
    changed = store.add(response("$v1", BOB, 2000, ["pizzaaaaaaaaaaaa"]))
    assert changed == {"$poll"}
    store.add(response("$v2", BOB, 3000, ["sushiiiiiiiiiiii"]))  # changed their mind
    store.add(response("$v3", CAROL, 2500, ["nope"]))  # an unknown answer spoils it
    store.add(response("$v4", ALICE, 2600, ["pizzaaaaaaaaaaaa", "sushiiiiiiiiiiii"]))
    result = store.tile("$poll").poll
    assert result.votes == {"pizzaaaaaaaaaaaa": [ALICE], "sushiiiiiiiiiiii": [BOB]}
    assert result.voters == 2 and not result.ended
    before = store.tile("$poll").cache_key()
    # Bob's late vote after an end by someone who may not end it, then a valid end.
    store.add(end("$e0", BOB, 3500))
    assert not store.tile("$poll").poll.ended
    store.add(end("$e1", ALICE, 3500))
    store.add(response("$v5", BOB, 4000, ["pizzaaaaaaaaaaaa"]))  # after the end: ignored
    result = store.tile("$poll").poll
    assert result.ended and result.votes["sushiiiiiiiiiiii"] == [BOB]
    assert store.tile("$poll").cache_key() != before
    # A redacted vote no longer counts: the voter's previous one does (MSC3381).
    store.add({"event_id": "$r", "type": "m.room.redaction", "sender": BOB, "redacts": "$v2",
               "content": {}, "origin_server_ts": 3600})  # fmt: skip
    assert store.tile("$poll").poll.votes["pizzaaaaaaaaaaaa"] == [ALICE, BOB]
    # A moderator's end counts too (the power to redact), the earliest one.
    other = RoomEvents("!r", can_redact=lambda user: user == CAROL)
    other.add(element_poll())
    other.add(end("$e2", CAROL, 1500))
    assert other.tile("$poll").poll.end_event == "$e2"


def test_multiple_selections_are_truncated_and_deduplicated():
    poll = polls.parse_start(
        "org.matrix.msc3381.poll.start", element_poll(max_selections=1)["content"]
    )
    votes = [polls.Vote(BOB, 1, "$1", ("sushiiiiiiiiiiii", "pizzaaaaaaaaaaaa"))]
    assert polls.tally(poll, votes, None).votes["pizzaaaaaaaaaaaa"] == []
    poll2 = polls.parse_start(
        "org.matrix.msc3381.poll.start", element_poll(max_selections=2)["content"]
    )
    votes = [polls.Vote(BOB, 1, "$1", ("sushiiiiiiiiiiii", "sushiiiiiiiiiiii", "pizzaaaaaaaaaaaa"))]
    assert polls.tally(poll2, votes, None).votes == {
        "pizzaaaaaaaaaaaa": [],
        "sushiiiiiiiiiiii": [BOB],
    }


def test_what_the_tile_shows_and_hides():
    store = RoomEvents("!r:example.org")
    store.add(element_poll("org.matrix.msc3381.poll.undisclosed"))
    store.add(response("$v1", BOB, 2000, ["pizzaaaaaaaaaaaa"]))
    [item] = render_tiles(store, ["$poll"], {})
    assert "Lunch?" in item["html"] and "Pizza" in item["html"]
    assert "poll-count" not in item["html"]  # undisclosed: no results until the end
    assert "Results will be visible when the poll is ended" in item["html"]
    assert "/vote/?answer=pizzaaaaaaaaaaaa" in item["html"] and "End poll" in item["html"]
    mine = for_viewer([item], BOB)[0]["html"]
    assert '<li class="poll-answer mine" data-voters="@bob:example.org"' in mine
    assert 'class="poll-answer mine"' not in for_viewer([item], ALICE)[0]["html"]
    store.add(end("$e1", ALICE, 3000))
    [ended] = render_tiles(store, ["$poll"], {})
    assert ended["html"] != item["html"]
    assert "Final result based on 1 votes" in ended["html"] and "poll-count" in ended["html"]
    assert "/vote/" not in ended["html"] and 'data-winner="true"' in ended["html"]
    # The end has a line of its own linking to the poll; votes have no tile.
    [line] = render_tiles(store, ["$e1"], {})
    assert "The poll has ended. Top answer: Pizza" in line["html"] and "View poll" in line["html"]
    assert render_tiles(store, ["$v1"], {}) == []


def test_end_message_and_response_shapes_are_elements():
    poll = polls.parse_start("org.matrix.msc3381.poll.start", element_poll()["content"])
    event_type, content = polls.response_content(poll, "$poll", ["sushiiiiiiiiiiii"])
    assert event_type == "org.matrix.msc3381.poll.response"
    assert content == {
        "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"},
        "org.matrix.msc3381.poll.response": {"answers": ["sushiiiiiiiiiiii"]},
    }
    result = polls.tally(poll, [], None)
    assert polls.end_message(poll, result) == "The poll has ended. No votes were cast."
    result = polls.tally(poll, [polls.Vote(BOB, 1, "$1", ("sushiiiiiiiiiiii",))], None)
    message = polls.end_message(poll, result)
    assert message == "The poll has ended. Top answer: Sushi"
    event_type, content = polls.end_content(poll, "$poll", message)
    assert event_type == "org.matrix.msc3381.poll.end"
    assert content[T] == message and content["org.matrix.msc3381.poll.end"] == {}
