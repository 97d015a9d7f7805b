"""Image packs (spec v1.19, MSC2545): the custom emoticons and stickers usable in a room,
for the emoji and sticker pickers.

Sources, in the order the spec recommends presenting them: the packs the user enabled
everywhere (`m.image_pack.rooms` account data: room ID -> {state key: {}}), the room's own
packs (`m.room.image_pack` state events, one per state key), then the packs of the room's
canonical space (`m.space.parent` with `canonical: true`), recursively, when the user is
in that space. A pack appearing twice is listed once; packs without images are left out.
The unstable names many clients still send (`im.ponies.room_emotes`,
`im.ponies.emote_rooms`) are read too. Everything in a pack is sender-controlled text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from . import errors, media

if TYPE_CHECKING:
    from .session import MatrixSession

PACK_TYPES = ("m.room.image_pack", "im.ponies.room_emotes")
ROOMS_TYPES = ("m.image_pack.rooms", "im.ponies.emote_rooms")
SHORTCODE_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
USAGES = frozenset({"emoticon", "sticker"})
MAX_SPACE_DEPTH = 3
MAX_IMAGES = 1000


@dataclass(frozen=True)
class PackImage:
    shortcode: str
    mxc: str
    url: str  # through this client's media proxy
    body: str  # the alt text of an emote, the body of a sticker
    info: dict[str, Any]
    usage: frozenset[str]
    valid_shortcode: bool  # malformed ones are still shown, so they can be corrected


@dataclass
class ImagePack:
    room_id: str
    state_key: str
    display_name: str
    avatar_url: str | None
    attribution: str
    usage: frozenset[str]
    images: list[PackImage] = field(default_factory=list)
    source: str = "room"  # "user" (enabled everywhere), "room", "space"

    def emoticons(self) -> list[PackImage]:
        return [i for i in self.images if "emoticon" in i.usage]

    def stickers(self) -> list[PackImage]:
        return [i for i in self.images if "sticker" in i.usage]


def _usage(value: Any, default: frozenset[str] = USAGES) -> frozenset[str]:
    if not isinstance(value, list):
        return default
    usage = frozenset(u for u in value if u in USAGES)
    return usage or default


def parse_pack(
    room_id: str,
    state_key: str,
    content: Mapping[str, Any],
    room_name: str = "",
    room_avatar: str | None = None,
    source: str = "room",
) -> ImagePack | None:
    """A pack from its state event content; None when it has no usable image."""
    meta = content.get("pack") if isinstance(content.get("pack"), dict) else {}
    usage = _usage(meta.get("usage"))
    name = meta.get("display_name")
    avatar = meta.get("avatar_url")
    attribution = meta.get("attribution")
    pack = ImagePack(
        room_id=room_id,
        state_key=state_key,
        display_name=name if isinstance(name, str) and name.strip() else room_name or state_key,
        avatar_url=media.download_url(avatar) if isinstance(avatar, str) else room_avatar,
        attribution=attribution if isinstance(attribution, str) else "",
        usage=usage,
        source=source,
    )
    images = content.get("images")
    if not isinstance(images, dict):
        return None
    for shortcode, image in list(images.items())[:MAX_IMAGES]:
        if not isinstance(shortcode, str) or not shortcode or not isinstance(image, dict):
            continue
        mxc = image.get("url")
        url = media.download_url(mxc)
        if not isinstance(mxc, str) or url is None:
            continue
        body = image.get("body")
        info = image.get("info") if isinstance(image.get("info"), dict) else {}
        pack.images.append(
            PackImage(
                shortcode=shortcode[:100],
                mxc=mxc,
                url=url,
                body=body if isinstance(body, str) and body else shortcode[:100],
                info=dict(info),
                usage=_usage(image.get("usage"), usage),
                valid_shortcode=SHORTCODE_RE.fullmatch(shortcode) is not None,
            )
        )
    return pack if pack.images else None


def packs_in_state(
    room_id: str, state: Iterable[Mapping[str, Any]], source: str = "room"
) -> list[ImagePack]:
    """The packs among a room's state events, sorted by state key (stable names first)."""
    room_name, room_avatar = "", None
    found: dict[tuple[str, str], tuple[str, Mapping[str, Any]]] = {}
    for event in state:
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        if event.get("type") == "m.room.name" and isinstance(content.get("name"), str):
            room_name = content["name"]
        elif event.get("type") == "m.room.avatar":
            room_avatar = media.download_url(content.get("url"))
        elif event.get("type") in PACK_TYPES and isinstance(event.get("state_key"), str):
            found[(str(event["type"]), event["state_key"])] = (event["state_key"], content)
    packs = []
    for (_event_type, _key), (state_key, content) in sorted(
        found.items(), key=lambda item: (PACK_TYPES.index(item[0][0]), item[0][1])
    ):
        pack = parse_pack(room_id, state_key, content, room_name, room_avatar, source)
        if pack is not None:
            packs.append(pack)
    return packs


def enabled_rooms(account_data: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(room ID, state key) of the packs the user enabled everywhere."""
    enabled: list[tuple[str, str]] = []
    for content in account_data:
        rooms = content.get("rooms") if isinstance(content, dict) else None
        if not isinstance(rooms, dict):
            continue
        for room_id, keys in rooms.items():
            if isinstance(room_id, str) and isinstance(keys, dict):
                enabled.extend((room_id, k) for k in keys if isinstance(k, str))
    return list(dict.fromkeys(enabled))


def canonical_parent(state: Iterable[Mapping[str, Any]]) -> str | None:
    for event in state:
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        if (
            event.get("type") == "m.space.parent"
            and content.get("canonical") is True
            and isinstance(content.get("via"), list)
            and content["via"]
            and isinstance(event.get("state_key"), str)
        ):
            return event["state_key"]
    return None


async def _state(session: MatrixSession, room_id: str) -> list[dict[str, Any]]:
    try:
        return await session.api.room_state(room_id, action=_("Loading the image packs"))
    except errors.MatrixError:
        return []


async def packs_for_room(session: MatrixSession, room_id: str) -> list[ImagePack]:
    """Every pack usable in a room, in the spec's order (see the module's docstring)."""
    joined = {r.room_id for r in session.rooms.rooms.values() if r.membership == "join"} | {room_id}
    states: dict[str, list[dict[str, Any]]] = {}

    async def state_of(rid: str) -> list[dict[str, Any]]:
        if rid not in states:
            states[rid] = await _state(session, rid)
        return states[rid]

    account = []
    for event_type in ROOMS_TYPES:
        try:
            account.append(await session.api.account_data(session.user_id, event_type))
        except errors.MatrixError:
            continue
    packs: list[ImagePack] = []
    for rid, key in enabled_rooms(account):
        if rid not in joined:
            continue  # its images cannot be reached
        for pack in packs_in_state(rid, await state_of(rid), source="user"):
            if pack.state_key == key:
                packs.append(pack)
    packs.extend(packs_in_state(room_id, await state_of(room_id)))
    seen_spaces = {room_id}
    parent = canonical_parent(await state_of(room_id))
    for _depth in range(MAX_SPACE_DEPTH):
        if parent is None or parent in seen_spaces or parent not in joined:
            break
        seen_spaces.add(parent)
        space_state = await state_of(parent)
        packs.extend(packs_in_state(parent, space_state, source="space"))
        parent = canonical_parent(space_state)
    unique: dict[tuple[str, str], ImagePack] = {}
    for pack in packs:
        unique.setdefault((pack.room_id, pack.state_key), pack)
    return list(unique.values())
