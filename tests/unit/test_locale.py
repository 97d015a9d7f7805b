"""A viewer's language and time zone (`live/locale.py`), and tiles rendered once per
language and zone: the render cache keeps one fragment per tile state *and* viewer variant,
so a German page never gets an English tile from the cache (or the reverse)."""

from __future__ import annotations

import zoneinfo

import pytest
from django.core.cache import cache
from django.utils import timezone, translation

from webclient.live import locale
from webclient.timeline.render import render_events

ALICE = "@alice:example.org"
TS = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize(
    ("chosen", "cookie", "accept", "expected"),
    [
        ("", None, "", "en"),
        ("", None, "de-DE,de;q=0.9,en;q=0.8", "de"),
        ("", None, "fr-FR,fr;q=0.9,de;q=0.8", "de"),  # the first one offered
        ("", None, "fr, *", "en"),
        ("", "de", "en", "de"),  # the sign-in page's choice beats the header
        ("en", "de", "de", "en"),  # the login's choice beats both
        ("de", None, "en", "de"),
        ("xx", "yy", "zz", "en"),  # nothing offered: the default
    ],
)
def test_language_for(chosen, cookie, accept, expected):
    cookies = {"webclient_language": cookie} if cookie else {}
    assert locale.language_for(chosen, cookies, accept) == expected


def test_zone_for():
    assert locale.zone_for("", {}) == "UTC"
    assert locale.zone_for("", {"webclient_tz": "Europe/Berlin"}) == "Europe/Berlin"
    assert locale.zone_for("Asia/Tokyo", {"webclient_tz": "Europe/Berlin"}) == "Asia/Tokyo"
    assert locale.zone_for("", {"webclient_tz": "../../etc/passwd"}) == "UTC"
    assert locale.zone_for("Nowhere/Land", {}) == "UTC"


def test_parse_variant_checks_what_a_page_names():
    assert locale.parse_variant("de|Europe/Berlin") == "de|Europe/Berlin"
    assert locale.parse_variant("de-AT|Europe/Vienna") == "de|Europe/Vienna"
    assert locale.parse_variant("klingon|Mars") == "en|UTC"
    assert locale.parse_variant(None) == "en|UTC"


def test_rendering_in_a_variant():
    with locale.rendering_in("de|Asia/Tokyo"):
        assert translation.get_language() == "de"
        assert timezone.get_current_timezone_name() == "Asia/Tokyo"
        assert locale.current_variant() == "de|Asia/Tokyo"
    assert locale.current_variant() == "en|UTC"


def joined() -> dict:
    return {
        "event_id": "$join",
        "sender": ALICE,
        "type": "m.room.member",
        "state_key": ALICE,
        "origin_server_ts": TS,
        "content": {"membership": "join", "displayname": "Alice"},
    }


def test_one_cached_fragment_per_language():
    members = {ALICE: {"displayname": "Alice", "membership": "join"}}
    with translation.override("de"):
        german = render_events([joined()], members)[0]["html"]
    english = render_events([joined()], members)[0]["html"]
    assert "Alice hat den Raum betreten" in german
    assert "Alice joined the room" in english
    # Each from the cache the second time, still in its own language.
    with translation.override("de"):
        assert render_events([joined()], members)[0]["html"] == german
    assert render_events([joined()], members)[0]["html"] == english


def test_tile_times_in_the_viewers_zone():
    members = {ALICE: {"displayname": "Alice", "membership": "join"}}
    utc = render_events([joined()], members)[0]["html"]
    with timezone.override(zoneinfo.ZoneInfo("Asia/Tokyo")):
        tokyo = render_events([joined()], members)[0]["html"]
    assert ">22:13</time>" in utc
    assert ">07:13</time>" in tokyo
    assert 'datetime="2023-11-15T07:13:20+09:00"' in tokyo


def test_sas_emoji_names_in_the_viewers_language():
    from webclient.accounts.templatetags.sas import sas_name

    assert sas_name("Pin") == "Pin"
    assert sas_name("Thumbs Up") == "Thumbs Up"
    with translation.override("de"):
        assert sas_name("Dog") == "Hund"
        # The emoji, not the action "Pin" (Anheften): told apart by context.
        assert sas_name("Pin") == "Stecknadel"
        assert translation.gettext("Pin") == "Anheften"
        assert sas_name("Not an emoji") == "Not an emoji"
