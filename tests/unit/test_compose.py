"""What the composer's text becomes (webclient.timeline.compose): the `m.room.message`
content the websocket and the no-JS form both send."""

from __future__ import annotations

import pytest

from webclient.timeline.compose import (
    COMMANDS,
    HTML_FORMAT,
    CommandError,
    message_content,
    parse_command,
    topic_content,
)


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "line one\nline two",
        "tom & jerry <3",
        "<script>alert(1)</script>",
        "<b>not html</b>",
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


def test_a_bare_me_is_a_usage_error_not_an_empty_emote():
    for text in ("/me", "/me   "):
        with pytest.raises(CommandError, match="Usage: /me <message>"):
            message_content(text)


@pytest.mark.parametrize("text", ["/mex", "/shrugs hi", "/path/to/file is broken", "/"])
def test_an_unknown_command_is_refused_never_sent_as_text(text):
    with pytest.raises(CommandError, match="Unknown command"):
        message_content(text)


# Element's SlashCommands.tsx: ContentHelpers.makeTextMessage / makeHtmlMessage shapes.
@pytest.mark.parametrize(
    ("typed", "content"),
    [
        ("/shrug", {"msgtype": "m.text", "body": "¯\\_(ツ)_/¯"}),
        ("/shrug oh well", {"msgtype": "m.text", "body": "¯\\_(ツ)_/¯ oh well"}),
        ("/tableflip", {"msgtype": "m.text", "body": "(╯°□°）╯︵ ┻━┻"}),
        ("/tableflip **no**", {"msgtype": "m.text", "body": "(╯°□°）╯︵ ┻━┻ **no**"}),
        ("/plain **not bold**", {"msgtype": "m.text", "body": "**not bold**"}),
        (
            "/html <b>bold</b>",
            {
                "msgtype": "m.text",
                "format": HTML_FORMAT,
                "body": "<b>bold</b>",
                "formatted_body": "<b>bold</b>",
            },
        ),
        (
            "/spoiler the end <3",
            {
                "msgtype": "m.text",
                "format": HTML_FORMAT,
                "body": "the end <3",
                "formatted_body": "<span data-mx-spoiler>the end &lt;3</span>",
            },
        ),
        ("/ME shouts", {"msgtype": "m.emote", "body": "shouts"}),
    ],
)
def test_message_commands_shape_the_content_as_element(typed, content):
    assert message_content(typed) == content


def test_commands_that_act_are_not_messages():
    assert parse_command("/invite @a:example.org")[0].acts
    assert parse_command("/j #room:example.org")[0].name == "join"
    assert parse_command("/remove @a:example.org spam")[1] == "@a:example.org spam"
    assert parse_command("hello") is None
    assert parse_command("//invite") is None
    with pytest.raises(CommandError, match="does something"):
        message_content("/invite @a:example.org")


def test_every_command_the_issue_names_is_listed_with_help():
    names = {c.name for c in COMMANDS}
    wanted = "me shrug tableflip plain html spoiler join leave invite kick ban unban topic nick"
    assert set((wanted + " myroomnick op deop converttodm help").split()) <= names
    assert all(c.help for c in COMMANDS)


def test_topic_content_is_matrix_js_sdk_make_topic_content():
    assert topic_content("plain words") == {
        "topic": "plain words",
        "m.topic": {"m.text": [{"body": "plain words", "mimetype": "text/plain"}]},
    }
    rich = topic_content("**rich** topic")
    assert rich["m.topic"]["m.text"][0] == {
        "body": "<strong>rich</strong> topic",
        "mimetype": "text/html",
    }
    assert rich["m.topic"]["m.text"][1]["mimetype"] == "text/plain"
