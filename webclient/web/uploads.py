"""Files from forms (the composer, avatars): checked against the homeserver's limit, uploaded,
and described the way other clients need to show them (`message_for_file`)."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from webclient.live.devices import DeviceHandle
from webclient.matrix import errors
from webclient.matrix.crypto.attachments import AttachmentEncryptor
from webclient.timeline.markdown import render_markdown

logger = logging.getLogger("webclient.web")

CONFIG_CACHE_SECONDS = 3600


async def upload_limit(session: DeviceHandle) -> int | None:
    """`m.upload.size` of the homeserver in bytes, or None when it does not say."""
    key = f"media-config:{session.homeserver}"
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    try:
        config = await session.api.media_config()
    except errors.MatrixError as exc:
        logger.info("no media config from %s: %s", session.homeserver, exc)
        return None
    limit = config.get("m.upload.size")
    limit = limit if isinstance(limit, int) and limit > 0 else 0
    cache.set(key, limit, CONFIG_CACHE_SECONDS)
    return limit or None


def too_large_message(size: int, limit: int) -> str:
    return _("This file is %(size)s; the homeserver accepts files up to %(limit)s.") % {
        "size": filesizeformat(size),
        "limit": filesizeformat(limit),
    }


def image_size(uploaded: UploadedFile) -> tuple[int, int] | None:
    facts = image_facts(uploaded)
    return (facts["w"], facts["h"]) if facts else None


def image_facts(uploaded: UploadedFile) -> dict[str, Any] | None:
    """`w`, `h` and (spec v1.18) `is_animated` of an uploaded picture, so that receivers
    know whether a still thumbnail stands for it; None for what Pillow cannot read."""
    try:
        from PIL import Image

        uploaded.seek(0)
        with Image.open(uploaded) as image:
            animated = bool(getattr(image, "is_animated", False))
            return {"w": image.width, "h": image.height, "is_animated": animated}
    except Exception:
        return None
    finally:
        uploaded.seek(0)


def message_for_file(
    uploaded: UploadedFile,
    content_uri: str | None,
    caption: str = "",
    *,
    encrypted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `m.room.message` content for an uploaded file (spec: m.image, m.video, …): its
    `url`, or in an encrypted room its `file` (and `info.thumbnail_file`), from
    `upload_to_room`."""
    mimetype = (uploaded.content_type or "application/octet-stream").split(";")[0].strip()
    major = mimetype.split("/", 1)[0]
    msgtype = {"image": "m.image", "video": "m.video", "audio": "m.audio"}.get(major, "m.file")
    name = uploaded.name or "file"
    info: dict[str, Any] = {"mimetype": mimetype, "size": uploaded.size}
    if msgtype == "m.image" and (facts := image_facts(uploaded)):
        info.update(facts)
    content: dict[str, Any] = {"msgtype": msgtype, "body": name, "info": info}
    if encrypted is not None:
        content["file"] = encrypted["file"]
        if "thumbnail_file" in encrypted:
            info["thumbnail_file"] = encrypted["thumbnail_file"]
            info["thumbnail_info"] = encrypted["thumbnail_info"]
    else:
        content["url"] = content_uri
    caption = caption.strip()
    if caption:
        # Spec (v1.10 captions): `filename` present and different from `body` → body is a caption.
        content["body"] = caption
        content["filename"] = name
        if formatted := render_markdown(caption):
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = formatted
    return content


async def upload(session: DeviceHandle, uploaded: UploadedFile) -> str:
    """Upload to the media repository (after checking the homeserver's size limit); returns
    the `mxc://` URI."""
    limit = await upload_limit(session)
    if limit and uploaded.size > limit:
        raise errors.MatrixError(too_large_message(uploaded.size, limit), errcode="M_TOO_LARGE")

    async def chunks() -> AsyncIterator[bytes]:
        uploaded.seek(0)
        for chunk in uploaded.chunks(256 * 1024):
            yield chunk

    return await session.api.upload(
        chunks(),
        size=uploaded.size,
        content_type=uploaded.content_type or "application/octet-stream",
        filename=uploaded.name or "file",
        too_large=too_large_message(uploaded.size, limit)
        if limit
        else _("This file is too large for the homeserver."),
    )


THUMBNAIL_BOX = (800, 600)


def _thumbnail(uploaded: UploadedFile) -> tuple[bytes, dict[str, Any]] | None:
    """A smaller copy of a large picture (an encrypted room's homeserver cannot make one)."""
    try:
        from PIL import Image

        uploaded.seek(0)
        with Image.open(uploaded) as image:
            if image.width <= THUMBNAIL_BOX[0] and image.height <= THUMBNAIL_BOX[1]:
                return None
            image.thumbnail(THUMBNAIL_BOX)
            kind = "PNG" if image.mode in ("RGBA", "LA", "P") else "JPEG"
            if kind == "JPEG" and image.mode != "RGB":
                image = image.convert("RGB")
            out = io.BytesIO()
            image.save(out, kind)
            data = out.getvalue()
            info = {
                "w": image.width,
                "h": image.height,
                "mimetype": f"image/{kind.lower()}",
                "size": len(data),
            }
            return data, info
    except Exception:
        return None
    finally:
        uploaded.seek(0)


async def _upload_encrypted(
    session: DeviceHandle, chunks: Iterable[bytes], size: int, limit: int | None
) -> dict[str, Any]:
    """Encrypt as it streams to the media repository (as `application/octet-stream`, with no
    file name: the homeserver learns nothing of what it holds); the `file` object."""
    encryptor = AttachmentEncryptor()

    async def encrypted() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield encryptor.update(chunk)

    mxc = await session.api.upload(
        encrypted(),
        size=size,
        content_type="application/octet-stream",
        filename="",
        too_large=too_large_message(size, limit)
        if limit
        else _("This file is too large for the homeserver."),
    )
    return encryptor.finalize(url=mxc)


async def upload_to_room(
    session: DeviceHandle, room_id: str, uploaded: UploadedFile
) -> tuple[str | None, dict[str, Any] | None]:
    """Upload a file for a message in `room_id`: (its `mxc://` URI, None) in a clear room;
    in an encrypted one (None, {"file": …}, with an encrypted thumbnail of a large picture)."""
    if not session.room_encrypted(room_id):
        return await upload(session, uploaded), None
    limit = await upload_limit(session)
    if limit and uploaded.size > limit:
        raise errors.MatrixError(too_large_message(uploaded.size, limit), errcode="M_TOO_LARGE")
    uploaded.seek(0)
    result: dict[str, Any] = {
        "file": await _upload_encrypted(session, uploaded.chunks(256 * 1024), uploaded.size, limit)
    }
    if (uploaded.content_type or "").startswith("image/") and (thumbnail := _thumbnail(uploaded)):
        data, info = thumbnail
        result["thumbnail_file"] = await _upload_encrypted(session, [data], len(data), limit)
        result["thumbnail_info"] = info
    return None, result
