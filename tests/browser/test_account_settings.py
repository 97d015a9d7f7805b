"""Account settings in Chromium: from the header's Account link to renaming this device and
signing out another one with the password (plain forms, no script needed)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import (
    CS,
    browser_device_token,
    confirm_dialog,
    login_with_password,
    q,
    whoami_errcode,
)


def test_rename_device_and_sign_out_another(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    me = make_user("me", displayname="Mia")
    phone = synapse.login(me.localpart, me.password)
    matrix_api(
        synapse.url,
        phone.access_token,
        "PUT",
        f"{CS}/devices/{q(phone.device_id)}",
        {"display_name": "Old phone"},
    )

    login_with_password(page, base, synapse, me)
    this_device, this_token = browser_device_token(synapse, me)

    page.locator("#account-link").click()
    page.wait_for_url(f"{base}/settings/profile/")
    expect(page.locator("#profile-display-name")).to_have_text("Mia")
    page.get_by_role("link", name="Devices").click()
    page.wait_for_url(f"{base}/settings/devices/")

    expect(page.locator("#this-device")).to_have_attribute("data-device-id", this_device)
    expect(page.locator("#this-device .device-badge")).to_have_text("this device")
    phone_row = page.locator(f'#other-devices li[data-device-id="{phone.device_id}"]')
    expect(phone_row.locator(".device-name")).to_have_text("Old phone")
    expect(page.locator(f'#other-devices input[value="{this_device}"]')).to_have_count(0)

    # Rename this device.
    page.locator("#device-name-input").fill("Mia's browser")
    page.locator("#rename-form button[type=submit]").click()
    page.wait_for_url(f"{base}/settings/devices/")
    expect(page.locator(".flash")).to_have_text("This device is now called “Mia's browser”.")
    expect(page.locator("#this-device .device-name")).to_have_text("Mia's browser")
    device = matrix_api(synapse.url, me.access_token, "GET", f"{CS}/devices/{q(this_device)}")
    assert device["display_name"] == "Mia's browser"

    # A wrong password signs nothing out and says so.
    phone_row.locator("input[type=checkbox]").check()
    page.locator("#signout-password").fill("not my password")
    page.locator("#signout-selected").click()
    confirm_dialog(page)
    expect(page.locator("#signout-error")).to_have_text(
        "That is not your password. No device was signed out."
    )
    assert whoami_errcode(synapse, phone.access_token) is None

    # The right one signs the phone out; this browser stays signed in.
    expect(phone_row.locator("input[type=checkbox]")).to_be_checked()
    page.locator("#signout-password").fill(me.password)
    page.locator("#signout-selected").click()
    confirm_dialog(page)
    page.wait_for_url(f"{base}/settings/devices/")
    expect(page.locator(".flash")).to_have_text(f"Signed out 1 device: {phone.device_id}.")
    expect(page.locator(f'li[data-device-id="{phone.device_id}"]')).to_have_count(0)
    assert whoami_errcode(synapse, phone.access_token) == "M_UNKNOWN_TOKEN"
    assert whoami_errcode(synapse, this_token) is None

    page.locator(".brand").click()
    page.wait_for_url(re.compile(r"/rooms/$"))
