"""Which part of a sync may be published before nio parses it (`MatrixSession._early_events`):
only new non-state timeline events, in a sync without room keys or device changes, and only
when every event is well-formed; anything else goes the usual way."""

from __future__ import annotations

from webclient.matrix.nioclient import sync_without_keys
from webclient.matrix.session import _plain_timeline


def message(n: int = 1, **extra):
    return {"type": "m.room.message", "event_id": f"$e{n}", "sender": "@bob:x", **extra}


def room(*events, state=None, limited=False):
    return {
        "timeline": {"events": list(events), "limited": limited, "prev_batch": "p1"},
        "state": {"events": state or []},
        "ephemeral": {"events": [{"type": "m.typing", "content": {"user_ids": []}}]},
    }


def test_new_messages_alone_go_early():
    events = [message(1), message(2, content={"body": "hi"})]
    assert _plain_timeline(room(*events)) == events
    # A gap before them does not change that: the page is told of it as usual.
    assert _plain_timeline(room(message(3), limited=True)) == [message(3)]


def test_state_waits_for_the_room_list():
    member = {
        "type": "m.room.member",
        "state_key": "@carol:x",
        "event_id": "$m",
        "sender": "@carol:x",
    }
    assert _plain_timeline(room(message(), state=[member])) == []
    assert _plain_timeline(room(member, message())) == []
    name = {"type": "m.room.name", "state_key": "", "event_id": "$n", "sender": "@bob:x"}
    assert _plain_timeline(room(message(), name)) == []


def test_malformed_parts_go_the_usual_way():
    assert _plain_timeline(None) == []
    assert _plain_timeline({"timeline": []}) == []
    assert _plain_timeline(room()) == []
    assert _plain_timeline(room(message(), "not an event")) == []
    assert _plain_timeline(room(message(), {"type": "m.room.message", "sender": "@b:x"})) == []
    assert _plain_timeline(room(message(event_id=7))) == []
    assert _plain_timeline(room(message(sender=None))) == []
    assert _plain_timeline({"timeline": {"events": "x"}, "state": {}}) == []


def test_keys_and_device_changes_come_first():
    assert sync_without_keys({"rooms": {}, "to_device": {"events": []}, "device_lists": {}})
    assert sync_without_keys({"rooms": {}})
    assert not sync_without_keys({"to_device": {"events": [{"type": "m.room_key"}]}})
    assert not sync_without_keys({"device_lists": {"changed": ["@bob:x"]}})
    assert not sync_without_keys({"device_lists": {"left": ["@bob:x"]}})
