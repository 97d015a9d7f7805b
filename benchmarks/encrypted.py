"""Encrypted rooms: the browser against the crypto Element runs, and an encrypted first page.

Starts its own Synapse (webclient.demo.homeserver.LocalSynapse, relaxed rate limits) and the
client under daphne, and three users:

  - bob and carol run matrix-js-sdk 36.2.0 with its Rust crypto (what Element runs) in Node
    (tests/peers: `JsPeer`); carol is the reference reader, "the bare client";
  - alice signs in to this client in Chromium and reads there.

The peers keep the js-sdk's default key sharing (to every device of the room's members):
alice's device here is not cross-signed, and a peer set to share keys only with
cross-signed devices would withhold them from it.

1. Latency: bob sends `-n` messages (after `--warmup` unmeasured ones), one at a time, in an
   encrypted room with alice and carol. For each message, from bob's wall clock just before
   the send command: when carol's peer has it decrypted (the peer's `received_ts`), and when
   the room page in Chromium shows it decrypted (a MutationObserver's wall-clock time for the
   first tile of that event ID with no undecryptable-event marker). The same in an
   unencrypted room, for context. Target: the browser within 1.2x of carol at p50.
2. First page: an encrypted and an unencrypted room of 50 messages from bob (alice's device
   holds the keys). For each of `--rounds` fresh daphne processes (the render cache and the
   decrypted events are in memory, so a fresh process is a cold start): the first
   `GET /rooms/<room>/` of each room with alice's session cookie (in alternating order, after
   one warm-up page of another room), then `--loads` repeated loads of each. Target: the
   encrypted room's first load within 1.5x of the unencrypted one's at p50.

    .venv/bin/python benchmarks/encrypted.py                 # 40 messages, 5 rounds
    .venv/bin/python benchmarks/encrypted.py -n 100 --json encrypted.json --check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _harness import (
    BASE_DIR,
    CHROMIUM,
    CHROMIUM_ARGS,
    api,
    clean_up,
    percentile,
    sign_in,
    start_webclient,
    stats_line,
)

# The repository root first: the js peer wrapper lives in tests/peers, and `webclient` must be
# this checkout's (before latency.py imports it).
sys.path.insert(0, str(BASE_DIR))

from latency import ARRIVAL_SCRIPT  # noqa: E402

from tests.peers.jspeer import JsPeer  # noqa: E402
from webclient.demo.homeserver import LocalSynapse, RegisteredUser  # noqa: E402

TARGET_LATENCY_P50 = 1.2
TARGET_FIRST_PAGE = 1.5
PAGE_MESSAGES = 50

# Beside latency.py's ARRIVAL_SCRIPT: when each event's tile is first in the DOM *readable*
# (no undecryptable-event marker; a tile healed in place counts when it heals), and when one
# was first shown undecryptable. To a tenth of a millisecond; carol's peer stamps with Node's
# `Date.now()`, which truncates to whole ones (Node's finer clock is not kept to the wall
# clock): if anything, that favours carol.
CLEAR_SCRIPT = """
(() => {
  window.__clear = {};
  window.__utd = {};
  const check = (tile) => {
    const id = tile.dataset.eventId;
    if (!id || id in window.__clear) return;
    if (tile.matches('[data-utd]') || tile.querySelector('[data-utd]')) {
      window.__utd[id] = performance.timeOrigin + performance.now();
      return;
    }
    window.__clear[id] = performance.timeOrigin + performance.now();
  };
  const note = (node) => {
    if (node.nodeType !== 1) return;
    if (node.matches('[data-event-id]')) check(node);
    node.querySelectorAll('[data-event-id]').forEach(check);
  };
  new MutationObserver((records) => {
    for (const record of records) {
      record.addedNodes.forEach(note);
      const host = record.target.closest && record.target.closest('[data-event-id]');
      if (host) check(host);
    }
  }).observe(document, { childList: true, subtree: true });
})();
"""

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


async def start_peer(work: Path, synapse: LocalSynapse, user: RegisteredUser) -> JsPeer:
    peer = JsPeer(user.localpart, work / "peers" / f"{user.localpart}.log")
    await peer.start()
    await peer.login(synapse.url, user.user_id, user.password)
    return peer


def join(synapse: LocalSynapse, user: RegisteredUser, room_id: str) -> None:
    api(synapse, user, "POST", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/join", {})


def browser_device(synapse: LocalSynapse, user: RegisteredUser) -> str:
    """The device this client signed in for `user` (the browser's login)."""
    devices = api(synapse, user, "GET", "/_matrix/client/v3/devices")["devices"]
    found = [d["device_id"] for d in devices if d.get("display_name") == "webclient (browser)"]
    assert len(found) == 1, devices
    return found[0]


async def measure_latency(
    args: argparse.Namespace, page: Any, bob: JsPeer, carol: JsPeer, room_id: str
) -> list[dict[str, Any]]:
    """Bob sends one message at a time; carol's and the page's arrival of each."""

    def settled(event_id: str):  # noqa: ANN202
        return lambda e: (
            e.get("event_id") == event_id
            and e.get("error") is None
            and not e.get("pending_decryption")
        )

    rows = []
    for n in range(args.warmup + args.messages):
        await asyncio.sleep(args.interval * random.uniform(0.5, 1.5))
        before = time.time()
        sent = await bob.call("send_text", room_id=room_id, body=f"encrypted probe {n}")
        after = time.time()
        event_id = sent["event_id"]
        seen = await carol.next_event("message", timeout=args.timeout, where=settled(event_id))
        await page.wait_for_function(
            "id => window.__clear && id in window.__clear",
            arg=event_id,
            timeout=args.timeout * 1000,
        )
        clear_ms, utd_ms, frame_ms = await page.evaluate(
            "id => [window.__clear[id], window.__utd[id], window.__readFrames()[id]]", event_id
        )
        if n < args.warmup:
            continue
        rows.append(
            {
                "event_id": event_id,
                "sent_at": before,
                "send_ms": (after - before) * 1000,
                "js_ms": seen["received_ts"] - before * 1000,
                "js_encrypted": seen["encrypted"],
                "browser_ms": clear_ms - before * 1000,
                "browser_utd_first_ms": (utd_ms - before * 1000) if utd_ms else None,
                "frame_ms": (frame_ms - before * 1000) if frame_ms else None,
            }
        )
    return rows


def get_page(base: str, path: str, cookie: str) -> tuple[float, str, int]:
    """(milliseconds to the whole body, body, status) of one GET with the session cookie."""
    request = urllib.request.Request(base + path, headers={"Cookie": cookie})
    started = time.perf_counter()
    with _OPENER.open(request, timeout=60) as response:
        body = response.read().decode()
        status = response.status
    return (time.perf_counter() - started) * 1000, body, status


def wait_for_rooms(base: str, cookie: str, room_ids: list[str], timeout: float = 60) -> None:
    """Until the room list of a fresh process names every room (its first sync is done)."""
    deadline = time.monotonic() + timeout
    while True:
        _, body, _ = get_page(base, "/rooms/", cookie)
        if all(f'data-room-entry="{room_id}"' in body for room_id in room_ids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the room list did not show {room_ids} in {timeout} s")
        time.sleep(0.3)


def check_page(body: str, kind: str) -> None:
    """The page holds all 50 messages, readable (nothing waiting for a key)."""
    shown = len(re.findall(r"first page probe \d+", body))
    if shown < PAGE_MESSAGES or "data-utd" in body:
        raise RuntimeError(
            f"the {kind} first page shows {shown} of {PAGE_MESSAGES} messages"
            f" and {body.count('data-utd')} undecryptable ones"
        )


def measure_first_pages(
    args: argparse.Namespace,
    work: Path,
    synapse: LocalSynapse,
    cookie: str,
    rooms: dict[str, str],
    warm_rooms: list[str],
) -> list[dict[str, Any]]:
    """Cold and repeated loads of both first-page rooms, a fresh daphne process a round."""
    rows: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        server = start_webclient(
            work / "webclient",
            synapse.url,
            extra_env={"MATRIX_SYNC_TIMEOUT_MS": str(args.sync_timeout_ms), "LOG_LEVEL": "WARNING"},
        )
        try:
            wait_for_rooms(server.url, cookie, list(rooms.values()))
            # Templates, imports and the first decryption warmed up on other rooms; then a
            # moment for the device's chores after its first sync (keys, to-device, backup).
            for warm in warm_rooms:
                get_page(server.url, f"/rooms/{quote(warm, safe='')}/", cookie)
            time.sleep(args.settle)
            order = ["encrypted", "plain"] if round_no % 2 == 0 else ["plain", "encrypted"]
            for kind in order:
                ms, body, status = get_page(
                    server.url, f"/rooms/{quote(rooms[kind], safe='')}/", cookie
                )
                assert status == 200, status
                check_page(body, kind)
                rows.append({"round": round_no, "kind": kind, "load": "first", "ms": ms})
            for _ in range(args.loads):
                for kind in order:
                    ms, body, _ = get_page(
                        server.url, f"/rooms/{quote(rooms[kind], safe='')}/", cookie
                    )
                    rows.append({"round": round_no, "kind": kind, "load": "repeat", "ms": ms})
        finally:
            server.stop()
    return rows


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    work = Path(tempfile.mkdtemp(prefix="webclient-bench-e2e-"))
    synapse = LocalSynapse(work / "synapse", relaxed_rate_limits=True)
    webclient = None
    peers: list[JsPeer] = []
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
        alice = synapse.register(f"alice-{stamp}", "pw-alice", displayname="Alice (browser)")
        bob_user = synapse.register(f"bob-{stamp}", "pw-bob", displayname="Bob (js-sdk)")
        carol_user = synapse.register(f"carol-{stamp}", "pw-carol", displayname="Carol (js-sdk)")
        t = time.monotonic()
        bob, carol = await asyncio.gather(
            start_peer(work, synapse, bob_user), start_peer(work, synapse, carol_user)
        )
        peers += [bob, carol]
        print(f"js peers up ({time.monotonic() - t:.1f}s); their logs in {work / 'peers'}")

        rooms: dict[str, str] = {}
        for kind, encrypted in (("encrypted", True), ("plain", False)):
            created = await bob.call(
                "create_room",
                encrypted=encrypted,
                invite=[alice.user_id, carol_user.user_id],
                name=f"Latency ({kind})",
            )
            rooms[kind] = created["room_id"]
            await carol.call("wait_invite", room_id=rooms[kind])
            await carol.call("join", room_id=rooms[kind])
            join(synapse, alice, rooms[kind])
        first_pages: dict[str, str] = {}
        for kind, encrypted in (("encrypted", True), ("plain", False)):
            created = await bob.call(
                "create_room",
                encrypted=encrypted,
                invite=[alice.user_id],
                name=f"First page ({kind})",
            )
            first_pages[kind] = created["room_id"]
            join(synapse, alice, first_pages[kind])

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
            )
            context = await browser.new_context()
            await context.add_init_script(ARRIVAL_SCRIPT)
            await context.add_init_script(CLEAR_SCRIPT)
            page = await context.new_page()
            page.set_default_timeout(30000)
            await sign_in(page, webclient.url, synapse.url, alice)

            # Bob's crypto must know alice's new device before he sends, or it gets no key.
            device_id = browser_device(synapse, alice)
            known = await bob.call(
                "device_status",
                user_id=alice.user_id,
                device_id=device_id,
                timeout_ms=30000,
                timeout=40,
            )
            if not known["known"]:
                raise RuntimeError(f"bob's crypto never saw alice's device {device_id}")

            # The first-page rooms' 50 messages, sent now so alice's device gets their keys.
            t = time.monotonic()
            for kind in ("encrypted", "plain"):
                for n in range(PAGE_MESSAGES):
                    await bob.call(
                        "send_text", room_id=first_pages[kind], body=f"first page probe {n}"
                    )
            print(f"2 x {PAGE_MESSAGES} messages sent ({time.monotonic() - t:.1f}s)")

            latency: dict[str, list[dict[str, Any]]] = {}
            for kind in ("encrypted", "plain"):
                await page.goto(f"{webclient.url}/rooms/{quote(rooms[kind], safe='')}/")
                await page.wait_for_selector('#room[data-live="true"]')
                t = time.monotonic()
                latency[kind] = await measure_latency(args, page, bob, carol, rooms[kind])
                print(f"{kind} room: {len(latency[kind])} messages ({time.monotonic() - t:.1f}s)")

            cookies = await context.cookies(webclient.url)
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
            await browser.close()

        webclient.stop()
        webclient = None
        t = time.monotonic()
        first_page = measure_first_pages(
            args, work, synapse, cookie, first_pages, warm_rooms=list(rooms.values())
        )
        print(f"first pages: {args.rounds} fresh processes ({time.monotonic() - t:.1f}s)")
        return {
            "latency": latency,
            "first_page": first_page,
            "synapse": synapse.url,
            "rounds": args.rounds,
        }
    finally:
        await asyncio.gather(*(peer.stop() for peer in peers), return_exceptions=True)
        clean_up(webclient, synapse, work, args.keep)


def line(name: str, values: list[float]) -> str:
    return stats_line(name, values, 36)


def report(result: dict[str, Any]) -> dict[str, Any]:
    """Print the figures; returns the ratios and whether each target is met."""
    verdicts: dict[str, Any] = {}
    for kind in ("encrypted", "plain"):
        rows = result["latency"][kind]
        js = [r["js_ms"] for r in rows]
        browser = [r["browser_ms"] for r in rows]
        print(f"\n{kind} room, {len(rows)} messages, ms from just before bob's send command:")
        print(line("bob's send returned", [r["send_ms"] for r in rows]))
        print(line("carol (js-sdk, Rust crypto)", js))
        print(line("browser page (readable)", browser))
        frames = [r["frame_ms"] for r in rows if r["frame_ms"] is not None]
        if frames:
            print(line("  websocket frame in", frames))
        late = sum(1 for r in rows if r["browser_utd_first_ms"] is not None)
        if late:
            print(f"  {late} tiles were first shown undecryptable, then healed")
        ratio50 = percentile(browser, 50) / percentile(js, 50)
        ratio95 = percentile(browser, 95) / percentile(js, 95)
        print(f"{'browser/js-sdk ratio:':<36} p50 {ratio50:.2f}x   p95 {ratio95:.2f}x")
        verdicts[f"latency_{kind}"] = {"p50": ratio50, "p95": ratio95}
    ratio = verdicts["latency_encrypted"]["p50"]
    verdicts["latency_met"] = ratio <= TARGET_LATENCY_P50

    rows = result["first_page"]
    print(f"\nfirst page of {PAGE_MESSAGES} messages, GET /rooms/<room>/ in ms:")
    figures: dict[str, dict[str, list[float]]] = {}
    for load in ("first", "repeat"):
        for kind in ("encrypted", "plain"):
            values = [r["ms"] for r in rows if r["kind"] == kind and r["load"] == load]
            figures.setdefault(load, {})[kind] = values
            what = "first load (fresh process)" if load == "first" else "repeated loads"
            print(line(f"{kind:<9} {what}", values))
    first = percentile(figures["first"]["encrypted"], 50) / percentile(
        figures["first"]["plain"], 50
    )
    repeat = percentile(figures["repeat"]["encrypted"], 50) / percentile(
        figures["repeat"]["plain"], 50
    )
    print(
        f"{'encrypted/unencrypted ratio:':<36} first load p50 {first:.2f}x"
        f"   repeated p50 {repeat:.2f}x"
    )
    verdicts["first_page"] = {"first_p50": first, "repeat_p50": repeat}
    verdicts["first_page_met"] = first <= TARGET_FIRST_PAGE

    print()
    for met, text in (
        (
            verdicts["latency_met"],
            f"Target browser <= {TARGET_LATENCY_P50}x js-sdk at p50 (encrypted room):"
            f" {{}} ({ratio:.3f}x)",
        ),
        (
            verdicts["first_page_met"],
            f"Target encrypted first page <= {TARGET_FIRST_PAGE}x unencrypted at p50:"
            f" {{}} ({first:.3f}x)",
        ),
    ):
        print(text.format("MEETS" if met else "DOES NOT MEET"))
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=40, help="measured messages a room")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured first messages")
    parser.add_argument(
        "--interval", type=float, default=0.3, help="mean pause between messages (seconds)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per-message wait (s)")
    parser.add_argument(
        "--sync-timeout-ms", type=int, default=30000, help="/sync long-poll of the client"
    )
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes for first pages")
    parser.add_argument("--loads", type=int, default=10, help="repeated loads a room a round")
    parser.add_argument(
        "--settle", type=float, default=1.0, help="pause after a fresh process's first sync (s)"
    )
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args()
    if args.messages < 1 or args.rounds < 1:
        parser.error("--messages and --rounds must be at least 1")

    result = asyncio.run(run(args))
    verdicts = report(result)
    if args.json:
        args.json.write_text(json.dumps({**result, "verdicts": verdicts}, indent=2))
        print(f"measurements written to {args.json}")
    met = verdicts["latency_met"] and verdicts["first_page_met"]
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
