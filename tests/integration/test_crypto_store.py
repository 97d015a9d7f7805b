"""The crypto store under nio's real OlmMachine, against a real Synapse, on both homes: a SQLite
file (the embedded default) and PostgreSQL (a fresh database per run, migrated with
`manage.py migrate`, dropped afterwards).

Alice's nio client keeps its crypto in our store; Bob is a second nio client with nio's own
in-memory store. They exchange olm-encrypted room keys and megolm messages; Alice's client is
closed and reopened from the store, and must come back with the same identity and sessions,
decrypt what she could before, and go on talking. What the store holds must not be readable
without the key.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    MegolmEvent,
    RoomMessageText,
    SyncResponse,
)
from nio.crypto import InboundGroupSession, OlmAccount
from nio.store import SqliteMemoryStore

from tests.synapse_fixtures import matrix_api
from webclient.matrix.crypto.store import (
    CHILD_TABLES,
    CryptoStoreKeyError,
    FileDatabase,
    PostgresDatabase,
    StoreDatabase,
    StoreKeys,
    delete_store,
    open_store,
    store_factory,
    store_file,
)

BASE_DIR = Path(__file__).resolve().parents[2]
ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


@pytest.fixture(params=["file", "postgresql"])
def home(request, tmp_path) -> tuple[str, Callable[[str, str], StoreDatabase]]:
    """(kind, database_for(user_id, device_id)) for each home of a store."""
    if request.param == "file":
        return "file", lambda user_id, device_id: FileDatabase(
            store_file(user_id, device_id, tmp_path / "crypto")
        )
    url = request.getfixturevalue("crypto_postgres")
    return "postgresql", lambda user_id, device_id: PostgresDatabase(url)


def stored_bytes(kind: str, database: StoreDatabase, user_id: str, device_id: str) -> bytes:
    """Everything the store keeps for a device: every value of its rows, and for a file also
    the file's raw bytes (where a long value spans pages, so it is not one piece)."""
    raw = Path(database.location).read_bytes() if kind == "file" else b""

    def dump(cursor) -> bytes:
        parts: list[Any] = []
        account = cursor.one(
            "SELECT * FROM matrix_crypto_account WHERE user_id = %s AND device_id = %s",
            (user_id, device_id),
        )
        parts.extend(account)
        for table in CHILD_TABLES:
            for row in cursor.all(
                f"SELECT * FROM {table} WHERE account_id = %s",  # noqa: S608
                (account[0],),
            ):
                parts.extend(row)
        return b"\0".join(
            p if isinstance(p, bytes) else str(p).encode() for p in parts if p is not None
        )

    return raw + b"\0" + database.run(dump, write=False)


# -- nio clients ------------------------------------------------------------------------------


def ok(response):
    assert not isinstance(response, ErrorResponse), response
    return response


def alice_client(hs_url: str, user, factory) -> AsyncClient:
    """How a session makes its client: our store through the factory, then restore_login."""
    config = AsyncClientConfig(
        encryption_enabled=True, store=factory, store_sync_tokens=False, max_timeouts=0
    )
    client = AsyncClient(
        hs_url, user.user_id, user.device_id, store_path=factory.store_path, config=config
    )
    client.restore_login(user.user_id, user.device_id, user.access_token)
    return client


def bob_client(hs_url: str, user) -> AsyncClient:
    config = AsyncClientConfig(encryption_enabled=True, store=SqliteMemoryStore)
    client = AsyncClient(hs_url, user.user_id, user.device_id, config=config)
    client.restore_login(user.user_id, user.device_id, user.access_token)
    return client


async def sync_until(
    client: AsyncClient, found: Callable[[SyncResponse], Any], what: str, rounds: int = 25
) -> Any:
    """Sync (doing the key chores `sync_forever` would) until `found(response)` is truthy."""
    for _ in range(rounds):
        response = ok(await client.sync(timeout=1000))
        if result := found(response):
            return result
        if client.should_upload_keys:
            ok(await client.keys_upload())
        if client.should_query_keys:
            ok(await client.keys_query())
        if client.outgoing_to_device_messages:
            await client.send_to_device_messages()
    raise AssertionError(f"gave up waiting for {what}")


def text_in(room_id: str, body: str) -> Callable[[SyncResponse], Any]:
    def found(response: SyncResponse) -> Any:
        room = response.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            if isinstance(event, RoomMessageText) and event.body == body:
                return event
        return None

    return found


def send_text(client: AsyncClient, room_id: str, body: str):
    return client.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": body},
        ignore_unverified_devices=True,
    )


def snapshot(client: AsyncClient) -> dict[str, Any]:
    olm = client.olm
    return {
        "identity": olm.account.identity_keys,
        "olm_sessions": {
            (sender_key, session.id)
            for sender_key, sessions in olm.session_store.items()
            for session in sessions
        },
        "room_keys": {(s.room_id, s.sender_key, s.id) for s in olm.inbound_group_store},
        "devices": {
            (d.user_id, d.id, d.ed25519, d.curve25519)
            for user in olm.device_store.users
            for d in olm.device_store.active_user_devices(user)
        },
    }


# -- the test ---------------------------------------------------------------------------------


async def test_olm_state_survives_reopening_and_stays_encrypted(home, synapse, make_user):
    kind, database_for = home
    alice_user, bob_user = make_user("alice"), make_user("bob")
    keys = StoreKeys.derive(f"integration key {uuid.uuid4()}")
    database = database_for(alice_user.user_id, alice_user.device_id)
    alice = alice_client(synapse.url, alice_user, store_factory(database=database, keys=keys))
    bob = bob_client(synapse.url, bob_user)
    try:
        ok(await alice.keys_upload())
        ok(await bob.keys_upload())
        room_id = ok(await alice.room_create(invite=[bob_user.user_id], initial_state=[ENCRYPTION]))
        room_id = room_id.room_id
        ok(await bob.join(room_id))
        await sync_until(bob, lambda r: room_id in r.rooms.join, "bob in the room")
        await sync_until(alice, lambda r: bob.olm and room_id in alice.rooms, "alice's room")

        # Bob's room key reaches alice over olm (an inbound olm session on her side and an
        # inbound megolm session), and she decrypts his message.
        sent = ok(await send_text(bob, room_id, "hello from bob"))
        await sync_until(alice, text_in(room_id, "hello from bob"), "bob's message")
        # Alice answers: her own outbound session (kept as an inbound one) goes to bob.
        ok(await send_text(alice, room_id, "hello from alice"))
        await sync_until(bob, text_in(room_id, "hello from alice"), "alice's message")
        before = snapshot(alice)
        assert before["olm_sessions"] and len(before["room_keys"]) >= 2
        assert (bob_user.user_id, bob_user.device_id) in {d[:2] for d in before["devices"]}
        alice.store.save_secret("m.cross_signing.self_signing", b"PLAINTEXT-SSK-0123456789")
        since = alice.next_batch
    finally:
        await alice.close()
        alice.store.close()

    # -- a new process: the same device from the store ---------------------------------------
    alice = alice_client(synapse.url, alice_user, store_factory(database=database, keys=keys))
    try:
        alice.next_batch = since
        assert snapshot(alice) == before
        assert alice.olm.account.shared and not alice.should_upload_keys
        assert room_id in alice.encrypted_rooms
        # What bob sent before the restart still decrypts, from the restored room key.
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(sent.event_id)}"
        raw = await asyncio.to_thread(matrix_api, synapse.url, alice_user.access_token, "GET", path)
        assert raw["type"] == "m.room.encrypted"
        assert alice.decrypt_event(MegolmEvent.from_dict(raw)).body == "hello from bob"
        # And the conversation goes on: bob's session continues, alice's restored olm session
        # carries her new room key to bob.
        ok(await send_text(bob, room_id, "still there?"))
        await sync_until(alice, text_in(room_id, "still there?"), "bob's next message")
        ok(await send_text(alice, room_id, "yes, after a restart"))
        await sync_until(bob, text_in(room_id, "yes, after a restart"), "alice after restart")
        assert snapshot(alice)["olm_sessions"] == before["olm_sessions"]
        assert alice.store.load_secret("m.cross_signing.self_signing") == (
            b"PLAINTEXT-SSK-0123456789"
        )
        account = alice.olm.account
        room_keys: list[InboundGroupSession] = list(alice.olm.inbound_group_store)
    finally:
        await alice.close()
        alice.store.close()
        await bob.close()

    # -- what lies on disk or in the database ------------------------------------------------
    stored = stored_bytes(kind, database, alice_user.user_id, alice_user.device_id)
    # Pickles are deterministic: ours is there, the same state under nio's default key ""
    # (what DefaultStore writes without a pickle_key) is not.
    assert account.pickle(keys.pickle_key) in stored
    assert account.pickle("") not in stored
    for room_key in room_keys:
        assert room_key.pickle("") not in stored
        assert room_key.export_session(room_key.first_known_index).encode() not in stored
    assert b"PLAINTEXT-SSK" not in stored
    with pytest.raises(Exception):  # noqa: B017 - whatever vodozemac raises
        OlmAccount.from_pickle(account.pickle(keys.pickle_key), "another key")

    # Another key: a clear error, for the store and for a nio client opening it.
    wrong = StoreKeys.derive("not the key it was written with")
    with pytest.raises(CryptoStoreKeyError, match="written with another key"):
        open_store(alice_user.user_id, alice_user.device_id, database=database, keys=wrong)
    with pytest.raises(CryptoStoreKeyError):
        alice_client(synapse.url, alice_user, store_factory(database=database, keys=wrong))

    # Signing out deletes it: the next store of this device starts from nothing.
    delete_store(alice_user.user_id, alice_user.device_id, database=database)
    if kind == "file":
        assert not await asyncio.to_thread(os.path.exists, database.location)
    fresh = open_store(alice_user.user_id, alice_user.device_id, database=database, keys=wrong)
    assert fresh.load_account() is None and not fresh.load_inbound_group_sessions()._entries
    fresh.close()


async def test_postgres_store_is_shared_between_processes(crypto_postgres, synapse, make_user):
    """The same device opened by another process (another connection, and the store and key
    it finds from DATABASE_URL and CRYPTO_STORE_KEY alone) is the same device: a device can
    move between processes and machines."""
    user = make_user("mover")
    keys = StoreKeys.derive("shared between processes")
    first = alice_client(
        synapse.url, user, store_factory(database=PostgresDatabase(crypto_postgres), keys=keys)
    )
    ok(await first.keys_upload())
    identity = first.olm.account.identity_keys
    await first.close()
    script = (
        "import django, json, sys; django.setup()\n"
        "from webclient.matrix.crypto.store import open_store\n"
        "store = open_store(sys.argv[1], sys.argv[2])\n"
        "print(store.database_path, json.dumps(store.load_account().identity_keys))\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": crypto_postgres,
        "CRYPTO_STORE_KEY": "shared between processes",
        "DJANGO_SETTINGS_MODULE": "webclient.settings",
    }
    env.pop("REDIS_URL", None)
    other = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script, user.user_id, user.device_id],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    where, keys_json = other.stdout.split(" ", 1)
    assert where.startswith("postgresql://127.0.0.1/webclient_crypto_")
    assert json.loads(keys_json) == identity
