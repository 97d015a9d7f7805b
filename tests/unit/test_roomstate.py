"""Unit tests for webclient.matrix.roomstate, fed with /sync JSON shaped like Synapse's."""

from __future__ import annotations

import copy
import json
from itertools import count

import pytest
from django.utils import translation

from webclient.matrix.roomstate import PREVIEW_MAX_CHARS, RoomList, RoomSummary, preview_text

ME = "@me:example.org"
ALICE = "@alice:example.org"
BOB = "@bob:example.org"
CAROL = "@carol:example.org"
DAVE = "@dave:example.org"
ERIN = "@erin:example.org"
GRACE = "@grace:example.org"

NAMED = "!named:example.org"
ALIASED = "!aliased:example.org"
HEROES = "!heroes:example.org"
DM = "!dm:example.org"
INVITE = "!invite:example.org"
GONE = "!gone:example.org"

_ids = count(1)


def ev(
    type_: str,
    sender: str,
    content: dict,
    ts: int,
    state_key: str | None = None,
    prev_content: dict | None = None,
    **unsigned_extra,
) -> dict:
    """An event as Synapse serialises it in /sync (ClientEventWithoutRoomID)."""
    event = {
        "content": content,
        "event_id": f"$ev{next(_ids)}:example.org",
        "origin_server_ts": ts,
        "sender": sender,
        "type": type_,
        "unsigned": {"age": 1234, "membership": "join", **unsigned_extra},
    }
    if state_key is not None:
        event["state_key"] = state_key
    if prev_content is not None:
        event["unsigned"]["prev_content"] = prev_content
    return event


def member_ev(user: str, membership: str, ts: int, displayname=None, sender=None, **kw) -> dict:
    content = {"membership": membership}
    if displayname is not None:
        content["displayname"] = displayname
        content["avatar_url"] = f"mxc://example.org/{user[1:].split(':')[0]}"
    return ev("m.room.member", sender or user, content, ts, state_key=user, **kw)


def text(sender: str, body: str, ts: int, msgtype: str = "m.text", **extra) -> dict:
    return ev("m.room.message", sender, {"msgtype": msgtype, "body": body, **extra}, ts)


def stripped(type_: str, sender: str, content: dict, state_key: str = "") -> dict:
    return {"content": content, "sender": sender, "state_key": state_key, "type": type_}


def joined_room(state=(), timeline=(), summary=None, unread=(0, 0), limited=False) -> dict:
    room = {
        "account_data": {"events": []},
        "ephemeral": {"events": []},
        "state": {"events": list(state)},
        "summary": summary if summary is not None else {},
        "timeline": {"events": list(timeline), "limited": limited, "prev_batch": "s10_2_0_1"},
        "unread_notifications": {"notification_count": unread[0], "highlight_count": unread[1]},
    }
    return room


def initial_sync_rooms() -> dict:
    """The ``rooms`` object of an initial, lazy-loading /sync."""
    named = joined_room(
        state=[
            ev("m.room.create", ALICE, {"creator": ALICE, "room_version": "10"}, 1000, ""),
            ev("m.room.name", ALICE, {"name": "Project X"}, 1001, ""),
            ev("m.room.topic", ALICE, {"topic": "Planning"}, 1002, ""),
            ev("m.room.avatar", ALICE, {"url": "mxc://example.org/projx"}, 1003, ""),
            ev("m.room.encryption", ALICE, {"algorithm": "m.megolm.v1.aes-sha2"}, 1004, ""),
            member_ev(ME, "join", 1005, "Me"),
        ],
        timeline=[
            member_ev(ALICE, "join", 2000, "Alice"),
            text(ALICE, "Hello **world**", 2001),
            member_ev(BOB, "join", 2002, "Bob"),
            text(BOB, "waves", 2003, msgtype="m.emote"),
        ],
        summary={"m.joined_member_count": 3, "m.invited_member_count": 0},
        unread=(3, 1),
    )
    aliased = joined_room(
        state=[
            ev(
                "m.room.canonical_alias",
                CAROL,
                {"alias": "#lobby:example.org", "alt_aliases": ["#hall:example.org"]},
                900,
                "",
            ),
            member_ev(ME, "join", 901, "Me"),
            member_ev(CAROL, "join", 902, "Carol"),
        ],
        timeline=[
            text(
                CAROL,
                "> <@me:example.org> earlier\n> second line\n\nYes, agreed",
                3000,
                **{"m.relates_to": {"m.in_reply_to": {"event_id": "$earlier:example.org"}}},
            ),
        ],
        summary={"m.joined_member_count": 40, "m.invited_member_count": 2},
        unread=(0, 0),
    )
    heroes = joined_room(
        # Lazy loading: only the heroes' and the timeline senders' member events.
        state=[
            member_ev(ME, "join", 500, "Me"),
            member_ev(DAVE, "join", 501, "Dave"),
            member_ev(ERIN, "invite", 502, "Erin", sender=DAVE),
        ],
        timeline=[text(DAVE, "lunch?", 1500)],
        summary={
            "m.heroes": [DAVE, ERIN],
            "m.joined_member_count": 4,
            "m.invited_member_count": 1,
        },
        unread=(1, 0),
    )
    dm = joined_room(
        state=[member_ev(ME, "join", 400, "Me"), member_ev(GRACE, "join", 401, "Grace")],
        timeline=[ev("m.room.encrypted", GRACE, {"algorithm": "m.megolm.v1.aes-sha2"}, 2500)],
        summary={"m.heroes": [GRACE], "m.joined_member_count": 2, "m.invited_member_count": 0},
        unread=(1, 0),
    )
    invite = {
        "invite_state": {
            "events": [
                stripped("m.room.create", BOB, {"creator": BOB, "room_version": "10"}),
                stripped("m.room.join_rules", BOB, {"join_rule": "invite"}),
                stripped("m.room.name", BOB, {"name": "Secret Plans"}),
                stripped("m.room.encryption", BOB, {"algorithm": "m.megolm.v1.aes-sha2"}),
                stripped(
                    "m.room.member",
                    BOB,
                    {"membership": "join", "displayname": "Bob"},
                    state_key=BOB,
                ),
                # Synapse sends the invite event itself in full.
                {
                    "content": {"membership": "invite", "displayname": "Me"},
                    "event_id": "$invite:example.org",
                    "origin_server_ts": 1200,
                    "sender": BOB,
                    "state_key": ME,
                    "type": "m.room.member",
                    "unsigned": {"age": 99},
                },
            ]
        }
    }
    return {
        "join": {NAMED: named, ALIASED: aliased, HEROES: heroes, DM: dm},
        "invite": {INVITE: invite},
        "leave": {},
    }


@pytest.fixture
def room_list() -> RoomList:
    rooms = RoomList()
    changed = rooms.apply_sync(initial_sync_rooms(), ME)
    assert changed == {NAMED, ALIASED, HEROES, DM, INVITE}
    return rooms


# ----------------------------------------------------------- applying /sync


class TestInitialSync:
    def test_named_room(self, room_list):
        room = room_list.rooms[NAMED]
        assert room.membership == "join"
        assert room.name == "Project X"
        assert room.topic == "Planning"
        assert room.avatar_url == "mxc://example.org/projx"
        assert room.encrypted is True
        assert room.display_name(ME) == "Project X"
        assert (room.joined_count, room.invited_count) == (3, 0)
        assert (room.notification_count, room.highlight_count) == (3, 1)
        assert room.members[ALICE] == {
            "displayname": "Alice",
            "avatar_url": "mxc://example.org/alice",
            "membership": "join",
        }
        assert room.last_activity_ts == 2003
        assert room.last_event["preview"] == "* Bob waves"
        assert room.last_event["sender"] == BOB
        assert room.last_event["type"] == "m.room.message"
        assert room.last_event["origin_server_ts"] == 2003
        assert room.last_event["event_id"].startswith("$")

    def test_alias_room_strips_reply_fallback(self, room_list):
        room = room_list.rooms[ALIASED]
        assert room.name is None
        assert room.canonical_alias == "#lobby:example.org"
        assert room.display_name(ME) == "#lobby:example.org"
        assert room.last_event["preview"] == "Yes, agreed"
        assert room.encrypted is False

    def test_heroes_room(self, room_list):
        room = room_list.rooms[HEROES]
        assert room.heroes == [DAVE, ERIN]
        # 5 members, 4 besides me, 2 heroes -> 2 others.
        assert room.display_name(ME) == "Dave, Erin and 2 others"
        assert room.members[ERIN]["membership"] == "invite"

    def test_dm_room(self, room_list):
        room = room_list.rooms[DM]
        assert room.display_name(ME) == "Grace"
        assert room.last_event["preview"] == "Encrypted message"

    def test_invite(self, room_list):
        room = room_list.rooms[INVITE]
        assert room.membership == "invite"
        assert room.inviter == BOB
        assert room.name == "Secret Plans"
        assert room.encrypted is True
        assert room.display_name(ME) == "Secret Plans"
        assert room.last_activity_ts == 1200
        assert room.last_event == {
            "event_id": "$invite:example.org",
            "sender": BOB,
            "origin_server_ts": 1200,
            "type": "m.room.member",
            "preview": "Bob invited you",
            "preview_message": ["%(actor)s invited you", {"actor": "Bob"}],
        }

    def test_unnamed_dm_invite_is_named_after_inviter(self):
        rooms = RoomList()
        rooms.apply_sync(
            {
                "invite": {
                    "!x:example.org": {
                        "invite_state": {
                            "events": [
                                stripped("m.room.create", BOB, {"creator": BOB}),
                                stripped(
                                    "m.room.member",
                                    BOB,
                                    {"membership": "join", "displayname": "Bob"},
                                    BOB,
                                ),
                                stripped(
                                    "m.room.member",
                                    BOB,
                                    {"membership": "invite", "is_direct": True},
                                    ME,
                                ),
                            ]
                        }
                    }
                }
            },
            ME,
        )
        room = rooms.rooms["!x:example.org"]
        assert room.is_direct is True
        assert room.inviter == BOB
        assert room.display_name(ME) == "Bob"
        assert room.last_activity_ts == 0

    def test_invite_without_inviter_member_event_uses_inviter_id(self):
        room = RoomSummary(room_id="!y:example.org")
        room.apply_invited_room(
            {
                "invite_state": {
                    "events": [stripped("m.room.member", BOB, {"membership": "invite"}, ME)]
                }
            },
            ME,
        )
        assert room.inviter == BOB
        assert room.display_name(ME) == BOB
        assert room.last_event["preview"] == "@bob:example.org invited you"

    def test_ordering_invites_first_then_newest(self, room_list):
        order = [room.room_id for room in room_list.ordered(ME)]
        assert order == [INVITE, ALIASED, DM, NAMED, HEROES]

    def test_everything_is_json_safe(self, room_list):
        json.dumps(room_list.to_dict())


class TestIncrementalSync:
    def test_new_message_moves_room_and_keeps_omitted_summary(self, room_list):
        changed = room_list.apply_sync(
            {
                "join": {
                    HEROES: {
                        "timeline": {
                            "events": [text(ERIN, "I'm in", 4000)],
                            "limited": False,
                            "prev_batch": "s11",
                        },
                        "state": {"events": [member_ev(ERIN, "join", 3999, "Erin")]},
                        "summary": {},  # unchanged since last sync: fields omitted
                        "unread_notifications": {"notification_count": 2, "highlight_count": 0},
                    }
                }
            },
            ME,
        )
        assert changed == {HEROES}
        room = room_list.rooms[HEROES]
        assert room.heroes == [DAVE, ERIN]
        assert (room.joined_count, room.invited_count) == (4, 1)
        assert room.notification_count == 2
        assert room.last_event["preview"] == "I'm in"
        assert [r.room_id for r in room_list.ordered(ME)][:2] == [INVITE, HEROES]

    def test_read_receipt_clears_counts(self, room_list):
        changed = room_list.apply_sync(
            {
                "join": {
                    NAMED: {
                        "timeline": {"events": [], "limited": False},
                        "ephemeral": {"events": [{"type": "m.receipt", "content": {}}]},
                        "unread_notifications": {"notification_count": 0, "highlight_count": 0},
                    }
                }
            },
            ME,
        )
        assert changed == {NAMED}
        assert room_list.rooms[NAMED].notification_count == 0
        assert room_list.rooms[NAMED].highlight_count == 0

    def test_typing_only_update_is_not_a_change(self, room_list):
        changed = room_list.apply_sync(
            {
                "join": {
                    NAMED: {
                        "ephemeral": {
                            "events": [{"type": "m.typing", "content": {"user_ids": [BOB]}}]
                        },
                        "unread_notifications": {"notification_count": 3, "highlight_count": 1},
                    }
                }
            },
            ME,
        )
        assert changed == set()

    def test_leave_removes_room(self, room_list):
        leave = {
            "state": {"events": []},
            "timeline": {
                "events": [member_ev(ME, "leave", 5000, prev_content={"membership": "join"})],
                "limited": False,
            },
            "account_data": {"events": []},
        }
        changed = room_list.apply_sync({"leave": {NAMED: leave, GONE: leave}}, ME)
        assert changed == {NAMED}
        assert NAMED not in room_list.rooms

    def test_rejected_invite_is_removed(self, room_list):
        changed = room_list.apply_sync({"leave": {INVITE: {}}}, ME)
        assert changed == {INVITE}
        assert INVITE not in room_list.rooms

    def test_invite_then_join_discards_stripped_state(self, room_list):
        room_list.rooms[INVITE].is_direct = True
        changed = room_list.apply_sync(
            {
                "join": {
                    INVITE: joined_room(
                        state=[
                            ev("m.room.create", BOB, {"creator": BOB}, 100, ""),
                            ev("m.room.name", BOB, {"name": "Real Plans"}, 101, ""),
                            member_ev(BOB, "join", 102, "Bob"),
                        ],
                        timeline=[member_ev(ME, "join", 6000, "Me")],
                        summary={"m.joined_member_count": 2, "m.invited_member_count": 0},
                    )
                }
            },
            ME,
        )
        assert changed == {INVITE}
        room = room_list.rooms[INVITE]
        assert room.membership == "join"
        assert room.inviter is None
        assert room.is_direct is True  # kept across the transition
        assert room.encrypted is False  # stripped state was discarded
        assert room.display_name(ME) == "Real Plans"
        assert room.last_event["preview"] == "Me joined"
        assert room_list.ordered(ME)[0].room_id == INVITE

    def test_empty_room_was_alice(self):
        rooms = RoomList()
        rooms.apply_sync(
            {
                "join": {
                    "!e:example.org": joined_room(
                        state=[
                            member_ev(ME, "join", 1, "Me"),
                            member_ev(ALICE, "join", 2, "Alice"),
                        ],
                        timeline=[text(ALICE, "bye", 3)],
                        summary={
                            "m.heroes": [ALICE],
                            "m.joined_member_count": 2,
                            "m.invited_member_count": 0,
                        },
                    )
                }
            },
            ME,
        )
        room = rooms.rooms["!e:example.org"]
        assert room.display_name(ME) == "Alice"
        rooms.apply_sync(
            {
                "join": {
                    "!e:example.org": joined_room(
                        timeline=[
                            member_ev(
                                ALICE,
                                "leave",
                                4,
                                prev_content={"membership": "join", "displayname": "Alice"},
                            )
                        ],
                        summary={"m.joined_member_count": 1},
                    )
                }
            },
            ME,
        )
        assert room.members[ALICE]["displayname"] == "Alice"
        assert room.members[ALICE]["membership"] == "leave"
        assert room.display_name(ME) == "Empty Room (was Alice)"
        assert room.last_event["preview"] == "Alice left"

    def test_hero_names_are_disambiguated(self):
        rooms = RoomList()
        rooms.apply_sync(
            {
                "join": {
                    "!d:example.org": joined_room(
                        state=[
                            member_ev(ME, "join", 1, "Me"),
                            member_ev(ALICE, "join", 2, "Alice"),
                            member_ev("@alice:evil.org", "join", 3, "Alice"),
                        ],
                        summary={
                            "m.heroes": [ALICE, "@alice:evil.org"],
                            "m.joined_member_count": 3,
                        },
                    )
                }
            },
            ME,
        )
        assert rooms.rooms["!d:example.org"].display_name(ME) == (
            "Alice (@alice:example.org) and Alice (@alice:evil.org)"
        )

    def test_name_removed_falls_back_to_alias_then_heroes(self, room_list):
        room = room_list.rooms[NAMED]
        room.apply_timeline([ev("m.room.name", ALICE, {}, 7000, "")])
        assert room.name is None
        assert room.last_event["preview"] == "Alice removed the room name"
        # No heroes from the server: fall back to joined/invited members we know.
        assert room.display_name(ME) == "Alice and Bob"

    def test_tombstone(self, room_list):
        room = room_list.rooms[NAMED]
        room.apply_timeline(
            [
                ev(
                    "m.room.tombstone",
                    ALICE,
                    {"body": "moved", "replacement_room": "!new:example.org"},
                    8000,
                    "",
                )
            ]
        )
        assert room.tombstone_replacement == "!new:example.org"
        assert room.last_event["preview"] == "This room has been replaced and is no longer active"

    def test_malformed_input_is_ignored(self, room_list):
        before = room_list.to_dict()
        changed = room_list.apply_sync(
            {
                "join": {
                    NAMED: {
                        "state": {"events": [None, 5, {"type": "m.room.name"}]},
                        "timeline": {"events": "nope"},
                        "summary": {"m.joined_member_count": "many", "m.heroes": "x"},
                        "unread_notifications": {"notification_count": True},
                    }
                },
                "invite": [],
                "leave": None,
            },
            ME,
        )
        assert changed == set()
        assert room_list.to_dict() == before


# --------------------------------------------------------------- previews


def preview_after(*events, members=None) -> str:
    room = RoomSummary(room_id="!p:example.org")
    for user, name in (members or {ALICE: "Alice", BOB: "Bob"}).items():
        room.apply_state_event(member_ev(user, "join", 1, name))
    room.apply_timeline(list(events))
    assert room.last_event is not None
    return room.last_event["preview"]


class TestPreviewLanguage:
    """The list is folded in the sync loop, which has no viewer: a preview is kept untranslated
    and each viewer reads it in their own language."""

    def room_after(self, *events) -> RoomSummary:
        room = RoomSummary(room_id="!p:example.org")
        for user, name in {ALICE: "Alice", BOB: "Bob"}.items():
            room.apply_state_event(member_ev(user, "join", 1, name))
        room.apply_timeline(list(events))
        return room

    def test_a_viewer_reads_the_preview_in_their_language(self):
        room = self.room_after(text(ALICE, "cat.png", 10, msgtype="m.image"))
        assert preview_text(room.last_event) == "Image: cat.png"
        with translation.override("de"):
            assert preview_text(room.last_event) == "Bild: cat.png"
        named = self.room_after(
            ev("m.room.name", BOB, {"name": "Plans"}, 20, state_key=""),
        )
        with translation.override("de"):
            assert preview_text(named.last_event) == "Bob hat den Raumnamen in Plans geändert"

    def test_user_text_is_never_read_as_a_translation(self):
        # a body that is itself a msgid stays what the sender wrote
        room = self.room_after(text(ALICE, "Encrypted message", 10))
        with translation.override("de"):
            assert preview_text(room.last_event) == "Encrypted message"
        room = self.room_after(text(ALICE, "100%(body)s %s", 10))
        assert preview_text(room.last_event) == "100%(body)s %s"

    def test_the_kept_state_survives_json_and_an_older_state_keeps_its_text(self):
        room = self.room_after(ev("m.room.encrypted", BOB, {"algorithm": "x"}, 10))
        restored = RoomSummary.from_dict(json.loads(json.dumps(room.to_dict())))
        with translation.override("de"):
            assert preview_text(restored.last_event) == "Verschlüsselte Nachricht"
        older = {"event_id": "$x", "preview": "Bob joined"}
        with translation.override("de"):
            assert preview_text(older) == "Bob joined"

    def test_an_edit_and_a_redaction_are_translated_too(self):
        first = text(ALICE, "one", 10)
        room = self.room_after(first)
        room.apply_timeline(
            [
                ev(
                    "m.room.message",
                    ALICE,
                    {
                        "msgtype": "m.text",
                        "body": "* two",
                        "m.new_content": {"msgtype": "m.file", "body": "two.pdf"},
                        "m.relates_to": {"rel_type": "m.replace", "event_id": first["event_id"]},
                    },
                    11,
                )
            ]
        )
        with translation.override("de"):
            assert preview_text(room.last_event) == "Datei: two.pdf"
        room.apply_timeline([ev("m.room.redaction", BOB, {"redacts": first["event_id"]}, 12)])
        with translation.override("de"):
            assert preview_text(room.last_event) == "Nachricht gelöscht"


class TestPreviews:
    def test_text_and_notice(self):
        assert preview_after(text(ALICE, "hi there", 10)) == "hi there"
        assert preview_after(text(ALICE, "beep", 10, msgtype="m.notice")) == "beep"

    def test_emote(self):
        assert preview_after(text(ALICE, "waves", 10, msgtype="m.emote")) == "* Alice waves"

    def test_media(self):
        assert preview_after(text(ALICE, "cat.jpg", 10, msgtype="m.image")) == "Image: cat.jpg"
        assert preview_after(text(ALICE, "", 10, msgtype="m.file")) == "File"
        sticker = ev("m.sticker", ALICE, {"body": "thumbs up", "url": "mxc://x/y"}, 10)
        assert preview_after(sticker) == "Sticker: thumbs up"

    def test_multiline_is_collapsed_and_truncated(self):
        assert preview_after(text(ALICE, "line one\n\nline   two", 10)) == "line one line two"
        long = preview_after(text(ALICE, "x" * 500, 10))
        assert len(long) == PREVIEW_MAX_CHARS
        assert long.endswith("…")

    def test_quote_without_reply_is_kept(self):
        assert preview_after(text(ALICE, "> quoted\nmine", 10)) == "> quoted mine"

    def test_membership_changes(self):
        assert preview_after(member_ev(CAROL, "join", 10, "Carol")) == "Carol joined"
        assert preview_after(member_ev(CAROL, "invite", 10, "Carol", sender=ALICE)) == (
            "Alice invited Carol"
        )
        assert (
            preview_after(member_ev(BOB, "leave", 10, prev_content={"membership": "join"}))
            == "Bob left"
        )
        assert (
            preview_after(
                member_ev(BOB, "leave", 10, sender=ALICE, prev_content={"membership": "join"})
            )
            == "Alice removed Bob"
        )
        banned = member_ev(BOB, "ban", 10, sender=ALICE, prev_content={"membership": "join"})
        banned["content"]["reason"] = "spam"
        assert preview_after(banned) == "Alice banned Bob: spam"
        assert (
            preview_after(
                member_ev(BOB, "leave", 10, sender=ALICE, prev_content={"membership": "ban"})
            )
            == "Alice unbanned Bob"
        )
        assert (
            preview_after(member_ev(BOB, "leave", 10, prev_content={"membership": "invite"}))
            == "Bob rejected the invitation"
        )

    def test_profile_change_is_not_activity(self):
        room = RoomSummary(room_id="!p:example.org")
        room.apply_timeline([text(ALICE, "hello", 10)])
        room.apply_timeline(
            [
                member_ev(
                    ALICE,
                    "join",
                    20,
                    "Alicia",
                    prev_content={"membership": "join", "displayname": "Alice"},
                )
            ]
        )
        assert room.last_event["preview"] == "hello"
        assert room.last_activity_ts == 10
        assert room.members[ALICE]["displayname"] == "Alicia"

    def test_state_changes(self):
        assert preview_after(ev("m.room.name", ALICE, {"name": "New"}, 10, "")) == (
            "Alice changed the room name to New"
        )
        assert preview_after(ev("m.room.topic", ALICE, {"topic": "T"}, 10, "")) == (
            "Alice changed the topic to T"
        )
        assert preview_after(ev("m.room.topic", ALICE, {"topic": ""}, 10, "")) == (
            "Alice removed the topic"
        )
        assert preview_after(ev("m.room.avatar", ALICE, {"url": "mxc://a/b"}, 10, "")) == (
            "Alice changed the room avatar"
        )
        assert preview_after(ev("m.room.create", ALICE, {"creator": ALICE}, 10, "")) == (
            "Alice created the room"
        )

    def test_unknown_sender_uses_user_id(self):
        assert preview_after(text(CAROL, "waves", 10, msgtype="m.emote")) == (
            "* @carol:example.org waves"
        )

    def test_reactions_and_unknown_types_are_ignored(self):
        room = RoomSummary(room_id="!p:example.org")
        message = text(ALICE, "hello", 10)
        reaction = ev(
            "m.reaction",
            BOB,
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "👍"}},
            20,
        )
        room.apply_timeline([message, reaction, ev("org.example.custom", BOB, {}, 30)])
        assert room.last_event["event_id"] == message["event_id"]
        assert room.last_activity_ts == 10

    def test_edit_of_last_event_updates_preview(self):
        room = RoomSummary(room_id="!p:example.org")
        message = text(ALICE, "helo", 10)
        edit = text(
            ALICE,
            "* hello",
            20,
            **{
                "m.new_content": {"msgtype": "m.text", "body": "hello"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": message["event_id"]},
            },
        )
        room.apply_timeline([message, edit])
        assert room.last_event["event_id"] == message["event_id"]
        assert room.last_event["preview"] == "hello"
        assert room.last_activity_ts == 10

    def test_edit_by_someone_else_or_of_older_event_is_ignored(self):
        room = RoomSummary(room_id="!p:example.org")
        first = text(ALICE, "one", 10)
        second = text(BOB, "two", 11)
        edit_old = text(
            ALICE,
            "* uno",
            20,
            **{
                "m.new_content": {"msgtype": "m.text", "body": "uno"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": first["event_id"]},
            },
        )
        spoof = text(
            ALICE,
            "* pwned",
            21,
            **{
                "m.new_content": {"msgtype": "m.text", "body": "pwned"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": second["event_id"]},
            },
        )
        room.apply_timeline([first, second, edit_old, spoof])
        assert room.last_event["preview"] == "two"

    def test_redaction_of_last_event(self):
        room = RoomSummary(room_id="!p:example.org")
        message = text(ALICE, "oops", 10)
        redaction = ev("m.room.redaction", ALICE, {"redacts": message["event_id"]}, 20)
        redaction["redacts"] = message["event_id"]
        room.apply_timeline([message, redaction])
        assert room.last_event["preview"] == "Message deleted"
        assert room.last_activity_ts == 10

    def test_already_redacted_message(self):
        redacted = ev(
            "m.room.message", ALICE, {}, 10, redacted_because={"type": "m.room.redaction"}
        )
        assert preview_after(redacted) == "Message deleted"

    def test_older_timestamp_does_not_move_room_back(self):
        room = RoomSummary(room_id="!p:example.org")
        room.apply_timeline([text(ALICE, "new", 100), text(BOB, "skewed clock", 50)])
        assert room.last_event["preview"] == "skewed clock"
        assert room.last_activity_ts == 100


# -------------------------------------------------------------- misc API


class TestDirectAndPersistence:
    def test_apply_direct_map(self, room_list):
        changed = room_list.apply_direct_map({GRACE: [DM], "@x:example.org": [123, "!nope"]})
        assert changed == {DM}
        assert room_list.rooms[DM].is_direct is True
        assert room_list.apply_direct_map({GRACE: [DM]}) == set()
        assert room_list.apply_direct_map({}) == {DM}

    def test_room_summary_round_trip(self, room_list):
        for room in room_list.rooms.values():
            data = json.loads(json.dumps(room.to_dict()))
            again = RoomSummary.from_dict(data)
            assert again == room
            assert again.to_dict() == data

    def test_round_trip_is_a_deep_copy(self, room_list):
        room = room_list.rooms[NAMED]
        data = room.to_dict()
        data["members"][ALICE]["displayname"] = "changed"
        assert room.members[ALICE]["displayname"] == "Alice"
        again = RoomSummary.from_dict(data)
        data["heroes"].append("@x:example.org")
        assert again.heroes == []

    def test_from_dict_ignores_unknown_keys(self):
        room = RoomSummary.from_dict({"room_id": "!a:b", "future_field": 1})
        assert room == RoomSummary(room_id="!a:b")

    def test_room_list_round_trip(self, room_list):
        data = json.loads(json.dumps(room_list.to_dict()))
        again = RoomList.from_dict(data)
        assert again == room_list
        assert [r.room_id for r in again.ordered(ME)] == [r.room_id for r in room_list.ordered(ME)]
        # And it keeps working after a restore.
        rooms = initial_sync_rooms()
        rooms["join"][DM]["timeline"]["events"] = [text(GRACE, "still here", 9000)]
        assert DM in again.apply_sync(copy.deepcopy({"join": {DM: rooms["join"][DM]}}), ME)
        assert again.ordered(ME)[1].room_id == DM
