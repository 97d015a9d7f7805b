"""Signing in and out (webclient/accounts) against a real Synapse.

Every test drives the real views through pytest-django's `async_client` and checks the result
on both sides: what the browser gets (status, redirect, `#login-error`, cookies, session) and
what the homeserver and the database hold afterwards (Credential rows, devices, tokens).
Homeservers that are unreachable, are not Matrix, or publish a discovery file are real local
sockets, never mocks.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from webclient.accounts.current import REASONS, SESSION_KEY

from tests.synapse_fixtures import MatrixAPIError, matrix_api
from webclient.demo.homeserver import LocalSynapse, RegisteredUser
from webclient.matrix import discovery, errors, registry, tokens
from webclient.matrix.auth import DEVICE_NAME
from webclient.matrix.models import Credential

WRONG_CREDENTIALS = "Wrong username or password."
BAD_TOKEN = "The homeserver does not accept this access token."
AUTH_USER_KEY = "_auth_user_id"  # django.contrib.auth's session key
WHOAMI = "/_matrix/client/v3/account/whoami"


# -- helpers ---------------------------------------------------------------------------------


def element_text(html: str, element_id: str) -> str | None:
    """The text of the element with `id`, tags stripped and entities decoded."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', html, re.S)
    if match is None:
        return None
    return " ".join(unescape(re.sub(r"<[^>]+>", "", match.group(2))).split())


def input_value(html: str, form_id: str, name: str) -> str | None:
    form = re.search(rf'<form[^>]*\bid="{re.escape(form_id)}".*?</form>', html, re.S)
    assert form, f"no form #{form_id} in the page"
    tag = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', form.group(0), re.S)
    assert tag, f"no input {name} in form #{form_id}"
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return unescape(value.group(1)) if value else None


def login_error(response) -> str | None:
    return element_text(response.content.decode(), "login-error")


def free_port() -> int:
    """A loopback port nobody listens on (the kernel just handed it out and took it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def tiny_http_server(routes: dict[str, tuple[int, str, str]]) -> Iterator[tuple[str, list[str]]]:
    """A plain `http.server` on a free loopback port, answering GET `path` with
    `(status, content_type, body)` from `routes` and a 404 HTML page for anything else.

    Yields its base URL and the list of paths it was asked for.
    """
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            path = self.path.split("?", 1)[0]
            seen.append(f"{self.command} {path}")
            status, content_type, body = routes.get(
                path, (404, "text/html", "<html><body><h1>Not Found</h1></body></html>")
            )
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer  # noqa: N815 - http.server's naming
        do_POST = _answer  # noqa: N815

        def log_message(self, *args) -> None:  # noqa: ANN002 - silence the stderr log
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def well_known(base_url: object) -> dict[str, tuple[int, str, str]]:
    body = json.dumps({"m.homeserver": {"base_url": base_url}})
    return {"/.well-known/matrix/client": (200, "application/json", body)}


async def password_login(client, homeserver: str, username: str, password: str, **extra):
    data = {"mode": "password", "homeserver": homeserver, "username": username}
    return await client.post("/login/", {**data, "password": password, **extra})


async def token_login(client, homeserver: str, access_token: str, **extra):
    data = {"mode": "token", "homeserver": homeserver, "access_token": access_token}
    return await client.post("/login/", {**data, **extra})


async def signed_in(client, synapse: LocalSynapse, user: RegisteredUser) -> Credential:
    response = await password_login(client, synapse.url, user.localpart, user.password)
    assert response.status_code == 302, login_error(response)
    return await Credential.objects.aget(user_id=user.user_id)


async def session_values(client) -> tuple[object, object]:
    session = await client.asession()
    return await session.aget(SESSION_KEY), await session.aget(AUTH_USER_KEY)


async def assert_nothing_stored(client) -> None:
    """A failed sign-in leaves no Credential, no login in the session, no access to rooms."""
    assert not await Credential.objects.aexists()
    assert await session_values(client) == (None, None)
    response = await client.get("/rooms/")
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/login/"
    assert registry._sessions == {}


def assert_is_login_redirect(location: str, reason: str | None) -> None:
    parts = urlsplit(location)
    assert parts.path == "/login/", location
    assert parse_qs(parts.query).get("reason") == ([reason] if reason else None), location


# -- successful password login ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("username_form", "homeserver_form"),
    [("localpart", "{url}"), ("user_id", "{url}/")],
    ids=["bare-localpart", "full-user-id"],
)
async def test_password_login_stores_encrypted_credential(
    async_client, synapse, make_user, username_form, homeserver_form
):
    """A bare localpart or a full `@user:localhost` ID, each with the homeserver URL (the
    second with a trailing slash, which must not end up in the stored URL), signs in: the
    Credential names the user, the new device and the homeserver, the token is stored only as
    ciphertext that decrypts back, the session is rotated and bound to the Credential, the
    session cookie is HttpOnly and SameSite=Lax, and the token is in no page."""
    user = make_user("login")
    # A session that existed before sign-in must not survive it (session fixation).
    before = await async_client.asession()
    await before.aset("visited", True)
    await before.asave()
    key_before = before.session_key

    username = user.localpart if username_form == "localpart" else user.user_id
    response = await password_login(
        async_client, homeserver_form.format(url=synapse.url), username, user.password
    )
    assert response.status_code == 302, login_error(response)
    assert response["Location"] == "/rooms/"

    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie.value != key_before

    credential = await Credential.objects.select_related("owner").aget()
    assert credential.user_id == user.user_id
    assert credential.homeserver == synapse.url
    assert credential.owns_device is True
    assert credential.device_id and credential.device_id != user.device_id
    token = credential.access_token
    assert token
    assert credential.access_token_encrypted != token
    assert token not in credential.access_token_encrypted
    assert tokens.decrypt(credential.access_token_encrypted) == token
    # The token is a live login of a new device named after this client.
    me = matrix_api(synapse.url, token, "GET", WHOAMI)
    assert (me["user_id"], me["device_id"]) == (user.user_id, credential.device_id)
    device = matrix_api(synapse.url, token, "GET", f"/_matrix/client/v3/devices/{me['device_id']}")
    assert device["display_name"] == DEVICE_NAME

    assert await session_values(async_client) == (credential.pk, str(credential.owner.pk))
    assert credential.owner.username == user.user_id
    assert registry.running(credential.pk) is not None, "no sync loop was started"

    assert token.encode() not in response.content
    rooms = await async_client.get("/rooms/")
    assert rooms.status_code == 200
    assert token.encode() not in rooms.content
    login_page = await async_client.get("/login/", follow=True)
    assert token.encode() not in login_page.content
    assert token not in str(async_client.cookies)


@pytest.mark.django_db(transaction=True)
async def test_empty_homeserver_uses_matrix_homeserver_setting(
    async_client, settings, synapse, make_user
):
    """With MATRIX_HOMESERVER set, a bare localpart and an empty homeserver field sign in."""
    settings.MATRIX_HOMESERVER = synapse.url
    user = make_user("preset")
    response = await password_login(async_client, "", user.localpart, user.password)
    assert response.status_code == 302, login_error(response)
    credential = await Credential.objects.aget()
    assert (credential.user_id, credential.homeserver) == (user.user_id, synapse.url)


# -- failed sign-ins: a clear message, nothing stored -------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_wrong_password(async_client, synapse, make_user):
    user = make_user("wrongpw")
    response = await password_login(
        async_client, synapse.url, user.localpart, "not-the-password", next="/rooms/?x=1"
    )
    assert response.status_code == 400
    assert login_error(response) == WRONG_CREDENTIALS
    html = response.content.decode()
    assert "not-the-password" not in html
    # What was typed (except the password) is kept, so only the password needs retyping.
    assert input_value(html, "login-form", "username") == user.localpart
    assert input_value(html, "login-form", "homeserver") == synapse.url
    assert input_value(html, "login-form", "next") == "/rooms/?x=1"
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
async def test_unknown_user(async_client, synapse):
    """Same words as a wrong password: the form does not reveal which accounts exist."""
    response = await password_login(
        async_client, synapse.url, f"nobody-{uuid.uuid4().hex[:10]}", "whatever"
    )
    assert response.status_code == 400
    assert login_error(response) == WRONG_CREDENTIALS
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
async def test_invalid_access_token(async_client, synapse):
    bogus = "syt_bm90IGEgdG9rZW4_" + uuid.uuid4().hex
    response = await token_login(async_client, synapse.url, bogus)
    assert response.status_code == 400
    assert login_error(response) == BAD_TOKEN
    html = response.content.decode()
    assert bogus not in html
    assert re.search(r'<details class="token-login"\s+open', html), "token form not reopened"
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["password", "token"])
async def test_unreachable_homeserver(async_client, mode):
    url = f"http://127.0.0.1:{free_port()}"
    if mode == "password":
        response = await password_login(async_client, url, "alice", "secret")
    else:
        response = await token_login(async_client, url, "syt_whatever")
    assert response.status_code == 400
    error = login_error(response)
    assert error and error.startswith(f"Could not reach the homeserver at {url}."), error
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "routes",
    [
        {},  # 404 HTML for everything
        {"/_matrix/client/versions": (200, "text/html", "<html>Welcome to my blog</html>")},
        {"/_matrix/client/versions": (200, "application/json", '{"hello": "world"}')},
    ],
    ids=["404-html", "200-html", "json-without-versions"],
)
async def test_not_a_matrix_homeserver(async_client, routes):
    with tiny_http_server(routes) as (url, seen):
        response = await password_login(async_client, url, "alice", "secret")
    assert response.status_code == 400
    assert login_error(response) == f"{url} does not look like a Matrix homeserver."
    assert "GET /_matrix/client/versions" in seen
    assert "POST /_matrix/client/v3/login" not in seen, "sent a password to a non-Matrix server"
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
async def test_no_homeserver_asks_for_one(async_client, settings):
    settings.MATRIX_HOMESERVER = ""
    response = await password_login(async_client, "", "alice", "secret")
    assert response.status_code == 400
    error = login_error(response)
    assert error and "Enter your homeserver" in error and "@you:example.org" in error, error
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
async def test_missing_fields(async_client, synapse):
    response = await password_login(async_client, synapse.url, "alice", "")
    assert response.status_code == 400
    assert login_error(response) == "Fill in every field."
    await assert_nothing_stored(async_client)


# -- rate limiting -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_strict_synapse(tmp_path_factory) -> Iterator[LocalSynapse]:
    """Synapse's default rate limits, on a server of this module's own: the session-wide
    `synapse_strict` has its per-IP login budget (5 attempts, then one per ~330 s) spent by
    tests/integration/test_homeserver.py."""
    hs = LocalSynapse(tmp_path_factory.mktemp("synapse-accounts-strict"), relaxed_rate_limits=False)
    with hs:
        yield hs


@pytest.mark.django_db(transaction=True)
async def test_rate_limited_login_says_when_to_retry(async_client, private_strict_synapse):
    """Repeated wrong passwords hit Synapse's failed-attempts limiter (the 4th for one
    account): the page answers 429 and says how long to wait, and after that wait the right
    password works (so the number is real, not decoration)."""
    hs = private_strict_synapse
    user = hs.register(f"limited-{uuid.uuid4().hex[:10]}", "the-right-password")
    refused = 0
    while (
        response := await password_login(async_client, hs.url, user.localpart, "wrong")
    ).status_code != 429:
        assert response.status_code == 400, login_error(response)
        assert login_error(response) == WRONG_CREDENTIALS
        refused += 1
        assert refused < 5, "five wrong passwords in a row were never rate limited"
    assert refused >= 1, "rate limited before any wrong password was refused"
    error = login_error(response)
    match = re.fullmatch(r"Too many sign-in attempts\. Try again in (\d+) seconds\.", error or "")
    assert match, error
    wait = int(match.group(1))
    assert 1 <= wait <= 60
    await assert_nothing_stored(async_client)

    await asyncio.sleep(wait + 0.5)
    response = await password_login(async_client, hs.url, user.localpart, "the-right-password")
    assert response.status_code == 302, login_error(response)
    assert await Credential.objects.filter(user_id=user.user_id).aexists()


# -- discovery ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_login_through_well_known(async_client, synapse, make_user):
    """A website that is not itself the homeserver but publishes
    `/.well-known/matrix/client` naming it: its URL is a valid homeserver entry, and the
    Credential keeps the real homeserver's URL (where every later request must go)."""
    user = make_user("wellknown")
    with tiny_http_server(well_known(synapse.url + "/")) as (url, seen):
        response = await password_login(async_client, url, user.localpart, user.password)
    assert response.status_code == 302, login_error(response)
    assert "GET /.well-known/matrix/client" in seen
    assert not any(request.startswith("POST") for request in seen)
    credential = await Credential.objects.aget()
    assert credential.homeserver == synapse.url
    assert credential.user_id == user.user_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "base_url",
    ["matrix.example.org", 42, None, ""],
    ids=["no-scheme", "number", "null", "empty"],
)
async def test_broken_well_known(async_client, base_url):
    with tiny_http_server(well_known(base_url)) as (url, _seen):
        response = await password_login(async_client, url, "alice", "secret")
    assert response.status_code == 400
    assert login_error(response) == f"{url} publishes a broken Matrix discovery file."
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
async def test_well_known_pointing_nowhere(async_client):
    """The discovery file is fine but names a homeserver that does not answer: the error
    names that homeserver, not the site the user typed (which did answer)."""
    dead = f"http://127.0.0.1:{free_port()}"
    with tiny_http_server(well_known(dead)) as (url, _seen):
        response = await password_login(async_client, url, "alice", "secret")
    assert response.status_code == 400
    error = login_error(response)
    assert error and error.startswith(f"Could not reach the homeserver at {dead}."), error
    await assert_nothing_stored(async_client)


@pytest.mark.django_db(transaction=True)
async def test_well_known_pointing_to_non_matrix(async_client):
    with tiny_http_server({}) as (other, _), tiny_http_server(well_known(other)) as (url, _):
        response = await password_login(async_client, url, "alice", "secret")
    assert response.status_code == 400
    assert login_error(response) == f"{other} does not look like a Matrix homeserver."
    await assert_nothing_stored(async_client)


async def test_resolve_homeserver_units(settings, synapse):
    """`discovery.resolve_homeserver` on its own: normalising, the setting as fallback, and
    the errors for entries that cannot be a homeserver."""
    assert await discovery.resolve_homeserver(f"  {synapse.url}/  ") == synapse.url
    settings.MATRIX_HOMESERVER = synapse.url
    assert await discovery.resolve_homeserver("", "alice") == synapse.url
    settings.MATRIX_HOMESERVER = ""
    with pytest.raises(errors.MatrixError) as info:
        await discovery.resolve_homeserver("   ", "alice")
    assert info.value.errcode == "W_NO_HOMESERVER"
    for bad in ["ftp://example.org", "http://", "not a server!", "exa mple.org"]:
        with pytest.raises(errors.MatrixError) as info:
            await discovery.resolve_homeserver(bad)
        assert info.value.errcode == "W_BAD_URL", bad
        assert "is not a valid homeserver address" in info.value.message
    assert discovery.server_name_of("@alice:example.org:8448") == "example.org:8448"
    assert discovery.server_name_of("alice") is None


# -- access-token login ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_access_token_login_and_logout_keeps_token(async_client, synapse, make_user):
    """A pasted access token signs in as whoever `/whoami` says owns it, and signing out only
    forgets it.

    Such a token belongs to someone's automation device (an n8n or Windmill bot, a monitoring
    account): the person shares it to *look* at that account, and revoking it on sign-out
    would silently break the automation. So the Credential is marked `owns_device=False`, and
    after logout the token must still work on the homeserver.
    """
    user = make_user("bot")
    automation = synapse.login(user.user_id, user.password)
    response = await token_login(async_client, synapse.url, f" {automation.access_token} ")
    assert response.status_code == 302, login_error(response)
    assert response["Location"] == "/rooms/"

    credential = await Credential.objects.aget()
    assert credential.owns_device is False
    assert (credential.user_id, credential.device_id) == (user.user_id, automation.device_id)
    assert credential.access_token == automation.access_token
    assert automation.access_token not in credential.access_token_encrypted
    assert (await session_values(async_client))[0] == credential.pk
    rooms = await async_client.get("/rooms/")
    assert rooms.status_code == 200
    assert automation.access_token.encode() not in rooms.content

    response = await async_client.post("/logout/")
    assert response.status_code == 302
    assert_is_login_redirect(response["Location"], "signed_out")
    assert not await Credential.objects.aexists()
    assert await session_values(async_client) == (None, None)
    me = matrix_api(synapse.url, automation.access_token, "GET", WHOAMI)
    assert (me["user_id"], me["device_id"]) == (user.user_id, automation.device_id)


# -- logout ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_logout_deletes_device_and_session(async_client, synapse, make_user):
    user = make_user("logout")
    credential = await signed_in(async_client, synapse, user)
    token = credential.access_token
    assert (await async_client.get("/rooms/")).status_code == 200

    # A cross-site <img src="/logout/"> cannot sign anyone out.
    assert (await async_client.get("/logout/")).status_code == 405
    assert await Credential.objects.filter(pk=credential.pk).aexists()

    response = await async_client.post("/logout/")
    assert response.status_code == 302
    assert_is_login_redirect(response["Location"], "signed_out")

    with pytest.raises(MatrixAPIError) as info:
        matrix_api(synapse.url, token, "GET", WHOAMI)
    assert (info.value.status, info.value.errcode) == (401, "M_UNKNOWN_TOKEN")
    devices = matrix_api(synapse.url, user.access_token, "GET", "/_matrix/client/v3/devices")
    assert credential.device_id not in {d["device_id"] for d in devices["devices"]}

    assert not await Credential.objects.aexists()
    assert await session_values(async_client) == (None, None)
    assert registry.running(credential.pk) is None

    page = await async_client.get(response["Location"])
    assert page.status_code == 200
    assert element_text(page.content.decode(), "login-notice") == REASONS["signed_out"]

    rooms = await async_client.get("/rooms/")
    assert rooms.status_code == 302
    # A plain sign-in prompt: this was a sign-out, not a revoked token.
    assert_is_login_redirect(rooms["Location"], None)


# -- token revoked elsewhere -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_token_revoked_elsewhere_ends_session(async_client, settings, synapse, make_user):
    """Someone removes this client's device from another client (or an admin revokes it):
    the sync loop sees M_UNKNOWN_TOKEN, deletes the Credential, and the next page view sends
    the browser to sign in with the revocation notice."""
    # The loop must outlive the wait below; idling out is not what is tested here.
    settings.MATRIX_SESSION_IDLE_SECONDS = 120
    user = make_user("revoked")
    credential = await signed_in(async_client, synapse, user)
    assert (await async_client.get("/rooms/")).status_code == 200
    assert registry.running(credential.pk) is not None

    await asyncio.to_thread(
        matrix_api, synapse.url, credential.access_token, "POST", "/_matrix/client/v3/logout", {}
    )

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20  # one long-poll (5 s in tests) plus slack
    while await Credential.objects.filter(pk=credential.pk).aexists():
        assert loop.time() < deadline, "the sync loop did not notice the revoked token"
        await asyncio.sleep(0.1)
    assert registry.running(credential.pk) is None

    response = await async_client.get("/rooms/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?reason=revoked")
    assert_is_login_redirect(response["Location"], "revoked")
    assert await session_values(async_client) == (None, None)

    page = await async_client.get(response["Location"])
    assert page.status_code == 200
    notice = element_text(page.content.decode(), "login-notice")
    assert notice == REASONS["revoked"]
    assert "revoked" in notice


# -- redirects ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/rooms/?from=login", "/rooms/?from=login"),
        ("https://evil.example/", "/rooms/"),
        ("//evil.example/", "/rooms/"),
        ("javascript:alert(1)", "/rooms/"),
    ],
    ids=["relative", "absolute-other-site", "scheme-relative", "javascript"],
)
async def test_next_parameter(async_client, synapse, make_user, next_url, expected):
    user = make_user("next")
    response = await password_login(
        async_client, synapse.url, user.localpart, user.password, next=next_url
    )
    assert response.status_code == 302, login_error(response)
    assert response["Location"] == expected


@pytest.mark.django_db(transaction=True)
async def test_login_page_redirects_when_signed_in(async_client, synapse, make_user):
    await signed_in(async_client, synapse, make_user("again"))
    response = await async_client.get("/login/")
    assert response.status_code == 302
    assert response["Location"] == "/rooms/"
    response = await async_client.get("/login/", {"next": "https://evil.example/"})
    assert response["Location"] == "/rooms/"


@pytest.mark.django_db(transaction=True)
async def test_matrix_homeserver_setting_prefills_form(async_client, settings):
    settings.MATRIX_HOMESERVER = "https://matrix.example.org"
    response = await async_client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert input_value(html, "login-form", "homeserver") == "https://matrix.example.org"
    assert input_value(html, "token-login-form", "homeserver") == "https://matrix.example.org"
    assert element_text(html, "login-error") is None
    assert element_text(html, "login-notice") is None

    settings.MATRIX_HOMESERVER = ""
    html = (await async_client.get("/login/")).content.decode()
    assert input_value(html, "login-form", "homeserver") == ""


@pytest.mark.django_db(transaction=True)
async def test_login_page_notice_only_from_known_reasons(async_client):
    """`?reason=` picks one of the client's own sentences; free text is never echoed."""
    response = await async_client.get("/login/", {"reason": "<b>Your bank called</b>"})
    html = response.content.decode()
    assert element_text(html, "login-notice") is None
    assert "Your bank called" not in html


@pytest.mark.django_db(transaction=True)
async def test_signing_in_again_replaces_the_earlier_login(async_client, synapse, make_user):
    """A login form left open in another tab, submitted while signed in, must not leave the
    first device alive on the homeserver or its credential in our database."""
    from webclient.matrix.models import Credential

    user = make_user("again")
    form = {
        "mode": "password",
        "homeserver": synapse.url,
        "username": user.localpart,
        "password": user.password,
    }
    assert (await async_client.post("/login/", form)).status_code == 302
    first = await Credential.objects.aget(user_id=user.user_id)
    first_token = first.access_token
    assert (await async_client.post("/login/", form)).status_code == 302
    remaining = [c async for c in Credential.objects.filter(user_id=user.user_id)]
    assert len(remaining) == 1 and remaining[0].pk != first.pk
    with pytest.raises(MatrixAPIError) as excinfo:
        matrix_api(synapse.url, first_token, "GET", "/_matrix/client/v3/account/whoami")
    assert excinfo.value.errcode == "M_UNKNOWN_TOKEN"
