"""Find and check the homeserver a person means, as the spec's server discovery says.

A user may type a full homeserver URL, a bare server name (`example.org`), or leave the
homeserver empty and give a full user ID (`@alice:example.org`). Server names are looked up
through `/.well-known/matrix/client`; whatever we end up with must answer `/versions`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
from django.conf import settings
from django.utils.translation import gettext as _

from . import errors
from .names import SERVER_NAME_RE


def server_name_of(user_id: str) -> str | None:
    if user_id.startswith("@") and ":" in user_id:
        return user_id.split(":", 1)[1]
    return None


def _timeout() -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=settings.MATRIX_REQUEST_TIMEOUT)


async def _get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, object | None]:
    async with session.get(url, allow_redirects=True) as resp:
        try:
            return resp.status, await resp.json(content_type=None)
        except (ValueError, aiohttp.ContentTypeError):
            return resp.status, None


async def _is_matrix(session: aiohttp.ClientSession, base_url: str) -> bool:
    status, body = await _get_json(session, f"{base_url}/_matrix/client/versions")
    return status == 200 and isinstance(body, dict) and isinstance(body.get("versions"), list)


async def _well_known(session: aiohttp.ClientSession, origin: str) -> str | None:
    """The base URL a well-known file names, or None when there is none (IGNORE)."""
    status, body = await _get_json(session, f"{origin}/.well-known/matrix/client")
    if status != 200 or not isinstance(body, dict):
        return None
    homeserver = body.get("m.homeserver")
    base_url = homeserver.get("base_url") if isinstance(homeserver, dict) else None
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise errors.MatrixError(
            _("%(origin)s publishes a broken Matrix discovery file.") % {"origin": origin},
            errcode="W_BAD_WELL_KNOWN",
        )
    return base_url.rstrip("/")


def normalise_url(value: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise errors.MatrixError(
            _("%(value)s is not a valid homeserver address.") % {"value": value},
            errcode="W_BAD_URL",
        )
    return value


async def resolve_homeserver(homeserver: str, username: str = "") -> str:
    """Return the checked base URL of the homeserver the user means."""
    homeserver = homeserver.strip()
    if not homeserver:
        homeserver = server_name_of(username.strip()) or settings.MATRIX_HOMESERVER
    if not homeserver:
        raise errors.MatrixError(
            _("Enter your homeserver, or your full Matrix ID such as @you:example.org."),
            errcode="W_NO_HOMESERVER",
        )
    if "://" in homeserver:
        candidates = [normalise_url(homeserver)]
        origins = [candidates[0]]
    elif SERVER_NAME_RE.fullmatch(homeserver):
        candidates = [f"https://{homeserver}"]
        origins = candidates[:]
    else:
        raise errors.MatrixError(
            _("%(value)s is not a valid homeserver address.") % {"value": homeserver},
            errcode="W_BAD_URL",
        )
    shown = candidates[0]
    try:
        async with aiohttp.ClientSession(timeout=_timeout()) as session:
            # A server name goes through discovery first; a URL is tried as given first.
            if "://" not in homeserver:
                discovered = await _well_known(session, origins[0])
                if discovered:
                    # From here on, errors are about the homeserver the file names.
                    shown = discovered
                    if await _is_matrix(session, discovered):
                        return discovered
                    raise errors.not_matrix(discovered)
            if await _is_matrix(session, candidates[0]):
                return candidates[0]
            if "://" in homeserver:
                discovered = await _well_known(session, origins[0])
                if discovered:
                    shown = discovered
                    if await _is_matrix(session, discovered):
                        return discovered
                    raise errors.not_matrix(discovered)
    except TimeoutError as exc:
        raise errors.unreachable(shown, _("timed out")) from exc
    except aiohttp.ClientConnectorError as exc:
        raise errors.unreachable(shown, exc.os_error.strerror or "connection refused") from exc
    except aiohttp.ClientError as exc:
        raise errors.unreachable(shown, type(exc).__name__) from exc
    raise errors.not_matrix(shown)
