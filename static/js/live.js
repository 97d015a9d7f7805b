// Live updates for the room list, room, thread and embed pages: HTML fragments rendered on
// the server come over the page's socket (socket.js, which reconnects and catches up from
// the last position seen) and are inserted as they come.
// Exports send/resend/action (composer.js, presence.js), personalise, scrollToBottom and
// withDays (history.js, composer.js, upload.js). Frames for other features go out on the bus:
// typing, receipts, unread, notify, sent, send_failed, pins (the room's pinned event IDs,
// with every header); after new tiles, "gap" (a limited
// sync; when nobody listens the timeline is fetched afresh) and "inserted"; "rooms-updated"
// after the room list changed. A room page beside the room list (panes.js) also hears the
// list; when it swaps its room ("room-changed" on the bus, with the new #room) the socket
// follows the new room, and frames of the old one still on their way are left out.
import { gettext } from "./i18n.js";
import { connect } from "./socket.js";
import { on, emit, listening } from "./bus.js";
import "./jumps.js";
import "./keys.js";

// The page comes with its date separators; days.js keeps them right once tiles arrive (live,
// after a resync, from history), so it loads with the first of those.
var days = null;
export function keepDays() {
  if (!days) days = import("./days.js");
  return days;
}
// What a fetched page of the timeline (`promise`) resolves to, once days.js has loaded too:
// the page comes with its date separators, and goes in only when days.js can keep them right
// (no day shown twice meanwhile). days.js loads while the page is fetched.
export function withDays(promise) {
  return Promise.all([promise, keepDays()]).then(function (both) { return both[0]; });
}

var root = document.getElementById("room") || document.getElementById("room-list");
var timeline = document.getElementById("timeline");
var statusEl = document.getElementById("connection-status");
var conn = null; // the socket, once started
var unacked = {}; // txn_id -> body, sends not yet confirmed by the server
var lastExtra = {};

function fragment(html) {
  var template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

function setStatus(text, kind) {
  if (!statusEl) return;
  statusEl.textContent = text || "";
  statusEl.hidden = !text;
  statusEl.dataset.state = kind || "";
}

// What scrolls the timeline: itself, or the document when it is not taller than its box.
export function scroller() {
  return timeline && timeline.scrollHeight > timeline.clientHeight ? timeline : document.scrollingElement;
}

// Whether the page shows the end of the timeline (then it follows new messages there).
export function nearBottom() {
  var box = scroller();
  return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

export function scrollToBottom() {
  if (!timeline) return;
  timeline.scrollTop = timeline.scrollHeight;
  if (window.parent !== window) {
    // In a frame (an embed): scrollIntoView would also scroll the page around the frame,
    // pulling an intranet page to the chat at every new message.
    var doc = document.scrollingElement;
    if (doc) doc.scrollTop = doc.scrollHeight;
    return;
  }
  var last = timeline.lastElementChild;
  if (last && last.scrollIntoView) last.scrollIntoView({ block: "end" });
}

var me = (root && root.dataset.userId) || "";
var threadRoot = (root && root.dataset.threadRoot) || "";

// The per-viewer touch on shared fragments: own messages and mentions of this user.
export function personalise(node, item) {
  if (item.sender === me || node.dataset.sender === me) node.classList.add("mine");
  var mentions = (node.dataset.mentions || "").split(" ");
  if (me && mentions.indexOf(me) >= 0) node.classList.add("mentions-me");
  node.querySelectorAll(".reaction").forEach(function (chip) {
    if ((chip.dataset.senders || "").split(" ").indexOf(me) >= 0) chip.classList.add("mine");
  });
  // This viewer's votes in a poll, and whether the message is pinned in the room.
  node.querySelectorAll(".poll-answer").forEach(function (answer) {
    answer.classList.toggle("mine", (answer.dataset.voters || "").split(" ").indexOf(me) >= 0);
  });
  var banner = document.getElementById("pinned-banner");
  if (banner && node.dataset.eventId) {
    node.classList.toggle("pinned", (banner.dataset.pinned || "").split(" ").indexOf(node.dataset.eventId) >= 0);
  }
  return node;
}

// A thread page shows its root and the thread's messages; the room page everything else.
function belongsHere(item) {
  if (threadRoot) return item.event_id === threadRoot || item.thread_id === threadRoot;
  return !item.thread_id;
}

// Puts a pushed tile on the page: true when a new tile went elsewhere than into `chunk` at
// the end (in its place, or where its echo was).
function insertEvent(item, chunk) {
  var echo = item.txn_id && timeline.querySelector('[data-txn-id="' + CSS.escape(item.txn_id) + '"]');
  if (!item.html) {
    if (echo) echo.remove();
    return;
  }
  if (item.txn_id) delete unacked[item.txn_id];
  var existing = timeline.querySelector('[data-event-id="' + CSS.escape(item.event_id) + '"]');
  if (item.replace) {
    // An edit, reaction, redaction or thread reply changed a tile already on the page.
    if (existing) existing.replaceWith(personalise(fragment(item.html), item));
    return;
  }
  if (!belongsHere(item)) {
    if (echo) echo.remove();
    return;
  }
  var node = personalise(fragment(item.html), item);
  if (echo && existing) {
    // The tile is already here (a resync fetched it first): one tile, where it is.
    echo.remove();
    existing.replaceWith(node);
    return;
  }
  if (existing) return;
  var ts = Number(node.dataset.ts || 0);
  if (ts && ts < newestShown) {
    // Older than what the page shows (a new owner pushing again what came after its last
    // stored sync, while the page fills a gap): in its place, not at the end.
    if (echo) echo.remove();
    var later = Array.prototype.find.call(timeline.querySelectorAll(DATED_TILE), function (n) {
      return Number(n.dataset.ts) > ts;
    });
    if (later) {
      later.parentNode.insertBefore(node, later);
      return true;
    }
  }
  if (echo) {
    echo.replaceWith(node);
    return true;
  }
  chunk.appendChild(node);
  toAnnounce.push(node);
  return false;
}

// New tiles are read out after the task that shows them: the live region is not what the
// eye waits for, and reading a tile's text is work before the tile is on screen.
var toAnnounce = [];
function announceLater() {
  if (!toAnnounce.length) return;
  var nodes = toAnnounce;
  toAnnounce = [];
  setTimeout(function () { nodes.forEach(function (node) { if (node.isConnected) announce(node); }); }, 0);
}

// The time stamp of the page's last tile, as onEvents starts. Tiles stand in the order the
// homeserver gives (a push older than the last tile goes in its place), so that is the
// newest the page shows; found from the end, not by a walk over every tile.
var newestShown = 0;
var DATED_TILE = ".event[data-event-id][data-ts]";
function lastTile(node) {
  if (node.matches(DATED_TILE)) return node;
  if (node.classList.contains("event")) return null; // an echo, or a tile without a time
  for (var child = node.lastElementChild; child; child = child.previousElementSibling) {
    var tile = lastTile(child);
    if (tile) return tile;
  }
  return null;
}
function newestTs() {
  for (var node = timeline.lastElementChild; node; node = node.previousElementSibling) {
    var tile = lastTile(node);
    if (tile) return Number(tile.dataset.ts);
  }
  return 0;
}

// A tile loaded by another way than its live push (history, a gap filled, a page fetched
// afresh) replaces the local echo of the same message: by its transaction ID (the sender's
// own messages carry it) or by the event ID the send was answered with.
export function dropEchoOf(tile) {
  if (!timeline) return;
  var echo = tile.dataset.ownTxn && timeline.querySelector('.pending[data-txn-id="' + CSS.escape(tile.dataset.ownTxn) + '"]');
  if (!echo && tile.dataset.eventId) echo = timeline.querySelector('.pending[data-pending-event-id="' + CSS.escape(tile.dataset.eventId) + '"]');
  if (!echo) return;
  delete unacked[echo.dataset.txnId];
  echo.remove();
}

// The polite live region under the timeline hears each new message of someone else, as
// "sender: text" (the backlog on load, older history and one's own sends are not read out).
function announce(node) {
  // Looked up each time: a room swap brings a new timeline and its region.
  var announcer = document.getElementById("timeline-announcer");
  if (!announcer || node.classList.contains("mine") || !node.classList.contains("event")) return;
  var sender = node.querySelector(".event-meta .sender");
  var body = node.querySelector(".event-body");
  var text = body ? (sender ? sender.textContent.trim() + ": " : "") + body.textContent : node.textContent;
  text = text.replace(/\s+/g, " ").trim().slice(0, 300);
  if (!text) return;
  var line = document.createElement("p");
  line.textContent = text;
  announcer.appendChild(line);
  while (announcer.children.length > 5) announcer.firstElementChild.remove();
}

// Frames of a room the page no longer shows (sent before the server heard of a swap).
function elsewhere(message) {
  return !!(message.room_id && root.dataset.roomId && message.room_id !== root.dataset.roomId);
}

function onEvents(message) {
  if (elsewhere(message)) return;
  var stick = nearBottom();
  // A page showing older history (a permalink, or scrolled far back) is not at the live
  // end: it only takes changes to tiles it shows, and loads newer ones as it scrolls.
  var detached = !!timeline.dataset.newer;
  // New tiles of one sync go into a chunk that knows the token before it, so it can be
  // dropped when far off-screen and loaded again, and a gap before it can be filled.
  var chunk = document.createElement("div");
  chunk.className = "chunk live";
  newestShown = newestTs();
  if (message.prev_batch) chunk.dataset.prev = message.prev_batch;
  // Whether a new tile went elsewhere than the end: then the "inserted" listeners look at
  // the whole page, not only the new chunk.
  var aside = false;
  message.events.forEach(function (item) {
    if (detached && !item.replace) return;
    if (insertEvent(item, chunk)) aside = true;
  });
  if (chunk.children.length) {
    // Local echoes stay at the bottom until the server confirms them.
    timeline.insertBefore(chunk, timeline.querySelector(":scope > .event.pending"));
    keepDays();
    if (message.limited) {
      if (!emit("gap", chunk)) resync();
    }
  }
  // Following the live end, the page scrolls to the new tile next: what the listeners
  // change above need not keep the scroll position (each keeping is a forced layout).
  var following = stick && !detached;
  emit("inserted", { following: following, chunk: chunk.isConnected ? chunk : null, elsewhere: aside });
  conn.seen(message.epoch, message.pos);
  if (following) scrollToBottom();
  announceLater();
}

// The room list is grouped into sections (invites, favourites, DMs, one per space, rooms,
// low priority). Each update carries the shells of every section in order, the section
// of its room and the order of all listed rooms.
function section(list, key) {
  return list.querySelector(':scope > [data-section="' + CSS.escape(key) + '"]');
}

function onRoom(message) {
  var list = document.getElementById("rooms");
  if (!list) return;
  var keep = {};
  (message.sections || []).forEach(function (shell) {
    keep[shell.key] = true;
    var fresh = fragment(shell.html);
    var current = section(list, shell.key);
    if (!current) current = fresh;
    else {
      // A space may have been renamed: take the new heading.
      current.replaceChild(fresh.firstElementChild, current.firstElementChild);
      current.setAttribute("aria-label", fresh.getAttribute("aria-label") || "");
    }
    list.appendChild(current);
  });
  if (message.sections) {
    Array.prototype.slice.call(list.children).forEach(function (child) {
      if (child.dataset.section && !keep[child.dataset.section]) child.remove();
    });
  }
  var old = list.querySelector('[data-room-entry="' + CSS.escape(message.room_id) + '"]');
  if (old) old.remove();
  var target = message.section ? section(list, message.section) : null;
  var into = target ? target.querySelector("ul") : list.querySelector("ul");
  if (message.html && into) into.appendChild(fragment(message.html));
  message.order.forEach(function (id) {
    var entry = list.querySelector('[data-room-entry="' + CSS.escape(id) + '"]');
    if (entry) entry.parentNode.appendChild(entry);
  });
  var loading = document.getElementById("rooms-loading");
  if (loading) loading.remove();
  var empty = document.getElementById("rooms-empty");
  if (empty && list.querySelector("[data-room-entry], [data-section]")) empty.remove();
  emit("rooms-updated");
}

function onRooms(message) {
  var list = document.getElementById("rooms");
  if (!list) return;
  // Each entry is a whole section with its rooms.
  list.innerHTML = message.entries.join("");
  var loading = document.getElementById("rooms-loading");
  if (loading) loading.remove();
  emit("rooms-updated");
}

// Fetch the newest timeline afresh (after a gap or a server restart), keeping local
// echoes and anything newer that arrived meanwhile.
var resyncing = false;
function resync() {
  if (!timeline || !root.dataset.timelineUrl || resyncing) return;
  resyncing = true;
  var target = timeline; // the room may be swapped meanwhile: then this answer is dropped
  withDays(fetch(root.dataset.timelineUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (response.status === 401) { location.reload(); throw new Error("signed out"); }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }))
    .then(function (html) {
      if (target !== timeline) return;
      var wrap = fragment(html);
      var fresh = wrap.querySelector("#timeline");
      var seen = {};
      fresh.querySelectorAll("[data-event-id]").forEach(function (n) { seen[n.dataset.eventId] = true; });
      // The sender's own messages carry the transaction they were sent with.
      var sentTxns = {};
      fresh.querySelectorAll("[data-own-txn]").forEach(function (n) { sentTxns[n.dataset.ownTxn] = true; });
      var lastTs = 0;
      fresh.querySelectorAll("[data-ts]").forEach(function (n) { lastTs = Math.max(lastTs, Number(n.dataset.ts)); });
      var keep = [];
      timeline.querySelectorAll(".event").forEach(function (n) {
        // A local echo stays until its event shows, unless the fetched page has it.
        if (n.classList.contains("pending")) {
          if (!seen[n.dataset.pendingEventId] && !sentTxns[n.dataset.txnId]) keep.push(n);
          else delete unacked[n.dataset.txnId];
        } else if (n.dataset.eventId && !seen[n.dataset.eventId] && Number(n.dataset.ts || 0) >= lastTs) keep.push(n);
      });
      var stick = nearBottom();
      var chunks = fresh.querySelectorAll(":scope > .chunk");
      var freshOldest = Infinity;
      fresh.querySelectorAll("[data-event-id][data-ts]").forEach(function (n) { freshOldest = Math.min(freshOldest, Number(n.dataset.ts)); });
      var before = Array.prototype.filter.call(timeline.querySelectorAll(".event[data-event-id]"), function (n) {
        return !seen[n.dataset.eventId] && Number(n.dataset.ts || 0) < freshOldest;
      });
      if (before.length && chunks.length && chunks[0].dataset.prev && listening("gap")) {
        // The page shows older messages than the fetched page: keep them, add the fetched
        // page after them and fill what lies between (history.js stops at the first tile
        // the page has), so nothing that happened meanwhile is skipped.
        timeline.querySelectorAll(".event").forEach(function (n) {
          if (n.classList.contains("pending") ? keep.indexOf(n) < 0 : seen[n.dataset.eventId]) n.remove();
        });
        timeline.querySelectorAll(":scope > .chunk").forEach(function (c) { if (!c.children.length) c.remove(); });
        var pending = timeline.querySelector(":scope > .event.pending");
        chunks.forEach(function (chunk) { timeline.insertBefore(chunk, pending); });
        // Tiles newer than the fetched page (live ones that came meanwhile) go after it.
        keep.forEach(function (n) { if (!n.classList.contains("pending")) timeline.insertBefore(n, pending); });
        if (fresh.dataset.newer) timeline.dataset.newer = fresh.dataset.newer;
        else delete timeline.dataset.newer;
        emit("gap", chunks[0]);
      } else {
        timeline.replaceChildren.apply(timeline, Array.prototype.slice.call(fresh.children).concat(keep));
        ["older", "newer"].forEach(function (key) {
          if (fresh.dataset[key]) timeline.dataset[key] = fresh.dataset[key];
          else delete timeline.dataset[key];
        });
      }
      conn.seen(fresh.dataset.epoch, fresh.dataset.pos);
      emit("inserted");
      if (stick) scrollToBottom();
    })
    .catch(function () { setStatus(gettext("Could not load the latest messages; retrying…"), "offline"); setTimeout(resync, 5000); })
    .then(function () { resyncing = false; });
}

// The room was renamed or its topic changed (or the page was rendered before the sync
// that carried them): the name as text; the topic as the server's sanitised HTML.
function onHeader(message) {
  if (elsewhere(message)) return;
  if (message.pinned) emit("pins", message.pinned);
  var name = document.getElementById("room-name");
  if (name && !root.dataset.threadRoot) {
    var old = name.textContent;
    name.textContent = message.name;
    document.title = document.title.replace(old, message.name);
  }
  var topic = document.getElementById("room-topic");
  if (!message.topic) {
    if (topic) topic.remove();
    return;
  }
  if (!topic && name) {
    topic = document.createElement("p");
    topic.className = "room-topic";
    topic.id = "room-topic";
    name.insertAdjacentElement("afterend", topic);
  }
  if (!topic) return;
  // The formatted topic (spec v1.15) was sanitised on the server like every fragment.
  if (message.topic_html) topic.innerHTML = message.topic_html;
  else topic.textContent = message.topic;
}

function handle(message) {
  switch (message.type) {
    case "events": return onEvents(message);
    case "room": return onRoom(message);
    case "rooms": return onRooms(message);
    case "resync": return elsewhere(message) ? null : resync();
    case "status":
      return setStatus(message.state === "live" ? "" : message.message, message.state);
    case "logout": // terminal: socket.js reconnects no more
      location.assign(message.url);
      return;
    case "sent":
    case "send_failed":
    case "command_done":
      delete unacked[message.txn_id];
      emit(message.type, message);
      return;
    case "typing":
      if (!elsewhere(message)) emit(message.type, message);
      return;
    case "following":
      emit("following", message);
      return;
    case "follow_refused":
      // The swapped-in room is not one this login is in (any more): its page says why.
      if (message.room_id === root.dataset.roomId) location.reload();
      return;
    case "receipts":
    case "unread":
    case "notify":
      emit(message.type, message);
      return;
    case "header":
      return onHeader(message);
    case "reload": // terminal too
      // The page's ticket expired or its login ended: a reload gets a fresh one.
      setTimeout(function () { location.reload(); }, 1000);
      return;
    case "action_failed":
      setStatus(message.error, "error");
      setTimeout(function () { setStatus(""); }, 8000);
      return;
  }
}

function transmit(txn, pending) {
  var message = { type: "send", txn_id: txn, body: pending.body };
  Object.keys(pending.extra).forEach(function (k) { message[k] = pending.extra[k]; });
  action(message);
}

// extra: {reply_to, thread_id} for a send; {type: "edit", event_id} for an edit.
export function send(txn, body, extra) {
  unacked[txn] = { body: body, extra: extra || {} };
  lastExtra[txn] = extra || {};
  transmit(txn, unacked[txn]);
}

export function resend(txn, body) {
  send(txn, body, lastExtra[txn]);
}

// Any other frame to the server (react, redact, typing, read); false while offline.
export function action(message) {
  return conn ? conn.send(message) : false;
}

// Messages not yet confirmed (or failed ones on show): the page would lose them by leaving.
export function hasUnsent() {
  return Object.keys(unacked).length > 0 || !!document.querySelector(".event.failed, .event.upload.pending:not(.sent)");
}

function start() {
  if (timeline) timeline.querySelectorAll(".event").forEach(function (node) { personalise(node, {}); });
  // tests/browser/test_embed.py scrolls an embed to its end through this; nothing else
  // reads it.
  window.webclient = { scrollToBottom: scrollToBottom };

  window.addEventListener("beforeunload", function (event) {
    if (hasUnsent()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  if (timeline) scrollToBottom();
  var state = timeline || root;
  var params = { room: root.dataset.roomId || "" };
  // A room page beside the room list hears the list too.
  if (root.dataset.roomId && document.getElementById("rooms")) params.list = "1";
  // An embed page reads through a signed ticket instead of the session cookie.
  if (root.dataset.wsTicket) params.ticket = root.dataset.wsTicket;
  conn = connect(root, {
    params: params,
    epoch: state.dataset.epoch,
    pos: state.dataset.pos,
    onMessage: handle,
    onOpen: function () {
      setStatus("");
      // Whatever was not confirmed goes again with its own transaction ID: the homeserver
      // posts it at most once.
      Object.keys(unacked).forEach(function (txn) { transmit(txn, unacked[txn]); });
    },
    onDown: function () { setStatus(gettext("Connection lost. Reconnecting…"), "offline"); },
  });
  window.addEventListener("pagehide", conn.finish);
  on("room-changed", function (fresh) {
    root = fresh;
    timeline = document.getElementById("timeline");
    if (timeline) timeline.querySelectorAll(".event").forEach(function (node) { personalise(node, {}); });
    scrollToBottom();
    conn.follow(root, { room: root.dataset.roomId, list: "1" }, timeline.dataset.epoch, timeline.dataset.pos);
  });
}

if (root) start();
