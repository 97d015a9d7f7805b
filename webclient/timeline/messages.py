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
        # Images that already fit are shown as they are; others as a thumbnail of the
        # homeserver's (the full file is a click away). An animated image shows a still
        # thumbnail (servers thumbnail the first frame) and animates on hover, or always
        # when the viewer allows it (static/js/animated.js): `animated_src`.
        animated = is_animated(info)
        fits = dims is not None and (width, height) == dims
        if encrypted:
            extra["src"] = full if fits or not small else small
            if animated and small:
                extra["src"], extra["animated_src"] = small, full
        else:
            extra["src"] = (
                media.download_url(source)
                if fits and not animated
                else media.thumbnail_url(source, box[0], box[1], "scale")
            )
            if animated:
                extra["animated_src"] = media.download_url(source)
        extra["width"], extra["height"] = dims if dims else (None, None)
        extra["alt"] = _str(content.get("body")) or extra["name"]
    elif msgtype == "m.audio":
        duration = _duration_ms(content, info)
        extra["duration"] = format_duration(duration)
        extra["duration_s"] = round(duration / 1000) if duration else None
        if is_voice(content):
            extra["voice"] = True
            extra["waveform"] = waveform_levels(content)
    elif msgtype == "m.video":
        extra["poster"] = (
            (small or "")
            if encrypted
            else media.thumbnail_url(info.get("thumbnail_url"), *MAX_THUMB) or ""
        )
        dims = fit(_int(info.get("w")), _int(info.get("h")), MAX_THUMB)
        extra["width"], extra["height"] = dims if dims else (None, None)
    return extra


def _duration_ms(content: Mapping[str, Any], info: Mapping[str, Any]) -> int | None:
    audio = content.get("org.matrix.msc1767.audio")
    audio = audio if isinstance(audio, dict) else {}
    return _int(info.get("duration")) or _int(audio.get("duration"))


def format_duration(ms: int | None) -> str:
    """0:07, 1:05:00: how long a recording is."""
    if not ms:
        return ""
    seconds = max(1, round(ms / 1000))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


WAVEFORM_BARS = 32
WAVEFORM_LEVELS = 8


def waveform_levels(content: Mapping[str, Any]) -> list[int]:
    """A voice message's waveform (MSC1767 audio: numbers 0 to 1024, as Element sends them)
    as WAVEFORM_BARS bar heights from 1 to WAVEFORM_LEVELS, for classes rather than styles."""
    audio = content.get("org.matrix.msc1767.audio")
    raw = audio.get("waveform") if isinstance(audio, dict) else None
    if not isinstance(raw, list):
        return []
    values = [
        min(max(v, 0), 1024)
        for v in raw[:10_000]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
    ]
    if not values:
        return []
    bars = []
    for i in range(WAVEFORM_BARS):
        start = i * len(values) // WAVEFORM_BARS
        end = max(start + 1, (i + 1) * len(values) // WAVEFORM_BARS)
        chunk = values[start:end] or values[-1:]
        level = max(chunk) / 1024
        bars.append(max(1, min(WAVEFORM_LEVELS, round(level * WAVEFORM_LEVELS + 0.49))))
    return bars


def is_voice(content: Mapping[str, Any]) -> bool:
    """MSC3245: a voice message is an `m.audio` carrying `org.matrix.msc3245.voice`."""
    return isinstance(content.get("org.matrix.msc3245.voice"), dict)


def is_animated(info: Mapping[str, Any]) -> bool:
    """Spec v1.18 `info.is_animated` (not to be trusted, only to decide what to load);
    without it, the mimetypes that can animate and usually do (GIF, WebP, APNG)."""
    flag = info.get("is_animated")
    if isinstance(flag, bool):
        return flag
    return _str(info.get("mimetype")) in ("image/gif", "image/webp", "image/apng")


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


# -- emoji-only messages ----------------------------------------------------------------------

# Characters that start an emoji (Extended_Pictographic, broadly, as Element's quick check
# does: false positives among symbols are harmless here) and what may follow one in an
# emoji sequence: variation selector 16, skin tones, the zero-width joiner, keycaps, tags.
_EMOJI_RANGES = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
    (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x21FF), (0x231A, 0x23FF),
    (0x24C2, 0x24C2), (0x25AA, 0x25FE), (0x2600, 0x27BF), (0x2934, 0x2935),
    (0x2B05, 0x2BFF), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297),
    (0x3299, 0x3299), (0x1F000, 0x1FAFF),
)  # fmt: skip
_EMOJI_FOLLOWERS = {0xFE0F, 0x200D, 0x20E3} | set(range(0xE0020, 0xE0080))
_KEYCAP_BASES = set("0123456789#*")
_EMOJI_SEPARATORS = re.compile(r"[\u200b\s]+")
_EMOTICON_IMG_RE = re.compile(r"<img [^>]*\bdata-mx-emoticon=\"\"[^>]*>")
MAX_BIG_EMOJI_CHARS = 200


def _is_emoji_start(code: int) -> bool:
    return any(low <= code <= high for low, high in _EMOJI_RANGES)


def is_emoji_text(text: str) -> bool:
    """Nothing but emoji (whitespace and zero-width spaces between them allowed)."""
    text = _EMOJI_SEPARATORS.sub("", text)
    if not text or len(text) > MAX_BIG_EMOJI_CHARS:
        return False
    i = 0
    while i < len(text):
        char = text[i]
        if char in _KEYCAP_BASES:
            rest = text[i + 1 : i + 3]
            if rest in ("\ufe0f\u20e3",) or rest[:1] == "\u20e3":
                i += 3 if rest == "\ufe0f\u20e3" else 2
                continue
            return False
        if not _is_emoji_start(ord(char)) or ord(char) == 0xFE0E:
            return False
        i += 1
        while i < len(text) and (
            ord(text[i]) in _EMOJI_FOLLOWERS
            or (text[i - 1] == "\u200d" and _is_emoji_start(ord(text[i])))
            or 0x1F3FB <= ord(text[i]) <= 0x1F3FF
        ):
            i += 1
        if i < len(text) and text[i] == "\ufe0e":
            return False  # text presentation asked for
    return True


def is_emoji_only(content: Mapping[str, Any], body_html: str) -> bool:
    """Show large (as Element does, and as the spec allows for custom emoticons): a message
    of nothing but emoji and custom emoticons, with no other formatting and no link."""
    formatted = content.get("formatted_body")
    if content.get("format") == HTML_FORMAT and isinstance(formatted, str):
        if "http:" in formatted or "https:" in formatted:
            return False
        emoticons = len(_EMOTICON_IMG_RE.findall(body_html))
        rest = _EMOTICON_IMG_RE.sub("", body_html)
        if "<" in rest or "&" in rest:
            return False
        if not _EMOJI_SEPARATORS.sub("", rest):
            return emoticons > 0
        return is_emoji_text(rest)
    return is_emoji_text(_str(content.get("body")))
