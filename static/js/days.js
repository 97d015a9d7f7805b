// Date separators ("Today", "Yesterday", dates) between the tiles of #timeline. The server
// puts them in every page and history fragment (tiles are shared by all viewers, so the
// separators are items of the page, never part of a tile); this keeps them right as the page
// changes: a live message that starts a new day gets one, a page of history joined above
// drops the separator that now repeats the day before it, and a page left open past
// midnight renames "Today". Days are counted in the time zone the server rendered the page
// in (#timeline's data-tz), with its words for today and yesterday.
import { on } from "./bus.js";

var timeline = document.getElementById("timeline");

var formatters = {};
function dayKey(ts, tz) {
  // en-CA writes dates as YYYY-MM-DD, the form the server's data-day uses. One formatter
  // per time zone: making one is the slow part.
  var key = tz || "";
  if (!formatters[key]) {
    var options = { year: "numeric", month: "2-digit", day: "2-digit" };
    try { formatters[key] = new Intl.DateTimeFormat("en-CA", Object.assign({ timeZone: tz || undefined }, options)); }
    catch (e) { formatters[key] = new Intl.DateTimeFormat("en-CA", options); }
  }
  return formatters[key].format(new Date(ts));
}

// The day of each tile, kept with the tile: the full pass of `normalise` (history loaded,
// a tile put in its place, a page not following its end) dates every tile, and formatting a
// date is most of its cost.
var tileDays = new WeakMap();
function dayOf(node, tz) {
  var ts = Number(node.dataset.ts);
  var known = tileDays.get(node);
  if (known && known.ts === ts && known.tz === tz) return known.day;
  var day = dayKey(ts, tz);
  tileDays.set(node, { ts: ts, tz: tz, day: day });
  return day;
}

function daysBetween(a, b) {
  // Whole days between two YYYY-MM-DD keys (b - a).
  return Math.round((Date.parse(b + "T00:00:00Z") - Date.parse(a + "T00:00:00Z")) / 86400000);
}

// Labels per day, for the day they were made on (every live message checks each separator's).
var labels = { key: "", byDay: {} };
function label(day) {
  var today = dayKey(Date.now(), timeline.dataset.tz);
  var data = timeline.dataset;
  var key = [today, data.tz, data.today, data.yesterday, document.documentElement.lang].join("|");
  if (labels.key !== key) labels = { key: key, byDay: {} };
  if (!(day in labels.byDay)) labels.byDay[day] = makeLabel(day, today);
  return labels.byDay[day];
}

function makeLabel(day, today) {
  var diff = daysBetween(day, today);
  if (diff === 0) return timeline.dataset.today || "Today";
  if (diff === 1) return timeline.dataset.yesterday || "Yesterday";
  var lang = document.documentElement.lang || undefined;
  var date = new Date(day + "T12:00:00Z");
  var options = diff > 1 && diff < 7 ? { weekday: "long", timeZone: "UTC" } : { dateStyle: "long", timeZone: "UTC" };
  try { return new Intl.DateTimeFormat(lang, options).format(date); } catch (e) { return day; }
}

function separator(day) {
  var div = document.createElement("div");
  div.className = "date-separator";
  div.setAttribute("role", "separator");
  div.dataset.day = day;
  var time = document.createElement("time");
  time.setAttribute("datetime", day);
  time.textContent = label(day);
  div.setAttribute("aria-label", time.textContent);
  div.appendChild(time);
  return div;
}

// The block a tile sits in directly under a chunk (or the timeline): a folded run of
// membership changes or the room's creation is one block, dated by its first tile.
function blockOf(tile) {
  var node = tile;
  while (node.parentNode && node.parentNode !== timeline && !node.parentNode.classList.contains("chunk")) node = node.parentNode;
  return node;
}

// Separators added or removed above what is on screen must not move it (a page of history
// joined above drops one): the first block on screen stays where it was.
function scroller() {
  return timeline.scrollHeight > timeline.clientHeight ? timeline : document.scrollingElement;
}

function firstOnScreen() {
  var box = scroller();
  var top = box === timeline ? timeline.getBoundingClientRect().top : 0;
  var blocks = timeline.querySelectorAll(":scope > .chunk > :not(.date-separator), :scope > .event");
  // Blocks stack down the timeline in their order, so the first one not wholly above the
  // screen is found by halving (a live message on a page of hundreds of tiles used to ask
  // every block above the screen for its box); blocks that take no room are stepped over.
  var lo = 0;
  var hi = blocks.length;
  while (lo < hi) {
    var mid = (lo + hi) >> 1;
    var probe = mid;
    var probed = null;
    while (probe < hi && !(probed = blocks[probe].getBoundingClientRect()).height) probe++;
    if (probe === hi) hi = mid;
    else if (probed.bottom <= top) lo = probe + 1;
    else hi = mid;
  }
  // The first block that starts on screen (one above with a few pixels showing is not what
  // the eye holds on to), else the one reaching into the screen from above.
  var partly = null;
  for (var i = lo; i < blocks.length; i++) {
    var rect = blocks[i].getBoundingClientRect();
    if (!rect.height || rect.bottom <= top) continue;
    if (rect.top >= top - 1) return { node: blocks[i], top: rect.top, box: box };
    if (!partly) partly = { node: blocks[i], top: rect.top, box: box };
  }
  return partly;
}

// -- a live chunk at the end of a page that follows it: what every message runs ---------
//
// The page was right before the chunk came (each change of the timeline ends here), so the
// chunk's blocks are dated against the block before it, and the top checked for the
// separator of its day (trimming the oldest chunk may have taken it): a few nodes instead
// of a pass over every tile. Anything not of that shape takes the whole pass.

function isSeparator(node) { return node.classList.contains("date-separator"); }
function firstDated(block) {
  return block.matches(".event[data-ts]") ? block : block.querySelector(".event[data-ts]");
}
function isChunk(node) { return node.classList.contains("chunk"); }

// The day of the last dated block before `chunk`: null when none, undefined when the page
// is not of the expected shape.
function dayBefore(chunk) {
  for (var node = chunk.previousElementSibling; node; node = node.previousElementSibling) {
    var blocks = isChunk(node) ? node.children : [node];
    for (var i = blocks.length - 1; i >= 0; i--) {
      if (isSeparator(blocks[i])) return undefined;
      var tile = firstDated(blocks[i]);
      if (tile) return dayOf(tile, timeline.dataset.tz);
    }
  }
  return null;
}

// Whether the page starts with the separator of its first block's day, adding it when the
// first block has none; false when the top is not of the expected shape.
function topDated() {
  for (var node = timeline.firstElementChild; node; node = node.nextElementSibling) {
    var blocks = isChunk(node) ? node.children : [node];
    for (var i = 0; i < blocks.length; i++) {
      var block = blocks[i];
      if (isSeparator(block)) {
        var next = blocks[i + 1];
        var tile = next && !isSeparator(next) && firstDated(next);
        return !!tile && dayOf(tile, timeline.dataset.tz) === block.dataset.day;
      }
      var first = firstDated(block);
      if (first) {
        block.parentNode.insertBefore(separator(dayOf(first, timeline.dataset.tz)), block);
        return true;
      }
    }
  }
  return true;
}

function normaliseEnd(chunk) {
  if (!chunk) return topDated(); // no new tile: only the top may have changed (a trim)
  if (chunk.parentNode !== timeline) return false;
  for (var after = chunk.nextElementSibling; after; after = after.nextElementSibling) {
    if (!after.classList.contains("pending")) return false; // only echoes go below it
  }
  var current = dayBefore(chunk);
  if (current === undefined) return false;
  var blocks = Array.prototype.slice.call(chunk.children);
  if (blocks.some(isSeparator)) return false;
  if (!topDated()) return false;
  blocks.forEach(function (block) {
    var tile = firstDated(block);
    if (!tile) return;
    var day = dayOf(tile, timeline.dataset.tz);
    if (day !== current) chunk.insertBefore(separator(day), block);
    current = day;
  });
  return true;
}

// "Today" becomes "Yesterday" on a page open across midnight: the separators' words, again
// whenever the day they were written on has passed.
var wordsOf = "";
function rename(always) {
  var today = dayKey(Date.now(), timeline.dataset.tz);
  if (!always && today === wordsOf) return;
  wordsOf = today;
  timeline.querySelectorAll(".date-separator").forEach(function (sep) {
    var time = sep.querySelector("time");
    var text = label(sep.dataset.day);
    if (time && time.textContent !== text && (time.textContent === timeline.dataset.today || time.textContent === timeline.dataset.yesterday || text === timeline.dataset.today || text === timeline.dataset.yesterday)) {
      time.textContent = text;
      sep.setAttribute("aria-label", text);
    }
  });
}

export function normalise(info) {
  if (!timeline) return;
  if (info && info.following && !info.elsewhere && normaliseEnd(info.chunk)) {
    rename(false);
    return;
  }
  // Following the live end, the page scrolls to the new tile next: nothing to keep in place.
  var anchor = info && info.following ? null : undefined;
  function changing() { if (anchor === undefined) anchor = firstOnScreen(); }
  var current = null;
  var lastBlock = null;
  var nodes = timeline.querySelectorAll(".date-separator, .event[data-ts]");
  var pending = null; // a separator seen, waiting for the tile it names
  nodes.forEach(function (node) {
    if (node.classList.contains("date-separator")) {
      if (pending || node.dataset.day === current) { changing(); node.remove(); }
      else pending = node;
      return;
    }
    var block = blockOf(node);
    if (block === lastBlock) return; // a tile inside a folded run already dated
    lastBlock = block;
    var day = dayOf(node, timeline.dataset.tz);
    if (pending) {
      if (pending.dataset.day === day) {
        current = day;
        pending = null;
        return;
      }
      changing();
      pending.remove();
      pending = null;
    }
    if (day !== current) { changing(); block.parentNode.insertBefore(separator(day), block); }
    current = day;
  });
  if (pending) { changing(); pending.remove(); }
  if (anchor && anchor.node.isConnected) {
    var moved = anchor.node.getBoundingClientRect().top - anchor.top;
    if (moved) anchor.box.scrollTop += moved;
  }
  rename(true);
}

on("inserted", normalise);
// A room swap (panes.js) brings another #timeline.
on("room-changed", function () {
  timeline = document.getElementById("timeline");
  normalise();
});
normalise();
