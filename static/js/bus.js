// The page's event bus: features hear about each other through it instead of through
// handler slots. Any number of listeners per type; on() returns the function that removes
// the listener. emit() calls the listeners in the order they were added (an exception goes
// to the emitter, as a direct call would) and returns how many there were, so a sender can
// fall back to something else when nobody listens.
//
// Types in use: "typing", "receipts", "unread", "notify", "sent", "send_failed" (the
// socket's frames, as they came); "gap" (a chunk after a limited sync) and "inserted" (tiles
// were added to the timeline).
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
