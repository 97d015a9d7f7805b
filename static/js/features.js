// Code for content a page may not have, loaded the first time that content is on the page:
// at load, or in tiles that arrive live, with history or after a room swap. A room with no
// coloured text, animated images, polls or link previews never downloads their modules (the
// room page stays under its weight budget). Polls and previews act over the socket, so they
// load only on pages that run live.js. Each import is a literal, so collectstatic rewrites it
// to the hashed name (webclient/ops/staticfiles.py) and every module runs once.
var cssShowsColours =
  typeof CSS !== "undefined" && CSS.supports("color", "attr(data-mx-color type(<color>), inherit)");
var live = !!document.querySelector('script[src*="/js/live."]');

function has(selector) {
  return function () { return document.querySelector(selector); };
}

var waiting = [
  cssShowsColours ? null : [has("[data-mx-color], [data-mx-bg-color]"), function () { return import("./colours.js"); }],
  [has("img[data-animated-src]"), function () { return import("./animated.js"); }],
  live ? [has(".poll"), function () { return import("./polls.js"); }] : null,
  live ? [function () {
    return document.querySelector('#room-features[data-url-previews="on"]') &&
      document.querySelector('#timeline article.event-message a[href^="http"]');
  }, function () { return import("./previews.js"); }] : null,
].filter(Boolean);

var queued = false;
var observer = new MutationObserver(function () {
  if (queued) return;
  queued = true;
  requestAnimationFrame(function () { queued = false; scan(); });
});

function scan() {
  waiting = waiting.filter(function (feature) {
    if (!feature[0]()) return true;
    feature[1]();
    return false;
  });
  if (!waiting.length) observer.disconnect();
}

scan();
if (waiting.length) observer.observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-url-previews"] });
