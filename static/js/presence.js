// Read state and the presence of others: read receipts as small avatars under the event
// each person reached, "… is typing", sending our own read marker when the newest event is
// on screen, and the unread count in the page title. After a room swap ("room-changed")
// it starts again on the new room's pane.
import { gettext, interpolate, ngettext } from "./i18n.js";
import { on } from "./bus.js";
import { action } from "./live.js";

var root = document.getElementById("room") || document.getElementById("room-list");
var timeline = document.getElementById("timeline");
var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");

// -- receipts ---------------------------------------------------------------------------
var placed = {}; // user_id -> element
function receiptElement(receipt) {
  var el = placed[receipt.user_id];
  if (!el) {
    el = receipt.src ? document.createElement("img") : document.createElement("span");
    el.className = "receipt avatar" + (receipt.src ? "" : " avatar-initial avatar-c" + receipt.colour);
    if (receipt.src) { el.src = receipt.src; el.alt = ""; } else { el.textContent = receipt.initial; }
    el.dataset.userId = receipt.user_id;
    placed[receipt.user_id] = el;
  }
  el.title = receipt.name + " has read up to here";
  return el;
}
var latest = {}; // user_id -> receipt, so replaced tiles get their avatars back
// The row of receipts under the tile of `eventId`: the one `el` is in when that is it (no
// search: this runs for every live message, and a reader's tile is looked up in the whole
// timeline only when its avatar lost its place: a new receipt, a tile replaced or trimmed).
function rowFor(el, eventId) {
  var row = el.isConnected ? el.parentNode : null;
  var tile = row && row.parentNode;
  if (tile && tile.dataset && tile.dataset.eventId === eventId && timeline.contains(tile)) return row;
  tile = timeline.querySelector('[data-event-id="' + CSS.escape(eventId) + '"]');
  if (!tile) return null;
  row = tile.querySelector(":scope > .receipts");
  if (!row) {
    row = document.createElement("div");
    row.className = "receipts";
    tile.appendChild(row);
  }
  return row;
}
function place(receipts) {
  receipts.forEach(function (receipt) { latest[receipt.user_id] = receipt; });
  var rows = []; // [row, its avatars in the order of `latest`]
  var left = []; // rows an avatar may have left
  Object.keys(latest).map(function (k) { return latest[k]; }).forEach(function (receipt) {
    var el = receiptElement(receipt);
    var row = rowFor(el, receipt.event_id);
    if (el.parentNode && el.parentNode !== row) left.push(el.parentNode);
    if (!row) { el.remove(); return; }
    var entry = rows.filter(function (r) { return r[0] === row; })[0];
    if (!entry) rows.push(entry = [row, []]);
    entry[1].push(el);
  });
  // Each row ends with its avatars in that order; a row already so is left alone (this runs
  // for every live message, and moving an avatar to where it is restyles it before the new
  // tile can be shown).
  rows.forEach(function (entry) {
    var row = entry[0], els = entry[1], kids = row.children, from = kids.length - els.length;
    var inPlace = from >= 0 && els.every(function (el, i) { return kids[from + i] === el; });
    if (!inPlace) els.forEach(function (el) { row.appendChild(el); });
  });
  left.forEach(function (row) { if (!row.children.length) row.remove(); });
}

// -- typing -----------------------------------------------------------------------------
var typingLine = document.getElementById("typing");
function showTyping(message) {
  if (!typingLine) return;
  var users = message.users;
  if (!users.length) typingLine.textContent = "";
  else if (users.length === 1) typingLine.textContent = interpolate(gettext("%(name)s is typing…"), { name: users[0] });
  else if (users.length === 2) typingLine.textContent = interpolate(gettext("%(first)s and %(second)s are typing…"), { first: users[0], second: users[1] });
  else typingLine.textContent = interpolate(ngettext("%(first)s, %(second)s and %(count)s other are typing…", "%(first)s, %(second)s and %(count)s others are typing…", users.length - 2), { first: users[0], second: users[1], count: users.length - 2 });
}
var typingSince = 0;
function typing(active) {
  if (active && Date.now() - typingSince < 4000) return; // throttled while typing
  if (!active && !typingSince) return;
  typingSince = active ? Date.now() : 0;
  action({ type: "typing", typing: active });
}

// -- our own read marker ----------------------------------------------------------------
var lastSent = "";
function newestSeen() {
  var tiles = timeline.querySelectorAll(".event[data-event-id]:not(.pending)");
  var newest = tiles[tiles.length - 1];
  if (!newest || document.visibilityState !== "visible" || !document.hasFocus()) return null;
  var box = newest.getBoundingClientRect();
  var view = timeline.getBoundingClientRect();
  var onScreen = box.top < Math.min(window.innerHeight, view.bottom) && box.bottom > Math.max(0, view.top);
  return onScreen ? newest.dataset.eventId : null;
}
function markRead() {
  var eventId = newestSeen();
  if (eventId && eventId !== lastSent && action({ type: "read", event_id: eventId })) {
    lastSent = eventId;
  }
}
var pending = null;
function soon() {
  if (pending) return;
  pending = setTimeout(function () { pending = null; markRead(); }, 500);
}

// What is bound to the room's pane: again after every swap.
function bind() {
  try { place(JSON.parse(timeline.dataset.receipts || "[]")); } catch (e) { /* none */ }
  var textarea = document.querySelector("#composer textarea[name=body]");
  if (textarea) {
    textarea.addEventListener("input", function () { typing(textarea.value.trim() !== ""); });
    textarea.addEventListener("blur", function () { typing(false); });
    textarea.form.addEventListener("submit", function () { typing(false); });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) typing(false);
    });
  }
  timeline.addEventListener("scroll", soon, { passive: true });
}

function start() {
  on("unread", function (message) {
    document.title = (message.total ? "(" + message.total + ") " : "") + baseTitle;
  });
  if (!timeline || !root.dataset.roomId) return; // the rest is for a room's page

  on("receipts", function (message) { place(message.receipts); });
  on("typing", showTyping);
  on("room-leaving", function () { typing(false); });
  on("room-changed", function (fresh) {
    root = fresh;
    timeline = document.getElementById("timeline");
    typingLine = document.getElementById("typing");
    baseTitle = fresh.dataset.pageTitle || baseTitle;
    placed = {};
    latest = {};
    lastSent = "";
    bind();
    soon();
  });
  bind();

  on("inserted", function () { place([]); soon(); });
  window.addEventListener("scroll", soon, { passive: true });
  window.addEventListener("focus", soon);
  document.addEventListener("visibilitychange", soon);
  // The socket may open after this script ran; try again shortly.
  setTimeout(soon, 1500);
  setInterval(markRead, 5000);
}

if (root) start();
