// Files from the composer: pick, drop or paste. Checked against the homeserver's limit
// before anything is sent, uploaded with a progress bar, shown as a local echo that the real
// event replaces (same transaction ID), with Retry on failure.
import { gettext, interpolate } from "./i18n.js";
import { scrollToBottom } from "./live.js";
import { newTxnId, makeEcho, markSent, markFailed } from "./composer.js";
import { on } from "./bus.js";

var form = document.getElementById("composer");
var timeline = document.getElementById("timeline");
var limit = form ? Number(form.dataset.uploadLimit || 0) : 0;
var csrf = ""; // read from the form at start

function size(bytes) {
  var units = ["bytes", "KB", "MB", "GB"];
  var i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
  return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
}

function upload(file) {
  var txn = newTxnId();
  var echo = makeEcho(txn, file.name + " (" + size(file.size) + ")");
  echo.classList.add("upload");
  var bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.className = "upload-progress";
  echo.appendChild(bar);
  timeline.appendChild(echo);
  scrollToBottom();
  if (limit && file.size > limit) {
    bar.remove();
    markFailed(txn, interpolate(gettext("This file is %(size)s; the homeserver accepts files up to %(limit)s."), { size: size(file.size), limit: size(limit) }), false);
    return;
  }
  send(file, txn, echo, bar);
}

function send(file, txn, echo, bar) {
  var xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.onprogress = function (event) {
    if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
  };
  function fail(message, canRetry) {
    markFailed(txn, message, canRetry, function () {
      bar.value = 0;
      send(file, txn, echo, bar);
    });
  }
  xhr.onload = function () {
    var reply = {};
    try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = {}; }
    if (xhr.status === 200 && reply.ok) {
      bar.value = 100;
      markSent(txn, reply.event_id);
    } else if (xhr.status === 401) {
      location.reload();
    } else {
      fail(reply.error || interpolate(gettext("The upload failed (HTTP %(status)s)."), { status: xhr.status }), reply.retry !== false);
    }
  };
  xhr.onerror = function () { fail(gettext("Could not reach the server."), true); };
  var data = new FormData();
  data.append("csrfmiddlewaretoken", csrf);
  data.append("txn_id", txn);
  data.append("file", file, file.name);
  xhr.send(data);
}

function uploadAll(files) {
  Array.prototype.forEach.call(files || [], upload);
}

function start() {
  var input = document.getElementById("composer-file");
  csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
  if (input) {
    input.addEventListener("change", function () {
      uploadAll(input.files);
      input.value = "";
    });
  }
  var room = document.getElementById("room") || document.body;
  room.addEventListener("dragover", function (event) {
    if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0) {
      event.preventDefault();
      room.classList.add("dropping");
    }
  });
  room.addEventListener("dragleave", function () { room.classList.remove("dropping"); });
  room.addEventListener("drop", function (event) {
    room.classList.remove("dropping");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      event.preventDefault();
      uploadAll(event.dataTransfer.files);
    }
  });
  form.querySelector("textarea").addEventListener("paste", function (event) {
    var files = event.clipboardData && event.clipboardData.files;
    if (files && files.length) {
      event.preventDefault();
      uploadAll(files);
    }
  });
}

if (form && timeline && window.FormData) start();
// A room swap (panes.js): the new room's composer (uploads under way finish where they began).
on("room-changed", function () {
  form = document.getElementById("composer");
  timeline = document.getElementById("timeline");
  limit = form ? Number(form.dataset.uploadLimit || 0) : 0;
  if (form && timeline && window.FormData) start();
});
