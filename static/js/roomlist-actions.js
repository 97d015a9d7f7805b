// Room-list entry actions with JavaScript: "Mark as unread" / "Mark as read" go over the
// page's socket (live.js) instead of the confirmation page the link opens without it. The
// entry changes when the sync loop sees the new `m.marked_unread` (every open tab at once).
import { action } from "./live.js";

var list = document.getElementById("rooms");

if (list) {
  list.addEventListener("click", function (event) {
    var link = event.target.closest("a.unread-toggle");
    if (!link) return;
    var sent = action({ type: "mark_unread", room_id: link.dataset.unreadRoom, unread: link.dataset.unread === "1" });
    if (!sent) return; // offline: the confirmation page does it
    event.preventDefault();
    link.setAttribute("aria-busy", "true");
  });
}
