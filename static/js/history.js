// History both ways: scrolling up loads older chunks (keeping the scroll position), scrolling
// down after a permalink loads newer ones; chunks far off-screen are dropped and load again
// on the way back, so the page holds a bounded number of tiles however far one scrolls.
// A gap left by a limited sync fills itself. matrix.to links to rooms and events open here
// (a room beside the room list swaps in: "navigate" on the bus). After a room swap
// ("room-changed") it works on the new room's timeline; answers for the old one are dropped.
import { gettext } from "./i18n.js";
import { personalise, scrollToBottom, dropEchoOf, withDays, nearBottom, scroller } from "./live.js";
import { on, emit } from "./bus.js";

var root = document.getElementById("room");
var timeline = document.getElementById("timeline");
var MAX_TILES = Number((root && root.dataset.maxTiles) || 300);
var EDGE = 400; // px from an end at which the next chunk loads
// Tiles left after a trim that surely fill any screen and the edge above it: fewer, and
// the trim measures first (see `trim`).
var PLENTY = 150;
var busy = false;

function tiles(scope) { return (scope || timeline).querySelectorAll(".event[data-event-id]"); }
function chunks() {
  // The timeline's children, not a selector's walk over every tile (trim runs at each message).
  return Array.prototype.filter.call(timeline.children, function (node) { return node.classList.contains("chunk"); });
}

function fetchChunk(query) {
  var target = timeline;
  return fetch(root.dataset.timelineUrl + "?" + query, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    })
    .then(function (html) {
      if (target !== timeline) throw new Error("another room now");
      var template = document.createElement("template");
      template.innerHTML = html;
      var chunk = template.content.querySelector("#timeline > .chunk");
      // Drop what the page already shows (pages overlap at their edges).
      tiles(chunk).forEach(function (tile) {
        if (timeline.querySelector('[data-event-id="' + CSS.escape(tile.dataset.eventId) + '"]')) tile.remove();
      });
      tiles(chunk).forEach(function (tile) { personalise(tile, {}); dropEchoOf(tile); });
      return chunk;
    });
}

function setToken(name, value) {
  if (value) timeline.dataset[name] = value;
  else delete timeline.dataset[name];
}

function loadOlder() {
  var token = timeline.dataset.older;
  if (!token || busy) return;
  busy = true;
  withDays(fetchChunk("from=" + encodeURIComponent(token)))
    .then(function (chunk) {
      var height = timeline.scrollHeight;
      var top = timeline.scrollTop;
      // A page too short to scroll at its live end loads older history to fill the screen:
      // the newest messages stay (a page over MAX_TILES by up to this chunk; the next live
      // message trims the top).
      var live = !timeline.dataset.newer && nearBottom();
      timeline.insertBefore(chunk, timeline.firstElementChild);
      timeline.scrollTop = top + (timeline.scrollHeight - height);
      setToken("older", chunk.dataset.prev);
      if (!live) trim("bottom");
      emit("inserted");
    })
    .catch(function () { /* try again on the next scroll */ })
    .then(function () { busy = false; });
}

function loadNewer() {
  var token = timeline.dataset.newer;
  if (!token || busy) return;
  busy = true;
  withDays(fetchChunk("after=" + encodeURIComponent(token)))
    .then(function (chunk) {
      timeline.insertBefore(chunk, timeline.querySelector(":scope > .event.pending"));
      // No next token: this was the newest page, and live events flow again.
      setToken("newer", chunk.dataset.next || "");
      trim("top");
      emit("inserted");
    })
    .catch(function () { /* try again on the next scroll */ })
    .then(function () { busy = false; });
}

// Whether the timeline still fills its screen and the edge above it without `chunk` (else
// dropping it would have the page load it again at once).
function fillsWithout(chunk) {
  var box = scroller();
  return box.scrollHeight - chunk.offsetHeight - box.clientHeight >= EDGE;
}

// Keep at most MAX_TILES: drop whole chunks from the far end, keeping the token that
// loads them again. From the top, a chunk stays when the page would be left too short
// without it (MAX_TILES not far above a page): measured only when few tiles would be left.
function trim(side, following) {
  var list = chunks();
  var count = tiles().length;
  while (count > MAX_TILES && list.length > 1) {
    if (side === "top") {
      var first = list[0];
      var dropped = tiles(first).length;
      if (count - dropped < PLENTY && !fillsWithout(first)) break;
      count -= dropped;
      if (following) {
        first.remove(); // the page scrolls to the new tile right after: no position to keep
      } else {
        var height = timeline.scrollHeight;
        var top = timeline.scrollTop;
        first.remove();
        timeline.scrollTop = top - (height - timeline.scrollHeight);
      }
      list = chunks();
      setToken("older", list[0].dataset.prev);
    } else {
      var last = list[list.length - 1];
      // Anything after the last chunk (live tiles) goes with it.
      while (timeline.lastElementChild && timeline.lastElementChild !== last) {
        if (timeline.lastElementChild.classList.contains("pending")) break;
        timeline.lastElementChild.remove();
      }
      last.remove();
      count = tiles().length;
      list = chunks();
      // A live chunk knows no token after it: then what loads the dropped chunk again is
      // the token before that chunk.
      var next = list[list.length - 1].dataset.next || last.dataset.prev;
      setToken("newer", next || "");
    }
  }
}

// -- gaps: a limited sync skipped events between the page and the new chunk ------------
function fillGap(gap, chunk) {
  var token = gap.dataset.from;
  if (!token || gap.dataset.busy) return;
  gap.dataset.busy = "1";
  gap.textContent = gettext("Loading missed messages…");
  var target = timeline;
  withDays(fetch(root.dataset.timelineUrl + "?from=" + encodeURIComponent(token), { credentials: "same-origin" })
    .then(function (response) { if (!response.ok) throw new Error(); return response.text(); }))
    .then(function (html) {
      if (target !== timeline) return;
      var template = document.createElement("template");
      template.innerHTML = html;
      var filler = template.content.querySelector("#timeline > .chunk");
      var found = false;
      tiles(filler).forEach(function (tile) {
        if (timeline.querySelector('[data-event-id="' + CSS.escape(tile.dataset.eventId) + '"]')) {
          found = true; // reached what the page already had: the gap is closed
          tile.remove();
        } else {
          personalise(tile, {});
          dropEchoOf(tile);
        }
      });
      filler.classList.add("filled");
      timeline.insertBefore(filler, chunk);
      emit("inserted");
      delete gap.dataset.busy;
      if (found || !filler.dataset.prev) gap.remove();
      else {
        // Still more missing: keep the marker above what was just filled in.
        gap.dataset.from = filler.dataset.prev;
        timeline.insertBefore(gap, filler);
        gap.textContent = gettext("Load more missed messages");
        fillGap(gap, filler);
      }
    })
    .catch(function () {
      delete gap.dataset.busy;
      gap.textContent = gettext("Some messages could not be loaded. Click to try again.");
    });
}

// -- scrolling ------------------------------------------------------------------------
var queued = false;
function onScroll() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(function () {
    queued = false;
    if (timeline.scrollTop < EDGE) loadOlder();
    if (timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < EDGE) loadNewer();
  });
}

function start() {
  // A limited sync left events out before the new chunk: a marker that fills itself.
  on("gap", function (chunk) {
    if (!chunk.dataset.prev) return;
    var gap = document.createElement("button");
    gap.type = "button";
    gap.className = "gap";
    gap.dataset.from = chunk.dataset.prev;
    gap.addEventListener("click", function () { fillGap(gap, gap.nextElementSibling || chunk); });
    timeline.insertBefore(gap, chunk);
    fillGap(gap, chunk);
  });

  // Live events at the bottom of a long-open page (a kiosk) push old chunks out.
  on("inserted", function (info) {
    if (!timeline.dataset.newer) trim("top", !!(info && info.following));
  });
  on("room-changed", function (fresh) {
    root = fresh;
    timeline = document.getElementById("timeline");
    busy = false;
    if (timeline) bind();
  });
  bind();

  // matrix.to links to rooms and events open in this client.
  document.addEventListener("click", function (event) {
    var link = event.target.closest('a[href^="https://matrix.to/#/"]');
    if (!link || event.defaultPrevented) return;
    var parts = link.getAttribute("href").slice("https://matrix.to/#/".length).split("?")[0].split("/");
    var roomPart = decodeURIComponent(parts[0] || "");
    if (roomPart[0] !== "!" && roomPart[0] !== "#") return; // users: leave to matrix.to
    event.preventDefault();
    var url = (root.dataset.roomsBase || "/rooms/") + encodeURIComponent(roomPart) + "/";
    if (parts[1] && decodeURIComponent(parts[1])[0] === "$") url += "event/" + encodeURIComponent(decodeURIComponent(parts[1])) + "/";
    if (!emit("navigate", url)) location.assign(url);
  });
}

// What is bound to the room's timeline: again after every swap.
function bind() {
  timeline.addEventListener("scroll", onScroll, { passive: true });

  // The older/newer links are for pages without JavaScript.
  ["older-link", "newer-link"].forEach(function (id) {
    var link = document.getElementById(id);
    if (link) link.hidden = true;
  });

  // A permalink: show the event in the middle of the screen.
  if (timeline.dataset.highlight) {
    var target = timeline.querySelector('[data-event-id="' + CSS.escape(timeline.dataset.highlight) + '"]');
    if (target) target.scrollIntoView({ block: "center" });
  }

  if (!timeline.dataset.highlight) scrollToBottom();
  onScroll();
}

if (root && timeline && root.dataset.timelineUrl && window.fetch) start();
