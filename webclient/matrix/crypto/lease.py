"""Exactly one process drives a device (its sync and its encryption) at a time, cluster-wide.

`DeviceLease(device_key, owner_id)` is a lease with a time to live (`DEVICE_LEASE_TTL`,
5 s by default) that a background task renews every third of it. The same lease makes a
process the device's one owner cluster-wide (`registry.py`): the owner syncs, decrypts and
publishes; `holder` tells the others who that is. It is kept

- in Redis when `REDIS_URL` is set: `SET NX PX` in a script that also issues the fencing
  token (`INCR`); renewal and release are check-and-extend / check-and-delete scripts, so
  only the holder of that very acquisition can renew or release it;
- else in the database when it is PostgreSQL: one row per device (`matrix_crypto_lease`:
  owner, token, expiry) taken and renewed by single atomic statements on the database's
  clock;
- else (the embedded default: SQLite, one process) in this process.

Every acquisition gets a new fencing token, greater than every earlier one of the device:
`max(previous + 1, the server's clock in microseconds)`. The clock part keeps tokens growing
when Redis loses its data (a restart without persistence) or the backend changes, so a store
never refuses its rightful holder for having seen a token from before.

`held` turns False the moment a renewal is refused or the lease's expiry passes (measured
from before the request that set it, on this process's monotonic clock, so never later than
the server's expiry); `on_lost` is called once then. A holder that pauses past its expiry
has lost the lease for good: it must acquire again, with a new token. The crypto store
(`store.CryptoStore`) refuses writes from a holder that is not `held` and, in the database
transaction of the write, from any token older than the newest one that claimed it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from django.conf import settings

logger = logging.getLogger("webclient.matrix.crypto")

# How often a waiting `acquire` tries again, at most (a released or expired lease is taken
# over this soon).
POLL_INTERVAL = 0.2

_OWNER = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def process_owner_id() -> str:
    """This process's owner ID: host, PID and a random part (a restarted process with the
    same PID is another owner)."""
    return _OWNER


def _now_us() -> int:
    return time.time_ns() // 1000


class LeaseBackend:
    """Where leases are kept. `acquire` returns the new fencing token, or None when the
    lease is held by someone else; `renew` returns whether the lease was extended."""

    async def acquire(self, key: str, owner: str, ttl: float) -> int | None:
        raise NotImplementedError

    async def renew(self, key: str, owner: str, token: int, ttl: float) -> bool:
        raise NotImplementedError

    async def release(self, key: str, owner: str, token: int) -> None:
        raise NotImplementedError

    async def holder(self, key: str) -> str | None:
        """The owner ID of whoever holds the lease now (None when nobody does): where the
        device's owner process is found."""
        raise NotImplementedError

    async def close(self) -> None:
        pass


# -- Redis ------------------------------------------------------------------------------------

# KEYS: lease, fence counter. ARGV: owner, ttl ms, fence counter ttl ms.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
local token = redis.call('INCR', KEYS[2])
local now = redis.call('TIME')
local clock = now[1] .. string.format('%06d', tonumber(now[2]))
if token < tonumber(clock) then
    redis.call('SET', KEYS[2], clock)
    token = tonumber(clock)
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. string.format('%d', token), 'PX', ARGV[2])
return token
"""
# KEYS: lease. ARGV: owner#token, ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: lease. ARGV: owner#token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# The fence counter outlives leases by far; losing it is harmless (tokens follow the clock).
FENCE_COUNTER_TTL_MS = 7 * 24 * 3600 * 1000


class RedisLeaseBackend(LeaseBackend):
    def __init__(self, url: str, prefix: str = "webclient:crypto-lease:") -> None:
        import redis.asyncio

        self.url = url
        self.prefix = prefix
        self.redis = redis.asyncio.Redis.from_url(url)
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    def keys(self, key: str) -> tuple[str, str]:
        # One hash tag: both keys of a device are on the same node of a Redis cluster.
        return f"{self.prefix}{{{key}}}:lease", f"{self.prefix}{{{key}}}:fence"

    async def acquire(self, key: str, owner: str, ttl: float) -> int | None:
        token = await self._acquire(
            keys=list(self.keys(key)), args=[owner, int(ttl * 1000), FENCE_COUNTER_TTL_MS]
        )
        return int(token) or None

    async def renew(self, key: str, owner: str, token: int, ttl: float) -> bool:
        lease, _ = self.keys(key)
        return bool(await self._renew(keys=[lease], args=[f"{owner}#{token}", int(ttl * 1000)]))

    async def release(self, key: str, owner: str, token: int) -> None:
        lease, _ = self.keys(key)
        await self._release(keys=[lease], args=[f"{owner}#{token}"])

    async def holder(self, key: str) -> str | None:
        lease, _ = self.keys(key)
        value = await self.redis.get(lease)
        if not value:
            return None
        return value.decode().rpartition("#")[0] or None

    async def close(self) -> None:
        await self.redis.aclose()


# -- PostgreSQL -------------------------------------------------------------------------------

# A new token: one more than the last, or the database's clock in microseconds if greater.
_PG_ACQUIRE = """
INSERT INTO matrix_crypto_lease AS l (device_key, owner, token, expires_at)
VALUES (
    %s, %s, (extract(epoch from clock_timestamp()) * 1000000)::bigint,
    clock_timestamp() + make_interval(secs => %s))
ON CONFLICT (device_key) DO UPDATE SET
    owner = excluded.owner,
    token = greatest(l.token + 1, excluded.token),
    expires_at = excluded.expires_at
WHERE l.expires_at <= clock_timestamp()
RETURNING token
"""
_PG_RENEW = """
UPDATE matrix_crypto_lease SET expires_at = clock_timestamp() + make_interval(secs => %s)
WHERE device_key = %s AND owner = %s AND token = %s AND expires_at > clock_timestamp()
"""
_PG_HOLDER = """
SELECT owner FROM matrix_crypto_lease
WHERE device_key = %s AND owner <> '' AND expires_at > clock_timestamp()
"""
_PG_RELEASE = """
UPDATE matrix_crypto_lease SET owner = '', expires_at = '-infinity'
WHERE device_key = %s AND owner = %s AND token = %s
"""


class PostgresLeaseBackend(LeaseBackend):
    """Leases as rows of `matrix_crypto_lease`, on one async connection (per event loop)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._connection: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> psycopg.AsyncCursor:
        async with self._lock:
            for attempt in (1, 2):
                connection = self._connection
                if connection is None or connection.closed or connection.broken:
                    connection = self._connection = await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True
                    )
                try:
                    return await connection.execute(sql, params)
                except psycopg.OperationalError:
                    if attempt == 1 and connection.broken:
                        continue
                    raise
        raise AssertionError("unreachable")

    async def acquire(self, key: str, owner: str, ttl: float) -> int | None:
        row = await (await self._execute(_PG_ACQUIRE, (key, owner, float(ttl)))).fetchone()
        return int(row[0]) if row else None

    async def renew(self, key: str, owner: str, token: int, ttl: float) -> bool:
        cursor = await self._execute(_PG_RENEW, (float(ttl), key, owner, token))
        return cursor.rowcount == 1

    async def release(self, key: str, owner: str, token: int) -> None:
        await self._execute(_PG_RELEASE, (key, owner, token))

    async def holder(self, key: str) -> str | None:
        row = await (await self._execute(_PG_HOLDER, (key,))).fetchone()
        return str(row[0]) if row else None

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


# -- this process -----------------------------------------------------------------------------


class LocalLeaseBackend(LeaseBackend):
    """Leases in this process's memory, for the one-process embedded default."""

    _leases: dict[str, tuple[str, int, float]] = {}  # key -> owner, token, monotonic expiry
    _tokens: dict[str, int] = {}
    _lock = threading.Lock()

    async def acquire(self, key: str, owner: str, ttl: float) -> int | None:
        with self._lock:
            now = time.monotonic()
            current = self._leases.get(key)
            if current is not None and current[2] > now:
                return None
            token = max(self._tokens.get(key, 0) + 1, _now_us())
            self._tokens[key] = token
            self._leases[key] = (owner, token, now + ttl)
            return token

    async def renew(self, key: str, owner: str, token: int, ttl: float) -> bool:
        with self._lock:
            now = time.monotonic()
            current = self._leases.get(key)
            if current is None or current[:2] != (owner, token) or current[2] <= now:
                return False
            self._leases[key] = (owner, token, now + ttl)
            return True

    async def release(self, key: str, owner: str, token: int) -> None:
        with self._lock:
            current = self._leases.get(key)
            if current is not None and current[:2] == (owner, token):
                del self._leases[key]

    async def holder(self, key: str) -> str | None:
        with self._lock:
            current = self._leases.get(key)
            if current is None or current[2] <= time.monotonic():
                return None
            return current[0]


_backends: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LeaseBackend] = (
    weakref.WeakKeyDictionary()
)


def default_backend() -> LeaseBackend:
    """The configured backend, one per event loop (its connections belong to the loop)."""
    loop = asyncio.get_running_loop()
    backend = _backends.get(loop)
    if backend is None:
        from .store import postgres_conninfo, uses_postgres

        if redis_url := getattr(settings, "REDIS_URL", ""):
            prefix = getattr(settings, "REDIS_KEY_PREFIX", "")
            backend = RedisLeaseBackend(
                redis_url,
                prefix=f"{prefix}:webclient:crypto-lease:" if prefix else "webclient:crypto-lease:",
            )
        elif uses_postgres():
            backend = PostgresLeaseBackend(postgres_conninfo(settings.DATABASES["default"]))
        else:
            backend = LocalLeaseBackend()
        _backends[loop] = backend
    return backend


# -- the lease --------------------------------------------------------------------------------


class DeviceLease:
    """The right to drive one device's encryption. See the module docstring.

    ```
    lease = DeviceLease(device_key(user_id, device_id), on_lost=...)
    if await lease.acquire(wait=15):
        ...  # lease.fencing_token, lease.held
        await lease.release()
    ```
    """

    def __init__(
        self,
        device_key: str,
        owner_id: str | None = None,
        *,
        ttl: float | None = None,
        backend: LeaseBackend | None = None,
        on_lost: Callable[[DeviceLease], Any] | None = None,
    ) -> None:
        self.device_key = device_key
        self.owner_id = owner_id or process_owner_id()
        self.ttl = float(ttl if ttl is not None else settings.CRYPTO_LEASE_TTL)
        if self.ttl <= 0:
            raise ValueError("a lease needs a positive time to live")
        self.on_lost = on_lost
        self._backend = backend
        self._token: int | None = None
        self._deadline = 0.0  # monotonic time the lease expires unless renewed
        self._active = False
        self._renewer: asyncio.Task[None] | None = None
        # The one `DeviceCrypto` that drives the device's olm account under this lease (a
        # lease the registry holds for a device serves every session of it in the process).
        self.claimed_by: object | None = None

    def __repr__(self) -> str:
        state = "held" if self.held else "not held"
        return f"DeviceLease({self.device_key!r}, {self.owner_id!r}, {state}, {self._token})"

    @property
    def backend(self) -> LeaseBackend:
        if self._backend is None:
            self._backend = default_backend()
        return self._backend

    @property
    def fencing_token(self) -> int | None:
        """The token of the latest acquisition (it stays after the lease is lost)."""
        return self._token

    @property
    def held(self) -> bool:
        return self._active and time.monotonic() < self._deadline

    async def acquire(self, wait: float = 0.0) -> bool:
        """Take the lease, waiting up to `wait` seconds for its holder to release it or
        die. True once held (also when it already was)."""
        if self.held:
            return True
        # An earlier acquisition that expired is over for good: only a new token counts.
        self._active = False
        self._stop_renewing()
        give_up = time.monotonic() + max(0.0, wait)
        while True:
            started = time.monotonic()
            try:
                token = await self.backend.acquire(self.device_key, self.owner_id, self.ttl)
            except asyncio.CancelledError:
                raise
            except Exception:
                if time.monotonic() >= give_up:
                    raise
                logger.warning("acquiring the lease of %s failed", self.device_key, exc_info=True)
                token = None
            if token is not None:
                self._token = token
                self._deadline = started + self.ttl
                self._active = True
                self._renewer = asyncio.get_running_loop().create_task(
                    self._renew_loop(), name=f"lease {self.device_key}"
                )
                return True
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(POLL_INTERVAL, self.ttl / 10, remaining))

    async def release(self) -> None:
        """Give the lease up at once (the next waiter gets it without waiting for expiry)."""
        was_active = self._active
        self._active = False
        self._stop_renewing()
        if was_active and self._token is not None:
            try:
                await self.backend.release(self.device_key, self.owner_id, self._token)
            except Exception:
                # It expires by itself.
                logger.warning("releasing the lease of %s failed", self.device_key, exc_info=True)

    def _stop_renewing(self) -> None:
        task, self._renewer = self._renewer, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _renew_loop(self) -> None:
        interval = self.ttl / 3
        next_at = time.monotonic() + interval
        while self._active:
            await asyncio.sleep(max(0.0, min(next_at, self._deadline) - time.monotonic()))
            started = time.monotonic()
            if started >= self._deadline:
                # This process was paused past the expiry: someone may hold it now.
                self._lose("it expired before it was renewed")
                return
            try:
                renewed = await asyncio.wait_for(
                    self.backend.renew(self.device_key, self.owner_id, self._token, self.ttl),
                    timeout=self._deadline - started,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A network hiccup: try again soon, until the expiry.
                logger.warning("renewing the lease of %s failed: %r", self.device_key, exc)
                next_at = time.monotonic() + min(interval, 0.5)
                continue
            if not renewed:
                self._lose("its renewal was refused")
                return
            if time.monotonic() >= self._deadline:
                self._lose("it expired while it was being renewed")
                return
            self._deadline = started + self.ttl
            next_at = started + interval

    def _lose(self, why: str) -> None:
        if not self._active:
            return
        self._active = False
        self._renewer = None
        logger.warning("lost the lease of %s: %s", self.device_key, why)
        if self.on_lost is not None:
            try:
                result = self.on_lost(self)
                if inspect.isawaitable(result):
                    asyncio.ensure_future(result)
            except Exception:
                logger.exception("on_lost of the lease of %s failed", self.device_key)
