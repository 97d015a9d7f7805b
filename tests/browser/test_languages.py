"""Languages in real Chromium: a browser that prefers German gets German pages (`<html
lang="de">`) and German script strings (Django's JavaScript catalog, loaded as a script of
this origin under the pages' CSP), its time zone is reported by the page's script and times
are shown in it; an English browser gets English; the sign-in page's language choice works
without JavaScript."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import CS, event_tile, login_with_password, open_room, q, send_text, shared_room


@pytest.fixture
def contexts(browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def new_page(browser, contexts: list[BrowserContext], **options) -> Page:
    context = browser.new_context(**options)
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def start_typing(hs, user, room_id: str) -> None:
    matrix_api(
        hs.url,
        user.access_token,
        "PUT",
        f"{CS}/rooms/{q(room_id)}/typing/{q(user.user_id)}",
        {"typing": True, "timeout": 30000},
    )


def test_german_browser_gets_german_pages_scripts_and_its_time_zone(
    browser, contexts, webclient_server, synapse, make_user
):
    base = webclient_server.url
    alice = make_user("alice", displayname="Alice")
    bob = make_user("bob", displayname="Bob")
    room = shared_room(synapse, bob, alice, name="Sprachen")
    event_id = send_text(synapse, bob, room, "Hallo")
    page = new_page(browser, contexts, locale="de-DE", timezone_id="Asia/Tokyo")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{base}/login/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Bei Matrix anmelden")
    # The page's script reported the browser's zone for the next pages.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("webclient_tz") == "Asia/Tokyo"

    login_with_password(page, base, synapse, alice)
    expect(page.locator("#logout-button")).to_have_text("Abmelden")
    open_room(page, base, room)
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("html")).to_have_attribute("data-tz", "Asia/Tokyo")
    time_ = event_tile(page, event_id).locator("header time")
    stamp = time_.get_attribute("datetime")
    assert stamp.endswith("+09:00"), stamp
    expected = datetime.fromisoformat(stamp).astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
    expect(time_).to_have_text(expected)

    # A string of a script, from the German catalog.
    start_typing(synapse, bob, room)
    expect(page.locator("#typing")).to_have_text("Bob schreibt…")
    assert page.evaluate("window.gettext('Retry')") == "Erneut versuchen"
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_english_browser_gets_english(browser, contexts, webclient_server, synapse, make_user):
    base = webclient_server.url
    alice = make_user("alice", displayname="Alice")
    bob = make_user("bob", displayname="Bob")
    room = shared_room(synapse, bob, alice, name="Languages")
    page = new_page(browser, contexts, locale="en-US", timezone_id="UTC")
    login_with_password(page, base, synapse, alice)
    open_room(page, base, room)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    start_typing(synapse, bob, room)
    expect(page.locator("#typing")).to_have_text("Bob is typing…")
    # English is the source language: no catalog to load, the scripts show their own text.
    assert page.evaluate("typeof window.gettext") == "undefined"
    assert page.locator('script[src*="jsi18n"]').count() == 0


def test_sign_in_page_language_choice_without_javascript(
    browser, contexts, webclient_server, synapse, make_user
):
    base = webclient_server.url
    alice = make_user("alice")
    page = new_page(browser, contexts, locale="en-US", java_script_enabled=False)
    page.goto(f"{base}/login/")
    expect(page.locator("h1")).to_have_text("Sign in to Matrix")
    page.locator("#language-choice-select").select_option("de")
    page.locator("#language-choice button[type=submit]").click()
    page.wait_for_url(f"{base}/login/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Bei Matrix anmelden")
    # Signed in, the choice stays (a cookie) until the login chooses in its settings.
    login_with_password(page, base, synapse, alice)
    expect(page.locator("#logout-button")).to_have_text("Abmelden")
    page.goto(f"{base}/settings/language/")
    page.locator("#id_language").select_option("en")
    page.locator("#language-form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".flash")).to_contain_text(re.compile("language and time zone are saved"))
