"""Encrypted rooms in real Chromium, against the crypto Element runs.

Alice uses Element too: a js peer (matrix-js-sdk 36.2.0 with its Rust crypto, tests/peers)
with cross-signing, secret storage and key backup, sharing keys only with cross-signed devices
(Element's setting, the spec's advice since v1.18). Bob is another Element user set up the same
way. Alice signs in to this client in Chromium (a new device each test, unverified until she
types her recovery key), against the real daphne server and the real Synapse.

Playwright's sync API keeps an event loop running in the main thread, so the peers (asyncio)
run on a loop of their own in a second thread (`PeerLoop`), and tests call them synchronously.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.peers.jspeer import JS_DIR, JsPeer
from webclient.demo.homeserver import LocalSynapse, RegisteredUser

from .helpers import (
    assert_not_reloaded,
    event_tile,
    login_with_password,
    mark_page,
    open_room,
    type_and_send,
)

T = TypeVar("T")


# -- js peers from synchronous tests -----------------------------------------------------------


class PeerLoop:
    """An asyncio loop in a thread of its own, where the js peers live."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="js peers", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Peer:
    """A `JsPeer` called from synchronous code: `call` and `wait_message` as JsPeer's."""

    def __init__(self, loop: PeerLoop, peer: JsPeer) -> None:
        self._loop = loop
        self.peer = peer

    @property
    def user_id(self) -> str:
        assert self.peer.user_id
        return self.peer.user_id

    @property
    def recovery_key(self) -> str:
        assert self.peer.recovery_key
        return self.peer.recovery_key

    def call(self, cmd: str, *, timeout: float = 30, **args: Any) -> Any:
        return self._loop.run(self.peer.call(cmd, timeout=timeout, **args))

    def wait_message(self, room_id: str, *, timeout: float = 20, **match: Any) -> dict[str, Any]:
        return self._loop.run(self.peer.wait_message(room_id, timeout=timeout, **match))

    def device_status(self, user_id: str, device_id: str, wait_for: str | None = None) -> dict:
        """What this peer's crypto knows of a device, waiting up to 20 s for it to be known
        (and for `wait_for`, e.g. "signed_by_owner")."""
        return self.call(
            "device_status",
            user_id=user_id,
            device_id=device_id,
            wait_for=wait_for,
            timeout_ms=20000,
            timeout=30,
        )


@dataclass
class Element:
    """Alice and Bob, each with an Element device (cross-signing, secret storage, backup,
    keys only to cross-signed devices)."""

    alice: RegisteredUser
    alice_js: Peer
    bob: RegisteredUser
    bob_js: Peer


@pytest.fixture(scope="module")
def element(synapse: LocalSynapse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Element]:
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / "matrix-js-sdk").is_dir():
        pytest.fail("js peers need Node.js 20+ and `npm ci` in tests/peers/js", pytrace=False)
    log_dir: Path = tmp_path_factory.mktemp("js-peers")
    loop = PeerLoop()
    peers: list[JsPeer] = []

    async def start(user: RegisteredUser) -> JsPeer:
        peer = JsPeer(user.localpart, log_dir / f"{user.localpart}.log")
        peers.append(peer)
        await peer.start()
        await peer.login(synapse.url, user.user_id, user.password)
        await peer.bootstrap(user.password)
        await peer.call("only_signed_devices", on=True)
        return peer

    async def both() -> tuple[JsPeer, JsPeer]:
        return await asyncio.gather(start(alice), start(bob))  # type: ignore[return-value]

    stamp = uuid.uuid4().hex[:8]
    alice = synapse.register(f"alice-{stamp}", "pw-alice-e2e", displayname="Alice")
    bob = synapse.register(f"bob-{stamp}", "pw-bob-e2e", displayname="Bob")
    try:
        alice_js, bob_js = loop.run(both(), timeout=120)
        yield Element(alice, Peer(loop, alice_js), bob, Peer(loop, bob_js))
    finally:
        loop.run(_stop_all(peers), timeout=60)
        loop.close()
        for peer in peers:
            print(f"js peer {peer.name} ({peer.user_id} {peer.device_id}) log: {peer.log_path}")


async def _stop_all(peers: list[JsPeer]) -> None:
    await asyncio.gather(*(peer.stop() for peer in peers), return_exceptions=True)


# -- helpers -----------------------------------------------------------------------------------


def this_device(page: Page, base: str) -> str:
    """This browser's device ID, as Settings → Encryption shows it."""
    page.goto(f"{base}/settings/encryption/")
    device_id = page.locator("#device-id").inner_text().strip()
    assert device_id
    return device_id


def verify_with_recovery_key(page: Page, base: str, recovery_key: str) -> None:
    page.goto(f"{base}/settings/encryption/")
    expect(page.locator("#device-verified")).to_have_attribute("data-verified", "false")
    field = page.locator("form#recovery-form input[name=recovery_key]")
    assert field.get_attribute("type") == "password"
    field.fill(recovery_key)
    page.locator("form#recovery-form button[type=submit]").click()
    expect(page.locator("#device-verified")).to_have_attribute(
        "data-verified", "true", timeout=30000
    )


def encrypted_room_with_alice(element: Element, name: str) -> str:
    """Bob's new encrypted room, which Alice (her account, so every device) joined."""
    room_id = element.bob_js.call(
        "create_room", encrypted=True, invite=[element.alice.user_id], name=name
    )["room_id"]
    element.alice_js.call("wait_invite", room_id=room_id)
    element.alice_js.call("join", room_id=room_id)
    return room_id


def assert_key_absent(html: str, recovery_key: str, where: str) -> None:
    compact = recovery_key.replace(" ", "")
    assert recovery_key not in html and compact not in html, f"the recovery key is in {where}"
    # Any group of its characters would do as well: look for the first three groups.
    assert " ".join(recovery_key.split()[:3]) not in html, f"part of the recovery key in {where}"


# -- tests -------------------------------------------------------------------------------------


def test_recovery_key_verifies_this_device(
    page: Page, webclient_server, synapse: LocalSynapse, element: Element
) -> None:
    """Settings → Encryption: the new device is not verified; Alice's Element recovery key
    (a password field) verifies it and takes up the backup; Element sees it signed; the key
    shows nowhere afterwards."""
    base = webclient_server.url
    key = element.alice_js.recovery_key
    login_with_password(page, base, synapse, element.alice)
    device_id = this_device(page, base)
    expect(page.locator("#device-verified")).to_have_attribute("data-verified", "false")
    expect(page.locator("#backup-state")).to_have_attribute("data-backup", "off")
    assert not element.alice_js.device_status(element.alice.user_id, device_id)["signed_by_owner"]

    verify_with_recovery_key(page, base, key)
    expect(page.locator("#backup-state")).to_have_attribute("data-backup", "on")
    expect(page.locator("form#recovery-form")).to_have_count(0)
    assert_key_absent(page.content(), key, "the page after verifying")

    status = element.alice_js.device_status(element.alice.user_id, device_id, "signed_by_owner")
    assert status["signed_by_owner"] and status["cross_signing_verified"], status

    for path in (
        "/settings/encryption/",
        "/rooms/",
        "/settings/devices/",
        "/settings/profile/",
        "/settings/kiosks/",
        "/settings/advanced/",
    ):
        page.goto(base + path)
        assert_key_absent(page.content(), key, path)


def test_undecryptable_message_heals_in_place(
    browser: Browser, webclient_server, synapse: LocalSynapse, element: Element
) -> None:
    """Bob (keys only to cross-signed devices) writes while this device is unverified: its
    tile says so. Alice's Element device gets the key and backs it up; she verifies this
    device with her recovery key in a second tab, and the tile in the first turns into the
    message, in place, without a reload."""
    base = webclient_server.url
    room_id = encrypted_room_with_alice(element, "Healing")
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.set_default_timeout(15000)
        login_with_password(tab, base, synapse, element.alice)
        device_id = this_device(tab, base)
        # Bob's crypto knows the new device (and so tells it the key is withheld).
        assert element.bob_js.device_status(element.alice.user_id, device_id)["known"]
        backed_up = element.alice_js.call("backup_info")["count"]
        open_room(tab, base, room_id)
        mark_page(tab)

        body = f"for verified devices only {uuid.uuid4().hex[:6]}"
        event_id = element.bob_js.call("send_text", room_id=room_id, body=body)["event_id"]
        tile = event_tile(tab, event_id)
        expect(tile).to_have_class(re.compile(r"\bencrypted\b"))
        expect(tile.locator("[data-utd]")).to_have_count(1)
        why = tile.locator("[data-utd]").get_attribute("data-utd")
        assert why in ("withheld", "waiting"), why
        print(f"tile before verifying: {why}")

        # Alice's Element device reads it and puts its key in her backup.
        seen = element.alice_js.wait_message(room_id, body=body, sender=element.bob.user_id)
        assert seen["decrypted"]
        element.alice_js.call(
            "backup_info", wait_for_keys=backed_up + 1, timeout_ms=25000, timeout=35
        )
        expect(tile.locator("[data-utd]")).to_have_count(1)  # still waiting, until verified

        other = context.new_page()
        other.set_default_timeout(15000)
        verify_with_recovery_key(other, base, element.alice_js.recovery_key)

        expect(tile.locator(".event-body")).to_have_text(body, timeout=20000)
        expect(tile.locator("[data-utd]")).to_have_count(0)
        expect(tile).not_to_have_class(re.compile(r"\butd-"))
        assert_not_reloaded(tab)
    finally:
        context.close()


def test_encrypted_chat_both_ways(
    page: Page, webclient_server, synapse: LocalSynapse, element: Element
) -> None:
    """A verified device here and Bob's Element, both sharing keys only with cross-signed
    devices: Bob's message shows decrypted in the room page, and what Alice types reaches
    Bob decrypted, from a device Element trusts."""
    base = webclient_server.url
    login_with_password(page, base, synapse, element.alice)
    device_id = this_device(page, base)
    verify_with_recovery_key(page, base, element.alice_js.recovery_key)
    room_id = encrypted_room_with_alice(element, "Chat")
    # Bob shares keys with the device once his crypto sees it cross-signed.
    status = element.bob_js.device_status(element.alice.user_id, device_id, "signed_by_owner")
    assert status["signed_by_owner"], status

    open_room(page, base, room_id)
    incoming = element.bob_js.call("send_text", room_id=room_id, body="hello from Element")
    tile = event_tile(page, incoming["event_id"])
    expect(tile.locator(".event-body")).to_have_text("hello from Element")
    expect(tile.locator("[data-utd]")).to_have_count(0)
    assert tile.get_attribute("data-sender") == element.bob.user_id

    type_and_send(page, "hello from the browser")
    seen = element.bob_js.wait_message(
        room_id, body="hello from the browser", sender=element.alice.user_id
    )
    assert seen["encrypted"] and seen["decrypted"] and seen["error"] is None, seen
    assert seen["shield_colour"] == "NONE", seen
    expect(event_tile(page, seen["event_id"]).locator(".event-body")).to_have_text(
        "hello from the browser"
    )


def test_kiosk_screen_of_an_encrypted_room(
    browser: Browser, page: Page, webclient_server, synapse: LocalSynapse, element: Element
) -> None:
    """A kiosk link made with the password and the recovery key: its device is verified,
    Element shares keys with it, and a fresh browser showing the link sees Alice's Element
    message live, decrypted."""
    base = webclient_server.url
    room_id = element.alice_js.call("create_room", encrypted=True, name="Lobby (encrypted)")[
        "room_id"
    ]
    login_with_password(page, base, synapse, element.alice)
    page.goto(f"{base}/settings/kiosks/")
    checkbox = page.locator(f'#create-kiosk-form input[name=rooms][value="{room_id}"]')
    for _ in range(20):  # the room reaches this device's room list with its sync
        if checkbox.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    form = page.locator("#create-kiosk-form")
    name = f"lobby-{uuid.uuid4().hex[:6]}"
    form.locator("input[name=name]").fill(name)
    checkbox.check()
    form.locator("input[name=password]").fill(element.alice.password)
    key_field = form.locator("input[name=recovery_key]")
    assert key_field.get_attribute("type") == "password"
    key_field.fill(element.alice_js.recovery_key)
    form.locator("#create-kiosk-button").click()
    url_field = page.locator("#new-kiosk-url")
    expect(url_field).to_be_visible(timeout=40000)
    url = url_field.input_value()
    assert url.startswith(f"{base}/kiosk/"), url
    assert_key_absent(page.content(), element.alice_js.recovery_key, "the kiosk links page")

    link = page.locator("li.kiosk-link", has=page.locator(".kiosk-name", has_text=name))
    kiosk_device = link.get_attribute("data-device-id")
    assert kiosk_device
    status = element.alice_js.device_status(element.alice.user_id, kiosk_device, "signed_by_owner")
    assert status["signed_by_owner"], status

    screen_context = browser.new_context()
    try:
        screen = screen_context.new_page()
        screen.set_default_timeout(15000)
        response = screen.goto(url)
        assert response is not None and response.status == 200
        expect(screen.locator("#kiosk")).to_have_attribute("data-live", "true")
        sent = element.alice_js.call("send_text", room_id=room_id, body="visitors welcome")
        panel = screen.locator(f'.kiosk-panel[data-room-id="{room_id}"]')
        tile = panel.locator(f'article.event[data-event-id="{sent["event_id"]}"]')
        expect(tile.locator(".event-body")).to_have_text("visitors welcome", timeout=20000)
        expect(tile.locator("[data-utd]")).to_have_count(0)
    finally:
        screen_context.close()
