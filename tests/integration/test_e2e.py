"""End-to-end encryption against the crypto Element runs: a matrix-js-sdk peer (Rust crypto)
in an encrypted room with a user of this client, real Synapse, both directions."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.test_live import eventually, sign_in, synced_session
from webclient.live import actions
from webclient.matrix.api import new_txn_id

db = pytest.mark.django_db(transaction=True)


async def _join_encrypted_room(session, bob, alice_user) -> str:
    room_id = (await bob.call("create_room", encrypted=True, invite=[alice_user.user_id]))[
        "room_id"
    ]
    await eventually(lambda: session.room(room_id) is not None, timeout=20)
    await session.api.join(room_id)
    await eventually(
        lambda: (s := session.room(room_id)) is not None
        and s.membership == "join"
        and s.encrypted,
        timeout=20,
    )
    return room_id


@db
async def test_encrypted_room_both_ways_with_a_js_sdk_peer(
    async_client, synapse, make_user, js_peer
):
    alice = make_user("alice", displayname="Alice")
    bob = await js_peer(make_user("bob", displayname="Bob"), bootstrap=True)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    assert session.crypto is not None and session.crypto.ready, session.crypto.problem
    room_id = await _join_encrypted_room(session, bob, alice)
    # Bob's client shares keys with alice's device once it knows it (after her join).
    await asyncio.sleep(1)

    sent = await bob.call("send_text", room_id=room_id, body="a secret for alice")
    page = await _page_until(async_client, room_id, "a secret for alice")
    assert sent["event_id"] in page
    assert "Waiting for the key" not in page

    # Alice answers from this client: encrypted, and bob's js-sdk decrypts it.
    event_id = await actions.send_text(session, room_id, "and one for bob", new_txn_id())
    seen = await bob.wait_message(room_id, body="and one for bob", sender=alice.user_id, timeout=20)
    assert seen["event_id"] == event_id
    assert seen["encrypted"] and seen["decrypted"] and seen["error"] is None


async def _page_until(async_client, room_id: str, text: str, timeout: float = 20) -> str:
    """The room page, once it shows `text`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        page = (await async_client.get(f"/rooms/{room_id}/")).content.decode()
        if text in page or loop.time() > deadline:
            assert text in page, page[-3000:]
            return page
        await asyncio.sleep(0.5)
