"""Several daphne processes of the client on one PostgreSQL database and one Redis, as the
scaled-out configuration runs (DATABASE_URL, REDIS_URL), and a browserless visitor of them.

The PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379) that this
machine and CI run are required: an unreachable one fails the test, saying which, and is
never skipped. Each `Cluster` has its own database and its own Redis key prefix, so clusters
of concurrent test runs never hear each other."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import psycopg
import pytest
import redis

from tests.server import WebclientServer, start_webclient, stop_webclient

PG = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/5"
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def require_services() -> None:
    """PostgreSQL and Redis answer, or the test fails saying which does not."""
    try:
        psycopg.connect(f"{PG}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is unreachable; cluster tests need it: {exc}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at 127.0.0.1:6379 is unreachable; cluster tests need it: {exc}")


@dataclass
class Cluster:
    """Named daphne processes ("a", "b", …) sharing a database, a Redis prefix and keys."""

    homeserver: str
    base_dir: Path
    database: str
    env: dict[str, str]
    servers: dict[str, WebclientServer] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, base_dir: Path, homeserver: str, **extra_env: str) -> Cluster:
        require_services()
        name = f"webclient_cluster_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        env = {
            "DATABASE_URL": f"{PG}/{name}",
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": f"test-{uuid.uuid4().hex[:10]}",
            # Every process must agree on the keys that sign sessions and encrypt tokens.
            "SECRET_KEY": uuid.uuid4().hex * 2,
            "MATRIX_SESSION_IDLE_SECONDS": "60",
            **extra_env,
        }
        return cls(homeserver, base_dir, name, env)

    def start(self, name: str, **extra_env: str) -> WebclientServer:
        """Start (or start again, on its old port) the process called `name`."""
        data_dir = self.base_dir / name
        data_dir.mkdir(parents=True, exist_ok=True)
        server = start_webclient(
            data_dir, self.homeserver, self.ports.get(name), **{**self.env, **extra_env}
        )
        self.servers[name] = server
        self.ports[name] = int(server.url.rsplit(":", 1)[1])
        return server

    def url(self, name: str) -> str:
        return self.servers[name].url

    def kill(self, name: str) -> float:
        """SIGKILL: no handover, the lease lapses. The time it died (monotonic)."""
        server = self.servers[name]
        server.process.kill()
        server.process.wait(10)
        return time.monotonic()

    def stop(self, name: str) -> None:
        """SIGTERM: a graceful stop (the process hands its devices over)."""
        stop_webclient(self.servers[name])

    def pid(self, name: str) -> int:
        return self.servers[name].process.pid

    def lease_holder(self, user_id: str, device_id: str) -> str | None:
        """The owner ID holding the device's lease ("host:pid:…|channel"), or None."""
        client = redis.Redis.from_url(REDIS_URL)
        key = (
            f"{self.env['REDIS_KEY_PREFIX']}:webclient:crypto-lease:{{{user_id}|{device_id}}}:lease"
        )
        value = client.get(key)
        return value.decode().rpartition("#")[0] if value else None

    def owner(self, user_id: str, device_id: str) -> str | None:
        """Which of the processes owns the device now ("a", "b", …), None if none does."""
        holder = self.lease_holder(user_id, device_id)
        if holder is None:
            return None
        pid = int(holder.split("|")[0].split(":")[1])
        return next((n for n, s in self.servers.items() if s.process.pid == pid), "gone")

    def credential_device(self, user_id: str) -> str:
        """The device ID of the newest login of `user_id` in the shared database."""
        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            row = conn.execute(
                "SELECT device_id FROM matrix_credential WHERE user_id = %s ORDER BY id DESC",
                (user_id,),
            ).fetchone()
        assert row, f"no login of {user_id}"
        return str(row[0])

    def close(self) -> None:
        for name, server in self.servers.items():
            if server.process.poll() is None:
                stop_webclient(server)
            # Shown by pytest when the test failed.
            print(f"--- daphne {name} (pid {server.process.pid}) ---\n{server.log()[-6000:]}")
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{self.env['REDIS_KEY_PREFIX']}:*"):
            client.delete(key)


# -- a visitor without a browser ------------------------------------------------------------------


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def page_position(page: str) -> tuple[str, int]:
    """The (epoch, pos) a page carries for its socket's catch-up."""
    epoch = re.search(r'data-epoch="([^"]*)"', page)
    pos = re.search(r'data-pos="(-?\d+)"', page)
    assert epoch and pos, "no data-epoch / data-pos on the page"
    return epoch.group(1), int(pos.group(1))


def event_ids(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'data-event-id="([^"]+)"', html)]


class Visitor:
    """One browser's cookies, used on any process of a cluster (cookies ignore the port)."""

    def __init__(self) -> None:
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def close(self) -> None:
        await self.http.close()

    async def get(self, url: str, **params: str) -> tuple[int, str]:
        async with self.http.get(url, params=params or None, allow_redirects=False) as response:
            return response.status, await response.text()

    async def post(self, url: str, form_page: str, data: dict[str, str]) -> tuple[int, str]:
        """POST `data` with the CSRF token of a page fetched from the same site."""
        async with self.http.post(
            url, data={"csrfmiddlewaretoken": csrf_of(form_page), **data}, allow_redirects=False
        ) as response:
            return response.status, await response.text()

    async def sign_in(self, url: str, hs_url: str, user: Any) -> None:
        _, page = await self.get(f"{url}/login/")
        status, body = await self.post(
            f"{url}/login/",
            page,
            {
                "mode": "password",
                "homeserver": hs_url,
                "username": user.localpart,
                "password": user.password,
            },
        )
        assert status == 302, body

    async def socket(self, url: str, **params: str) -> Socket:
        ws_url = "ws" + url.removeprefix("http") + "/ws/?" + urlencode(params)
        ws = await self.http.ws_connect(ws_url, headers={"Origin": url}, max_msg_size=0)
        socket = Socket(ws)
        hello = await socket.next(timeout=30)
        assert hello["type"] == "hello", hello
        return socket


class Socket:
    """A page's websocket: every frame kept, in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._seen = 0
        self.closed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._arrived = asyncio.Event()

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.frames.append(json.loads(message.data))
                    self._arrived.set()
        finally:
            self.closed.set()
            self._arrived.set()

    async def next(self, timeout: float = 20) -> dict[str, Any]:
        frame = await self.wait_for(lambda f: True, timeout)
        return frame

    async def wait_for(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 20, *, seen: bool = False
    ) -> dict[str, Any]:
        """The next frame (after those already taken, or any with `seen`) for which `check`
        holds."""
        deadline = time.monotonic() + timeout
        if seen and (found := next((f for f in self.frames if check(f)), None)) is not None:
            return found
        while True:
            while self._seen < len(self.frames):
                frame = self.frames[self._seen]
                self._seen += 1
                if check(frame):
                    return frame
            if self.closed.is_set():
                raise AssertionError(f"socket closed; frames: {self.frames[-5:]}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no such frame in {timeout}s; last: {self.frames[-5:]}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass

    def event_ids(self) -> list[str]:
        """Every event ID that arrived in `events` frames, in order, repeats included."""
        return [i["event_id"] for f in self.frames if f["type"] == "events" for i in f["events"]]

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_json(message)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
