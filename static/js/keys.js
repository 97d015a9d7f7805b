// Keyboard habits from Element: Ctrl/Cmd+K opens the room switcher (switcher.js, loaded on
// first use); Alt+Up / Alt+Down open the previous / next room of the room list; Escape closes
// open menus. The room list comes from its links on the page when it shows them, else from
// /rooms/switcher/. A room opens through the "navigate" bus event (a two-pane layout swaps
// the conversation), or as a normal page load when nobody listens.
import { emit } from "./bus.js";

var root = document.getElementById("room") || document.getElementById("room-list");
var switcher = null;

function loadSwitcher() {
  if (!switcher) switcher = import("./switcher.js");
  return switcher;
}

function open(url) {
  if (!emit("navigate", url)) location.assign(url);
}

function dialogOpen() {
  var dialog = document.getElementById("room-switcher");
  return !!(dialog && dialog.open);
}

// The room list in order: its links on this page when it shows them, else the JSON.
function roomsInOrder() {
  var links = document.querySelectorAll("[data-room-entry] a[data-room-id]");
  if (links.length) {
    return Promise.resolve(Array.prototype.map.call(links, function (a) {
      return { id: a.dataset.roomId, url: a.getAttribute("href") };
    }));
  }
  return loadSwitcher()
    .then(function (m) { return m.load(); })
    .then(function (json) { return json.rooms.filter(function (r) { return !r.invite; }); });
}

function currentRoom() {
  var room = document.getElementById("room");
  return (room && room.dataset.roomId) || "";
}

function step(delta) {
  roomsInOrder().then(function (rooms) {
    if (!rooms.length) return;
    var here = currentRoom();
    var at = -1;
    rooms.forEach(function (r, i) { if (r.id === here) at = i; });
    var next = at < 0 ? (delta > 0 ? 0 : rooms.length - 1) : at + delta;
    if (next < 0 || next >= rooms.length) return;
    open(rooms[next].url);
  }).catch(function () {});
}

// Menus: the reaction and help disclosures, and any <details data-menu> (a message's actions
// are a popover: Escape closes it and gives the focus back by itself).
var MENUS = "details.react-text[open], details.composer-commands[open], details[data-menu][open], details.menu[open]";

function closeMenus() {
  var closed = false;
  var focus = document.activeElement;
  document.querySelectorAll(MENUS).forEach(function (menu) {
    menu.open = false;
    closed = true;
    if (focus && menu.contains(focus)) {
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    }
  });
  return closed;
}

function onKey(event) {
  if (event.defaultPrevented) return;
  var key = event.key;
  if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && (key === "k" || key === "K")) {
    event.preventDefault();
    loadSwitcher().then(function (m) { m.openSwitcher(); }).catch(function () {});
    return;
  }
  if (event.altKey && !event.ctrlKey && !event.metaKey && (key === "ArrowUp" || key === "ArrowDown")) {
    if (dialogOpen()) return;
    event.preventDefault();
    step(key === "ArrowUp" ? -1 : 1);
    return;
  }
  if (key === "Escape" && !dialogOpen()) {
    if (closeMenus()) event.preventDefault();
  }
}

// Not in an embed (a ticket, no session) or a kiosk.
if (root && !root.dataset.wsTicket) document.addEventListener("keydown", onKey);
