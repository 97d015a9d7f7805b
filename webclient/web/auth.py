"""Which Matrix login belongs to the browser session making a request, and what a view that
needs one gets: `request.credential`, and the typed errors handled in one place."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from django.contrib.auth import alogout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from webclient.matrix.models import SESSION_KEY, credential_for

from . import errors
from .redirects import REASONS, login_url

__all__ = ["REASONS", "SESSION_KEY", "credential_for", "login_url", "matrix_login_required"]

View = Callable[..., Awaitable[HttpResponse]]


def matrix_login_required(view: View | None = None, *, fragment: bool = False) -> View:
    """Give the view `request.credential`, or send the browser to sign in; and answer the
    typed errors the view lets through (`web.errors.respond`): a login the homeserver ended,
    a room that is not there or not joined, a homeserver that failed. `fragment` views are
    fetched by scripts and answer in plain text."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            credential = await credential_for(request.session)
            if credential is None:
                had_login = await request.session.aget(SESSION_KEY) is not None
                if had_login:
                    # The credential was deleted (token revoked, signed out in another tab).
                    await alogout(request)
                if fragment:
                    return HttpResponse(
                        REASONS["expired"], status=401, content_type="text/plain; charset=utf-8"
                    )
                return HttpResponseRedirect(
                    login_url("revoked" if had_login else None, request.get_full_path())
                )
            request.credential = credential
            try:
                return await view(request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - handed to the one error handler
                return await errors.respond(request, exc, fragment=fragment)

        return wrapper

    return decorate(view) if view is not None else decorate
