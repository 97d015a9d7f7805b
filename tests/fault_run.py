"""Messages under faults: what `benchmarks/faults.py` measures and `tests/browser/test_faults.py`
asserts, with the same code and smaller numbers.

Everything is real and private to the run: a PostgreSQL and a Redis of its own
(tests/private_services.py), a Synapse, two daphne processes of the client on them
(DATABASE_URL, REDIS_URL), and Chromium pages. Each daphne is reached through a small TCP
proxy of the run's, which cuts every connection on demand (sockets dropped) and, like
nginx's `proxy_next_upstream error`, tries the other process when its own refuses.

Three people: a *sender* (a bare client: PUTs to the homeserver with its own transaction
IDs, sent again with the same ID until answered), a *typist* (one login, so one device:
a page on each process, typing in the composer and pressing Enter) and a *reader* (another
login, a page on process B). Every message carries a marker `fx-<r|a|b>-<number>`: `r` for
the sender's, `a` and `b` for what was typed on the typist's pages. While messages flow, the
faults happen one after another (`FAULTS`), `gap` seconds apart.

Each page records, in a MutationObserver, when each marker first showed as a real tile (an
`article.event` with an event ID, not a local echo), whether a marker ever showed twice at
once (two tiles, or an echo beside its tile), and whether the tiles in the timeline were
ever out of order within a sequence. At the end the room's `/messages` on the homeserver is
read back: every marker exactly once, each sequence in order.

Interruption of a fault: from the fault to the moment the first of the sender's messages
sent after it showed on the slowest page; for typed messages, the slowest send (Enter to the
tile) among those typed in the fault's window.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.private_services import PrivatePostgres, PrivateRedis
from tests.server import WebclientServer, free_port, start_webclient, stop_webclient
from webclient.demo.homeserver import LocalSynapse, RegisteredUser, matrix_request

CS = "/_matrix/client/v3"
ADMIN = "/_synapse/admin/v1"
MARKER = re.compile(r"fx-([rab])-(\d{4})")

#: Every fault, in the order they happen.
FAULTS = ("kill_owner", "redis_restart", "postgres_restart", "synapse_restart", "sockets_drop",
          "rate_limit")  # fmt: skip
FAULT_NAMES = {
    "kill_owner": "owner process SIGKILLed (restarted)",
    "redis_restart": "Redis restarted (empty)",
    "postgres_restart": "PostgreSQL restarted",
    "synapse_restart": "homeserver restarted",
    "sockets_drop": "every page socket dropped",
    "rate_limit": "homeserver answers 429 (rc_message)",
}

# Synapse's message rate limit for the typist during the 429 fault (others are exempt, and
# the typist too outside it): a burst of 3, then 2 a second.
RC_MESSAGE = {"per_second": 2, "burst_count": 3}

RECORDER = r"""
(() => {
  const R = /fx-([rab])-(\d{4})/;
  const st = window.__fx = {
    first: {}, doubled: {}, disorder: [], scans: 0, trace: [], snapshot: null,
  };
  // What the page heard and fetched, to explain a failure (the last few thousand).
  const note = (entry) => { if (st.trace.length < 4000) st.trace.push(entry); };
  const NativeSocket = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    const ws = new NativeSocket(url, protocols);
    ws.addEventListener("open", () => note([Date.now(), "open"]));
    ws.addEventListener("close", () => note([Date.now(), "close"]));
    ws.addEventListener("message", (e) => {
      try {
        const m = JSON.parse(e.data);
        const items = (m.events || []).map(
          (i) => (R.exec(i.html || "") || ["-"])[0] + (i.txn_id ? "*" : ""));
        note([Date.now(), m.type, m.epoch || "", m.pos, items.join(" ")]);
      } catch (x) { /* not JSON */ }
    });
    return ws;
  };
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) {
    window.WebSocket[k] = NativeSocket[k];
  }
  window.WebSocket.prototype = NativeSocket.prototype;
  const nativeFetch = window.fetch;
  window.fetch = function (url) {
    note([Date.now(), "fetch", String(url)]);
    return nativeFetch.apply(this, arguments);
  };
  let queued = false;
  function scan() {
    queued = false;
    st.scans++;
    const tl = document.getElementById("timeline");
    if (!tl) return;
    const now = Date.now();
    const count = {};
    const last = {};
    for (const n of tl.querySelectorAll("article.event")) {
      const b = n.querySelector(".event-body");
      if (!b) continue;
      const m = R.exec(b.textContent);
      if (!m) continue;
      const key = m[0];
      count[key] = (count[key] || 0) + 1;
      if (count[key] === 2) {
        // [first seen twice, last seen twice]
        if (!(key in st.doubled)) st.doubled[key] = [now, now];
        else st.doubled[key][1] = now;
      }
      if (!n.dataset.eventId || n.classList.contains("pending")) continue;
      if (!(key in st.first)) st.first[key] = now;
      const num = Number(m[2]);
      if (last[m[1]] !== undefined && num < last[m[1]] && st.disorder.length < 50) {
        st.disorder.push([key, last[m[1]], now]);
        if (!st.snapshot) {
          st.snapshot = [...tl.querySelectorAll("article.event")].map((x) => {
            const found = R.exec((x.querySelector(".event-body") || x).textContent);
            return (found ? found[0] : "?") + (x.dataset.eventId ? "" : "(echo)");
          });
        }
      }
      last[m[1]] = num;
    }
  }
  new MutationObserver(() => {
    if (!queued) { queued = true; setTimeout(scan, 0); }
  }).observe(document, {childList: true, subtree: true, characterData: true});
})();
"""


def marker(sequence: str, number: int) -> str:
    return f"fx-{sequence}-{number:04d}"


# -- a proxy that can drop every connection --------------------------------------------------


class Proxy:
    """127.0.0.1:<port> → the first of `upstreams` that accepts; `cut()` aborts every
    connection through it (the pages see their sockets drop)."""

    def __init__(self, upstreams: list[int]) -> None:
        self.upstreams = upstreams
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None
        for port in self.upstreams:
            try:
                upstream = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        if upstream is None:
            writer.transport.abort()
            return
        up_reader, up_writer = upstream
        self.open.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort() if dst.transport else None

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self.open.discard(writer)
            self.open.discard(up_writer)
            writer.transport.abort()
            up_writer.transport.abort()

    def cut(self) -> int:
        """Abort every open connection; how many there were."""
        writers = list(self.open)
        for writer in writers:
            writer.transport.abort()
        return len(writers) // 2

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


# -- the run -----------------------------------------------------------------------------------


@dataclass
class FaultTimes:
    name: str
    at: float  # wall clock
    took: float = 0.0  # how long injecting it took (a restart)
    received_gap: float | None = None
    typed_slowest: float | None = None
    note: str = ""


@dataclass
class Result:
    received: int
    typed: int
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    lost: dict[str, list[str]] = field(default_factory=dict)
    doubled: dict[str, list[str]] = field(default_factory=dict)
    disorder: dict[str, list[Any]] = field(default_factory=dict)
    faults: list[FaultTimes] = field(default_factory=list)
    send_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: 429 answers the homeserver gave the typist's device (its access log).
    rate_limited: int = 0

    @property
    def ok(self) -> bool:
        return (
            not any(self.lost.values())
            and not any(self.doubled.values())
            and not any(self.disorder.values())
        )


class Run:
    def __init__(
        self, received: int, typed: int, gap: float, faults: tuple[str, ...], log: Callable
    ) -> None:
        self.received = received
        self.typed = typed
        self.gap = gap
        self.faults = faults
        self.log = log
        self.keep = False  # keep the temporary directory (the processes' logs)
        self.server_env: dict[str, str] = {}  # more settings for the daphne processes
        self.tmp = Path(tempfile.mkdtemp(prefix="webclient-faults-"))
        self.pg = PrivatePostgres()
        self.redis = PrivateRedis()
        self.synapse = LocalSynapse(
            self.tmp / "synapse", relaxed_rate_limits=True, extra_config={"rc_message": RC_MESSAGE}
        )
        self.servers: dict[str, WebclientServer] = {}
        self.ports: dict[str, int] = {}
        self.env: dict[str, str] = {}
        self.proxies: dict[str, Proxy] = {}
        self.sent_at: dict[str, float] = {}  # marker -> wall time its send started
        self.typed_at: dict[str, float] = {}
        self.send_failed: list[str] = []

    # -- set-up ----------------------------------------------------------------------------

    def start_services(self) -> None:
        self.pg.start()
        self.redis.start()
        self.synapse.start()
        database = self.pg.create_database("webclient")
        self.env = {
            "DATABASE_URL": database,
            "REDIS_URL": self.redis.url,
            "SECRET_KEY": uuid.uuid4().hex * 2,
            "MATRIX_SESSION_IDLE_SECONDS": "600",
            **self.server_env,
        }
        for name in ("a", "b"):
            self.start_server(name)

    def start_server(self, name: str) -> None:
        data = self.tmp / name
        data.mkdir(exist_ok=True)
        server = start_webclient(data, self.synapse.url, self.ports.get(name), **self.env)
        self.servers[name] = server
        self.ports[name] = int(server.url.rsplit(":", 1)[1])

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return matrix_request(
            self.synapse.url, method, path, body, token=self.admin_user.access_token
        )

    def exempt(self, user: RegisteredUser, exempt: bool) -> None:
        """Synapse's per-user override of its rate limits: none (0/0), or rc_message's."""
        path = f"{ADMIN}/users/{quote(user.user_id)}/override_ratelimit"
        if exempt:
            self.admin("POST", path, {"messages_per_second": 0, "burst_count": 0})
        else:
            self.admin("DELETE", path)

    def make_people(self) -> None:
        hs = self.synapse
        tag = uuid.uuid4().hex[:6]
        self.admin_user = hs.register(f"admin-{tag}", "pw-admin", admin=True)
        self.sender = hs.register(f"sender-{tag}", "pw-sender", displayname="Sender")
        self.typist = hs.register(f"typist-{tag}", "pw-typist", displayname="Typist")
        self.reader = hs.register(f"reader-{tag}", "pw-reader", displayname="Reader")
        for user in (self.admin_user, self.sender, self.typist, self.reader):
            self.exempt(user, True)
        room = matrix_request(
            hs.url, "POST", f"{CS}/createRoom", {"preset": "public_chat", "name": "Faults"},
            token=self.sender.access_token,
        )  # fmt: skip
        self.room = room["room_id"]
        for user in (self.typist, self.reader):
            matrix_request(
                hs.url, "POST", f"{CS}/rooms/{quote(self.room)}/join", {}, token=user.access_token
            )

    # -- the owner -------------------------------------------------------------------------

    def owner_of_typist(self) -> str | None:
        client = self.redis.client()
        for key in client.scan_iter("*crypto-lease*:lease"):
            if self.typist.user_id.encode() in key:
                value = client.get(key)
                if not value:
                    return None
                pid = int(value.decode().split("|")[0].split(":")[1])
                for name, server in self.servers.items():
                    if server.process.pid == pid:
                        return name
        return None

    # -- the sender ------------------------------------------------------------------------

    async def send_one(self, http: aiohttp.ClientSession, body: str) -> None:
        """Sent until the homeserver answers 200, always with the same transaction ID."""
        txn = uuid.uuid4().hex
        url = f"{self.synapse.url}{CS}/rooms/{quote(self.room)}/send/m.room.message/{txn}"
        headers = {"Authorization": f"Bearer {self.sender.access_token}"}
        while True:
            try:
                async with http.put(
                    url, json={"msgtype": "m.text", "body": body}, headers=headers
                ) as response:
                    if response.status == 200:
                        return
                    wait = 0.2
                    if response.status == 429:
                        data = await response.json(content_type=None)
                        wait = (data.get("retry_after_ms") or 500) / 1000
            except (aiohttp.ClientError, TimeoutError, OSError):
                wait = 0.2
            await asyncio.sleep(wait)

    async def sender_loop(self, start: float, duration: float) -> None:
        interval = duration / self.received
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for n in range(self.received):
                due = start + n * interval
                await asyncio.sleep(max(0.0, due - time.time()))
                key = marker("r", n)
                self.sent_at[key] = time.time()
                await self.send_one(http, f"{key} received while faults happen")

    # -- the typist ------------------------------------------------------------------------

    def typed_schedule(self, start: float, duration: float, burst_at: float | None) -> list[float]:
        burst = min(max(self.typed // 5, 10), 30, self.typed // 2) if burst_at is not None else 0
        steady = self.typed - burst
        times = [start + (i + 0.5) * duration / steady for i in range(steady)]
        if burst_at is not None:
            times += [burst_at + 0.5 + i * 0.1 for i in range(burst)]
        return sorted(times)

    async def typist_loop(self, page: Any, sequence: str, times: list[float]) -> None:
        box = page.locator("form#composer textarea[name=body]")
        for n, due in enumerate(times):
            await asyncio.sleep(max(0.0, due - time.time()))
            key = marker(sequence, n)
            self.typed_at[key] = time.time()
            await box.fill(f"{key} typed in the composer")
            await box.press("Enter")

    # -- faults ----------------------------------------------------------------------------

    async def inject(self, name: str) -> str:
        """Make the fault happen; returns a note."""
        loop = asyncio.get_running_loop()
        if name == "kill_owner":
            owner = self.owner_of_typist() or "a"
            server = self.servers[owner]
            server.process.send_signal(signal.SIGKILL)
            await loop.run_in_executor(None, server.process.wait)
            # Restarted at once, as a process manager would.
            await loop.run_in_executor(None, self.start_server, owner)
            return f"killed {owner}"
        if name == "redis_restart":
            await loop.run_in_executor(None, self.redis.restart)
            return ""
        if name == "postgres_restart":
            await loop.run_in_executor(None, self.pg.restart)
            return ""
        if name == "synapse_restart":

            def restart() -> None:
                self.synapse.stop()
                self.synapse.start()

            await loop.run_in_executor(None, restart)
            return ""
        if name == "sockets_drop":
            dropped = sum(proxy.cut() for proxy in self.proxies.values())
            return f"{dropped} connections cut"
        if name == "rate_limit":
            await loop.run_in_executor(None, self.exempt, self.typist, False)
            return "typist limited to rc_message during a burst"
        raise ValueError(name)

    # -- the whole run ---------------------------------------------------------------------

    async def run(self) -> Result:
        from playwright.async_api import async_playwright

        from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.start_services)
        await loop.run_in_executor(None, self.make_people)
        for name, other in (("a", "b"), ("b", "a")):
            proxy = self.proxies[name] = Proxy([self.ports[name], self.ports[other]])
            await proxy.start()
        result = Result(self.received, self.typed)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                pages = await self.open_pages(browser)
                await self.drive(pages, result)
                await self.collect(pages, result)
            finally:
                await browser.close()
        return result

    async def sign_in(self, page: Any, url: str, user: RegisteredUser) -> None:
        await page.goto(f"{url}/login/")
        form = page.locator("form#login-form")
        await form.locator("input[name=homeserver]").fill(self.synapse.url)
        await form.locator("input[name=username]").fill(user.localpart)
        await form.locator("input[name=password]").fill(user.password)
        await form.locator("button[type=submit]").click()
        await page.wait_for_url(f"{url}/rooms/")

    async def open_room(self, page: Any, url: str) -> None:
        await page.goto(f"{url}/rooms/{quote(self.room, safe='')}/")
        await page.locator("#room[data-live=true]").wait_for(timeout=90000)

    async def open_pages(self, browser: Any) -> dict[str, Any]:
        a, b = self.proxies["a"].url, self.proxies["b"].url
        typist = await browser.new_context()
        reader = await browser.new_context()
        for context in (typist, reader):
            await context.add_init_script(RECORDER)
            context.set_default_timeout(30000)
        pages = {"typist@a": await typist.new_page(), "typist@b": await typist.new_page()}
        pages["reader@b"] = await reader.new_page()
        await self.sign_in(pages["typist@a"], a, self.typist)  # process A runs the device
        await self.sign_in(pages["reader@b"], b, self.reader)  # B runs the reader's
        await self.open_room(pages["typist@a"], a)
        await self.open_room(pages["typist@b"], b)
        await self.open_room(pages["reader@b"], b)
        self.log(f"typist's device owned by {self.owner_of_typist()}")
        return pages

    async def drive(self, pages: dict[str, Any], result: Result) -> None:
        start = time.time() + 2
        duration = self.gap * (len(self.faults) + 1)
        fault_times = {name: start + self.gap * (i + 1) for i, name in enumerate(self.faults)}
        burst_at = fault_times.get("rate_limit")
        times = self.typed_schedule(start, duration, burst_at)
        tasks = [asyncio.create_task(self.sender_loop(start, duration))]
        tasks.append(asyncio.create_task(self.typist_loop(pages["typist@a"], "a", times[0::2])))
        tasks.append(asyncio.create_task(self.typist_loop(pages["typist@b"], "b", times[1::2])))
        began = time.monotonic()
        for name in self.faults:
            await asyncio.sleep(max(0.0, fault_times[name] - time.time()))
            for task in tasks:
                if task.done() and task.exception():
                    raise task.exception()  # type: ignore[misc]
            at = time.time()
            self.log(f"{at - start:6.1f}s  {FAULT_NAMES[name]}")
            note = await self.inject(name)
            times_ = FaultTimes(name, at, took=time.time() - at, note=note)
            result.faults.append(times_)
        await asyncio.gather(*tasks)
        self.log(f"all sent after {time.monotonic() - began:.0f}s; waiting for every page")
        await self.wait_delivered(pages, timeout=max(90.0, self.gap * 4))
        if "rate_limit" in self.faults:
            await asyncio.get_running_loop().run_in_executor(None, self.exempt, self.typist, True)

    def expected(self) -> list[str]:
        return [marker("r", n) for n in range(self.received)] + sorted(self.typed_at)

    async def wait_delivered(self, pages: dict[str, Any], timeout: float) -> None:
        wanted = set(self.expected())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = 0
            for page in pages.values():
                seen = await page.evaluate("Object.keys(window.__fx.first)")
                missing += len(wanted - set(seen))
            if not missing:
                return
            await asyncio.sleep(1)
        self.log(f"still missing after {timeout:.0f}s: {missing}")

    async def collect(self, pages: dict[str, Any], result: Result) -> None:
        wanted = self.expected()
        for name, page in pages.items():
            state = await page.evaluate("window.__fx")
            result.pages[name] = state
            first = state["first"]
            result.lost[name] = [key for key in wanted if key not in first]
            result.doubled[name] = sorted(state["doubled"])
            result.disorder[name] = state["disorder"]
            failed = await page.locator("#timeline .event.failed").count()
            if failed:
                result.send_failed.append(f"{name}: {failed} sends marked failed")
        # The homeserver: every marker once, each sequence in order.
        bodies = await asyncio.get_running_loop().run_in_executor(None, self.room_markers)
        result.lost["homeserver"] = [key for key in wanted if key not in bodies]
        result.doubled["homeserver"] = sorted({k for k in bodies if bodies.count(k) > 1})
        result.disorder["homeserver"] = out_of_order(bodies)
        for page_name in pages:
            disorder = result.disorder[page_name]
            result.disorder[page_name] = disorder
        self.interruptions(result)
        result.rate_limited = self.count_429()

    def count_429(self) -> int:
        who = "{" + self.typist.user_id + "}"
        try:
            lines = self.synapse.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        return sum(1 for line in lines if who in line and " 429 " in line and "/send/" in line)

    def room_markers(self) -> list[str]:
        """The markers of the room's messages on the homeserver, oldest first."""
        found: list[str] = []
        token = None
        while True:
            path = f"{CS}/rooms/{quote(self.room)}/messages?dir=b&limit=500"
            if token:
                path += f"&from={quote(token)}"
            answer = matrix_request(
                self.synapse.url, "GET", path, token=self.sender.access_token, timeout=60
            )
            for event in answer.get("chunk", []):
                body = event.get("content", {}).get("body")
                if event.get("type") == "m.room.message" and isinstance(body, str):
                    if match := MARKER.search(body):
                        found.append(match.group(0))
            token = answer.get("end")
            if not answer.get("chunk") or not token:
                break
        return list(reversed(found))

    def interruptions(self, result: Result) -> None:
        pages = list(result.pages.values())
        for fault in result.faults:
            after = [
                k for k, t in sorted(self.sent_at.items(), key=lambda kv: kv[1]) if t >= fault.at
            ]
            if after:
                key = after[0]
                arrivals = [p["first"].get(key) for p in pages]
                if all(arrivals):
                    fault.received_gap = max(arrivals) / 1000 - fault.at
            window = [k for k, t in self.typed_at.items() if fault.at <= t < fault.at + self.gap]
            slowest = None
            for key in window:
                own = "typist@a" if key.startswith("fx-a") else "typist@b"
                shown = result.pages[own]["first"].get(key)
                if shown:
                    took = shown / 1000 - self.typed_at[key]
                    slowest = took if slowest is None else max(slowest, took)
            fault.typed_slowest = slowest

    def close(self) -> None:
        for server in self.servers.values():
            if server.process.poll() is None:
                stop_webclient(server)
        self.synapse.stop()
        self.redis.close()
        self.pg.close()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(
            f"--- daphne {name} ---\n{server.log()[-4000:]}"
            for name, server in self.servers.items()
        )


def out_of_order(markers: list[str]) -> list[tuple[str, str]]:
    """Pairs (earlier, later) where a sequence's number went down."""
    last: dict[str, tuple[int, str]] = {}
    wrong = []
    for key in markers:
        match = MARKER.fullmatch(key)
        assert match
        seq, number = match.group(1), int(match.group(2))
        if seq in last and number <= last[seq][0]:
            wrong.append((last[seq][1], key))
        last[seq] = (number, key)
    return wrong


async def _run_async(run: Run) -> Result:
    started = time.monotonic()
    try:
        result = await run.run()
    finally:
        await asyncio.gather(*(proxy.close() for proxy in run.proxies.values()))
    result.seconds = time.monotonic() - started
    return result


def run_faults(
    *,
    received: int,
    typed: int,
    gap: float,
    faults: tuple[str, ...] = FAULTS,
    log: Callable[[str], None] = print,
    keep_logs: list[str] | None = None,
    keep_dir: bool = False,
    server_env: dict[str, str] | None = None,
) -> Result:
    """Start everything, run, check, stop everything. Runs in its own thread's event loop
    (safe to call from a test whose thread already runs Playwright's sync loop)."""
    import concurrent.futures

    run = Run(received, typed, gap, faults, log)
    run.keep = keep_dir
    run.server_env = dict(server_env or {})
    if keep_dir:
        log(f"logs in {run.tmp}")
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _run_async(run)).result()
    finally:
        if keep_logs is not None:
            try:
                keep_logs.append(run.logs())
            except OSError:
                pass
        run.close()


def table(result: Result) -> str:
    lines = [
        f"{'fault':<40} {'delivery resumed':>17} {'slowest typed send':>19}  note",
    ]
    for fault in result.faults:
        gap = f"{fault.received_gap:.1f} s" if fault.received_gap is not None else "-"
        typed = f"{fault.typed_slowest:.1f} s" if fault.typed_slowest is not None else "-"
        lines.append(f"{FAULT_NAMES[fault.name]:<40} {gap:>17} {typed:>19}  {fault.note}")
    return "\n".join(lines)


def summary(result: Result) -> str:
    lines = [
        f"{result.received} received + {result.typed} typed messages, "
        f"{len(result.faults)} faults, {result.seconds:.0f} s",
    ]
    for where in list(result.pages) + ["homeserver"]:
        lines.append(
            f"  {where:<11} lost {len(result.lost.get(where, [])):>3}  "
            f"doubled {len(result.doubled.get(where, [])):>3}  "
            f"out of order {len(result.disorder.get(where, [])):>3}"
        )
        for label, found in (("lost", result.lost), ("doubled", result.doubled),
                             ("out of order", result.disorder)):  # fmt: skip
            if found.get(where):
                lines.append(f"    {label}: {found[where][:12]}")
    lines.append(f"  the homeserver answered 429 to {result.rate_limited} typed sends")
    for note in result.send_failed:
        lines.append(f"  {note}")
    return "\n".join(lines)
