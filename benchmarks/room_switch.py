"""Room switch: swapping the conversation beside the room list against a full page load.

Starts its own Synapse (webclient.demo.homeserver.LocalSynapse) and the client under daphne,
signs a viewer in with real Chromium (1280 x 800: the two-pane layout), and in one run, in
turns, measures

  (a) a swap: from the click on a room's entry in the room list to the frame that shows the
      new room's timeline (the pane fetched and put in place; panes.js), and
  (b) a full page load of the same room: from the navigation's start to the frame that shows
      its timeline (performance.timeOrigin; the HTML, then CSS and scripts from the cache, as
      a person going back and forth would have them);

each time to the first animation frame after the room's first tile is in the DOM. Between
measurements it waits until the page's socket follows the room (data-live), and reports that
too. It also prints the room page's weight: HTML + CSS + JS as transferred (compressed
bodies and headers) into an empty cache, which must stay under 60 KB.

    .venv/bin/python benchmarks/room_switch.py            # 30 switches, 30 full loads
    .venv/bin/python benchmarks/room_switch.py -n 100 --json results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
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

from webclient.demo.homeserver import LocalSynapse

WEIGHT_LIMIT = 60 * 1024
VIEWPORT = {"width": 1280, "height": 800}

# Before any page script: the moment (performance.now(), from the navigation's start) of the
# first frame after a tile of the page's room entered the DOM.
SHOWN_SCRIPT = """
(() => {
  window.__shownAt = null;
  const observer = new MutationObserver(() => {
    if (window.__shownAt !== null || !document.querySelector('#timeline article.event')) return;
    observer.disconnect();
    requestAnimationFrame(() => { window.__shownAt = performance.now(); });
  });
  observer.observe(document, { childList: true, subtree: true });
})();
"""

# Click a room's entry and resolve with the milliseconds until the frame that shows its
# timeline, and until the socket follows it.
SWAP_SCRIPT = """async (target) => {
  const link = document.querySelector('#rooms a[data-room-id="' + CSS.escape(target) + '"]');
  if (!link) throw new Error('no entry for ' + target);
  const shown = (room) => room && room.dataset.roomId === target
    && room.querySelector('#timeline article.event');
  let t0 = 0;
  const painted = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (!shown(document.getElementById('room'))) return;
      observer.disconnect();
      requestAnimationFrame(() => resolve(performance.now()));
    });
    observer.observe(document.body, { childList: true, subtree: true });
  });
  t0 = performance.now();
  link.click();
  const t1 = await painted;
  const room = document.getElementById('room');
  while (room.dataset.live !== 'true') await new Promise((r) => setTimeout(r, 2));
  const fetched = performance.getEntriesByType('resource')
    .filter((e) => e.name.indexOf('/pane/') >= 0 && e.startTime >= t0);
  const pane = fetched.length ? fetched[0].responseEnd - t0 : null;
  const ready = performance.getEntriesByName('webclient:pane-ready');
  const started = ready.length ? ready[ready.length - 1].startTime - t0 : null;
  performance.clearResourceTimings();
  performance.clearMarks();
  return [t1 - t0, performance.now() - t0, pane, started];
}"""


async def page_weight(browser: Any, state: dict[str, Any], url: str) -> dict[str, int]:
    """Bytes transferred for the page's HTML, CSS and JS into an empty cache."""
    context = await browser.new_context(viewport=VIEWPORT, storage_state=state)
    sizes: dict[str, int] = {}
    try:
        page = await context.new_page()

        async def finished(request: Any) -> None:
            if request.resource_type in ("document", "stylesheet", "script"):
                size = await request.sizes()
                sizes[request.url] = size["responseBodySize"] + size["responseHeadersSize"]

        page.on("requestfinished", finished)
        await page.goto(url)
        await page.wait_for_load_state("networkidle")
    finally:
        await context.close()
    return sizes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    work = Path(tempfile.mkdtemp(prefix="webclient-bench-"))
    synapse = LocalSynapse(work / "synapse", relaxed_rate_limits=True)
    webclient = None
    try:
        t = time.monotonic()
        synapse.start()
        webclient = start_webclient(
            work / "webclient", synapse.url, extra_env={"LOG_LEVEL": "WARNING"}
        )
        print(f"Synapse {synapse.url}, webclient {webclient.url} ({time.monotonic() - t:.1f}s)")

        stamp = f"{int(time.time())}"
        writer = synapse.register(f"writer-{stamp}", "pw-writer", displayname="Writer")
        viewer = synapse.register(f"viewer-{stamp}", "pw-viewer", displayname="Viewer")
        rooms = []
        for n in range(args.rooms):
            room_id = api(
                synapse,
                writer,
                "POST",
                "/_matrix/client/v3/createRoom",
                {"preset": "private_chat", "name": f"Room {n + 1}", "invite": [viewer.user_id]},
            )["room_id"]
            api(synapse, viewer, "POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/join", {})
            for m in range(args.messages):
                api(
                    synapse,
                    writer,
                    "PUT",
                    f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/t{n}-{m}",
                    {"msgtype": "m.text", "body": f"message {m} in room {n + 1}, a line of text"},
                )
            rooms.append(room_id)
        print(f"{len(rooms)} rooms of {args.messages} messages each")

        def url_of(room_id: str) -> str:
            return f"{webclient.url}/rooms/{quote(room_id, safe='')}/"

        swaps: list[float] = []
        lives: list[float] = []
        panes: list[float] = []
        readies: list[float] = []
        loads: list[float] = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
            )
            context = await browser.new_context(viewport=VIEWPORT)
            await context.add_init_script(SHOWN_SCRIPT)
            page = await context.new_page()
            page.set_default_timeout(30000)
            await sign_in(page, webclient.url, synapse.url, viewer)
            state = await context.storage_state()
            current = 0
            await page.goto(url_of(rooms[current]))
            await page.wait_for_selector('#room[data-live="true"]')

            total = args.warmup + args.switches
            for n in range(total):
                target = (current + 1) % len(rooms)
                # (a) a swap from the current room to the next one
                swap_ms, live_ms, pane_ms, ready_ms = await page.evaluate(
                    SWAP_SCRIPT, rooms[target]
                )
                current = target
                # (b) the same room again, as a full page load
                await page.evaluate("url => location.assign(url)", url_of(rooms[target]))
                await page.wait_for_function(
                    "id => window.__shownAt !== null && document.getElementById('room')"
                    " && document.getElementById('room').dataset.roomId === id",
                    arg=rooms[target],
                )
                load_ms = await page.evaluate("window.__shownAt")
                await page.wait_for_selector('#room[data-live="true"]')
                if n < args.warmup:
                    continue
                swaps.append(swap_ms)
                lives.append(live_ms)
                if pane_ms is not None:
                    panes.append(pane_ms)
                if ready_ms is not None:
                    readies.append(ready_ms)
                loads.append(load_ms)

            sizes = await page_weight(browser, state, url_of(rooms[0]))
            await browser.close()
        return {
            "swap_ms": swaps,
            "live_ms": lives,
            "pane_ms": panes,
            "ready_ms": readies,
            "load_ms": loads,
            "weight": sizes,
        }
    finally:
        clean_up(webclient, synapse, work, args.keep)


def report(result: dict[str, Any]) -> bool:
    def line(name: str, values: list[float]) -> str:
        return stats_line(name, values, 34)

    swaps, loads, lives = result["swap_ms"], result["load_ms"], result["live_ms"]
    print(f"\n{len(swaps)} switches and {len(loads)} full loads, milliseconds:")
    print(line("swap: click -> timeline shown", swaps))
    if result.get("pane_ms"):
        print(line("  of which: click -> pane fetched", result["pane_ms"]))
    if result.get("ready_ms"):
        print(line("  click -> pane in, modules bound", result["ready_ms"]))
    print(line("swap: click -> socket follows", lives))
    print(line("full load: start -> timeline shown", loads))
    ratio50 = percentile(swaps, 50) / percentile(loads, 50)
    ratio95 = percentile(swaps, 95) / percentile(loads, 95)
    print(f"\nswap/full-load ratio:  p50 {ratio50:.2f}x   p95 {ratio95:.2f}x")

    sizes = result["weight"]
    total = sum(sizes.values())
    kinds: dict[str, int] = {}
    for url, size in sizes.items():
        kind = "css" if url.endswith(".css") else "js" if url.endswith(".js") else "html"
        kinds[kind] = kinds.get(kind, 0) + size
    parts = ", ".join(f"{k} {v / 1024:.1f} KB" for k, v in sorted(kinds.items()))
    met = total < WEIGHT_LIMIT
    verdict = "MEETS" if met else "DOES NOT MEET"
    print(
        f"room page weight (transferred, empty cache): {total / 1024:.1f} KB in {len(sizes)} "
        f"files ({parts}); limit {WEIGHT_LIMIT // 1024} KB: {verdict}"
    )
    return met and ratio50 < 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--switches", type=int, default=30, help="measured switches")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured first rounds")
    parser.add_argument("--rooms", type=int, default=4, help="rooms to switch between")
    parser.add_argument("--messages", type=int, default=30, help="messages in each room")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when a swap is not faster than a load or the page too heavy",
    )
    args = parser.parse_args()
    if args.switches < 1 or args.rooms < 3:
        parser.error("--switches must be at least 1 and --rooms at least 3")

    result = asyncio.run(run(args))
    met = report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        print(f"measurements written to {args.json}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
