"""Kiosk soak: a kiosk screen left running while messages arrive, as on a wall for weeks.

Starts its own Synapse (webclient.demo.homeserver.LocalSynapse) and the client under daphne,
makes a kiosk link through Settings → Kiosk screens as a signed-in user would, opens it in a
fresh Chromium context (no login) and has another user send `--rate` messages a second for
the given time. It reports

  - the JS heap used (CDP `HeapProfiler.collectGarbage`, then `Performance.getMetrics`
    JSHeapUsedSize and `performance.memory.usedJSHeapSize`) and the DOM size (CDP Nodes and
    `document.getElementsByTagName('*').length`) at the start, every `--sample-every`
    seconds and at the end;
  - every missed event (sent, never shown) and every duplicate (a tile added while a tile
    with the same event ID was still in the panel), from a MutationObserver installed with
    `add_init_script`. The page's record is drained every few seconds so it does not grow
    the heap being measured;
  - the delay from send to tile (p50 / p95 / max), which includes any outage.

With `--drop-every N` the daphne server is stopped every N seconds and started again on the
same port and data directory after `--down-seconds`, so the screen must reconnect and catch
up (server restarts change the session's epoch: the screen fetches pages back to the last
event it showed).

    .venv/bin/python benchmarks/kiosk_soak.py                        # 3 minutes, 1 msg/s
    .venv/bin/python benchmarks/kiosk_soak.py --minutes 2 --drop-every 40
    .venv/bin/python benchmarks/kiosk_soak.py --hours 8 --rate 0.2 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
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

from webclient.demo.homeserver import LocalSynapse, MatrixHTTPError, RegisteredUser

CS = "/_matrix/client/v3"
BUILD = "kiosk-soak"  # fixed, so a restart is not an upgrade (which reloads the screen)

# Runs before any page script. Records the first time each event ID was added to a panel,
# how often an ID was added again (catch-up moving a tile counts here, harmlessly), and
# duplicates: an ID added while another tile with that ID was still in the panel.
RECORDER = """
(() => {
  const rec = { seen: {}, readded: 0, dups: [], reloads: 0 };
  window.__soak = rec;
  document.addEventListener('DOMContentLoaded', () => {
    const root = document.getElementById('kiosk');
    if (!root) return;
    const now = Date.now();
    root.querySelectorAll('.kiosk-timeline [data-event-id]').forEach((n) => {
      rec.seen[n.dataset.eventId] = now;
    });
    new MutationObserver((records) => {
      const at = Date.now();
      for (const r of records) {
        for (const n of r.addedNodes) {
          if (n.nodeType !== 1) continue;
          const panel = n.closest('.kiosk-timeline');
          if (!panel) continue;
          const nodes = n.matches('[data-event-id]') ? [n] : [];
          nodes.push(...n.querySelectorAll('[data-event-id]'));
          for (const t of nodes) {
            const id = t.dataset.eventId;
            if (id in rec.seen) rec.readded++;
            else rec.seen[id] = at;
            const same = panel.querySelectorAll('[data-event-id="' + CSS.escape(id) + '"]');
            if (same.length > 1) rec.dups.push(id);
          }
        }
      }
    }).observe(root, { childList: true, subtree: true });
  });
})();
"""

# Hand over what the page recorded since the last call and forget it there.
DRAIN = """
() => {
  const rec = window.__soak || { seen: {}, readded: 0, dups: [] };
  const out = { seen: rec.seen, readded: rec.readded, dups: rec.dups };
  rec.seen = {}; rec.readded = 0; rec.dups = [];
  return out;
}
"""

SNAPSHOT = """
() => ({
  nodes: document.getElementsByTagName('*').length,
  tiles: document.querySelectorAll('.kiosk-timeline article.event[data-event-id]').length,
  heap: performance.memory ? performance.memory.usedJSHeapSize : null,
  live: (document.getElementById('kiosk') || {dataset: {}}).dataset.live || null,
  order: [...document.querySelectorAll('.kiosk-timeline article.event[data-event-id]')]
    .map((t) => t.dataset.eventId),
})
"""


def api(hs: LocalSynapse, user: RegisteredUser, method: str, path: str, body=None) -> dict:
    return harness_api(hs, user, method, CS + path, body)


class Sender(threading.Thread):
    """Sends `rate` messages a second as `user`, keeping (event ID, wall-clock ms) in order."""

    def __init__(self, hs: LocalSynapse, user: RegisteredUser, room_id: str, rate: float):
        super().__init__(daemon=True)
        self.hs, self.user, self.room_id, self.rate = hs, user, room_id, rate
        self.sent: list[tuple[str, float]] = []
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        interval = 1 / self.rate
        due = time.monotonic()
        n = 0
        while not self.halt.is_set():
            path = f"/rooms/{quote(self.room_id, safe='')}/send/m.room.message/{uuid.uuid4().hex}"
            at = time.time() * 1000
            try:
                answer = api(
                    self.hs, self.user, "PUT", path, {"msgtype": "m.text", "body": f"soak {n}"}
                )
                self.sent.append((answer["event_id"], at))
            except (MatrixHTTPError, OSError) as exc:
                self.errors.append(f"{n}: {exc}")
            n += 1
            due += interval
            self.halt.wait(max(0.0, due - time.monotonic()))


def measure(page, cdp) -> dict[str, Any]:
    cdp.send("HeapProfiler.collectGarbage")
    snapshot = page.evaluate(SNAPSHOT)
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    snapshot["cdp_nodes"] = int(metrics.get("Nodes", 0))
    snapshot["cdp_heap"] = int(metrics.get("JSHeapUsedSize", 0))
    snapshot["listeners"] = int(metrics.get("JSEventListeners", 0))
    return snapshot


def create_link(context, base: str, hs: LocalSynapse, owner: RegisteredUser, room_id: str) -> str:
    """Sign in and make the link through Settings → Kiosk screens, as a person would."""
    page = context.new_page()
    page.set_default_timeout(60000)
    page.goto(f"{base}/login/")
    page.fill("form#login-form input[name=homeserver]", hs.url)
    page.fill("form#login-form input[name=username]", owner.localpart)
    page.fill("form#login-form input[name=password]", owner.password)
    page.click("form#login-form button[type=submit]")
    page.wait_for_url(f"{base}/rooms/")
    page.goto(f"{base}/settings/kiosks/")
    form = page.locator("#create-kiosk-form")
    form.locator("input[name=name]").fill("soak")
    form.locator(f'input[name=rooms][value="{room_id}"]').check()
    form.locator("input[name=password]").fill(owner.password)
    form.locator("#create-kiosk-button").click()
    url = page.locator("#new-kiosk-url").input_value()
    page.close()
    return url


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    duration = args.hours * 3600 if args.hours else args.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="webclient-kiosk-soak-"))
    synapse = LocalSynapse(work / "synapse", relaxed_rate_limits=True)
    env = {"LOG_LEVEL": "WARNING", "WEBCLIENT_BUILD_ID": BUILD}
    if args.max_tiles:
        env["KIOSK_MAX_TILES"] = str(args.max_tiles)
    webclient = None
    sender = None
    try:
        t = time.monotonic()
        synapse.start()
        webclient = start_webclient(work / "webclient", synapse.url, extra_env=env)
        print(f"Synapse {synapse.url}, webclient {webclient.url} ({time.monotonic() - t:.1f}s)")
        writer, owner, room_id = room_of_two(synapse, "writer", "owner", "Soak")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium,
                headless=True,
                args=[*CHROMIUM_ARGS, "--enable-precise-memory-info"],
            )
            settings_context = browser.new_context()
            url = create_link(settings_context, webclient.url, synapse, owner, room_id)
            settings_context.close()

            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            page.set_default_timeout(60000)
            page.add_init_script(RECORDER)
            loads: list[float] = []
            page.on("load", lambda _page: loads.append(time.monotonic()))
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(url)
            page.wait_for_selector('#kiosk[data-live="true"]')
            max_tiles = int(page.get_attribute("#kiosk", "data-max-tiles") or 0)
            page.wait_for_timeout(1000)

            seen: dict[str, float] = {}
            dups: list[str] = []
            readded = 0

            def drain() -> None:
                nonlocal readded
                got = page.evaluate(DRAIN)
                for event_id, at in got["seen"].items():
                    seen.setdefault(event_id, at)
                dups.extend(got["dups"])
                readded += got["readded"]

            start = measure(page, cdp)
            start.pop("order")
            start["t"] = 0.0
            samples = [start]
            print(
                f"start: {start['tiles']} tiles, {start['nodes']} DOM nodes, "
                f"heap {start['cdp_heap'] / 1048576:.2f} MiB"
            )
            sender = Sender(synapse, writer, room_id, args.rate)
            t0 = time.monotonic()
            sender.start()
            next_sample = t0 + args.sample_every
            next_drain = t0 + 5
            next_drop = t0 + args.drop_every if args.drop_every else float("inf")
            drops: list[dict[str, float]] = []
            while (now := time.monotonic()) < t0 + duration:
                if now >= next_drop:
                    down_at = time.monotonic()
                    webclient.stop()
                    page.wait_for_timeout(args.down_seconds * 1000)
                    webclient = start_webclient(
                        webclient.data_dir, synapse.url, port=webclient.port, extra_env=env
                    )
                    up_at = time.monotonic()
                    page.wait_for_selector('#kiosk[data-live="true"]', timeout=120000)
                    drops.append(
                        {
                            "at": down_at - t0,
                            "down": up_at - down_at,
                            "live_again": time.monotonic() - down_at,
                        }
                    )
                    print(
                        f"  {down_at - t0:5.0f}s server restarted: down {up_at - down_at:.1f}s, "
                        f"screen live again after {time.monotonic() - down_at:.1f}s"
                    )
                    next_drop = time.monotonic() + args.drop_every
                if now >= next_drain:
                    drain()
                    next_drain = now + 5
                if now >= next_sample:
                    drain()
                    snap = measure(page, cdp)
                    snap.pop("order")
                    snap["t"] = now - t0
                    samples.append(snap)
                    print(
                        f"  {snap['t']:5.0f}s sent {len(sender.sent)}, "
                        f"shown {sum(1 for e, _ in list(sender.sent) if e in seen)}, "
                        f"{snap['tiles']} tiles, {snap['nodes']} DOM nodes, "
                        f"heap {snap['cdp_heap'] / 1048576:.2f} MiB"
                    )
                    next_sample = now + args.sample_every
                page.wait_for_timeout(250)
            sender.halt.set()
            sender.join(30)
            sent_ids = [event_id for event_id, _ in sender.sent]
            # Wait for the last one (a reconnect's backoff may still be running).
            if sent_ids:
                try:
                    page.wait_for_selector(
                        f'.kiosk-timeline [data-event-id="{sent_ids[-1]}"]',
                        state="attached",
                        timeout=90000,
                    )
                except PlaywrightTimeout as exc:  # reported below as missed
                    print(f"the last message did not show: {exc}")
            page.wait_for_timeout(2000)
            drain()
            end = measure(page, cdp)
            order = end.pop("order")
            end["t"] = time.monotonic() - t0
            samples.append(end)
            browser.close()

        sent_at = dict(sender.sent)
        missed = [event_id for event_id in sent_ids if event_id not in seen]
        delays = [seen[e] - sent_at[e] for e in sent_ids if e in seen]
        shown_sent = [e for e in order if e in sent_at]
        in_order = shown_sent == [e for e in sent_ids if e in set(shown_sent)]
        return {
            "seconds": duration,
            "rate": args.rate,
            "max_tiles": max_tiles,
            "drop_every": args.drop_every,
            "sent": len(sent_ids),
            "send_errors": sender.errors,
            "shown": len(sent_ids) - len(missed),
            "missed": missed,
            "duplicates": dups,
            "readded": readded,
            "reloads": len(loads) - 1,
            "final_order_ok": in_order,
            "final_tiles": end["tiles"],
            "delays_ms": delays,
            "drops": drops,
            "samples": samples,
        }
    finally:
        if sender is not None:
            sender.halt.set()
        clean_up(webclient, synapse, work, args.keep)


def report(result: dict[str, Any]) -> bool:
    mib = 1048576
    samples = result["samples"]
    start, end = samples[0], samples[-1]
    print()
    print(
        f"{result['seconds'] / 60:.1f} minutes at {result['rate']} msg/s, "
        f"KIOSK_MAX_TILES {result['max_tiles']}, "
        + (
            f"server restarted every {result['drop_every']}s ({len(result['drops'])} times)"
            if result["drop_every"]
            else "no restarts"
        )
    )
    print(
        f"sent {result['sent']} (send errors {len(result['send_errors'])}), "
        f"shown {result['shown']}, missed {len(result['missed'])}, "
        f"duplicates {len(result['duplicates'])}, reloads {result['reloads']}"
    )
    if result["missed"]:
        print(f"  missed: {result['missed'][:20]}")
    if result["duplicates"]:
        print(f"  duplicates: {result['duplicates'][:20]}")
    print(
        f"tiles moved or re-added by catch-up: {result['readded']}; final panel in send "
        f"order: {'yes' if result['final_order_ok'] else 'NO'} ({result['final_tiles']} tiles)"
    )
    delays = result["delays_ms"]
    if delays:
        print(
            f"send → tile: p50 {statistics.median(delays):.0f} ms, "
            f"p95 {percentile(delays, 95):.0f} ms, max {max(delays):.0f} ms"
        )
    for drop in result["drops"]:
        print(
            f"  restart at {drop['at']:.0f}s: server down {drop['down']:.1f}s, "
            f"screen live again {drop['live_again']:.1f}s after the stop"
        )
    print("samples (after a forced GC):")
    print("      t   tiles  DOM nodes  CDP nodes  CDP heap MiB  perf.memory MiB  listeners")
    for s in samples:
        heap = f"{s['heap'] / mib:15.2f}" if s.get("heap") else f"{'-':>15}"
        print(
            f"  {s['t']:5.0f}s {s['tiles']:6d} {s['nodes']:10d} {s['cdp_nodes']:10d} "
            f"{s['cdp_heap'] / mib:13.2f} {heap} {s['listeners']:10d}"
        )
    print(
        f"end/start: DOM nodes {end['nodes'] / start['nodes']:.2f}x, "
        f"CDP nodes {end['cdp_nodes'] / max(start['cdp_nodes'], 1):.2f}x, "
        f"JS heap {end['cdp_heap'] / start['cdp_heap']:.2f}x"
    )
    full = next((s for s in samples if s["tiles"] >= result["max_tiles"]), None)
    if full is not None and full is not end:
        print(
            f"end/first full sample ({full['t']:.0f}s, {full['tiles']} tiles): "
            f"DOM nodes {end['nodes'] / full['nodes']:.2f}x, "
            f"CDP nodes {end['cdp_nodes'] / max(full['cdp_nodes'], 1):.2f}x, "
            f"JS heap {end['cdp_heap'] / full['cdp_heap']:.2f}x"
        )
    return not result["missed"] and not result["duplicates"] and result["final_order_ok"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3, help="how long to send (default 3)")
    parser.add_argument("--hours", type=float, help="how long to send, in hours (overrides)")
    parser.add_argument("--rate", type=float, default=1.0, help="messages a second (default 1)")
    parser.add_argument(
        "--drop-every", type=float, default=0, help="restart the server every N seconds"
    )
    parser.add_argument(
        "--down-seconds", type=float, default=3, help="how long each restart keeps it down"
    )
    parser.add_argument(
        "--sample-every", type=float, default=60, help="seconds between measurements"
    )
    parser.add_argument("--max-tiles", type=int, default=0, help="KIOSK_MAX_TILES (0: default)")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 on a missed or duplicate event"
    )
    args = parser.parse_args()
    if args.rate <= 0 or (args.hours or args.minutes) <= 0:
        parser.error("--rate and the duration must be positive")
    result = run(args)
    ok = report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        print(f"measurements written to {args.json}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
