"""Message latency: the browser client against a bare matrix-nio client.

Starts its own Synapse (webclient.demo.homeserver.LocalSynapse) and the client under daphne,
then for each message sent by a bare matrix-nio sender measures when

  (a) a second bare matrix-nio client, long-polling /sync, has it, and
  (b) a real Chromium page, signed in to the client with the room open, shows it
      (a MutationObserver installed with add_init_script stores the wall-clock time per event ID).

Both are measured from the sender's wall clock just before `room_send` (the same reference
for both; all processes share this machine's clock). Messages go one at a time: the next is
sent once both have seen the previous one, so this is latency, not throughput.

    .venv/bin/python benchmarks/latency.py            # 50 messages
    .venv/bin/python benchmarks/latency.py -n 200 --json results.json

The target (issue 14): the browser within 1.1x of the bare client at p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    api,
    clean_up,
    percentile,
    sign_in,
    start_webclient,
    stats_line,
)
from nio import AsyncClient, AsyncClientConfig, RoomSendResponse, SyncResponse

from webclient.demo.homeserver import LocalSynapse, RegisteredUser

TARGET_RATIO_P50 = 1.1

# Runs before any page script: remember when each event tile first entered the DOM.
ARRIVAL_SCRIPT = """
(() => {
  // The wall clock to a tenth of a millisecond (Date.now() truncates to whole ones, which
  // made the page look up to a millisecond quicker than it was).
  const stamp = () => performance.timeOrigin + performance.now();
  window.__arrivals = {};
  const note = (node) => {
    if (node.nodeType !== 1) return;
    const now = stamp();
    const tiles = node.matches('[data-event-id]') ? [node] : [];
    node.querySelectorAll('[data-event-id]').forEach((n) => tiles.push(n));
    for (const tile of tiles) {
      const id = tile.dataset.eventId;
      if (id && !(id in window.__arrivals)) window.__arrivals[id] = now;
    }
  };
  new MutationObserver((records) => {
    for (const record of records) record.addedNodes.forEach(note);
  }).observe(document, { childList: true, subtree: true });

  // For the breakdown only: when the websocket frame carrying each event reached the page
  // (this listener is added first, so it runs before live.js handles the message). It only
  // notes the time and the text: reading the frames waits for `__readFrames`, so
  // the measuring costs the page nothing before the tile is shown.
  window.__frameLog = [];
  window.__frames = {};
  window.__readFrames = () => {
    for (const [at, data] of window.__frameLog.splice(0)) {
      try {
        for (const item of JSON.parse(data).events || []) {
          const known = !item.event_id || item.event_id in window.__frames;
          if (!known) window.__frames[item.event_id] = at;
        }
      } catch (error) { /* not ours to judge */ }
    }
    return window.__frames;
  };
  const Native = window.WebSocket;
  function Recording(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("message", (message) => {
      window.__frameLog.push([stamp(), message.data]);
    });
    return ws;
  }
  Recording.prototype = Native.prototype;
  Object.setPrototypeOf(Recording, Native);
  window.WebSocket = Recording;
})();
"""

# When the tile of `id` entered the DOM and when its frame reached the page, read after it did.
FRAME_TIMES = "id => [window.__arrivals[id], window.__readFrames()[id]]"


# A /sync answer in Synapse's access log: when it finished (to the millisecond) and for whom.
SYNC_ANSWER = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?\{(?P<who>[^}|]*)[^}]*\} "
    r'Processed request: .*?"GET /_matrix/client/v3/sync\?'
)


def note_answer_order(log: Path, rows: list[dict[str, Any]], bare: str, browser: str) -> None:
    """Mark each row with whose long-poll Synapse answered first, "bare" or "browser".

    Synapse answers the two readers' long-polls in no fixed order (it changes from message to
    message), and the ratio turns on it (README, Figures). The access log lists
    requests as they finished; the answer that carried a message is each reader's last one
    logged after the send and by the time the reader had it (the bare reader's arrival, the
    page's frame)."""
    answers = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = SYNC_ANSWER.match(line)
        if match and match["who"] in (bare, browser):
            at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            answers.append((at, match["who"]))

    def carrier(row: dict[str, Any], user: str, had_ms: float) -> int | None:
        start, end = row["sent_at"] - 0.001, row["sent_at"] + had_ms / 1000 + 0.001
        found = None
        for index, (at, who) in enumerate(answers):
            if who == user and start <= at <= end:
                found = index
        return found

    for row in rows:
        first_bare = carrier(row, bare, row["bare_ms"])
        first_browser = carrier(row, browser, row["frame_ms"] or row["browser_ms"])
        if first_bare is None or first_browser is None:
            row["answered_first"] = None
        else:
            row["answered_first"] = "bare" if first_bare < first_browser else "browser"


def nio_client(hs_url: str, user: RegisteredUser) -> AsyncClient:
    config = AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False)
    client = AsyncClient(hs_url, user.user_id, device_id=user.device_id, config=config)
    client.restore_login(user.user_id, user.device_id, user.access_token)
    return client


class BareReader:
    """A plain sync loop: notes the wall-clock time each room event arrives."""

    def __init__(self, client: AsyncClient, room_id: str, sync_timeout_ms: int) -> None:
        self.client = client
        self.room_id = room_id
        self.sync_timeout_ms = sync_timeout_ms
        self.arrivals: dict[str, float] = {}
        self.changed = asyncio.Event()
        self.since: str | None = None

    async def initial_sync(self) -> None:
        response = await self.client.sync(timeout=0)
        assert isinstance(response, SyncResponse), response
        self.since = response.next_batch

    async def run(self) -> None:
        while True:
            response = await self.client.sync(timeout=self.sync_timeout_ms, since=self.since)
            now = time.time()
            if not isinstance(response, SyncResponse):
                print(f"bare reader: sync failed: {response}", file=sys.stderr)
                await asyncio.sleep(1)
                continue
            self.since = response.next_batch
            room = response.rooms.join.get(self.room_id)
            if room is None:
                continue
            for event in room.timeline.events:
                event_id = getattr(event, "event_id", None)
                if event_id and event_id not in self.arrivals:
                    self.arrivals[event_id] = now
            self.changed.set()

    async def wait_for(self, event_id: str, timeout: float) -> float:
        async with asyncio.timeout(timeout):
            while event_id not in self.arrivals:
                self.changed.clear()
                await self.changed.wait()
        return self.arrivals[event_id]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    work = Path(tempfile.mkdtemp(prefix="webclient-bench-"))
    synapse = LocalSynapse(work / "synapse", relaxed_rate_limits=True)
    webclient = None
    clients: list[AsyncClient] = []
    try:
        t = time.monotonic()
        synapse.start()
        webclient = start_webclient(
            work / "webclient",
            synapse.url,
            extra_env={"MATRIX_SYNC_TIMEOUT_MS": str(args.sync_timeout_ms), "LOG_LEVEL": "WARNING"},
        )
        print(f"Synapse {synapse.url}, webclient {webclient.url} ({time.monotonic() - t:.1f}s)")

        stamp = f"{int(time.time())}"
        sender = synapse.register(f"sender-{stamp}", "pw-sender", displayname="Sender")
        bare = synapse.register(f"bare-{stamp}", "pw-bare", displayname="Bare reader")
        viewer = synapse.register(f"viewer-{stamp}", "pw-viewer", displayname="Browser reader")
        room_id = api(
            synapse,
            sender,
            "POST",
            "/_matrix/client/v3/createRoom",
            {"preset": "private_chat", "name": "Latency", "invite": [bare.user_id, viewer.user_id]},
        )["room_id"]
        for user in (bare, viewer):
            api(synapse, user, "POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/join", {})

        send_client = nio_client(synapse.url, sender)
        read_client = nio_client(synapse.url, bare)
        clients += [send_client, read_client]
        reader = BareReader(read_client, room_id, args.sync_timeout_ms)
        await reader.initial_sync()
        reader_task = asyncio.create_task(reader.run())

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
            )
            context = await browser.new_context()
            await context.add_init_script(ARRIVAL_SCRIPT)
            page = await context.new_page()
            page.set_default_timeout(30000)
            await sign_in(page, webclient.url, synapse.url, viewer)
            await page.goto(f"{webclient.url}/rooms/{quote(room_id, safe='')}/")
            await page.wait_for_selector('#room[data-live="true"]')

            rows = []
            profiler = None
            if args.profile:
                # py-spy (`pip install py-spy`; for profiling only) on daphne while the
                # messages flow: collapsed stacks, summed by benchmarks/stacks.py.
                py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                profiler = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
                    [py_spy, "record", "--pid", str(webclient.process.pid), "--rate", "1000"]
                    + ["--format", "raw", "--nonblocking", "--output", str(args.profile)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            total = args.warmup + args.messages
            for n in range(total):
                await asyncio.sleep(args.interval * random.uniform(0.5, 1.5))
                content = {"msgtype": "m.text", "body": f"latency probe {n}"}
                before = time.time()
                response = await send_client.room_send(room_id, "m.room.message", content)
                after = time.time()
                assert isinstance(response, RoomSendResponse), response
                event_id = response.event_id
                bare_at = await reader.wait_for(event_id, args.timeout)
                await page.wait_for_function(
                    "id => window.__arrivals && id in window.__arrivals",
                    arg=event_id,
                    timeout=args.timeout * 1000,
                )
                browser_ms, frame_ms = await page.evaluate(FRAME_TIMES, event_id)
                if n < args.warmup:
                    continue
                rows.append(
                    {
                        "event_id": event_id,
                        "sent_at": before,
                        "send_ms": (after - before) * 1000,
                        "bare_ms": (bare_at - before) * 1000,
                        "browser_ms": browser_ms - before * 1000,
                        "frame_ms": (frame_ms - before * 1000) if frame_ms else None,
                    }
                )
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
            await browser.close()
        reader_task.cancel()
        note_answer_order(synapse.log_path, rows, bare.user_id, viewer.user_id)
        return {"rows": rows, "synapse": synapse.url, "webclient": webclient.url}
    finally:
        for client in clients:
            await client.close()
        clean_up(webclient, synapse, work, args.keep)


def report(rows: list[dict[str, float]]) -> bool:
    def line(name: str, values: list[float]) -> str:
        return stats_line(name, values, 22)

    bare = [r["bare_ms"] for r in rows]
    browser = [r["browser_ms"] for r in rows]
    send = [r["send_ms"] for r in rows]
    print(f"\n{len(rows)} messages, milliseconds from just before room_send:")
    print(line("room_send returned", send))
    print(line("bare nio client", bare))
    print(line("browser page", browser))
    frames = [r["frame_ms"] for r in rows if r["frame_ms"] is not None]
    if frames:
        print("breakdown of the browser figure:")
        print(line("  websocket frame in", frames))
        dom = [r["browser_ms"] - r["frame_ms"] for r in rows if r["frame_ms"] is not None]
        print(line("  frame -> tile in DOM", dom))
    print(line("browser - bare (each)", [b - a for a, b in zip(bare, browser, strict=True)]))
    ratio50 = percentile(browser, 50) / percentile(bare, 50)
    ratio95 = percentile(browser, 95) / percentile(bare, 95)
    print(f"\nbrowser/bare ratio:    p50 {ratio50:.2f}x   p95 {ratio95:.2f}x")
    # Which long-poll Synapse answered first (note_answer_order), and the ratio of each kind.
    parts = []
    for who, name in (("browser", "the browser's session"), ("bare", "the bare reader")):
        group = [r for r in rows if r.get("answered_first") == who]
        if group:
            ratio = percentile([r["browser_ms"] for r in group], 50) / percentile(
                [r["bare_ms"] for r in group], 50
            )
            parts.append(f"{name} for {len(group)} (p50 ratio {ratio:.2f}x)")
    if parts:
        print(f"Synapse answered first: {'; '.join(parts)}; of {len(rows)} messages")
    met = ratio50 <= TARGET_RATIO_P50
    verdict = "MEETS" if met else "DOES NOT MEET"
    print(f"Target browser <= {TARGET_RATIO_P50}x bare at p50: {verdict} ({ratio50:.2f}x)")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=50, help="measured messages")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured first messages")
    parser.add_argument(
        "--interval", type=float, default=0.3, help="mean pause between messages (seconds)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per-message wait (s)")
    parser.add_argument(
        "--sync-timeout-ms", type=int, default=30000, help="/sync long-poll of both readers"
    )
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    parser.add_argument(
        "--profile", type=Path, help="record daphne with py-spy while the messages flow"
    )
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when the target is missed"
    )
    args = parser.parse_args()
    if args.messages < 1:
        parser.error("--messages must be at least 1")

    result = asyncio.run(run(args))
    met = report(result["rows"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        print(f"measurements written to {args.json}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
