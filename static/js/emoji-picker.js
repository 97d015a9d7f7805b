// The emoji picker with JavaScript: a small popover with search, the recently used emoji
// (the account's `m.recent_emoji`) and every Unicode emoji by group. It opens from a
// message's "React…" (the reaction goes over the socket) and from the composer's emoji
// button (the emoji goes in at the cursor). Without JavaScript, "React…" opens the same
// picker as a page (rooms/_react_picker.html) and the composer button stays hidden.
// Loaded when first wanted (composer.js imports it on the first click: the room page
// weighs less), it exports open(how) and toggle().
//
// Data: the composer button's data-emoji-url (every Unicode emoji; cached by the browser)
// and data-room-emoji-url ("the emoji for this room": recent ones, and the room's custom
// emoji groups once image packs come, each {id, name, emoji: [{key, name, shortcodes, src}]}).
import { gettext } from "./i18n.js";
import { action } from "./live.js";
import { on } from "./bus.js";

var button = document.getElementById("composer-emoji");
var timeline = document.getElementById("timeline");
var textarea = document.querySelector("#composer textarea[name=body]");
var data = null; // {groups, recent, quick, custom}
var loading = null;
var popover = null;
var target = null; // {mode: "react", tile, href} or {mode: "insert"}

function load() {
  if (data) return Promise.resolve(data);
  if (loading) return loading;
  var opts = { credentials: "same-origin", headers: { Accept: "application/json" } };
  loading = Promise.all([
    fetch(button.dataset.emojiUrl, opts).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); }),
    fetch(button.dataset.roomEmojiUrl, opts).then(function (r) { return r.ok ? r.json() : { recent: [], quick: [], custom: [] }; }),
  ]).then(function (both) {
    data = { groups: both[0].groups, recent: both[1].recent || [], quick: both[1].quick || [], custom: both[1].custom || [] };
    return data;
  });
  loading.catch(function () { loading = null; });
  return loading;
}

function emojiButton(key, name, src) {
  var b = document.createElement("button");
  b.type = "button";
  b.className = "emoji";
  b.dataset.key = key;
  b.title = name || key;
  b.setAttribute("aria-label", name || key);
  if (src) {
    var img = document.createElement("img");
    img.src = src;
    img.alt = name || key;
    img.width = 24;
    img.height = 24;
    b.appendChild(img);
  } else {
    b.textContent = key;
  }
  return b;
}

function section(id, title, entries) {
  var box = document.createElement("section");
  box.className = "emoji-section";
  box.dataset.section = id;
  var h = document.createElement("h3");
  h.textContent = title;
  var grid = document.createElement("div");
  grid.className = "emoji-grid";
  entries.forEach(function (e) { grid.appendChild(emojiButton(e.key, e.name, e.src)); });
  box.append(h, grid);
  return box;
}

function recentEntries() {
  var seen = {};
  var out = [];
  data.recent.concat(data.quick.map(function (k) { return { key: k, name: k }; })).forEach(function (e) {
    if (!seen[e.key] && out.length < 24) { seen[e.key] = true; out.push(e); }
  });
  return out;
}

function build() {
  popover = document.createElement("div");
  popover.className = "emoji-popover";
  popover.id = "emoji-popover";
  popover.setAttribute("role", "dialog");
  popover.setAttribute("aria-label", gettext("Choose an emoji"));
  popover.hidden = true;
  var search = document.createElement("input");
  search.type = "search";
  search.className = "emoji-popover-search";
  search.placeholder = gettext("Search emoji: heart, tada, thumbs up…");
  search.setAttribute("aria-label", gettext("Search emoji"));
  var nav = document.createElement("nav");
  nav.className = "emoji-popover-nav";
  var body = document.createElement("div");
  body.className = "emoji-popover-body";
  var results = document.createElement("section");
  results.className = "emoji-section emoji-results";
  results.hidden = true;
  body.appendChild(results);
  popover.append(search, nav, body);
  document.body.appendChild(popover);

  search.addEventListener("input", function () { filter(search.value); });
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      var first = body.querySelector(".emoji-section:not([hidden]) button.emoji");
      if (first) pick(first.dataset.key);
    }
  });
  popover.addEventListener("click", function (event) {
    var b = event.target.closest("button.emoji");
    if (b) { pick(b.dataset.key); return; }
    var jump = event.target.closest("button[data-jump]");
    if (jump) {
      var s = body.querySelector('[data-section="' + CSS.escape(jump.dataset.jump) + '"]');
      if (s) s.scrollIntoView({ block: "start" });
    }
  });
  popover.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); close(); }
  });
  document.addEventListener("mousedown", function (event) {
    if (!popover.hidden && !popover.contains(event.target) && !event.target.closest(".action-react-pick, #composer-emoji")) close();
  });
}

function fill() {
  var body = popover.querySelector(".emoji-popover-body");
  var nav = popover.querySelector(".emoji-popover-nav");
  body.querySelectorAll("[data-section]").forEach(function (s) { s.remove(); });
  nav.replaceChildren();
  var groups = [{ id: "recent", name: gettext("Recently used"), emoji: recentEntries() }]
    .concat(data.custom)
    .concat(data.groups.map(function (g) {
      return { id: g.id, name: g.name, emoji: g.emoji.map(function (e) { return { key: e[0], name: e[1], codes: e[2] }; }) };
    }));
  groups.forEach(function (g) {
    if (!g.emoji.length) return;
    body.appendChild(section(g.id, g.name, g.emoji));
    var jump = document.createElement("button");
    jump.type = "button";
    jump.dataset.jump = g.id;
    jump.title = g.name;
    jump.textContent = g.emoji[0].src ? g.name.slice(0, 2) : g.emoji[0].key;
    nav.appendChild(jump);
  });
}

function filter(query) {
  var body = popover.querySelector(".emoji-popover-body");
  var results = body.querySelector(".emoji-results");
  var words = query.toLowerCase().replace(/[:_]/g, " ").split(/\s+/).filter(Boolean);
  body.querySelectorAll("[data-section]").forEach(function (s) { s.hidden = words.length > 0; });
  results.hidden = !words.length;
  results.replaceChildren();
  if (!words.length) return;
  var h = document.createElement("h3");
  h.textContent = gettext("Found");
  var grid = document.createElement("div");
  grid.className = "emoji-grid";
  var starts = [];
  var rest = [];
  var all = data.custom.reduce(function (acc, g) { return acc.concat(g.emoji.map(function (e) { return [e.key, e.name, (e.shortcodes || []).join(" "), e.src]; })); }, []);
  data.groups.forEach(function (g) { all = all.concat(g.emoji); });
  var phrase = words.join(" ");
  all.forEach(function (e) {
    var hay = (e[1] + " " + e[2]).toLowerCase().replace(/_/g, " ");
    if (!words.every(function (w) { return hay.indexOf(w) >= 0; })) return;
    (e[1].toLowerCase().indexOf(phrase) === 0 || (" " + e[2].replace(/_/g, " ")).indexOf(" " + phrase) >= 0 ? starts : rest).push(e);
  });
  starts.concat(rest).slice(0, 120).forEach(function (e) { grid.appendChild(emojiButton(e[0], e[1], e[3])); });
  if (!grid.children.length) {
    var none = document.createElement("p");
    none.className = "placeholder";
    none.textContent = gettext("No emoji found.");
    results.append(h, none);
  } else {
    results.append(h, grid);
  }
}

function remember(key) {
  data.recent = [{ key: key, name: key }].concat(data.recent.filter(function (e) { return e.key !== key; })).slice(0, 24);
}

function pick(key) {
  var t = target;
  close();
  if (!t) return;
  remember(key);
  if (t.mode === "react") {
    var sent = action({ type: "react", event_id: t.tile.dataset.eventId, key: key });
    if (!sent) location.assign(t.href + "?key=" + encodeURIComponent(key));
  } else if (textarea) {
    var start = textarea.selectionStart, end = textarea.selectionEnd;
    textarea.setRangeText(key, start, end, "end");
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
    action({ type: "recent_emoji", key: key });
  }
}

function open(how) {
  target = how;
  if (!popover) build();
  load().then(function () {
    fill();
    popover.hidden = false;
    var search = popover.querySelector(".emoji-popover-search");
    search.value = "";
    filter("");
    search.focus();
  }).catch(function () {
    target = null;
    if (how.mode === "react") location.assign(how.href);
  });
}

function close() {
  if (popover) popover.hidden = true;
  var back = target && target.mode === "insert" ? textarea : null;
  target = null;
  if (back) back.focus();
}

export { open };

// The composer's emoji button: open the picker, or close it when open.
export function toggle() {
  if (popover && !popover.hidden) close();
  else open({ mode: "insert" });
}

// A room swap (panes.js): the new room's composer and timeline, and its own emoji.
on("room-changed", function () {
  close();
  button = document.getElementById("composer-emoji");
  timeline = document.getElementById("timeline");
  textarea = document.querySelector("#composer textarea[name=body]");
  data = null;
  loading = null;
});
