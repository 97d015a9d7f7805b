"""The crypto store on its embedded default (a SQLite file per device), with nio's real
OlmMachine, without a homeserver: keys, persistence, fencing, deletion, the nio hookup."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import stat

import pytest
from django.apps import apps
from nio import AsyncClient, AsyncClientConfig, OlmEvent
from nio.crypto import Olm, OlmAccount, OlmDevice, OutgoingKeyRequest, TrustState
from nio.store import MatrixStore

from webclient.matrix import tokens
from webclient.matrix.crypto import store as crypto
from webclient.matrix.crypto.lease import DeviceLease, LocalLeaseBackend
from webclient.matrix.crypto.store import (
    CryptoStore,
    CryptoStoreError,
    CryptoStoreKeyError,
    FileDatabase,
    LeaseNotHeld,
    StaleFencingToken,
    StoreDeleted,
    StoreKeys,
    decrypt_secret,
    encrypt_secret,
    open_store,
    store_factory,
)

ALICE, BOB = "@alice:example.org", "@bob:example.org"
ROOM = "!room:example.org"


class FakeFence:
    def __init__(self, token: int, held: bool = True) -> None:
        self.fencing_token = token
        self.held = held


@pytest.fixture
def store_dir(settings, tmp_path):
    settings.CRYPTO_STORE_DIR = tmp_path / "crypto"
    return settings.CRYPTO_STORE_DIR


def file_store(path, user=ALICE, device="ALICEDEV", **kwargs) -> CryptoStore:
    return CryptoStore(user, device, "", backend=FileDatabase(path), **kwargs)


# -- keys -------------------------------------------------------------------------------------


def test_keys_are_derived_from_settings_with_their_own_info(settings):
    settings.CRYPTO_STORE_KEY = ""
    derived = crypto.store_keys()
    assert derived == StoreKeys.derive(settings.SECRET_KEY)
    # Not the access-token key, not a constant, and not the secret key itself.
    assert derived.pickle_key.encode() != tokens.fernet()._signing_key
    assert settings.SECRET_KEY not in (derived.pickle_key, derived.check)
    assert derived.secret_key != StoreKeys.derive("another secret").secret_key
    assert len({derived.pickle_key, derived.secret_key.hex(), derived.check}) == 3

    settings.CRYPTO_STORE_KEY = "a key of its own, from the environment"
    own = crypto.store_keys()
    assert own == StoreKeys.derive("a key of its own, from the environment")
    assert own.pickle_key != derived.pickle_key
    assert "pickle" not in repr(own) and own.pickle_key not in repr(own)


def test_settings_default_is_a_derived_key_and_a_dir_in_the_data_dir(settings):
    from webclient import settings as module

    assert module.CRYPTO_STORE_KEY == ""
    assert module.CRYPTO_STORE_DIR == module.DATA_DIR / "crypto"
    assert module.CRYPTO_LEASE_TTL == module.DEVICE_LEASE_TTL == 5.0


def test_secrets_are_sealed_and_bound_to_their_context():
    keys = StoreKeys.derive("k1")
    sealed = encrypt_secret(b"self-signing private key", "dev|ssk", keys=keys)
    assert b"self-signing" not in sealed.encode()
    assert sealed != encrypt_secret(b"self-signing private key", "dev|ssk", keys=keys)
    assert decrypt_secret(sealed, "dev|ssk", keys=keys) == b"self-signing private key"
    with pytest.raises(CryptoStoreKeyError, match="another CRYPTO_STORE_KEY"):
        decrypt_secret(sealed, "dev|ssk", keys=StoreKeys.derive("k2"))
    with pytest.raises(CryptoStoreKeyError):
        decrypt_secret(sealed, "other-dev|ssk", keys=keys)
    with pytest.raises(CryptoStoreError):
        decrypt_secret("not a secret", keys=keys)


def test_secret_helpers_default_to_the_settings_key(settings):
    settings.CRYPTO_STORE_KEY = "one"
    sealed = encrypt_secret(b"backup key")
    assert decrypt_secret(sealed) == b"backup key"
    settings.CRYPTO_STORE_KEY = "two"
    with pytest.raises(CryptoStoreKeyError):
        decrypt_secret(sealed)


# -- the shape of the store -------------------------------------------------------------------


def test_every_method_of_nios_store_is_overridden():
    """A method left to nio's MatrixStore would run peewee on a database that is not there."""
    for name, member in inspect.getmembers(MatrixStore, inspect.isfunction):
        if name.startswith("__") and name != "__post_init__":
            continue
        assert getattr(CryptoStore, name) is not member, name


def test_file_schema_matches_the_models(tmp_path):
    """The file and PostgreSQL (the migrations) have the same tables and columns."""
    file_store(tmp_path / "s.sqlite3").close()
    connection = sqlite3.connect(tmp_path / "s.sqlite3")
    in_file = {
        table: {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    connection.close()
    in_models = {
        model._meta.db_table: {field.column for field in model._meta.concrete_fields}
        for model in apps.get_app_config("matrix").get_models()
        if model._meta.db_table.startswith("matrix_crypto_")
        and model._meta.db_table != "matrix_crypto_lease"
    }
    assert in_file == in_models


def test_file_is_private_and_named_by_a_hash(store_dir):
    store = open_store(ALICE, "ALICEDEV")
    path = crypto.store_file(ALICE, "ALICEDEV")
    assert path.parent == store_dir and path.exists()
    assert "alice" not in path.name and "ALICEDEV" not in path.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store_dir.stat().st_mode) == 0o700
    store.close()


def test_a_newer_file_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite3"
    file_store(path).close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(CryptoStoreError, match="newer version"):
        file_store(path)


# -- nio's OlmMachine through the store -------------------------------------------------------


def test_olm_machines_state_survives_a_restart(tmp_path):
    a_path, b_path = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    alice = Olm(ALICE, "ALICEDEV", file_store(a_path))
    bob = Olm(BOB, "BOBDEV", file_store(b_path, BOB, "BOBDEV"))
    alice_keys, bob_keys = alice.account.identity_keys, bob.account.identity_keys

    # Alice claims one of bob's one-time keys and sends him her room key over olm.
    bob.account.generate_one_time_keys(1)
    one_time_key = next(iter(bob.account.one_time_keys["curve25519"].values()))
    bob.account.mark_keys_as_published()
    bob.save_account()
    session = alice.create_session(one_time_key, bob_keys["curve25519"])
    alice.create_outbound_group_session(ROOM)
    outbound = alice.outbound_group_sessions[ROOM]
    bob_device = OlmDevice(BOB, "BOBDEV", dict(bob_keys), display_name="Bob's phone")
    room_key = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "room_id": ROOM,
        "session_id": outbound.id,
        "session_key": outbound.session_key,
    }
    to_bob = alice._olm_encrypt(session, bob_device, "m.room_key", room_key)
    bob.handle_to_device_event(
        OlmEvent.from_dict({"sender": ALICE, "type": "m.room.encrypted", "content": to_bob})
    )
    assert [s.id for s in bob.inbound_group_store] == [outbound.id]
    # nio keeps the inbound copy of its own outbound session.
    assert [s.id for s in alice.inbound_group_store] == [outbound.id]
    bob_device = OlmDevice(BOB, "BOBDEV", dict(bob_keys), display_name="Bob's phone")
    alice.store.save_device_keys({BOB: {"BOBDEV": bob_device}})
    alice.verify_device(bob_device)
    alice.store.save_encrypted_rooms([ROOM])
    alice.store.add_outgoing_key_request(
        OutgoingKeyRequest("req1", "sess", ROOM, "m.megolm.v1.aes-sha2")
    )
    alice.store.save_sync_token("s72594_4483_1934")
    alice.store.close()
    bob.store.close()

    alice2 = Olm(ALICE, "ALICEDEV", file_store(a_path))
    bob2 = Olm(BOB, "BOBDEV", file_store(b_path, BOB, "BOBDEV"))
    assert alice2.account.identity_keys == alice_keys
    assert bob2.account.identity_keys == bob_keys
    assert [s.id for s in alice2.session_store] == [session.id]
    assert [s.id for s in bob2.session_store] == [session.id]
    for olm in (alice2, bob2):
        assert [(s.id, s.room_id, s.ed25519) for s in olm.inbound_group_store] == [
            (outbound.id, ROOM, alice_keys["ed25519"])
        ]
    # The ratchets were stored: the restored sessions go on talking.
    alice2.rotate_outbound_group_session(ROOM)
    rotated = alice2.outbound_group_sessions[ROOM]
    restored = alice2.session_store.get(bob_keys["curve25519"])
    again = alice2._olm_encrypt(
        restored,
        bob_device,
        "m.room_key",
        {**room_key, "session_id": rotated.id, "session_key": rotated.session_key},
    )
    bob2.handle_to_device_event(
        OlmEvent.from_dict({"sender": ALICE, "type": "m.room.encrypted", "content": again})
    )
    assert {s.id for s in bob2.inbound_group_store} == {outbound.id, rotated.id}
    assert [s.id for s in bob2.session_store] == [session.id]
    device = alice2.device_store[BOB]["BOBDEV"]
    assert device.keys == bob_keys and device.display_name == "Bob's phone"
    assert device.trust_state == TrustState.verified and alice2.is_device_verified(device)
    assert alice2.store.load_encrypted_rooms() == {ROOM}
    assert list(alice2.outgoing_key_requests) == ["req1"]
    assert alice2.store.load_sync_token() == "s72594_4483_1934"


def test_trust_changes_follow_nios_contract(tmp_path):
    store = file_store(tmp_path / "s.sqlite3")
    Olm(ALICE, "ALICEDEV", store)
    devices = [
        OlmDevice(BOB, f"D{i}", {"ed25519": f"e{i}", "curve25519": f"c{i}"}) for i in range(3)
    ]
    store.save_device_keys({BOB: {d.id: d for d in devices}})
    one, two, three = devices
    assert store.verify_device(one) and not store.verify_device(one)
    assert store.blacklist_device(one) and store.is_device_blacklisted(one)
    assert not store.is_device_verified(one)
    assert not store.unverify_device(one)
    assert store.unblacklist_device(one) and one.trust_state == TrustState.unset
    store.ignore_devices([two, three])
    assert store.is_device_ignored(two) and store.is_device_ignored(three)
    assert store.unignore_device(two) and not store.unignore_device(two)
    assert {d.id: d.trust_state for d in store.load_device_keys().active_user_devices(BOB)} == {
        "D0": TrustState.unset,
        "D1": TrustState.unset,
        "D2": TrustState.ignored,
    }
    # New keys from a key query keep the trust already given.
    store.save_device_keys({BOB: {"D2": OlmDevice(BOB, "D2", three.keys, display_name="new")}})
    assert store.is_device_ignored(three)


def test_pickles_are_encrypted_with_the_store_key(tmp_path):
    path = tmp_path / "s.sqlite3"
    keys = StoreKeys.derive("the right key")
    olm = Olm(ALICE, "ALICEDEV", file_store(path, keys=keys))
    olm.create_outbound_group_session(ROOM)
    olm.store.save_secret("m.cross_signing.self_signing", b"PLAINTEXT-SELF-SIGNING-KEY")
    olm.store.close()
    on_disk = path.read_bytes()
    # vodozemac pickles are deterministic: the same state pickled with nio's default key ""
    # (what DefaultStore writes when no pickle_key is given) is not there, ours is.
    assert olm.account.pickle("") not in on_disk
    assert olm.account.pickle(keys.pickle_key) in on_disk
    room_key = next(iter(olm.inbound_group_store))
    assert room_key.pickle("") not in on_disk
    assert room_key.export_session(0).encode() not in on_disk
    assert b"PLAINTEXT-SELF-SIGNING-KEY" not in on_disk
    stored = sqlite3.connect(path).execute("SELECT account FROM matrix_crypto_account").fetchone()
    with pytest.raises(Exception):  # noqa: B017 - whatever vodozemac raises
        OlmAccount.from_pickle(stored[0], "")

    # Another key: a clear error when the store is opened, before nio sees anything.
    with pytest.raises(CryptoStoreKeyError, match="written with another key"):
        file_store(path, keys=StoreKeys.derive("a wrong key"))
    reopened = file_store(path, keys=keys)
    assert reopened.load_account().identity_keys == olm.account.identity_keys
    assert reopened.load_secret("m.cross_signing.self_signing") == b"PLAINTEXT-SELF-SIGNING-KEY"
    assert reopened.load_secret("m.megolm_backup.v1") is None
    assert reopened.delete_secret("m.cross_signing.self_signing")
    assert reopened.load_secret("m.cross_signing.self_signing") is None


def test_a_damaged_pickle_is_an_error_not_a_new_account(tmp_path):
    path = tmp_path / "s.sqlite3"
    Olm(ALICE, "ALICEDEV", file_store(path)).store.close()
    connection = sqlite3.connect(path)
    connection.execute("UPDATE matrix_crypto_account SET account = X'00112233'")
    connection.commit()
    connection.close()
    with pytest.raises(CryptoStoreError, match="cannot read a pickled olm account"):
        Olm(ALICE, "ALICEDEV", file_store(path))


# -- fencing ----------------------------------------------------------------------------------


def test_writes_are_fenced(tmp_path):
    path = tmp_path / "s.sqlite3"
    old_lease = FakeFence(100)
    old = Olm(ALICE, "ALICEDEV", file_store(path, fence=old_lease)).store
    account = old.load_account()
    old.save_account(account)

    new = file_store(path, fence=FakeFence(200))  # a newer holder claims the store
    assert new.newest_fence() == 200
    with pytest.raises(StaleFencingToken, match="fencing token 100 is older than 200"):
        old.save_account(account)
    with pytest.raises(StaleFencingToken):
        old.save_secret("x", b"y")
    new.save_account(account)
    assert new.load_secret("x") is None

    old_lease.held = False  # expired locally: refused before any database access
    with pytest.raises(LeaseNotHeld):
        old.save_sync_token("t")
    with pytest.raises(StaleFencingToken, match="older than 200"):
        file_store(path, fence=FakeFence(150))
    with pytest.raises(LeaseNotHeld):
        file_store(path, fence=FakeFence(300, held=False))


# -- deletion ---------------------------------------------------------------------------------


def test_delete_store_removes_the_file(store_dir):
    store = open_store(ALICE, "ALICEDEV")
    path = crypto.store_file(ALICE, "ALICEDEV")
    store.close()
    crypto.delete_store(ALICE, "ALICEDEV")
    assert not path.exists()
    crypto.delete_store(ALICE, "ALICEDEV")  # nothing there: fine


def test_a_store_deleted_while_open_refuses_writes(store_dir):
    """Sign-out while the device's session still runs: its writes fail loudly instead of
    going to a file nobody will read (the PostgreSQL store finds its rows gone)."""
    running = open_store(ALICE, "ALICEDEV")
    Olm(ALICE, "ALICEDEV", running)
    crypto.delete_store(ALICE, "ALICEDEV")
    with pytest.raises(StoreDeleted, match="was deleted"):
        running.save_sync_token("t")
    with pytest.raises(StoreDeleted):
        running.load_account()
    running.close()
    # Signing in again later starts a new store.
    again = open_store(ALICE, "ALICEDEV")
    assert again.load_account() is None
    again.close()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_credential_deletes_its_store(store_dir, django_user_model):
    from webclient.matrix.models import Credential

    owner = django_user_model.objects.create(username="someone")
    other_owner = django_user_model.objects.create(username="someone-else")

    def credential(user, device, owner=owner):
        made = Credential(owner=owner, user_id=user, device_id=device, homeserver="https://hs")
        made.access_token = "token"
        made.save()
        return made

    mine, theirs = credential(ALICE, "ALICEDEV"), credential(BOB, "BOBDEV")
    # The same device pasted by two people: one store, kept while either uses it.
    shared_a = credential(ALICE, "SHARED")
    shared_b = credential(ALICE, "SHARED", other_owner)
    for user, device in [(ALICE, "ALICEDEV"), (BOB, "BOBDEV"), (ALICE, "SHARED")]:
        open_store(user, device).close()

    Credential.objects.filter(pk=mine.pk).delete()
    assert not crypto.store_file(ALICE, "ALICEDEV").exists()
    assert crypto.store_file(BOB, "BOBDEV").exists()
    assert theirs.pk

    shared_a.delete()
    assert crypto.store_file(ALICE, "SHARED").exists()
    other_owner.delete()  # cascades to shared_b
    assert not Credential.objects.filter(pk=shared_b.pk).exists()
    assert not crypto.store_file(ALICE, "SHARED").exists()


# -- nio's client with this store -------------------------------------------------------------


async def test_nio_client_opens_the_store_through_the_factory(store_dir):
    lease = DeviceLease("@alice:example.org|ALICEDEV", "me", ttl=5, backend=LocalLeaseBackend())
    assert await lease.acquire()
    factory = store_factory(lease=lease)
    config = AsyncClientConfig(encryption_enabled=True, store=factory, store_sync_tokens=True)
    client = AsyncClient(
        "https://hs", ALICE, "ALICEDEV", store_path=factory.store_path, config=config
    )
    client.restore_login(ALICE, "ALICEDEV", "token")
    assert isinstance(client.store, CryptoStore) and client.olm is not None
    assert client.store.newest_fence() == lease.fencing_token
    assert crypto.store_file(ALICE, "ALICEDEV").exists()
    identity = client.olm.account.identity_keys
    await client.close()
    client.store.close()
    await lease.release()

    assert await lease.acquire()
    factory = store_factory(lease=lease)
    config = AsyncClientConfig(encryption_enabled=True, store=factory)
    again = AsyncClient(
        "https://hs", ALICE, "ALICEDEV", store_path=factory.store_path, config=config
    )
    again.restore_login(ALICE, "ALICEDEV", "token")
    assert again.olm.account.identity_keys == identity
    await lease.release()
    with pytest.raises(LeaseNotHeld):
        again.olm.save_account()
    again.store.close()


# -- the process-local lease (embedded default) -----------------------------------------------


async def test_local_lease_contention_takeover_and_release():
    backend = LocalLeaseBackend()
    lost = []
    first = DeviceLease("dev-local", "first", ttl=0.6, backend=backend, on_lost=lost.append)
    second = DeviceLease("dev-local", "second", ttl=0.6, backend=backend)
    assert await first.acquire() and not await second.acquire()
    await asyncio.sleep(0.8)  # renewed every ttl/3: still held
    assert first.held and not await second.acquire()

    await first.release()
    assert not first.held
    assert await second.acquire()
    assert second.fencing_token > first.fencing_token

    # The holder stops renewing (a process that hangs): held turns False at expiry, and the
    # other takes over.
    second._stop_renewing()
    assert await first.acquire(wait=2)
    assert not second.held
    assert first.fencing_token > second.fencing_token
    await first.release()
    assert lost == []


async def test_local_lease_reports_a_refused_renewal():
    backend = LocalLeaseBackend()
    lost = []
    lease = DeviceLease("dev-refused", "me", ttl=0.3, backend=backend, on_lost=lost.append)
    assert await lease.acquire()
    backend._leases.pop("dev-refused")  # taken away behind its back
    await asyncio.sleep(0.3)
    assert lost == [lease] and not lease.held


async def test_the_lease_backend_follows_the_settings(settings, monkeypatch):
    from webclient.matrix.crypto import lease as lease_module

    settings.REDIS_URL = ""
    assert isinstance(lease_module.default_backend(), LocalLeaseBackend)
    assert lease_module.default_backend() is lease_module.default_backend()  # one per loop
    lease_module._backends.clear()
    monkeypatch.setattr(crypto, "uses_postgres", lambda: True)
    assert isinstance(lease_module.default_backend(), lease_module.PostgresLeaseBackend)
    lease_module._backends.clear()
    settings.REDIS_URL = "redis://127.0.0.1:6379/9"
    backend = lease_module.default_backend()
    assert isinstance(backend, lease_module.RedisLeaseBackend)  # Redis wins over PostgreSQL
    await backend.close()
    lease_module._backends.clear()
    assert DeviceLease("k").ttl == settings.CRYPTO_LEASE_TTL
    assert DeviceLease("k").owner_id == lease_module.process_owner_id()


def test_postgres_conninfo_from_django_settings():
    conninfo = crypto.postgres_conninfo(
        {
            "NAME": "webclient",
            "USER": "app",
            "PASSWORD": "pw",
            "HOST": "db.internal",
            "PORT": 5433,
            "OPTIONS": {"sslmode": "require", "server_side_binding": True},
        }
    )
    assert crypto.psycopg.conninfo.conninfo_to_dict(conninfo) == {
        "dbname": "webclient",
        "user": "app",
        "password": "pw",
        "host": "db.internal",
        "port": "5433",
        "sslmode": "require",
    }
