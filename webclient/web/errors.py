"""The one place where typed errors become responses.

Views let through what they do not handle themselves (a form shows a refused change beside
the field instead):

- `UnknownToken`: the homeserver ended the login. Its sync loop is stopped, the credential
  forgotten, every open page of it told; an HTML page redirects to sign in again, a script's
  request gets 401.
- `PageError` (`RoomNotFound`, `NotInRoom`, …): a page that says what is wrong, with its
  status (404 for a room that is not there or not joined).
- any other `MatrixError`: the homeserver failed; a page (or text) with its sentence, 502.
- `NeedsConfirmation`: a destructive form sent without "I am sure": a page that asks, and
  sends the same form again when the person confirms (`web.confirm`).
"""

from __future__ import annotations

import logging

from django.contrib.auth import alogout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from webclient.live import devices
from webclient.live.publisher import end_pages
from webclient.matrix import errors
from webclient.matrix.models import Credential

from .confirm import NeedsConfirmation, resent_fields
from .redirects import REASONS, login_url

logger = logging.getLogger("webclient.web")


class PageError(Exception):
    """A page that cannot be shown, and why: rendered as `rooms/error.html`."""

    status = 400
    heading = _("Something went wrong")

    def __init__(self, message: str = "", heading: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = str(message)
        if heading is not None:
            self.heading = str(heading)
        if status is not None:
            self.status = status


class RoomNotFound(PageError):
    status = 404
    heading = _("Room not found")


class NotInRoom(PageError):
    status = 404
    heading = _("Not in this room")

    def __init__(self, message: str = "", heading: str | None = None, status: int | None = None):
        super().__init__(
            message or _("You are not a member of this room, or it does not exist."),
            heading,
            status,
        )


def error_page(request: HttpRequest, heading: str, message: str, status: int) -> HttpResponse:
    response = render(
        request, "rooms/error.html", {"heading": heading, "message": message}, status=status
    )
    add_never_cache_headers(response)
    return response


def safe_referer(request: HttpRequest) -> str:
    """The page the request came from, when it is one of ours, else the room list."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse("rooms:list")


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


async def end_login(request: HttpRequest, reason: str = "revoked") -> None:
    """Forget the request's login everywhere: its sync loop, its credential, its pages (the
    session usually did this already when its own request met the dead token)."""
    credential: Credential | None = getattr(request, "credential", None)
    if credential is not None:
        await devices.stop(credential)
        await Credential.objects.filter(pk=credential.pk).adelete()
        await end_pages(credential.pk, reason)
    await alogout(request)


async def respond(request: HttpRequest, exc: Exception, *, fragment: bool = False) -> HttpResponse:
    """The response for an error a view let through; anything else is raised again."""
    if isinstance(exc, errors.UnknownToken):
        logger.info("the homeserver ended a login (%s)", exc.errcode)
        await end_login(request)
        if wants_json(request):
            return JsonResponse(
                {"ok": False, "error": str(REASONS["revoked"]), "retry": False}, status=401
            )
        if fragment:
            return HttpResponse(exc.message, status=401, content_type="text/plain; charset=utf-8")
        return HttpResponseRedirect(login_url("revoked", request.get_full_path()))
    if isinstance(exc, NeedsConfirmation):
        if wants_json(request):
            return JsonResponse({"ok": False, "error": exc.question}, status=400)
        if fragment:
            return HttpResponse(exc.question, status=400, content_type="text/plain; charset=utf-8")
        response = render(
            request,
            "confirm.html",
            {
                "question": exc.question,
                "label": exc.label,
                "action": request.path,
                "fields": resent_fields(request),
                "back": safe_referer(request),
            },
        )
        add_never_cache_headers(response)
        return response
    if isinstance(exc, PageError):
        if wants_json(request):
            return JsonResponse({"ok": False, "error": exc.message}, status=exc.status)
        if fragment:
            return HttpResponse(
                exc.message, status=exc.status, content_type="text/plain; charset=utf-8"
            )
        return error_page(request, str(exc.heading), exc.message, exc.status)
    if isinstance(exc, errors.MatrixError):
        # 503: the login's server process is being replaced (several processes).
        unavailable = exc.errcode == "W_OWNER_UNAVAILABLE"
        status = 429 if exc.is_rate_limit else 503 if unavailable else 502
        if wants_json(request):
            return JsonResponse({"ok": False, "error": exc.message, "retry": True}, status=status)
        if fragment:
            return HttpResponse(
                exc.message, status=status, content_type="text/plain; charset=utf-8"
            )
        return error_page(request, str(_("The homeserver could not do that")), exc.message, status)
    raise exc
