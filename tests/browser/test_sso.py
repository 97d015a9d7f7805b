"""Single sign-on in Chromium: the login page's identity provider button, the provider's own
sign-in form, Synapse's "Continue to your account" page, and the room list as the mapped user."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.oidc_provider import SSOStack, sso_stack
from tests.synapse_fixtures import matrix_api

from .helpers import CS


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[SSOStack]:
    with sso_stack(tmp_path_factory.mktemp("sso-browser")) as running:
        yield running


def sign_in_at_provider(page: Page, stack: SSOStack, username: str, password: str) -> None:
    expect(page.locator("#idp-login")).to_be_visible()
    assert page.url.startswith(stack.idp.issuer + "authorize")
    page.locator("#idp-login input[name=username]").fill(username)
    page.locator("#idp-login input[name=password]").fill(password)
    page.locator("#idp-login button[type=submit]").click()
    # Synapse asks before handing the account to the client.
    expect(page.get_by_role("heading", name="Continue to your account")).to_be_visible()
    page.get_by_role("link", name="Continue").click()


def test_sign_in_with_identity_provider_button(page: Page, stack: SSOStack):
    base = stack.webclient.url
    username = f"sso-{uuid.uuid4().hex[:8]}"
    stack.idp.add_user(username, "hunter2", name="Sam Sso")
    user_id = f"@{username}:localhost"

    page.goto(f"{base}/login/")
    button = page.locator('a.sso-button[data-idp="oidc-test"]')
    expect(button).to_have_text("Continue with Test IdP")
    button.click()

    # A wrong password stays at the provider.
    page.wait_for_url(re.compile(re.escape(stack.idp.issuer + "authorize?")))
    page.locator("#idp-login input[name=username]").fill(username)
    page.locator("#idp-login input[name=password]").fill("wrong")
    page.locator("#idp-login button[type=submit]").click()
    expect(page.locator("#idp-error")).to_have_text("Wrong username or password.")

    sign_in_at_provider(page, stack, username, "hunter2")
    page.wait_for_url(f"{base}/rooms/")
    expect(page.locator(".whoami")).to_have_text(user_id)
    expect(page.locator("#room-list")).to_be_visible()

    # The room list is live for the new account: an invitation shows up.
    friend = stack.synapse.register(f"friend-{uuid.uuid4().hex[:8]}", "pw-friend")
    matrix_api(
        stack.synapse.url,
        friend.access_token,
        "POST",
        f"{CS}/createRoom",
        {"name": "Welcome to SSO", "invite": [user_id]},
    )
    expect(page.locator("#rooms")).to_contain_text("Welcome to SSO", timeout=20000)


def test_sign_in_returns_to_the_page_asked_for(page: Page, stack: SSOStack):
    base = stack.webclient.url
    username = f"sso-{uuid.uuid4().hex[:8]}"
    stack.idp.add_user(username, "hunter2")

    page.goto(f"{base}/settings/profile/")
    page.wait_for_url(re.compile(re.escape(f"{base}/login/?next=")))
    # Ask for the homeserver's sign-in options by typing it, as for any homeserver.
    page.locator("details.sso-other summary").click()
    page.locator("#sso-check-form input[name=sso_homeserver]").fill(stack.synapse.url)
    page.locator("#sso-check-form button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(f"{base}/login/?") + ".*sso_homeserver="))
    expect(page.locator("#sso-error")).to_have_count(0)
    page.locator('a.sso-button[data-idp="oidc-test"]').click()

    sign_in_at_provider(page, stack, username, "hunter2")
    page.wait_for_url(f"{base}/settings/profile/")
    expect(page.locator(".whoami")).to_have_text(f"@{username}:localhost")
