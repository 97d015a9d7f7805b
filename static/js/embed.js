// An embedded room tells the page framing it how many new messages arrived unseen and how
// tall it would like to be, by postMessage, to the origins the operator configured only
// (never "*": a page of another origin that frames us gets nothing). The embed's live
// updates, composer and history are live.js, composer.js and history.js, as on a room page.
var root = document.getElementById("room");
var timeline = document.getElementById("timeline");
var origins = ((root && root.dataset.parentOrigins) || "").split(/\s+/).filter(Boolean);
var unread = 0;
var last = "";
var inView = true;

function atBottom() {
  var box = timeline.scrollHeight > timeline.clientHeight ? timeline : document.scrollingElement;
  return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
}

function seen() {
  return !document.hidden && inView && atBottom();
}

function wishedHeight() {
  var header = root.querySelector(".room-header");
  var composer = document.getElementById("composer");
  var tiles = 0;
  timeline.querySelectorAll(".event").forEach(function (n) { tiles += n.offsetHeight; });
  return Math.ceil((header ? header.offsetHeight : 0) + tiles + (composer ? composer.offsetHeight : 0) + 16);
}

function post() {
  var message = {
    type: "webclient.embed",
    room_id: root.dataset.roomId,
    unread: unread,
    height: wishedHeight(),
  };
  var key = message.unread + "/" + message.height;
  if (key === last) return;
  last = key;
  origins.forEach(function (origin) {
    try {
      window.parent.postMessage(message, origin);
    } catch (e) {
      /* a malformed origin in the settings: skip it */
    }
  });
}

function clearIfSeen() {
  if (unread && seen()) {
    unread = 0;
    post();
  }
}

function start() {
  // Scrolled out of the intranet page's view counts as unseen too (an iframe's implicit
  // intersection root is the top-level viewport).
  if ("IntersectionObserver" in window) {
    new IntersectionObserver(function (entries) {
      inView = entries[entries.length - 1].isIntersecting;
      clearIfSeen();
    }).observe(root);
  }

  new MutationObserver(function (records) {
    var fresh = 0;
    records.forEach(function (record) {
      record.addedNodes.forEach(function (node) {
        if (node.nodeType !== 1) return;
        var tiles = node.matches(".event") ? [node] : node.querySelectorAll(".event");
        Array.prototype.forEach.call(tiles, function (tile) {
          // New live messages from others, not history loaded while scrolling up.
          if (!tile.classList.contains("mine") && !tile.classList.contains("pending") &&
              tile.closest(".chunk.live")) fresh += 1;
        });
      });
    });
    if (fresh && !seen()) unread += fresh;
    post();
  }).observe(timeline, { childList: true, subtree: true });

  document.addEventListener("visibilitychange", clearIfSeen);
  timeline.addEventListener("scroll", clearIfSeen, { passive: true });
  window.addEventListener("scroll", clearIfSeen, { passive: true });
  window.addEventListener("resize", post);
  post();
}

if (root && timeline && window.parent !== window && origins.length) start();
