"""The integrator's corner in Chromium: revealing the session's access token after the password
check (with a working copy button), and creating then revoking a token for an automation."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import (
    browser_device_token,
    confirm_dialog,
    login_with_password,
    whoami_errcode,
)
from tests.synapse_fixtures import MatrixAPIError, matrix_api

CS = "/_matrix/client/v3"


@pytest.fixture
def clipboard_page(browser, webclient_server):
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=webclient_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def test_reveal_the_access_token_and_copy_it(clipboard_page, webclient_server, synapse, make_user):
    page, base = clipboard_page, webclient_server.url
    user = make_user("reveal")
    login_with_password(page, base, synapse, user)
    _, token = browser_device_token(synapse, user)

    page.locator("#app-settings-link").click()
    page.wait_for_url(f"{base}/settings/advanced/")
    expect(page.locator("#homeserver-url")).to_have_value(synapse.url)
    expect(page.locator('button[data-copy-target="homeserver-url"]')).to_be_visible()
    expect(page.locator("#user-id")).to_have_text(user.user_id)
    expect(page.locator("#revealed-token")).to_have_count(0)
    assert token not in page.content()

    form = page.locator("#reveal-form")
    form.locator("input[name=password]").fill("not my password")
    form.locator("button[type=submit]").click()
    expect(page.locator("#reveal-error")).to_be_visible()
    expect(page.locator("#revealed-token")).to_have_count(0)
    assert token not in page.content()

    form.locator("input[name=password]").fill(user.password)
    form.locator("button[type=submit]").click()
    expect(page.locator("#revealed-token")).to_have_value(token)
    copy = page.locator('button[data-copy-target="revealed-token"]')
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token

    # Back to the page by GET: hidden again.
    page.goto(f"{base}/settings/advanced/")
    expect(page.locator("#revealed-token")).to_have_count(0)
    assert token not in page.content()


def test_create_then_revoke_a_token_for_an_automation(page, webclient_server, synapse, make_user):
    base = webclient_server.url
    user = make_user("automate")
    login_with_password(page, base, synapse, user)
    session_device, session_token = browser_device_token(synapse, user)

    page.goto(f"{base}/settings/advanced/")
    page.locator("#automation-link").click()
    page.wait_for_url(f"{base}/settings/automation/")
    expect(page.locator("#automation-empty")).to_be_visible()
    form = page.locator("#create-automation-form")
    form.locator("input[name=name]").fill("netdata alerts")
    form.locator("input[name=password]").fill(user.password)
    form.locator("button[type=submit]").click()

    field = page.locator("#new-token-value")
    expect(field).to_be_visible()
    expect(page.locator('button[data-copy-target="new-token-value"]')).to_be_visible()
    token = field.input_value()
    assert token and token != session_token
    me = matrix_api(synapse.url, token, "GET", f"{CS}/account/whoami")
    assert me["user_id"] == user.user_id and me["device_id"] != session_device
    row = page.locator(f'.automation-device[data-device-id="{me["device_id"]}"]')
    expect(row).to_contain_text("automation: netdata alerts")

    # The automation posts with its token, and the message shows on the room page.
    room = matrix_api(
        synapse.url, user.access_token, "POST", f"{CS}/createRoom", {"name": "Alerts"}
    )["room_id"]
    alert_path = f"{CS}/rooms/{quote(room, safe='')}/send/m.room.message/"
    matrix_api(
        synapse.url,
        token,
        "PUT",
        alert_path + "alert1",
        {"msgtype": "m.notice", "body": "disk 91% full"},
    )
    page.goto(f"{base}/rooms/{quote(room, safe='')}/")
    expect(page.locator("#timeline")).to_contain_text("disk 91% full")

    page.goto(f"{base}/settings/automation/")
    expect(page.locator("#new-token-value")).to_have_count(0)
    assert token not in page.content()
    row.locator("button.revoke-button").click()
    confirm_dialog(page)
    page.wait_for_url(f"{base}/settings/automation/")
    expect(page.locator(".flash")).to_contain_text("its token no longer works")
    expect(page.locator("#automation-empty")).to_be_visible()
    assert whoami_errcode(synapse, token) == "M_UNKNOWN_TOKEN"
    # The next post with the revoked token fails.
    try:
        matrix_api(
            synapse.url, token, "PUT", alert_path + "alert2", {"msgtype": "m.notice", "body": "x"}
        )
    except MatrixAPIError as exc:
        assert exc.errcode == "M_UNKNOWN_TOKEN"
    else:
        raise AssertionError("a revoked automation token could still post")

    # The browser session is another device: still signed in.
    assert whoami_errcode(synapse, session_token) is None
    page.goto(f"{base}/rooms/")
    page.wait_for_url(f"{base}/rooms/")
    expect(page.locator("#logout-button")).to_be_visible()
