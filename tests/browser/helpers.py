"""Helpers for the browser tests: "another client" over plain HTTP, and signing in a page."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Browser, Page, expect

from tests.synapse_fixtures import matrix_api
from webclient.demo.homeserver import LocalSynapse, RegisteredUser

CS = "/_matrix/client/v3"


def q(value: str) -> str:
    """A room ID, alias or user ID quoted for a URL path."""
    return quote(value, safe="")


def create_room(hs: LocalSynapse, creator: RegisteredUser, **body: Any) -> str:
    body.setdefault("preset", "private_chat")
    return matrix_api(hs.url, creator.access_token, "POST", f"{CS}/createRoom", body)["room_id"]


def invite_and_join(
    hs: LocalSynapse, inviter: RegisteredUser, invitee: RegisteredUser, room_id: str
) -> None:
    matrix_api(
        hs.url,
        inviter.access_token,
        "POST",
        f"{CS}/rooms/{q(room_id)}/invite",
        {"user_id": invitee.user_id},
    )
    matrix_api(hs.url, invitee.access_token, "POST", f"{CS}/rooms/{q(room_id)}/join", {})


def shared_room(
    hs: LocalSynapse, creator: RegisteredUser, member: RegisteredUser, **body: Any
) -> str:
    """`creator` makes a room, invites `member`, and `member` joins with its own token."""
    room_id = create_room(hs, creator, **body)
    invite_and_join(hs, creator, member, room_id)
    return room_id


def send_text(
    hs: LocalSynapse, user: RegisteredUser, room_id: str, body: str, msgtype: str = "m.text"
) -> str:
    """Send a message as `user` ("the other client"); returns its event ID."""
    txn = uuid.uuid4().hex
    answer = matrix_api(
        hs.url,
        user.access_token,
        "PUT",
        f"{CS}/rooms/{q(room_id)}/send/m.room.message/{txn}",
        {"msgtype": msgtype, "body": body},
    )
    return answer["event_id"]


def recent_messages(
    hs: LocalSynapse, user: RegisteredUser, room_id: str, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest `m.room.message` events of the room, as `user` sees them, oldest first."""
    answer = matrix_api(
        hs.url,
        user.access_token,
        "GET",
        f"{CS}/rooms/{q(room_id)}/messages?dir=b&limit={limit}",
    )
    events = [e for e in answer.get("chunk", []) if e.get("type") == "m.room.message"]
    return list(reversed(events))


def wait_for_message(
    hs: LocalSynapse,
    user: RegisteredUser,
    room_id: str,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 15.0,
) -> dict[str, Any]:
    """Poll `/messages` as `user` until an event matches; return it."""
    deadline = time.monotonic() + timeout
    while True:
        for event in recent_messages(hs, user, room_id):
            if predicate(event):
                return event
        if time.monotonic() > deadline:
            seen = [
                (e["sender"], e["content"].get("body")) for e in recent_messages(hs, user, room_id)
            ]
            raise AssertionError(f"no matching message in {room_id} after {timeout}s; saw {seen}")
        time.sleep(0.2)


def messages_from(
    hs: LocalSynapse, reader: RegisteredUser, room_id: str, sender: str
) -> list[dict[str, Any]]:
    return [e for e in recent_messages(hs, reader, room_id) if e["sender"] == sender]


def set_power_level(
    hs: LocalSynapse, admin: RegisteredUser, room_id: str, user_id: str, level: int
) -> None:
    path = f"{CS}/rooms/{q(room_id)}/state/m.room.power_levels/"
    content = matrix_api(hs.url, admin.access_token, "GET", path)
    content.setdefault("users", {})[user_id] = level
    matrix_api(hs.url, admin.access_token, "PUT", path, content)


def device_tokens(hs: LocalSynapse, user_id: str) -> dict[str, str]:
    """device ID -> access token of every live token of a user, read from Synapse's database.

    The browser's password login makes a device whose token only the webclient server knows;
    reading it here lets tests look for it in pages and frames, and check it is dead after
    logout."""
    db = sqlite3.connect(f"file:{hs.data_dir / 'homeserver.db'}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT device_id, token FROM access_tokens WHERE user_id = ?", (user_id,)
        ).fetchall()
    finally:
        db.close()
    return {device: token for device, token in rows}


def browser_device_token(hs: LocalSynapse, user: RegisteredUser) -> tuple[str, str]:
    """(device ID, token) of the one device the webclient created for `user` by password."""
    devices = matrix_api(hs.url, user.access_token, "GET", f"{CS}/devices")["devices"]
    webclient_devices = [
        d["device_id"] for d in devices if d.get("display_name") == "webclient (browser)"
    ]
    assert len(webclient_devices) == 1, devices
    device_id = webclient_devices[0]
    token = device_tokens(hs, user.user_id).get(device_id)
    assert token, f"no access token for {device_id} in Synapse's database"
    return device_id, token


def whoami_errcode(hs: LocalSynapse, token: str) -> str | None:
    """None when the token works, else the Matrix error code whoami gives."""
    from tests.synapse_fixtures import MatrixAPIError

    try:
        matrix_api(hs.url, token, "GET", f"{CS}/account/whoami")
    except MatrixAPIError as exc:
        assert exc.status == 401, exc
        return exc.errcode
    return None


# -- the browser ----------------------------------------------------------------------------


@contextmanager
def signed_in_without_script(
    browser: Browser, base_url: str, hs: LocalSynapse, user: RegisteredUser, **context: Any
) -> Iterator[Page]:
    """A page of a browser context with JavaScript off, signed in as `user` (what the no-JS
    checks start from); the context closes afterwards."""
    plain = browser.new_context(java_script_enabled=False, **context)
    try:
        page = plain.new_page()
        page.set_default_timeout(15000)
        login_with_password(page, base_url, hs, user)
        yield page
    finally:
        plain.close()


def login_with_password(page: Page, base_url: str, hs: LocalSynapse, user: RegisteredUser) -> None:
    page.goto(f"{base_url}/login/")
    form = page.locator("form#login-form")
    form.locator("input[name=homeserver]").fill(hs.url)
    form.locator("input[name=username]").fill(user.localpart)
    form.locator("input[name=password]").fill(user.password)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{base_url}/rooms/")
    expect(page.locator("#login-error")).to_have_count(0)


def login_with_token(page: Page, base_url: str, hs: LocalSynapse, token: str) -> None:
    page.goto(f"{base_url}/login/")
    page.locator("details.token-login summary").click()
    form = page.locator("form#token-login-form")
    form.locator("input[name=homeserver]").fill(hs.url)
    form.locator("input[name=access_token]").fill(token)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{base_url}/rooms/")


def open_room(page: Page, base_url: str, room_id: str, *, live: bool = True) -> None:
    """Open a room's page. A room joined a moment ago (through the API, while this client
    was signed in) shows as an invitation until the client's sync has seen the join: load
    the page again until it shows the room."""
    deadline = time.monotonic() + 15
    page.goto(f"{base_url}/rooms/{q(room_id)}/")
    while not page.locator("#room").count() and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        page.goto(f"{base_url}/rooms/{q(room_id)}/")
    expect(page.locator("#room")).to_have_attribute("data-room-id", room_id)
    if live:
        wait_live(page)


def wait_live(page: Page, selector: str = "#room", timeout: float = 15000) -> None:
    expect(page.locator(selector)).to_have_attribute("data-live", "true", timeout=timeout)


def event_tile(page: Page, event_id: str):
    return page.locator(f'#timeline article.event[data-event-id="{event_id}"]')


def mark_page(page: Page) -> None:
    """Put a marker on the window: it survives live updates but not a reload/navigation."""
    page.evaluate("window.__noReload = 'still here'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__noReload") == "still here", "the page was reloaded"


def type_and_send(page: Page, text: str) -> None:
    box = page.locator("form#composer textarea[name=body]")
    box.click()
    box.fill(text)
    box.press("Enter")


def confirm_dialog(page: Page) -> None:
    """Answer "yes" in the confirmation a destructive action opens (static/js/confirm.js)."""
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#confirm-dialog-ok").click()


def open_room_menu(page: Page) -> None:
    """Open the room header's menu (a <details>: Integrations, favourites, search…)."""
    menu = page.locator("#room-menu")
    if menu.get_attribute("open") is None:
        menu.locator("> summary").click()
