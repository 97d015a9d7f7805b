"""A Content-Security-Policy on every response: no inline script, so a sanitiser miss still
cannot run script, and no framing by other sites except of the embed pages, by the origins
the operator lists. Also the cross-site copy of the session cookie for those embed pages."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

from webclient.live import locale

EMBED_PREFIX = "/embed/"
EMBED_COOKIE = "webclient_embed"

_DIRECTIVES = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self'",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
]
POLICY = "; ".join([*_DIRECTIVES, "frame-ancestors 'none'"])

# scheme://host[:port], nothing else: no path, no wildcard, no quote or separator that
# could smuggle another CSP source or directive.
_ORIGIN_RE = re.compile(r"^https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


def embed_origins() -> list[str]:
    """EMBED_ALLOWED_ORIGINS, checked: a mistyped origin stops the server with a message
    rather than silently allowing nothing (or everything)."""
    origins = []
    for origin in settings.EMBED_ALLOWED_ORIGINS:
        origin = origin.rstrip("/")
        if not _ORIGIN_RE.match(origin):
            raise ImproperlyConfigured(
                f"EMBED_ALLOWED_ORIGINS: {origin!r} is not an origin like "
                "https://intranet.example.com or http://localhost:8080 (no path, no *)."
            )
        origins.append(origin)
    return origins


def policy_for(path: str, origins: list[str]) -> str:
    if path.startswith(EMBED_PREFIX) and origins:
        return "; ".join([*_DIRECTIVES, "frame-ancestors " + " ".join(origins)])
    return POLICY


class _AsyncMiddleware:
    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)
        if not iscoroutinefunction(get_response):  # pragma: no cover - Django adapts
            raise ImproperlyConfigured("webclient middleware runs in the async stack only")


class ContentSecurityPolicyMiddleware(_AsyncMiddleware):
    def __init__(self, get_response: Callable) -> None:
        super().__init__(get_response)
        self.origins = embed_origins()

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        response.headers.setdefault(
            "Content-Security-Policy", policy_for(request.path, self.origins)
        )
        if request.path.startswith(EMBED_PREFIX) and self.origins:
            # frame-ancestors rules modern browsers; X-Frame-Options cannot list origins.
            response.headers.pop("X-Frame-Options", None)
        return response


class EmbedCookieMiddleware(_AsyncMiddleware):
    """With EMBED_CROSS_SITE_COOKIE, keep a `SameSite=None; Secure` copy of the session
    cookie for the /embed/ path only: a cross-site iframe then still carries the viewer's
    login, while every other page keeps the Lax cookie and its CSRF protection."""

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        if not settings.EMBED_CROSS_SITE_COOKIE:
            return response
        session = getattr(request, "session", None)
        if session is None or not session.accessed:
            return response
        came = settings.SESSION_COOKIE_NAME in request.COOKIES
        if request.path.startswith(EMBED_PREFIX) and not came:
            # A cross-site frame: the Lax session cookie stayed behind, so this request's
            # (empty) session says nothing about the viewer. Keep their embed cookie.
            return response
        from webclient.matrix.models import SESSION_KEY

        signed_in = await session.aget(SESSION_KEY) is not None
        key = session.session_key
        # Sent to /embed/ paths only: elsewhere it is None, and is set again.
        current = request.COOKIES.get(EMBED_COOKIE)
        if signed_in and key and current != key:
            response.set_cookie(
                EMBED_COOKIE,
                key,
                max_age=settings.SESSION_COOKIE_AGE,
                path=EMBED_PREFIX,
                secure=True,
                httponly=True,
                samesite="None",
            )
        elif not signed_in and (current or came):
            # Signed out (or never signed in): no copy left for the embed path.
            response.delete_cookie(EMBED_COOKIE, path=EMBED_PREFIX, samesite="None")
        return response


class ViewerLocaleMiddleware(_AsyncMiddleware):
    """Activate the viewer's language and time zone (`live/locale.py`): the login's choice,
    else the browser's. Django's LocaleMiddleware reads only the browser; this one also
    reads the login, so it replaces it (after SessionMiddleware)."""

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        from webclient.matrix.models import SESSION_KEY, Credential

        chosen_language = chosen_zone = ""
        session = getattr(request, "session", None)
        if session is not None and (pk := await session.aget(SESSION_KEY)) is not None:
            row = (
                await Credential.objects.filter(pk=pk).values_list("language", "time_zone").afirst()
            )
            if row is not None:
                chosen_language, chosen_zone = row
        language = locale.language_for(
            chosen_language, request.COOKIES, request.headers.get("Accept-Language", "")
        )
        zone = locale.zone_for(chosen_zone, request.COOKIES)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        timezone.activate(zoneinfo.ZoneInfo(zone))
        request.TIME_ZONE = zone
        response = await self.get_response(request)
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", language)
        return response


# What is worth compressing: pages, fragments, styles, scripts and JSON; never media (already
# compressed, and a video is read in ranges).
_COMPRESSIBLE = re.compile(
    r"^(text/(html|css|javascript|plain)|application/(javascript|json|manifest\+json)"
    r"|image/svg\+xml)\b"
)


class CompressMiddleware(_AsyncMiddleware):
    """gzip for pages and text static files when nothing in front compresses them (plain
    `make serve` / daphne; behind nginx, or with collectstatic's precompressed files, the
    response already carries Content-Encoding and is left alone). Django's GZipMiddleware
    does the work, called here in the async stack (its own adapter would hop to a thread for
    every response); it also pads against BREACH, and the CSRF token is masked per page."""

    def __init__(self, get_response: Callable) -> None:
        super().__init__(get_response)
        from django.middleware.gzip import GZipMiddleware

        self.gzip = GZipMiddleware(get_response)
        # Static files hold no secret: no BREACH padding for them.
        self.gzip_static = GZipMiddleware(get_response)
        self.gzip_static.max_random_bytes = 0
        self.static_prefix = "/" + urlsplit(settings.STATIC_URL or "/static/").path.lstrip("/")

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        if response.status_code != 200 or not _COMPRESSIBLE.match(
            response.headers.get("Content-Type", "")
        ):
            return response
        static = request.path.startswith(self.static_prefix)
        if response.streaming:
            # A static file, read in chunks: Django would compress each chunk as a gzip
            # member of its own, and browsers read only the first. Small files are read
            # whole and compressed in one piece; anything else goes as it is.
            try:
                length = int(response.headers.get("Content-Length", ""))
            except ValueError:
                return response
            if length > WHOLE_LIMIT or request.method != "GET":
                return response
            response = await _read_whole(response)
        return (self.gzip_static if static else self.gzip).process_response(request, response)


#: Streamed responses up to this size are read whole to be compressed (static files).
WHOLE_LIMIT = 1 << 20


async def _read_whole(response: HttpResponse) -> HttpResponse:
    """The same response with its streamed body read into memory."""
    if response.is_async:
        chunks = [chunk async for chunk in response.streaming_content]
    else:
        chunks = list(response.streaming_content)
    if hasattr(response, "close"):
        response.close()
    whole = HttpResponse(b"".join(chunks), status=response.status_code)
    for name, value in response.headers.items():
        if name.lower() != "content-length":
            whole.headers[name] = value
    whole.headers["Content-Length"] = str(len(whole.content))
    return whole
