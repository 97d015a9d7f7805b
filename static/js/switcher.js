// The room switcher (Ctrl/Cmd+K, loaded by keys.js on first use): a modal <dialog> with a
// labelled combobox over a listbox of the viewer's rooms, fuzzy search (letters in order,
// accents ignored), arrow keys, Enter opens, Escape (the dialog's own) closes and gives the
// focus back. The rooms and the dialog's words (translated) come from /rooms/switcher/.
import { emit } from "./bus.js";

var root = document.getElementById("room") || document.getElementById("room-list");
var base = (root && root.dataset.roomsBase) || "/rooms/";
var data = null; // {rooms, labels} once fetched
var loading = null;
var dialog = null;
var input = null;
var listbox = null;
var shown = []; // rooms listed now
var active = 0;
var opener = null; // what had focus before the dialog

export function load() {
  if (data) return Promise.resolve(data);
  if (!loading) {
    loading = fetch(base + "switcher/", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (json) { data = json; return json; })
      .catch(function (err) { loading = null; throw err; });
  }
  return loading;
}

export function open(url) {
  if (!emit("navigate", url)) location.assign(url);
}

function fold(text) {
  return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

var BOUNDARY = /[\s\-_#:.,!@()[\]]/;

// Higher is better; -1 when `query` is not a subsequence of `name`. A prefix beats a word
// start beats a substring beats scattered letters; runs of matching letters count extra.
export function score(name, query) {
  var n = fold(name);
  var q = fold(query).trim();
  if (!q) return 0;
  var at = n.indexOf(q);
  if (at === 0) return 3000 - n.length;
  if (at > 0) return (BOUNDARY.test(n.charAt(at - 1)) ? 2000 : 1000) - at;
  var total = 0;
  var j = 0;
  var last = -2;
  for (var i = 0; i < n.length && j < q.length; i++) {
    if (n.charAt(i) !== q.charAt(j)) continue;
    total += i === last + 1 ? 5 : 1;
    if (i === 0 || BOUNDARY.test(n.charAt(i - 1))) total += 3;
    last = i;
    j++;
  }
  return j === q.length ? total : -1;
}

function render() {
  var query = input.value;
  var rooms = data.rooms.map(function (room, i) { return { room: room, s: score(room.name, query), i: i }; })
    .filter(function (r) { return r.s >= 0; });
  if (query.trim()) rooms.sort(function (a, b) { return b.s - a.s || a.i - b.i; });
  shown = rooms.map(function (r) { return r.room; });
  active = Math.min(active, Math.max(shown.length - 1, 0));
  listbox.replaceChildren();
  shown.forEach(function (room, i) {
    var li = document.createElement("li");
    li.id = "room-switcher-option-" + i;
    li.setAttribute("role", "option");
    li.className = "room-switcher-option";
    li.dataset.url = room.url;
    li.dataset.roomId = room.id;
    var name = document.createElement("span");
    name.className = "room-switcher-name";
    name.textContent = room.name;
    li.appendChild(name);
    var extra = room.invite ? data.labels.invite : room.unread ? room.unread + " " + data.labels.unread : room.section || "";
    if (extra) {
      var small = document.createElement("span");
      small.className = "room-switcher-extra";
      small.textContent = extra;
      li.appendChild(small);
    }
    li.addEventListener("click", function () { choose(i); });
    li.addEventListener("mousemove", function () { if (active !== i) select(i); });
    listbox.appendChild(li);
  });
  var empty = document.getElementById("room-switcher-empty");
  empty.hidden = shown.length > 0;
  input.setAttribute("aria-expanded", shown.length ? "true" : "false");
  select(active);
}

function select(i) {
  active = i;
  var options = listbox.children;
  for (var k = 0; k < options.length; k++) options[k].setAttribute("aria-selected", k === i ? "true" : "false");
  var option = options[i];
  if (option) {
    input.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  } else input.removeAttribute("aria-activedescendant");
}

function choose(i) {
  var room = shown[i];
  if (!room) return;
  dialog.close();
  open(room.url);
}

function build() {
  dialog = document.createElement("dialog");
  dialog.id = "room-switcher";
  dialog.className = "room-switcher";
  dialog.setAttribute("aria-labelledby", "room-switcher-title");
  var title = document.createElement("h2");
  title.id = "room-switcher-title";
  title.textContent = data.labels.title;
  var label = document.createElement("label");
  label.htmlFor = "room-switcher-input";
  label.className = "visually-hidden";
  label.textContent = data.labels.search;
  input = document.createElement("input");
  input.id = "room-switcher-input";
  input.type = "text";
  input.autocomplete = "off";
  input.spellcheck = false;
  input.placeholder = data.labels.search;
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", "room-switcher-list");
  input.setAttribute("aria-expanded", "true");
  input.setAttribute("aria-describedby", "room-switcher-hint");
  listbox = document.createElement("ul");
  listbox.id = "room-switcher-list";
  listbox.className = "room-switcher-list";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", data.labels.title);
  var empty = document.createElement("p");
  empty.id = "room-switcher-empty";
  empty.className = "room-switcher-empty";
  empty.textContent = data.labels.empty;
  empty.hidden = true;
  var hint = document.createElement("p");
  hint.id = "room-switcher-hint";
  hint.className = "room-switcher-hint";
  hint.textContent = data.labels.hint;
  dialog.append(title, label, input, listbox, empty, hint);
  document.body.appendChild(dialog);

  input.addEventListener("input", function () { active = 0; render(); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") { event.preventDefault(); if (shown.length) select((active + 1) % shown.length); }
    else if (event.key === "ArrowUp") { event.preventDefault(); if (shown.length) select((active - 1 + shown.length) % shown.length); }
    else if (event.key === "Home" && event.ctrlKey) { event.preventDefault(); select(0); }
    else if (event.key === "End" && event.ctrlKey) { event.preventDefault(); select(shown.length - 1); }
    else if (event.key === "Enter") { event.preventDefault(); choose(active); }
  });
  // A click on the backdrop (outside the dialog's box) closes it.
  dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener("close", function () {
    if (opener && opener.focus && document.contains(opener)) opener.focus();
  });
}

export function openSwitcher() {
  if (dialog && dialog.open) { input.select(); return; }
  opener = document.activeElement;
  load().then(function () {
    if (!dialog) build();
    input.value = "";
    active = 0;
    render();
    dialog.showModal();
    input.focus();
  }).catch(function () { /* the page stays as it was */ });
}
