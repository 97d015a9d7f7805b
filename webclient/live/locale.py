"""Which language and time zone a viewer reads in, and rendering in them.

The login's choice (`Credential.language`, `Credential.time_zone`) wins; "" follows the
browser: the language cookie `set_language` keeps (chosen on the sign-in page), else
`Accept-Language`; the zone the page's script reports in a cookie
(`Intl.DateTimeFormat().resolvedOptions().timeZone`), else UTC. Pages and their websocket
name the same pair (a *variant*, "de|Europe/Berlin"): tiles are rendered once per variant,
and the pages of a device normally share one (`publisher.py`).
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import trans_real

ZONE_COOKIE = "webclient_tz"
DEFAULT_ZONE = "UTC"


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_zone(name: str | None) -> str:
    """`name` when it is an IANA time zone this machine knows, else ""."""
    name = (name or "").strip()
    return name if name and name in _zones() else ""


def supported_language(code: str | None) -> str:
    """The LANGUAGES entry `code` stands for ("de-AT" → "de"), else ""."""
    if not code:
        return ""
    try:
        return translation.get_supported_language_variant(code.strip())
    except LookupError:
        return ""


def language_for(chosen: str, cookies: Mapping[str, str], accept_language: str) -> str:
    """The login's choice, else the sign-in page's (cookie), else the browser's."""
    if lang := supported_language(chosen):
        return lang
    if lang := supported_language(cookies.get(settings.LANGUAGE_COOKIE_NAME)):
        return lang
    for code, _quality in trans_real.parse_accept_lang_header(accept_language or ""):
        if code == "*":
            break
        if lang := supported_language(code):
            return lang
    return settings.LANGUAGE_CODE


def zone_for(chosen: str, cookies: Mapping[str, str]) -> str:
    """The login's zone, else the browser's (as its script reported it), else UTC."""
    return valid_zone(chosen) or valid_zone(cookies.get(ZONE_COOKIE)) or DEFAULT_ZONE


def variant(language: str, zone: str) -> str:
    return f"{language}|{zone}"


def parse_variant(value: str | None) -> str:
    """A variant a page named, checked; the default one when it names nothing valid."""
    language, _, zone = (value or "").partition("|")
    return variant(
        supported_language(language) or settings.LANGUAGE_CODE, valid_zone(zone) or DEFAULT_ZONE
    )


def current_variant() -> str:
    """The variant being rendered in now (the request's, or `rendering_in`'s)."""
    return variant(
        translation.get_language() or settings.LANGUAGE_CODE,
        timezone.get_current_timezone_name(),
    )


@contextmanager
def rendering_in(value: str) -> Iterator[None]:
    """Render in a variant's language and zone (the publisher has no request)."""
    language, _, zone = parse_variant(value).partition("|")
    with translation.override(language), timezone.override(zoneinfo.ZoneInfo(zone)):
        yield
