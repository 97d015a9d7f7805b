"""Kiosk screens (`/kiosk/<token>/`) in real Chromium against a real Synapse.

A link is made through Settings → Kiosk screens by a signed-in user; the screen itself is
opened in a fresh browser context with no login, as a wall display would. The screens run for
weeks unattended, so besides showing rooms live these tests stop and restart the server under
an open screen (nothing missed, nothing shown twice), change its build (the screen reloads
itself), keep its DOM bounded, and look at it without JavaScript.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.media_helpers import send_picture
from tests.server import WebclientServer, start_webclient, stop_webclient
from tests.synapse_fixtures import matrix_api
from webclient.demo.homeserver import LocalSynapse, RegisteredUser

from .helpers import (
    CS,
    confirm_dialog,
    device_tokens,
    login_with_password,
    q,
    send_text,
    shared_room,
)

BUILD = "kiosk-test-build-1"

# Installed before any page script: records every tile added to a kiosk panel, and any tile
# added while a tile with the same event ID was still in that panel (a duplicate).
RECORDER = """
(() => {
  const rec = { added: [], dups: [], initial: [], maxTiles: 0 };
  window.__kioskRec = rec;
  document.addEventListener('DOMContentLoaded', () => {
    const root = document.getElementById('kiosk');
    if (!root) return;
    root.querySelectorAll('.kiosk-timeline [data-event-id]').forEach((n) =>
      rec.initial.push(n.dataset.eventId));
    new MutationObserver((records) => {
      for (const r of records) {
        for (const n of r.addedNodes) {
          if (n.nodeType !== 1) continue;
          const panel = n.closest('.kiosk-timeline');
          if (!panel) continue;
          const nodes = n.matches('[data-event-id]') ? [n] : [];
          nodes.push(...n.querySelectorAll('[data-event-id]'));
          for (const t of nodes) {
            const id = t.dataset.eventId;
            rec.added.push(id);
            const same = panel.querySelectorAll('[data-event-id="' + CSS.escape(id) + '"]');
            if (same.length > 1) rec.dups.push(id);
          }
        }
        const panel = r.target.closest && r.target.closest('.kiosk-timeline');
        if (panel) {
          rec.maxTiles = Math.max(rec.maxTiles, panel.querySelectorAll('article.event').length);
        }
      }
    }).observe(root, { childList: true, subtree: true });
  });
})();
"""

PANEL_IDS = """
(roomId) => [...document.querySelectorAll(
    '.kiosk-panel[data-room-id="' + CSS.escape(roomId) + '"] article.event[data-event-id]')]
  .map((t) => t.dataset.eventId)
"""


# -- servers -----------------------------------------------------------------------------------


@dataclass
class Servers:
    """The servers of this module. `log()` is the log of the one last started, so a failing
    test gets it in its report (tests/browser/conftest.py looks for `webclient_server`)."""

    synapse: LocalSynapse
    root: Path
    started: list[WebclientServer] = field(default_factory=list)
    _shared: WebclientServer | None = None

    def start(
        self, data_dir: Path | None = None, port: int | None = None, **env: str
    ) -> WebclientServer:
        if data_dir is None:
            data_dir = self.root / uuid.uuid4().hex[:8]
            data_dir.mkdir()
        env.setdefault("WEBCLIENT_BUILD_ID", BUILD)
        server = start_webclient(data_dir, self.synapse.url, port=port, **env)
        self.started.append(server)
        return server

    @property
    def shared(self) -> WebclientServer:
        """One server for the tests that need no restart: 10 tiles a panel, refresh every 2 s
        without JavaScript."""
        if self._shared is None:
            self._shared = self.start(KIOSK_MAX_TILES="10", KIOSK_REFRESH_SECONDS="2")
        return self._shared

    @property
    def url(self) -> str:
        return self.shared.url

    def log(self) -> str:
        return self.started[-1].log() if self.started else "(no server started)"

    def stop_all(self) -> None:
        for server in self.started:
            if server.process.poll() is None:
                stop_webclient(server)


@pytest.fixture(scope="module")
def webclient_server(synapse, tmp_path_factory) -> Iterator[Servers]:
    servers = Servers(synapse, tmp_path_factory.mktemp("kiosk"))
    yield servers
    servers.stop_all()


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Setup:
    owner: RegisteredUser  # makes the link, reads through it
    writer: RegisteredUser  # "the other client" that posts
    rooms: list[str]


def make_rooms(hs: LocalSynapse, make_user, names: list[str]) -> Setup:
    writer = make_user("writer", displayname="Wanda")
    owner = make_user("owner", displayname="Olga")
    rooms = [shared_room(hs, writer, owner, name=name) for name in names]
    return Setup(owner, writer, rooms)


def create_kiosk(
    page: Page,
    base: str,
    hs: LocalSynapse,
    user: RegisteredUser,
    name: str,
    rooms: list[str],
    theme: str = "dark",
    scale: str = "1.5",
    *,
    login: bool = True,
) -> str:
    """Make a kiosk link through Settings → Kiosk screens; returns its URL."""
    if login:
        login_with_password(page, base, hs, user)
    page.goto(f"{base}/settings/kiosks/")
    form = page.locator("#create-kiosk-form")
    form.locator("input[name=name]").fill(name)
    for room_id in rooms:
        form.locator(f'input[name=rooms][value="{room_id}"]').check()
    form.locator("select[name=theme]").select_option(theme)
    form.locator("select[name=scale]").select_option(scale)
    form.locator("input[name=password]").fill(user.password)
    form.locator("#create-kiosk-button").click()
    url_field = page.locator("#new-kiosk-url")
    expect(url_field).to_be_visible()
    url = url_field.input_value()
    assert url.startswith(f"{base}/kiosk/"), url
    return url


def open_screen(context: BrowserContext, url: str) -> Page:
    screen = context.new_page()
    screen.set_default_timeout(15000)
    screen.add_init_script(RECORDER)
    response = screen.goto(url)
    assert response is not None and response.status == 200
    expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true")
    return screen


def panel(screen: Page, room_id: str):
    return screen.locator(f'.kiosk-panel[data-room-id="{room_id}"]')


def tile(screen: Page, room_id: str, event_id: str):
    return panel(screen, room_id).locator(f'article.event[data-event-id="{event_id}"]')


def panel_ids(screen: Page, room_id: str) -> list[str]:
    return screen.evaluate(PANEL_IDS, room_id)


def assert_no_duplicates(screen: Page, room_id: str) -> None:
    ids = panel_ids(screen, room_id)
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    rec = screen.evaluate("window.__kioskRec")
    assert rec["dups"] == [], rec["dups"]


def kiosk_devices(hs: LocalSynapse, user: RegisteredUser) -> dict[str, str]:
    devices = matrix_api(hs.url, user.access_token, "GET", f"{CS}/devices")["devices"]
    return {
        d["device_id"]: d.get("display_name") or ""
        for d in devices
        if (d.get("display_name") or "").startswith("kiosk: ")
    }


def assert_in_order(screen: Page, room_id: str, ids: list[str]) -> None:
    shown = panel_ids(screen, room_id)
    for event_id in ids:
        assert shown.count(event_id) == 1, (event_id, shown)
    positions = [shown.index(event_id) for event_id in ids]
    assert positions == sorted(positions), positions


# -- a. making a link, the screen, revoking ----------------------------------------------------


def test_link_from_settings_shows_rooms_live_and_revoke_ends_it(
    page: Page, browser, webclient_server, synapse, make_user
):
    base = webclient_server.url
    setup = make_rooms(synapse, make_user, ["Lobby news", "Operations"])
    lobby, ops = setup.rooms
    first = send_text(synapse, setup.writer, lobby, "welcome to the lobby")
    name = f"lobby {uuid.uuid4().hex[:4]}"
    url = create_kiosk(page, base, synapse, setup.owner, name, [lobby, ops], "light", "2")
    token = url.rstrip("/").rsplit("/", 1)[1]

    # Listed in settings, with its own device on the homeserver.
    entry = page.locator("#kiosk-list li.kiosk-link", has_text=name)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Lobby news")
    expect(entry).to_contain_text("Operations")
    device_id = entry.get_attribute("data-device-id")
    assert kiosk_devices(synapse, setup.owner) == {device_id: f"kiosk: {name}"}

    # The screen: a fresh context, no login.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        media: list[tuple[int, str]] = []
        screen = open_screen(context, url)
        screen.on(
            "response", lambda r: media.append((r.status, r.url)) if "/media/" in r.url else None
        )
        assert "/login/" not in screen.url
        expect(screen.locator("html")).to_have_class(re.compile(r"\btheme-light\b"))
        expect(screen.locator("html")).to_have_class(re.compile(r"\bscale-200\b"))
        expect(screen.locator(".kiosk-grid.rooms-2 > .kiosk-panel")).to_have_count(2)
        expect(panel(screen, lobby).locator(".kiosk-room-name")).to_have_text("Lobby news")
        expect(panel(screen, ops).locator(".kiosk-room-name")).to_have_text("Operations")
        expect(panel(screen, lobby).locator(".kiosk-timeline")).to_have_id("timeline")
        expect(screen.locator("#kiosk-clock")).to_have_text(re.compile(r"^\d\d:\d\d$"))
        expect(screen.locator("#composer, form textarea")).to_have_count(0)
        expect(tile(screen, lobby, first)).to_be_visible()
        # The two panels sit side by side.
        a, b = (panel(screen, r).bounding_box() for r in (lobby, ops))
        assert a and b and a["x"] + a["width"] <= b["x"] + 1 and abs(a["y"] - b["y"]) < 2

        # Live, each in its panel, newest at the bottom.
        ids = []
        for n in range(3):
            ids.append(send_text(synapse, setup.writer, lobby, f"lobby {n}"))
            ops_id = send_text(synapse, setup.writer, ops, f"ops {n}")
            expect(tile(screen, ops, ops_id)).to_be_in_viewport()
        expect(tile(screen, lobby, ids[-1])).to_be_in_viewport()
        assert panel_ids(screen, lobby)[-1] == ids[-1]
        assert_in_order(screen, lobby, [first, *ids])
        expect(tile(screen, ops, ids[0])).to_have_count(0)  # not in the wrong panel

        # An image: its thumbnail comes through the kiosk's own media path (no cookie).
        image_id = send_picture(synapse, setup.writer, lobby)
        img = tile(screen, lobby, image_id).locator("img")
        expect(img).to_be_visible()
        screen.wait_for_function(
            "el => el.complete && el.naturalWidth > 0", arg=img.element_handle()
        )
        src = img.evaluate("el => el.src")
        assert src.startswith(f"{base}/kiosk/{token}/media/"), src
        assert "/thumbnail/" in src, src
        assert (200, src) in media, media
        assert "mxc://" not in screen.content()
        assert_no_duplicates(screen, lobby)
        assert_no_duplicates(screen, ops)

        # Revoke: the open screen says so at once, and the device is gone.
        page.goto(f"{base}/settings/kiosks/")
        page.locator("#kiosk-list li.kiosk-link", has_text=name).locator(
            "button.revoke-button"
        ).click()
        confirm_dialog(page)
        expect(page.locator(".flash")).to_contain_text("revoked")
        expect(page.locator("#kiosk-list li.kiosk-link", has_text=name)).to_have_count(0)
        expect(screen.locator("#kiosk-revoked")).to_be_visible()
        expect(screen.locator("#kiosk")).to_have_count(0)
        assert kiosk_devices(synapse, setup.owner) == {}
        again = context.new_page().goto(url)
        assert again is not None and again.status == 404
    finally:
        context.close()


def test_device_signed_out_elsewhere_ends_the_screen(
    page: Page, browser, webclient_server, synapse, make_user
):
    """The kiosk's device is signed out on the homeserver (not through this client): the
    open screen says the link is revoked, and so does the link when opened again."""
    base = webclient_server.url
    setup = make_rooms(synapse, make_user, ["Elsewhere"])
    (room,) = setup.rooms
    url = create_kiosk(page, base, synapse, setup.owner, "elsewhere", [room])
    (device_id,) = kiosk_devices(synapse, setup.owner)
    token = device_tokens(synapse, setup.owner.user_id)[device_id]
    context = browser.new_context()
    try:
        screen = open_screen(context, url)
        matrix_api(synapse.url, token, "POST", f"{CS}/logout", {})
        # The next sync fails with M_UNKNOWN_TOKEN (a long-poll of up to 10 s first).
        expect(screen.locator("#kiosk-revoked")).to_be_visible(timeout=30000)
        again = context.new_page().goto(url)
        assert again is not None and again.status == 404
    finally:
        context.close()


# -- b, c. a server restart under an open screen -----------------------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("missed", "page_size"), [(5, "50"), (12, "5")], ids=["one-page", "paging-back"]
)
def test_restart_catches_up_without_gap_or_duplicate(
    page: Page, browser, webclient_server, synapse, make_user, missed, page_size
):
    """Stop the server, send while it is down, start it again on the same port and data: the
    screen says it is offline, then shows every message once, in order. With pages of 5 and 12
    missed, the screen must page back to the last event it showed."""
    env = {"TIMELINE_PAGE_SIZE": page_size}
    server = webclient_server.start(**env)
    setup = make_rooms(synapse, make_user, ["Status", "Alerts"])
    status, alerts = setup.rooms
    before = [send_text(synapse, setup.writer, status, f"before {n}") for n in range(3)]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        url = create_kiosk(page, server.url, synapse, setup.owner, "wall", [status, alerts])
        fetches: list[str] = []
        screen = open_screen(context, url)
        screen.on("request", lambda r: fetches.append(r.url) if "/timeline/" in r.url else None)
        expect(tile(screen, status, before[-1])).to_be_visible()
        screen.evaluate("window.__noReload = 'still here'")

        stop_webclient(server)
        expect(screen.locator("#kiosk-offline")).to_be_visible()
        expect(screen.locator("#kiosk-offline")).to_contain_text(
            re.compile(r"Offline since \d\d:\d\d")
        )
        expect(screen.locator("#kiosk")).to_have_attribute("data-live", "false")
        down = [send_text(synapse, setup.writer, status, f"down {n:02d}") for n in range(missed)]
        other = send_text(synapse, setup.writer, alerts, "alert while down")

        port = int(server.url.rsplit(":", 1)[1])
        server = webclient_server.start(server.log_path.parent, port=port, **env)
        # Backoff doubles up to 30 s; a few attempts have passed while the server was down.
        expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true", timeout=45000)
        expect(screen.locator("#kiosk-offline")).to_be_hidden()
        expect(tile(screen, status, down[-1])).to_have_count(1, timeout=30000)
        expect(tile(screen, alerts, other)).to_have_count(1)
        for event_id in down:
            expect(tile(screen, status, event_id)).to_have_count(1)
        expect(tile(screen, status, down[-1])).to_be_in_viewport()
        assert_in_order(screen, status, before + down)
        assert_no_duplicates(screen, status)
        assert_no_duplicates(screen, alerts)
        assert screen.evaluate("window.__noReload") == "still here", "the screen reloaded"

        # Live again afterwards.
        after = send_text(synapse, setup.writer, status, "after the restart")
        expect(tile(screen, status, after)).to_be_in_viewport()
        assert_in_order(screen, status, before + down + [after])
        assert_no_duplicates(screen, status)
        if int(page_size) < missed:
            assert any("from=" in u for u in fetches), fetches  # it paged back
    finally:
        context.close()
        stop_webclient(server)


def test_socket_drop_replays_what_was_missed(
    page: Page, browser, webclient_server, synapse, make_user
):
    """The socket drops but the server keeps running: on reconnect the server replays what
    the screen missed from its own record (no page fetch), once and in order."""
    base = webclient_server.url
    setup = make_rooms(synapse, make_user, ["Blip"])
    (room,) = setup.rooms
    first = send_text(synapse, setup.writer, room, "before the drop")
    url = create_kiosk(page, base, synapse, setup.owner, "blip", [room])
    context = browser.new_context()
    sockets: list = []
    down = {"now": False}

    def route(ws) -> None:
        if down["now"]:
            ws.close()
            return
        sockets.append((ws, ws.connect_to_server()))

    try:
        screen = context.new_page()
        screen.set_default_timeout(15000)
        screen.add_init_script(RECORDER)
        screen.route_web_socket(re.compile(r"/ws/"), route)
        fetches: list[str] = []
        screen.on("request", lambda r: fetches.append(r.url) if "/timeline/" in r.url else None)
        screen.goto(url)
        expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true")
        expect(tile(screen, room, first)).to_be_visible()
        screen.evaluate("window.__noReload = 'still here'")

        down["now"] = True
        for to_page, to_server in sockets:
            to_server.close()
            to_page.close()
        expect(screen.locator("#kiosk-offline")).to_contain_text("Offline since")
        missed = [send_text(synapse, setup.writer, room, f"missed {n}") for n in range(4)]
        time.sleep(2)  # let the server's session take them in while the screen is away
        down["now"] = False
        expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true", timeout=30000)
        for event_id in missed:
            expect(tile(screen, room, event_id)).to_have_count(1)
        assert_in_order(screen, room, [first, *missed])
        assert_no_duplicates(screen, room)
        assert fetches == [], fetches  # replayed by the server, not fetched
        assert screen.evaluate("window.__noReload") == "still here"
    finally:
        context.close()


@pytest.fixture
def frozen_server(webclient_server):
    """A server whose syncs carry at most 3 events a room (gaps come as limited syncs)."""
    server = webclient_server.start(MATRIX_SYNC_TIMELINE_LIMIT="3")
    yield server
    os.kill(server.process.pid, signal.SIGCONT)  # never leave it frozen
    stop_webclient(server)


def test_limited_sync_fills_the_gap_in_order(
    page: Page, browser, frozen_server, synapse, make_user
):
    """The server is frozen (the socket stays open) while 12 messages are sent; its next sync
    is limited to the newest 3, and the screen fetches the rest, putting them in order."""
    setup = make_rooms(synapse, make_user, ["Frozen"])
    (room,) = setup.rooms
    first = send_text(synapse, setup.writer, room, "before the freeze")
    url = create_kiosk(page, frozen_server.url, synapse, setup.owner, "frozen", [room])
    frames: list[str] = []
    context = browser.new_context()
    try:
        screen = context.new_page()
        screen.set_default_timeout(15000)
        screen.add_init_script(RECORDER)
        screen.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
        screen.goto(url)
        expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true")
        expect(tile(screen, room, first)).to_be_visible()
        screen.evaluate("window.__noReload = 'still here'")

        os.kill(frozen_server.process.pid, signal.SIGSTOP)
        try:
            ids = [send_text(synapse, setup.writer, room, f"gap {n:02d}") for n in range(12)]
        finally:
            os.kill(frozen_server.process.pid, signal.SIGCONT)
        for event_id in ids:
            expect(tile(screen, room, event_id)).to_have_count(1)
        assert_in_order(screen, room, [first, *ids])
        assert_no_duplicates(screen, room)
        assert panel_ids(screen, room)[-1] == ids[-1]
        assert screen.evaluate("window.__noReload") == "still here"
        limited = [f for f in frames if isinstance(f, str) and '"limited": true' in f]
        print(f"limited syncs seen by the screen: {len(limited)}")
    finally:
        context.close()


@pytest.mark.timeout(240)
def test_new_build_reloads_the_screen(page: Page, browser, webclient_server, synapse, make_user):
    server = webclient_server.start(WEBCLIENT_BUILD_ID="build-one")
    setup = make_rooms(synapse, make_user, ["Upgrade"])
    (room,) = setup.rooms
    context = browser.new_context()
    try:
        url = create_kiosk(page, server.url, synapse, setup.owner, "up", [room])
        screen = open_screen(context, url)
        expect(screen.locator("#kiosk")).to_have_attribute("data-build", "build-one")
        screen.evaluate("window.__noReload = 'still here'")

        stop_webclient(server)
        expect(screen.locator("#kiosk-offline")).to_be_visible()
        port = int(server.url.rsplit(":", 1)[1])
        with screen.expect_event("load", timeout=60000):
            server = webclient_server.start(
                server.log_path.parent, port=port, WEBCLIENT_BUILD_ID="build-two"
            )
        expect(screen.locator("#kiosk")).to_have_attribute("data-build", "build-two")
        assert screen.evaluate("window.__noReload") is None, "the screen did not reload"
        expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true")
        # And it stays: the new page's build matches the server's.
        screen.evaluate("window.__noReload = 'still here'")
        event_id = send_text(synapse, setup.writer, room, "after the upgrade")
        expect(tile(screen, room, event_id)).to_be_visible()
        assert screen.evaluate("window.__noReload") == "still here"
    finally:
        context.close()
        stop_webclient(server)


# -- d. bounded DOM ----------------------------------------------------------------------------


def test_panel_keeps_at_most_max_tiles(page: Page, browser, webclient_server, synapse, make_user):
    base = webclient_server.url  # KIOSK_MAX_TILES=10
    setup = make_rooms(synapse, make_user, ["Busy"])
    (room,) = setup.rooms
    url = create_kiosk(page, base, synapse, setup.owner, "busy", [room])
    context = browser.new_context()
    try:
        screen = open_screen(context, url)
        expect(screen.locator("#kiosk")).to_have_attribute("data-max-tiles", "10")
        assert panel(screen, room).locator("article.event").count() <= 10
        ids = []
        for n in range(25):
            ids.append(send_text(synapse, setup.writer, room, f"busy {n:02d}"))
            time.sleep(0.05)
        expect(tile(screen, room, ids[-1])).to_be_in_viewport()
        shown = panel_ids(screen, room)
        assert len(shown) <= 10, shown
        assert shown == ids[-len(shown) :], shown
        assert screen.evaluate("window.__kioskRec.maxTiles") <= 10 + 1
        assert_no_duplicates(screen, room)
    finally:
        context.close()


# -- e. without JavaScript ---------------------------------------------------------------------


def test_without_javascript_the_screen_refreshes(
    page: Page, browser, webclient_server, synapse, make_user
):
    base = webclient_server.url  # KIOSK_REFRESH_SECONDS=2
    setup = make_rooms(synapse, make_user, ["Plain"])
    (room,) = setup.rooms
    for n in range(12):
        send_text(synapse, setup.writer, room, f"earlier {n}")
    first = send_text(synapse, setup.writer, room, "shown without script")
    url = create_kiosk(page, base, synapse, setup.owner, "plain", [room], scale="2")
    # More tiles than fit: the newest must be the ones on screen, with no script to scroll.
    context = browser.new_context(java_script_enabled=False, viewport={"width": 800, "height": 500})
    try:
        screen = context.new_page()
        loads: list[str] = []
        screen.on("load", lambda p: loads.append(p.url))
        response = screen.goto(url)
        assert response is not None and response.status == 200
        expect(tile(screen, room, first)).to_be_in_viewport()
        expect(screen.locator("#kiosk-clock")).to_have_text(re.compile(r"^\d\d:\d\d UTC$"))
        refresh = screen.locator('noscript meta[http-equiv="refresh"], meta[http-equiv="refresh"]')
        expect(refresh.first).to_have_attribute("content", "2")
        later = send_text(synapse, setup.writer, room, "after a refresh")
        expect(tile(screen, room, later)).to_be_in_viewport(timeout=15000)
        assert len(loads) >= 2, loads  # it came with a reload, not a script
    finally:
        context.close()


# -- f. a forged or altered token --------------------------------------------------------------


def test_forged_or_altered_token_shows_revoked(
    page: Page, browser, webclient_server, synapse, make_user
):
    base = webclient_server.url
    setup = make_rooms(synapse, make_user, ["Secret"])
    (room,) = setup.rooms
    url = create_kiosk(page, base, synapse, setup.owner, "real", [room])
    token = url.rstrip("/").rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    payload, _, signature = token.partition(":")
    context = browser.new_context()
    try:
        screen = context.new_page()
        for bad in (
            "forged",
            flipped,
            f"x{token}",
            f"{payload}x:{signature}",
            f"{payload}:{signature[::-1]}",
        ):
            response = screen.goto(f"{base}/kiosk/{bad}/")
            assert response is not None and response.status == 404, bad
            expect(screen.locator("#kiosk-revoked")).to_be_visible()
            expect(screen.locator("#kiosk")).to_have_count(0)
            assert f"/kiosk/{bad}/timeline/{room}/" not in screen.content()
            assert screen.request.get(f"{base}/kiosk/{bad}/timeline/{q(room)}/").status == 404
        ok = screen.goto(url)
        assert ok is not None and ok.status == 200
        expect(screen.locator("#kiosk")).to_be_visible()
    finally:
        context.close()
