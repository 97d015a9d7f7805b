// Two panes: from about 900 px wide a room's page shows the room list beside the
// conversation. Choosing another room there swaps the conversation without loading the page
// again: the room's pane (rooms/<room>/pane/, the same HTML as the page's) is fetched and put
// in place, the address changes (history.pushState; Back and Forward swap again), the page's
// one socket follows the new room (live.js), and the other modules start again on the new
// pane: "room-leaving" (with the old #room) before the swap, "room-changed" (with the new
// #room) after it. Any module may ask for a room: emit("navigate", url) swaps it in when it
// can and loads the page otherwise (narrow screens, another kind of page, a failed fetch,
// messages still being sent). Each entry stays a link: without JavaScript, or with a
// modifier key, it is an ordinary page load.
import { on, emit } from "./bus.js";
import { hasUnsent } from "./live.js";

var WIDE = window.matchMedia("(min-width: 900px)");
var RESERVED = { "new": true, dm: true, join: true, directory: true };
var list = document.getElementById("rooms");
var under = null; // the swap under way: {url, controller}
var shown = location.pathname + location.search; // the address of the room on show

function room() { return document.getElementById("room"); }

// rooms/<room>/ (with any query) -> rooms/<room>/pane/ and the query; null for other pages.
function paneUrl(url) {
  var base = room().dataset.roomsBase || "/rooms/";
  var target;
  try { target = new URL(url, location.href); } catch (e) { return null; }
  if (target.origin !== location.origin || target.pathname.indexOf(base) !== 0) return null;
  var rest = target.pathname.slice(base.length);
  if (!/^[^/]+\/$/.test(rest) || RESERVED[rest.slice(0, -1)]) return null;
  return target.pathname + "pane/" + target.search;
}

// The open room's entry is marked as the current page (aria-current), as the server does.
function markCurrent() {
  if (!list) return;
  var id = room() ? room().dataset.roomId : "";
  list.querySelectorAll("a[data-room-id]").forEach(function (link) {
    if (link.dataset.roomId === id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
}

function put(fresh, url, how) {
  var old = room();
  emit("room-leaving", old);
  if (how === "push") history.pushState({ room: fresh.dataset.roomId }, "", url);
  shown = location.pathname + location.search;
  old.replaceWith(fresh);
  var count = document.title.match(/^\(\d+\)\s*/);
  document.title = (count ? count[0] : "") + (fresh.dataset.pageTitle || document.title);
  markCurrent();
  emit("room-changed", fresh);
  // Focus that was in the old pane (a key that asked for another room) goes to the new
  // room's composer, as in Element; a clicked entry in the list keeps it.
  var active = document.activeElement;
  if (!active || active === document.body || !active.isConnected) {
    var box = fresh.querySelector("#composer textarea");
    if (box) box.focus({ preventScroll: true });
  }
}

// Swap in the room at `url`; false when this page cannot (then the caller loads it).
function swap(url, how) {
  if (!room() || !WIDE.matches || !window.fetch || !window.AbortController) return false;
  var target = paneUrl(url);
  if (!target || hasUnsent()) return false;
  if (under) under.controller.abort();
  var mine = { url: url, controller: new AbortController() };
  under = mine;
  room().setAttribute("aria-busy", "true");
  fetch(target, { credentials: "same-origin", signal: mine.controller.signal })
    .then(function (response) {
      if (!response.ok || response.redirected) throw new Error("HTTP " + response.status);
      return response.text();
    })
    .then(function (html) {
      if (under !== mine) return;
      under = null;
      performance.mark("webclient:pane-fetched"); // benchmarks/room_switch.py reads these
      var template = document.createElement("template");
      template.innerHTML = html;
      var fresh = template.content.querySelector("#room");
      if (!fresh) throw new Error("no room in the answer");
      put(document.adoptNode(fresh), url, how);
      performance.mark("webclient:pane-ready");
    })
    .catch(function (error) {
      if (error && error.name === "AbortError") return;
      if (under === mine) under = null;
      // Whatever went wrong, the page itself says it best.
      if (how === "pop") location.reload();
      else location.assign(url);
    });
  return true;
}

function start() {
  history.replaceState({ room: room().dataset.roomId }, "");
  markCurrent();
  on("rooms-updated", markCurrent);
  on("navigate", function (url) {
    if (!swap(url, "push")) location.assign(url);
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest("#rooms a[data-room-id]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    if (link.getAttribute("aria-current") === "page" && !under) {
      event.preventDefault(); // already on show
      return;
    }
    if (swap(link.href, "push")) event.preventDefault();
  });
  window.addEventListener("popstate", function () {
    var here = location.pathname + location.search;
    if (here === shown) return; // only the fragment changed
    if (!swap(location.href, "pop")) location.reload();
  });
}

if (room() && list) start();
