"""One sync, many screens: every viewer of one kiosk link shares its device's one sync loop.

A kiosk link reads through its own display device. Here that device belongs to a dedicated
Matrix account whose *only* device it is, so every `/sync` Synapse logs for that account is
the kiosk device's sync stream (the homeserver's access log is the witness, as in
test_live.py). Screens are `WebsocketCommunicator`s on the real ASGI application, in the same
event loop as the sync loop they attach to.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlencode

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from tests.client_helpers import (
    ORIGIN,
    Sockets,
    eventually,
    receive_until,
    sync_count,
    synced_session,
)
from tests.matrix_helpers import api, send, shared_room
from tests.synapse_fixtures import MatrixAPIError
from webclient.asgi import application
from webclient.demo.homeserver import LocalSynapse, RegisteredUser
from webclient.matrix import registry
from webclient.matrix.models import Credential, KioskLink
from webclient.rooms.kiosk import revoke

db = pytest.mark.django_db(transaction=True)

SCREENS = 50
MESSAGES = 10
# Syncs a run may cost beyond one per message: a long-poll that times out while idle, or one
# that returns for something other than our messages (receipts, presence). Far below the
# ~SCREENS x MESSAGES a sync loop per screen would cost.
SYNC_SLACK = 3


class KioskSockets(Sockets):
    """`Sockets`, plus screens that connect with a kiosk token instead of a session cookie."""

    async def connect_kiosk(
        self, token: str, *, epoch: str | None = None, pos: int = -1
    ) -> WebsocketCommunicator:
        params = {"kiosk": token, "pos": str(pos)}
        if epoch is not None:
            params["epoch"] = epoch
        communicator = WebsocketCommunicator(
            application, f"/ws/?{urlencode(params)}", headers=[(b"origin", ORIGIN)]
        )
        connected, _ = await communicator.connect(timeout=10)
        assert connected, "the kiosk socket was refused"
        self.open.append(communicator)
        hello = await communicator.receive_json_from(timeout=10)
        assert hello["type"] == "hello", hello
        return communicator


@pytest.fixture
async def screens():
    opened = KioskSockets()
    yield opened
    await opened.close_all()


async def devices_of(hs: LocalSynapse, user: RegisteredUser) -> set[str]:
    answer = await api(hs, user.access_token, "GET", "/devices")
    return {device["device_id"] for device in answer["devices"]}


async def kiosk_for_room(
    hs: LocalSynapse, make_user, room_owner
) -> tuple[KioskLink, RegisteredUser]:
    """A kiosk link for one room of `room_owner`, reading through a display account whose only
    device is the link's (its registration device is logged out)."""
    registered = make_user("screen", displayname="Lobby screen")
    room_id = await shared_room(hs, room_owner, registered, name="Lobby")
    device = await asyncio.to_thread(hs.login, registered.user_id, registered.password)
    await api(hs, registered.access_token, "POST", "/logout", {})
    assert await devices_of(hs, device) == {device.device_id}

    owner = await get_user_model().objects.acreate(username=f"owner-{uuid.uuid4().hex[:10]}")
    credential = Credential(
        owner=owner,
        user_id=device.user_id,
        device_id=device.device_id,
        homeserver=hs.url,
        owns_device=True,
    )
    credential.access_token = device.access_token
    await credential.asave()
    link = await KioskLink.objects.acreate(
        owner=owner, credential=credential, name="lobby", room_ids=[room_id]
    )
    return link, device


async def collect(communicator: WebsocketCommunicator, into: list[dict]) -> None:
    """Everything a screen receives, until cancelled. (No receive timeout: a timed-out
    receive cancels the application under test.)"""
    while True:
        into.append(await communicator.receive_json_from(timeout=3600))


def event_ids(received: list[dict]) -> list[str]:
    """Every event ID in every `events` frame, repeats included."""
    return [e["event_id"] for m in received if m["type"] == "events" for e in m["events"]]


def html_of(received: list[dict], event_id: str) -> str:
    return next(
        e["html"]
        for m in received
        if m["type"] == "events"
        for e in m["events"]
        if e["event_id"] == event_id
    )


async def send_paced(hs, sender, room_id: str, inboxes: list[list[dict]], label: str) -> list[str]:
    """Send MESSAGES messages, each once every screen has the one before: one sync per message
    at the least, so a count of syncs means something."""
    sent = []
    for n in range(MESSAGES):
        event_id = await send(hs, sender, room_id, f"{label} {n}")
        sent.append(event_id)
        await eventually(
            lambda event_id=event_id: all(event_id in event_ids(inbox) for inbox in inboxes),
            timeout=20,
            step=0.02,
        )
    return sent


@db
async def test_many_screens_share_one_sync_stream(synapse, make_user, screens, settings):
    settings.MATRIX_SYNC_TIMEOUT_MS = 10_000
    bob = make_user("bob", displayname="Bob Builder")
    link, device = await kiosk_for_room(synapse, make_user, bob)
    room_id = link.room_ids[0]
    token = link.token

    # One screen: what the device's sync stream costs for MESSAGES messages.
    first = await screens.connect_kiosk(token)
    session = await synced_session(link.credential)
    inboxes: list[list[dict]] = [[]]
    collectors = [asyncio.create_task(collect(first, inboxes[0]))]
    try:
        await asyncio.sleep(1)  # let the first sync's successors settle into a long-poll
        before = sync_count(synapse, device)
        alone = await send_paced(synapse, bob, room_id, inboxes, "alone")
        await asyncio.sleep(0.5)  # the access log line follows the response
        one_screen = sync_count(synapse, device) - before

        # SCREENS screens on the same link: they attach to the same session.
        for _ in range(SCREENS - 1):
            communicator = await screens.connect_kiosk(token)
            inboxes.append([])
            collectors.append(asyncio.create_task(collect(communicator, inboxes[-1])))
        assert registry.running(link.credential.pk) is session
        assert session.viewers == SCREENS

        await asyncio.sleep(1)
        before = sync_count(synapse, device)
        together = await send_paced(synapse, bob, room_id, inboxes, "together")
        await asyncio.sleep(1.5)  # time for a duplicate to show up, and for the log line
        many_screens = sync_count(synapse, device) - before
    finally:
        for task in collectors:
            task.cancel()
        await asyncio.gather(*collectors, return_exceptions=True)

    # Every screen got every event of the shared run exactly once, as the same bytes.
    for n, inbox in enumerate(inboxes):
        seen = event_ids(inbox)
        counts = {event_id: seen.count(event_id) for event_id in together}
        assert counts == dict.fromkeys(together, 1), f"screen {n}: {counts}"
    assert all(event_ids(inboxes[0]).count(event_id) == 1 for event_id in alone)
    for event_id in together:
        assert len({html_of(inbox, event_id) for inbox in inboxes}) == 1

    # The homeserver served one sync stream: about one /sync per message, for one screen as
    # for fifty (a loop per screen would be ~SCREENS x MESSAGES).
    assert MESSAGES <= one_screen <= MESSAGES + SYNC_SLACK, one_screen
    assert MESSAGES <= many_screens <= MESSAGES + SYNC_SLACK, (one_screen, many_screens)
    assert many_screens <= one_screen + SYNC_SLACK, (one_screen, many_screens)
    # ... from the one device: no screen signed anything else in.
    assert await devices_of(synapse, device) == {device.device_id}


@db
async def test_revoked_link_tells_every_screen(async_client, synapse, make_user, screens):
    bob = make_user("bob")
    link, device = await kiosk_for_room(synapse, make_user, bob)
    token = link.token
    attached = [await screens.connect_kiosk(token) for _ in range(5)]
    session = await synced_session(link.credential)
    assert session.viewers == len(attached)

    # They are live before the link is revoked.
    event_id = await send(synapse, bob, link.room_ids[0], "before the end")
    for communicator in attached:
        await receive_until(
            communicator,
            lambda m: m["type"] == "events" and event_id in {e["event_id"] for e in m["events"]},
        )

    await revoke(await KioskLink.from_token(token))

    for communicator in attached:
        message = await receive_until(communicator, lambda m: m["type"] in ("revoked", "logout"))
        assert message == {"type": "revoked"}
        closed = await communicator.receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": 4401}
    assert session.closed
    assert registry.running(link.credential.pk) is None
    assert not await KioskLink.objects.filter(pk=link.pk).aexists()
    assert not await Credential.objects.filter(pk=link.credential.pk).aexists()
    # The display device is signed out on the homeserver.
    with pytest.raises(MatrixAPIError) as refused:
        await api(synapse, device.access_token, "GET", "/account/whoami")
    assert refused.value.status == 401

    # A screen that connects afterwards hears the same, and the page says so.
    late = await screens.connect_kiosk(token)
    assert await late.receive_json_from(timeout=10) == {"type": "revoked"}
    assert await late.receive_output(timeout=10) == {"type": "websocket.close", "code": 4401}
    response = await async_client.get(f"/kiosk/{token}/")
    assert response.status_code == 404
