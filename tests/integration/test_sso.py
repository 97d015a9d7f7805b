"""Single sign-on end to end: the client (daphne), a Synapse configured with a real OpenID
Connect provider (tests/oidc_provider.py), and a cookie-keeping HTTP client that follows every
redirect across the three like a browser (the Django test client cannot leave the app)."""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy

import pytest

from tests.oidc_provider import SSOStack, sign_in_form, sso_stack
from webclient.demo.homeserver import matrix_request


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[SSOStack]:
    with sso_stack(tmp_path_factory.mktemp("sso")) as running:
        yield running


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


@dataclass
class Page:
    status: int
    url: str
    body: str


@dataclass
class Browserish:
    """urllib with a cookie jar; redirects are followed by hand so each hop is recorded.

    Synapse's OIDC session cookie is `Secure`; browsers keep Secure cookies for loopback
    http, the standard library only for https unless told."""

    jar: CookieJar = field(
        default_factory=lambda: CookieJar(DefaultCookiePolicy(secure_protocols=("https", "http")))
    )
    visited: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.jar),
            _NoRedirect,
        )

    def _open(self, url: str, data: dict[str, str] | None) -> tuple[int, str | None, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        self.visited.append(url)
        try:
            response = self.opener.open(urllib.request.Request(url, data=body), timeout=30)
        except urllib.error.HTTPError as exc:
            response = exc
        with response:
            return response.status, response.headers.get("Location"), response.read().decode()

    def go(self, url: str, data: dict[str, str] | None = None) -> Page:
        """Request `url` and follow redirects to the page that is finally shown."""
        for _ in range(20):
            status, location, body = self._open(url, data)
            if status not in {301, 302, 303, 307} or not location:
                return Page(status, url, body)
            url, data = urllib.parse.urljoin(url, location), None
        raise AssertionError(f"redirect loop: {self.visited[-20:]}")


def new_user(stack: SSOStack) -> tuple[str, str]:
    username = f"sso-{uuid.uuid4().hex[:8]}"
    stack.idp.add_user(username, f"pw-{username}", name=f"SSO {username}")
    return username, f"pw-{username}"


def start(client: Browserish, stack: SSOStack, **params: str) -> Page:
    query = urllib.parse.urlencode({"idp": stack.idp_id, **params})
    return client.go(f"{stack.webclient.url}/login/sso/start/?{query}")


def to_confirmation(client: Browserish, stack: SSOStack, username: str, **params: str) -> str:
    """Start on the client, sign in at the provider, and return the callback URL with the
    login token that Synapse's "Continue to your account" page links to."""
    page = start(client, stack, **params)
    assert page.url.startswith(stack.idp.issuer + "authorize?"), page.url
    page = client.go(
        stack.idp.issuer + "authorize",
        {"request_id": sign_in_form(page.body), "username": username, "password": f"pw-{username}"},
    )
    assert page.url.startswith(stack.synapse.url + "/_synapse/client/oidc/callback"), page.url
    assert "Continue to your account" in page.body, page.body[:2000]
    links = [html.unescape(h) for h in re.findall(r'href="([^"]*loginToken=[^"]*)"', page.body)]
    assert len(links) == 1, links
    return links[0]


def flash_errors(page: Page) -> list[str]:
    return [
        html.unescape(m).strip()
        for m in re.findall(r'<li class="flash-error">(.*?)</li>', page.body, re.S)
    ]


def whoami(page: Page) -> str | None:
    match = re.search(r'<span class="whoami"[^>]*>([^<]*)</span>', page.body)
    return html.unescape(match.group(1)) if match else None


def assert_signed_out(client: Browserish, stack: SSOStack) -> None:
    page = client.go(f"{stack.webclient.url}/rooms/")
    assert urllib.parse.urlsplit(page.url).path == "/login/", page.url
    assert whoami(page) is None


def device_names(stack: SSOStack, user_id: str) -> list[str]:
    admin = stack.synapse.register(f"admin-{uuid.uuid4().hex[:8]}", "pw-admin", admin=True)
    path = f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id)}/devices"
    devices = matrix_request(stack.synapse.url, "GET", path, token=admin.access_token)["devices"]
    return sorted(d.get("display_name") or "" for d in devices)


def test_login_page_offers_the_identity_provider(stack):
    page = Browserish().go(f"{stack.webclient.url}/login/")
    assert page.status == 200
    buttons = re.findall(
        r'<a class="button sso-button" href="([^"]*)" data-idp="([^"]*)"', page.body
    )
    assert len(buttons) == 1, buttons
    href, idp = buttons[0]
    assert idp == "oidc-test"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(html.unescape(href)).query)
    assert query == {"homeserver": [stack.synapse.url], "idp": ["oidc-test"]}
    assert "Continue with Test IdP" in page.body
    # The password form is still there.
    assert 'id="login-form"' in page.body


def test_typed_homeserver_shows_its_providers(stack):
    page = Browserish().go(
        f"{stack.webclient.url}/login/?"
        + urllib.parse.urlencode(
            {"sso_homeserver": stack.synapse.url, "next": "/settings/profile/"}
        )
    )
    hrefs = [
        html.unescape(h) for h in re.findall(r'class="button sso-button" href="([^"]*)"', page.body)
    ]
    assert len(hrefs) == 1
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(hrefs[0]).query)
    assert query["next"] == ["/settings/profile/"] and query["idp"] == ["oidc-test"]


def test_sso_dance_signs_in(stack):
    username, _ = new_user(stack)
    client = Browserish()
    callback = to_confirmation(client, stack, username)

    # Synapse was asked to send the token to our fixed callback, and did.
    redirect = next(u for u in client.visited if "/login/sso/redirect/oidc-test?" in u)
    redirect_url = urllib.parse.parse_qs(urllib.parse.urlsplit(redirect).query)["redirectUrl"][0]
    assert re.fullmatch(
        re.escape(stack.webclient.url + "/login/sso/callback/?state=") + r"[A-Za-z0-9_-]{40,}",
        redirect_url,
    ), redirect_url
    assert callback.startswith(redirect_url + "&loginToken=")

    page = client.go(callback)
    assert page.status == 200
    assert urllib.parse.urlsplit(page.url).path == "/rooms/"
    user_id = f"@{username}:localhost"
    assert whoami(page) == user_id
    assert [e for e, _ in stack.idp.events[-3:]] == ["authorize", "sign_in", "token"]
    assert "webclient (browser)" in device_names(stack, user_id)

    # The device is ours: signing out deletes it on the homeserver.
    login_page = client.go(f"{stack.webclient.url}/login/")
    assert whoami(login_page) == user_id
    csrf = next(c.value for c in client.jar if c.name == "csrftoken")
    client.go(f"{stack.webclient.url}/logout/", {"csrfmiddlewaretoken": csrf})
    assert_signed_out(client, stack)
    assert "webclient (browser)" not in device_names(stack, user_id)


def test_replayed_callback_is_refused(stack):
    username, _ = new_user(stack)
    client = Browserish()
    callback = to_confirmation(client, stack, username)
    assert whoami(client.go(callback)) == f"@{username}:localhost"

    # Another browser (no state in its session) gets nothing from the link.
    other = Browserish()
    page = other.go(callback)
    assert urllib.parse.urlsplit(page.url).path == "/login/"
    assert any(
        "does not belong to a sign-in started in this browser" in e for e in flash_errors(page)
    )
    assert_signed_out(other, stack)

    # The same browser, signed out, cannot use it again either: the state was single use.
    csrf = next(c.value for c in client.jar if c.name == "csrftoken")
    client.go(f"{stack.webclient.url}/logout/", {"csrfmiddlewaretoken": csrf})
    page = client.go(callback)
    assert any("already used" in e for e in flash_errors(page)), page.body[:3000]
    assert_signed_out(client, stack)


def test_forged_state_is_refused(stack):
    """Login CSRF: an attacker's own callback link (their state, their login token) does not
    sign the victim in, even while the victim has a sign-in of their own under way."""
    attacker_name, _ = new_user(stack)
    attacker = Browserish()
    attacker_link = to_confirmation(attacker, stack, attacker_name)

    victim = Browserish()
    page = start(victim, stack)  # the victim's own pending state
    assert page.url.startswith(stack.idp.issuer)
    page = victim.go(attacker_link)
    assert urllib.parse.urlsplit(page.url).path == "/login/"
    assert flash_errors(page), page.body[:3000]
    assert_signed_out(victim, stack)

    token = urllib.parse.parse_qs(urllib.parse.urlsplit(attacker_link).query)["loginToken"][0]
    for state in ["", "forged", "A" * 43]:
        page = victim.go(
            f"{stack.webclient.url}/login/sso/callback/?"
            + urllib.parse.urlencode({"state": state, "loginToken": token})
        )
        assert flash_errors(page)
        assert_signed_out(victim, stack)

    # The refused link never reached the homeserver: the attacker can still use it.
    assert whoami(attacker.go(attacker_link)) == f"@{attacker_name}:localhost"


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("https://evil.example/", "/rooms/"),
        ("//evil.example/", "/rooms/"),
        ("/settings/profile/", "/settings/profile/"),
    ],
)
def test_next_never_leaves_the_site(stack, next_url, landing):
    username, _ = new_user(stack)
    client = Browserish()
    callback = to_confirmation(client, stack, username, next=next_url)
    assert "evil" not in callback
    page = client.go(callback)
    assert page.url == stack.webclient.url + landing
    assert whoami(page) == f"@{username}:localhost"


def test_made_up_login_token_is_refused(stack):
    client = Browserish()
    page = start(client, stack)
    redirect = next(u for u in client.visited if "/login/sso/redirect/" in u)
    callback = urllib.parse.parse_qs(urllib.parse.urlsplit(redirect).query)["redirectUrl"][0]
    page = client.go(callback + "&" + urllib.parse.urlencode({"loginToken": "syl_madeup"}))
    assert urllib.parse.urlsplit(page.url).path == "/login/"
    errors = flash_errors(page)
    assert errors == [
        "The homeserver did not accept the single sign-on result (it may have expired or been "
        "used already). Sign in again."
    ], errors
    assert_signed_out(client, stack)


def test_start_refuses_unknown_provider_and_non_sso_homeserver(stack, synapse):
    client = Browserish()
    page = start(client, stack, idp="oidc-nope")
    assert urllib.parse.urlsplit(page.url).path == "/login/"
    assert any("does not offer that identity provider" in e for e in flash_errors(page))

    page = start(client, stack, homeserver=synapse.url)  # the suite's Synapse: passwords only
    assert any("does not offer single sign-on" in e for e in flash_errors(page))
    assert not any(stack.synapse.url in u for u in client.visited)


def test_a_start_link_from_another_site_asks_first(stack):
    """A crafted link on another site must not bounce visitors through us to the server it
    names: the browser says where the navigation came from, and we ask first."""
    client = Browserish()
    query = urllib.parse.urlencode({"idp": stack.idp_id})
    url = f"{stack.webclient.url}/login/sso/start/?{query}"
    request = urllib.request.Request(url, headers={"Sec-Fetch-Site": "cross-site"})
    with client.opener.open(request, timeout=30) as response:
        assert response.status == 200  # no redirect to the homeserver
        body = response.read().decode()
    assert 'id="sso-confirm"' in body and stack.synapse.url in body
    continue_href = html.unescape(re.search(r'id="sso-continue" href="([^"]+)"', body).group(1))
    assert continue_href.startswith("/login/sso/start/")  # on our own site, nowhere else
    # From our own page the same start goes on to the homeserver.
    request = urllib.request.Request(
        urllib.parse.urljoin(url, continue_href), headers={"Sec-Fetch-Site": "same-origin"}
    )
    try:
        client.opener.open(request, timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        assert exc.headers["Location"].startswith(
            stack.synapse.url + "/_matrix/client/v3/login/sso/redirect"
        )
    else:
        raise AssertionError("expected a redirect to the homeserver")
