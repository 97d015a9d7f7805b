"""Media and other non-text message types: what their tiles need, with every mxc URI turned
into a URL of our media proxy and every size checked (events are written by strangers)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from webclient.matrix import media

from .sanitize import clean_html, plain_to_html

HTML_FORMAT = "org.matrix.custom.html"
MAX_THUMB = (640, 480)
STICKER_BOX = (256, 256)
GEO_RE = re.compile(r"^geo:(-?\d{1,2}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def inline_media_url(mxc: str) -> str | None:
    """The sanitiser's hook: an `<img src="mxc://…">` in a formatted body, through the proxy."""
    return media.download_url(mxc)


def fit(width: int | None, height: int | None, box: tuple[int, int]) -> tuple[int, int] | None:
    """The size that shows an image whole within `box`, never enlarged."""
    if not width or not height:
        return None
    scale = min(box[0] / width, box[1] / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def caption_html(content: Mapping[str, Any]) -> str:
    """The caption of a media message, if it has one (spec v1.10: a `filename` that differs
    from `body` makes `body` a caption); the formatted version is preferred."""
    filename = _str(content.get("filename"))
    body = _str(content.get("body"))
    if not filename or filename == body or not body:
        return ""
    formatted = content.get("formatted_body")
    if content.get("format") == HTML_FORMAT and isinstance(formatted, str) and formatted.strip():
        cleaned = clean_html(formatted, media_url=inline_media_url)
        if cleaned.strip():
            return cleaned
    return plain_to_html(body)


def file_name(content: Mapping[str, Any]) -> str:
    return _str(content.get("filename")) or _str(content.get("body")) or "file"


def media_extra(
    msgtype: str, content: Mapping[str, Any], event: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """Template data for a media message, or None when it cannot be shown (then the plain
    body is the fallback). An encrypted attachment (`file`) is served through the proxy by
    its event (`event`'s `room_id` and `event_id`), which decrypts it on the way."""
    info = content.get("info") if isinstance(content.get("info"), dict) else {}
    encrypted = "file" in content and "url" not in content
    if encrypted:
        room_id = _str((event or {}).get("room_id"))
        event_id = _str((event or {}).get("event_id"))
        url = media.encrypted_url(content.get("file"), room_id, event_id, file_name(content))
        if url is None:
            return {"encrypted_attachment": True, "name": file_name(content)}
        full = media.encrypted_url(content.get("file"), room_id, event_id)
        small = (
            media.encrypted_url(info.get("thumbnail_file"), room_id, event_id, thumbnail=True)
            if isinstance(info.get("thumbnail_file"), dict)
            else None
        )
    else:
        url = media.download_url(content.get("url"), file_name(content))
    if url is None:
        return None
    extra: dict[str, Any] = {
        "url": url,
        "name": file_name(content),
        "caption_html": caption_html(content),
        "size": _int(info.get("size")),
        "mimetype": _str(info.get("mimetype")),
    }
    if msgtype in ("m.image", "m.sticker"):
        box = STICKER_BOX if msgtype == "m.sticker" else MAX_THUMB
        width, height = _int(info.get("w")), _int(info.get("h"))
        dims = fit(width, height, box)
        source = content.get("url")
        # Animated images and ones that already fit are shown as they are; others as a
        # thumbnail of the homeserver's (the full file is a click away).
        animated = extra["mimetype"] in ("image/gif", "image/webp", "image/apng")
        fits = dims is not None and (width, height) == dims
        if encrypted:
            extra["src"] = full if animated or fits or not small else small
        else:
            extra["src"] = (
                media.download_url(source)
                if animated or fits
                else media.thumbnail_url(source, box[0], box[1], "scale")
            )
        extra["width"], extra["height"] = dims if dims else (None, None)
        extra["alt"] = _str(content.get("body")) or extra["name"]
    elif msgtype == "m.video":
        extra["poster"] = (
            (small or "")
            if encrypted
            else media.thumbnail_url(info.get("thumbnail_url"), *MAX_THUMB) or ""
        )
        dims = fit(_int(info.get("w")), _int(info.get("h")), MAX_THUMB)
        extra["width"], extra["height"] = dims if dims else (None, None)
    return extra


def location_extra(content: Mapping[str, Any]) -> dict[str, Any] | None:
    geo = _str(content.get("geo_uri"))
    match = GEO_RE.match(geo)
    if not match:
        return None
    lat, lon = match.groups()
    return {
        "geo_uri": geo,
        "lat": lat,
        "lon": lon,
        "map_url": f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}",
        "description": _str(content.get("body")),
    }
