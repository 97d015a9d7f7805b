"""Helpers of the deployment tests (tests/integration/test_shutdown.py,
tests/browser/test_deploy.py): a fresh PostgreSQL database, signing in over real HTTP (as a
browser does, through nginx or straight to daphne), the metrics of one process, and the
encryption leases in Redis."""

from __future__ import annotations

import re
import ssl
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import psycopg
import redis

PG = "postgresql://postgres@127.0.0.1:5432"
LEASE_KEYS = "webclient:crypto-lease:*:lease"


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}"
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def insecure_tls() -> ssl.SSLContext:
    """For the self-signed certificate of the tests' nginx."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def browser_like_client(**kwargs) -> aiohttp.ClientSession:
    """A client that keeps cookies of IP-address hosts (127.0.0.1), as browsers do."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **kwargs)


async def sign_in(client: aiohttp.ClientSession, base_url: str, hs, user) -> None:
    """The sign-in form, posted as a browser posts it (CSRF token, Origin)."""
    async with client.get(f"{base_url}/login/") as response:
        assert response.status == 200, await response.text()
        page = await response.text()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {
        "csrfmiddlewaretoken": token,
        "mode": "password",
        "homeserver": hs.url,
        "username": user.localpart,
        "password": user.password,
    }
    async with client.post(
        f"{base_url}/login/",
        data=form,
        headers={"Origin": base_url, "Referer": f"{base_url}/login/"},
        allow_redirects=False,
    ) as response:
        assert response.status == 302, (response.status, await response.text())
        assert response.headers["Location"] == "/rooms/"


def metrics_of(base_url: str) -> dict[str, float]:
    """`name{labels}` -> value of one process's /metrics (read from loopback)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def lease_owners(redis_url: str) -> dict[str, str]:
    """Device lease key -> the owner holding it (`host:pid:random`)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return {
            key.decode(): (client.get(key) or b"").decode().split("#", 1)[0]
            for key in client.scan_iter(LEASE_KEYS)
        }
    finally:
        client.close()


def flush_redis(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def wait_for(check, timeout: float = 20, step: float = 0.1):
    """Poll `check` until it returns something truthy (then return it)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)
