// The one websocket of a live page (room list, room, thread, embed, kiosk screen).
//
// connect(root, options) opens root.dataset.wsUrl with options.params (room and ticket, or
// the kiosk token) plus the catch-up position (epoch, pos), and:
// - sets root.dataset.live to "true" while a socket is open and "false" once it closed;
// - reloads the page when the server's "hello" names a build other than root.dataset.build
//   (an upgraded server: a long-open embed or screen takes the new pages and scripts);
// - stops reconnecting at a terminal frame ("logout", "revoked", "reload"), which still goes
//   to onMessage: the page decides where to go;
// - otherwise reconnects after a close, with exponential backoff from 1 s to 30 s and
//   jitter (a room full of screens does not reconnect in step after a restart); the backoff
//   starts again from 1 s only after a connection that stayed up for 10 s, so a server that
//   accepts and then drops every socket is not asked again every second.
//
// options: params, epoch and pos (as the page rendered them), onMessage(frame) for every
// frame but "hello", onOpen() after each connect, onDown() when the socket closed and will be
// tried again (the offline display).
// Returns { send(object) -> whether it went out, seen(epoch, pos) to record the position of
// a frame or fetched page (the next connect asks for what came after it), follow(root,
// params, epoch, pos) when the page swapped its room (panes.js: the server is told to
// follow the new room, catching up from where its pane was rendered; its "following" frame
// marks the new root live; a socket down meanwhile connects to the new room), finish() to
// stop reconnecting (the page is going away) }.

var FIRST = 1000;
var MOST = 30000;
var STEADY = 10000; // a connection that lasted this long resets the backoff
var TERMINAL = { logout: true, revoked: true, reload: true };

export function connect(root, options) {
  var epoch = options.epoch || "";
  var pos = Number(options.pos || "-1");
  var socket = null;
  var backoff = FIRST;
  var openedAt = 0;
  var finished = false;

  function open() {
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var query = new URLSearchParams(options.params);
    query.set("epoch", epoch);
    query.set("pos", String(pos));
    socket = new WebSocket(scheme + "//" + location.host + root.dataset.wsUrl + "?" + query);
    socket.onopen = function () {
      openedAt = Date.now();
      if (options.onOpen) options.onOpen();
      root.dataset.live = "true";
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "hello") {
        if (root.dataset.build && message.build && message.build !== root.dataset.build) {
          finished = true;
          location.reload();
        }
        return;
      }
      if (TERMINAL[message.type]) finished = true;
      if (message.type === "following" && message.room_id === options.params.room) root.dataset.live = "true";
      options.onMessage(message);
    };
    socket.onclose = function () {
      root.dataset.live = "false";
      if (finished) return;
      if (options.onDown) options.onDown();
      if (openedAt && Date.now() - openedAt > STEADY) backoff = FIRST;
      openedAt = 0;
      setTimeout(open, backoff * (0.75 + Math.random() / 2));
      backoff = Math.min(backoff * 2, MOST);
    };
  }

  open();
  return {
    send: function (message) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(message));
      return true;
    },
    // Within an epoch the position only rises: frames of several rooms are replayed one
    // room after another, and a fetched page may be newer than a frame still on its way.
    seen: function (newEpoch, newPos) {
      newPos = Number(newPos);
      if (newEpoch !== epoch) pos = newPos;
      else if (newPos > pos) pos = newPos;
      epoch = newEpoch;
    },
    follow: function (newRoot, params, newEpoch, newPos) {
      root = newRoot;
      options.params = params;
      epoch = newEpoch || "";
      pos = Number(newPos || "-1");
      root.dataset.live = "false";
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "follow", room_id: params.room, epoch: epoch, pos: pos }));
      }
    },
    finish: function () { finished = true; },
  };
}
