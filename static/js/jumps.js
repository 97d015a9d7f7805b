// "Jump to first unread" and "Jump to latest" (#jump-unread, #jump-latest, rendered by
// rooms/_jumps.html as plain links, so they work without JavaScript: to the unread divider or
// the room around the fully-read message, and to the end of the timeline). Here they show
// only when useful: "latest" while the timeline is scrolled up (or shows older history), and
// "first unread" until the divider has been on screen.
import { on } from "./bus.js";

var timeline = document.getElementById("timeline");
var latest = document.getElementById("jump-latest");
var unread = document.getElementById("jump-unread");

function scroller() {
  return timeline.scrollHeight > timeline.clientHeight ? timeline : document.scrollingElement;
}

function update() {
  if (latest) {
    var box = scroller();
    var away = box.scrollHeight - box.scrollTop - box.clientHeight > Math.max(200, box.clientHeight / 2);
    latest.hidden = !(away || timeline.dataset.newer);
  }
}

function start() {
  var queued = false;
  function onScroll() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; update(); });
  }
  timeline.addEventListener("scroll", onScroll, { passive: true });
  window.addEventListener("scroll", onScroll, { passive: true });
  on("inserted", onScroll);
  if (latest) {
    latest.addEventListener("click", function (event) {
      // At the live end: scroll there. Showing older history: the link loads the newest page.
      if (timeline.dataset.newer || latest.getAttribute("href").charAt(0) !== "#") return;
      event.preventDefault();
      var box = scroller();
      box.scrollTop = box.scrollHeight;
      latest.hidden = true;
      var composer = document.querySelector("#composer textarea");
      if (composer) composer.focus({ preventScroll: true });
    });
  }
  var divider = document.getElementById("unread-divider");
  if (unread && divider) {
    unread.addEventListener("click", function (event) {
      event.preventDefault();
      divider.scrollIntoView({ block: "center" });
      unread.hidden = true;
    });
    if (window.IntersectionObserver) {
      var seen = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) {
          unread.hidden = true;
          seen.disconnect();
        }
      });
      // Wait for the page's first scroll to the bottom before watching.
      requestAnimationFrame(function () { seen.observe(divider); });
    }
  }
  setTimeout(update, 0);
}

if (timeline && (latest || unread)) start();
