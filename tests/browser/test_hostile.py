"""Every hostile payload of tests/data/hostile_html.json, sent to a real Synapse by another
user and shown in real Chromium: nothing may run, and nothing may escape its tile.

Traps are installed before any page script (`add_init_script`): `alert`/`confirm`/`prompt`/
`print`/`open` record their calls, a setter on `window.__xss` records assignments (the
crafted payloads try `top.__xss=1`), and every `securitypolicyviolation` is recorded (the
CSP would block inline script, so a violation means markup the sanitiser should have
removed reached the page). Real dialogs, requests to other origins and page errors are
recorded from the Playwright side.

The room page is served by a private daphne whose TIMELINE_PAGE_SIZE holds the whole corpus
on one page; if the homeserver still pages it, every "Older messages" page is checked too.
A few payloads arrive live over the websocket as well, since that path inserts fragments
with `innerHTML`, and a few become the room name, topic and the sender's display name.
Issue 13: payloads are also poll questions and answers, a formatted topic (`m.topic`),
pinned messages in the banner, and plain-text bodies that must link only real URLs.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.server import start_webclient, stop_webclient
from tests.synapse_fixtures import MatrixAPIError, matrix_api

CS = "/_matrix/client/v3"
CORPUS_PATH = Path(__file__).resolve().parent.parent / "data" / "hostile_html.json"
CORPUS: list[dict[str, str]] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
SEND_WORKERS = 16
LOAD_TIMEOUT = 30000  # ms: a page of the whole corpus, on a busy machine

# Installed in every frame before any script of the page runs.
TRAPS = """
(() => {
  if (window.__hostileHits) return;
  const hits = [];
  Object.defineProperty(window, "__hostileHits", { value: hits });
  const log = console.log.bind(console);
  const record = (kind, detail) => {
    const hit = kind + ": " + String(detail).slice(0, 300);
    hits.push(hit);
    log("__HOSTILE_HIT__ " + hit);  // frames other than the page report through the console
  };
  for (const name of ["alert", "confirm", "prompt", "print", "open"]) {
    const trap = function (message) { record(name, message); return null; };
    Object.defineProperty(window, name, { value: trap, writable: false, configurable: false });
  }
  Object.defineProperty(window, "__xss", {
    configurable: false,
    get() { return undefined; },
    set(value) { record("__xss", value); },
  });
  document.addEventListener("securitypolicyviolation", (e) => {
    record("csp", e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
  }, true);
})();
"""

# Elements the page itself may have but a message never may: their number must not change.
WATCHED = (
    "script iframe frame frameset object embed applet form base meta link style svg math "
    "template input textarea select button video audio source track noscript dialog portal"
).split()

# What a tile's sanitised body may contain, plus the tile templates' own elements.
BODY_TAGS = set(
    "del h1 h2 h3 h4 h5 h6 blockquote p a ul ol sup sub li b i u strong em s code hr br div "
    "table thead tbody tr th td caption pre span img details summary".split()
) | {"figure", "figcaption", "time", "progress"}  # progress: a poll's result bars
# What a formatted topic may keep (timeline/sanitize.py TOPIC_TAGS), and the pin banner's.
TOPIC_TAGS = ["a", "b", "i", "u", "s", "del", "strong", "em", "code", "sup", "sub", "span", "br"]
BANNER_TAGS = ["details", "summary", "ol", "li", "a", "span"]

PAGE_CHECKS = """
() => {
  const problems = [];
  const origin = location.origin;
  const counts = {};
  // Each message tile's header has the button of its actions menu: one per tile, so not
  // counted (a button anywhere else, or in a tile's body, is).
  const own = ".event > .event-meta > .event-actions > button.actions-toggle";
  for (const tag of WATCHED) {
    counts[tag] = document.querySelectorAll(tag === "button" ? `button:not(${own})` : tag).length;
  }
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.getAttributeNames()) {
      if (attr.startsWith("on")) problems.push("handler " + el.tagName + " " + attr);
    }
  }
  // Where Matrix-supplied text and markup go: tile bodies, the room name and topic.
  for (const el of document.querySelectorAll(".event-body *, #room-name *, #room-topic *")) {
    for (const attr of ["style", "srcdoc", "formaction", "action", "data", "poster"]) {
      if (el.hasAttribute(attr)) problems.push(attr + " on " + el.tagName);
    }
    if (el.hasAttribute("background")) problems.push("background on " + el.tagName);
  }
  // Outside the tile bodies, the timeline holds only what the templates make: the shapes
  // (parent > element, by tag and first class) of those elements must all be shapes that
  // a page without payloads has too.
  const timeline = document.getElementById("timeline");
  const shape = (el) => el.localName + (el.classList.length ? "." + el.classList[0] : "");
  const shapes = new Set();
  for (const el of timeline.querySelectorAll("*")) {
    if (el.parentElement.closest(".event-body")) continue;
    shapes.add(shape(el.parentElement) + " > " + shape(el));
  }
  for (const el of document.querySelectorAll("#room-topic *")) {
    if (!TOPIC_TAGS.includes(el.localName)) problems.push("topic element " + el.localName);
  }
  for (const el of document.querySelectorAll("#pinned-banner *")) {
    if (!BANNER_TAGS.includes(el.localName)) problems.push("banner element " + el.localName);
    for (const attr of el.getAttributeNames()) {
      if (!["class", "href", "title", "data-event-id", "open"].includes(attr)) {
        problems.push("banner attribute " + attr);
      }
    }
  }
  if (document.querySelector("#room-name *")) problems.push("element in the room name");
  for (const el of timeline.querySelectorAll(".event-body *")) {
    if (!BODY_TAGS.includes(el.localName) || el.namespaceURI !== "http://www.w3.org/1999/xhtml") {
      problems.push("element " + el.localName + " in a tile body");
    }
    if (el.hasAttribute("id")) problems.push("id on " + el.localName);
  }
  for (const a of document.querySelectorAll("a[href]")) {
    const raw = a.getAttribute("href");
    let url = null;
    try { url = new URL(a.href); } catch (e) { url = null; }  // "http://" is no URL at all
    const ours = a.matches(".room-link, .poll-vote, .poll-end-link");
    const inBody = a.closest(".event-body") && !a.closest(".media") && !ours;
    if (inBody && raw && !/^\\s*(mailto|magnet):/i.test(raw) && (!url || !url.hostname)) {
      problems.push("link to no URL " + raw.slice(0, 200));  // issue 13
    }
    if (ours && (!url || url.origin !== origin)) problems.push("poll link " + raw.slice(0, 200));
    if (inBody) {
      if (!/^\\s*((https?|ftp):\\/\\/|mailto:|magnet:)/i.test(raw)) {
        problems.push("link " + raw.slice(0, 200));
      }
      if (!(a.rel || "").split(" ").includes("noopener")) {
        problems.push("no noopener on " + raw.slice(0, 200));
      }
    } else if (!url || !["http:", "https:"].includes(url.protocol)) {
      problems.push("page link " + raw.slice(0, 200));
    }
  }
  for (const img of timeline.querySelectorAll("img")) {
    const url = new URL(img.src, location.href);
    if (url.origin !== origin || !url.pathname.startsWith("/media/")) {
      problems.push("img " + img.src.slice(0, 200));
    }
  }
  const tiles = timeline.querySelectorAll("article.event[data-event-id]");
  const older = document.getElementById("older-link");
  return {
    problems,
    counts,
    hits: window.__hostileHits.slice(),
    tiles: Array.from(tiles, (n) => n.dataset.eventId),
    shapes: Array.from(shapes).sort(),
    older: older ? older.href : null,
  };
}
"""
for name, value in {
    "WATCHED": WATCHED,
    "BODY_TAGS": sorted(BODY_TAGS),
    "TOPIC_TAGS": TOPIC_TAGS,
    "BANNER_TAGS": BANNER_TAGS,
}.items():
    PAGE_CHECKS = PAGE_CHECKS.replace(name, json.dumps(value))


def q(value: str) -> str:
    return quote(value, safe="")


def api(hs, user, method: str, path: str, body: dict[str, Any] | None = None) -> dict:
    return matrix_api(hs.url, user.access_token, method, path, body)


def send(hs, user, room_id: str, event_type: str, content: dict[str, Any]) -> str:
    path = f"{CS}/rooms/{q(room_id)}/send/{event_type}/{uuid.uuid4().hex}"
    return api(hs, user, "PUT", path, content)["event_id"]


def set_state(hs, user, room_id: str, event_type: str, content: dict[str, Any]) -> str:
    return api(hs, user, "PUT", f"{CS}/rooms/{q(room_id)}/state/{event_type}/", content)["event_id"]


def shared_room(hs, creator, member, **body: Any) -> str:
    room_id = api(hs, creator, "POST", f"{CS}/createRoom", {"preset": "private_chat", **body})[
        "room_id"
    ]
    api(hs, creator, "POST", f"{CS}/rooms/{q(room_id)}/invite", {"user_id": member.user_id})
    api(hs, member, "POST", f"{CS}/rooms/{q(room_id)}/join", {})
    return room_id


def html_message(entry: dict[str, str], index: int) -> dict[str, Any]:
    msgtype = ("m.text", "m.notice", "m.emote")[index % 3]
    return {
        "msgtype": msgtype,
        "body": f"payload {entry['id']}",
        "format": "org.matrix.custom.html",
        "formatted_body": entry["payload"],
    }


def short_payloads(limit: int, count: int, offset: int = 0) -> list[str]:
    """Markup-bearing payloads short enough for a display name, room name or file name."""
    picked = [
        e["payload"]
        for e in CORPUS
        if "<" in e["payload"] and len(e["payload"]) <= limit and "\x00" not in e["payload"]
    ]
    step = max(1, len(picked) // (count + offset))
    return picked[offset * step :: step][:count]


def login(page: Page, base_url: str, hs, user) -> None:
    page.goto(f"{base_url}/login/")
    form = page.locator("form#login-form")
    form.locator("input[name=homeserver]").fill(hs.url)
    form.locator("input[name=username]").fill(user.localpart)
    form.locator("input[name=password]").fill(user.password)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{base_url}/rooms/")


class Watcher:
    """What the browser did that a page of ours should never do."""

    def __init__(self, page: Page, origin: str) -> None:
        self.dialogs: list[str] = []
        self.foreign_requests: list[str] = []
        self.page_errors: list[str] = []
        self.trap_hits: list[str] = []
        self.origin = origin
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        page.on("request", self._request)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)[:300]))

    def _console(self, message) -> None:
        if message.text.startswith("__HOSTILE_HIT__"):
            self.trap_hits.append(message.text[:300])

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message[:200]}")
        dialog.dismiss()

    def _request(self, request) -> None:
        url = request.url
        if url.startswith(("data:", "about:", "blob:")):
            return
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign_requests.append(url[:200])


def check_page(page: Page) -> dict[str, Any]:
    # Give autofocus, toggles, animations and media errors time to fire.
    page.wait_for_timeout(1000)
    return page.evaluate(PAGE_CHECKS)


@pytest.fixture(scope="module")
def big_page_server(synapse, tmp_path_factory):
    server = start_webclient(
        tmp_path_factory.mktemp("hostile-webclient"),
        synapse.url,
        TIMELINE_PAGE_SIZE=str(len(CORPUS) + 100),
        MAX_TILES=str(len(CORPUS) + 500),
    )
    yield server
    stop_webclient(server)


# About a minute on an idle machine (most of it Synapse persisting the events); room for a
# busy one beyond the suite's 180 s.
@pytest.mark.timeout(400)
def test_hostile_payloads_run_nothing_and_stay_in_their_tiles(
    browser, synapse, make_user, big_page_server
):
    started = time.monotonic()
    eve = make_user("eve", displayname="Eve")
    me = make_user("me", displayname="Mia")

    # A quiet room first: what the page has of each watched element with no payload in it.
    quiet_room = shared_room(synapse, eve, me, name="Quiet room")
    for n in range(5):
        send(synapse, eve, quiet_room, "m.room.message", {"msgtype": "m.text", "body": f"hi {n}"})

    room_id = shared_room(synapse, eve, me)
    names = short_payloads(200, 4)
    topics = short_payloads(400, 3, offset=1)
    display_names = short_payloads(200, 3, offset=2)
    for name in names:
        set_state(synapse, eve, room_id, "m.room.name", {"name": name})
    for topic in topics:
        set_state(synapse, eve, room_id, "m.room.topic", {"topic": topic})
    for display_name in display_names:
        api(
            synapse,
            eve,
            "PUT",
            f"{CS}/profile/{q(eve.user_id)}/displayname",
            {"displayname": display_name},
        )
    for file_name in short_payloads(200, 4, offset=3):
        send(
            synapse,
            eve,
            room_id,
            "m.room.message",
            {"msgtype": "m.file", "body": file_name, "url": "mxc://localhost/abcdefgh"},
        )

    # Issue 13: payloads as poll questions and answers (Element's shape), as a formatted
    # topic, as plain bodies (linkified), and pinned to the room's banner.
    texts = short_payloads(300, 40, offset=4)
    for n in range(0, len(texts) - 4, 4):
        send(
            synapse,
            eve,
            room_id,
            "org.matrix.msc3381.poll.start",
            {
                "org.matrix.msc3381.poll.start": {
                    "question": {"org.matrix.msc1767.text": texts[n]},
                    "kind": ("org.matrix.msc3381.poll.disclosed", "x")[n % 2],
                    "answers": [
                        {"id": texts[n + k][:50], "org.matrix.msc1767.text": texts[n + k]}
                        for k in (1, 2, 3)
                    ],
                },
                "org.matrix.msc1767.text": texts[n],
            },
        )
    plain_ids = [
        send(synapse, eve, room_id, "m.room.message", {"msgtype": "m.text", "body": text})
        for text in texts[:10] + ["see http://;URL=javascript:alert(1) now"]
    ]
    set_state(synapse, eve, room_id, "m.room.pinned_events", {"pinned": plain_ids})

    sent: dict[str, str] = {}  # event ID -> corpus ID
    refused: dict[str, str] = {}

    def send_payload(index: int) -> None:
        entry = CORPUS[index]
        try:
            event_id = send(synapse, eve, room_id, "m.room.message", html_message(entry, index))
        except MatrixAPIError as exc:  # the homeserver may refuse some bytes (such as NUL)
            refused[entry["id"]] = f"{exc.status} {exc.errcode}"
            return
        sent[event_id] = entry["id"]

    # Synapse persists concurrent events of a room in batches: far faster than one by one.
    with ThreadPoolExecutor(max_workers=SEND_WORKERS) as pool:
        list(pool.map(send_payload, range(len(CORPUS))))
    assert len(sent) >= 200 and len(refused) <= len(CORPUS) // 20, refused
    sending_took = time.monotonic() - started

    base = big_page_server.url
    context = browser.new_context()
    context.add_init_script(TRAPS)
    # Inline images point at our media proxy; answer them here so that no request leaves
    # for the made-up servers of the corpus.
    context.route("**/media/**", lambda route: route.fulfill(status=404, body=""))
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT)
    watcher = Watcher(page, base)
    try:
        login(page, base, synapse, me)

        page.goto(f"{base}/rooms/{q(quiet_room)}/")
        expect(page.locator("#room")).to_have_attribute("data-live", "true", timeout=LOAD_TIMEOUT)
        quiet = check_page(page)
        assert quiet["problems"] == [] and quiet["hits"] == [], quiet

        # The hostile room, page by page (one page unless the homeserver caps the limit).
        page.goto(f"{base}/rooms/{q(room_id)}/")
        expect(page.locator("#room")).to_have_attribute("data-live", "true", timeout=LOAD_TIMEOUT)
        tiles: list[str] = []
        pages = 0
        while True:
            pages += 1
            result = check_page(page)
            assert result["hits"] == [], result["hits"]
            assert result["problems"] == [], result["problems"][:20]
            assert result["counts"] == quiet["counts"], (result["counts"], quiet["counts"])
            assert set(result["shapes"]) <= set(quiet["shapes"]), set(result["shapes"]) - set(
                quiet["shapes"]
            )
            tiles += result["tiles"]
            if not result["older"] or pages > 30:
                break
            page.goto(result["older"])
            page.wait_for_load_state("domcontentloaded")

        missing = sorted(sent[e] for e in set(sent) - set(tiles))
        assert not missing, f"payload messages without a tile of their own: {missing}"
        assert len(tiles) == len(set(tiles)), "a tile was duplicated"

        # The newest page again, live: payloads inserted by the websocket path.
        page.goto(f"{base}/rooms/{q(room_id)}/")
        expect(page.locator("#room")).to_have_attribute("data-live", "true", timeout=LOAD_TIMEOUT)
        live_entries = [e for e in CORPUS if e["id"].startswith(("marker-", "handlers-", "mxss-"))]
        with ThreadPoolExecutor(max_workers=SEND_WORKERS) as pool:
            live_ids = list(
                pool.map(
                    lambda item: send(
                        synapse, eve, room_id, "m.room.message", html_message(item[1], item[0])
                    ),
                    enumerate(live_entries[:40]),
                )
            )
        api(
            synapse,
            eve,
            "PUT",
            f"{CS}/profile/{q(eve.user_id)}/displayname",
            {"displayname": names[0]},
        )
        set_state(
            synapse,
            eve,
            room_id,
            "m.room.topic",
            {
                "topic": topics[0],
                "m.topic": {"m.text": [{"mimetype": "text/html", "body": topics[1]}]},
            },
        )
        for event_id in live_ids:
            tile = page.locator(f'#timeline article[data-event-id="{event_id}"]')
            expect(tile).to_have_count(1, timeout=LOAD_TIMEOUT)
        live = check_page(page)
        assert live["hits"] == [], live["hits"]
        assert live["problems"] == [], live["problems"][:20]
        assert live["counts"] == quiet["counts"], (live["counts"], quiet["counts"])
        assert set(live["shapes"]) <= set(quiet["shapes"]), set(live["shapes"]) - set(
            quiet["shapes"]
        )

        # The room list names the room after a payload.
        page.goto(f"{base}/rooms/")
        entry = page.locator(f'#rooms li[data-room-entry="{room_id}"]')
        expect(entry).to_have_count(1, timeout=LOAD_TIMEOUT)
        expect(entry.locator(".room-name")).to_have_count(1)
        assert entry.locator(".room-name *").count() == 0
        assert page.evaluate("window.__hostileHits.slice()") == []
    finally:
        context.close()

    assert watcher.trap_hits == [], watcher.trap_hits
    assert watcher.dialogs == [], watcher.dialogs
    assert watcher.foreign_requests == [], watcher.foreign_requests[:20]
    assert watcher.page_errors == [], watcher.page_errors[:20]
    took = time.monotonic() - started
    print(
        f"{len(sent)} payloads ({len(refused)} refused by the homeserver: {refused}), "
        f"{pages} page(s); sending {sending_took:.1f}s, total {took:.1f}s"
    )
