// Colours of formatted messages (`data-mx-color`, `data-mx-bg-color`, which the sanitiser
// keeps only as #rrggbb). The stylesheet shows them with typed attr() where the browser
// can (Chromium from 133), with no script at all. Elsewhere this module copies each value
// into the element's style through the CSSOM: the page's CSP (style-src 'self') forbids
// style attributes in served HTML, not properties set from a script of ours.
var COLOUR = /^#[0-9a-fA-F]{6}$/;
var SELECTOR = "[data-mx-color], [data-mx-bg-color]";

export var cssCanShowColours =
  typeof CSS !== "undefined" && CSS.supports("color", "attr(data-mx-color type(<color>), inherit)");

function paintOne(el) {
  var fg = el.getAttribute("data-mx-color");
  var bg = el.getAttribute("data-mx-bg-color");
  if (fg && COLOUR.test(fg)) el.style.setProperty("color", fg);
  if (bg && COLOUR.test(bg)) el.style.setProperty("background-color", bg);
}

export function paint(root) {
  if (root.nodeType !== 1 && root.nodeType !== 9 && root.nodeType !== 11) return;
  if (root.matches && root.matches(SELECTOR)) paintOne(root);
  root.querySelectorAll(SELECTOR).forEach(paintOne);
}

if (!cssCanShowColours) {
  paint(document);
  // Tiles arrive live, from history and on resync: colour whatever is added.
  new MutationObserver(function (records) {
    records.forEach(function (record) { record.addedNodes.forEach(paint); });
  }).observe(document.documentElement, { childList: true, subtree: true });
}
