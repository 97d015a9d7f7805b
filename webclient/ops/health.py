"""Liveness and readiness, for the process manager and the load balancer.

`/healthz`: the process answers (its event loop turns). `/readyz`: it can serve, because the
database answers, Redis answers (when REDIS_URL is set), the homeserver answers `/versions`
(when MATRIX_HOMESERVER is set), and it is not shutting down. Each check has a short
timeout; the answer is JSON with every check's outcome and time, 200 or 503.

Both are answered by the ASGI wrapper (lifecycle.py) before Django: no session, no CSRF, no
ALLOWED_HOSTS (a probe asks for `127.0.0.1:8001`), no HTTPS redirect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

CHECK_TIMEOUT = 2.0


def _database() -> None:
    from django.db import connections

    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


async def check_database() -> None:
    # A thread of its own: a stuck database must not hold the thread Django's sync code runs
    # in, and the connection is closed in the thread that opened it.
    await sync_to_async(_database, thread_sensitive=False)()


async def check_redis() -> None:
    import redis.asyncio as redis

    host = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
    # A URL, or channels_redis's dict form ({"address": URL, …}: settings.py's).
    client = redis.from_url(
        host["address"] if isinstance(host, dict) else host,
        socket_connect_timeout=CHECK_TIMEOUT,
        socket_timeout=CHECK_TIMEOUT,
    )
    try:
        if not await client.ping():
            raise RuntimeError("no PONG")
    finally:
        await client.aclose()


async def check_homeserver() -> None:
    import aiohttp

    url = settings.MATRIX_HOMESERVER.rstrip("/") + "/_matrix/client/versions"
    timeout = aiohttp.ClientTimeout(total=CHECK_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as client, client.get(url) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        body = await response.json(content_type=None)
        if not isinstance(body, dict) or not isinstance(body.get("versions"), list):
            raise RuntimeError("not a Matrix homeserver")


def checks() -> dict[str, Callable[[], Awaitable[None]]]:
    """What readiness depends on, with this configuration."""
    found: dict[str, Callable[[], Awaitable[None]]] = {"database": check_database}
    if "hosts" in settings.CHANNEL_LAYERS["default"].get("CONFIG", {}):
        found["redis"] = check_redis
    if settings.MATRIX_HOMESERVER:
        found["homeserver"] = check_homeserver
    return found


async def _timed(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT + 0.5)
    except TimeoutError:
        outcome: dict[str, Any] = {"ok": False, "error": f"no answer in {CHECK_TIMEOUT:g} s"}
    except Exception as exc:
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    else:
        outcome = {"ok": True}
    outcome["ms"] = round((time.monotonic() - started) * 1000, 1)
    return outcome


async def readiness(draining: bool) -> tuple[int, dict[str, Any]]:
    """(status, body) of /readyz: every check runs at once."""
    named = checks()
    results = await asyncio.gather(*(_timed(check) for check in named.values()))
    report = dict(zip(named, results, strict=True))
    ready = not draining and all(result["ok"] for result in results)
    body = {"status": "ready" if ready else "not ready", "draining": draining, "checks": report}
    return (200 if ready else 503), body
