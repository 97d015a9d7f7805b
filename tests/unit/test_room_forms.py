"""Reading what people type into the room forms (webclient.rooms.forms): room references
(IDs, aliases, matrix.to and matrix: links), user ID lists, alias localparts and power levels.

Pure functions: no homeserver, no client."""

from __future__ import annotations

from webclient.rooms.forms import parse_level, parse_localpart, parse_room_reference, parse_user_ids


def test_parse_room_reference():
    assert parse_room_reference(" #room:example.org ") == ("#room:example.org", [])
    assert parse_room_reference("!abc:example.org") == ("!abc:example.org", [])
    assert parse_room_reference("!opaqueV12id") == ("!opaqueV12id", [])
    assert parse_room_reference("https://matrix.to/#/#room:example.org") == (
        "#room:example.org",
        [],
    )
    assert parse_room_reference("https://matrix.to/#/%23room%3Aexample.org") == (
        "#room:example.org",
        [],
    )
    assert parse_room_reference(
        "https://matrix.to/#/!abc:example.org/$event?via=one.org&via=two.org&via=bad/server"
    ) == ("!abc:example.org", ["one.org", "two.org"])
    assert parse_room_reference("matrix:r/room:example.org") == ("#room:example.org", [])
    assert parse_room_reference("matrix:roomid/abc:example.org?via=one.org&action=join") == (
        "!abc:example.org",
        ["one.org"],
    )
    for bad in ("", "room", "#nocolon", "@user:example.org", "https://matrix.to/#/@u:x.org"):
        assert parse_room_reference(bad) is None, bad


def test_parse_user_ids():
    assert parse_user_ids("@a:x.org, @b:x.org  @a:x.org;@c:y.org") == (
        ["@a:x.org", "@b:x.org", "@c:y.org"],
        [],
    )
    assert parse_user_ids("@a:x.org bob @:x") == (["@a:x.org"], ["bob", "@:x"])


def test_parse_localpart_and_level():
    assert parse_localpart(" #garden ", "localhost") == "garden"
    assert parse_localpart("#garden:localhost", "localhost") == "garden"
    assert parse_localpart("garden:elsewhere.org", "localhost") is None
    assert parse_localpart("two words", "localhost") is None
    assert parse_localpart("", "localhost") is None
    assert parse_level("50", "") == 50
    assert parse_level("custom", " 75 ") == 75
    assert parse_level("custom", "lots") is None
    assert parse_level("custom", str(2**60)) is None
