// Copy buttons: <button data-copy-target="ID"> copies the value of the readonly field #ID.
// The buttons start hidden: without this script the field is still there to select and copy.

import { gettext } from "./i18n.js";
function fallbackCopy(field) {
  field.focus();
  field.select();
  try {
    return document.execCommand("copy");
  } catch (e) {
    return false;
  }
}

function flash(button, text) {
  var label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = text;
  window.clearTimeout(button._copyTimer);
  button._copyTimer = window.setTimeout(function () {
    button.textContent = label;
  }, 2000);
}

var buttons = document.querySelectorAll("button[data-copy-target]");
Array.prototype.forEach.call(buttons, function (button) {
  var field = document.getElementById(button.dataset.copyTarget);
  if (!field) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var value = field.value;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(
        function () {
          flash(button, gettext("Copied"));
        },
        function () {
          flash(button, fallbackCopy(field) ? gettext("Copied") : gettext("Press Ctrl+C"));
        }
      );
    } else {
      flash(button, fallbackCopy(field) ? gettext("Copied") : gettext("Press Ctrl+C"));
    }
  });
});

// A click into a readonly value selects all of it, ready to copy by hand.
var fields = document.querySelectorAll(".copy-field input[readonly], .copy-field textarea[readonly]");
Array.prototype.forEach.call(fields, function (field) {
  field.addEventListener("focus", function () {
    field.select();
  });
});
