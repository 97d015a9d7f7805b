"""A send while the homeserver restarts: asked again with the page's transaction ID until
the homeserver is back, so it is posted once, and the sends queued behind it keep their
order. A private Synapse (this module's), stopped and started again mid-send."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.matrix_helpers import create_room, messages
from webclient.demo.homeserver import LocalSynapse
from webclient.live import publisher
from webclient.matrix import errors
from webclient.matrix.models import Credential
from webclient.matrix.session import MatrixSession


@pytest.fixture(scope="module")
def restartable_synapse(tmp_path_factory) -> LocalSynapse:
    with LocalSynapse(tmp_path_factory.mktemp("synapse-restarts")) as hs:
        yield hs


def session_of(hs: LocalSynapse, user) -> MatrixSession:
    credential = Credential(
        pk=10**9 + int(uuid.uuid4().int % 10**6),
        user_id=user.user_id,
        device_id=user.device_id,
        homeserver=hs.url,
    )
    credential.access_token = user.access_token
    return MatrixSession(
        credential, on_stop=lambda session: None, publisher=publisher.DevicePublisher
    )


def test_unreachable_and_proxy_errors_are_transient():
    assert errors.unreachable("http://hs", "connection refused").is_transient
    assert errors.from_response(None, 502).is_transient
    assert errors.from_response(None, 503).is_transient
    assert not errors.from_response("M_FORBIDDEN", 403).is_transient
    assert not errors.from_response(None, 500).is_transient


@pytest.mark.timeout(120)
async def test_a_send_outlasts_a_homeserver_restart(restartable_synapse):
    hs = restartable_synapse
    alice = hs.register(f"alice-{uuid.uuid4().hex[:8]}", "pw-alice")
    room = await create_room(hs, alice, name="Restarts")
    session = session_of(hs, alice)
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, hs.stop)
        send = asyncio.ensure_future(
            session.send_message(room, {"msgtype": "m.text", "body": "m0"}, "txn0")
        )
        await asyncio.sleep(2)
        assert not send.done(), "the send gave up while the homeserver was away"
        await loop.run_in_executor(None, hs.start)
        event_id = await asyncio.wait_for(send, 60)
        # Asked again with the same transaction ID (a page that did not hear "sent"): the
        # same event, not a second one.
        again = await session.send_message(room, {"msgtype": "m.text", "body": "m0"}, "txn0")
        assert again == event_id
        bodies = [e["content"].get("body") for e in await messages(hs, alice, room)]
        assert bodies.count("m0") == 1, bodies
    finally:
        await session.client.close()
