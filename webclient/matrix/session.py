"""`MatrixSession`: one Matrix device's sync loop, shared by every page that shows it.

Ten tabs of one person, or a hundred kiosk screens on one display account, cost the
homeserver one long-poll: pages attach to the session of their device and detach, and the
session stops a while after the last one left. Each event is rendered once here and the
same HTML goes to every viewer through the device's channel-layer group.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from channels.layers import get_channel_layer
from django.conf import settings
from nio import SyncResponse

from webclient.timeline.relations import RoomEvents

from . import errors
from .client import call, check, make_client
from .models import Credential
from .roomstate import RoomList
from .syncjson import global_account_data, rooms_to_json

logger = logging.getLogger("webclient.matrix")

# Lazy-loaded members keep the first sync small in big rooms; the timeline limit bounds
# what a sync after a long sleep carries (the rest is a gap the page fills).
SYNC_FILTER: dict[str, Any] = {
    "room": {
        "state": {"lazy_load_members": True},
        "timeline": {"limit": 30, "lazy_load_members": True},
    },
    "presence": {"not_types": ["*"]},
}
HISTORY_FILTER = {"lazy_load_members": True}
RECENT_PER_ROOM = 200


def sync_filter() -> dict[str, Any]:
    """The filter with the configured timeline limit (a small one in tests forces gaps)."""
    timeline = {"limit": settings.MATRIX_SYNC_TIMELINE_LIMIT, "lazy_load_members": True}
    return {**SYNC_FILTER, "room": {**SYNC_FILTER["room"], "timeline": timeline}}


MAX_BACKOFF = 60.0


class MatrixSession:
    """The live connection of one device. Create through `registry.session_for`."""

    def __init__(self, credential: Credential, on_stop: Callable[[MatrixSession], None]):
        self.credential_id = credential.pk
        self.group = credential.group_name
        self.screens_group = credential.screens_group
        # The name and topic last pushed to open pages, per room.
        self._headers: dict[str, tuple[str, str]] = {}
        self.user_id = credential.user_id
        self.device_id = credential.device_id
        self.homeserver = credential.homeserver
        self.client = make_client(
            credential.homeserver, credential.user_id, credential.device_id, credential.access_token
        )
        self.sync_token: str | None = credential.sync_token or None
        self.rooms = RoomList.from_dict(credential.rooms_snapshot or {})
        # A new epoch per session object: positions from a page rendered by an earlier
        # process (or an earlier session) cannot be replayed and mean "fetch afresh".
        self.epoch = secrets.token_hex(6)
        self.position = 0
        self.status = "starting"
        self.status_message = ""
        self.viewers = 0
        self.closed = False
        self.sync_count = 0
        self.synced = asyncio.Event()
        if self.sync_token:
            self.synced.set()
        self._recent: dict[str, deque[dict[str, Any]]] = {}
        self._timelines: dict[str, RoomEvents] = {}
        # Position of each room's last name/topic change, for pages rendered before it.
        self.header_changed: dict[str, int] = {}
        self.receipts: dict[str, dict[str, tuple[str, int]]] = {}
        self.typing: dict[str, list[str]] = {}
        self.fully_read: dict[str, str | None] = {}
        self._last_read: dict[str, str] = {}
        self._floor: dict[str, int] = {}
        self._on_stop = on_stop
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._layer = get_channel_layer()

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        # A fresh context: the session outlives the request that started it, and must not
        # inherit that request's thread executor (asgiref keeps it in a context variable).
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"sync {self.group}", context=contextvars.Context()
        )
        self._arm_idle_timer()

    def attach(self) -> None:
        self.viewers += 1
        if self._idle:
            self._idle.cancel()
            self._idle = None

    def detach(self) -> None:
        self.viewers = max(0, self.viewers - 1)
        if self.viewers == 0:
            self._arm_idle_timer()

    def touch(self) -> None:
        """A page was rendered: keep the loop alive a while even with no websocket."""
        if self.viewers == 0:
            self._arm_idle_timer()

    def _arm_idle_timer(self) -> None:
        if self._idle:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(
            settings.MATRIX_SESSION_IDLE_SECONDS,
            lambda: loop.create_task(self._stop_if_idle()),
            context=contextvars.Context(),
        )

    async def _stop_if_idle(self) -> None:
        if self.viewers == 0 and not self.closed:
            logger.info("stopping idle sync loop of %s", self.group)
            await self.stop()

    async def stop(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._on_stop(self)
        if self._idle:
            self._idle.cancel()
        task = self._task
        if task and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: S110 - stopping anyway
                pass
        await self.client.close()

    # -- the sync loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 1.0
        while not self.closed:
            first = self.sync_token is None
            try:
                response = await asyncio.wait_for(
                    self.client.sync(
                        timeout=0 if first else settings.MATRIX_SYNC_TIMEOUT_MS,
                        sync_filter=sync_filter(),
                        since=self.sync_token,
                    ),
                    timeout=600 if first else settings.MATRIX_SYNC_TIMEOUT_MS / 1000 + 30,
                )
                check(response)
            except asyncio.CancelledError:
                raise
            except errors.MatrixError as exc:
                if exc.is_unknown_token:
                    await self._token_revoked()
                    return
                if exc.is_rate_limit:
                    wait = (exc.retry_after_ms or 5000) / 1000
                else:
                    wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                await self._set_status("retrying", exc.message, wait)
                await asyncio.sleep(wait)
                continue
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                message = errors.unreachable(self.homeserver, type(exc).__name__).message
                await self._set_status("offline", message, wait)
                await asyncio.sleep(wait)
                continue
            except Exception:
                # A bug in our handling must not spin the loop or kill it silently.
                logger.exception("sync of %s failed", self.group)
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                await asyncio.sleep(wait)
                continue
            backoff = 1.0
            try:
                await self._handle_sync(response, first)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("handling a sync of %s failed", self.group)
                await asyncio.sleep(1)

    async def _set_status(self, status: str, message: str, retry_in: float) -> None:
        self.status, self.status_message = status, message
        logger.warning("sync of %s: %s (retrying in %.0fs)", self.group, message, retry_in)
        await self._to_all(
            {"type": "session.status", "state": status, "message": message, "retry_in": retry_in},
        )

    async def _handle_sync(self, response: SyncResponse, first: bool) -> None:
        self.sync_count += 1
        if self.status != "live":
            self.status, self.status_message = "live", ""
            await self._to_all({"type": "session.status", "state": "live", "message": ""})
        rooms_json = rooms_to_json(response.rooms)
        counts = {
            rid: (r.notification_count, r.highlight_count) for rid, r in self.rooms.rooms.items()
        }
        placed = self.rooms.placements(self.user_id)
        changed = self.rooms.apply_sync(rooms_json, self.user_id)
        for data in global_account_data(getattr(response, "account_data_events", None) or []):
            if data["type"] == "m.direct":
                changed |= self.rooms.apply_direct_map(data["content"])
        # A space gaining or losing a child moves rooms between sections of the list.
        now = self.rooms.placements(self.user_id)
        changed |= {r for r in placed.keys() | now.keys() if placed.get(r) != now.get(r)}
        if not first:
            await self._notify(rooms_json, counts)
        for room_id, joined in rooms_json.get("join", {}).items():
            await self._ephemeral(room_id, joined, publish=not first)
            timeline = joined.get("timeline", {})
            events = timeline.get("events", [])
            if first:
                # The first sync only fills the room list and what relations know: pages
                # load their history themselves.
                self.timeline(room_id).add_all(events)
                continue
            if not events and not timeline.get("limited"):
                continue
            payload = await self._render_new(room_id, events)
            payload.update(
                {
                    "type": "room.events",
                    "room_id": room_id,
                    "limited": bool(timeline.get("limited")),
                    "prev_batch": timeline.get("prev_batch"),
                    "epoch": self.epoch,
                    "pos": self._next_position(),
                }
            )
            self._remember(room_id, payload)
            await self._to_all(payload)
        if changed:
            await self._publish_rooms(changed)
        self.sync_token = response.next_batch
        await Credential.objects.filter(pk=self.credential_id).aupdate(
            sync_token=self.sync_token, rooms_snapshot=self.rooms.to_dict()
        )
        self.synced.set()

    async def _ephemeral(self, room_id: str, joined: dict[str, Any], publish: bool) -> None:
        """Typing and read receipts: kept per room, pushed to open pages when they change."""
        receipts = self.receipts.setdefault(room_id, {})
        moved: dict[str, str] = {}
        for event in joined.get("ephemeral", {}).get("events", []):
            content = event.get("content") or {}
            if event.get("type") == "m.typing":
                users = [u for u in content.get("user_ids", []) if u != self.user_id]
                if users != self.typing.get(room_id, []):
                    self.typing[room_id] = users
                    if publish:
                        await self._to_all(
                            {
                                "type": "room.typing",
                                "room_id": room_id,
                                "users": self.names(room_id, users),
                            },
                        )
            elif event.get("type") == "m.receipt":
                for event_id, kinds in content.items():
                    for kind in ("m.read", "m.read.private"):
                        for user_id, data in (kinds.get(kind) or {}).items():
                            ts = data.get("ts", 0) if isinstance(data, dict) else 0
                            current = receipts.get(user_id)
                            if current is None or (ts or 0) >= current[1]:
                                receipts[user_id] = (event_id, ts or 0)
                                moved[user_id] = event_id
        for event in joined.get("account_data", {}).get("events", []):
            if event.get("type") == "m.fully_read":
                self.fully_read[room_id] = event.get("content", {}).get("event_id")
        if moved and publish:
            await self._layer.group_send(
                self.group,
                {
                    "type": "room.receipts",
                    "room_id": room_id,
                    "receipts": self.receipt_view(room_id, moved),
                },
            )

    def names(self, room_id: str, user_ids: list[str]) -> list[str]:
        from webclient.timeline.names import member_display_name

        members = self.members(room_id)
        return [member_display_name(u, members) for u in user_ids]

    def receipt_view(
        self, room_id: str, receipts: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Who has read up to which event (others only), for pages to place small avatars."""
        from webclient.timeline.avatars import member_avatar
        from webclient.timeline.names import member_display_name

        if receipts is None:
            receipts = {u: e for u, (e, _) in self.receipts.get(room_id, {}).items()}
        members = self.members(room_id)
        view = []
        for user_id, event_id in receipts.items():
            if user_id == self.user_id:
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

    async def mark_read(self, room_id: str, event_id: str) -> None:
        """Move the read receipt and the fully-read marker (the server then clears the
        room's unread counts, which every tab of this login sees through sync)."""
        if self._last_read.get(room_id) == event_id:
            return
        self._last_read[room_id] = event_id
        await self.api(
            "POST",
            f"/rooms/{quote(room_id, safe='')}/read_markers",
            body={"m.fully_read": event_id, "m.read": event_id},
            action="Marking the room as read",
        )

    async def set_typing(self, room_id: str, typing: bool) -> None:
        body: dict[str, Any] = {"typing": typing}
        if typing:
            body["timeout"] = 6000
        await self.api(
            "PUT",
            f"/rooms/{quote(room_id, safe='')}/typing/{quote(self.user_id, safe='')}",
            body=body,
        )

    async def fully_read_marker(self, room_id: str) -> str | None:
        """The user's fully-read marker in a room (account data), for the "new messages" line."""
        if room_id in self.fully_read:
            return self.fully_read[room_id]
        try:
            data = await self.api(
                "GET",
                f"/user/{quote(self.user_id, safe='')}/rooms/{quote(room_id, safe='')}"
                "/account_data/m.fully_read",
            )
        except errors.MatrixError:
            return None
        marker = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        self.fully_read[room_id] = marker
        return marker

    def timeline(self, room_id: str) -> RoomEvents:
        """What this session knows of a room's events and their relations."""
        store = self._timelines.get(room_id)
        if store is None:
            store = self._timelines[room_id] = RoomEvents(room_id)
        return store

    def members(self, room_id: str) -> dict[str, dict]:
        summary = self.rooms.rooms.get(room_id)
        return summary.members if summary else {}

    async def _render_new(self, room_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Add new events to the room's store and render their tiles, and the tiles of the
        events they change (edits, reactions, redactions, thread replies)."""
        from webclient.timeline.render import render_tiles, tile_ids

        store = self.timeline(room_id)
        changed: set[str] = set()
        for event in events:
            changed |= store.add(event)
        new_ids = tile_ids(events)
        await self.fetch_missing_replies(room_id, new_ids)
        changed -= set(new_ids)
        members = self.members(room_id)
        items = render_tiles(store, new_ids, members)
        updates = render_tiles(store, [e for e in store.events if e in changed], members)
        for item in updates:
            item["replace"] = True
        return {"events": items + updates}

    async def fetch_missing_replies(self, room_id: str, event_ids: list[str]) -> None:
        """Load the events that tiles reply to, when they are not known yet."""
        from webclient.timeline.relations import reply_target

        store = self.timeline(room_id)
        wanted = {
            target
            for event_id in event_ids
            if (event := store.get(event_id))
            and (target := reply_target(event))
            and target not in store
        }
        for target in list(wanted)[:20]:
            try:
                event = await self.api(
                    "GET",
                    f"/rooms/{quote(room_id, safe='')}/event/{quote(target, safe='')}",
                )
            except errors.MatrixError:
                continue
            store.add(event)

    async def _publish_rooms(self, changed: set[str]) -> None:
        from webclient.rooms.render import room_list_updates

        await self._layer.group_send(
            self.group, {"type": "session.unread", "total": self.unread_total()}
        )
        for room_id in changed:
            # Open pages of the room keep their header (name, topic) current; only a real
            # change is pushed (a new message changes the room's entry, not its header).
            room = self.rooms.rooms.get(room_id)
            if room is not None and room.membership == "join":
                header = (room.display_name(self.user_id), room.topic or "")
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
                    },
                )
        for update in room_list_updates(self.rooms, changed, self.user_id):
            await self._layer.group_send(
                self.group,
                {
                    "type": "room.summary",
                    **update,
                    "epoch": self.epoch,
                    "pos": self._next_position(),
                },
            )

    async def _notify(self, rooms_json: dict[str, Any], before: dict[str, tuple[int, int]]) -> None:
        """Tell open pages about messages the homeserver's push rules say to notify about
        (its notification counts went up), so a page may show a browser notification."""
        from webclient.matrix.roomstate import message_preview
        from webclient.timeline.names import member_display_name

        for room_id in rooms_json.get("join", {}):
            room = self.rooms.rooms.get(room_id)
            if room is None:
                continue
            old_notes, old_highlights = before.get(room_id, (0, 0))
            if room.notification_count <= old_notes and room.highlight_count <= old_highlights:
                continue
            events = rooms_json["join"][room_id].get("timeline", {}).get("events", [])
            newest = next(
                (
                    e
                    for e in reversed(events)
                    if e.get("sender") != self.user_id and e.get("type") == "m.room.message"
                ),
                None,
            )
            if newest is None:
                continue
            sender = member_display_name(str(newest.get("sender", "")), room.members)
            content = newest.get("content") if isinstance(newest.get("content"), dict) else {}
            await self._layer.group_send(
                self.group,
                {
                    "type": "room.notify",
                    "room_id": room_id,
                    "room_name": room.display_name(self.user_id),
                    "sender": sender,
                    "preview": message_preview(content, sender)[:200],
                    "event_id": str(newest.get("event_id", "")),
                    "highlight": room.highlight_count > old_highlights,
                },
            )

    def unread_total(self) -> int:
        return sum(
            r.notification_count for r in self.rooms.rooms.values() if r.membership == "join"
        )

    async def _token_revoked(self) -> None:
        logger.info("access token of %s was revoked; ending its sessions", self.group)
        await Credential.objects.filter(pk=self.credential_id).adelete()
        await self._to_all({"type": "session.ended", "reason": "revoked"})
        await self.stop()

    # -- replay for pages that connect after they were rendered -----------------------------

    async def _to_all(self, message: dict[str, Any]) -> None:
        """To the device's signed-in pages and to its screens (embeds, kiosks)."""
        await self._layer.group_send(self.group, message)
        await self._layer.group_send(self.screens_group, message)

    def _next_position(self) -> int:
        self.position += 1
        return self.position

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

    # -- actions ----------------------------------------------------------------------------

    async def request(self, awaitable_factory: Callable[[], Any], action: str | None = None) -> Any:
        """Run a homeserver request, waiting out rate limits (up to a minute in all)."""
        waited = 0.0
        while True:
            try:
                return await call(awaitable_factory(), self.homeserver, action)
            except errors.MatrixError as exc:
                if exc.is_unknown_token:
                    await self._token_revoked()
                    raise
                if exc.is_rate_limit:
                    wait = (exc.retry_after_ms or 2000) / 1000
                    if waited + wait <= 60:
                        waited += wait
                        await asyncio.sleep(wait)
                        continue
                raise

    async def _raw_once(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None,
        body: Any,
        action: str | None,
        prefix: str,
    ) -> dict[str, Any]:
        url = prefix + path + (f"?{urlencode(query)}" if query else "")
        headers = {
            "Authorization": f"Bearer {self.client.access_token}",
            "Content-Type": "application/json",
        }
        data = json.dumps(body) if body is not None else None
        response = await self.client.send(method, url, data, headers)
        try:
            payload = await response.json(content_type=None)
        except ValueError:
            payload = None
        if response.status >= 400 or not isinstance(payload, dict):
            payload = payload if isinstance(payload, dict) else {}
            raise errors.from_response(
                payload.get("errcode"),
                response.status,
                payload.get("error"),
                payload.get("retry_after_ms"),
                action=action,
            )
        return payload

    async def api(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        action: str | None = None,
        prefix: str = "/_matrix/client/v3",
    ) -> dict[str, Any]:
        """A client-server API call that returns the spec's JSON as is (nio drops parts of
        some responses, such as the lazy-loaded `state` of `/messages`)."""
        return await self.request(lambda: self._raw_once(method, path, query, body, action, prefix))

    async def messages(
        self, room_id: str, *, from_token: str | None, limit: int, direction: str = "b"
    ) -> dict[str, Any]:
        query = {"dir": direction, "limit": str(limit), "filter": json.dumps(HISTORY_FILTER)}
        if from_token:
            query["from"] = from_token
        page = await self.api(
            "GET",
            f"/rooms/{quote(room_id, safe='')}/messages",
            query=query,
            action="Loading messages",
        )
        chunk = [e for e in page.get("chunk") or [] if isinstance(e, dict)]
        store = self.timeline(room_id)
        store.add_all(reversed(chunk) if direction == "b" else chunk)
        return page

    async def send_message(
        self, room_id: str, content: dict[str, Any], txn_id: str, event_type: str = "m.room.message"
    ) -> str:
        """Send with the caller's transaction ID, so a retry can never post twice."""
        response = await self.request(
            lambda: self.client.room_send(room_id, event_type, content, tx_id=txn_id),
            None,
        )
        return response.event_id

    async def redact(self, room_id: str, event_id: str, reason: str = "") -> None:
        body = {"reason": reason} if reason else {}
        txn = "wcr" + secrets.token_hex(10)
        await self.api(
            "PUT",
            f"/rooms/{quote(room_id, safe='')}/redact/{quote(event_id, safe='')}/{txn}",
            body=body,
            action="Deleting the message",
        )

    async def toggle_reaction(self, room_id: str, event_id: str, key: str) -> None:
        """React with `key`, or take the reaction back when this user already gave it."""
        store = self.timeline(room_id)
        mine = store.my_reaction(event_id, key, self.user_id)
        if mine:
            await self.redact(room_id, mine)
            return
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        try:
            await self.send_message(
                room_id, content, "wca" + secrets.token_hex(10), event_type="m.reaction"
            )
        except errors.MatrixError as exc:
            if exc.errcode != "M_DUPLICATE_ANNOTATION":
                raise
            # We reacted before this process knew it: find that reaction and take it back.
            relations = await self.api(
                "GET",
                f"/rooms/{quote(room_id, safe='')}/relations/{quote(event_id, safe='')}"
                "/m.annotation/m.reaction",
                prefix="/_matrix/client/v1",
                query={"limit": "100"},
            )
            store.add_all(relations.get("chunk") or [])
            if mine := store.my_reaction(event_id, key, self.user_id):
                await self.redact(room_id, mine)
