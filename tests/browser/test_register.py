"""Creating an account through the form in Chromium, on a homeserver that allows it.

The webclient server is the shared one (its MATRIX_HOMESERVER is the shared Synapse, where
registration is disabled); the form's homeserver field points at this module's own Synapse
with open registration (`m.login.dummy`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.synapse_fixtures import matrix_api
from webclient.demo.homeserver import LocalSynapse

OPEN = {"enable_registration": True, "enable_registration_without_verification": True}


@pytest.fixture(scope="module")
def open_hs(tmp_path_factory) -> Iterator[LocalSynapse]:
    with LocalSynapse(tmp_path_factory.mktemp("hs-open-browser"), extra_config=OPEN) as hs:
        yield hs


def fill_form(page, hs: LocalSynapse, localpart: str, password: str, confirm: str) -> None:
    form = page.locator("form#register-form")
    form.locator("input[name=homeserver]").fill(hs.url)
    form.locator("input[name=username]").fill(localpart)
    form.locator("input[name=password]").fill(password)
    form.locator("input[name=password_confirm]").fill(confirm)
    form.locator("button[type=submit]").click()


def test_register_from_the_login_page_lands_on_the_room_list(page, webclient_server, open_hs):
    base = webclient_server.url
    localpart = f"browser-{uuid.uuid4().hex[:10]}"
    user_id = f"@{localpart}:{open_hs.server_name}"
    page.goto(f"{base}/login/")
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url(f"{base}/register/")
    # Prefilled with the server's default homeserver, which does not allow sign-up.
    homeserver = page.locator("form#register-form input[name=homeserver]")
    expect(homeserver).to_have_value(webclient_server.homeserver)

    # Mistyped second password: told so, nothing created, the username kept.
    fill_form(page, open_hs, localpart, "a new password", "a new pasword")
    expect(page.locator("#register-error")).to_have_text(
        "The two passwords are not the same. Type the same password twice."
    )
    expect(page.locator("form#register-form input[name=username]")).to_have_value(localpart)
    expect(page.locator("form#register-form input[name=password]")).to_have_value("")

    fill_form(page, open_hs, localpart, "a new password", "a new password")
    page.wait_for_url(f"{base}/rooms/")
    expect(page.locator("#room-list")).to_be_visible()
    expect(page.locator("#rooms-loading")).to_have_count(0, timeout=15000)
    expect(page.locator(".app-header .whoami")).to_have_text(user_id)

    # The account is real and the password is the one typed.
    login = open_hs.login(localpart, "a new password")
    assert login.user_id == user_id
    me = matrix_api(open_hs.url, login.access_token, "GET", "/_matrix/client/v3/account/whoami")
    assert me["user_id"] == user_id


def test_disabled_homeserver_says_so(page, webclient_server):
    """The default homeserver (the shared Synapse) does not allow creating accounts."""
    base = webclient_server.url
    page.goto(f"{base}/register/")
    form = page.locator("form#register-form")
    form.locator("input[name=username]").fill(f"nobody-{uuid.uuid4().hex[:10]}")
    form.locator("input[name=password]").fill("whatever words")
    form.locator("input[name=password_confirm]").fill("whatever words")
    form.locator("button[type=submit]").click()
    expect(page.locator("#register-error")).to_contain_text(
        "This homeserver does not allow creating accounts here."
    )
    assert page.url == f"{base}/register/"
