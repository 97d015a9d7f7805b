"""History in real Chromium against a real Synapse: backfill through 1,000 events with a
bounded DOM, scrolling back down, permalinks, paging without JavaScript, matrix.to links, and
a gap left by a limited sync that fills itself.

A recorder installed before any page script (a MutationObserver on the document) checks the
timeline after every DOM change: no event ID twice, the numbered messages contiguous and in
order, and the largest tile count ever seen. Every message body seen is kept, so "all 1,000
were shown" means shown as tiles at some moment, not merely fetched.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

from tests.server import start_webclient, stop_webclient
from tests.synapse_fixtures import matrix_api
from webclient.demo.homeserver import LocalSynapse, RegisteredUser

from .helpers import (
    CS,
    assert_not_reloaded,
    event_tile,
    invite_and_join,
    login_with_password,
    mark_page,
    open_room,
    q,
    send_text,
    shared_room,
    signed_in_without_script,
    wait_live,
)

COUNT = 1000
PAGE_SIZE = 50  # TIMELINE_PAGE_SIZE of the shared server (the default)

# Before any page script: check the timeline after each batch of DOM changes. `window.__rank`
# (event ID -> position of the numbered message in the room) is set by the test.
RECORDER = """
(() => {
  const rec = window.__rec = {
    bodies: {}, maxTiles: 0, dups: [], disorder: [], gaps: [], checks: 0,
    gapMarkers: 0, fetches: [], liveFlips: 0,
  };
  const note = (list, value) => { if (list.length < 50) list.push(value); };
  const check = () => {
    const timeline = document.getElementById('timeline');
    if (!timeline) return;
    const rank = window.__rank || {};
    rec.checks++;
    const tiles = timeline.querySelectorAll('article.event[data-event-id]');
    rec.maxTiles = Math.max(rec.maxTiles, tiles.length);
    const ids = new Set();
    let last = null;
    for (const tile of tiles) {
      const id = tile.dataset.eventId;
      if (ids.has(id)) note(rec.dups, id);
      ids.add(id);
      const body = tile.querySelector(':scope > .event-body');
      const text = body ? body.textContent.trim() : '';
      if (/^m\\d{4}$/.test(text)) (rec.bodies[text] = rec.bodies[text] || {})[id] = true;
      const n = rank[id];
      if (n === undefined) continue;
      if (last !== null && n <= last) note(rec.disorder, [last, n]);
      else if (last !== null && n !== last + 1) note(rec.gaps, [last, n]);
      last = n;
    }
  };
  new MutationObserver((records) => {
    for (const r of records) for (const node of r.addedNodes) {
      if (node.nodeType === 1 && node.matches('button.gap')) rec.gapMarkers++;
    }
    check();
  }).observe(document, { childList: true, subtree: true });
  document.addEventListener('DOMContentLoaded', () => {
    check();
    const room = document.getElementById('room');
    if (room) new MutationObserver(() => {
      if (room.dataset.live === 'false') rec.liveFlips++;
    }).observe(room, { attributes: true, attributeFilter: ['data-live'] });
  });
  const nativeFetch = window.fetch;
  window.fetch = function (url, options) {
    rec.fetches.push(String(url));
    return nativeFetch.call(this, url, options);
  };
})();
"""


@dataclass
class BigRoom:
    reader: RegisteredUser
    writer: RegisteredUser
    room_id: str
    ids: list[str]  # the numbered messages' event IDs in the room's order, oldest first
    bodies: dict[str, str]  # event ID -> body ("m0000" … "m0999")

    def rank_script(self) -> str:
        """Tells the recorder each numbered message's position in the room."""
        rank = {event_id: n for n, event_id in enumerate(self.ids)}
        return f"window.__rank = {json.dumps(rank)};"


def _register(hs: LocalSynapse, prefix: str, name: str) -> RegisteredUser:
    localpart = f"{prefix}-{uuid.uuid4().hex[:10]}"
    return hs.register(localpart, f"pw-{localpart}", displayname=name)


def room_order(hs: LocalSynapse, user: RegisteredUser, room_id: str) -> list[dict]:
    """Every m.room.message of the room as the homeserver orders it, oldest first."""
    events: list[dict] = []
    token = ""
    while True:
        path = f"{CS}/rooms/{q(room_id)}/messages?dir=b&limit=500" + (
            f"&from={q(token)}" if token else ""
        )
        page = matrix_api(hs.url, user.access_token, "GET", path)
        events += [e for e in page.get("chunk", []) if e["type"] == "m.room.message"]
        if not page.get("chunk") or not page.get("end"):
            return list(reversed(events))
        token = page["end"]


@pytest.fixture(scope="module")
def big_room(synapse) -> BigRoom:
    """A room where the writer sent 1,000 messages, m0000 to m0999.

    They go out a few at a time (the machine may be busy: 1,000 sends one after another take
    25 s idle, minutes under load), so the room's order is read back from the homeserver and
    "message #n" below means the n-th in the room, whatever its body."""
    writer = _register(synapse, "writer", "Wanda Writer")
    reader = _register(synapse, "reader", "Rita Reader")
    room_id = shared_room(synapse, writer, reader)
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: send_text(synapse, writer, room_id, f"m{n:04d}"), range(COUNT)))
    events = room_order(synapse, writer, room_id)
    print(f"sent {COUNT} messages in {time.monotonic() - started:.1f}s")
    assert len(events) == COUNT
    assert sorted(e["content"]["body"] for e in events) == [f"m{n:04d}" for n in range(COUNT)]
    return BigRoom(
        reader,
        writer,
        room_id,
        [e["event_id"] for e in events],
        {e["event_id"]: e["content"]["body"] for e in events},
    )


def recorded(page: Page) -> dict:
    return page.evaluate("window.__rec")


def assert_clean(page: Page, max_tiles: int) -> dict:
    """The recorder saw no duplicate tile, no disorder, no hole, and a bounded DOM."""
    rec = recorded(page)
    assert rec["checks"] > 0
    assert rec["dups"] == [], f"the same event twice in the DOM: {rec['dups']}"
    assert rec["disorder"] == [], f"messages out of order: {rec['disorder']}"
    assert rec["gaps"] == [], f"messages missing between tiles: {rec['gaps']}"
    assert rec["maxTiles"] <= max_tiles + PAGE_SIZE, rec["maxTiles"]
    return rec


# Each dated block of the timeline (a tile, or a folded run dated by its first tile) with
# the separator before it, if any: [separator's day or null, block's day]. Days as days.js
# counts them (en-CA dates in the timeline's time zone).
DAYS = """() => {
  const t = document.getElementById('timeline');
  const fmt = new Intl.DateTimeFormat('en-CA', {year: 'numeric', month: '2-digit',
    day: '2-digit', timeZone: t.dataset.tz || undefined});
  const blocks = [];
  for (const node of t.querySelectorAll('.date-separator, .event[data-ts]')) {
    if (node.classList.contains('date-separator')) {
      blocks.push([node.dataset.day, null]);
      continue;
    }
    let block = node;
    while (block.parentNode !== t && !block.parentNode.classList.contains('chunk')) {
      block = block.parentNode;
    }
    if (block !== node && block.querySelector('.event[data-ts]') !== node) continue;
    blocks.push([null, fmt.format(new Date(Number(node.dataset.ts)))]);
  }
  return blocks;
}"""


def assert_days_right(page: Page) -> None:
    """The page starts with its first day's separator, each separator names the day of the
    block after it, and each change of day between two blocks has its separator."""
    items = page.evaluate(DAYS)
    assert items and items[0][0] is not None, items[:3]
    current = None
    for n, (separator, day) in enumerate(items):
        if separator is not None:
            assert n + 1 < len(items) and items[n + 1][1] == separator, items[n : n + 2]
            assert separator != current, f"the day {separator} twice"
            current = separator
        else:
            assert day == current, f"no separator before the first block of {day}"


def timeline_state(page: Page) -> dict:
    """The tokens at the page's edges, the tile count, and the positions (in the room) of the
    first and last numbered messages in the DOM."""
    return page.evaluate(
        """() => {
          const t = document.getElementById('timeline');
          const rank = window.__rank || {};
          const tiles = [...t.querySelectorAll('article.event[data-event-id]')];
          const nums = tiles.map((x) => rank[x.dataset.eventId]).filter((n) => n !== undefined);
          return {older: t.dataset.older || null, newer: t.dataset.newer || null,
                  tiles: tiles.length, count: nums.length,
                  first: nums.length ? nums[0] : null, last: nums.length ? nums.at(-1) : null};
        }"""
    )


def scroll_up_once(page: Page) -> float | None:
    """Scroll the timeline to its top and wait for the older chunk; return how far the tile
    that was first on the page moved on screen (None when nothing older was left)."""
    before = page.evaluate(
        """() => {
          const t = document.getElementById('timeline');
          const anchor = t.querySelector('article.event[data-event-id]');
          const token = t.dataset.older || null;
          if (t.scrollTop === 0) t.dispatchEvent(new Event('scroll'));
          t.scrollTop = 0;
          return {token, id: anchor.dataset.eventId, top: anchor.getBoundingClientRect().top};
        }"""
    )
    if before["token"] is None:
        return None
    page.wait_for_function(
        "token => document.getElementById('timeline').dataset.older !== token",
        arg=before["token"],
    )
    after = page.evaluate(
        """id => {
          const tile = document.querySelector(`#timeline [data-event-id="${CSS.escape(id)}"]`);
          return tile ? tile.getBoundingClientRect().top : null;
        }""",
        before["id"],
    )
    assert after is not None, "the tile at the top went away when older history came"
    return after - before["top"]


def scroll_down_once(page: Page) -> bool:
    """Scroll to the bottom and wait for the newer chunk; False when at the live end."""
    token = page.evaluate(
        """() => {
          const t = document.getElementById('timeline');
          const token = t.dataset.newer || null;
          const bottom = t.scrollHeight - t.clientHeight;
          if (t.scrollTop >= bottom - 1) t.dispatchEvent(new Event('scroll'));
          t.scrollTop = t.scrollHeight;
          return token;
        }"""
    )
    if token is None:
        return False
    page.wait_for_function(
        "token => document.getElementById('timeline').dataset.newer !== token", arg=token
    )
    return True


def last_tile_id(page: Page) -> str:
    return page.evaluate(
        "() => [...document.querySelectorAll('#timeline article.event')].at(-1).dataset.eventId"
    )


def open_big_room(page: Page, base: str, synapse, room: BigRoom) -> int:
    page.add_init_script(room.rank_script())
    page.add_init_script(RECORDER)
    login_with_password(page, base, synapse, room.reader)
    open_room(page, base, room.room_id)
    expect(event_tile(page, room.ids[-1])).to_have_count(1)
    return int(page.locator("#room").get_attribute("data-max-tiles"))


@pytest.mark.timeout(900)
def test_backfill_through_1000_events(page: Page, webclient_server, synapse, big_room):
    base = webclient_server.url
    max_tiles = open_big_room(page, base, synapse, big_room)
    assert max_tiles == 300
    start = timeline_state(page)
    assert start["last"] == COUNT - 1 and start["older"]
    assert start["count"] <= PAGE_SIZE

    moves = []
    for _ in range(COUNT // PAGE_SIZE + 10):
        moved = scroll_up_once(page)
        if moved is None:
            break
        moves.append(moved)
        state = timeline_state(page)
        assert state["tiles"] <= max_tiles + PAGE_SIZE, state
    else:
        pytest.fail(f"still older history after {len(moves)} pages: {timeline_state(page)}")
    assert len(moves) >= COUNT // PAGE_SIZE
    # The scroll position is kept: what was on screen stays where it was.
    assert max(abs(m) for m in moves) < 3, moves

    # Every message was a tile at some moment, as the one event it is, never twice at once.
    rec = assert_clean(page, max_tiles)
    missing = sorted(set(big_room.bodies.values()) - set(rec["bodies"]))
    assert not missing, f"never shown: {missing[:20]} ({len(missing)})"
    for event_id, body in big_room.bodies.items():
        assert list(rec["bodies"][body]) == [event_id], (body, rec["bodies"][body])
    # The DOM stayed bounded: the newest messages were dropped on the way up.
    end = timeline_state(page)
    assert end["first"] == 0 and end["older"] is None
    assert end["last"] < COUNT - 1 and end["newer"]
    assert end["tiles"] <= max_tiles
    expect(event_tile(page, big_room.ids[-1])).to_have_count(0)
    # The room's beginning is there: its creation.
    expect(page.locator("#timeline article.event").first).to_contain_text("created")


@pytest.mark.timeout(900)
def test_scrolling_down_reloads_dropped_chunks(page: Page, webclient_server, synapse, big_room):
    base = webclient_server.url
    max_tiles = open_big_room(page, base, synapse, big_room)
    # Far enough up that the newest chunks were dropped.
    while timeline_state(page)["first"] > 400:
        assert scroll_up_once(page) is not None
    up = timeline_state(page)
    assert up["last"] < COUNT - 1 and up["newer"], up
    expect(event_tile(page, big_room.ids[-1])).to_have_count(0)
    mark_page(page)

    lasts = []
    while scroll_down_once(page):
        state = timeline_state(page)
        lasts.append(state["last"])
        assert state["tiles"] <= max_tiles + PAGE_SIZE, state
    # Each step brought the next page of newer messages, up to the newest.
    assert lasts == sorted(lasts) and lasts[-1] == COUNT - 1, lasts
    final = timeline_state(page)
    assert final["newer"] is None and final["last"] == COUNT - 1, final
    assert final["first"] > 0 and final["tiles"] <= max_tiles, final
    rec = assert_clean(page, max_tiles)
    for body in [big_room.bodies[e] for e in big_room.ids[up["first"] :]]:
        assert len(rec["bodies"][body]) == 1, (body, rec["bodies"][body])
    expect(event_tile(page, big_room.ids[-1])).to_have_count(1)
    assert_not_reloaded(page)

    # At the live end again, live events come in at the bottom.
    live_id = send_text(synapse, big_room.writer, big_room.room_id, "live after scrolling")
    expect(event_tile(page, live_id)).to_be_visible()
    assert last_tile_id(page) == live_id


@pytest.mark.timeout(600)
def test_permalink(page: Page, webclient_server, synapse, big_room):
    base = webclient_server.url
    page.add_init_script(big_room.rank_script())
    page.add_init_script(RECORDER)
    login_with_password(page, base, synapse, big_room.reader)
    target = big_room.ids[500]
    page.goto(f"{base}/rooms/{q(big_room.room_id)}/event/{q(target)}/")
    wait_live(page)
    tile = event_tile(page, target)
    expect(tile).to_have_class(re.compile(r"\bhighlighted\b"))
    expect(tile).to_contain_text(big_room.bodies[target])
    expect(tile).to_be_in_viewport()
    expect(page.locator("#timeline article.highlighted")).to_have_count(1)
    start = timeline_state(page)
    assert start["newer"] and start["older"], start
    assert start["first"] < 500 < start["last"] < COUNT - 1, start
    max_tiles = int(page.locator("#room").get_attribute("data-max-tiles"))
    mark_page(page)

    # Up: older history, the position kept.
    moved = scroll_up_once(page)
    assert moved is not None and abs(moved) < 3, moved
    assert timeline_state(page)["first"] < start["first"]

    # A live message while the page shows the past is not appended to it.
    early = send_text(synapse, big_room.writer, big_room.room_id, "live while in the past")
    page.wait_for_timeout(1500)
    expect(event_tile(page, early)).to_have_count(0)

    # Down to the newest, then live messages appear at the bottom.
    for _ in range(COUNT // PAGE_SIZE + 5):
        if not scroll_down_once(page):
            break
    final = timeline_state(page)
    assert final["newer"] is None and final["last"] == COUNT - 1, final
    # The message sent meanwhile came with the newest page, once.
    expect(event_tile(page, early)).to_have_count(1)
    live_id = send_text(synapse, big_room.writer, big_room.room_id, "live after the permalink")
    expect(event_tile(page, live_id)).to_be_visible()
    assert last_tile_id(page) == live_id
    assert_clean(page, max_tiles)
    assert_not_reloaded(page)


def live_room(
    page: Page, base: str, synapse, make_user, before: int, after: int, check
) -> tuple[RegisteredUser, str, list[str]]:
    """A room with `before` messages open on its reader's page (recorded, marked), then
    `after` live ones sent one at a time, each waited for on the page with `check(tile)`:
    the writer, the room and the messages' IDs in order."""
    writer = make_user("writer", displayname="Wanda")
    reader = make_user("reader")
    room_id = shared_room(synapse, writer, reader)
    ids = [send_text(synapse, writer, room_id, f"m{n:04d}") for n in range(before)]
    page.add_init_script(RECORDER)
    login_with_password(page, base, synapse, reader)
    open_room(page, base, room_id)
    expect(event_tile(page, ids[-1])).to_have_count(1)
    mark_page(page)
    for n in range(before, before + after):
        ids.append(send_text(synapse, writer, room_id, f"m{n:04d}"))
        check(event_tile(page, ids[-1]))
    return writer, room_id, ids


@pytest.mark.timeout(600)
def test_live_messages_survive_scrolling_back(page: Page, synapse, make_user, tmp_path):
    """Live messages arrive one sync at a time (a chunk each, without a token for what follows
    them); scrolling back far enough drops some of them, and scrolling down loads them again."""
    server = start_webclient(tmp_path, synapse.url, MAX_TILES="100", TIMELINE_PAGE_SIZE="20")
    try:
        writer, room_id, ids = live_room(
            page, server.url, synapse, make_user, 80, 40, lambda tile: expect(tile).to_have_count(1)
        )
        assert page.locator("#timeline > .chunk.live").count() > 1
        page.evaluate(f"window.__rank = {json.dumps({e: n for n, e in enumerate(ids)})}")

        # Up until the newest live messages were dropped from the page.
        for _ in range(20):
            if event_tile(page, ids[-1]).count() == 0:
                break
            assert scroll_up_once(page) is not None
        expect(event_tile(page, ids[-1])).to_have_count(0)
        assert timeline_state(page)["newer"], "dropped live messages left no way back"
        # Down again: every message once, in order, up to the newest.
        for _ in range(20):
            if not scroll_down_once(page):
                break
        final = timeline_state(page)
        assert final["newer"] is None and final["last"] == len(ids) - 1, final
        rec = assert_clean(page, 100)
        assert rec["maxTiles"] <= 100 + 20
        for n, event_id in enumerate(ids[40:], start=40):
            assert list(rec["bodies"][f"m{n:04d}"]) == [event_id], rec["bodies"].get(f"m{n:04d}")
        live_id = send_text(synapse, writer, room_id, "after coming back")
        expect(event_tile(page, live_id)).to_be_visible()
        assert last_tile_id(page) == live_id
        assert_not_reloaded(page)
    finally:
        stop_webclient(server)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("max_tiles", "page_size"), [(60, 20), (30, 20), (15, 10)])
def test_a_page_following_live_messages_drops_the_oldest_and_stays_at_the_end(
    page: Page, synapse, make_user, tmp_path, max_tiles, page_size
):
    """Past MAX_TILES, each live message pushes the oldest chunk out while the page follows
    the live end (without keeping a scroll position it is about to leave): the page stays at
    the end with the newest message on screen, and scrolling up loads what was dropped.

    With MAX_TILES not far above a page, what fills the screen and the edge above it wins:
    the first page of a short room page loads older history without dropping the newest
    messages, and a chunk whose dropping would leave the page too short stays (else the page
    would load it again at once, at every message): a page more at most, loaded once."""
    server = start_webclient(
        tmp_path, synapse.url, MAX_TILES=str(max_tiles), TIMELINE_PAGE_SIZE=str(page_size)
    )
    history_loads: list[str] = []
    page.on("request", lambda r: "from=" in r.url and history_loads.append(r.url))
    try:

        def on_screen(tile) -> None:
            expect(tile).to_be_in_viewport()

        _, _, ids = live_room(page, server.url, synapse, make_user, 40, 70, on_screen)
        page.evaluate(f"window.__rank = {json.dumps({e: n for n, e in enumerate(ids)})}")
        state = timeline_state(page)
        bound = max_tiles if max_tiles == 60 else 60  # a page more than fills the screen
        assert state["tiles"] <= bound, state
        assert state["last"] == len(ids) - 1 and state["first"] > 40, state
        assert state["newer"] is None, state
        assert state["older"], "the dropped messages left no way back"
        assert len(history_loads) <= 4, history_loads  # none again at each message
        assert_days_right(page)  # the oldest chunk went at each message, with its separator
        at_end = page.evaluate(
            "() => { const t = document.getElementById('timeline');"
            " return t.scrollHeight - t.scrollTop - t.clientHeight; }"
        )
        assert at_end < 20, at_end  # the timeline's padding below the last tile
        first = state["first"]
        assert scroll_up_once(page) is not None
        assert timeline_state(page)["first"] < first
        assert_clean(page, max(max_tiles, bound))
        assert_days_right(page)
        assert_not_reloaded(page)
    finally:
        stop_webclient(server)


def same_depth_pairs(hs: LocalSynapse, room_id: str) -> list[tuple[str, str]]:
    """Messages at the same depth of the room's graph (a fork), read from Synapse's database:
    (earlier, later) by the order the homeserver gives them."""
    db = sqlite3.connect(f"file:{hs.data_dir / 'homeserver.db'}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT event_id, topological_ordering FROM events WHERE room_id = ? "
            "AND type = 'm.room.message' ORDER BY topological_ordering, stream_ordering",
            (room_id,),
        ).fetchall()
    finally:
        db.close()
    return [(a, b) for (a, da), (b, db_) in itertools.pairwise(rows) if da == db_]


def test_permalink_beside_a_fork(page: Page, webclient_server, synapse, make_user):
    """Messages sent at the same moment share a depth; a permalink to the later one shows the
    earlier one just before it (Synapse's /context leaves it out of `events_before`)."""
    base = webclient_server.url
    writer = make_user("writer", displayname="Wanda")
    other = make_user("other", displayname="Otto")
    reader = make_user("reader")
    room_id = shared_room(synapse, writer, reader)
    invite_and_join(synapse, writer, other, room_id)
    for n in range(30):
        send_text(synapse, writer, room_id, f"before {n}")
    pairs: list[tuple[str, str]] = []
    with ThreadPoolExecutor(2) as pool:
        for attempt in range(30):
            gate = threading.Barrier(2)

            def send(who: RegisteredUser, attempt: int = attempt, gate=gate) -> str:
                gate.wait()
                return send_text(synapse, who, room_id, f"fork {attempt} {who.localpart}")

            list(pool.map(send, [writer, other]))
            pairs = same_depth_pairs(synapse, room_id)
            if pairs:
                break
    assert pairs, "could not make two messages at the same depth"
    for n in range(30):
        send_text(synapse, writer, room_id, f"after {n}")
    earlier, later = pairs[0]
    order = [e["event_id"] for e in room_order(synapse, writer, room_id)]
    assert order.index(earlier) + 1 == order.index(later)

    login_with_password(page, base, synapse, reader)
    page.goto(f"{base}/rooms/{q(room_id)}/event/{q(later)}/")
    expect(event_tile(page, later)).to_have_class(re.compile(r"\bhighlighted\b"))
    shown = page.evaluate(
        """() => [...document.querySelectorAll('#timeline article.event[data-event-id]')]
                 .map((t) => t.dataset.eventId)"""
    )
    messages = [e for e in shown if e in order]
    at = messages.index(later)
    assert messages[at - 1] == earlier, "the message beside the linked one is missing"
    # The page is one unbroken stretch of the room.
    first = order.index(messages[0])
    assert messages == order[first : first + len(messages)]


def numbered_on_page(page: Page, room: BigRoom) -> list[int]:
    """Positions of the numbered messages on a page, read from its HTML (no page script)."""
    rank = {event_id: n for n, event_id in enumerate(room.ids)}
    ids = re.findall(r'<article class="event [^"]*" data-event-id="([^"]+)"', page.content())
    return [rank[i] for i in ids if i in rank]


@pytest.mark.timeout(600)
def test_older_link_without_javascript(browser, webclient_server, synapse, big_room):
    base = webclient_server.url
    with signed_in_without_script(browser, base, synapse, big_room.reader) as page:
        open_room(page, base, big_room.room_id, live=False)
        newest = numbered_on_page(page, big_room)
        assert newest and newest[-1] == COUNT - 1 and newest == sorted(newest), newest
        older = page.locator("#older-link")
        expect(older).to_be_visible()
        older.click()
        page.wait_for_url(re.compile(r"\?from="))
        page_two = numbered_on_page(page, big_room)
        assert page_two == sorted(page_two), page_two
        assert page_two[-1] < newest[0] and len(page_two) == PAGE_SIZE, (page_two, newest)
        page.locator("#older-link").click()
        page_three = numbered_on_page(page, big_room)
        assert page_three[-1] < page_two[0] and len(page_three) == PAGE_SIZE, page_three
        # And forward again.
        page.locator("#newer-link").click()
        page.wait_for_url(re.compile(r"\?after="))
        assert page_two[0] in numbered_on_page(page, big_room)


def test_matrix_to_event_link_opens_permalink(page: Page, webclient_server, synapse, make_user):
    base = webclient_server.url
    writer = make_user("writer", displayname="Wanda")
    reader = make_user("reader")
    room_id = shared_room(synapse, writer, reader)
    target = send_text(synapse, writer, room_id, "the message linked to")
    for n in range(60):  # the target is off the newest page
        send_text(synapse, writer, room_id, f"filler {n}")
    encoded = f"https://matrix.to/#/{q(room_id)}/{q(target)}?via=localhost"
    raw = f"https://matrix.to/#/{room_id}/{target}?via=localhost"
    matrix_api(
        synapse.url,
        writer.access_token,
        "PUT",
        f"{CS}/rooms/{q(room_id)}/send/m.room.message/{uuid.uuid4().hex}",
        {
            "msgtype": "m.text",
            "body": f"see {raw}",
            "format": "org.matrix.custom.html",
            "formatted_body": f'see <a href="{raw}">that message</a>',
        },
    )
    send_text(synapse, writer, room_id, f"plain link {encoded}")

    login_with_password(page, base, synapse, reader)
    open_room(page, base, room_id)
    permalink = f"{base}/rooms/{q(room_id)}/event/{q(target)}/"
    for link in (
        page.locator("#timeline a", has_text="that message"),
        page.locator(f'#timeline a[href^="https://matrix.to/#/{q(room_id)}"]'),
    ):
        expect(link).to_have_count(1)
        link.click()
        # Our permalink page (however its path is escaped), not matrix.to.
        page.wait_for_url(lambda url: unquote(url) == unquote(permalink))
        tile = event_tile(page, target)
        expect(tile).to_have_class(re.compile(r"\bhighlighted\b"))
        expect(tile).to_be_in_viewport()
        open_room(page, base, room_id)


@pytest.fixture
def gap_server(synapse, tmp_path):
    """A private client whose syncs carry at most 3 events per room."""
    server = start_webclient(tmp_path, synapse.url, MATRIX_SYNC_TIMELINE_LIMIT="3")
    yield server
    os.kill(server.process.pid, signal.SIGCONT)  # never leave it frozen
    stop_webclient(server)


def test_gap_after_limited_sync_fills_itself(page: Page, gap_server, synapse, make_user):
    base = gap_server.url
    writer = make_user("writer", displayname="Wanda")
    reader = make_user("reader")
    room_id = shared_room(synapse, writer, reader)
    for n in range(5):
        send_text(synapse, writer, room_id, f"before {n}")
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    page.add_init_script(RECORDER)
    login_with_password(page, base, synapse, reader)
    open_room(page, base, room_id)
    expect(page.locator("#timeline article.event", has_text="before 4")).to_have_count(1)
    mark_page(page)

    os.kill(gap_server.process.pid, signal.SIGSTOP)
    try:
        ids = [send_text(synapse, writer, room_id, f"m{n:04d}") for n in range(12)]
    finally:
        os.kill(gap_server.process.pid, signal.SIGCONT)

    expect(event_tile(page, ids[-1])).to_be_visible()
    for event_id in ids:
        expect(event_tile(page, event_id)).to_have_count(1)
    expect(page.locator("#timeline button.gap")).to_have_count(0)
    order = page.evaluate(
        """() => [...document.querySelectorAll('#timeline article.event[data-event-id]')]
                 .map((t) => t.dataset.eventId)"""
    )
    positions = [order.index(event_id) for event_id in ids]
    assert positions == sorted(positions), positions
    rec = assert_clean(page, 300)
    for n, event_id in enumerate(ids):
        assert list(rec["bodies"][f"m{n:04d}"]) == [event_id], rec["bodies"]
    assert_not_reloaded(page)

    # Which path was taken: a limited sync with a gap marker filled from its token, or a
    # dropped socket and a resync of the whole timeline.
    limited = [json.loads(f) for f in frames if isinstance(f, str) and '"limited": true' in f]
    fills = [u for u in rec["fetches"] if "/timeline/?from=" in u]
    resyncs = [u for u in rec["fetches"] if u.endswith("/timeline/")]
    path = "gap" if rec["gapMarkers"] else "resync"
    print(
        f"gap path: {path}; limited syncs: {[len(m['events']) for m in limited]}, "
        f"gap markers: {rec['gapMarkers']}, fills: {len(fills)}, resyncs: {len(resyncs)}, "
        f"socket drops: {rec['liveFlips']}"
    )
    if path == "gap":
        assert limited and all(m["prev_batch"] for m in limited)
        assert len(limited[0]["events"]) <= 3
        assert fills
    else:
        assert resyncs
