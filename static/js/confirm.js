// Destructive actions ask first (issue 12). A form with data-confirm="question" (or a submit
// button with its own data-confirm) opens a <dialog> before it is sent; the dialog's confirm
// button is named after the action and styled as danger. Without script, such a form carries a
// required "I am sure" checkbox (.confirm-check) that asks instead; this module hides it and
// ticks it once the dialog is answered. ask() serves actions started by script (deleting a
// message from its menu). Focus goes back to the control that asked when the dialog closes.
import { gettext } from "./i18n.js";

var dialog, text, yes, resolver, returnTo;

function build() {
  dialog = document.createElement("dialog");
  dialog.className = "confirm-dialog";
  dialog.id = "confirm-dialog";
  dialog.setAttribute("aria-labelledby", "confirm-dialog-text");
  text = document.createElement("p");
  text.id = "confirm-dialog-text";
  var buttons = document.createElement("div");
  buttons.className = "form-buttons";
  var no = document.createElement("button");
  no.type = "button";
  no.className = "secondary";
  no.id = "confirm-dialog-cancel";
  no.textContent = gettext("Cancel");
  yes = document.createElement("button");
  yes.type = "button";
  yes.className = "danger";
  yes.id = "confirm-dialog-ok";
  no.addEventListener("click", function () { dialog.close("no"); });
  yes.addEventListener("click", function () { dialog.close("yes"); });
  dialog.addEventListener("close", function () {
    var done = resolver;
    resolver = null;
    if (returnTo && returnTo.isConnected) returnTo.focus();
    if (done) done(dialog.returnValue === "yes");
  });
  buttons.append(no, yes);
  dialog.append(text, buttons);
  document.body.append(dialog);
}

// Resolves true when the viewer confirms; `label` names the confirm button, `from` gets focus
// back when the dialog closes.
export function ask(question, label, from) {
  if (!dialog) build();
  if (resolver) resolver(false);
  text.textContent = question;
  yes.textContent = label || gettext("Yes");
  returnTo = from || document.activeElement;
  dialog.returnValue = "";
  return new Promise(function (resolve) {
    resolver = resolve;
    dialog.showModal();
    // The safe choice has focus: Enter does not destroy anything by accident.
    document.getElementById("confirm-dialog-cancel").focus();
  });
}

// With script the dialog asks, so the no-script checkbox is hidden (webclient.css) on every
// form, those a room swap brings in later included.
document.documentElement.classList.add("confirm-dialogs");

function confirmThen(form, submitter, question) {
  var label = submitter ? submitter.textContent.trim() : "";
  ask(question, label, submitter || form).then(function (ok) {
    if (!ok) return;
    // The server asks again on a page of its own unless the form says confirm=yes: tick
    // the form's checkbox, or add the answer for a form without one.
    var box = form.querySelector(".confirm-check input");
    var answer = null;
    if (box) {
      box.checked = true;
    } else {
      answer = document.createElement("input");
      answer.type = "hidden";
      answer.name = "confirm";
      answer.value = "yes";
      form.append(answer);
    }
    form.dataset.confirmed = "1";
    try {
      form.requestSubmit(submitter || undefined);
    } finally {
      delete form.dataset.confirmed;
      if (answer) answer.remove();
    }
  });
}

// A click on a submit button (Enter in a field clicks the default one) asks before the
// browser checks the form, so the hidden required checkbox does not stop it.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button, input[type=submit]");
  if (!button || !button.form || button.type !== "submit") return;
  var form = button.form;
  var question = button.dataset.confirm || form.dataset.confirm;
  if (!question || form.dataset.confirmed) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  confirmThen(form, button, question);
}, true);

// Any other way of sending such a form asks too.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var submitter = event.submitter;
  var question = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
  if (!question || form.dataset.confirmed) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  confirmThen(form, submitter, question);
}, true);
