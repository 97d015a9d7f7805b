"""A Matrix user running Element's crypto (matrix-js-sdk 36.2.0 with its Rust crypto in Node),
driven from pytest.

`JsPeer` starts `node tests/peers/js/peer.mjs` and talks JSON lines with it: `await
peer.call("send_text", room_id=..., body=...)` sends one command and returns its result;
things that happen on their own (an incoming verification request, the SAS emoji, a message
from someone else) are pushed as events and read with `await peer.next_event("sas")`. The
Node process's stderr (the sdk's whole log) goes to a file whose path every error names.

The `js_peer` fixture (registered in tests/conftest.py) starts logged-in peers for a test
and stops them at its end:

    async def test_something(js_peer, make_user):
        alice = await js_peer(make_user("alice"), bootstrap=True, only_signed_devices=True)
        room_id = (await alice.call("create_room", encrypted=True))["room_id"]

The node modules are installed by `make test` (`npm ci` in tests/peers/js).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from webclient.demo.homeserver import LocalSynapse, RegisteredUser

__all__ = ["JS_DIR", "JsPeer", "JsPeerError", "StartPeer", "js_peer"]

JS_DIR = Path(__file__).resolve().parent / "js"
PEER_SCRIPT = JS_DIR / "peer.mjs"
NODE_MODULES = JS_DIR / "node_modules"

# How peer.mjs starts each log entry: "15:09:37.661 INFO ...".
_LOG_ENTRY = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (?P<level>[A-Z]+) ")

# Lines longer than this from the Node process are a protocol error, not a reason to hang.
_LINE_LIMIT = 64 * 1024 * 1024


class JsPeerError(RuntimeError):
    """A command failed, timed out, or the Node process died; the message names its log."""


class JsPeer:
    """One Node process running one matrix-js-sdk client (after `login`)."""

    def __init__(self, name: str, log_path: Path, *, node: str = "node") -> None:
        self.name = name
        self.log_path = log_path
        self.node = node
        self.user_id: str | None = None
        self.device_id: str | None = None
        self.access_token: str | None = None
        self.recovery_key: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._log_file: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._events_changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._exit_reason: str | None = None

    def __repr__(self) -> str:
        return f"<JsPeer {self.name} {self.user_id or ''} {self.device_id or ''}>"

    # -- life --------------------------------------------------------------------------------

    async def start(self, timeout: float = 30) -> JsPeer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            self.node,
            str(PEER_SCRIPT),
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log_file,
            limit=_LINE_LIMIT,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        self._reader = asyncio.create_task(self._read(), name=f"js peer {self.name} reader")
        await self.next_event("ready", timeout=timeout)
        return self

    async def stop(self, timeout: float = 10) -> None:
        """Ask the peer to stop; kill it if it does not leave in time."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            try:
                await self.call("stop", timeout=timeout)
            except JsPeerError:
                pass
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    # -- protocol ----------------------------------------------------------------------------

    async def call(self, cmd: str, *, timeout: float = 30, **args: Any) -> Any:
        """Send one command and return its `result`; raise `JsPeerError` on failure."""
        if self._process is None or self._process.stdin is None:
            raise JsPeerError(f"{self.name}: not started")
        if self._exit_reason is not None:
            raise JsPeerError(self._describe(f"{cmd}: the peer is gone ({self._exit_reason})"))
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"id": request_id, "cmd": cmd, **args}) + "\n"
        try:
            self._process.stdin.write(line.encode())
            await self._process.stdin.drain()
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise JsPeerError(self._describe(f"{cmd} got no answer in {timeout} s")) from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise JsPeerError(self._describe(f"{cmd}: cannot write to the peer: {exc}")) from None
        finally:
            self._pending.pop(request_id, None)
        if not answer.get("ok"):
            raise JsPeerError(self._describe(f"{cmd} failed: {answer.get('error')}"))
        return answer.get("result")

    async def next_event(
        self,
        name: str,
        *,
        timeout: float = 20,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Take (and remove) the oldest pushed event called `name` (matching `where`), waiting
        up to `timeout` seconds for it. Other events stay queued for their own readers."""

        def take() -> dict[str, Any] | None:
            for index, event in enumerate(self._events):
                if event.get("event") == name and (where is None or where(event)):
                    return self._events.pop(index)
            return None

        async def wait() -> dict[str, Any]:
            async with self._events_changed:
                while (event := take()) is None:
                    if self._exit_reason is not None:
                        raise JsPeerError(self._describe(f"waiting for {name!r}: the peer is gone"))
                    await self._events_changed.wait()
                return event

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            seen = ", ".join(e.get("event", "?") for e in self._events) or "none"
            raise JsPeerError(
                self._describe(f"no {name!r} event in {timeout} s (queued: {seen})")
            ) from None

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The pushed events not taken yet (all, or those called `name`)."""
        return [e for e in self._events if name is None or e.get("event") == name]

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        try:
            while line := await stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    self._note(f"non-JSON line on stdout: {line[:500]!r}")
                    continue
                if "event" in message:
                    async with self._events_changed:
                        self._events.append(message)
                        self._events_changed.notify_all()
                    continue
                future = self._pending.get(message.get("id"))
                if future is None or future.done():
                    self._note(f"answer to no pending command: {str(message)[:500]}")
                else:
                    future.set_result(message)
        except (ValueError, asyncio.LimitOverrunError) as exc:
            self._note(f"stdout reader failed: {exc!r}")
        finally:
            code = await self._process.wait()
            self._exit_reason = f"node exited with code {code}"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(JsPeerError(self._describe(self._exit_reason)))
            async with self._events_changed:
                self._events_changed.notify_all()

    def _note(self, text: str) -> None:
        if self._log_file is not None:
            self._log_file.write(f"[jspeer.py] {text}\n".encode())
            self._log_file.flush()

    def log_tail(self, lines: int = 30, *, debug: bool = False) -> str:
        """The end of the peer's log, without the (very chatty) DEBUG entries by default."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        kept: list[str] = []
        keep = True
        for line in text.splitlines()[-5000:]:
            entry = _LOG_ENTRY.match(line)
            if entry:
                keep = debug or entry["level"] != "DEBUG"
            if keep:
                kept.append(line)
        return "\n".join(kept[-lines:])

    def _describe(self, problem: str) -> str:
        who = self.user_id or "not logged in"
        return (
            f"js peer {self.name} ({who} {self.device_id or ''}): {problem}\n"
            f"  its log: {self.log_path}\n  last log lines:\n{self.log_tail()}"
        )

    # -- conveniences over `call` ------------------------------------------------------------

    async def login(
        self,
        homeserver: str,
        user: str,
        password: str,
        device_id: str | None = None,
        timeout: float = 60,
    ) -> dict[str, Any]:
        answer = await self.call(
            "login",
            homeserver=homeserver,
            user=user,
            password=password,
            device_id=device_id,
            timeout=timeout,
        )
        self.user_id = answer["user_id"]
        self.device_id = answer["device_id"]
        self.access_token = answer["access_token"]
        return answer

    async def bootstrap(self, password: str | None = None, passphrase: str | None = None) -> dict:
        answer = await self.call("bootstrap", password=password, passphrase=passphrase, timeout=60)
        self.recovery_key = answer["recovery_key"]
        return answer

    async def wait_message(
        self, room_id: str, *, timeout: float = 15, **match: Any
    ) -> dict[str, Any]:
        """The first decrypted message matching `body=`, `sender=`, `event_id=` (or `utd=True`
        for an undecryptable one); the error lists what the peer did see."""
        return await self.call(
            "wait_message",
            room_id=room_id,
            timeout_ms=int(timeout * 1000),
            timeout=timeout + 10,
            **match,
        )

    async def send_file(
        self, room_id: str, name: str, data: bytes, mimetype: str = "application/octet-stream"
    ) -> dict[str, Any]:
        return await self.call(
            "send_file",
            room_id=room_id,
            name=name,
            mimetype=mimetype,
            data_base64=base64.b64encode(data).decode(),
        )

    async def download_decrypted(self, file: dict[str, Any], mxc: str | None = None) -> bytes:
        answer = await self.call("download_decrypted", file=file, mxc=mxc)
        return base64.b64decode(answer["data_base64"])


StartPeer = Callable[..., Awaitable[JsPeer]]


def _check_installed() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("js peers need Node.js 20+ (`node` is not on PATH)", pytrace=False)
    if not (NODE_MODULES / "matrix-js-sdk").is_dir():
        pytest.fail(
            f"js peers need their node modules in {NODE_MODULES}: run `make test`, or "
            f"`npm ci --prefix tests/peers/js --no-audit --no-fund` in the project root",
            pytrace=False,
        )
    return node


@pytest.fixture
async def js_peer(
    synapse: LocalSynapse, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[StartPeer]:
    """`await js_peer(user, *, device_id=None, bootstrap=False, only_signed_devices=False,
    name=None)` starts a Node peer logged in as `user` (a `RegisteredUser` from `make_user`)
    on `synapse`, a new device each time. `bootstrap=True` sets up cross-signing, secret
    storage and key backup (`peer.recovery_key` keeps the key). All peers stop at teardown."""
    node = _check_installed()
    log_dir = tmp_path_factory.mktemp("js-peers")
    peers: list[JsPeer] = []

    async def start(
        user: RegisteredUser,
        *,
        device_id: str | None = None,
        bootstrap: bool = False,
        only_signed_devices: bool = False,
        name: str | None = None,
    ) -> JsPeer:
        name = name or f"{user.localpart}-{len(peers) + 1}"
        peer = JsPeer(name, log_dir / f"{name}.log", node=node)
        peers.append(peer)
        started = time.monotonic()
        await peer.start()
        await peer.login(synapse.url, user.user_id, user.password, device_id=device_id)
        if bootstrap:
            await peer.bootstrap(user.password)
        if only_signed_devices:
            await peer.call("only_signed_devices", on=True)
        peer._note(f"ready for the test after {time.monotonic() - started:.1f} s")
        return peer

    yield start

    await asyncio.gather(*(peer.stop() for peer in peers), return_exceptions=True)
    # Shown by pytest only when the test failed.
    for peer in peers:
        print(f"js peer {peer.name} ({peer.user_id} {peer.device_id}) log: {peer.log_path}")
