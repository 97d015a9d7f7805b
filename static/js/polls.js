// Polls (MSC3381): choosing an answer votes (or changes the vote), "End poll" ends a poll
// one started, both over the socket; without it (or without script) the links open a small
// page that asks (rooms/composing.py). The tile comes back re-rendered with the new count.
import { gettext } from "./i18n.js";
import { action } from "./live.js";
import { on } from "./bus.js";

var timeline = document.getElementById("timeline");

function tileOf(node) { return node.closest("article.event[data-event-id]"); }

function bind() {
  if (!timeline) return;
  timeline.addEventListener("click", function (event) {
    var link = event.target.closest("a.poll-vote, a.poll-end-link");
    if (!link) return;
    var tile = tileOf(link);
    if (!tile) return;
    event.preventDefault();
    if (link.matches(".poll-vote")) {
      var answer = link.closest(".poll-answer");
      var poll = link.closest(".poll");
      if (!action({ type: "vote", event_id: tile.dataset.eventId, answer: link.dataset.answer })) {
        location.assign(link.href);
        return;
      }
      // At once, until the re-rendered tile comes back: a single choice moves the mark.
      if (poll && poll.dataset.max === "1") {
        poll.querySelectorAll(".poll-answer.mine").forEach(function (a) { a.classList.remove("mine"); });
        answer.classList.add("mine");
      } else if (answer) {
        answer.classList.toggle("mine");
      }
      answer.classList.add("sending");
    } else {
      import("./confirm.js")
        .then(function (m) { return m.ask(gettext("End this poll? Everyone will see the final result, and nobody can vote any more."), gettext("End the poll"), link); })
        .then(function (ok) {
          if (ok && !action({ type: "end_poll", event_id: tile.dataset.eventId })) location.assign(link.href);
        });
    }
  });
}

bind();
// A room swap (panes.js): the new room's timeline.
on("room-changed", function () {
  timeline = document.getElementById("timeline");
  bind();
});
