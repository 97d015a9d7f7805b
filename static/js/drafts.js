// Drafts: what is typed in a room's composer is kept per room (and per thread) in the tab's
// sessionStorage, so it survives going to another room and back, and reloads, for as long
// as the tab lives; it is cleared when sent. A draft the server put back after a failed send
// without JavaScript wins over the stored one. Nothing is stored while editing a message.
// A room swap (panes.js) saves the old room's draft ("room-leaving") and brings back the
// new room's ("room-changed").
import { on } from "./bus.js";

var root = document.getElementById("room");
var form = document.getElementById("composer");
var textarea = form && form.querySelector("textarea[name=body]");

function key() {
  var parts = ["webclient.draft", root.dataset.userId || "", root.dataset.roomId || ""];
  if (root.dataset.threadRoot) parts.push(root.dataset.threadRoot);
  return parts.join("\u0000");
}

function store() {
  try { return window.sessionStorage; } catch (e) { return null; } // storage turned off
}

function save() {
  var s = store();
  if (!s || form.classList.contains("editing")) return;
  try {
    if (textarea.value.trim()) s.setItem(key(), textarea.value);
    else s.removeItem(key());
  } catch (e) { /* full or refused: a draft is a nicety */ }
}

var timer = null;

function bind() {
  var s = store();
  if (s && !textarea.value) {
    var kept = s.getItem(key());
    if (kept) textarea.value = kept;
  }
  textarea.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(save, 300);
  });
}

function start() {
  var s = store();
  bind();
  window.addEventListener("pagehide", save);
  on("room-leaving", function () {
    clearTimeout(timer);
    save();
  });
  on("room-changed", function (fresh) {
    root = fresh;
    form = document.getElementById("composer");
    textarea = form && form.querySelector("textarea[name=body]");
    if (textarea) bind();
  });
  on("composer_cleared", function (how) {
    clearTimeout(timer);
    if (how && how.edited) {
      // An edit was sent: the draft typed before it comes back.
      var kept = s && s.getItem(key());
      if (kept && !textarea.value) textarea.value = kept;
      return;
    }
    save();
  });
}

if (root && form && textarea && root.dataset.roomId) start();
