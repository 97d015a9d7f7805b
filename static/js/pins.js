// Pinned messages: Pin / Unpin from a message's menu over the socket (the links open a page
// that asks when there is none), and the banner above the timeline kept current: every
// header frame carries the room's pins ("pins" on the bus), and when they changed the
// banner is fetched again and tiles are marked pinned or not (which decides Pin or Unpin).
import { action } from "./live.js";
import { on } from "./bus.js";

var timeline = document.getElementById("timeline");

function banner() { return document.getElementById("pinned-banner"); }

function markTiles(ids) {
  if (!timeline) return;
  timeline.querySelectorAll("article.event[data-event-id]").forEach(function (tile) {
    tile.classList.toggle("pinned", ids.indexOf(tile.dataset.eventId) >= 0);
  });
}

function refresh(ids) {
  var current = banner();
  if (!current || (current.dataset.pinned || "") === ids.join(" ")) return;
  current.dataset.pinned = ids.join(" ");
  markTiles(ids);
  fetch(current.dataset.pinsUrl, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.text() : null; })
    .then(function (html) {
      if (!html) return;
      var template = document.createElement("template");
      template.innerHTML = html.trim();
      var fresh = template.content.firstElementChild;
      var old = banner();
      if (fresh && old) old.replaceWith(fresh);
    });
}

on("pins", refresh);

function bind() {
  if (!timeline) return;
  timeline.addEventListener("click", function (event) {
    var link = event.target.closest("a.action-pin, a.action-unpin");
    if (!link) return;
    var tile = link.closest("article.event[data-event-id]");
    if (!tile) return;
    event.preventDefault();
    var kind = link.matches(".action-pin") ? "pin" : "unpin";
    if (!action({ type: kind, event_id: tile.dataset.eventId })) location.assign(link.href);
    var menu = link.closest(".actions-menu:popover-open");
    if (menu) menu.hidePopover();
  });
}

bind();
// A room swap (panes.js): the new room's timeline.
on("room-changed", function () {
  timeline = document.getElementById("timeline");
  bind();
});
