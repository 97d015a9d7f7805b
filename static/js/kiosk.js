// A kiosk screen: one or more rooms, newest at the bottom, live over one websocket, for
// weeks without anyone touching it. The socket (socket.js) reconnects with backoff, here
// under an "offline since" banner; after a reconnect the screen catches up from the last
// event each panel showed (the server replays what it still holds, or the panel fetches
// pages back to that event), so nothing is missed or shown twice; old tiles are dropped; an
// upgraded server reloads it.
import { formatDate, gettext, interpolate } from "./i18n.js";
import { connect } from "./socket.js";

var root = document.getElementById("kiosk");
var MAX = Number((root && root.dataset.maxTiles) || 100);
// Membership changes and other state lines show only when the link asks for them.
var SHOW_STATE = !!root && root.dataset.showState === "true";
var banner = document.getElementById("kiosk-offline");
var clock = document.getElementById("kiosk-clock");
var conn = null;
var offlineSince = null;
var panels = {};

function fragment(html) {
  var template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

function tileOf(panel, id) {
  return panel.timeline.querySelector('[data-event-id="' + CSS.escape(id) + '"]');
}

function tiles(panel) {
  return panel.timeline.querySelectorAll(":scope > .event, :scope > .membership-run");
}

function toBottom(panel) {
  panel.timeline.scrollTop = panel.timeline.scrollHeight;
}

function trim(panel) {
  var list = tiles(panel);
  for (var i = 0; i < list.length - MAX; i++) list[i].remove();
}

// The tile (or folded run) directly in the panel that holds `node`.
function topLevel(panel, node) {
  while (node && node.parentNode !== panel.timeline) node = node.parentNode;
  return node || null;
}

function lastShown(panel) {
  var list = panel.timeline.querySelectorAll("[data-event-id]");
  return list.length ? list[list.length - 1].dataset.eventId : "";
}

function put(panel, item) {
  if (!item.html) return;
  var existing = tileOf(panel, item.event_id);
  if (item.replace) {
    // An edit, reaction or redaction changed a tile on screen.
    if (existing) existing.replaceWith(fragment(item.html));
    return;
  }
  if (item.thread_id || existing) return;
  if (!SHOW_STATE && item.state_key !== null && item.state_key !== undefined) return;
  panel.timeline.appendChild(fragment(item.html));
}

function onEvents(message) {
  var panel = panels[message.room_id];
  if (!panel) return;
  // Rooms are replayed one after another, so positions need not rise from message to
  // message: socket.js keeps the highest, or the next reconnect would ask for events again.
  conn.seen(message.epoch, message.pos);
  if (panel.queue) {
    panel.queue.push(message);
    return;
  }
  var anchor = lastShown(panel);
  message.events.forEach(function (item) { put(panel, item); });
  trim(panel);
  toBottom(panel);
  // The homeserver left out events before these (a long outage): fetch back to the anchor.
  if (message.limited) catchUp(panel, anchor);
}

// Fetch the newest pages until they reach `anchor` (the last event shown before the
// break) or fill the panel, then put everything after the anchor in order.
function catchUp(panel, anchor) {
  if (panel.queue) return;
  panel.queue = [];
  var collected = [];
  function page(from) {
    var url = panel.url + (from ? "?from=" + encodeURIComponent(from) : "");
    return fetch(url, { credentials: "omit", cache: "no-store" }).then(function (response) {
      if (response.status === 404 || response.status === 401) { location.reload(); throw new Error("revoked"); }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (html) {
      var fresh = fragment(html).querySelector("#timeline");
      var found = false;
      // Runs of joins and leaves come folded; a kiosk shows their tiles one by one.
      var nodes = Array.prototype.slice.call(fresh.querySelectorAll(".chunk > .event[data-event-id], .chunk > .membership-run > .event[data-event-id], .chunk > .creation-burst > .event[data-event-id]"));
      var keep = [];
      nodes.forEach(function (node) {
        if (node.dataset.eventId === anchor) { found = true; keep = []; return; }
        if (!SHOW_STATE && node.classList.contains("event-state")) return;
        keep.push(node);
      });
      collected = keep.concat(collected);
      var older = fresh.dataset.older;
      if (found || !anchor || !older || collected.length >= MAX) return;
      return page(older);
    });
  }
  page("")
    .then(function () {
      // In order after the anchor: tiles a limited sync already put at the bottom move
      // to their place among the fetched ones instead of staying above them.
      var cursor = topLevel(panel, anchor && tileOf(panel, anchor));
      collected.forEach(function (node) {
        var id = node.dataset.eventId;
        var existing = id && tileOf(panel, id);
        if (existing && existing.parentNode !== panel.timeline) {
          existing.replaceWith(node); // inside a folded run of joins and leaves
          cursor = topLevel(panel, node);
          return;
        }
        if (existing) existing.remove();
        if (cursor) cursor.after(node);
        else panel.timeline.appendChild(node);
        cursor = node;
      });
    })
    .catch(function () {
      setTimeout(function () { panel.queue = null; catchUp(panel, anchor); }, 5000);
      throw new Error("retrying");
    })
    .then(function () {
      var held = panel.queue || [];
      panel.queue = null;
      held.forEach(onEvents);
      trim(panel);
      toBottom(panel);
    }, function () {});
}

function onHeader(message) {
  var panel = panels[message.room_id];
  if (!panel) return;
  var name = panel.el.querySelector("[data-room-name]") || document.getElementById("room-name");
  if (name) name.textContent = message.name;
}

function showOffline() {
  if (!banner) return;
  if (offlineSince === null) offlineSince = new Date();
  banner.textContent = interpolate(gettext("Offline since %(time)s — reconnecting…"), { time: hhmm(offlineSince) });
  banner.hidden = false;
}

function showOnline() {
  offlineSince = null;
  if (banner) banner.hidden = true;
}

function handle(message) {
  switch (message.type) {
    case "events": return onEvents(message);
    case "resync": {
      var panel = panels[message.room_id];
      if (panel) catchUp(panel, lastShown(panel));
      return;
    }
    case "header": return onHeader(message);
    case "status":
      if (message.state === "live") { if (!offlineSince && banner) banner.hidden = true; }
      else if (banner) { banner.textContent = message.message; banner.hidden = false; }
      return;
    case "revoked":
    case "logout":
    case "reload":
      // Terminal: socket.js reconnects no more. The server now answers with the "revoked"
      // page. (It sends a screen only "revoked"; the other two stop a screen the same way.)
      location.reload();
      return;
  }
}

function hhmm(date) { return formatDate(date, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }); }
function tick() {
  if (clock) {
    var now = new Date();
    clock.textContent = hhmm(now);
    clock.setAttribute("datetime", now.toISOString());
  }
}

// Browsers allow full screen only after a gesture: a click or key on the screen (or run
// the browser in its own kiosk mode, e.g. chromium --kiosk <link>).
function fullScreen() {
  var el = document.documentElement;
  if (!document.fullscreenElement && el.requestFullscreen) el.requestFullscreen().catch(function () {});
}

function start() {
  Array.prototype.forEach.call(root.querySelectorAll(".kiosk-panel"), function (panel) {
    panels[panel.dataset.roomId] = {
      el: panel,
      timeline: panel.querySelector(".kiosk-timeline"),
      url: panel.dataset.timelineUrl,
      busy: false,
      queue: null, // live events held while the panel catches up
    };
  });
  document.addEventListener("click", fullScreen);
  document.addEventListener("keydown", fullScreen);
  tick();
  setInterval(tick, 1000);
  Object.keys(panels).forEach(function (id) { trim(panels[id]); toBottom(panels[id]); });
  conn = connect(root, {
    params: { kiosk: root.dataset.token },
    epoch: root.dataset.epoch,
    pos: root.dataset.pos,
    onMessage: handle,
    onOpen: showOnline,
    onDown: showOffline,
  });
}

if (root) start();
