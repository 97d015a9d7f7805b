// "Jump to first unread" and "Jump to latest" (#jump-unread, #jump-latest, rendered by
// rooms/_jumps.html as plain links, so they work without JavaScript: to the unread divider or
// the room around the fully-read message, and to the end of the timeline). Here they show
// only when useful: "latest" while the timeline is scrolled up (or shows older history), and
// "first unread" until the divider has been on screen.
import { on } from "./bus.js";

// A room swap (panes.js) brings another pane: bindPane() runs again on "room-changed".
var timeline = null;
var latest = null;
var unread = null;

function scroller() {
  return timeline.scrollHeight > timeline.clientHeight ? timeline : document.scrollingElement;
}

function update() {
  if (timeline && latest) {
    var box = scroller();
    var away = box.scrollHeight - box.scrollTop - box.clientHeight > Math.max(200, box.clientHeight / 2);
    latest.hidden = !(away || timeline.dataset.newer);
  }
}

var queued = false;
function onScroll() {
  if (queued || !timeline) return;
  queued = true;
  requestAnimationFrame(function () { queued = false; update(); });
}

function bindPane() {
  timeline = document.getElementById("timeline");
  latest = document.getElementById("jump-latest");
  unread = document.getElementById("jump-unread");
  if (!timeline || !(latest || unread)) return;
  timeline.addEventListener("scroll", onScroll, { passive: true });
  var link = latest;
  if (link) {
    link.addEventListener("click", function (event) {
      // At the live end: scroll there. Showing older history: the link loads the newest page.
      if (timeline.dataset.newer || link.getAttribute("href").charAt(0) !== "#") return;
      event.preventDefault();
      var box = scroller();
      box.scrollTop = box.scrollHeight;
      link.hidden = true;
      var composer = document.querySelector("#composer textarea");
      if (composer) composer.focus({ preventScroll: true });
    });
  }
  var divider = document.getElementById("unread-divider");
  var jump = unread;
  if (jump && divider) {
    jump.addEventListener("click", function (event) {
      event.preventDefault();
      divider.scrollIntoView({ block: "center" });
      jump.hidden = true;
    });
    if (window.IntersectionObserver) {
      var seen = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) {
          jump.hidden = true;
          seen.disconnect();
        }
      });
      // Wait for the page's first scroll to the bottom before watching.
      requestAnimationFrame(function () { seen.observe(divider); });
    }
  }
  setTimeout(update, 0);
}

window.addEventListener("scroll", onScroll, { passive: true });
on("inserted", onScroll);
on("room-changed", bindPane);
bindPane();
