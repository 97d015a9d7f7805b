"""The per-device lease on its two shared backends, Redis and PostgreSQL (127.0.0.1, as in
CI): one owner wins a contest, a dead owner's lease is taken over within its TTL, a stale
holder's writes are refused by the crypto store (fencing), and a release hands over at once.

A "dead" owner is a real child process holding and renewing the lease, then killed with
SIGKILL. Nothing here is skipped: an unreachable service fails the tests, saying which.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
import redis
from nio.crypto import Olm

from webclient.matrix.crypto.lease import (
    DeviceLease,
    LeaseBackend,
    PostgresLeaseBackend,
    RedisLeaseBackend,
)
from webclient.matrix.crypto.store import (
    LeaseNotHeld,
    PostgresDatabase,
    StaleFencingToken,
    StoreKeys,
    device_key,
    open_store,
)

BASE_DIR = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/4"
TTL = 1.5


def require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at 127.0.0.1:6379 is unreachable; the lease tests need it: {exc}")


class Backends:
    """Backends of one kind on this test's event loop, closed at its end."""

    def __init__(self, kind: str, target: str, prefix: str) -> None:
        self.kind, self.target, self.prefix = kind, target, prefix
        self.made: list[LeaseBackend] = []

    def new(self) -> LeaseBackend:
        if self.kind == "redis":
            backend: LeaseBackend = RedisLeaseBackend(self.target, prefix=self.prefix)
        else:
            backend = PostgresLeaseBackend(self.target)
        self.made.append(backend)
        return backend

    def lease(self, key: str, owner: str, **kwargs) -> DeviceLease:
        """A lease with its own backend (its own connection), like another process's."""
        return DeviceLease(key, owner, ttl=kwargs.pop("ttl", TTL), backend=self.new(), **kwargs)

    def forget(self, key: str) -> None:
        """Lose all state of a device's lease, as a Redis restart without persistence would."""
        if self.kind == "redis":
            client = redis.Redis.from_url(self.target)
            client.delete(f"{self.prefix}{{{key}}}:lease", f"{self.prefix}{{{key}}}:fence")
        else:
            with psycopg.connect(self.target, autocommit=True) as conn:
                conn.execute("DELETE FROM matrix_crypto_lease WHERE device_key = %s", (key,))

    def take_away(self, key: str) -> None:
        """Someone else holds the lease now (what a renewal must notice)."""
        if self.kind == "redis":
            redis.Redis.from_url(self.target).set(f"{self.prefix}{{{key}}}:lease", "thief#1")
        else:
            with psycopg.connect(self.target, autocommit=True) as conn:
                conn.execute(
                    "UPDATE matrix_crypto_lease SET owner = 'thief' WHERE device_key = %s", (key,)
                )


@pytest.fixture(params=["redis", "postgresql"])
async def backends(request) -> AsyncIterator[Backends]:
    if request.param == "redis":
        require_redis()
        made = Backends("redis", REDIS_URL, f"test-{uuid.uuid4().hex[:8]}:")
    else:
        made = Backends("postgresql", request.getfixturevalue("crypto_postgres"), "")
    yield made
    for backend in made.made:
        await backend.close()
    if made.kind == "redis":  # fence counters outlive leases by days: leave nothing behind
        client = redis.Redis.from_url(REDIS_URL)
        if leftovers := list(client.scan_iter(match=f"{made.prefix}*")):
            client.delete(*leftovers)


def new_key() -> str:
    return device_key(f"@lease-{uuid.uuid4().hex[:8]}:localhost", "DEVICE")


# -- contention -------------------------------------------------------------------------------


async def test_one_of_many_contenders_wins(backends):
    key = new_key()
    leases = [backends.lease(key, f"owner-{i}") for i in range(6)]
    won = await asyncio.gather(*(lease.acquire() for lease in leases))
    assert won.count(True) == 1
    winner = leases[won.index(True)]
    assert winner.held and winner.fencing_token
    assert [lease.held for lease in leases].count(True) == 1
    # Renewals keep it beyond its TTL; the others keep failing meanwhile.
    await asyncio.sleep(TTL * 1.6)
    assert winner.held
    assert not any(await asyncio.gather(*(lease.acquire() for lease in leases if lease != winner)))
    await winner.release()


# -- a dead owner -----------------------------------------------------------------------------

CHILD = """
import asyncio, sys
from webclient.matrix.crypto.lease import DeviceLease, PostgresLeaseBackend, RedisLeaseBackend

async def main(kind, target, prefix, key, ttl):
    if kind == "redis":
        backend = RedisLeaseBackend(target, prefix=prefix)
    else:
        backend = PostgresLeaseBackend(target)
    lease = DeviceLease(key, "child process", ttl=float(ttl), backend=backend)
    assert await lease.acquire(wait=10)
    print(lease.fencing_token, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_a_dead_owners_lease_is_taken_over_within_its_ttl(backends):
    key = new_key()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        backends.kind,
        backends.target,
        backends.prefix,
        key,
        str(TTL),
        cwd=BASE_DIR,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "webclient.settings"},
    )
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        child_token = int(line)
        survivor = backends.lease(key, "survivor")
        # The child renews: it keeps the lease well past one TTL.
        assert not await survivor.acquire(wait=TTL * 1.5)
        child.send_signal(signal.SIGKILL)
        await child.wait()
        died = time.monotonic()
        assert await survivor.acquire(wait=TTL + 1)
        took = time.monotonic() - died
        assert took <= TTL + 1, took
        assert survivor.fencing_token > child_token
        await survivor.release()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


# -- fencing ----------------------------------------------------------------------------------


class StillBelieves:
    """A holder paused between checking its lease and writing: it still thinks it holds."""

    def __init__(self, token: int) -> None:
        self.fencing_token = token
        self.held = True


async def test_a_stale_holders_writes_are_refused(backends, crypto_postgres):
    user_id, device_id = f"@fenced-{uuid.uuid4().hex[:8]}:localhost", "DEVICE"
    key = device_key(user_id, device_id)
    keys = StoreKeys.derive("fencing")
    database = PostgresDatabase(crypto_postgres)

    first = backends.lease(key, "first")
    assert await first.acquire()
    old_store = open_store(user_id, device_id, lease=first, database=database, keys=keys)
    olm = Olm(user_id, device_id, old_store)  # nio's machine, writing through the store
    old_store.save_secret("m.megolm_backup.v1", b"written by the first holder")
    assert old_store.newest_fence() == first.fencing_token

    # The first holder hangs (no renewals); the second takes over and claims the store.
    first._stop_renewing()
    second = backends.lease(key, "second")
    assert await second.acquire(wait=TTL + 1)
    assert not first.held
    assert second.fencing_token > first.fencing_token
    new_store = open_store(user_id, device_id, lease=second, database=database, keys=keys)
    assert new_store.newest_fence() == second.fencing_token

    # The first holder wakes up: refused locally (its lease is not held) ...
    with pytest.raises(LeaseNotHeld):
        old_store.save_secret("m.megolm_backup.v1", b"late write")
    # ... and by the database, in the write's own transaction, had it not noticed yet.
    old_store.fence = StillBelieves(first.fencing_token)
    with pytest.raises(StaleFencingToken, match="older than"):
        old_store.save_secret("m.megolm_backup.v1", b"late write")
    with pytest.raises(StaleFencingToken):
        olm.create_outbound_group_session("!room:localhost")  # saves its inbound copy
    with pytest.raises(StaleFencingToken):
        olm.save_account()
    with pytest.raises(StaleFencingToken):
        stale = StillBelieves(first.fencing_token)
        open_store(user_id, device_id, lease=stale, database=database, keys=keys)
    assert new_store.load_secret("m.megolm_backup.v1") == b"written by the first holder"
    assert not new_store.load_inbound_group_sessions()._entries
    assert new_store.load_account().identity_keys == olm.account.identity_keys
    new_store.save_secret("m.megolm_backup.v1", b"written by the second holder")
    assert new_store.load_secret("m.megolm_backup.v1") == b"written by the second holder"
    await second.release()
    with pytest.raises(LeaseNotHeld):
        new_store.save_sync_token("s1_2_3")


# -- release, loss, tokens --------------------------------------------------------------------


async def test_release_hands_over_at_once(backends):
    key = new_key()
    holder, waiter = backends.lease(key, "holder"), backends.lease(key, "waiter")
    assert await holder.acquire()
    waiting = asyncio.create_task(waiter.acquire(wait=30))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await holder.release()
    released = time.monotonic()
    assert not holder.held
    assert await waiting
    assert time.monotonic() - released < 0.5  # the polling interval, not the TTL
    assert waiter.fencing_token > holder.fencing_token
    await waiter.release()
    # Released and free: the next one takes it without waiting.
    again = backends.lease(key, "again")
    started = time.monotonic()
    assert await again.acquire()
    assert time.monotonic() - started < 0.5
    await again.release()


async def test_a_lease_taken_away_is_reported_lost(backends):
    key = new_key()
    lost: list[DeviceLease] = []
    lease = backends.lease(key, "holder", on_lost=lost.append)
    assert await lease.acquire()
    backends.take_away(key)
    deadline = time.monotonic() + TTL
    while not lost and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert lost == [lease]
    assert not lease.held
    # A renewal can never give it back: acquiring again waits for the other holder.
    assert not await lease.acquire()


async def test_tokens_keep_growing_when_the_lease_state_is_lost(backends):
    key = new_key()
    tokens: list[int] = []
    for _ in range(3):
        lease = backends.lease(key, "owner")
        assert await lease.acquire()
        tokens.append(lease.fencing_token)
        await lease.release()
        backends.forget(key)  # a Redis restart without persistence, a deleted row
    assert tokens == sorted(tokens) and len(set(tokens)) == 3
    # They follow the server's clock (microseconds), so they stay above any earlier one.
    assert abs(tokens[-1] / 1e6 - time.time()) < 60


async def test_a_paused_holder_loses_the_lease_for_good(backends):
    """A process stuck past its TTL (a blocking call, a long GC pause): `held` is False the
    moment it resumes, `on_lost` is called, and its old acquisition is never renewed."""
    key = new_key()
    lost: list[DeviceLease] = []
    lease = backends.lease(key, "paused", ttl=0.6, on_lost=lost.append)
    assert await lease.acquire()
    token = lease.fencing_token
    time.sleep(0.8)  # noqa: ASYNC251 - blocking the event loop is the point
    assert not lease.held
    await asyncio.sleep(0.05)
    assert lost == [lease]
    other = backends.lease(key, "other")
    assert await other.acquire()
    assert other.fencing_token > token
    await other.release()
