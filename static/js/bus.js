// The page's event bus: features hear about each other through it instead of through
// handler slots. Any number of listeners per type; on() returns the function that removes
// the listener. emit() calls the listeners in the order they were added (an exception goes
// to the emitter, as a direct call would) and returns how many there were, so a sender can
// fall back to something else when nobody listens.
//
// Types in use: "typing", "receipts", "unread", "notify", "sent", "send_failed" (the
// socket's frames, as they came); "gap" (a chunk after a limited sync) and "inserted" (tiles
// were added to the timeline; `{following: true}` when a live push added them at the end
// the page follows, which it scrolls to next); "rooms-updated" (the room list changed);
// "navigate" (a URL: open that room, swapping it in beside the room list when the page can:
// panes.js; when nobody listens, load it), "room-leaving" and "room-changed" (the old and
// the new #room of a swap: modules bound to the room's pane bind again), "following" (the
// socket follows the swapped-in room).
var listeners = {};

export function on(type, fn) {
  var list = listeners[type] || (listeners[type] = []);
  list.push(fn);
  return function off() {
    var i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  };
}

export function emit(type, data) {
  var list = (listeners[type] || []).slice();
  list.forEach(function (fn) { fn(data); });
  return list.length;
}

// Whether anyone listens to `type` (to choose a way before emitting).
export function listening(type) {
  return (listeners[type] || []).length > 0;
}
