"""`/embed/<room>/` in real Chromium, framed by "intranet" pages.

The intranet pages come from small HTTP servers on 127.0.0.1 (other ports, other origins);
the client is reached as http://localhost:<port>, so the intranet and the client are
different *sites*, as an intranet portal and a chat server usually are. Each intranet page
records the `message` events it gets (postMessage from the embed).
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse
from urllib.request import urlopen

import pytest
from playwright.sync_api import Frame, Page, expect

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.browser.helpers import (
    create_room,
    login_with_password,
    q,
    send_text,
    shared_room,
    wait_for_message,
    wait_live,
)
from tests.server import start_webclient, stop_webclient
from webclient.demo.homeserver import LocalSynapse, RegisteredUser

GUEST_STATE = [
    {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "can_join"}},
    {
        "type": "m.room.history_visibility",
        "state_key": "",
        "content": {"history_visibility": "shared"},
    },
]

# The intranet page: the recorder is installed before the iframe loads, so it sees the
# embed's first message. `spacer` pushes the iframe below the fold; `after` makes the page
# scrollable past it.
INTRANET_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Intranet</title>
<script>
window.__messages = [];
window.addEventListener("message", function (e) {{
  window.__messages.push({{origin: e.origin, data: e.data}});
}});
</script></head>
<body style="margin:0">
<h1>Intranet portal</h1>
<div id="spacer" style="height:{spacer}px"></div>
<iframe id="embed" src="{src}" width="{width}" height="{height}" style="border:0"
        title="Chat"></iframe>
<div id="after" style="height:{after}px"></div>
</body></html>
"""


class _IntranetHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        query = parse_qs(urlparse(self.path).query)

        def arg(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        if "paste" in query:
            # The snippet pasted as it is into a page of the intranet.
            page = f'<!doctype html><meta charset="utf-8"><title>Pasted</title>{arg("paste", "")}'
            return self._send(page.encode())
        body = INTRANET_PAGE.format(
            src=html.escape(arg("src", "about:blank")),
            width=int(arg("w", "400")),
            height=int(arg("h", "600")),
            spacer=int(arg("spacer", "0")),
            after=int(arg("after", "0")),
        ).encode()
        self._send(body)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Intranet:
    """An intranet site on its own 127.0.0.1 port: `page_url(src)` frames `src`."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _IntranetHandler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def page_url(self, src: str, **options: int) -> str:
        return f"{self.origin}/?" + urlencode({"src": src, **options})

    def pasted_url(self, snippet: str) -> str:
        return f"{self.origin}/?" + urlencode({"paste": snippet})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def intranet() -> Iterator[Intranet]:
    """The intranet whose origin EMBED_ALLOWED_ORIGINS lists."""
    site = Intranet()
    yield site
    site.close()


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Intranet]:
    """Another origin (same host, another port): not listed."""
    site = Intranet()
    yield site
    site.close()


@pytest.fixture(scope="module")
def second_listed() -> Iterator[Intranet]:
    """A second listed origin, so "one post per configured origin" is observable."""
    site = Intranet()
    yield site
    site.close()


@dataclass
class Client:
    """A webclient server reached as http://localhost:<port> (another site than 127.0.0.1)."""

    url: str
    server: object

    def embed(self, room_id: str, composer: bool = False) -> str:
        return f"{self.url}/embed/{q(room_id)}/" + ("?composer=1" if composer else "")


def _start(tmp_path_factory, synapse: LocalSynapse, name: str, **env: str) -> Iterator[Client]:
    server = start_webclient(tmp_path_factory.mktemp(name), synapse.url, **env)
    port = server.url.rsplit(":", 1)[1]
    yield Client(f"http://localhost:{port}", server)
    stop_webclient(server)


@pytest.fixture(scope="module")
def client(tmp_path_factory, synapse, intranet, second_listed) -> Iterator[Client]:
    """No display account, guests allowed, no cross-site cookie."""
    yield from _start(
        tmp_path_factory,
        synapse,
        "embed-plain",
        EMBED_ALLOWED_ORIGINS=f"{intranet.origin},{second_listed.origin}",
    )


@pytest.fixture(scope="module")
def display_user(synapse) -> RegisteredUser:
    localpart = f"display-{time.monotonic_ns() % 10**10}"
    return synapse.register(localpart, f"pw-{localpart}")


@pytest.fixture(scope="module")
def display_client(tmp_path_factory, synapse, intranet, display_user) -> Iterator[Client]:
    yield from _start(
        tmp_path_factory,
        synapse,
        "embed-display",
        EMBED_ALLOWED_ORIGINS=intranet.origin,
        EMBED_DISPLAY_ACCESS_TOKEN=display_user.access_token,
        EMBED_GUEST_ACCESS="false",
    )


@pytest.fixture(scope="module")
def cookie_client(tmp_path_factory, synapse, intranet) -> Iterator[Client]:
    yield from _start(
        tmp_path_factory,
        synapse,
        "embed-cookie",
        EMBED_ALLOWED_ORIGINS=intranet.origin,
        EMBED_CROSS_SITE_COOKIE="true",
        EMBED_GUEST_ACCESS="false",
    )


# -- helpers ---------------------------------------------------------------------------------


def embed_frame(page: Page) -> Frame:
    frame = page.locator("#embed").element_handle().content_frame()
    assert frame is not None
    return frame


def wait_frame_loaded(page: Page) -> Frame:
    """The iframe's document, once its load event has fired (error pages included)."""
    page.wait_for_load_state("load")
    frame = embed_frame(page)
    frame.wait_for_load_state("load")
    return frame


def refused(page: Page) -> None:
    """The iframe shows Chromium's own error page, not the client: nothing of ours in it."""
    frame = wait_frame_loaded(page)
    # Give a wrongly allowed page time to render its timeline before looking.
    page.wait_for_timeout(500)
    assert not frame.url.startswith("http://localhost"), frame.url
    frames = page.frame_locator("#embed")
    expect(frames.locator("#timeline")).to_have_count(0)
    expect(frames.locator("#room")).to_have_count(0)
    expect(frames.locator("#login-form")).to_have_count(0)


def messages(page: Page) -> list[dict]:
    return page.evaluate("window.__messages")


def wait_message(page: Page, predicate, since: int = 0, timeout: float = 15.0) -> dict:
    """The first message (from the `since`-th on) that matches."""
    deadline = time.monotonic() + timeout
    while True:
        for message in messages(page)[since:]:
            if predicate(message):
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no matching message; got {messages(page)}")
        page.wait_for_timeout(100)


def guest_room(synapse: LocalSynapse, creator: RegisteredUser, name: str) -> str:
    return create_room(synapse, creator, preset="public_chat", name=name, initial_state=GUEST_STATE)


@pytest.fixture
def anon(browser) -> Iterator[Page]:
    """A fresh browser context with no login anywhere."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


# -- a. framing ------------------------------------------------------------------------------


def test_listed_origin_shows_the_room_live_and_others_are_refused(
    anon, client, intranet, elsewhere, synapse, make_user
):
    page = anon
    bob = make_user("bob", displayname="Bob")
    room_id = guest_room(synapse, bob, "Lobby news")
    send_text(synapse, bob, room_id, "Before anyone looked")

    refusals: list[str] = []
    page.on("console", lambda m: refusals.append(m.text) if "frame" in m.text else None)

    page.goto(intranet.page_url(client.embed(room_id)))
    frame = page.frame_locator("#embed")
    expect(frame.locator("#room-name")).to_have_text("Lobby news")
    expect(frame.locator("#timeline")).to_contain_text("Before anyone looked")
    wait_live(frame)
    send_text(synapse, bob, room_id, "Fresh from the other client")
    expect(frame.locator("#timeline")).to_contain_text("Fresh from the other client")

    # The response carries the listed origin and nothing else, and no X-Frame-Options.
    with urlopen(client.embed(room_id)) as response:
        csp = response.headers["Content-Security-Policy"]
        assert f"frame-ancestors {intranet.origin}" in csp
        assert response.headers["X-Frame-Options"] is None

    # Another origin (same host, another port) gets Chromium's error page.
    page.goto(elsewhere.page_url(client.embed(room_id)))
    refused(page)
    assert any("frame-ancestors" in text for text in refusals), refusals

    # The normal room page cannot be framed even by the listed origin (nor its login page).
    room_page = f"{client.url}/rooms/{q(room_id)}/"
    login_with_password(page, client.url, synapse, bob)
    response = page.request.get(room_page, max_redirects=0)
    assert response.status == 200 and 'id="timeline"' in response.text()
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    page.goto(intranet.page_url(room_page))
    refused(page)
    page.goto(intranet.page_url(f"{client.url}/login/"))
    refused(page)


# -- b. display account ----------------------------------------------------------------------


def test_display_account_reads_for_anonymous_viewers_without_composer(
    anon, display_client, intranet, display_user, synapse, make_user
):
    page = anon
    carol = make_user("carol", displayname="Carol")
    room_id = shared_room(synapse, carol, display_user, name="Team board")
    send_text(synapse, carol, room_id, "Standup at ten")

    page.goto(intranet.page_url(display_client.embed(room_id, composer=True)))
    frame = page.frame_locator("#embed")
    expect(frame.locator("#room-name")).to_have_text("Team board")
    expect(frame.locator("#timeline")).to_contain_text("Standup at ten")
    reader = frame.locator("#embed-reader")
    expect(reader).not_to_contain_text("as ")
    expect(reader).not_to_contain_text(display_user.user_id)
    expect(frame.locator("#room")).to_have_attribute("data-mode", "display")
    # ?composer=1 is ignored for a shared account.
    expect(frame.locator("#composer")).to_have_count(0)
    expect(frame.locator("textarea")).to_have_count(0)
    wait_live(frame)
    send_text(synapse, carol, room_id, "Moved to eleven")
    expect(frame.locator("#timeline")).to_contain_text("Moved to eleven")

    # A room the display account is not in, with no guests: unavailable.
    private = create_room(synapse, carol, name="Payroll")
    page.goto(intranet.page_url(display_client.embed(private)))
    expect(page.frame_locator("#embed").locator("#embed-unavailable")).to_be_visible()


# -- c. guests -------------------------------------------------------------------------------


def test_guest_reads_a_guest_room_and_a_private_room_is_unavailable(
    anon, client, intranet, synapse, make_user
):
    page = anon
    dave = make_user("dave")
    room_id = guest_room(synapse, dave, "Open house")
    send_text(synapse, dave, room_id, "Everyone welcome")

    page.goto(intranet.page_url(client.embed(room_id, composer=True)))
    frame = page.frame_locator("#embed")
    expect(frame.locator("#timeline")).to_contain_text("Everyone welcome")
    expect(frame.locator("#room")).to_have_attribute("data-mode", "guest")
    expect(frame.locator("#embed-reader")).to_have_text("guest view")
    expect(frame.locator("#composer")).to_have_count(0)

    private = create_room(synapse, dave, name="Secret plans")
    send_text(synapse, dave, private, "Nobody else reads this")
    page.goto(intranet.page_url(client.embed(private)))
    frame = page.frame_locator("#embed")
    expect(frame.locator("#embed-unavailable")).to_be_visible()
    expect(frame.locator("body")).not_to_contain_text("Nobody else reads this")
    expect(frame.locator("body")).not_to_contain_text("Secret plans")


# -- d. the viewer's own login, cross-site ---------------------------------------------------


def test_lax_cookie_does_not_reach_a_cross_site_frame(anon, client, intranet, synapse, make_user):
    page = anon
    erin, frank = make_user("erin"), make_user("frank")
    room_id = shared_room(synapse, frank, erin, name="Erin and Frank")
    send_text(synapse, frank, room_id, "Just between us")
    login_with_password(page, client.url, synapse, erin)

    # Same site (top level at localhost): the embed reads as Erin.
    page.goto(client.embed(room_id))
    expect(page.locator("#embed-reader")).to_have_text(f"as {erin.user_id}")

    # Cross-site frame: the SameSite=Lax session cookie is not sent; no display account, no
    # guests for this private room, so the frame says it is unavailable.
    page.goto(intranet.page_url(client.embed(room_id)))
    frame = page.frame_locator("#embed")
    expect(frame.locator("#embed-unavailable")).to_be_visible()
    expect(frame.locator("body")).not_to_contain_text("Just between us")
    names = {c["name"] for c in page.context.cookies(client.url)}
    assert "webclient_embed" not in names, names


# What Google Chrome does in a normal window: `profile.cookie_controls_mode` 2 ("block
# third-party cookies in Incognito only"). Measured here: this Debian Chromium build's fresh
# profile has 1 ("block third-party cookies"), and Playwright's `browser.new_context()` is an
# off-the-record profile; in either, the cross-site iframe is sent no cookie at all (DevTools
# gives the reason "UserPreferences"). With 2 in a regular profile it is sent.
CHROME_DEFAULT_PREFERENCES = {"profile": {"cookie_controls_mode": 2}}


@pytest.fixture
def chrome_default_page(browser, tmp_path) -> Iterator[Page]:
    """A page in a regular (persistent) profile with Google Chrome's default cookie controls."""
    profile = tmp_path / "chrome-profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps(CHROME_DEFAULT_PREFERENCES))
    context = browser.browser_type.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def test_cross_site_cookie_gives_the_viewer_their_own_login(
    chrome_default_page, anon, cookie_client, intranet, synapse, make_user
):
    page = chrome_default_page
    gina, hal = make_user("gina"), make_user("hal")
    room_id = shared_room(synapse, hal, gina, name="Gina and Hal")
    send_text(synapse, hal, room_id, "Hello Gina")
    login_with_password(page, cookie_client.url, synapse, gina)

    cookies = {c["name"]: c for c in page.context.cookies(f"{cookie_client.url}/embed/x/")}
    embed_cookie = cookies["webclient_embed"]
    assert embed_cookie["sameSite"] == "None"
    assert embed_cookie["secure"] is True
    assert embed_cookie["httpOnly"] is True
    assert embed_cookie["path"] == "/embed/"
    assert cookies["sessionid"]["sameSite"] == "Lax"

    page.goto(intranet.page_url(cookie_client.embed(room_id, composer=True)))
    frame = page.frame_locator("#embed")
    expect(frame.locator("#embed-reader")).to_have_text(f"as {gina.user_id}")
    expect(frame.locator("#timeline")).to_contain_text("Hello Gina")
    wait_live(frame)
    box = frame.locator("#composer textarea[name=body]")
    box.fill("Sent from the intranet")
    box.press("Enter")
    wait_for_message(
        synapse,
        hal,
        room_id,
        lambda e: (
            e["sender"] == gina.user_id and e["content"].get("body") == "Sent from the intranet"
        ),
    )
    expect(frame.locator("#timeline")).to_contain_text("Sent from the intranet")

    # Without ?composer=1: reading as Gina, no composer.
    page.goto(intranet.page_url(cookie_client.embed(room_id)))
    frame = page.frame_locator("#embed")
    expect(frame.locator("#embed-reader")).to_have_text(f"as {gina.user_id}")
    expect(frame.locator("#composer")).to_have_count(0)

    # Signing out ends the login the cross-site copy named: the frame no longer reads as Gina.
    # (The copy itself may outlive it: the socket's "logout" can navigate the tab to the login
    # page before the logout response, and its cookie changes, arrive.)
    page.goto(f"{cookie_client.url}/rooms/")
    page.locator("#logout-button").click()
    page.wait_for_url(f"{cookie_client.url}/login/**")
    page.goto(intranet.page_url(cookie_client.embed(room_id)))
    expect(page.frame_locator("#embed").locator("#embed-unavailable")).to_be_visible()

    # Where third-party cookies are blocked (Incognito, Safari, Firefox without a storage
    # access grant, unbranded Chromium), the same setup falls back like a stranger's browser.
    login_with_password(anon, cookie_client.url, synapse, gina)
    copies = anon.context.cookies(f"{cookie_client.url}/embed/")
    assert "webclient_embed" in {c["name"] for c in copies}
    anon.goto(intranet.page_url(cookie_client.embed(room_id, composer=True)))
    blocked = anon.frame_locator("#embed")
    expect(blocked.locator("#embed-unavailable")).to_be_visible()
    expect(blocked.locator("#composer")).to_have_count(0)


# -- e. postMessage --------------------------------------------------------------------------

RECORD_TARGETS = """
(() => {
  if (location.pathname.indexOf("/embed/") !== 0) return;
  const real = window.parent;
  if (real === window) return;
  window.__targets = [];
  // window.parent is [Replaceable]: this proxy sees every postMessage embed.js makes.
  window.parent = {
    postMessage(message, target) {
      window.__targets.push(typeof target === "string" ? target : JSON.stringify(target));
      return real.postMessage(message, target);
    },
  };
})();
"""


def test_post_message_reports_height_and_unread_to_listed_origins_only(
    browser, client, intranet, second_listed, synapse, make_user
):
    context = browser.new_context()
    context.add_init_script(RECORD_TARGETS)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        _post_message_checks(page, client, intranet, second_listed, synapse, make_user)
    finally:
        context.close()


def _post_message_checks(page, client, intranet, second_listed, synapse, make_user):
    ivy = make_user("ivy", displayname="Ivy")
    room_id = guest_room(synapse, ivy, "Announcements")
    for n in range(25):
        send_text(synapse, ivy, room_id, f"Backlog message {n}")

    page.goto(intranet.page_url(client.embed(room_id), h=300, after=2000))
    frame_locator = page.frame_locator("#embed")
    expect(frame_locator.locator("#timeline")).to_contain_text("Backlog message 24")
    wait_live(frame_locator)
    frame = embed_frame(page)

    first = wait_message(page, lambda m: m["data"].get("type") == "webclient.embed")
    assert first["origin"] == client.url
    assert first["data"]["room_id"] == room_id
    assert isinstance(first["data"]["height"], int) and first["data"]["height"] > 0
    assert first["data"]["unread"] == 0

    # Scrolled up in the frame: a new message is unseen.
    frame.evaluate(
        """() => {
          const t = document.getElementById("timeline");
          const box = t.scrollHeight > t.clientHeight ? t : document.scrollingElement;
          box.scrollTop = 0;
        }"""
    )
    page.wait_for_timeout(200)
    send_text(synapse, ivy, room_id, "While you were reading history")
    expect(frame_locator.locator("#timeline")).to_contain_text("While you were reading history")
    wait_message(page, lambda m: m["data"].get("unread") == 1)
    send_text(synapse, ivy, room_id, "And another")
    wait_message(page, lambda m: m["data"].get("unread") == 2)

    # Back at the bottom: seen, the count drops to 0.
    count = len(messages(page))
    frame.evaluate("() => window.webclient.scrollToBottom()")
    wait_message(page, lambda m: m["data"].get("unread") == 0, since=count)

    # The iframe scrolled out of the intranet page's view counts as unseen too.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    page.wait_for_timeout(300)
    count = len(messages(page))
    send_text(synapse, ivy, room_id, "While the frame was off-screen")
    expect(frame_locator.locator("#timeline")).to_contain_text("While the frame was off-screen")
    wait_message(page, lambda m: m["data"].get("unread") == 1, since=count)
    # The embed's own scrolling stays inside it: the intranet page was not scrolled to it.
    assert page.evaluate("window.scrollY") == scrolled
    page.wait_for_timeout(300)
    assert messages(page)[-1]["data"]["unread"] == 1
    count = len(messages(page))
    page.evaluate("window.scrollTo(0, 0)")
    wait_message(page, lambda m: m["data"].get("unread") == 0, since=count)

    # Every message came from the client's origin, and every post named a configured
    # origin, never "*": the posts go to each listed origin in turn.
    assert {m["origin"] for m in messages(page)} == {client.url}
    targets = frame.evaluate("window.__targets")
    assert targets, "embed.js posted nothing"
    assert "*" not in targets
    assert set(targets) == {intranet.origin, second_listed.origin}
    # The parent received exactly the posts addressed to its own origin.
    assert targets.count(intranet.origin) == len(
        [m for m in messages(page) if m["data"].get("type") == "webclient.embed"]
    )

    # The second listed origin frames it too, and hears from it.
    page.goto(second_listed.page_url(client.embed(room_id)))
    message = wait_message(page, lambda m: m["data"].get("type") == "webclient.embed")
    assert message["origin"] == client.url


# -- f. narrow -------------------------------------------------------------------------------


def test_narrow_embed_has_no_horizontal_scrollbar(anon, client, intranet, synapse, make_user):
    page = anon
    jay = make_user("jay", displayname="Jay with a rather long display name indeed")
    room_id = guest_room(synapse, jay, "A room with a long name that will not fit in 300 px")
    send_text(synapse, jay, room_id, "x" * 300)
    send_text(synapse, jay, room_id, "https://example.org/" + "very-long-path/" * 20)
    send_text(synapse, jay, room_id, "Short one")

    page.goto(intranet.page_url(client.embed(room_id), w=300, h=500))
    frame_locator = page.frame_locator("#embed")
    expect(frame_locator.locator("#timeline")).to_contain_text("Short one")
    frame = embed_frame(page)
    sizes = frame.evaluate(
        """() => {
          const s = document.scrollingElement;
          const t = document.getElementById("timeline");
          return {width: s.clientWidth, scroll: s.scrollWidth,
                  tWidth: t.clientWidth, tScroll: t.scrollWidth};
        }"""
    )
    assert sizes["width"] <= 300, sizes
    assert sizes["scroll"] <= sizes["width"], sizes
    assert sizes["tScroll"] <= sizes["tWidth"], sizes


# -- the snippet on the room settings page ---------------------------------------------------


def test_settings_page_offers_a_copy_ready_snippet(
    browser, client, intranet, second_listed, synapse, make_user
):
    kim = make_user("kim")
    name = 'Kim\'s "Q&A" <script>x</script></textarea>'
    room_id = guest_room(synapse, kim, name)
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=client.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        login_with_password(page, client.url, synapse, kim)
        page.goto(f"{client.url}/rooms/{q(room_id)}/settings/")
        section = page.locator("#embed-section")
        expect(section).to_be_visible()
        embed_url = f"{client.url}/embed/{room_id}/"
        title = html.escape(name, quote=True)
        expected = (
            f'<iframe src="{embed_url}" title="{title}" width="400" height="600" '
            'style="border:0"></iframe>'
        )
        snippet = page.locator("#embed-snippet")
        assert snippet.input_value() == expected
        assert snippet.get_attribute("readonly") is not None
        composer = page.locator("#embed-snippet-composer")
        assert composer.input_value() == expected.replace(
            f'src="{embed_url}"', f'src="{embed_url}?composer=1"'
        )
        expect(section.locator("#embed-origins")).to_contain_text(intranet.origin)
        expect(section.locator("#embed-origins")).to_contain_text(second_listed.origin)
        kiosk = section.locator("#embed-kiosk-link")
        expect(kiosk).to_have_text("Show on a kiosk screen")
        copy = section.locator('button[data-copy-target="embed-snippet"]')
        expect(copy).to_be_visible()
        copy.click()
        expect(copy).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == expected
        kiosk.click()
        page.wait_for_url(f"{client.url}/settings/kiosks/?room=*")
        assert parse_qs(urlparse(page.url).query)["room"] == [room_id]

        # Pasted into a page on the listed origin, the snippet shows the room, named right.
        page.goto(intranet.pasted_url(expected))
        frame = page.locator("iframe")
        expect(frame).to_have_attribute("title", name)
        expect(frame).to_have_attribute("width", "400")
        expect(page.frame_locator("iframe").locator("#room-name")).to_have_text(name)
    finally:
        context.close()


def test_snippet_says_embedding_is_refused_without_origins(
    page, webclient_server, synapse, make_user
):
    lee = make_user("lee")
    room_id = create_room(synapse, lee, name="Nowhere")
    base = webclient_server.url
    login_with_password(page, base, synapse, lee)
    page.goto(f"{base}/rooms/{q(room_id)}/settings/")
    origins = page.locator("#embed-origins")
    expect(origins).to_contain_text("EMBED_ALLOWED_ORIGINS")
    expect(origins).to_contain_text("refused")
