"""The members page's pieces (webclient.rooms.members): power of each member, the groups
(admins, moderators, members, knocking), and which user IDs are valid.

Pure functions: no homeserver, no client."""

from __future__ import annotations


def test_group_members_pieces():
    from webclient.matrix.names import valid_user_id
    from webclient.rooms.members import group_members, power_of

    def member(user_id: str, membership: str = "join", name: str | None = None) -> dict:
        return {
            "type": "m.room.member",
            "state_key": user_id,
            "content": {"membership": membership, "displayname": name},
        }

    v11 = {"sender": "@c:x", "content": {"room_version": "11"}}
    v12 = {"sender": "@c:x", "content": {"room_version": "12", "additional_creators": ["@d:x"]}}
    levels = {"users": {"@c:x": 100, "@m:x": "50"}, "users_default": 10}
    assert power_of("@c:x", levels, v11) == 100
    assert power_of("@m:x", levels, v11) == 50  # string levels of old rooms
    assert power_of("@u:x", levels, v11) == 10
    assert power_of("@d:x", levels, v12) == float("inf")
    assert power_of("@c:x", None, v11) == 100  # no power levels: the creator has 100
    assert power_of("@u:x", None, v11) == 0

    events = [
        member("@c:x", name="Creator"),
        member("@m:x", name="Mod"),
        member("@b:x", name="bea"),
        member("@a:x", name="Al"),
        member("@k:x", "knock"),
        member("@gone:x", "leave"),
        {"type": "m.room.member", "state_key": "not-a-user", "content": {"membership": "join"}},
        "junk",
    ]
    found, members = group_members(events, levels, v11)
    assert [(g.key, [r["user_id"] for r in g.rows]) for g in found] == [
        ("admins", ["@c:x"]),
        ("moderators", ["@m:x"]),
        ("members", ["@a:x", "@b:x"]),
        ("knocking", ["@k:x"]),
    ]
    assert "@gone:x" in members and "not-a-user" not in members

    for good in ["@alice:example.org", "@a.b_c=d/e+f:localhost:8448", "@x:[::1]", "@old!id:x.y"]:
        assert valid_user_id(good), good
    for bad in ["alice", "@alice", "@:x", "@a b:x", "@a:", "@a:ex ample", "!r:x", "@a:x/y"]:
        assert not valid_user_id(bad), bad
    assert not valid_user_id("@" + "a" * 250 + ":example.org")
