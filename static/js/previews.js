// URL previews under messages: for the first links of each message, the card the server
// renders from the homeserver's preview (rooms/previews.py), fetched by this viewer, since
// previews follow each viewer's settings and are never part of the shared tile. The page
// says whether they are on here (#room-features data-url-previews). Without JavaScript, a
// link is just a link. After a room swap ("room-changed") it watches the new room's pane.
import { on } from "./bus.js";

var features = document.getElementById("room-features");
var timeline = document.getElementById("timeline");
var MAX_LINKS = 2;
var HIDDEN = "webclient.hiddenPreviews";

function hidden() {
  try { return JSON.parse(window.localStorage.getItem(HIDDEN) || "[]"); } catch (e) { return []; }
}

function hide(id) {
  var list = hidden().filter(function (x) { return x !== id; });
  list.push(id);
  try { window.localStorage.setItem(HIDDEN, JSON.stringify(list.slice(-500))); } catch (e) { /* nicety */ }
}

function linksOf(tile) {
  var body = tile.querySelector(":scope > .event-body");
  if (!body) return [];
  var urls = [];
  body.querySelectorAll("a[href]").forEach(function (a) {
    if (urls.length >= MAX_LINKS) return;
    if (a.closest("blockquote, mx-reply, .reply-quote, code, pre, .url-preview")) return;
    var url;
    try { url = new URL(a.getAttribute("href")); } catch (e) { return; }
    if (url.protocol !== "http:" && url.protocol !== "https:") return;
    if (url.hostname === "matrix.to" || url.origin === location.origin) return;
    var href = a.getAttribute("href");
    if (urls.indexOf(href) < 0) urls.push(href);
  });
  return urls;
}

function previewTile(tile) {
  if (tile.dataset.previewed || !tile.dataset.eventId || tile.classList.contains("pending")) return;
  tile.dataset.previewed = "true";
  var urls = linksOf(tile);
  if (!urls.length) return;
  var skip = hidden();
  var box = document.createElement("div");
  box.className = "url-previews";
  urls.forEach(function (url) {
    if (skip.indexOf(tile.dataset.eventId + " " + url) >= 0) return;
    var query = new URLSearchParams({ event: tile.dataset.eventId, url: url });
    fetch(features.dataset.previewUrl + "?" + query, { credentials: "same-origin" })
      .then(function (response) { return response.status === 200 ? response.text() : ""; })
      .then(function (html) {
        if (!html || !tile.isConnected) return;
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        var card = template.content.firstElementChild;
        if (!card) return;
        card.querySelector(".url-preview-hide").addEventListener("click", function () {
          hide(tile.dataset.eventId + " " + url);
          card.remove();
        });
        if (!box.isConnected) tile.querySelector(":scope > .event-body").after(box);
        box.appendChild(card);
      })
      .catch(function () { /* no preview */ });
  });
}

function scan() {
  timeline.querySelectorAll("article.event-message[data-event-id]:not([data-previewed])").forEach(previewTile);
}

var pending = null;
var observer = new MutationObserver(function () {
  if (pending) return;
  pending = setTimeout(function () { pending = null; scan(); }, 50);
});

function bind() {
  observer.disconnect();
  if (!features || !timeline || features.dataset.urlPreviews !== "on") return;
  scan();
  observer.observe(timeline, { childList: true, subtree: true });
}

bind();
on("room-changed", function () {
  features = document.getElementById("room-features");
  timeline = document.getElementById("timeline");
  bind();
});
