"""Matrix failures as typed exceptions with a sentence a person can act on.

Every place that talks to a homeserver (`api.HomeserverApi.request`, and `nioclient.check`
for what nio sends) turns what went wrong (an error response, a refused connection, a
timeout, a page that is not Matrix at all) into a `MatrixError`, so views and the websocket
show the same words for the same problem. Kinds that callers act on have their own class
(`RateLimited`, `NotFound`, `Forbidden`).

A rejected access token is different: `UnknownToken` is *not* a `MatrixError`, so a view
that shows a `MatrixError` as a form error cannot swallow it by accident. It travels up to
the one place that ends the login (`webclient.web.errors`), or the sync loop's handler.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


@dataclass
class MatrixError(Exception):
    """A homeserver said no, or could not be asked. `message` is for people."""

    message: str
    errcode: str | None = None
    status: int | None = None
    retry_after_ms: int | None = None
    # The homeserver's own `error` text, for callers that word a refusal themselves.
    server_message: str | None = None
    # Words the same problem again in the active language (`reworded`): the sync loop meets
    # a problem with no viewer, and each open page reads it in its own language.
    words: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A lazily translated constant becomes text in the language active when raised
        # (messages go into JSON and templates alike).
        self.message = str(self.message)

    def __str__(self) -> str:
        return self.message

    def reworded(self) -> str:
        """`message` in the language active now."""
        return self.words() if self.words is not None else self.message

    @property
    def is_rate_limit(self) -> bool:
        return self.errcode == "M_LIMIT_EXCEEDED" or self.status == 429

    @property
    def is_transient(self) -> bool:
        """The homeserver could not be reached or its proxy says it is away (restarting):
        asking again in a moment, with the same transaction ID, may well work."""
        return self.errcode == "W_UNREACHABLE" or self.status in (502, 503, 504)

    @property
    def is_unknown_token(self) -> bool:
        return self.errcode in {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"}


class RateLimited(MatrixError):
    """The homeserver said 429 / M_LIMIT_EXCEEDED (after any waiting the caller allowed)."""


class NotFound(MatrixError):
    """404 / M_NOT_FOUND: no such event, state, room, alias or user."""


class Forbidden(MatrixError):
    """M_FORBIDDEN: the homeserver refused (power level, membership, a wrong password)."""


class UnknownToken(Exception):
    """The homeserver no longer accepts the access token (M_UNKNOWN_TOKEN, M_MISSING_TOKEN).

    Deliberately not a `MatrixError`: it must reach `webclient.web.errors` (which ends the
    login and sends the browser to sign in again), not a form's error line."""

    def __init__(self, message: str = "", errcode: str = "M_UNKNOWN_TOKEN") -> None:
        super().__init__(
            message or _("The homeserver no longer accepts this session's access token.")
        )
        self.message = str(self.args[0])
        self.errcode = errcode


def _kind(errcode: str | None, status: int | None) -> type[MatrixError]:
    if errcode == "M_LIMIT_EXCEEDED" or status == 429:
        return RateLimited
    if errcode == "M_NOT_FOUND" or (status == 404 and not errcode):
        return NotFound
    if errcode == "M_FORBIDDEN":
        return Forbidden
    return MatrixError


def retry_phrase(retry_after_ms: int | None) -> str:
    if not retry_after_ms:
        return _("Wait a moment, then try again.")
    seconds = max(1, math.ceil(retry_after_ms / 1000))
    if seconds < 90:
        return _("Try again in %(n)d seconds.") % {"n": seconds}
    return _("Try again in %(n)d minutes.") % {"n": math.ceil(seconds / 60)}


# What the homeserver's error codes mean to someone using the client. Where the server's
# own `error` text is clearer for a code (M_FORBIDDEN on a send, say) it is appended.
# Lazy: translated when an error is raised, in the language of whoever reads it.
_MESSAGES = {
    "M_FORBIDDEN": gettext_lazy("The homeserver refused this."),
    "M_UNKNOWN_TOKEN": gettext_lazy(
        "The homeserver no longer accepts this session's access token."
    ),
    "M_MISSING_TOKEN": gettext_lazy("The homeserver needs an access token for this."),
    "M_USER_DEACTIVATED": gettext_lazy("This account has been deactivated."),
    "M_NOT_FOUND": gettext_lazy("The homeserver could not find that."),
    "M_TOO_LARGE": gettext_lazy("That is too large for the homeserver."),
    "M_BAD_JSON": gettext_lazy("The homeserver could not read the request."),
    "M_NOT_JSON": gettext_lazy("The homeserver could not read the request."),
    "M_UNRECOGNIZED": gettext_lazy("The homeserver does not support this request."),
    "M_GUEST_ACCESS_FORBIDDEN": gettext_lazy("Guests may not do this in this room."),
    "M_CONSENT_NOT_GIVEN": gettext_lazy("The homeserver needs you to accept its terms first."),
    "M_RESOURCE_LIMIT_EXCEEDED": gettext_lazy("The homeserver has reached a resource limit."),
}


def from_response(
    errcode: str | None,
    status: int | None,
    server_message: str | None = None,
    retry_after_ms: int | None = None,
    *,
    action: str | None = None,
) -> MatrixError:
    """Build the error for an error response; `action` names what was being done."""
    if errcode == "M_LIMIT_EXCEEDED" or status == 429:
        text = _("The homeserver is rate-limiting requests.") + " " + retry_phrase(retry_after_ms)
        errcode = errcode or "M_LIMIT_EXCEEDED"
    elif errcode in _MESSAGES:
        text = str(_MESSAGES[errcode])
        if server_message and errcode in {"M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE"}:
            text = f"{text} ({server_message})"
    elif server_message:
        text = _("The homeserver answered: %(msg)s") % {"msg": server_message}
    else:
        text = _("The homeserver answered with an error (HTTP %(status)s).") % {
            "status": status or "?"
        }
    if action:
        text = f"{action}: {text}"
    kind = _kind(errcode, status)
    return kind(
        text,
        errcode=errcode,
        status=status,
        retry_after_ms=retry_after_ms,
        server_message=server_message,
        words=lambda: (
            from_response(errcode, status, server_message, retry_after_ms, action=action).message
        ),
    )


def unreachable(url: str, detail: str = "") -> MatrixError:
    text = _("Could not reach the homeserver at %(url)s.") % {"url": url}
    if detail:
        text = f"{text} ({detail})"
    return MatrixError(
        text, errcode="W_UNREACHABLE", words=lambda: unreachable(url, detail).message
    )


def not_matrix(url: str) -> MatrixError:
    return MatrixError(
        _("%(url)s does not look like a Matrix homeserver.") % {"url": url},
        errcode="W_NOT_MATRIX",
    )
