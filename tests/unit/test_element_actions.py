"""The pure parts of what Element users do: marked-unread and preview switches folded from
room account data, recently used emoji in both formats, URL preview answers cut to size,
and the emoji picker's search."""

from __future__ import annotations

import asyncio

import pytest

from webclient.matrix import previews, recent_emoji
from webclient.matrix.roomstate import RoomSummary
from webclient.timeline import emoji


def summary_with(*events, encrypted=False) -> RoomSummary:
    room = RoomSummary(room_id="!r:example.org", encrypted=encrypted)
    room.apply_joined_room({"account_data": {"events": list(events)}})
    return room


def test_marked_unread_stable_wins_over_unstable():
    assert not RoomSummary(room_id="!r:x").marked_unread
    assert summary_with(
        {"type": "com.famedly.marked_unread", "content": {"unread": True}}
    ).marked_unread
    both = summary_with(
        {"type": "com.famedly.marked_unread", "content": {"unread": True}},
        {"type": "m.marked_unread", "content": {"unread": False}},
    )
    assert not both.marked_unread
    assert summary_with({"type": "m.marked_unread", "content": {"unread": True}}).marked_unread
    assert not summary_with({"type": "m.marked_unread", "content": {"unread": "yes"}}).marked_unread
    # Kept across restarts with the room list.
    room = summary_with({"type": "m.marked_unread", "content": {"unread": True}})
    assert RoomSummary.from_dict(room.to_dict()).marked_unread


class FakeSession:
    def __init__(self, account: dict) -> None:
        self.account = account

    async def global_account_data(self, event_type: str) -> dict:
        return self.account.get(event_type, {})


@pytest.mark.parametrize(
    ("room_data", "account", "state", "encrypted", "expected"),
    [
        ([], {}, None, False, True),  # on by default
        ([], {"disable": True}, None, False, False),  # the account's switch
        ([{"disable": False}], {"disable": True}, None, False, True),  # the room's wins
        ([], {}, {"disable": True}, False, False),  # the room admins' default, last
        ([], {"disable": False}, {"disable": True}, False, True),
        ([], {}, None, True, False),  # encrypted: off by default
        ([{"disable": False}], {"disable": False}, None, True, False),  # …whatever else says
    ],
)
def test_preview_switches_as_element(room_data, account, state, encrypted, expected):
    events = [{"type": "org.matrix.room.preview_urls", "content": c} for c in room_data]
    room = summary_with(*events, encrypted=encrypted)
    if state is not None:
        room.apply_state_event(
            {"type": "org.matrix.room.preview_urls", "state_key": "", "content": state}
        )
    session = FakeSession({"org.matrix.preview_urls": account} if account else {})
    assert asyncio.run(previews.enabled(session, room)) is expected


def test_encrypted_room_previews_follow_urlpreviewsenabled_e2ee():
    on = summary_with(
        {"type": "im.vector.web.settings", "content": {"urlPreviewsEnabled_e2ee": True}},
        encrypted=True,
    )
    assert asyncio.run(previews.enabled(FakeSession({}), on)) is True


def test_recent_emoji_reads_both_formats_and_bumps():
    stable = {
        "recent_emoji": [
            {"emoji": "🎉", "total": 2},
            {"emoji": 5},
            "x",
            {"emoji": "👍", "total": 1},
        ]
    }
    legacy = {"recent_emoji": [["🚀", 9]]}
    assert recent_emoji.parse(stable, legacy) == [("🎉", 2), ("👍", 1)]
    assert recent_emoji.parse({}, legacy) == [("🚀", 9)]
    assert recent_emoji.parse({}, {"recent_emoji": [["🚀", True], ["", 1], ["👀", 1]]}) == [
        ("👀", 1)
    ]
    entries = [("🎉", 2), ("👍", 1)]
    assert recent_emoji.bumped(entries, "👍") == [("👍", 2), ("🎉", 2)]
    assert recent_emoji.bumped(entries, "🦄") == [("🦄", 1), ("🎉", 2), ("👍", 1)]
    many = [(str(i), 1) for i in range(150)]
    assert len(recent_emoji.bumped(many, "new")) == recent_emoji.LIMIT


def test_preview_answer_is_cut_to_size_and_the_picture_must_be_mxc():
    card = previews.clean(
        {
            "og:title": "  A\ntitle  " + "x" * 500,
            "og:description": "d",
            "og:image": "https://evil.example/tracker.png",
            "og:image:width": True,
        }
    )
    assert card["title"].startswith("A title") and len(card["title"]) == previews.MAX_TITLE
    assert card["image"] is None and card["image_width"] is None
    with_image = previews.clean({"og:title": "t", "og:image": "mxc://example.org/abc"})
    assert with_image["image"].startswith("/media/example.org/abc/thumbnail/")
    assert previews.clean({"og:image": "mxc://example.org/abc"}) is None  # nothing to say
    assert previews.previewable("https://example.org/a?b=1")
    for bad in ("javascript:alert(1)", "ftp://example.org/", "https:///nohost", "http://a b/"):
        assert not previews.previewable(bad)


def test_emoji_search_by_name_and_shortcode():
    assert emoji.search("tada")[0]["key"] == "🎉"
    assert emoji.search(":+1:")[0]["key"] == "👍"
    assert emoji.search("thumbs up")[0]["key"] == "👍"
    assert [e["key"] for e in emoji.search("red heart")][:1] == ["❤️"]
    assert emoji.search("") == [] and emoji.search("zzzznothing") == []
    groups = emoji.picker_groups()
    assert groups[0]["name"] == "Smileys & Emotion" and groups[-1]["name"] == "Flags"
    assert all(
        not any(0x1F3FB <= ord(c) <= 0x1F3FF for c in e["key"]) for g in groups for e in g["emoji"]
    )
    assert emoji.describe("not an emoji") == {
        "key": "not an emoji",
        "name": "not an emoji",
        "shortcodes": [],
    }
