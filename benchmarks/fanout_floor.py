"""The floor under `fanout.py`: the same screens fed by a server that does nothing but write.

`fanout.py`'s target (5,000 screens within 2x of one screen's p99) compares the whole path
(homeserver, sync, render, fan-out) for one screen against 5,000. This script measures what
no server could do better on this machine: a bare websocket server (one process, asyncio,
the RFC 6455 handshake and nothing else) that writes one prepared `events` frame of the
size the client sends (the same bytes to every socket, `socket.send` straight away, as
`live/frames.py` does) to every open screen, with the very same screens as `fanout.py`
(`--client raw`: hand-parsed websockets in client processes of 250 on the same machine).

For each size: `--messages` frames `--interval` apart, each stamped when its writing starts;
per (screen, frame) the time from that stamp to the frame reaching the screen's socket (the
kernel's receive time, as `fanout.py` measures it); the server's CPU per
frame. The p99 ratio against one screen is the best `fanout.py` could report here; the
server's CPU per screen is the cost of writing the bytes that `fanout.py`'s daphne figure is
compared with. `--threads 2` writes as `live/frames.py` writes a big push: half the sockets
from a helper thread (the `send` releases the GIL, and most of its cost is the kernel's).

    .venv/bin/python benchmarks/fanout_floor.py                  # 1 and 5,000 screens
    .venv/bin/python benchmarks/fanout_floor.py --sizes 1 500 5000 --messages 40
    .venv/bin/python benchmarks/fanout_floor.py --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _harness import percentile
from fanout import TARGET_P99_RATIO, Screens

from webclient.live.frames import ws_text_frame

GUID = b"258EAFA5-E914-47A5-95CA-C5AB0DC11B65"
# An `events` frame as the client sends one kiosk message: a rendered tile of this size.
TILE_BYTES = 1800


HELLO = ws_text_frame(json.dumps({"type": "hello"}).encode())


class Screen(asyncio.Protocol):
    """One websocket: the handshake, then only what the server writes (pings unanswered:
    none are sent)."""

    def __init__(self, screens: list[Any]) -> None:
        self.screens = screens
        self.buffer: bytes | None = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.buffer is None:
            return  # frames from the screen (a close): nothing to do
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        key = b""
        for line in self.buffer[:end].split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID, usedforsecurity=False).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + HELLO
        )
        self.buffer = None
        self.screens.append(self.transport)


def server_process(conn: Any, port_out: Any, threads: int = 1) -> None:
    asyncio.run(_serve(conn, port_out, threads))


def _send_each(socks: list[socket.socket], wire: bytes) -> int:
    """`send` the bytes onto each socket; how many did not take all of them."""
    short = 0
    for sock in socks:
        try:
            short += sock.send(wire) < len(wire)
        except OSError:
            short += 1
    return short


async def _serve(conn: Any, port_out: Any, threads: int) -> None:
    loop = asyncio.get_running_loop()
    screens: list[Any] = []
    server = await loop.create_server(lambda: Screen(screens), "127.0.0.1", 0, backlog=4096)
    port_out.send(server.sockets[0].getsockname()[1])
    stamps: list[float] = []
    cpu: list[float] = []
    # With two threads, as `live/frames.end_writes` writes a big push: half the sockets from
    # a helper thread, `socket.send` on each (a copy of the transport's socket). Not through
    # `frames.collect` itself: its tuple per socket sets off the garbage collector in this
    # small process, which stalled both threads (p99 61-64 ms against 36-38 ms, 2026-12-05),
    # and a floor is what writing costs with nothing else done (in daphne, holding the
    # collector off during a push measured no difference).
    helper = ThreadPoolExecutor(1) if threads > 1 else None
    raw: list[socket.socket] = []
    short = 0
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command[0] != "send":
            break
        event_id = command[1]
        tile = {"event_id": event_id, "html": "x" * TILE_BYTES, "replace": False}
        frame = {"type": "events", "room_id": "!floor:localhost", "events": [tile], "pos": 1}
        cpu_before = time.process_time()
        stamp = time.time()
        wire = ws_text_frame(json.dumps(frame).encode())
        if helper is None:
            for transport in screens:
                # `live/frames.py`: the same bytes onto each socket (asyncio's `write` sends at
                # once when nothing is queued, as `ops/lifecycle._write_now` does under daphne).
                transport.write(wire)
        else:
            for transport in screens[len(raw) :]:
                fd = os.dup(transport.get_extra_info("socket").fileno())
                raw.append(socket.socket(fileno=fd))
            half = len(raw) // 2
            later = helper.submit(_send_each, raw[half:], wire)
            short += _send_each(raw[:half], wire) + later.result()
        cpu.append(time.process_time() - cpu_before)
        stamps.append(stamp)
        conn.send(("sent", stamp))
    conn.send(("stats", cpu, len(screens), short))
    server.close()


async def run_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    port_parent, port_child = context.Pipe()
    threads = getattr(args, "threads", 1)
    server = context.Process(target=server_process, args=(child, port_child, threads), daemon=True)
    server.start()
    port = port_parent.recv()
    screens = Screens()
    try:
        url = f"ws://127.0.0.1:{port}/ws/?floor=1"
        await screens.attach([(url, f"http://127.0.0.1:{port}", n)], args.viewers_per_process)
        await asyncio.sleep(1.0)
        sent: list[tuple[str, float, bool]] = []
        next_at = time.monotonic()
        for k in range(args.warmup + args.messages):
            next_at += args.interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            event_id = f"$floor-{n}-{k}"
            parent.send(("send", event_id))
            _, stamp = await asyncio.to_thread(parent.recv)
            sent.append((event_id, stamp, k >= args.warmup))
        missing = await screens.wait_for([e for e, _, _ in sent], args.timeout)
        arrivals, _others, client_cpu, shared = await screens.stop()
        parent.send(("stop",))
        _, cpu, sockets, short = await asyncio.to_thread(parent.recv)
    finally:
        screens.kill()
        server.join(5)
        if server.is_alive():
            server.kill()
    # A frame that came in one read with later bytes has no stamp of its own (fanout.py's
    # `RawScreen.shared`): left out, as there.
    delays = [
        (seen[event_id][0] - stamp) * 1000
        for event_id, stamp, measured in sent
        if measured
        for seen, unsure in zip(arrivals, shared, strict=True)
        if event_id in seen and event_id not in unsure
    ]
    measured_cpu = cpu[args.warmup :]
    return {
        "screens": n,
        "threads": threads,
        "sockets": sockets,
        "short_writes": short,
        "missing": missing,
        "p50_ms": percentile(delays, 50),
        "p99_ms": percentile(delays, 99),
        "cpu_ms_per_frame": statistics.median(measured_cpu) * 1000,
        "us_per_screen": statistics.median(measured_cpu) / max(n, 1) * 1e6,
        "client_cpu_s": sum(client_cpu),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for n in args.sizes:
        print(f"{n} screens…", flush=True)
        results.append(await run_size(n, args))
    return results


def report(results: list[dict[str, Any]]) -> None:
    base = results[0]["p99_ms"]
    print()
    threads = results[0]["threads"]
    print(
        f"bare writer ({threads} thread{'s' if threads > 1 else ''}), ms from the start of "
        "writing a frame to its arrival at each screen:"
    )
    print(f"{'screens':>8} {'p50':>8} {'p99':>8} {'p99/1':>7} {'CPU/frame':>10} {'µs/screen':>10}")
    for r in results:
        ratio = r["p99_ms"] / base if base else float("nan")
        print(
            f"{r['screens']:>8} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {ratio:>6.2f}x "
            f"{r['cpu_ms_per_frame']:>8.1f}ms {r['us_per_screen']:>9.1f}"
            + (f"  ({r['missing']} missing)" if r["missing"] else "")
            + (f"  ({r['short_writes']} short writes)" if r["short_writes"] else "")
        )
    largest = results[-1]
    ratio = largest["p99_ms"] / base if base else float("nan")
    added = largest["p99_ms"] - base
    print(
        f"\nWriting to {largest['screens']} screens instead of one adds {added:.1f} ms at p99 "
        f"({ratio:.2f}x) with a server that only writes. fanout.py measures from the homeserver "
        f"send, so it can meet {TARGET_P99_RATIO:.0f}x only in a run whose one-screen p99 "
        f"through the whole path is at least {added / (TARGET_P99_RATIO - 1):.0f} ms."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5000], help="screens per run")
    parser.add_argument("-n", "--messages", type=int, default=20, help="measured frames")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured first frames")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between frames")
    parser.add_argument(
        "--viewers-per-process", type=int, default=250, help="screens per client process"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="wait for deliveries (s)")
    parser.add_argument(
        "--threads",
        type=int,
        choices=[1, 2],
        default=1,
        help="write from one thread (asyncio's transports) or two (raw sends, as live/frames.py)",
    )
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    if 1 not in args.sizes:
        args.sizes = [1, *args.sizes]
    args.sizes = sorted(dict.fromkeys(args.sizes))
    results = asyncio.run(run(args))
    report(results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
