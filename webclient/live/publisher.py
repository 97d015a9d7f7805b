"""From a synced event to every open page of its device: render once, fan out.

A `MatrixSession` is handed one `DevicePublisher` (settings.MATRIX_SESSION_PUBLISHER). For
each sync it renders the new tiles, and the tiles those events change (edits, reactions,
redactions, thread replies), once, through `timeline/`, and sends the same fragments to the
device's channel-layer groups: `device.<id>` (the signed-in pages of the login) and
`device.<id>.screens` (embeds and kiosk screens, which get no person's unread counts,
notifications or room list). Consumers (`consumer.py`) forward what concerns their page.

Text in tiles depends on the reader's language and time zone: each page names its pair (a
*variant*, `locale.py`) when its socket connects, and tiles are rendered once per variant in
use, normally one for all of a device's pages; a push carries the first variant's fragments,
and the others' in `variants` (rarely any).

Every push is numbered (`position`, within an `epoch` that is new per session object), and
the last pushes per room are kept, so a page that connects after it was rendered is sent
exactly what it missed, or told to fetch afresh (`replay`).
"""

from __future__ import annotations

import secrets
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from webclient.matrix.models import Credential
from webclient.matrix.names import member_display_name
from webclient.matrix.relations import tile_ids
from webclient.matrix.roomstate import RoomSummary, message_preview
from webclient.matrix.session import MatrixSession
from webclient.timeline.avatars import member_avatar
from webclient.timeline.render import render_tiles
from webclient.timeline.roomlist import room_list_updates
from webclient.timeline.viewmodels import topic_html

from . import locale

RECENT_PER_ROOM = 200


def device_group(credential_id: int) -> str:
    """The channel-layer group of a login's own pages (tabs, and embeds read as oneself)."""
    return f"device.{credential_id}"


def screens_group(credential_id: int) -> str:
    """The group of the device's viewers without a login of their own (embeds through a
    shared account, kiosk screens): room events, headers, typing and status only."""
    return f"device.{credential_id}.screens"


async def end_pages(credential_id: int, reason: str) -> None:
    """Tell every open page of a login that it ended: tabs go to the login page (with
    `reason`), embeds reload, kiosk screens show the revoked page."""
    layer = get_channel_layer()
    for group in (device_group(credential_id), screens_group(credential_id)):
        await layer.group_send(group, {"type": "session.ended", "reason": reason})


class DevicePublisher:
    """Renders what a device's session syncs and sends it to the device's pages."""

    def __init__(self, session: MatrixSession, credential: Credential) -> None:
        self.session = session
        self.group = device_group(credential.pk)
        self.screens_group = screens_group(credential.pk)
        # A new epoch per session object: positions from a page rendered by an earlier
        # process (or an earlier session) cannot be replayed and mean "fetch afresh".
        self.epoch = secrets.token_hex(6)
        self.position = 0
        self._recent: dict[str, deque[dict[str, Any]]] = {}
        self._floor: dict[str, int] = {}
        # The name, topic and pins last pushed to open pages, per room, and the position of each
        # room's last change of them (for pages rendered before it).
        self._headers: dict[str, tuple[str, str, str, str]] = {}
        self.header_changed: dict[str, int] = {}
        self._layer = get_channel_layer()
        # The language and time zone pairs the device's open pages read in (`locale.py`),
        # counted: tiles are rendered once per pair in use, normally one. With no page
        # open, the login's own choice (or the defaults).
        self.variants: Counter[str] = Counter()
        self.default_variant = locale.variant(
            locale.supported_language(credential.language) or settings.LANGUAGE_CODE,
            locale.valid_zone(credential.time_zone) or locale.DEFAULT_ZONE,
        )

    async def _to_all(self, message: dict[str, Any]) -> None:
        """To the device's signed-in pages and to its screens (embeds, kiosks)."""
        await self._layer.group_send(self.group, message)
        await self._layer.group_send(self.screens_group, message)

    async def _to_owner(self, message: dict[str, Any]) -> None:
        """To the login's own pages only (a person's counts, notifications, room list)."""
        await self._layer.group_send(self.group, message)

    def _next_position(self) -> int:
        self.position += 1
        return self.position

    # -- what the session tells ---------------------------------------------------------------

    def worded(self, words: Callable[[], str]) -> dict[str, str]:
        """`words()` in each language and zone the device's pages read in, the most read
        first (the sync loop that met a problem has no reader of its own)."""
        texts = {}
        for variant in self.rendering_variants():
            with locale.rendering_in(variant):
                texts[variant] = words()
        return texts

    async def status(self, state: str, words: Callable[[], str], retry_in: float | None) -> None:
        texts = self.worded(words)
        first = next(iter(texts))
        frame: dict[str, Any] = {
            "type": "session.status",
            "state": state,
            "message": texts[first],
            "variant": first,
            "messages": texts,
        }
        if retry_in is not None:
            frame["retry_in"] = retry_in
        await self._to_all(frame)

    def want(self, variant: str, delta: int) -> None:
        """A page reading in `variant` opened (+1) or closed (-1)."""
        variant = locale.parse_variant(variant)
        self.variants[variant] += delta
        if self.variants[variant] <= 0:
            del self.variants[variant]

    def rendering_variants(self) -> list[str]:
        """The variants to render in, the most read first."""
        return [v for v, _count in self.variants.most_common()] or [self.default_variant]

    async def room_events(
        self,
        room_id: str,
        events: list[dict[str, Any]],
        changed: set[str],
        *,
        limited: bool,
        prev_batch: str | None,
    ) -> None:
        """Render the new tiles, and re-render the tiles they change, once for everyone."""
        store = self.session.timeline(room_id)
        members = self.session.members(room_id)
        new_ids = tile_ids(events)
        changed = changed - set(new_ids)
        changed_ids = [e for e in store.events if e in changed]
        rendered: dict[str, list[dict[str, Any]]] = {}
        for variant in self.rendering_variants():
            with locale.rendering_in(variant):
                items = render_tiles(store, new_ids, members)
                updates = render_tiles(store, changed_ids, members)
            for item in updates:
                item["replace"] = True
            rendered[variant] = items + updates
        primary, *others = rendered
        payload = {
            "type": "room.events",
            "events": rendered[primary],
            # Pages reading in another variant take theirs (consumer.room_events).
            "variant": primary,
            "room_id": room_id,
            "limited": limited,
            "prev_batch": prev_batch,
            "epoch": self.epoch,
            "pos": self._next_position(),
        }
        if others:
            payload["variants"] = {variant: rendered[variant] for variant in others}
        self._remember(room_id, payload)
        await self._to_all(payload)

    async def rooms_changed(self, room_ids: set[str]) -> None:
        session = self.session
        await self._to_owner({"type": "session.unread", "total": session.unread_total()})
        for room_id in room_ids:
            # Open pages of the room keep their header (name, topic) current; only a real
            # change is pushed (a new message changes the room's entry, not its header).
            room = session.rooms.rooms.get(room_id)
            if room is not None and room.membership == "join":
                header = (
                    room.display_name(session.user_id),
                    room.topic or "",
                    topic_html(room.topic, room.topic_html),
                    " ".join(room.pinned),
                )
                if self._headers.get(room_id) == header:
                    continue
                self._headers[room_id] = header
                self.header_changed[room_id] = self._next_position()
                await self._to_all(
                    {
                        "type": "room.header",
                        "room_id": room_id,
                        "name": header[0],
                        "topic": header[1],
                        "topic_html": header[2],
                        "pinned": room.pinned,
                    }
                )
        # The entries, once per language and zone the pages read in (like tiles).
        primary, *others = self.rendering_variants()
        with locale.rendering_in(primary):
            updates = room_list_updates(session.rooms, room_ids, session.user_id)
        translated = []
        for variant in others:
            with locale.rendering_in(variant):
                translated.append(
                    (variant, room_list_updates(session.rooms, room_ids, session.user_id))
                )
        for index, update in enumerate(updates):
            message = {
                "type": "room.summary",
                **update,
                "variant": primary,
                "epoch": self.epoch,
                "pos": self._next_position(),
            }
            if translated:
                message["variants"] = {
                    variant: {"html": other[index]["html"], "sections": other[index]["sections"]}
                    for variant, other in translated
                }
            await self._to_owner(message)

    async def notify(self, room: RoomSummary, event: dict[str, Any], highlight: bool) -> None:
        sender = member_display_name(str(event.get("sender", "")), room.members)
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        previews = self.worded(lambda: message_preview(content, sender)[:200])
        first = next(iter(previews))
        await self._to_owner(
            {
                "type": "room.notify",
                "room_id": room.room_id,
                "room_name": room.display_name(self.session.user_id),
                "sender": sender,
                "preview": previews[first],
                "variant": first,
                "previews": previews,
                "event_id": str(event.get("event_id", "")),
                "highlight": highlight,
            }
        )

    async def typing(self, room_id: str, user_ids: list[str]) -> None:
        await self._to_all(
            {"type": "room.typing", "room_id": room_id, "users": self.names(room_id, user_ids)}
        )

    async def receipts(self, room_id: str, moved: dict[str, str]) -> None:
        await self._to_owner(
            {
                "type": "room.receipts",
                "room_id": room_id,
                "receipts": self.receipt_view(room_id, moved),
            }
        )

    async def ended(self, reason: str) -> None:
        await self._to_all({"type": "session.ended", "reason": reason})

    async def announce(self) -> None:
        """This session's process has just become the device's owner (several processes):
        pages rendered from another owner's epoch catch up afresh."""
        await self._to_all({"type": "session.owner", "epoch": self.epoch})

    # -- what pages ask -------------------------------------------------------------------------

    def names(self, room_id: str, user_ids: list[str]) -> list[str]:
        members = self.session.members(room_id)
        return [member_display_name(u, members) for u in user_ids]

    def receipt_view(
        self, room_id: str, receipts: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Who has read up to which event (others only), for pages to place small avatars."""
        session = self.session
        if receipts is None:
            receipts = {u: e for u, (e, _) in session.receipts.get(room_id, {}).items()}
        members = session.members(room_id)
        view = []
        for user_id, event_id in receipts.items():
            if user_id == session.user_id:
                continue
            name = member_display_name(user_id, members)
            avatar = member_avatar(user_id, name, members)
            view.append(
                {
                    "user_id": user_id,
                    "event_id": event_id,
                    "name": name,
                    "src": avatar["src"],
                    "initial": avatar["initial"],
                    "colour": avatar["colour"],
                }
            )
        return view

    def _remember(self, room_id: str, payload: dict[str, Any]) -> None:
        recent = self._recent.setdefault(room_id, deque())
        recent.append(payload)
        while len(recent) > RECENT_PER_ROOM:
            self._floor[room_id] = recent.popleft()["pos"]

    def replay(self, room_id: str, epoch: str, after: int) -> list[dict[str, Any]] | None:
        """What a page rendered at position `after` missed; None when that cannot be known."""
        if epoch != self.epoch or after < self._floor.get(room_id, 0):
            return None
        return [p for p in self._recent.get(room_id, ()) if p["pos"] > after]


def of(session: MatrixSession) -> DevicePublisher:
    """The publisher of a session (the one `registry` handed it)."""
    publisher = session.publisher
    assert isinstance(publisher, DevicePublisher)
    return publisher
