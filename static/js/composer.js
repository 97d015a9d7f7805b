// The composer with JavaScript: Enter sends (Shift+Enter is a new line), a local echo shows
// at once and is replaced by the real event; a failed send stays, marked, with Retry.
// Exports newTxnId, makeEcho, markSent and markFailed for upload.js. After a room swap
// ("room-changed", panes.js) it works on the new room's composer.
import { gettext, interpolate } from "./i18n.js";
import { send, resend, action, scrollToBottom } from "./live.js";
import { on, emit } from "./bus.js";

var form = document.getElementById("composer");
var timeline = document.getElementById("timeline");
var textarea = form && form.querySelector("textarea[name=body]");
var sentEarlier = document.getElementById("send-error");

export function newTxnId() {
  var bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "wc" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
}

function echoFor(txn) {
  return timeline.querySelector('[data-txn-id="' + CSS.escape(txn) + '"]');
}

export function makeEcho(txn, body) {
  var article = document.createElement("article");
  article.className = "event event-message pending";
  article.dataset.txnId = txn;
  article.dataset.sender = form.dataset.userId || "";
  var meta = document.createElement("header");
  meta.className = "event-meta";
  var sender = document.createElement("span");
  sender.className = "sender";
  sender.textContent = form.dataset.userName || gettext("You");
  var state = document.createElement("span");
  state.className = "send-state";
  state.textContent = gettext("Sending…");
  meta.append(sender, " ", state);
  var content = document.createElement("div");
  content.className = "event-body";
  content.textContent = body; // shown as typed; the server's rendering replaces it
  article.append(meta, content);
  return article;
}

var replyField = form && form.querySelector("[name=reply_to]");
var threadField = form && form.querySelector("[name=thread_id]");
var banner = document.getElementById("reply-banner");
var editing = null; // event ID of the own message being edited
var commands = document.getElementById("commands"); // the help list (rooms/_commands.html)
var running = {}; // txn_id -> text of a command that acts, sent without an echo

// "/name args" -> the command's entry in the help list, null for a message (no slash, or
// "//" for a literal one), or undefined for an unknown command.
function commandFor(body) {
  if (body.charAt(0) !== "/" || body.charAt(1) === "/") return null;
  var name = body.slice(1).split(/[ \n]/)[0].toLowerCase();
  if (!commands) return { dataset: { acts: "true" } }; // no list here: the server decides
  var found;
  commands.querySelectorAll("[data-names]").forEach(function (entry) {
    if (entry.dataset.names.split(" ").indexOf(name) >= 0) found = entry;
  });
  return found;
}

export function note(text, kind) {
  var old = form.querySelector(".composer-note");
  if (old) old.remove();
  if (!text) return;
  var p = document.createElement("p");
  p.className = "composer-note " + (kind || "info");
  p.setAttribute("role", kind === "error" ? "alert" : "status");
  p.textContent = text;
  form.insertBefore(p, form.firstChild);
  setTimeout(function () { p.remove(); }, 10000);
}

function clearMode() {
  editing = null;
  if (replyField) replyField.value = "";
  if (banner) banner.hidden = true;
  form.classList.remove("editing");
}

function setBanner(label, name, preview) {
  if (!banner) return;
  banner.hidden = false;
  banner.querySelector("span").firstChild.textContent = label + " ";
  document.getElementById("reply-name").textContent = name;
  document.getElementById("reply-preview").textContent = preview;
}

function submit(event) {
  if (event) event.preventDefault();
  var body = textarea.value;
  if (!body.trim()) return;
  var txn = newTxnId();
  var extra = {};
  var command = editing ? null : commandFor(body);
  if (command === undefined) {
    note(interpolate(gettext("Unknown command %(command)s. Type /help for the list, or start the message with // to send it with one leading slash."), { command: body.split(/[ \n]/)[0] }), "error");
    return;
  }
  if (command && command.dataset.command === "help") {
    commands.open = true;
    commands.scrollIntoView({ block: "nearest" });
    textarea.value = "";
    emit("composer_cleared");
    return;
  }
  if (command && command.dataset.acts) {
    // A command that acts (invite, join, op…): no message to echo; the server says how it went.
    running[txn] = body;
    note(interpolate(gettext("Running %(command)s…"), { command: body.split(/[ \n]/)[0] }));
    textarea.value = "";
    emit("composer_cleared");
    send(txn, body, {});
    return;
  }
  if (editing) {
    extra = { type: "edit", event_id: editing };
  } else {
    if (replyField && replyField.value) extra.reply_to = replyField.value;
    if (threadField && threadField.value) extra.thread_id = threadField.value;
    timeline.appendChild(makeEcho(txn, body));
    scrollToBottom();
  }
  var wasEdit = !!editing;
  textarea.value = "";
  clearMode();
  emit("composer_cleared", { edited: wasEdit });
  if (sentEarlier) { sentEarlier.remove(); sentEarlier = null; }
  send(txn, body, extra);
  // Sent with the button or from a menu: the next message is typed where this one was.
  textarea.focus();
}

function tileOf(element) { return element.closest("[data-event-id]"); }

function startReply(tile) {
  clearMode();
  if (!replyField) return;
  replyField.value = tile.dataset.eventId;
  var sender = tile.querySelector(".sender");
  var body = tile.querySelector(".event-body");
  setBanner(gettext("Replying to"), sender ? sender.textContent : "", body ? body.textContent.trim().slice(0, 120) : "");
  textarea.focus();
}

function startEdit(tile, link) {
  clearMode();
  fetch(link.href, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
    .then(function (data) {
      editing = tile.dataset.eventId;
      form.classList.add("editing");
      textarea.value = data.body;
      setBanner(gettext("Editing"), gettext("your message"), "");
      textarea.focus();
    })
    .catch(function () { location.assign(link.href); });
}

export function markSent(txn, eventId) {
  var echo = echoFor(txn);
  if (!echo) return;
  if (eventId && timeline.querySelector('[data-event-id="' + CSS.escape(eventId) + '"]')) {
    // Its tile came first (a resync fetched it): the echo goes.
    echo.remove();
    return;
  }
  echo.classList.remove("failed");
  echo.classList.add("sent");
  var state = echo.querySelector(".send-state");
  if (state) state.textContent = gettext("Sent");
  if (eventId) echo.dataset.pendingEventId = eventId;
}

// retryFn: how to try again (an upload re-uploads); by default the text is sent again.
export function markFailed(txn, error, canRetry, retryFn) {
  var echo = echoFor(txn);
  if (!echo) {
    if (running[txn] !== undefined) {
      // A command that acts: give its text back to fix it.
      if (!textarea.value) textarea.value = running[txn];
      delete running[txn];
    }
    // An edit or a command has no echo of its own: say it here.
    var note = document.createElement("p");
    note.className = "error";
    note.setAttribute("role", "alert");
    note.textContent = interpolate(gettext("Not sent: %(error)s"), { error: error });
    form.insertBefore(note, form.firstChild);
    setTimeout(function () { note.remove(); }, 10000);
    return;
  }
  var old = echo.querySelectorAll(".send-state button");
  old.forEach(function (b) { b.remove(); });
  echo.classList.add("failed");
  var state = echo.querySelector(".send-state");
  state.textContent = interpolate(gettext("Not sent: %(error)s"), { error: error }) + " ";
  state.setAttribute("role", "alert");
  var body = echo.querySelector(".event-body").textContent;
  if (canRetry) {
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = gettext("Retry");
    retry.addEventListener("click", function () {
      echo.classList.remove("failed");
      state.textContent = gettext("Sending…");
      state.removeAttribute("role");
      if (retryFn) retryFn();
      else resend(txn, body); // the same transaction ID: never posted twice
    });
    state.appendChild(retry);
  }
  var discard = document.createElement("button");
  discard.type = "button";
  discard.className = "discard";
  discard.textContent = gettext("Delete");
  discard.addEventListener("click", function () {
    if (!textarea.value && !echo.classList.contains("upload")) textarea.value = body;
    echo.remove();
  });
  state.appendChild(discard);
}

function bind() {
  timeline.addEventListener("click", function (event) {
    var link = event.target.closest("a, .reply-quote, span[data-mx-spoiler]");
    if (!link) return;
    var tile = tileOf(link);
    if (link.matches("span[data-mx-spoiler]")) {
      link.classList.toggle("revealed");
      return;
    }
    if (link.matches(".reply-quote")) {
      var target = timeline.querySelector('[data-event-id="' + CSS.escape(link.dataset.replyTo) + '"]');
      if (target) target.scrollIntoView({ block: "center" });
      return;
    }
    if (!tile) return;
    var menu = link.closest(".actions-menu:popover-open");
    if (link.matches(".action-react-pick")) {
      // The picker loads when first wanted; without it, the picker page.
      event.preventDefault();
      var href = link.href;
      import("./emoji-picker.js")
        .then(function (picker) { picker.open({ mode: "react", tile: tile, href: href }); })
        .catch(function () { location.assign(href); });
    } else if (link.matches(".reaction, .action-react")) {
      event.preventDefault();
      if (!action({ type: "react", event_id: tile.dataset.eventId, key: link.dataset.key })) location.assign(link.href);
    } else if (link.matches(".action-reply")) {
      event.preventDefault();
      startReply(tile);
    } else if (link.matches(".action-edit")) {
      event.preventDefault();
      startEdit(tile, link);
    } else if (link.matches(".action-delete")) {
      event.preventDefault();
      // The dialog module loads when first wanted (the room page stays light).
      import("./confirm.js").then(function (m) { return m.ask(gettext("Delete this message?"), gettext("Delete"), textarea); }).then(function (ok) {
        if (ok && !action({ type: "redact", event_id: tile.dataset.eventId })) location.assign(link.href);
      });
    }
    if (menu) menu.hidePopover();
  });

  var cancel = document.getElementById("reply-cancel");
  if (cancel) cancel.addEventListener("click", function (event) {
    event.preventDefault();
    if (editing) textarea.value = "";
    clearMode();
  });

  var emojiButton = document.getElementById("composer-emoji");
  if (emojiButton) {
    emojiButton.hidden = false;
    emojiButton.addEventListener("click", function () {
      import("./emoji-picker.js").then(function (picker) { picker.toggle(); });
    });
  }

  form.addEventListener("submit", submit);
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
    else if (event.key === "Escape" && (editing || (replyField && replyField.value))) {
      if (editing) textarea.value = "";
      clearMode();
    } else if (event.key === "ArrowUp" && !textarea.value) {
      // Up in an empty composer edits your last message, as in Element.
      var own = timeline.querySelectorAll(".event.mine:not(.pending) .action-edit");
      if (own.length) {
        event.preventDefault();
        var link = own[own.length - 1];
        startEdit(tileOf(link), link);
      }
    }
  });
}

function start() {
  bind();
  on("room-changed", function () {
    form = document.getElementById("composer");
    timeline = document.getElementById("timeline");
    textarea = form && form.querySelector("textarea[name=body]");
    sentEarlier = document.getElementById("send-error");
    replyField = form && form.querySelector("[name=reply_to]");
    threadField = form && form.querySelector("[name=thread_id]");
    banner = document.getElementById("reply-banner");
    commands = document.getElementById("commands");
    editing = null;
    if (form && timeline) bind();
  });
  on("sent", function (message) {
    if (running[message.txn_id] !== undefined) {
      delete running[message.txn_id];
      note("");
    }
    markSent(message.txn_id, message.event_id);
  });
  on("command_done", function (message) {
    delete running[message.txn_id];
    if (message.help && commands) commands.open = true;
    note(message.message || "");
    // A room to open (/join): beside the room list it swaps in, else the page loads.
    if (message.go && !emit("navigate", message.go)) location.assign(message.go);
  });
  on("send_failed", function (message) { markFailed(message.txn_id, message.error, message.retry); });
}

if (form && timeline) start();
