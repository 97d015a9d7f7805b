// The composer with JavaScript: Enter sends (Shift+Enter is a new line), a local echo shows
// at once and is replaced by the real event; a failed send stays, marked, with Retry.
(function () {
  "use strict";
  var form = document.getElementById("composer");
  var timeline = document.getElementById("timeline");
  var api = window.webclient;
  if (!form || !timeline || !api || !api.send) return;
  var textarea = form.querySelector("textarea[name=body]");
  var sentEarlier = document.getElementById("send-error");

  function newTxnId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "wc" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function echoFor(txn) {
    return timeline.querySelector('[data-txn-id="' + CSS.escape(txn) + '"]');
  }

  function makeEcho(txn, body) {
    var article = document.createElement("article");
    article.className = "event event-message pending";
    article.dataset.txnId = txn;
    article.dataset.sender = form.dataset.userId || "";
    var meta = document.createElement("header");
    meta.className = "event-meta";
    var sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = form.dataset.userName || "You";
    var state = document.createElement("span");
    state.className = "send-state";
    state.textContent = "Sending…";
    meta.append(sender, " ", state);
    var content = document.createElement("div");
    content.className = "event-body";
    content.textContent = body; // shown as typed; the server's rendering replaces it
    article.append(meta, content);
    return article;
  }

  function submit(event) {
    if (event) event.preventDefault();
    var body = textarea.value;
    if (!body.trim()) return;
    var txn = newTxnId();
    timeline.appendChild(makeEcho(txn, body));
    api.scrollToBottom();
    textarea.value = "";
    if (sentEarlier) { sentEarlier.remove(); sentEarlier = null; }
    api.send(txn, body);
  }

  api.onSent = function (txn, eventId) {
    var echo = echoFor(txn);
    if (!echo) return;
    echo.classList.remove("failed");
    echo.classList.add("sent");
    var state = echo.querySelector(".send-state");
    if (state) state.textContent = "Sent";
    if (eventId) echo.dataset.pendingEventId = eventId;
  };

  api.makeEcho = makeEcho;
  api.newTxnId = newTxnId;

  // retryFn: how to try again (an upload re-uploads); by default the text is sent again.
  api.onSendFailed = function (txn, error, canRetry, retryFn) {
    var echo = echoFor(txn);
    if (!echo) return;
    var old = echo.querySelectorAll(".send-state button");
    old.forEach(function (b) { b.remove(); });
    echo.classList.add("failed");
    var state = echo.querySelector(".send-state");
    state.textContent = "Not sent: " + error + " ";
    state.setAttribute("role", "alert");
    var body = echo.querySelector(".event-body").textContent;
    if (canRetry) {
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "retry";
      retry.textContent = "Retry";
      retry.addEventListener("click", function () {
        echo.classList.remove("failed");
        state.textContent = "Sending…";
        state.removeAttribute("role");
        if (retryFn) retryFn();
        else api.send(txn, body); // the same transaction ID: never posted twice
      });
      state.appendChild(retry);
    }
    var discard = document.createElement("button");
    discard.type = "button";
    discard.className = "discard";
    discard.textContent = "Delete";
    discard.addEventListener("click", function () {
      if (!textarea.value && !echo.classList.contains("upload")) textarea.value = body;
      echo.remove();
    });
    state.appendChild(discard);
  };

  form.addEventListener("submit", submit);
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
  });
})();
