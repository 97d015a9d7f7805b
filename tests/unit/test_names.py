"""Unit tests for webclient.matrix.names (spec: display names for users and rooms)."""

from __future__ import annotations

import pytest

from webclient.matrix.names import (
    MemberMap,
    is_valid_room_alias,
    member_display_name,
    member_display_names,
    room_display_name,
)

ME = "@me:example.org"


def member(displayname: str | None = None, membership: str = "join") -> dict:
    content: dict = {"membership": membership}
    if displayname is not None:
        content["displayname"] = displayname
    return content


def room_name(**overrides) -> str:
    args = {
        "name": None,
        "canonical_alias": None,
        "heroes": [],
        "hero_names": {},
        "joined_count": 0,
        "invited_count": 0,
        "own_user_id": ME,
    }
    args.update(overrides)
    return room_display_name(**args)


# ------------------------------------------------------------------ user names

# Clashing, unique, unnamed, left and invited members.
MIXED_MEMBERS = {
    "@alice:hs": member("Alice"),
    "@alice:evil.org": member("Alice"),
    "@bob:hs": member("Bob"),
    "@carol:hs": member(),
    "@old:hs": member("Bob", "leave"),
    "@inv:hs": member("Dave", "invite"),
}


class TestMemberDisplayName:
    def test_unique_displayname_is_used(self):
        members = {"@alice:hs": member("Alice"), "@bob:hs": member("Bob")}
        assert member_display_name("@alice:hs", members) == "Alice"

    def test_no_state_event_gives_user_id(self):
        assert member_display_name("@ghost:hs", {}) == "@ghost:hs"

    def test_missing_displayname_gives_user_id(self):
        assert member_display_name("@alice:hs", {"@alice:hs": member()}) == "@alice:hs"

    def test_null_displayname_gives_user_id(self):
        members = {"@alice:hs": {"membership": "join", "displayname": None}}
        assert member_display_name("@alice:hs", members) == "@alice:hs"

    def test_non_string_or_blank_displayname_gives_user_id(self):
        members = {
            "@a:hs": {"membership": "join", "displayname": 42},
            "@b:hs": member(""),
            "@c:hs": member("\u200b\u200b "),
        }
        assert member_display_name("@a:hs", members) == "@a:hs"
        assert member_display_name("@b:hs", members) == "@b:hs"
        assert member_display_name("@c:hs", members) == "@c:hs"

    def test_clash_between_joined_members_disambiguates_both(self):
        # The spec's own example: two users both called Alice.
        members = {"@alice:hs": member("Alice"), "@alice:evil.org": member("Alice")}
        assert member_display_name("@alice:hs", members) == "Alice (@alice:hs)"
        assert member_display_name("@alice:evil.org", members) == "Alice (@alice:evil.org)"

    def test_clash_with_invited_member_disambiguates(self):
        members = {"@alice:hs": member("Alice"), "@fake:hs": member("Alice", "invite")}
        assert member_display_name("@alice:hs", members) == "Alice (@alice:hs)"

    @pytest.mark.parametrize("membership", ["leave", "ban", "knock"])
    def test_clash_with_non_member_does_not_disambiguate(self, membership):
        members = {"@alice:hs": member("Alice"), "@old:hs": member("Alice", membership)}
        assert member_display_name("@alice:hs", members) == "Alice"

    def test_left_member_clashing_with_joined_member_is_disambiguated(self):
        members = {"@alice:hs": member("Alice"), "@old:hs": member("Alice", "leave")}
        assert member_display_name("@old:hs", members) == "Alice (@old:hs)"

    def test_name_change_removes_clash(self):
        members = {"@alice:hs": member("Alice"), "@alice:evil.org": member("Alice")}
        members["@alice:evil.org"] = member("Not Alice")
        assert member_display_name("@alice:hs", members) == "Alice"
        assert member_display_name("@alice:evil.org", members) == "Not Alice"

    def test_lookalike_names_are_disambiguated(self):
        members = {
            "@alice:hs": member("Alice"),
            "@a1:hs": member("alice\u200b"),  # zero-width space, different case
            "@a2:hs": member("\u0410lice"),  # Cyrillic capital A
        }
        assert member_display_name("@alice:hs", members) == "Alice (@alice:hs)"
        assert member_display_name("@a1:hs", members) == "alice\u200b (@a1:hs)"
        assert member_display_name("@a2:hs", members) == "\u0410lice (@a2:hs)"

    def test_displayname_that_looks_like_a_user_id_is_disambiguated(self):
        members = {"@mallory:hs": member("@admin:matrix.org")}
        assert member_display_name("@mallory:hs", members) == "@admin:matrix.org (@mallory:hs)"

    def test_displayname_equal_to_own_user_id_is_not_doubled(self):
        members = {"@bob:hs": member("@bob:hs")}
        assert member_display_name("@bob:hs", members) == "@bob:hs"

    def test_bidi_override_is_disambiguated(self):
        members = {"@m:hs": member("\u202eecilA")}
        assert member_display_name("@m:hs", members) == "\u202eecilA (@m:hs)"

    def test_rtl_script_alone_is_not_disambiguated(self):
        members = {"@r:hs": member("مريم")}
        assert member_display_name("@r:hs", members) == "مريم"

    def test_batch_matches_single(self):
        members = MIXED_MEMBERS
        batch = member_display_names(members)
        assert batch == {uid: member_display_name(uid, members) for uid in members}
        assert batch["@bob:hs"] == "Bob"
        assert batch["@old:hs"] == "Bob (@old:hs)"
        assert batch["@carol:hs"] == "@carol:hs"


MEMBER_SETS = [
    {"@alice:hs": member("Alice"), "@bob:hs": member("Bob")},
    {
        "@alice:hs": member("Alice"),
        "@a1:hs": member("alice\u200b"),
        "@a2:hs": member("\u0410lice"),
        "@b:hs": member("Bob"),
    },
    {
        **MIXED_MEMBERS,
        "@inv2:hs": member("dave", "invite"),
        "@ban:hs": member("Carol", "ban"),
        "@mallory:hs": member("@admin:matrix.org"),
        "@m:hs": member("\u202eecilA"),
        "@self:hs": member("@self:hs"),
    },
]


class TestMemberMap:
    """A room summary's members, indexed by name once: the same names as a plain mapping
    (which is walked whole for every name), and the index is forgotten on every change."""

    @pytest.mark.parametrize("members", MEMBER_SETS)
    def test_names_everyone_as_a_plain_mapping_does(self, members):
        indexed = MemberMap(members)
        assert {u: member_display_name(u, indexed) for u in members} == {
            u: member_display_name(u, members) for u in members
        }
        assert member_display_names(indexed) == member_display_names(members)

    def test_forgets_who_goes_by_a_name_on_every_change(self):
        members = MemberMap({"@alice:hs": member("Alice"), "@bob:hs": member("Bob")})

        def alice() -> str:
            return member_display_name("@alice:hs", members)

        assert alice() == "Alice"
        members["@alice:evil.org"] = member("Alice")
        assert alice() == "Alice (@alice:hs)"
        members["@alice:evil.org"] = member("Alice", "leave")
        assert alice() == "Alice"
        members.update({"@x:hs": member("ALICE")})
        assert alice() == "Alice (@alice:hs)"
        del members["@x:hs"]
        assert alice() == "Alice"
        members.setdefault("@y:hs", member("alice"))
        assert alice() == "Alice (@alice:hs)"
        members.pop("@y:hs")
        assert alice() == "Alice"
        members |= {"@z:hs": member("Alice", "invite")}
        assert alice() == "Alice (@alice:hs)"
        assert members.popitem()[0] == "@z:hs"
        assert alice() == "Alice"
        members.clear()
        assert alice() == "@alice:hs"

    def test_an_index_built_while_the_map_changed_is_not_kept(self, monkeypatch):
        """Another thread changing the members while the index is built: that index answers
        the call that built it, and the next call builds afresh."""
        from webclient.matrix import names

        members = MemberMap({"@alice:hs": member("Alice")})
        build = names._by_name

        def built_while_changing(mapping):
            index = build(mapping)
            monkeypatch.setattr(names, "_by_name", build)
            members["@alice:evil.org"] = member("Alice")
            return index

        monkeypatch.setattr(names, "_by_name", built_while_changing)
        assert member_display_name("@alice:hs", members) == "Alice"
        assert member_display_name("@alice:hs", members) == "Alice (@alice:hs)"

    def test_a_room_summary_keeps_its_members_in_one(self):
        from webclient.matrix.roomstate import RoomSummary

        summary = RoomSummary(room_id="!r:hs")
        assert isinstance(summary.members, MemberMap)
        for user_id in ("@alice:hs", "@alice:evil.org"):
            summary.apply_state_event(
                {
                    "type": "m.room.member",
                    "state_key": user_id,
                    "sender": user_id,
                    "content": {"membership": "join", "displayname": "Alice"},
                }
            )
        assert member_display_name("@alice:hs", summary.members) == "Alice (@alice:hs)"
        again = RoomSummary.from_dict(summary.to_dict())
        assert isinstance(again.members, MemberMap)
        assert member_display_name("@alice:hs", again.members) == "Alice (@alice:hs)"


# ------------------------------------------------------------------ room names


class TestRoomDisplayName:
    def test_name_wins_over_everything(self):
        assert (
            room_name(
                name="My Room Name",
                canonical_alias="#somewhere:localhost",
                heroes=["@alice:hs"],
                joined_count=2,
            )
            == "My Room Name"
        )

    @pytest.mark.parametrize("empty", [None, "", "   "])
    def test_empty_name_falls_through_to_alias(self, empty):
        assert room_name(name=empty, canonical_alias="#somewhere:localhost") == (
            "#somewhere:localhost"
        )

    @pytest.mark.parametrize("alias", [None, "", "somewhere", "#nocolon", "#a:"])
    def test_invalid_alias_falls_through_to_heroes(self, alias):
        assert (
            room_name(
                canonical_alias=alias,
                heroes=["@alice:hs"],
                hero_names={"@alice:hs": "Alice"},
                joined_count=2,
            )
            == "Alice"
        )

    def test_alias_validation(self):
        assert is_valid_room_alias("#room:example.org")
        assert is_valid_room_alias("#room:example.org:8448")
        assert not is_valid_room_alias("!room:example.org")
        assert not is_valid_room_alias("#" + "a" * 300 + ":hs")
        assert not is_valid_room_alias(None)

    # Spec 3.1: heroes >= joined + invited - 1 -> concatenate them.
    def test_one_hero(self):
        names = {"@alice:hs": "Alice"}
        assert room_name(heroes=["@alice:hs"], hero_names=names, joined_count=2) == "Alice"

    def test_two_heroes(self):
        assert (
            room_name(
                heroes=["@alice:hs", "@bob:hs"],
                hero_names={"@alice:hs": "Alice", "@bob:hs": "Bob"},
                joined_count=2,
                invited_count=1,
            )
            == "Alice and Bob"
        )

    def test_three_heroes(self):
        assert (
            room_name(
                heroes=["@alice:hs", "@bob:hs", "@carol:hs"],
                hero_names={"@alice:hs": "Alice", "@bob:hs": "Bob", "@carol:hs": "Carol"},
                joined_count=4,
            )
            == "Alice, Bob and Carol"
        )

    def test_more_heroes_than_members_lists_heroes(self):
        # Stale counts: the heroes still name the room.
        assert (
            room_name(
                heroes=["@alice:hs", "@bob:hs"],
                hero_names={"@alice:hs": "Alice", "@bob:hs": "Bob"},
                joined_count=2,
            )
            == "Alice and Bob"
        )

    def test_missing_hero_name_uses_user_id(self):
        assert room_name(heroes=["@alice:hs"], joined_count=2) == "@alice:hs"

    def test_hero_names_are_used_as_given_so_disambiguation_shows(self):
        assert (
            room_name(
                heroes=["@alice:hs", "@alice:evil.org"],
                hero_names={
                    "@alice:hs": "Alice (@alice:hs)",
                    "@alice:evil.org": "Alice (@alice:evil.org)",
                },
                joined_count=3,
            )
            == "Alice (@alice:hs) and Alice (@alice:evil.org)"
        )

    # Spec 3.2: fewer heroes than joined + invited - 1 -> names plus a count.
    def test_heroes_plus_remaining_count(self):
        assert (
            room_name(
                heroes=["@alice:hs", "@bob:hs"],
                hero_names={"@alice:hs": "Alice", "@bob:hs": "Bob"},
                joined_count=1000,
                invited_count=237,
            )
            == "Alice, Bob and 1234 others"
        )

    def test_one_hero_and_one_other(self):
        assert (
            room_name(
                heroes=["@alice:hs"],
                hero_names={"@alice:hs": "Alice"},
                joined_count=2,
                invited_count=1,
            )
            == "Alice and 1 other"
        )

    def test_at_most_five_heroes_are_named(self):
        heroes = [f"@u{i}:hs" for i in range(7)]
        names = {h: f"U{i}" for i, h in enumerate(heroes)}
        assert (
            room_name(heroes=heroes, hero_names=names, joined_count=8)
            == "U0, U1, U2, U3, U4 and 2 others"
        )
        assert (
            room_name(heroes=heroes, hero_names=names, joined_count=20)
            == "U0, U1, U2, U3, U4 and 14 others"
        )

    def test_own_user_is_never_a_hero(self):
        assert (
            room_name(
                heroes=[ME, "@alice:hs", "@alice:hs"],
                hero_names={ME: "Me", "@alice:hs": "Alice"},
                joined_count=2,
            )
            == "Alice"
        )

    def test_members_but_no_heroes(self):
        assert room_name(joined_count=3) == "2 people"
        assert room_name(joined_count=1, invited_count=1) == "1 person"

    # Spec 3.3: alone in the room.
    def test_empty_room_without_heroes(self):
        assert room_name(joined_count=1) == "Empty Room"
        assert room_name() == "Empty Room"

    def test_empty_room_was_alice(self):
        assert (
            room_name(heroes=["@alice:hs"], hero_names={"@alice:hs": "Alice"}, joined_count=1)
            == "Empty Room (was Alice)"
        )

    def test_empty_room_was_several(self):
        heroes = [f"@u{i}:hs" for i in range(6)]
        names = {h: f"U{i}" for i, h in enumerate(heroes)}
        assert room_name(heroes=heroes[:2], hero_names=names, joined_count=1) == (
            "Empty Room (was U0 and U1)"
        )
        assert room_name(heroes=heroes, hero_names=names, joined_count=1) == (
            "Empty Room (was U0, U1, U2, U3, U4 and 1 other)"
        )

    def test_empty_room_with_only_self_as_hero(self):
        assert room_name(heroes=[ME], hero_names={ME: "Me"}, joined_count=1) == "Empty Room"
