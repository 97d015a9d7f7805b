"""URL previews: whether a person sees them in a room, and the homeserver's preview of a link.

Whether, as Element decides it (`RoomView.updatePreviewUrlVisibility` and its settings
handlers): in an encrypted room only when the person turned them on for that room
(`im.vector.web.settings` room account data, `urlPreviewsEnabled_e2ee`; off by default: the
homeserver would learn the links); elsewhere the person's switch for the room
(`org.matrix.room.preview_urls` room account data, `{"disable": bool}`), else their account's
(`org.matrix.preview_urls` global account data), else the room's default set by its admins
(`org.matrix.room.preview_urls` state), else on.

The preview itself is `GET /_matrix/client/v1/media/preview_url` (the homeserver fetches the
page); what it returns is the linked page's (`og:title`, `og:description`, `og:image` as an
mxc URI), so it is cut to size here and rendered as text by one template. Answers are kept a
while per (homeserver, URL, minute), as matrix-js-sdk buckets `ts` by the minute.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from . import errors, media
from .roomstate import RoomSummary
from .session import MatrixSession

ACCOUNT_SETTING = "org.matrix.preview_urls"
ROOM_SETTING = "org.matrix.room.preview_urls"
E2EE_SETTING = "im.vector.web.settings"
E2EE_KEY = "urlPreviewsEnabled_e2ee"
MAX_URL = 2000
MAX_TITLE = 200
MAX_DESCRIPTION = 300
MAX_SITE = 100
KEPT = 512
KEPT_SECONDS = 600.0

_cache: OrderedDict[tuple[str, str, int], tuple[float, dict[str, Any] | None]] = OrderedDict()


async def enabled(session: MatrixSession, summary: RoomSummary) -> bool:
    if summary.encrypted:
        return summary.url_previews_e2ee is True
    if summary.url_previews is not None:
        return summary.url_previews
    account = await session.global_account_data(ACCOUNT_SETTING)
    disable = account.get("disable")
    if isinstance(disable, bool):
        return not disable
    if summary.room_url_previews is not None:
        return summary.room_url_previews
    return True


async def account_enabled(session: MatrixSession) -> bool:
    disable = (await session.global_account_data(ACCOUNT_SETTING)).get("disable")
    return not disable if isinstance(disable, bool) else True


async def set_account(session: MatrixSession, on: bool) -> None:
    await session.set_global_account_data(ACCOUNT_SETTING, {"disable": not on})


async def set_room(session: MatrixSession, summary: RoomSummary, on: bool) -> None:
    """The person's switch for one room (the encrypted-room one in an encrypted room)."""
    if summary.encrypted:
        try:
            content = await session.api.account_data(
                session.user_id, E2EE_SETTING, room_id=summary.room_id
            )
        except errors.NotFound:
            content = {}
        await session.api.set_account_data(
            session.user_id,
            E2EE_SETTING,
            {**content, E2EE_KEY: on},
            room_id=summary.room_id,
            action=_("Saving the URL preview setting"),
        )
    else:
        await session.api.set_account_data(
            session.user_id,
            ROOM_SETTING,
            {"disable": not on},
            room_id=summary.room_id,
            action=_("Saving the URL preview setting"),
        )


def previewable(url: str) -> bool:
    """An absolute http(s) URL with a host, of a sane length."""
    if not isinstance(url, str) or len(url) > MAX_URL or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _size(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 100_000:
        return value
    return None


def clean(answer: dict[str, Any]) -> dict[str, Any] | None:
    """What is shown of a preview answer, or None when there is nothing worth showing."""
    title = _text(answer.get("og:title"), MAX_TITLE)
    description = _text(answer.get("og:description"), MAX_DESCRIPTION)
    image = answer.get("og:image")
    image_url = media.thumbnail_url(image, 160, 160, "scale") if media.parse_mxc(image) else None
    if not title and not description:
        return None
    return {
        "title": title,
        "description": description,
        "site": _text(answer.get("og:site_name"), MAX_SITE),
        "image": image_url,
        "image_width": _size(answer.get("og:image:width")),
        "image_height": _size(answer.get("og:image:height")),
    }


async def preview(session: MatrixSession, url: str, ts: int | None = None) -> dict[str, Any] | None:
    """The homeserver's preview of `url` as shown (None: none to show, or it failed)."""
    if not previewable(url):
        return None
    bucket = (ts // 60_000) * 60_000 if isinstance(ts, int) else None
    key = (session.homeserver, url, bucket or 0)
    now = time.monotonic()
    kept = _cache.get(key)
    if kept is not None and now - kept[0] < KEPT_SECONDS:
        _cache.move_to_end(key)
        return kept[1]
    try:
        shown = clean(await session.api.preview_url(url, bucket))
    except errors.MatrixError:
        shown = None
    _cache[key] = (now, shown)
    while len(_cache) > KEPT:
        _cache.popitem(last=False)
    return shown
