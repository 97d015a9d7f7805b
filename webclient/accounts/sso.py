"""Single sign-on through the homeserver (spec: "Client login via SSO").

The browser goes `start` → the homeserver's `/login/sso/redirect[/{idpId}]` → the identity
provider → the homeserver → our `callback` with a `loginToken`, which we exchange for an
access token with `m.login.token`. Three rules keep that safe:

- `start` binds a random `state` to the Django session (with the homeserver and a checked
  `next`); `callback` accepts a login token only with that state, compared in constant time and
  used once. A callback link made in someone else's browser (login CSRF), a forged or replayed
  one finds no state here and is refused before the homeserver is asked.
- The URL the homeserver sends the token to is always our own callback route, made absolute
  from the request; nothing in the query chooses it.
- Where the browser lands afterwards is the `next` checked at `start` with
  `url_has_allowed_host_and_scheme`; anything off-site becomes the room list.

What the homeserver offers and where its redirect lives is `matrix.sso`; the login token is
exchanged by `matrix.auth.sso_login`. These are the pages.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from webclient.matrix import auth, discovery, errors
from webclient.matrix.sso import IdentityProvider, identity_providers, redirect_url
from webclient.web.redirects import login_url

from .logins import replace_login, safe_next

logger = logging.getLogger("webclient.accounts")

PENDING_KEY = "sso_pending"
# A sign-in left half-way (tab closed at the identity provider) expires; a few may be open
# at once (two tabs), the oldest is dropped beyond that.
STATE_LIFETIME = 15 * 60
MAX_PENDING = 5
# The login page asks the pre-filled homeserver which identity providers it offers; the answer
# is kept briefly, and a slow homeserver must not hold up the page.
CACHE_SECONDS = 60
PAGE_CHECK_TIMEOUT = 3.0


async def _checked_homeserver(value: str) -> tuple[str, list[IdentityProvider] | None]:
    homeserver = await discovery.resolve_homeserver(value)
    return homeserver, await identity_providers(homeserver)


async def login_options(request: HttpRequest, next_url: str) -> dict | None:
    """What the login page shows for single sign-on: buttons for the identity providers of
    the homeserver typed into the SSO form (`?sso_homeserver=`), or else of the pre-filled
    homeserver, and the SSO form itself. Failures to ask the pre-filled homeserver are quiet
    (the password form is still there); failures for a typed one are shown."""
    typed = request.GET.get("sso_homeserver", "").strip()[:500]
    value = typed or settings.MATRIX_HOMESERVER
    options: dict = {"typed": typed, "providers": None, "error": None, "homeserver": None}
    if not value:
        return options
    key = "sso-providers:" + hashlib.sha256(value.encode()).hexdigest()
    cached = await cache.aget(key)
    if cached is None:
        try:
            limit = settings.MATRIX_REQUEST_TIMEOUT if typed else PAGE_CHECK_TIMEOUT
            async with asyncio.timeout(limit):
                homeserver, providers = await _checked_homeserver(value)
        except TimeoutError:
            cached = ("", None, str(errors.unreachable(value, _("timed out"))))
        except errors.MatrixError as exc:
            cached = ("", None, exc.message)
        else:
            cached = (homeserver, providers, None)
        await cache.aset(key, cached, CACHE_SECONDS)
    homeserver, providers, error = cached
    if error:
        options["error"] = error if typed else None
        return options
    if providers is None:
        if typed:
            options["error"] = _("%(hs)s does not offer single sign-on.") % {"hs": homeserver}
        return options
    options["homeserver"] = homeserver
    start = reverse("accounts:sso_start")
    base = {"homeserver": homeserver}
    if next_url:
        base["next"] = next_url
    options["providers"] = [
        {"id": idp.id, "name": idp.name, "url": f"{start}?{urlencode({**base, 'idp': idp.id})}"}
        for idp in providers
    ] or [{"id": "", "name": "", "url": f"{start}?{urlencode(base)}"}]
    return options


def _fail(request: HttpRequest, message: str, next_url: str | None = None) -> HttpResponse:
    messages.error(request, message)
    return HttpResponseRedirect(login_url(next_url=next_url))


# Browsers say where a navigation came from; starts from our own pages, typed addresses and
# bookmarks ("same-origin", "none") go straight on.
FROM_ANOTHER_SITE = {"cross-site", "same-site"}


@require_GET
async def start_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.GET.get("next"))
    value = request.GET.get("homeserver", "").strip()[:500] or settings.MATRIX_HOMESERVER
    idp = request.GET.get("idp", "")
    try:
        homeserver, providers = await _checked_homeserver(value)
    except errors.MatrixError as exc:
        return _fail(request, exc.message, next_url)
    if providers is None:
        return _fail(
            request, _("%(hs)s does not offer single sign-on.") % {"hs": homeserver}, next_url
        )
    if idp and idp not in {p.id for p in providers}:
        return _fail(
            request,
            _("%(hs)s does not offer that identity provider.") % {"hs": homeserver},
            next_url,
        )
    if request.headers.get("Sec-Fetch-Site") in FROM_ANOTHER_SITE:
        # A link on another site: say where it leads and let the person choose, so a crafted
        # link cannot bounce visitors through us to whatever server it names.
        context = {"homeserver": homeserver, "continue_url": request.get_full_path()}
        return render(request, "accounts/sso_confirm.html", context)
    state = secrets.token_urlsafe(32)
    now = time.time()
    pending = {
        key: entry
        for key, entry in (await request.session.aget(PENDING_KEY, {})).items()
        if now - entry.get("created", 0) < STATE_LIFETIME
    }
    pending[state] = {"homeserver": homeserver, "next": next_url, "created": now}
    pending = dict(sorted(pending.items(), key=lambda kv: kv[1]["created"])[-MAX_PENDING:])
    await request.session.aset(PENDING_KEY, pending)
    # Our callback, fixed: the homeserver appends `loginToken` to it.
    callback = request.build_absolute_uri(reverse("accounts:sso_callback"))
    callback += "?" + urlencode({"state": state})
    logger.info("single sign-on started on %s (idp %s)", homeserver, idp or "-")
    return HttpResponseRedirect(redirect_url(homeserver, callback, idp))


async def _take_pending(request: HttpRequest, state: str) -> dict | None:
    """Remove and return the pending sign-in `state` names, comparing in constant time."""
    pending = await request.session.aget(PENDING_KEY, {})
    found_key = None
    for key in list(pending):
        if hmac.compare_digest(key.encode(), state.encode()):
            found_key = key
    if found_key is None:
        return None
    entry = pending.pop(found_key)
    await request.session.aset(PENDING_KEY, pending)
    if time.time() - entry.get("created", 0) >= STATE_LIFETIME:
        return None
    return entry


@require_GET
async def callback_view(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    login_token = request.GET.get("loginToken", "")
    entry = await _take_pending(request, state) if state else None
    if entry is None:
        logger.warning("single sign-on callback with an unknown or used state refused")
        return _fail(
            request,
            _(
                "This single sign-on answer does not belong to a sign-in started in this "
                "browser, or was already used. Nothing was signed in; start again."
            ),
        )
    next_url = safe_next(request, entry.get("next"))
    if not login_token:
        return _fail(request, _("The homeserver did not send a login token."), next_url)
    try:
        result = await auth.sso_login(entry["homeserver"], login_token)
    except errors.MatrixError as exc:
        return _fail(request, exc.message, next_url)
    await replace_login(request, result, owns_device=True)
    return HttpResponseRedirect(next_url)
