"""The web client under test, from the integration tests: signing in through its login form,
waiting for its sync loop, reading its pages, and opening websockets the way its pages do.

The client runs in the test's own event loop: `async_client` (pytest-django) posts the forms,
and the websockets are `WebsocketCommunicator`s on the real ASGI application (Origin check,
session cookie, routing). The `sockets` fixture (tests/integration/conftest.py) hands out a
`Sockets` and closes what a test left open."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from channels.testing import WebsocketCommunicator

from webclient.asgi import application
from webclient.matrix import registry
from webclient.matrix.models import Credential
from webclient.matrix.session import MatrixSession

ORIGIN = b"http://localhost"
SYNC = "/_matrix/client/v3/sync"


# -- signing in, and the session's sync loop ---------------------------------------------------


async def sign_in(async_client, hs, user) -> Credential:
    response = await async_client.post(
        "/login/",
        {
            "mode": "password",
            "homeserver": hs.url,
            "username": user.localpart,
            "password": user.password,
        },
    )
    assert response.status_code == 302, response.content
    return await Credential.objects.filter(user_id=user.user_id).alatest("created")


async def synced_session(credential: Credential, timeout: float = 20) -> MatrixSession:
    """The running session of a credential (started by a page or socket a moment ago: taking
    the device's lease comes first), once its first sync is done."""
    session = await eventually(
        lambda: (s := registry.running(credential.pk)) is not None and not s.closed and s,
        timeout=timeout,
        step=0.02,
    )
    await asyncio.wait_for(session.synced.wait(), timeout)
    return session


async def eventually(check: Callable[[], Any], timeout: float = 15, step: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy (then return it)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


def sync_count(hs, user) -> int:
    """How many `/sync` requests of `user` the homeserver has logged (its access log)."""
    return hs.count_requests(SYNC, user.user_id)


# -- reading pages ------------------------------------------------------------------------------


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, f"no #{element_id} in the page"
    return html.unescape(match.group(1)).strip()


def field_value(page: str, element_id: str) -> str:
    match = re.search(rf'<input [^>]*id="{element_id}"[^>]*value="([^"]*)"', page)
    assert match, f"no #{element_id} field"
    return html.unescape(match.group(1))


def asks_first(response, question: str) -> dict[str, list[str]]:
    """A destructive form sent without "I am sure" got the page that asks (`confirm.html`),
    saying `question`; returns the fields that page would send again."""
    assert response.status_code == 200, response.status_code
    page = response.content.decode()
    assert 'id="confirm-page"' in page, page[:500]
    assert question in text_of(page, "confirm-question"), text_of(page, "confirm-question")
    form = re.search(r'<form [^>]*id="confirm-form".*?</form>', page, re.S)
    assert form, "no confirmation form"
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[0]):
        if name != "csrfmiddlewaretoken":
            fields.setdefault(html.unescape(name), []).append(html.unescape(value))
    assert fields.get("confirm") == ["yes"], fields
    return fields


# -- websockets ---------------------------------------------------------------------------------


class Sockets:
    """Opens websockets the way a page does, and closes whatever a test left open."""

    def __init__(self) -> None:
        self.open: list[WebsocketCommunicator] = []

    async def connect(
        self,
        async_client=None,
        *,
        room: str | None = None,
        epoch: str | None = None,
        pos: int | None = None,
        origin: bytes = ORIGIN,
        with_list: bool = False,
    ) -> WebsocketCommunicator:
        params = {}
        if room is not None:
            params["room"] = room
        if epoch is not None:
            params["epoch"] = epoch
        if pos is not None:
            params["pos"] = str(pos)
        if with_list:
            params["list"] = "1"  # a room page beside the room list
        headers = [(b"origin", origin)]
        if async_client is not None:
            cookie = f"sessionid={async_client.cookies['sessionid'].value}"
            headers.append((b"cookie", cookie.encode()))
        path = "/ws/" + (f"?{urlencode(params)}" if params else "")
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        if connected:
            self.open.append(communicator)
        communicator.connected = connected
        return communicator

    async def close(self, communicator: WebsocketCommunicator) -> None:
        self.open.remove(communicator)
        await communicator.disconnect()

    async def close_all(self) -> None:
        for communicator in list(self.open):
            try:
                await self.close(communicator)
            except Exception:  # noqa: S110 - the application may have ended already
                pass


async def receive_until(
    communicator: WebsocketCommunicator,
    predicate: Callable[[dict], bool],
    timeout: float = 20,
    seen: list[dict] | None = None,
) -> dict:
    """The first message matching `predicate`; everything received goes into `seen`."""
    seen = [] if seen is None else seen
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching message within {timeout}s; got {seen}")
        try:
            message = await communicator.receive_json_from(timeout=remaining)
        except TimeoutError:
            raise AssertionError(f"no matching message within {timeout}s; got {seen}") from None
        seen.append(message)
        if predicate(message):
            return message


def events_with(event_id: str) -> Callable[[dict], bool]:
    return lambda m: m["type"] == "events" and any(e["event_id"] == event_id for e in m["events"])
