"""The ready-to-paste settings for automations (webclient.web.snippets) quote what they
embed, and automation device names are cleaned (webclient.matrix.devices).

Pure functions: no homeserver, no client."""

from __future__ import annotations

from webclient.matrix import devices as automation
from webclient.web import snippets


def test_snippets_quote_what_they_embed():
    conf = snippets.netdata("https://hs.example/", 'a"b$c`d\\e', "!r:hs.example")
    assert 'MATRIX_ACCESSTOKEN="a\\"b\\$c\\`d\\\\e"' in conf
    assert 'MATRIX_HOMESERVER="https://hs.example"' in conf
    command = snippets.curl("https://hs.example", "tok'en", "!r:hs.example", "t1")
    assert "'Authorization: Bearer tok'\"'\"'en'" in command
    assert "/rooms/%21r%3Ahs.example/send/m.room.message/t1" in command
    assert automation.clean_name("  netdata\u0000 \n alerts  ") == "netdata alerts"
