"""How fast the server turns events into HTML: tiles rendered afresh (sanitiser + template)
against tiles from the render cache, and whole room pages of 50 and 500 events.

    .venv/bin/python benchmarks/render.py [--events 1000] [--pages 50 500] [--rounds 3]

Runs standalone on a throwaway data directory (no homeserver, no database queries). The
events are a realistic mix: plain text, Markdown messages with their HTML (made by the
composer's own Markdown renderer), replies with fallbacks, emotes, notices, images with
captions, and membership changes. "First render" clears the cache first, as after a
deploy or for events nobody has viewed; "cached" is every later viewer of the same events.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webclient.settings")
os.environ["WEBCLIENT_DATA_DIR"] = tempfile.mkdtemp(prefix="webclient-bench-")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.template.loader import render_to_string  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from webclient.matrix.names import MemberMap  # noqa: E402
from webclient.timeline.compose import message_content, reply_content  # noqa: E402
from webclient.timeline.render import _key as render_key  # noqa: E402
from webclient.timeline.render import render_events  # noqa: E402

ROOM_ID = "!bench:example.org"
USERS = [f"@user{n}:example.org" for n in range(12)]
WORDS = (
    "the deploy is done and the dashboards look fine but latency on the api went up a bit "
    "after lunch can someone check the queue workers before the release notes go out "
    "thanks i will look at it tomorrow morning"
).split()
MARKDOWN = [
    "**{w}** is *{w}* and `{w}`",
    "- {w}\n- {w} {w}\n- [link](https://example.org/{w})",
    "```python\nprint('{w}')\nfor x in range(3):\n    print(x)\n```",
    "> {w} {w} {w}\n\nand {w}",
    "1. {w}\n2. **{w}**\n3. ~~{w}~~",
    "see https://example.org/{w}?a=1&b=2 and <{w}@example.org>",
    "# {w}\n\n{w} {w} _{w}_",
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


def make_events(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """`count` events in the proportions of a busy team room."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(count):
        sender = rng.choice(USERS)
        roll = rng.random()
        base = {
            "event_id": f"$bench{seed}-{n}",
            "sender": sender,
            "origin_server_ts": 1_700_000_000_000 + n * 30_000,
            "room_id": ROOM_ID,
        }
        if roll < 0.40:
            content = {"msgtype": "m.text", "body": sentence(rng, rng.randint(3, 30))}
        elif roll < 0.60:
            text = rng.choice(MARKDOWN).format(w=rng.choice(WORDS))
            content = message_content(text)
        elif roll < 0.68 and any(e["type"] == "m.room.message" for e in events[-20:]):
            replied = rng.choice([e for e in events[-20:] if e["type"] == "m.room.message"])
            content = reply_content(sentence(rng, 8), replied, ROOM_ID)
        elif roll < 0.74:
            content = {"msgtype": "m.emote", "body": sentence(rng, rng.randint(2, 8))}
        elif roll < 0.80:
            content = {"msgtype": "m.notice", "body": f"Build #{n} passed"}
        elif roll < 0.90:
            content = {
                "msgtype": "m.image",
                "body": f"photo-{n}.jpg",
                "url": f"mxc://example.org/media{n}",
                "info": {"w": rng.choice([800, 1920, 400]), "h": 600, "mimetype": "image/jpeg"},
            }
            if rng.random() < 0.3:
                content.update(
                    filename=content["body"],
                    body="a *caption*",
                    format="org.matrix.custom.html",
                    formatted_body="a <em>caption</em>",
                )
        else:
            events.append(
                {
                    **base,
                    "type": "m.room.member",
                    "state_key": sender,
                    "content": {"membership": rng.choice(["join", "leave"]), "displayname": "U"},
                }
            )
            continue
        events.append({**base, "type": "m.room.message", "content": content})
    return events


MEMBERS = {user: {"displayname": f"User {n}", "membership": "join"} for n, user in enumerate(USERS)}


def best_of(rounds: int, run: Callable[[], Any], before: Callable[[], Any] | None = None) -> float:
    """The fastest of `rounds` runs, in seconds (`before` runs untimed before each)."""
    times = []
    for _ in range(rounds):
        if before is not None:
            before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


class Credential:
    user_id = USERS[0]
    homeserver = "https://example.org"


def cache_hits(events: list[dict[str, Any]]) -> int:
    """How many of these events' tiles the render cache holds right now."""
    return len(cache.get_many([render_key(e["event_id"]) for e in events]))


def all_hits_seconds(events: list[dict[str, Any]], rounds: int, chunk: int = 200) -> float:
    """Time to render `events` when every tile is a cache hit, whatever the cache's size:
    chunks small enough for any cache, each rendered once untimed and then timed."""
    total = 0.0
    for start in range(0, len(events), chunk):
        part = events[start : start + chunk]
        render_events(part, MEMBERS)
        assert cache_hits(part) == len(part)
        total += best_of(rounds, lambda part=part: render_events(part, MEMBERS))
    return total


def cache_description() -> str:
    config = settings.CACHES["default"]
    max_entries = config.get("OPTIONS", {}).get("MAX_ENTRIES")
    if max_entries is None and "LocMem" in config["BACKEND"]:
        max_entries = "300 (Django's default)"
    return f"{config['BACKEND'].rsplit('.', 1)[-1]}, MAX_ENTRIES={max_entries}"


def page_context(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "credential": Credential(),
        "room_id": ROOM_ID,
        "room_name": "Bench room",
        "own_name": "User 0",
        "topic_html": "",
        "draft": "",
        "send_error": "",
        "txn_id": "wcbench",
        "upload_limit": 50 * 1024 * 1024,
        "timeline": timeline,
        "older_token": "t123-456",
        "newer_link": False,
        "epoch": "1",
        "pos": 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="events for the throughput runs")
    parser.add_argument("--pages", type=int, nargs="+", default=[50, 500], help="page sizes")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure (best is kept)")
    parser.add_argument(
        "--max-entries", type=int, help="override the cache's MAX_ENTRIES (to try a bigger one)"
    )
    parser.add_argument(
        "--members",
        type=int,
        nargs="+",
        default=[12, 1000, 10000],
        help="room sizes for naming each tile's sender",
    )
    args = parser.parse_args()
    if args.max_entries:
        settings.CACHES["default"].setdefault("OPTIONS", {})["MAX_ENTRIES"] = args.max_entries

    events = make_events(args.events)
    kinds: dict[str, int] = {}
    for event in events:
        kind = event["content"].get("msgtype") or event["type"]
        if event["content"].get("format"):
            kind += "+html"
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"events: {len(events)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")
    print(f"cache: {cache_description()}")

    render_events(events[:20], MEMBERS)  # load templates and modules before timing
    first = best_of(args.rounds, lambda: render_events(events, MEMBERS), before=cache.clear)
    cached = all_hits_seconds(events, args.rounds)
    print(f"tiles, first render (cache cleared, sanitise + template): {len(events) / first:8.0f}/s")
    print(f"tiles, every one from the render cache:                  {len(events) / cached:8.0f}/s")
    print(f"  cached/uncached throughput: {first / cached:.1f}x")
    cache.clear()
    render_events(events, MEMBERS)
    hits = cache_hits(events)
    again = best_of(1, lambda: render_events(events, MEMBERS))
    print(
        f"tiles, all {len(events)} again with this cache: {len(events) / again:8.0f}/s "
        f"({hits} of {len(events)} were still cached)"
    )

    request = RequestFactory().get(f"/rooms/{ROOM_ID}/")
    for size in args.pages:
        page_events = make_events(size, seed=size)

        def page(page_events: list[dict[str, Any]] = page_events) -> str:
            timeline = render_events(page_events, MEMBERS)
            return render_to_string("rooms/room.html", page_context(timeline), request=request)

        uncached = best_of(args.rounds, page, before=cache.clear)
        page()
        hits = cache_hits(page_events)
        warm = best_of(args.rounds, page)
        size_kb = len(page().encode()) / 1024
        print(
            f"room page of {size:4d} events ({size_kb:4.0f} KiB): first render "
            f"{uncached * 1000:6.1f} ms, again {warm * 1000:6.1f} ms "
            f"(again/first time {warm / uncached:.2f}; {hits}/{size} tiles were cached)"
        )

    # Each tile names its sender, disambiguated against the room's other members: walked
    # whole per name in a plain mapping, looked up in a room summary's `MemberMap`.
    sample = events[:200]
    for count in args.members:
        members = dict(MEMBERS)
        for n in range(count - len(members)):
            members[f"@staff{n}:example.org"] = {"displayname": f"Staff {n}", "membership": "join"}
        plain = best_of(args.rounds, lambda m=members: render_events(sample, m), before=cache.clear)
        indexed = MemberMap(members)
        kept = best_of(args.rounds, lambda m=indexed: render_events(sample, m), before=cache.clear)
        print(
            f"first render with {count:6d} members: {plain / len(sample) * 1e6:7.0f} us a tile "
            f"walking them, {kept / len(sample) * 1e6:5.0f} us with the summary's index "
            f"({plain / kept:.1f}x)"
        )


if __name__ == "__main__":
    main()
