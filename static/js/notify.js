// Browser notifications, opt-in: for messages the homeserver's push rules count as
// notifying (mentions and DMs by default), when this page is hidden or shows another room.
// Clicking one opens the room at that event. Several open tabs show it once.
import { gettext } from "./i18n.js";
import { on } from "./bus.js";

var button = document.getElementById("notify-toggle");
var root = document.getElementById("room") || document.getElementById("room-list");
var roomsBase = (root && root.dataset.roomsBase) || "/rooms/";

function enabled() {
  return Notification.permission === "granted" && localStorage.getItem("webclient.notify") !== "off";
}
function label() {
  if (!button) return;
  button.hidden = Notification.permission === "denied";
  button.textContent = enabled() ? gettext("Notifications on") : gettext("Turn on notifications");
  button.setAttribute("aria-pressed", enabled() ? "true" : "false");
}

// One tab claims each event, so several open tabs do not all notify.
function claim(eventId) {
  var key = "webclient.notified." + eventId;
  if (localStorage.getItem(key)) return false;
  localStorage.setItem(key, String(Date.now()));
  setTimeout(function () { localStorage.removeItem(key); }, 60000);
  return true;
}

function notify(message) {
  if (!enabled()) return;
  var here = root && root.dataset.roomId === message.room_id;
  if (here && document.visibilityState === "visible") return;
  if (!claim(message.event_id)) return;
  var title = message.highlight ? message.sender + " mentioned you in " + message.room_name : message.room_name;
  var note = new Notification(title, { body: message.sender + ": " + message.preview, tag: message.room_id });
  note.onclick = function () {
    window.focus();
    location.assign(roomsBase + encodeURIComponent(message.room_id) + "/event/" + encodeURIComponent(message.event_id) + "/");
  };
}

function start() {
  if (button) {
    button.addEventListener("click", function () {
      if (enabled()) {
        localStorage.setItem("webclient.notify", "off");
        label();
        return;
      }
      localStorage.removeItem("webclient.notify");
      Notification.requestPermission().then(label);
    });
    label();
  }
  on("notify", notify);
  // The page may show another room now (panes.js swapped it).
  on("room-changed", function (fresh) { root = fresh; });
}

// Live pages only (the room list and rooms): live.js brings the "notify" frames.
if (root && "Notification" in window) start();
