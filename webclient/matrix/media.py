"""Matrix content (`mxc://`) through our own origin.

The browser cannot put an access token on `<img src>`, and the token must never reach it, so
every mxc URI becomes a URL of ours; the server fetches it from the homeserver's
authenticated media endpoints with the session's token and streams it back with headers
that keep it from running script here (a sandboxing CSP, `nosniff`, and `attachment` for
every type that is not plainly an image, audio or video).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.urls import reverse

# The media ID: only the characters the spec allows (letters, digits, `_`, `-`).
# Both patterns are used with `fullmatch`: `$` would also accept a trailing newline.
MEDIA_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
# The server name by the spec's grammar (dots and a port are part of real names, such as
# matrix.org:8448), with no empty label, so no `..`, `/`, `%`, `?` or `#` can get through.
SERVER_NAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*"
    r"|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)
# A server name is at most 255 characters (the spec's limit for the IDs that contain one).
MAX_SERVER_NAME = 255

# Shown inline: only types a browser renders as media and cannot script. SVG is left out
# on purpose (it can carry script), and so is everything else.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/apng",
        "image/avif",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "audio/wav",
        "audio/webm",
        "audio/aac",
        "audio/flac",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
    }
)

# The policy the spec recommends for served media.
MEDIA_CSP = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; object-src 'self';"
)

THUMBNAIL_METHODS = {"crop", "scale"}


@dataclass(frozen=True)
class MxcUri:
    server_name: str
    media_id: str

    def __str__(self) -> str:
        return f"mxc://{self.server_name}/{self.media_id}"


def parse_mxc(value: object) -> MxcUri | None:
    """The parts of a valid mxc URI, or None for anything crafted or malformed."""
    if not isinstance(value, str) or not value.startswith("mxc://"):
        return None
    rest = value[len("mxc://") :]
    server_name, sep, media_id = rest.partition("/")
    if not sep or not valid_parts(server_name, media_id):
        return None
    return MxcUri(server_name, media_id)


def valid_parts(server_name: str, media_id: str) -> bool:
    return bool(
        isinstance(server_name, str)
        and isinstance(media_id, str)
        and len(server_name) <= MAX_SERVER_NAME
        and SERVER_NAME_RE.fullmatch(server_name)
        and MEDIA_ID_RE.fullmatch(media_id)
    )


def download_url(mxc: object, filename: str | None = None) -> str | None:
    """Our URL for the whole file, or None when the URI is not a valid mxc URI."""
    parsed = parse_mxc(mxc)
    if parsed is None:
        return None
    url = reverse("media:download", args=[parsed.server_name, parsed.media_id])
    if filename:
        url += "?filename=" + quote(filename[:255], safe="")
    return url


def thumbnail_url(mxc: object, width: int, height: int, method: str = "scale") -> str | None:
    parsed = parse_mxc(mxc)
    if parsed is None:
        return None
    url = reverse("media:thumbnail", args=[parsed.server_name, parsed.media_id])
    return f"{url}?width={int(width)}&height={int(height)}&method={method}"


def encrypted_url(
    file: object, room_id: str, event_id: str, filename: str | None = None, thumbnail: bool = False
) -> str | None:
    """Our URL for an encrypted attachment (`file` is its EncryptedFile). The URL names the
    event, not the key: the proxy finds the key in the (decrypted) event on the server, so no
    key ever appears in an address, a log or the browser's history."""
    parsed = parse_mxc(file.get("url") if isinstance(file, dict) else None)
    if parsed is None or not room_id or not event_id:
        return None
    url = reverse("media:encrypted", args=[parsed.server_name, parsed.media_id])
    params = {"room": room_id, "event": event_id}
    if thumbnail:
        params["thumbnail"] = "1"
    if filename:
        params["filename"] = filename[:255]
    return f"{url}?{urlencode(params)}"


def is_inline(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in INLINE_TYPES


def safe_filename(name: str) -> str:
    """A file name fit for a Content-Disposition header: no paths, quotes or control chars."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"\r\n;')
    return name.strip()[:200] or "download"
