"""Destructive actions ask first, also without script and also when the browser does not.

A destructive form carries a required "I am sure" checkbox (`_confirm_check.html`, value
`yes`); with script a dialog asks instead and ticks it (`static/js/confirm.js`). A browser
that sends such a form without it (no script and no form validation, an old bookmark, a
button without its own checkbox) is asked on a page of its own: the view calls
`require_confirmation`, which raises `NeedsConfirmation`, and the one error handler
(`web.errors.respond`) renders `confirm.html`, a form that sends the same fields again with
`confirm=yes`. Nothing is changed until then.
"""

from __future__ import annotations

from django.http import HttpRequest

CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "yes"


class NeedsConfirmation(Exception):
    """A destructive request that was not confirmed: ask `question`; `label` names the
    button that goes ahead."""

    def __init__(self, question: str, label: str):
        super().__init__(question)
        self.question = str(question)
        self.label = str(label)


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get(CONFIRM_FIELD) == CONFIRM_VALUE


def require_confirmation(request: HttpRequest, question: str, label: str) -> None:
    """Go on only when the form said "I am sure"; else ask on a page (nothing changes)."""
    if not confirmed(request):
        raise NeedsConfirmation(question, label)


def resent_fields(request: HttpRequest) -> list[tuple[str, str]]:
    """The form's fields to send again from the confirmation page (not its CSRF token,
    which the page brings, nor an earlier answer)."""
    skip = {"csrfmiddlewaretoken", CONFIRM_FIELD}
    return [
        (name, value)
        for name, values in request.POST.lists()
        if name not in skip
        for value in values
    ]
