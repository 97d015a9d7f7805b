"""Scrolling back through a long room: page load times and whether the page stays bounded.

Starts its own Synapse (webclient.demo.homeserver.LocalSynapse) and the client under daphne,
has one user send N messages, then opens the room as another user in real Chromium and
scrolls the timeline to the top again and again until the room's beginning. It measures

  - the time from reaching the top to the older page being in the DOM (laid out, scroll
    position restored), for each page of `--page` events: p50 / p95 / max in ms;
  - DOM nodes (`document.getElementsByTagName('*').length`) and the JS heap
    (`performance.memory.usedJSHeapSize`, precise with --enable-precise-memory-info, after a
    forced garbage collection), and CDP `Performance.getMetrics` (Nodes, JSHeapUsedSize), at
    the start and after scrolling back through all N events.

The page keeps at most MAX_TILES tiles (dropping far chunks). It opens with one page of
tiles and grows to MAX_TILES as it scrolls back, so the end is compared with two baselines:
the start (as opened; 300/50 tiles makes ~6x by design) and "full", measured once the page
first holds MAX_TILES tiles. "Bounded" means the end, in DOM nodes, CDP nodes and JS heap, is
at most 1.5x full: scrolling back through everything after that costs nothing more.

    .venv/bin/python benchmarks/scrollback.py                  # 2,000 events, pages of 50
    .venv/bin/python benchmarks/scrollback.py --events 5000 --json scrollback.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    clean_up,
    percentile,
    room_of_two,
    start_webclient,
)
from _harness import api as harness_api

from webclient.demo.homeserver import LocalSynapse, RegisteredUser

CS = "/_matrix/client/v3"
BOUND = 1.5

# Resolves once the timeline's "older" token changed after scrolling to the top: the chunk
# was fetched, inserted and the scroll position restored (history.js does all of it in one
# task, after which this observer runs).
SCROLL_UP = """
() => new Promise((resolve) => {
  const t = document.getElementById('timeline');
  const token = t.dataset.older || null;
  if (!token) { resolve(null); return; }
  const start = performance.now();
  const observer = new MutationObserver(() => {
    if ((t.dataset.older || null) === token) return;
    observer.disconnect();
    resolve(performance.now() - start);
  });
  observer.observe(t, { attributes: true, attributeFilter: ['data-older'] });
  if (t.scrollTop === 0) t.dispatchEvent(new Event('scroll'));
  t.scrollTop = 0;
})
"""

SNAPSHOT = """
() => ({
  nodes: document.getElementsByTagName('*').length,
  tiles: document.querySelectorAll('#timeline article.event[data-event-id]').length,
  heap: performance.memory ? performance.memory.usedJSHeapSize : null,
  ids: [...document.querySelectorAll('#timeline article.event[data-event-id]')]
    .map((t) => t.dataset.eventId),
})
"""


def api(hs: LocalSynapse, user: RegisteredUser, method: str, path: str, body=None) -> dict:
    return harness_api(hs, user, method, CS + path, body)


def send_all(hs: LocalSynapse, user: RegisteredUser, room_id: str, count: int, workers: int):
    def send(n: int) -> str:
        path = f"/rooms/{quote(room_id, safe='')}/send/m.room.message/{uuid.uuid4().hex}"
        return api(hs, user, "PUT", path, {"msgtype": "m.text", "body": f"scrollback {n}"})[
            "event_id"
        ]

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(send, range(count)))


def measure(page, cdp) -> dict[str, Any]:
    cdp.send("HeapProfiler.collectGarbage")
    snapshot = page.evaluate(SNAPSHOT)
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    snapshot["cdp_nodes"] = int(metrics.get("Nodes", 0))
    snapshot["cdp_heap"] = int(metrics.get("JSHeapUsedSize", 0))
    return snapshot


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="webclient-scrollback-"))
    synapse = LocalSynapse(work / "synapse", relaxed_rate_limits=True)
    webclient = None
    try:
        t = time.monotonic()
        synapse.start()
        env = {"TIMELINE_PAGE_SIZE": str(args.page), "LOG_LEVEL": "WARNING"}
        if args.max_tiles:
            env["MAX_TILES"] = str(args.max_tiles)
        webclient = start_webclient(work / "webclient", synapse.url, extra_env=env)
        print(f"Synapse {synapse.url}, webclient {webclient.url} ({time.monotonic() - t:.1f}s)")

        writer, viewer, room_id = room_of_two(synapse, "writer", "viewer", "Scrollback")
        t = time.monotonic()
        sent = send_all(synapse, writer, room_id, args.events, args.senders)
        took = time.monotonic() - t
        print(f"sent {len(sent)} messages in {took:.1f}s ({took / len(sent) * 1000:.0f} ms each)")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium,
                headless=True,
                args=[*CHROMIUM_ARGS, "--enable-precise-memory-info"],
            )
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.set_default_timeout(60000)
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(f"{webclient.url}/login/")
            page.fill("form#login-form input[name=homeserver]", synapse.url)
            page.fill("form#login-form input[name=username]", viewer.localpart)
            page.fill("form#login-form input[name=password]", viewer.password)
            page.click("form#login-form button[type=submit]")
            page.wait_for_url(f"{webclient.url}/rooms/")
            page.goto(f"{webclient.url}/rooms/{quote(room_id, safe='')}/")
            page.wait_for_selector('#room[data-live="true"]')
            page.wait_for_selector(f'#timeline [data-event-id="{sent[-1]}"]', state="attached")
            max_tiles = int(page.get_attribute("#room", "data-max-tiles") or 0)
            page.wait_for_timeout(1000)  # let the page settle (read marker, receipts)

            start = measure(page, cdp)
            seen = set(start.pop("ids"))
            loads: list[float] = []
            peak_nodes = start["nodes"]
            peak_tiles = start["tiles"]
            full = None
            while True:
                ms = page.evaluate(SCROLL_UP)
                if ms is None:
                    break
                loads.append(ms)
                snap = page.evaluate(SNAPSHOT)
                seen.update(snap["ids"])
                peak_nodes = max(peak_nodes, snap["nodes"])
                peak_tiles = max(peak_tiles, snap["tiles"])
                if full is None and snap["tiles"] >= max_tiles:
                    full = measure(page, cdp)
                    full.pop("ids")
                    full["after_pages"] = len(loads)
                if len(loads) % 10 == 0:
                    print(
                        f"  {len(loads)} pages back, {snap['tiles']} tiles, {snap['nodes']} nodes"
                    )
            end = measure(page, cdp)
            seen.update(end.pop("ids"))
            browser.close()
        return {
            "events": args.events,
            "page": args.page,
            "max_tiles": max_tiles,
            "send_seconds": took,
            "loads_ms": loads,
            "start": start,
            "full": full,
            "end": end,
            "peak_nodes": peak_nodes,
            "peak_tiles": peak_tiles,
            "seen": len(seen & set(sent)),
        }
    finally:
        clean_up(webclient, synapse, work, args.keep)


def report(result: dict[str, Any]) -> bool:
    loads = result["loads_ms"]
    start, full, end = result["start"], result["full"] or {}, result["end"]
    mib = 1024 * 1024
    print()
    print(f"{result['events']} events, pages of {result['page']}, MAX_TILES {result['max_tiles']}")
    if loads:
        print(
            f"older page loads ({len(loads)}): p50 {statistics.median(loads):.0f} ms, "
            f"p95 {percentile(loads, 95):.0f} ms, max {max(loads):.0f} ms"
        )
    print(f"messages shown as tiles on the way: {result['seen']}/{result['events']}")
    if full:
        print(f"the page first held MAX_TILES tiles after {full['after_pages']} pages ('full')")
    bounded = bool(full)
    for name, key, scale, unit in (
        ("DOM nodes", "nodes", 1, ""),
        ("timeline tiles", "tiles", 1, ""),
        ("JS heap (performance.memory)", "heap", mib, " MiB"),
        ("CDP Nodes", "cdp_nodes", 1, ""),
        ("CDP JSHeapUsedSize", "cdp_heap", mib, " MiB"),
    ):
        a, f, b = start.get(key), full.get(key), end.get(key)
        if a is None or b is None:
            print(f"{name}: not available")
            continue
        fmt = ".1f" if scale != 1 else ".0f"
        line = f"{name}: start {a / scale:{fmt}}{unit}"
        if f:
            line += f", full {f / scale:{fmt}}{unit}"
        line += f", end {b / scale:{fmt}}{unit} (end/start {b / a:.2f}x"
        line += f", end/full {b / f:.2f}x)" if f else ")"
        print(line)
        if f and key in ("nodes", "cdp_nodes", "heap", "cdp_heap"):
            bounded = bounded and b <= BOUND * f
    print(f"peak during the scroll: {result['peak_nodes']} nodes, {result['peak_tiles']} tiles")
    literal = end["nodes"] <= BOUND * start["nodes"]
    print(f"DOM nodes end <= {BOUND}x start (as opened): {'yes' if literal else 'no'}")
    print(f"bounded (end <= {BOUND}x full, nodes and heap): {'yes' if bounded else 'NO'}")
    return bounded and result["seen"] == result["events"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="messages in the room")
    parser.add_argument("--page", type=int, default=50, help="TIMELINE_PAGE_SIZE of the client")
    parser.add_argument("--max-tiles", type=int, default=0, help="MAX_TILES (0: the default)")
    parser.add_argument("--senders", type=int, default=6, help="concurrent sends when filling")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when the DOM was not bounded"
    )
    args = parser.parse_args()
    if args.events < 1 or args.page < 1:
        parser.error("--events and --page must be at least 1")
    result = run(args)
    ok = report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        print(f"measurements written to {args.json}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
