"""Creating an account (webclient/accounts/registration.py and webclient/matrix/registration.py)
against real Synapse homeservers.

This module starts its own private homeservers, each configured for one kind of sign-up:

- `open_hs`: `enable_registration` + `enable_registration_without_verification`, so
  `/register` offers the flow `[m.login.dummy]`;
- `token_hs`: `registration_requires_token`, flow `[m.login.registration_token,
  m.login.dummy]`; tokens are made with the admin API by an admin registered through the
  shared secret;
- `terms_hs`: `user_consent.require_at_registration`, flow `[m.login.terms, m.login.dummy]`,
  with the policy served by Synapse's own consent resource;
- `captcha_hs`: `enable_registration_captcha`, flow `[m.login.recaptcha, m.login.dummy]`,
  which this client cannot do;
- and the shared `synapse`, where registration is disabled (Synapse's default).

Every stage runs against real Synapse; nothing here is a fake homeserver.
"""

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from django.test import AsyncClient

from tests.synapse_fixtures import MatrixAPIError, matrix_api
from webclient.accounts import registration as register_page
from webclient.accounts.forms import MISMATCH
from webclient.demo.homeserver import LocalSynapse, matrix_request
from webclient.matrix import registration as register
from webclient.matrix import registry, tokens
from webclient.matrix.auth import DEVICE_NAME
from webclient.matrix.models import SESSION_KEY, Credential

WHOAMI = "/_matrix/client/v3/account/whoami"
OPEN = {"enable_registration": True, "enable_registration_without_verification": True}
POLICY_NAME = "Terms of Service"


# -- homeservers -----------------------------------------------------------------------------------


class ConsentSynapse(LocalSynapse):
    """A LocalSynapse that also serves `/_matrix/consent`, so the policy link works."""

    def build_config(self) -> dict[str, Any]:
        config = super().build_config()
        config["listeners"][0]["resources"][0]["names"].append("consent")
        return config


def _running(hs: LocalSynapse) -> Iterator[LocalSynapse]:
    with hs:
        yield hs


@pytest.fixture(scope="module")
def open_hs(tmp_path_factory) -> Iterator[LocalSynapse]:
    yield from _running(LocalSynapse(tmp_path_factory.mktemp("hs-open"), extra_config=OPEN))


@pytest.fixture(scope="module")
def token_hs(tmp_path_factory) -> Iterator[LocalSynapse]:
    extra = {"enable_registration": True, "registration_requires_token": True}
    yield from _running(LocalSynapse(tmp_path_factory.mktemp("hs-token"), extra_config=extra))


@pytest.fixture(scope="module")
def terms_hs(tmp_path_factory) -> Iterator[LocalSynapse]:
    data_dir = tmp_path_factory.mktemp("hs-terms")
    templates = Path(data_dir) / "consent" / "en"
    templates.mkdir(parents=True)
    (templates / "1.0.html").write_text(
        "<!doctype html><title>Terms</title><p>Be excellent to each other.</p>"
    )
    extra = {
        **OPEN,
        "user_consent": {
            "version": "1.0",
            "template_dir": str(templates.parent),
            "require_at_registration": True,
            "policy_name": POLICY_NAME,
        },
    }
    yield from _running(ConsentSynapse(data_dir, extra_config=extra))


@pytest.fixture(scope="module")
def captcha_hs(tmp_path_factory) -> Iterator[LocalSynapse]:
    extra = {
        "enable_registration": True,
        "enable_registration_captcha": True,
        "recaptcha_public_key": "public-key-for-tests",
        "recaptcha_private_key": "private-key-for-tests",
    }
    yield from _running(LocalSynapse(tmp_path_factory.mktemp("hs-captcha"), extra_config=extra))


# -- helpers -----------------------------------------------------------------------------------


def new_name(prefix: str = "reg") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def element(html: str, element_id: str) -> re.Match | None:
    return re.search(rf'<(\w+)([^>]*)\bid="{re.escape(element_id)}"([^>]*)>(.*?)</\1>', html, re.S)


def element_text(html: str, element_id: str) -> str | None:
    match = element(html, element_id)
    if match is None:
        return None
    return " ".join(unescape(re.sub(r"<[^>]+>", "", match.group(4))).split())


def register_error(response) -> str | None:
    return element_text(response.content.decode(), "register-error")


def error_field(response) -> str | None:
    match = element(response.content.decode(), "register-error")
    assert match, "no #register-error in the page"
    field = re.search(r'data-field="([^"]*)"', match.group(2) + match.group(3))
    return field.group(1) if field else None


def input_value(html: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', html, re.S)
    assert tag, f"no input {name}"
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return unescape(value.group(1)) if value else None


async def submit(
    client,
    homeserver: str,
    username: str,
    password: str = "correct horse battery",  # noqa: S107 - a test account
    confirm: str | None = None,
    token: str = "",
):
    return await client.post(
        "/register/",
        {
            "step": "details",
            "homeserver": homeserver,
            "username": username,
            "password": password,
            "password_confirm": password if confirm is None else confirm,
            "registration_token": token,
        },
    )


def is_available(hs: LocalSynapse, localpart: str) -> bool:
    try:
        matrix_request(hs.url, "GET", f"/_matrix/client/v3/register/available?username={localpart}")
    except MatrixAPIError as exc:
        assert exc.errcode == "M_USER_IN_USE", exc
        return False
    return True


def user_exists(hs: LocalSynapse, admin_token: str, user_id: str) -> bool:
    try:
        matrix_api(hs.url, admin_token, "GET", f"/_synapse/admin/v2/users/{quote(user_id)}")
    except MatrixAPIError as exc:
        assert exc.status == 404, exc
        return False
    return True


async def assert_signed_in(client, hs: LocalSynapse, localpart: str, password: str) -> Credential:
    """The new account is this browser's login, exactly as after a password sign-in."""
    user_id = f"@{localpart}:{hs.server_name}"
    credential = await Credential.objects.select_related("owner").aget(user_id=user_id)
    assert credential.homeserver == hs.url
    assert credential.owns_device is True
    assert credential.owner.username == user_id
    assert tokens.decrypt(credential.access_token_encrypted) == credential.access_token
    me = matrix_api(hs.url, credential.access_token, "GET", WHOAMI)
    assert (me["user_id"], me["device_id"]) == (user_id, credential.device_id)
    device = matrix_api(
        hs.url, credential.access_token, "GET", f"/_matrix/client/v3/devices/{me['device_id']}"
    )
    assert device["display_name"] == DEVICE_NAME
    session = await client.asession()
    assert await session.aget(SESSION_KEY) == credential.pk
    assert await session.aget(register_page.PENDING_KEY) is None
    assert registry.running(credential.pk) is not None, "no sync loop was started"
    rooms = await client.get("/rooms/")
    assert rooms.status_code == 200
    assert b'id="room-list"' in rooms.content
    assert credential.access_token.encode() not in rooms.content
    # The password chosen is the account's password.
    assert hs.login(localpart, password).user_id == user_id
    return credential


async def assert_nothing_stored(client) -> None:
    assert not await Credential.objects.aexists()
    session = await client.asession()
    assert await session.aget(SESSION_KEY) is None
    assert await session.aget(register_page.PENDING_KEY) is None


# -- the form ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_form_is_prefilled_and_linked_from_login(async_client, settings):
    settings.MATRIX_HOMESERVER = "https://matrix.example.org"
    login = await async_client.get("/login/")
    assert b'href="/register/"' in login.content
    page = await async_client.get("/register/")
    assert page.status_code == 200
    html = page.content.decode()
    assert input_value(html, "homeserver") == "https://matrix.example.org"
    for name in ("username", "password", "password_confirm", "registration_token"):
        assert f'name="{name}"' in html
    assert 'href="/login/"' in html


# -- open registration (m.login.dummy) ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_dummy_flow_creates_account_and_signs_in(async_client, open_hs):
    localpart = new_name()
    response = await submit(async_client, open_hs.url, localpart, "a fine password")
    assert response.status_code == 302, register_error(response)
    assert response["Location"] == "/rooms/"
    assert b"a fine password" not in response.content
    await assert_signed_in(async_client, open_hs, localpart, "a fine password")


@pytest.mark.django_db(transaction=True)
async def test_full_user_id_gives_the_localpart(async_client, open_hs):
    localpart = new_name("full")
    response = await submit(async_client, open_hs.url, f"@{localpart}:{open_hs.server_name}")
    assert response.status_code == 302, register_error(response)
    await assert_signed_in(async_client, open_hs, localpart, "correct horse battery")


@pytest.mark.django_db(transaction=True)
async def test_empty_homeserver_uses_matrix_homeserver_setting(async_client, settings, open_hs):
    settings.MATRIX_HOMESERVER = open_hs.url
    localpart = new_name("preset")
    response = await submit(async_client, "", localpart)
    assert response.status_code == 302, register_error(response)
    await assert_signed_in(async_client, open_hs, localpart, "correct horse battery")


@pytest.mark.django_db(transaction=True)
async def test_registering_replaces_an_earlier_login(async_client, open_hs):
    first, second = new_name("first"), new_name("second")
    assert (await submit(async_client, open_hs.url, first)).status_code == 302
    old = await Credential.objects.aget()
    old_token = old.access_token
    assert (await submit(async_client, open_hs.url, second)).status_code == 302
    assert [c.user_id async for c in Credential.objects.all()] == [
        f"@{second}:{open_hs.server_name}"
    ]
    with pytest.raises(MatrixAPIError) as dead:
        matrix_api(open_hs.url, old_token, "GET", WHOAMI)
    assert dead.value.errcode == "M_UNKNOWN_TOKEN"


@pytest.mark.django_db(transaction=True)
async def test_username_taken(async_client, open_hs):
    existing = open_hs.register(new_name("taken"), "pw-taken")
    response = await submit(async_client, open_hs.url, existing.localpart, "secret words")
    assert response.status_code == 400
    assert register_error(response) == register.TAKEN
    assert error_field(response) == "username"
    html = response.content.decode()
    assert input_value(html, "username") == existing.localpart
    assert input_value(html, "homeserver") == open_hs.url
    assert "secret words" not in html
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
async def test_invalid_username(async_client, open_hs):
    response = await submit(async_client, open_hs.url, "Not A Valid Name!")
    assert response.status_code == 400
    assert register_error(response).startswith("That username cannot be used on this homeserver")
    assert error_field(response) == "username"
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
async def test_passwords_differ(async_client, open_hs):
    localpart = new_name("differ")
    response = await submit(
        async_client, open_hs.url, localpart, "first password", confirm="second password"
    )
    assert response.status_code == 400
    assert register_error(response) == MISMATCH
    html = response.content.decode()
    assert "first password" not in html and "second password" not in html
    assert input_value(html, "username") == localpart
    await assert_nothing_stored(async_client)
    assert is_available(open_hs, localpart), "an account was created anyway"


@pytest.mark.django_db(transaction=True)
async def test_missing_fields(async_client, open_hs):
    response = await submit(async_client, open_hs.url, "", "")
    assert response.status_code == 400
    assert register_error(response) == "Fill in every field."
    await assert_nothing_stored(async_client)


# -- registration disabled ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_registration_disabled(async_client, synapse):
    """Synapse's default: `/register` answers 403 M_FORBIDDEN, said plainly."""
    localpart = new_name("nope")
    response = await submit(async_client, synapse.url, localpart)
    assert response.status_code == 400
    assert register_error(response) == register.DISABLED
    assert "does not allow creating accounts here" in register.DISABLED
    await assert_nothing_stored(async_client)


# -- registration tokens ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_admin(token_hs):
    return token_hs.register(new_name("admin"), "admin-password", admin=True)


def new_token(hs: LocalSynapse, admin, **body: Any) -> str:
    return matrix_api(
        hs.url, admin.access_token, "POST", "/_synapse/admin/v1/registration_tokens/new", body
    )["token"]


def token_info(hs: LocalSynapse, admin, token: str) -> dict[str, Any]:
    return matrix_api(
        hs.url, admin.access_token, "GET", f"/_synapse/admin/v1/registration_tokens/{token}"
    )


@pytest.mark.django_db(transaction=True)
async def test_token_required_but_not_given(async_client, token_hs, token_admin):
    localpart = new_name("notoken")
    response = await submit(async_client, token_hs.url, localpart)
    assert response.status_code == 400
    assert register_error(response) == register.NEED_TOKEN
    assert error_field(response) == "registration_token"
    assert 'name="registration_token"' in response.content.decode()
    await assert_nothing_stored(async_client)
    assert not user_exists(token_hs, token_admin.access_token, f"@{localpart}:localhost")


@pytest.mark.django_db(transaction=True)
async def test_wrong_token(async_client, token_hs, token_admin):
    localpart = new_name("badtoken")
    response = await submit(async_client, token_hs.url, localpart, token="not-a-real-token")
    assert response.status_code == 400
    assert register_error(response) == register.BAD_TOKEN
    assert error_field(response) == "registration_token"
    # The wrong token is not put back in the form; the username is.
    html = response.content.decode()
    assert input_value(html, "registration_token") in (None, "")
    assert input_value(html, "username") == localpart
    await assert_nothing_stored(async_client)
    assert not user_exists(token_hs, token_admin.access_token, f"@{localpart}:localhost")


@pytest.mark.django_db(transaction=True)
async def test_valid_token(async_client, token_hs, token_admin):
    token = new_token(token_hs, token_admin, uses_allowed=1)
    localpart = new_name("withtoken")
    response = await submit(async_client, token_hs.url, localpart, "token password", token=token)
    assert response.status_code == 302, register_error(response)
    await assert_signed_in(async_client, token_hs, localpart, "token password")
    assert token_info(token_hs, token_admin, token)["completed"] == 1

    # The token allowed one account: a second sign-up with it is told so.
    other = AsyncClient()
    again = await submit(other, token_hs.url, new_name("second"), token=token)
    assert again.status_code == 400
    assert register_error(again) == register.BAD_TOKEN
    assert await Credential.objects.acount() == 1


# -- terms (m.login.terms) ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_terms_must_be_accepted(async_client, terms_hs):
    localpart = new_name("terms")
    password = "terms password 123"
    response = await submit(async_client, terms_hs.url, localpart, password)
    assert response.status_code == 200, register_error(response)
    html = response.content.decode()
    assert 'id="register-terms-form"' in html
    assert password not in html
    policy_url = f"{terms_hs.url}/_matrix/consent?v=1.0"
    link = re.search(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', element(html, "register-policies")[0])
    assert link and (unescape(link.group(1)), link.group(2)) == (policy_url, POLICY_NAME)
    # The link works: Synapse serves the policy.
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(policy_url, timeout=10) as policy:
        assert b"Be excellent to each other." in policy.read()
    # Nothing exists yet, and the password waits only encrypted in the server-side session.
    assert is_available(terms_hs, localpart)
    session = await async_client.asession()
    pending = await session.aget(register_page.PENDING_KEY)
    assert pending["username"] == localpart
    assert password not in str(pending)
    assert tokens.decrypt(pending["password"]) == password

    refused = await async_client.post("/register/", {"step": "terms"})
    assert refused.status_code == 400
    assert register_error(refused) == register_page.ACCEPT_ALL
    assert 'id="register-terms-form"' in refused.content.decode()
    assert is_available(terms_hs, localpart)

    accepted = await async_client.post("/register/", {"step": "terms", "accept": "privacy_policy"})
    assert accepted.status_code == 302, register_error(accepted)
    assert accepted["Location"] == "/rooms/"
    await assert_signed_in(async_client, terms_hs, localpart, password)
    # Synapse recorded that the new user agreed to version 1.0.
    admin = terms_hs.register(new_name("admin"), "admin-password", admin=True)
    user = matrix_api(
        terms_hs.url,
        admin.access_token,
        "GET",
        f"/_synapse/admin/v2/users/{quote(f'@{localpart}:localhost')}",
    )
    assert user["consent_version"] == "1.0"


@pytest.mark.django_db(transaction=True)
async def test_terms_cancelled(async_client, terms_hs):
    localpart = new_name("cancel")
    response = await submit(async_client, terms_hs.url, localpart)
    assert response.status_code == 200, register_error(response)
    cancelled = await async_client.post("/register/", {"step": "cancel"})
    assert cancelled.status_code == 302
    assert urlsplit(cancelled["Location"]).path == "/register/"
    await assert_nothing_stored(async_client)
    assert is_available(terms_hs, localpart)
    # Accepting after cancelling finds nothing to go on with.
    late = await async_client.post("/register/", {"step": "terms", "accept": "privacy_policy"})
    assert late.status_code == 400
    assert register_error(late) == register_page.EXPIRED
    assert is_available(terms_hs, localpart)


@pytest.mark.django_db(transaction=True)
async def test_terms_left_too_long(async_client, terms_hs):
    response = await submit(async_client, terms_hs.url, new_name("slow"))
    assert response.status_code == 200, register_error(response)
    session = await async_client.asession()
    pending = await session.aget(register_page.PENDING_KEY)
    pending["expires"] = 0
    await session.aset(register_page.PENDING_KEY, pending)
    await session.asave()
    late = await async_client.post("/register/", {"step": "terms", "accept": "privacy_policy"})
    assert late.status_code == 400
    assert register_error(late) == register_page.EXPIRED
    await assert_nothing_stored(async_client)


# -- stages this client cannot do ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_captcha_is_a_step_this_client_cannot_do(async_client, captcha_hs):
    localpart = new_name("captcha")
    response = await submit(async_client, captcha_hs.url, localpart)
    assert response.status_code == 400
    message = register_error(response)
    assert message.startswith("This homeserver needs a CAPTCHA to create an account")
    assert "this client cannot do that" in message
    assert "another Matrix client" in message
    await assert_nothing_stored(async_client)
    assert is_available(captcha_hs, localpart)
