// Animated images (GIF, animated WebP; spec v1.18 `info.is_animated`) arrive as a still
// frame with the animation in `data-animated-src`: they play while the pointer is over
// them or they have keyboard focus, or always once the viewer allows it with the "Play
// animated images" box (a choice kept in this browser). Without JavaScript the still frame
// links to the full, animated file.
import { on } from "./bus.js";

var KEY = "webclient.playAnimated";
var SELECTOR = "img[data-animated-src]";

function allowed() {
  try { return localStorage.getItem(KEY) === "1"; } catch (e) { return false; }
}

function play(img) {
  if (img.getAttribute("src") !== img.dataset.animatedSrc) img.setAttribute("src", img.dataset.animatedSrc);
  var box = img.closest(".animated") || img;
  box.classList.add("playing");
}

function still(img) {
  if (allowed() || !img.dataset.stillSrc) return;
  if (img.getAttribute("src") !== img.dataset.stillSrc) img.setAttribute("src", img.dataset.stillSrc);
  var box = img.closest(".animated") || img;
  box.classList.remove("playing");
}

function imageIn(node) {
  if (!node || !node.closest) return null;
  var holder = node.closest(".animated, " + SELECTOR);
  if (!holder) return null;
  return holder.matches(SELECTOR) ? holder : holder.querySelector(SELECTOR);
}

function each(root, fn) {
  if (root.nodeType !== 1 && root.nodeType !== 9) return;
  if (root.matches && root.matches(SELECTOR)) fn(root);
  root.querySelectorAll(SELECTOR).forEach(fn);
}

document.addEventListener("mouseover", function (event) {
  var img = imageIn(event.target);
  if (img && !(event.relatedTarget && imageIn(event.relatedTarget) === img)) play(img);
});
document.addEventListener("mouseout", function (event) {
  var img = imageIn(event.target);
  if (img && !(event.relatedTarget && imageIn(event.relatedTarget) === img)) still(img);
});
document.addEventListener("focusin", function (event) {
  var img = imageIn(event.target);
  if (img) play(img);
});
document.addEventListener("focusout", function (event) {
  var img = imageIn(event.target);
  if (img) still(img);
});

// The room header's switch (again on the new room's header after a swap, panes.js).
function bindToggle() {
  var toggle = document.getElementById("play-animated");
  if (!toggle) return;
  toggle.checked = allowed();
  toggle.closest("[hidden]") && toggle.closest("[hidden]").removeAttribute("hidden");
  toggle.addEventListener("change", function () {
    try { localStorage.setItem(KEY, toggle.checked ? "1" : "0"); } catch (e) { /* private mode */ }
    each(document, toggle.checked ? play : still);
  });
}
bindToggle();
on("room-changed", bindToggle);

if (allowed()) each(document, play);
// Loaded when the first animated image appeared (features.js): one already under the
// pointer plays now.
document.querySelectorAll(SELECTOR + ":hover").forEach(play);
new MutationObserver(function (records) {
  if (!allowed()) return;
  records.forEach(function (record) { record.addedNodes.forEach(function (n) { each(n, play); }); });
}).observe(document.documentElement, { childList: true, subtree: true });
