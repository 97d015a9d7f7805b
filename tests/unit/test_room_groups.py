"""The grouped room list (RoomList.placements / RoomList.sections) and room tags, fed with
/sync JSON shaped like Synapse's."""

from __future__ import annotations

import json
from itertools import count

from webclient.matrix.roomstate import RoomList, RoomSummary

ME = "@me:example.org"
ALICE = "@alice:example.org"

_ids = count(1)


def ev(type_: str, content: dict, ts: int, state_key: str | None = None, sender: str = ALICE):
    event = {
        "content": content,
        "event_id": f"$ev{next(_ids)}:example.org",
        "origin_server_ts": ts,
        "sender": sender,
        "type": type_,
    }
    if state_key is not None:
        event["state_key"] = state_key
    return event


def joined(name: str, ts: int, *, space: bool = False, children=(), tags=None) -> dict:
    """A JoinedRoom: its creation (a space when `space`), name, children, tags, a message."""
    create = {"room_version": "11"}
    if space:
        create["type"] = "m.space"
    state = [
        ev("m.room.create", create, 1, ""),
        ev("m.room.name", {"name": name}, 2, ""),
        ev("m.room.member", {"membership": "join"}, 3, ME, sender=ME),
    ]
    state += [ev("m.space.child", {"via": ["example.org"]}, 4, child) for child in children]
    account = []
    if tags is not None:
        account.append({"type": "m.tag", "content": {"tags": tags}})
    return {
        "state": {"events": state},
        "timeline": {"events": [ev("m.room.message", {"msgtype": "m.text", "body": name}, ts)]},
        "account_data": {"events": account},
        "summary": {"m.joined_member_count": 2},
    }


def invited(name: str, ts: int) -> dict:
    return {
        "invite_state": {
            "events": [
                ev("m.room.name", {"name": name}, ts, ""),
                ev("m.room.member", {"membership": "invite"}, ts, ME),
            ]
        }
    }


def build(join: dict, invite: dict | None = None) -> RoomList:
    rooms = RoomList()
    rooms.apply_sync({"join": join, "invite": invite or {}}, ME)
    return rooms


def layout(rooms: RoomList) -> list[tuple[str, list[str]]]:
    return [(s.key, [r.room_id for r in s.rooms]) for s in rooms.sections(ME)]


def test_sections_in_order_and_rules():
    rooms = build(
        {
            "!space:x": joined("Garden Club", 50, space=True, children=["!beds:x", "!seeds:x"]),
            "!beds:x": joined("Raised beds", 400),
            "!seeds:x": joined("Seeds", 300, tags={"m.favourite": {"order": 0.5}}),
            "!plain:x": joined("Plain", 200),
            "!older:x": joined("Older", 100),
            "!dm:x": joined("Alice", 250),
            "!low:x": joined("Noise", 900, tags={"m.lowpriority": {}}),
            "!fav:x": joined("Top", 10, tags={"m.favourite": {"order": 0.1}}),
        },
        {"!inv:x": invited("Come in", 20)},
    )
    rooms.apply_direct_map({ALICE: ["!dm:x"]})
    assert layout(rooms) == [
        ("invites", ["!inv:x"]),
        # By tag order first, not by activity; a favourite in a space is under Favourites only.
        ("favourites", ["!fav:x", "!seeds:x"]),
        ("direct", ["!dm:x"]),
        ("space:!space:x", ["!beds:x"]),
        # Newest activity first; the space itself is a heading, not a room.
        ("rooms", ["!plain:x", "!older:x"]),
        # Last, however recent.
        ("lowpriority", ["!low:x"]),
    ]
    sections = rooms.sections(ME)
    titles = [s.title for s in sections]
    assert titles == [
        "Invites",
        "Favourites",
        "Direct messages",
        "Garden Club",
        "Rooms",
        "Low priority",
    ]
    assert sections[3].space is rooms.rooms["!space:x"]
    placed = rooms.placements(ME)
    assert "!space:x" not in placed
    assert placed["!beds:x"] == "space:!space:x"
    # Every listed room once.
    listed = [r for _, ids in layout(rooms) for r in ids]
    assert sorted(listed) == sorted(set(rooms.rooms) - {"!space:x"})


def test_empty_sections_are_left_out_but_joined_spaces_stay():
    rooms = build({"!space:x": joined("Lonely", 5, space=True, children=["!elsewhere:x"])})
    assert layout(rooms) == [("space:!space:x", [])]
    assert build({}).sections(ME) == []


def test_favourites_without_order_follow_those_with_one_by_activity():
    rooms = build(
        {
            "!a:x": joined("A", 100, tags={"m.favourite": {}}),
            "!b:x": joined("B", 300, tags={"m.favourite": {}}),
            "!c:x": joined("C", 50, tags={"m.favourite": {"order": 0.9}}),
        }
    )
    assert layout(rooms) == [("favourites", ["!c:x", "!b:x", "!a:x"])]


def test_precedence_favourite_then_low_priority_then_direct_then_space():
    rooms = build(
        {
            "!space:x": joined("S", 1, space=True, children=["!both:x", "!dm:x", "!low:x"]),
            "!both:x": joined("Both", 10, tags={"m.favourite": {}, "m.lowpriority": {}}),
            "!dm:x": joined("Direct", 20),
            "!low:x": joined("Low", 30, tags={"m.lowpriority": {"order": 0.2}}),
        }
    )
    rooms.apply_direct_map({ALICE: ["!dm:x", "!low:x"]})
    assert rooms.placements(ME) == {
        "!both:x": "favourites",
        "!low:x": "lowpriority",
        "!dm:x": "direct",
    }


def test_room_in_two_spaces_is_under_the_first_by_name():
    rooms = build(
        {
            "!zeta:x": joined("Zeta", 1, space=True, children=["!shared:x"]),
            "!alpha:x": joined("Alpha", 2, space=True, children=["!shared:x"]),
            "!shared:x": joined("Shared", 10),
        }
    )
    assert layout(rooms) == [("space:!alpha:x", ["!shared:x"]), ("space:!zeta:x", [])]


def test_invited_space_is_an_invite_and_its_children_are_plain_rooms():
    rooms = build(
        {"!child:x": joined("Child", 10)},
        {"!space:x": invited("A space", 5)},
    )
    rooms.rooms["!space:x"].room_type = "m.space"
    rooms.rooms["!space:x"].space_children = ["!child:x"]
    assert layout(rooms) == [("invites", ["!space:x"]), ("rooms", ["!child:x"])]


def test_removed_child_moves_back_to_rooms():
    rooms = build(
        {"!space:x": joined("S", 1, space=True, children=["!r:x"]), "!r:x": joined("R", 2)}
    )
    assert rooms.placements(ME)["!r:x"] == "space:!space:x"
    changed = rooms.apply_sync(
        {"join": {"!space:x": {"timeline": {"events": [ev("m.space.child", {}, 9, "!r:x")]}}}},
        ME,
    )
    assert changed == {"!space:x"}
    assert rooms.placements(ME)["!r:x"] == "rooms"


# -- tags -----------------------------------------------------------------------------------


def test_tags_from_room_account_data_replace_the_old_ones():
    rooms = build({"!r:x": joined("R", 1, tags={"m.favourite": {"order": 0.25}})})
    room = rooms.rooms["!r:x"]
    assert room.is_favourite and not room.is_low_priority
    assert room.tag_order("m.favourite") == 0.25
    update = {"account_data": {"events": [{"type": "m.tag", "content": {"tags": {}}}]}}
    assert rooms.apply_sync({"join": {"!r:x": update}}, ME) == {"!r:x"}
    assert room.tags == {}
    # A sync without m.tag leaves them alone.
    room.apply_tags({"tags": {"m.lowpriority": {}}})
    rooms.apply_sync({"join": {"!r:x": {"account_data": {"events": []}}}}, ME)
    assert room.is_low_priority


def test_malformed_tags_are_cleaned():
    room = RoomSummary(room_id="!r:x")
    room.apply_tags(
        {
            "tags": {
                "m.favourite": {"order": "first"},
                "u.work": {"order": 7},
                "u.nan": {"order": float("nan")},
                "": {},
                "m.lowpriority": None,
                "u.flag": {"order": True},
            }
        }
    )
    assert room.tags == {
        "m.favourite": {},
        "u.work": {"order": 1.0},
        "u.nan": {},
        "m.lowpriority": {},
        "u.flag": {},
    }
    assert room.tag_order("m.favourite") is None
    room.apply_tags({"tags": "nope"})
    assert room.tags == {}
    room.apply_tags({})
    assert room.tags == {}


def test_tags_survive_the_invite_becoming_a_join():
    rooms = build({}, {"!r:x": invited("R", 1)})
    rooms.rooms["!r:x"].apply_tags({"tags": {"m.favourite": {}}})
    rooms.apply_sync({"join": {"!r:x": joined("R", 5)}}, ME)
    assert rooms.rooms["!r:x"].membership == "join"
    assert rooms.rooms["!r:x"].is_favourite


# -- direct messages ------------------------------------------------------------------------


def test_direct_map_remembered_for_rooms_joined_later():
    rooms = build({"!a:x": joined("A", 1)})
    assert rooms.apply_direct_map({ALICE: ["!a:x", "!later:x"]}) == {"!a:x"}
    rooms.apply_sync({"join": {"!later:x": joined("Later", 2)}}, ME)
    assert rooms.rooms["!later:x"].is_direct
    assert rooms.placements(ME) == {"!a:x": "direct", "!later:x": "direct"}
    # Off the map: back to Rooms.
    assert rooms.apply_direct_map({ALICE: ["!later:x"]}) == {"!a:x"}
    assert rooms.placements(ME)["!a:x"] == "rooms"


def test_snapshot_round_trip_keeps_tags_and_direct_map():
    rooms = build({"!a:x": joined("A", 1, tags={"m.favourite": {"order": 0.5}})})
    rooms.apply_direct_map({ALICE: ["!b:x"]})
    data = json.loads(json.dumps(rooms.to_dict()))
    again = RoomList.from_dict(data)
    assert again == rooms
    assert again.direct_room_ids == ["!b:x"]
    assert again.rooms["!a:x"].tag_order("m.favourite") == 0.5
    # Snapshots from before tags and the map still load.
    old = RoomList.from_dict({"rooms": {"!a:x": {"room_id": "!a:x"}}})
    assert old.direct_room_ids == [] and old.rooms["!a:x"].tags == {}
