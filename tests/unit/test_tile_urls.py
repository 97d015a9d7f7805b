"""`{% tile_url %}` makes the very URLs `{% url %}` makes (tiles are rendered on the path from
a sync to the screen, and `reverse` was a large part of a tile's rendering)."""

from __future__ import annotations

import itertools

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, reverse

from webclient.timeline.templatetags.tile_urls import tile_reverse

ARGS = [
    "!room:example.org",
    "$abc_DEF-123",
    "@bob:example.org",
    "é ü&'\"<>",
    "$%41?b#c",
    "wcTILEURLARG0x",
    "line\nbreak",
    "//x",
    "",
    "a/b",
]
VIEWS = [
    ("rooms:room", 1),
    ("rooms:react", 2),
    ("rooms:thread", 2),
    ("rooms:event", 2),
    ("rooms:person", 2),
    ("rooms:pin", 2),
    ("rooms:vote", 2),
    ("rooms:end_poll", 2),
    ("rooms:report_event", 2),
]


def _reversed(function, name: str, args: list[str]) -> str | type[Exception]:
    try:
        return function(name, args)
    except NoReverseMatch:
        return NoReverseMatch


@pytest.mark.parametrize(("name", "count"), VIEWS)
def test_same_urls_as_reverse(name, count):
    for args in itertools.product(ARGS, repeat=count):
        expected = _reversed(lambda n, a: reverse(n, args=a), name, list(args))
        got = _reversed(lambda n, a: tile_reverse(n, *a), name, list(args))
        assert got == expected, args


def test_tag_escapes_like_url():
    context = Context({"room": "!r:x", "event": "$a&b'<"})
    url = Template("{% url 'rooms:react' room event %}").render(context)
    tile = Template("{% load tile_urls %}{% tile_url 'rooms:react' room event %}").render(context)
    assert tile == url
    assert "&amp;" in tile


@pytest.mark.parametrize("language", ["en", "de"])
def test_actions_menu_is_the_included_one(language):
    from types import SimpleNamespace

    from django.utils import translation

    include = Template('{% include "events/_actions.html" %}')
    cached = Template("{% load tile_urls %}{% tile_actions view %}")
    event_ids = ["$abc_DEF-123", "$é ü&'\"<>", "$%41?b#c:x@y~z!$()*+,;=", "$x\ny", "$reply_to="]
    with translation.override(language):
        for room, sender, name, css, root, event_id in itertools.product(
            ["!room:example.org", "!r&'<:x"],
            ["@bob:example.org", "@eve&<'>:x"],
            ["Bob", "Eve <&> 'quoted'"],
            ["msgtype-text", "msgtype-image", "msgtype-emote", "state"],
            [None, "$root"],
            event_ids,
        ):
            view = SimpleNamespace(
                room_id=room,
                event_id=event_id,
                sender=sender,
                sender_name=name,
                css=css,
                thread_root=root,
            )
            context = {"view": view}
            assert cached.render(Context(context)) == include.render(Context(context)), view
