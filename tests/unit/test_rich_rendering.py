"""What others send and Element shows (issue 13): emoji-only messages large, voice
messages (MSC3245) with their duration, animated images (spec v1.18 `is_animated`) still
until hovered, ordered lists that keep their `start` (v1.18), formatted topics (v1.15),
colours kept for the stylesheet."""

from __future__ import annotations

import pytest

from webclient.matrix.roomstate import RoomSummary, topic_texts
from webclient.timeline.messages import format_duration, is_emoji_text, waveform_levels
from webclient.timeline.render import render_event_uncached
from webclient.timeline.viewmodels import build, topic_html

MXC = "mxc://example.org/AbC_12-x"
PROXY = "/media/example.org/AbC_12-x/"


def message(content: dict, event_type: str = "m.room.message") -> dict:
    return {
        "event_id": "$e",
        "type": event_type,
        "sender": "@eve:example.org",
        "origin_server_ts": 1_700_000_000_000,
        "content": content,
    }


@pytest.mark.parametrize(
    "text", ["😀", "😀 😀😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷🇩🇪", "1️⃣", "❤️", "🏳️\u200d🌈", " 🎉\n"]
)
def test_emoji_only_text(text):
    assert is_emoji_text(text)


@pytest.mark.parametrize("text", ["", "a😀", "😀.", "ok", "☺︎", "1", ":)", "😀" * 201])
def test_not_emoji_only_text(text):
    assert not is_emoji_text(text)


def test_emoji_only_messages_show_large():
    html = render_event_uncached(message({"msgtype": "m.text", "body": "🎉🎉"}), {})
    assert 'class="event-body big-emoji"' in html
    html = render_event_uncached(message({"msgtype": "m.text", "body": "🎉 party"}), {})
    assert "big-emoji" not in html
    # Formatted: nothing but emoji and custom emoticons, no other formatting.
    emoticon = f'<img data-mx-emoticon src="{MXC}" alt="a waving cat" title="cat_wave" height="32">'
    view = build(
        message(
            {
                "msgtype": "m.text",
                "body": ":cat_wave: 🎉",
                "format": "org.matrix.custom.html",
                "formatted_body": f"{emoticon} 🎉",
            }
        ),
        {},
    )
    assert view.big_emoji and 'data-mx-emoticon=""' in view.body_html
    assert f'src="{PROXY}"' in view.body_html
    view = build(
        message(
            {
                "msgtype": "m.text",
                "body": "🎉",
                "format": "org.matrix.custom.html",
                "formatted_body": "<b>🎉</b>",
            }
        ),
        {},
    )
    assert not view.big_emoji


def test_voice_message_as_element_sends_it():
    content = {
        "body": "Voice message",
        "msgtype": "m.audio",
        "url": MXC,
        "info": {"duration": 7300, "mimetype": "audio/ogg", "size": 12345},
        "org.matrix.msc1767.text": "Voice message",
        "org.matrix.msc1767.file": {
            "url": MXC,
            "name": "Voice message.ogg",
            "mimetype": "audio/ogg",
            "size": 12345,
        },
        "org.matrix.msc1767.audio": {"duration": 7300, "waveform": [0, 512, 1024] * 20},
        "org.matrix.msc3245.voice": {},
    }
    html = render_event_uncached(message(content), {})
    assert "voice-message" in html and "Voice message" in html
    assert '<time class="voice-duration" datetime="PT7S">0:07</time>' in html
    assert html.count('class="wave wave-') == 32
    assert f'src="{PROXY}Voice%20message"' in html or f'src="{PROXY}' in html
    plain = render_event_uncached(message({**content, "org.matrix.msc3245.voice": None}), {})
    assert "voice-message" not in plain and "0:07" in plain


def test_durations_and_waveforms():
    assert format_duration(None) == "" and format_duration(400) == "0:01"
    assert format_duration(65_000) == "1:05" and format_duration(3_600_000) == "1:00:00"
    assert waveform_levels({"org.matrix.msc1767.audio": {"waveform": "x"}}) == []
    levels = waveform_levels({"org.matrix.msc1767.audio": {"waveform": [0, 1024, -5, 9e9, True]}})
    assert len(levels) == 32 and set(levels) <= set(range(1, 9)) and max(levels) == 8


def image(info: dict) -> dict:
    return message({"msgtype": "m.image", "body": "a.gif", "url": MXC, "info": info})


def test_is_animated_decides_what_loads():
    small = {"w": 100, "h": 80, "mimetype": "image/gif"}
    view = build(image({**small, "is_animated": True}), {})
    assert view.extra["animated_src"] == PROXY
    assert view.extra["src"].startswith(PROXY + "thumbnail/")
    html = render_event_uncached(image({**small, "is_animated": True}), {})
    assert f'data-animated-src="{PROXY}"' in html and "animated-badge" in html
    # A GIF that says it is not animated is shown as any image that fits: whole.
    view = build(image({**small, "is_animated": False}), {})
    assert "animated_src" not in view.extra and view.extra["src"] == PROXY
    # A PNG that says it is animated (APNG) animates on hover too.
    view = build(image({**small, "mimetype": "image/png", "is_animated": True}), {})
    assert view.extra["animated_src"] == PROXY
    sticker = build(
        message({"body": "cat", "url": MXC, "info": {**small, "is_animated": True}}, "m.sticker"),
        {},
    )
    assert sticker.extra["animated_src"] == PROXY


def test_ordered_lists_keep_their_start():
    html = render_event_uncached(
        message(
            {
                "msgtype": "m.text",
                "body": "3. c\n4. d",
                "format": "org.matrix.custom.html",
                "formatted_body": '<ol start="3"><li>c</li><li>d</li></ol>',
            }
        ),
        {},
    )
    assert '<ol start="3"><li>c</li><li>d</li></ol>' in html


def test_colours_reach_the_page_as_data_attributes():
    html = render_event_uncached(
        message(
            {
                "msgtype": "m.notice",
                "body": "DOWN",
                "format": "org.matrix.custom.html",
                "formatted_body": '<font color="#ff0000">DOWN</font> '
                '<span data-mx-bg-color="#00ff00" data-mx-color="red">x</span>',
            }
        ),
        {},
    )
    assert '<span data-mx-color="#ff0000">DOWN</span>' in html
    assert '<span data-mx-bg-color="#00ff00">x</span>' in html  # "red" is no #rrggbb
    assert "style=" not in html


def test_formatted_topics():
    spec_example = {
        "m.topic": {
            "m.text": [
                {"mimetype": "text/html", "body": "An <em>interesting</em> room topic"},
                {"body": "An interesting room topic"},
            ]
        },
        "topic": "An interesting room topic",
    }
    assert topic_texts(spec_example) == (
        "An interesting room topic",
        "An <em>interesting</em> room topic",
    )
    assert topic_texts({"m.topic": {"m.text": [{"body": "only here"}]}}) == ("only here", "")
    assert topic_texts({**spec_example, "topic": ""}) == ("", "")  # an empty topic unsets it
    room = RoomSummary(room_id="!r:example.org")
    room.apply_state_event({"type": "m.room.topic", "state_key": "", "content": spec_example})
    assert topic_html(room.topic, room.topic_html) == "An <em>interesting</em> room topic"
    # Headings, lists and images are no topic's business; scripts never.
    assert (
        topic_html(
            "x",
            "<h1>Big</h1><ul><li>a</li></ul><script>x()</script><img src='mxc://a/b' alt='pic'>",
        )
        == "Biga" + "pic"
    )
    assert topic_html("see https://example.org", None) == (
        'see <a href="https://example.org" rel="noopener" target="_blank">https://example.org</a>'
    )
    line = render_event_uncached({**message(spec_example, "m.room.topic"), "state_key": ""}, {})
    assert "changed the topic to An interesting room topic" in line


def test_pinned_state_lines_say_what_was_pinned():
    from webclient.matrix.relations import RoomEvents
    from webclient.timeline.render import render_tiles

    store = RoomEvents("!r:example.org")
    event = {
        **message({"pinned": ["$a", "$b"]}, "m.room.pinned_events"),
        "state_key": "",
        "unsigned": {"prev_content": {"pinned": ["$a"]}},
    }
    store.add(event)
    [item] = render_tiles(store, ["$e"], {})
    assert "pinned a message" in item["html"]
    assert "/rooms/%21r:example.org/event/%24b/" in item["html"] or "/event/$b/" in item["html"]
    store.add({**event, "event_id": "$f", "content": {"pinned": []}})
    [item] = render_tiles(store, ["$f"], {})
    assert "unpinned a message" in item["html"]
    room = RoomSummary(room_id="!r")
    room.apply_state_event(
        {"type": "m.room.pinned_events", "state_key": "", "content": {"pinned": ["$a", 5, "x"]}}
    )
    assert room.pinned == ["$a"]
