"""What the composer's text becomes (webclient.timeline.compose): the `m.room.message`
content the websocket and the no-JS form both send."""

from __future__ import annotations

import pytest

from webclient.timeline.compose import HTML_FORMAT, message_content


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "line one\nline two",
        "tom & jerry <3",
        "<script>alert(1)</script>",
        "<b>not html</b>",
        "/shrug",  # an unknown command is sent as typed
        "/mex",  # only "/me" followed by a space is the emote command
        " /me indented",  # a command must start the message
        "see https://example.org/?a=1&b=2",
    ],
)
def test_plain_text_is_m_text_without_formatted_body(text):
    content = message_content(text)
    assert content == {"msgtype": "m.text", "body": text}


def test_markdown_adds_sanitised_formatted_body():
    content = message_content("hello **world** and *you*")
    assert content["msgtype"] == "m.text"
    assert content["body"] == "hello **world** and *you*"  # the body stays what was typed
    assert content["format"] == HTML_FORMAT == "org.matrix.custom.html"
    assert "<strong>world</strong>" in content["formatted_body"]
    assert "<em>you</em>" in content["formatted_body"]


def test_markdown_never_passes_raw_html_through():
    content = message_content("**bold** <img src=x onerror=alert(1)> <script>x()</script>")
    html = content["formatted_body"]
    assert "<strong>bold</strong>" in html
    assert "<img" not in html
    assert "<script" not in html
    assert "&lt;script&gt;" in html  # shown as text, as typed


def test_markdown_link_is_safe():
    html = message_content("[site](https://example.org) [bad](javascript:alert(1))")[
        "formatted_body"
    ]
    assert 'href="https://example.org"' in html
    assert 'href="javascript' not in html  # left as text, never a link


def test_me_is_an_emote():
    assert message_content("/me waves") == {"msgtype": "m.emote", "body": "waves"}


def test_me_with_markdown_is_a_formatted_emote():
    content = message_content("/me **waves** hello")
    assert content["msgtype"] == "m.emote"
    assert content["body"] == "**waves** hello"
    assert content["format"] == HTML_FORMAT
    assert "<strong>waves</strong>" in content["formatted_body"]
    assert "/me" not in content["formatted_body"]


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("//me is not an emote", "/me is not an emote"),
        ("//shrug", "/shrug"),
        ("//", "/"),
        ("///three", "//three"),
    ],
)
def test_double_slash_sends_a_literal_slash(typed, sent):
    assert message_content(typed) == {"msgtype": "m.text", "body": sent}


def test_double_slash_text_still_gets_markdown():
    content = message_content("//path is **important**")
    assert content["msgtype"] == "m.text"
    assert content["body"] == "/path is **important**"
    assert "<strong>important</strong>" in content["formatted_body"]


def test_a_bare_me_is_sent_as_text_not_an_empty_emote():
    from webclient.timeline.compose import message_content

    assert message_content("/me") == {"msgtype": "m.text", "body": "/me"}
    assert message_content("/me   ")["msgtype"] == "m.text"
