"""`MatrixSession`: one Matrix device's sync loop and state, shared by every page that shows it.

Ten tabs of one person, or a hundred kiosk screens on one display account, cost the
homeserver one long-poll: pages attach to the session of their device and detach, and the
session stops a while after the last one left.

The session syncs, keeps what pages need (the room list, each room's events and their
relations, receipts, typing) and tells its `Publisher` what changed. It knows no pages and
renders nothing: the publisher it is handed (`settings.MATRIX_SESSION_PUBLISHER`,
`webclient.live.publisher.DevicePublisher`) renders each event once and fans it out.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from django.conf import settings
from django.utils.translation import gettext as _
from nio import SyncResponse

from . import errors, polls, power
from .api import SESSION_RATE_LIMIT_BUDGET, HomeserverApi, new_txn_id
from .crypto.lease import DeviceLease
from .encryption import DeviceCrypto
from .models import Credential, load_snapshot, seal_snapshot
from .nioclient import call, check, make_client
from .relations import RoomEvents, reply_target
from .roomstate import RoomList, RoomSummary
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
MAX_BACKOFF = 60.0
#: A send the homeserver could not take (unreachable, restarting) is asked again with its
#: transaction ID after this pause, doubled each time up to the most, for up to the budget.
SEND_RETRY_FIRST = 0.5
SEND_RETRY_MOST = 2.0
SEND_RETRY_BUDGET = 60.0
#: Replied-to events fetched at most per batch of new tiles.
MAX_REPLY_FETCHES = 20
#: Polls whose votes are fetched at most per batch of tiles, and pages of 100 per poll.
MAX_POLL_FETCHES = 10
MAX_POLL_PAGES = 10


def sync_filter() -> dict[str, Any]:
    """The filter with the configured timeline limit (a small one in tests forces gaps)."""
    timeline = {"limit": settings.MATRIX_SYNC_TIMELINE_LIMIT, "lazy_load_members": True}
    return {**SYNC_FILTER, "room": {**SYNC_FILTER["room"], "timeline": timeline}}


def _no_words() -> str:
    return ""


class Publisher(Protocol):
    """What a session tells about its device: `live.publisher.DevicePublisher` renders and
    fans it out to the device's open pages."""

    async def status(
        self, state: str, words: Callable[[], str], retry_in: float | None
    ) -> None: ...

    async def room_events(
        self,
        room_id: str,
        events: list[dict[str, Any]],
        changed: set[str],
        *,
        limited: bool,
        prev_batch: str | None,
    ) -> None: ...

    async def rooms_changed(self, room_ids: set[str]) -> None: ...

    async def notify(self, room: RoomSummary, event: dict[str, Any], highlight: bool) -> None: ...

    async def typing(self, room_id: str, user_ids: list[str]) -> None: ...

    async def receipts(self, room_id: str, moved: dict[str, str]) -> None: ...

    async def ended(self, reason: str) -> None: ...


def _plain_timeline(room: Any) -> list[dict[str, Any]]:
    """A joined room's new timeline events when that is all its part of a sync changes (no
    state, no state events in the timeline), each with an event ID, type and sender; else
    nothing."""
    if not isinstance(room, dict):
        return []
    state = room.get("state")
    if isinstance(state, dict) and state.get("events"):
        return []
    timeline = room.get("timeline")
    events = timeline.get("events") if isinstance(timeline, dict) else None
    if not isinstance(events, list) or not events:
        return []
    for event in events:
        if (
            not isinstance(event, dict)
            or "state_key" in event
            or not all(isinstance(event.get(k), str) for k in ("event_id", "type", "sender"))
        ):
            return []
    return events


class MatrixSession:
    """The live connection of one device. Create through `registry.session_for`."""

    def __init__(
        self,
        credential: Credential,
        on_stop: Callable[[MatrixSession], None],
        publisher: Callable[[MatrixSession, Credential], Publisher],
        lease: DeviceLease | None = None,
    ) -> None:
        self.credential_id = credential.pk
        # The lease that makes this process the device's one owner (`registry.own`); its
        # crypto store is fenced by it.
        self.lease = lease
        self.user_id = credential.user_id
        self.device_id = credential.device_id
        self.homeserver = credential.homeserver
        access_token = credential.access_token
        # Every request but the sync (and, with encryption, nio's key traffic).
        self.api = HomeserverApi(
            credential.homeserver,
            access_token,
            rate_limit_budget=SESSION_RATE_LIMIT_BUDGET,
            on_unknown_token=self._token_revoked,
        )
        self.client = make_client(
            credential.homeserver, credential.user_id, credential.device_id, access_token
        )
        self.sync_token: str | None = credential.sync_token or None
        self.rooms = RoomList.from_dict(load_snapshot(credential.rooms_snapshot))
        self.status = "starting"
        # What is wrong, worded in the active language when asked (each page reads its own).
        self.status_words: Callable[[], str] = _no_words
        self.viewers = 0
        self.closed = False
        self._stopped = asyncio.Event()
        self.sync_count = 0
        # Goes up after each sync that was applied to the room list (other processes keep
        # a copy of the room list and ask for it again when this changed).
        self.rooms_version = 0
        self.synced = asyncio.Event()
        if self.sync_token:
            self.synced.set()
        self._timelines: dict[str, RoomEvents] = {}
        # Per room: user ID -> (event ID, ts) of their newest read receipt.
        self.receipts: dict[str, dict[str, tuple[str, int]]] = {}
        self.typing: dict[str, list[str]] = {}
        self.fully_read: dict[str, str | None] = {}
        # Global account data seen in syncs or fetched (`global_account_data`), by type.
        self.account_data: dict[str, dict[str, Any]] = {}
        self._last_read: dict[str, str] = {}
        self._on_stop = on_stop
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self.publisher = publisher(self, credential)
        # End-to-end encryption (opened when the loop starts: it takes the device's lease).
        self.crypto: DeviceCrypto | None = DeviceCrypto(self) if settings.E2E_ENABLED else None
        self._side_tasks: set[asyncio.Task[Any]] = set()
        # Saving the sync token (`_save_soon`): set while no sync is being handled.
        self._saver: asyncio.Task[None] | None = None
        self._save_pending = False
        self._between_syncs = asyncio.Event()
        self._between_syncs.set()
        # Rooms whose new events of the sync under way went out from its JSON, before nio
        # parsed it (`_early_events`), with those events as shown (decrypted).
        self._early: dict[str, list[dict[str, Any]]] = {}
        # The sync filter's ID on the homeserver (`_sync_filter`); False once the homeserver
        # would not store it or forgot it: then the filter goes inline.
        self._filter_id: str | bool | None = None

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        # A fresh context: the session outlives the request that started it, and must not
        # inherit that request's thread executor (asgiref keeps it in a context variable).
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"sync {self.credential_id}", context=contextvars.Context()
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
            logger.info("stopping idle sync loop of device %s", self.credential_id)
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
        # The last sync's token is saved before the session is gone (a restart resumes there).
        self._between_syncs.set()
        if self._saver is not None and self._saver is not asyncio.current_task():
            try:
                await self._saver
            except (asyncio.CancelledError, Exception):  # noqa: S110 - logged by the saver
                pass
        try:
            await self.client.close()
            await self.api.close()
            if self.crypto is not None:
                await self.crypto.close()
        finally:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        """Until `stop` has finished (the loop ended, the crypto store closed)."""
        await self._stopped.wait()

    async def wait_synced(self, timeout: float) -> bool:
        """Whether the room list is known (a first sync done, or a stored one) in time."""
        try:
            await asyncio.wait_for(self.synced.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def wait_until(
        self, room_id: str, done: Callable[[RoomSummary | None], bool], timeout: float
    ) -> bool:
        """Wait (briefly) until the room list shows a change: `done(summary)` holds. A view
        that changed a room waits, so the page it redirects to already shows the change."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if done(self.rooms.rooms.get(room_id)):
                return True
            if asyncio.get_running_loop().time() >= deadline or self.closed:
                return False
            await asyncio.sleep(0.1)

    # -- the sync loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        if self.crypto is not None and not await self.crypto.open():
            logger.warning(
                "device %s: no end-to-end encryption: %s", self.credential_id, self.crypto.problem
            )
        backoff = 1.0
        while not self.closed:
            first = self.sync_token is None
            by_id = False
            try:
                used_filter = await self._sync_filter()
                by_id = isinstance(used_filter, str)
                # nio takes in an incremental sync after its new events are published; plain
                # new messages are published from its JSON, before nio has parsed it.
                self.client.hold_syncs = not first
                self.client.early_sync = None if first else self._early_events
                self._early = {}
                response = await asyncio.wait_for(
                    self.client.sync(
                        timeout=0 if first else settings.MATRIX_SYNC_TIMEOUT_MS,
                        sync_filter=used_filter,
                        since=self.sync_token,
                    ),
                    timeout=600 if first else settings.MATRIX_SYNC_TIMEOUT_MS / 1000 + 30,
                )
                check(response)
            except asyncio.CancelledError:
                raise
            except errors.UnknownToken:
                await self._token_revoked()
                return
            except errors.MatrixError as exc:
                if by_id and exc.status in (400, 404) and not exc.is_rate_limit:
                    # The homeserver does not know the filter (any more): inline from now on.
                    logger.info("device %s: sync filter refused (%s)", self.credential_id, exc)
                    self._filter_id = False
                    continue
                if exc.is_rate_limit:
                    wait = (exc.retry_after_ms or 5000) / 1000
                else:
                    wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                await self._set_status("retrying", exc.reworded, wait)
                await asyncio.sleep(wait)
                continue
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                problem = errors.unreachable(self.homeserver, type(exc).__name__)
                await self._set_status("offline", problem.reworded, wait)
                await asyncio.sleep(wait)
                continue
            except Exception:
                # A bug in our handling must not spin the loop or kill it silently.
                logger.exception("sync of device %s failed", self.credential_id)
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                await asyncio.sleep(wait)
                continue
            backoff = 1.0
            try:
                await self._handle_sync(response, first)
            except asyncio.CancelledError:
                raise
            except errors.UnknownToken:
                return  # _token_revoked already ended the login
            except Exception:
                logger.exception("handling a sync of device %s failed", self.credential_id)
                await asyncio.sleep(1)

    async def _sync_filter(self) -> str | dict[str, Any]:
        """The sync filter by its ID, stored on the homeserver once per session: given inline,
        the homeserver parses and validates it again on every long-poll, at the moment a new
        message is being handed out to every client. Inline when it cannot be stored."""
        if self._filter_id is None:
            try:
                self._filter_id = await self.api.upload_filter(self.user_id, sync_filter())
            except errors.MatrixError as exc:
                logger.info("device %s: sync filter not stored: %s", self.credential_id, exc)
                if not (exc.is_transient or exc.is_rate_limit):
                    self._filter_id = False  # else asked again before the next sync
        return self._filter_id if isinstance(self._filter_id, str) else sync_filter()

    @property
    def status_message(self) -> str:
        return self.status_words()

    async def _set_status(self, status: str, words: Callable[[], str], retry_in: float) -> None:
        self.status, self.status_words = status, words
        logger.warning(
            "sync of device %s: %s (retrying in %.0fs)", self.credential_id, words(), retry_in
        )
        await self.publisher.status(status, words, retry_in)

    async def _handle_sync(self, response: SyncResponse, first: bool) -> None:
        self._between_syncs.clear()
        try:
            await self._apply_sync(response, first)
        finally:
            await self.client.release_sync()
            self._between_syncs.set()

    async def _apply_sync(self, response: SyncResponse, first: bool) -> None:
        self.sync_count += 1
        if self.status != "live":
            self.status, self.status_words = "live", _no_words
            await self.publisher.status("live", _no_words, None)
        rooms_json = rooms_to_json(response.rooms)
        early, self._early = self._early, {}
        joined_rooms = rooms_json.get("join", {})
        for room_id, events in early.items():
            if room_id in joined_rooms:
                joined_rooms[room_id].setdefault("timeline", {})["events"] = events
        if self.crypto is not None:
            if not first:
                await self.crypto.know_senders(
                    e
                    for room_id, j in joined_rooms.items()
                    if room_id not in early
                    for e in j.get("timeline", {}).get("events", [])
                )
            for room_id, joined in joined_rooms.items():
                if room_id in early:
                    continue
                timeline = joined.get("timeline") or {}
                timeline["events"] = self.decrypt_all(room_id, timeline.get("events", []))
        counts = {
            rid: (r.notification_count, r.highlight_count) for rid, r in self.rooms.rooms.items()
        }
        placed = self.rooms.placements(self.user_id)
        changed = self.rooms.apply_sync(rooms_json, self.user_id)
        for data in global_account_data(getattr(response, "account_data_events", None) or []):
            self.account_data[data["type"]] = data["content"]
            if data["type"] == "m.direct":
                changed |= self.rooms.apply_direct_map(data["content"])
        # A space gaining or losing a child moves rooms between sections of the list.
        now = self.rooms.placements(self.user_id)
        changed |= {r for r in placed.keys() | now.keys() if placed.get(r) != now.get(r)}
        # The new events first: what a bare client would show is what open pages wait for;
        # notifications, receipts, typing and the room list follow, and the sync token is
        # saved while the next long-poll is already under way (`_save_soon`).
        for room_id, joined in rooms_json.get("join", {}).items():
            timeline = joined.get("timeline", {})
            events = timeline.get("events", [])
            store = self.timeline(room_id)
            if first:
                # The first sync only fills the room list and what relations know: pages
                # load their history themselves.
                store.add_all(events)
                continue
            if room_id in early or (not events and not timeline.get("limited")):
                continue
            await self._publish_events(
                room_id, events, bool(timeline.get("limited")), timeline.get("prev_batch")
            )
        # What nio keeps of the sync (its rooms' state, key counts): after the new events.
        await self.client.release_sync()
        if not first:
            await self._notify(rooms_json, counts)
        for room_id, joined in rooms_json.get("join", {}).items():
            await self._ephemeral(room_id, joined, publish=not first)
        if changed:
            await self.publisher.rooms_changed(changed)
        if self.crypto is not None:
            healed = await self.crypto.after_sync(response)
            if healed:
                await self.heal(healed)
            if not first:
                for room_id, joined in rooms_json.get("join", {}).items():
                    self._fire(
                        self.crypto.ask_for_keys(
                            room_id, joined.get("timeline", {}).get("events", [])
                        )
                    )
        self.sync_token = response.next_batch
        self.rooms_version += 1
        self.synced.set()
        self._save_soon()

    async def _publish_events(
        self, room_id: str, events: list[dict[str, Any]], limited: bool, prev_batch: Any
    ) -> None:
        """New timeline events of a room (as shown: decrypted) into its store, and out to
        its open pages."""
        store = self.timeline(room_id)
        touched: set[str] = set()
        for event in events:
            touched |= store.add(event)
        await self.fetch_missing_replies(room_id, [e.get("event_id", "") for e in events])
        await self.publisher.room_events(
            room_id,
            events,
            touched,
            limited=limited,
            prev_batch=prev_batch if isinstance(prev_batch, str) else None,
        )

    async def _early_events(self, sync: dict[str, Any]) -> None:
        """Publish the new messages of an incremental sync from the homeserver's JSON, before
        nio has checked and parsed it (~0.5 ms for one message, before a bare nio client
        sees it). Only what needs nothing else of the sync goes this way: rooms already
        joined whose part of the sync is new timeline events without state (a new member's
        first message comes with their member event: it waits for the room list to know
        them); the client hands over only syncs without room keys or device changes
        (those are nio's first: `nioclient.sync_without_keys`).
        Everything else of the sync, these rooms' entries in the room list included, is
        taken in once nio has parsed it (`_apply_sync`). A failure here leaves the room to
        that usual way."""
        if self.status != "live":
            return
        rooms = sync.get("rooms")
        joined = rooms.get("join") if isinstance(rooms, dict) else None
        if not isinstance(joined, dict):
            return
        elsewhere = {
            room_id
            for key in ("invite", "leave", "knock")
            if isinstance(rooms.get(key), dict)
            for room_id in rooms[key]
        }
        for room_id, room in joined.items():
            summary = self.rooms.rooms.get(room_id)
            if summary is None or summary.membership != "join" or room_id in elsewhere:
                continue
            events = _plain_timeline(room)
            if not events:
                continue
            store = self.timeline(room_id)
            if any(store.get(e["event_id"]) is not None for e in events):
                continue  # the same sync again (a retry): the usual way
            try:
                if self.crypto is not None:
                    await self.crypto.know_senders(events)
                    events = self.decrypt_all(room_id, events)
                timeline = room["timeline"]
                await self._publish_events(
                    room_id, events, timeline.get("limited") is True, timeline.get("prev_batch")
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("publishing the new events of %s early failed", room_id)
                continue
            self._early[room_id] = events

    def _save_soon(self) -> None:
        """Save the sync token and the room list (to resume with an incremental sync) without
        holding up the next long-poll: a database write through a thread took about a sixth
        of a sync's handling, and a message arriving meanwhile waited for it. One save at a
        time, of the newest state, taken between two syncs' handling (a token and the room
        list it belongs to); `stop` waits for it."""
        self._save_pending = True
        if self._saver is None or self._saver.done():
            self._saver = asyncio.get_running_loop().create_task(
                self._save_state(), name=f"save {self.credential_id}", context=contextvars.Context()
            )

    async def _save_state(self) -> None:
        while self._save_pending:
            await self._between_syncs.wait()
            self._save_pending = False
            token, snapshot = self.sync_token, seal_snapshot(self.rooms.to_dict())
            try:
                await Credential.objects.filter(pk=self.credential_id).aupdate(
                    sync_token=token, rooms_snapshot=snapshot
                )
            except Exception:
                logger.exception("saving the sync token of device %s failed", self.credential_id)
                return

    def _fire(self, coroutine: Any) -> None:
        """Work nobody waits for (asking for keys); kept referenced until done."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- encryption ---------------------------------------------------------------------------

    def decrypt_all(self, room_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Events as pages show them: encrypted ones decrypted (or described as waiting for
        their key). An event this session already decrypted is taken from its store."""
        if self.crypto is None:
            return events
        store = self.timeline(room_id)
        shown = []
        for event in events:
            if isinstance(event, dict) and event.get("type") == "m.room.encrypted":
                known = store.get(str(event.get("event_id", "")))
                if (
                    known is not None
                    and "webclient_e2e" in known
                    and "utd" not in known["webclient_e2e"]
                ):
                    shown.append(known)
                    continue
                event = self.crypto.decrypt(room_id, event)
            shown.append(event)
        return shown

    async def heal(self, sessions: set[tuple[str, str]]) -> None:
        """Room keys arrived (from a sender, another device or the backup): decrypt the events
        that waited for them, and re-render their tiles on every open page."""
        assert self.crypto is not None
        by_room: dict[str, set[str]] = {}
        for room_id, session_id in sessions:
            by_room.setdefault(room_id, set()).add(session_id)
        for room_id, session_ids in by_room.items():
            store = self.timeline(room_id)
            changed: set[str] = set()
            for event_id, event in list(store.events.items()):
                e2e = event.get("webclient_e2e")
                if not isinstance(e2e, dict) or "utd" not in e2e:
                    continue
                if e2e.get("session_id") not in session_ids:
                    continue
                envelope = {k: v for k, v in event.items() if k != "webclient_e2e"}
                fresh = self.crypto.decrypt(room_id, envelope)
                if fresh.get("webclient_e2e") == e2e:
                    continue
                changed |= store.add(fresh)
                changed.add(event_id)
            if changed:
                await self.publisher.room_events(
                    room_id, [], changed, limited=False, prev_batch=None
                )

    async def _ephemeral(self, room_id: str, joined: dict[str, Any], publish: bool) -> None:
        """Typing and read receipts: kept per room, published when they change."""
        receipts = self.receipts.setdefault(room_id, {})
        moved: dict[str, str] = {}
        for event in joined.get("ephemeral", {}).get("events", []):
            content = event.get("content") or {}
            if event.get("type") == "m.typing":
                users = [u for u in content.get("user_ids", []) if u != self.user_id]
                if users != self.typing.get(room_id, []):
                    self.typing[room_id] = users
                    if publish:
                        await self.publisher.typing(room_id, users)
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
            await self.publisher.receipts(room_id, moved)

    async def _notify(self, rooms_json: dict[str, Any], before: dict[str, tuple[int, int]]) -> None:
        """Messages the homeserver's push rules say to notify about (its notification counts
        went up), so a page may show a browser notification."""
        for room_id, joined in rooms_json.get("join", {}).items():
            room = self.rooms.rooms.get(room_id)
            if room is None:
                continue
            old_notes, old_highlights = before.get(room_id, (0, 0))
            if room.notification_count <= old_notes and room.highlight_count <= old_highlights:
                continue
            events = joined.get("timeline", {}).get("events", [])
            newest = next(
                (
                    e
                    for e in reversed(events)
                    if e.get("sender") != self.user_id and e.get("type") == "m.room.message"
                ),
                None,
            )
            if newest is not None:
                await self.publisher.notify(room, newest, room.highlight_count > old_highlights)

    async def _token_revoked(self) -> None:
        deleted, _ = await Credential.objects.filter(pk=self.credential_id).adelete()
        if deleted:
            logger.info(
                "access token of device %s was revoked; ending its pages", self.credential_id
            )
            await self.publisher.ended("revoked")
        # (No credential left: the login was ended here on purpose, by a sign-out in some
        # process, which tells the pages itself.)
        await self.stop()

    # -- what pages read -----------------------------------------------------------------------

    def timeline(self, room_id: str) -> RoomEvents:
        """What this session knows of a room's events and their relations."""
        store = self._timelines.get(room_id)
        if store is None:
            store = self._timelines[room_id] = RoomEvents(
                room_id, can_redact=lambda user_id: self.may_redact(room_id, user_id)
            )
        return store

    def may_redact(self, room_id: str, user_id: str) -> bool:
        """Whether the room's power levels (as the room list knows them) let `user_id`
        redact others' events: such a user may also end others' polls (MSC3381)."""
        summary = self.rooms.rooms.get(room_id)
        if summary is None:
            return False
        create = (
            {
                "sender": summary.creators[0],
                "content": {
                    "room_version": summary.room_version or "1",
                    "additional_creators": summary.creators[1:],
                },
            }
            if summary.creators
            else None
        )
        return power.can(summary.power_levels or None, create, user_id, "redact")

    def room(self, room_id: str) -> RoomSummary | None:
        return self.rooms.rooms.get(room_id)

    def members(self, room_id: str) -> dict[str, dict]:
        summary = self.rooms.rooms.get(room_id)
        return summary.members if summary else {}

    def unread_total(self) -> int:
        return sum(
            r.notification_count for r in self.rooms.rooms.values() if r.membership == "join"
        )

    async def resolve(self, room: str) -> str:
        """A room ID from a room ID or an alias."""
        if room.startswith("#"):
            return await self.api.resolve_alias(room, action=_("Looking up the room address"))
        return room

    async def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """An event of the room, from what the session knows or from the homeserver."""
        store = self.timeline(room_id)
        event = store.get(event_id)
        if event is None:
            event = await self.api.event(room_id, event_id, action=_("Loading the message"))
            event = self.decrypt_all(room_id, [event])[0]
            store.add(event)
        return event

    async def fetch_missing_replies(self, room_id: str, event_ids: list[str]) -> None:
        """Load the events that tiles reply to, when they are not known yet."""
        store = self.timeline(room_id)
        wanted = {
            target
            for event_id in event_ids
            if (event := store.get(event_id))
            and (target := reply_target(event))
            and target not in store
        }
        for target in list(wanted)[:MAX_REPLY_FETCHES]:
            try:
                event = await self.api.event(room_id, target)
            except errors.MatrixError:
                continue
            store.add(self.decrypt_all(room_id, [event])[0])
        await self.fetch_poll_relations(room_id, event_ids)

    async def fetch_poll_relations(self, room_id: str, event_ids: list[str]) -> None:
        """The votes and ends of the polls among `event_ids`, once per poll: they may be
        far from the poll in the timeline (MSC3381 asks clients to use `/relations`)."""
        store = self.timeline(room_id)
        wanted = [
            event_id
            for event_id in event_ids
            if event_id not in store.poll_fetched
            and (event := store.get(event_id)) is not None
            and event.get("type") in polls.START_TYPES
        ]
        for poll_id in wanted[:MAX_POLL_FETCHES]:
            store.poll_fetched.add(poll_id)
            token: str | None = None
            for _page in range(MAX_POLL_PAGES):
                query = {"limit": "100", **({"from": token} if token else {})}
                try:
                    page = await self.api.relations(room_id, poll_id, "m.reference", query=query)
                except errors.MatrixError:
                    store.poll_fetched.discard(poll_id)
                    break
                chunk = [e for e in page.get("chunk") or [] if isinstance(e, dict)]
                store.add_all(self.decrypt_all(room_id, chunk))
                token = page.get("next_batch")
                if not isinstance(token, str):
                    break

    async def messages(
        self, room_id: str, *, from_token: str | None, limit: int, direction: str = "b"
    ) -> dict[str, Any]:
        """A page of `/messages` (the spec's JSON as is: nio's parsing drops the lazy-loaded
        `state` that names the senders), added to the room's store."""
        query = {"dir": direction, "limit": str(limit), "filter": json.dumps(HISTORY_FILTER)}
        if from_token:
            query["from"] = from_token
        page = await self.api.messages(room_id, query, action=_("Loading messages"))
        chunk = self.decrypt_all(
            room_id, [e for e in page.get("chunk") or [] if isinstance(e, dict)]
        )
        page["chunk"] = chunk
        self.timeline(room_id).add_all(reversed(chunk) if direction == "b" else chunk)
        if self.crypto is not None:
            self._fire(self.crypto.ask_for_keys(room_id, chunk))
        return page

    async def global_account_data(self, event_type: str) -> dict[str, Any]:
        """The user's global account data of a type ({} when unset), as the last sync showed
        it, or fetched once when this process has not seen it (a resumed sync carries only
        what changed)."""
        if event_type not in self.account_data:
            try:
                content = await self.api.account_data(self.user_id, event_type)
            except errors.NotFound:
                content = {}
            self.account_data.setdefault(event_type, content if isinstance(content, dict) else {})
        return self.account_data[event_type]

    async def set_global_account_data(self, event_type: str, content: dict[str, Any]) -> None:
        await self.api.set_account_data(self.user_id, event_type, content)
        self.account_data[event_type] = content

    async def fully_read_marker(self, room_id: str) -> str | None:
        """The user's fully-read marker in a room (account data), for the "new messages" line."""
        if room_id in self.fully_read:
            return self.fully_read[room_id]
        try:
            data = await self.api.account_data(self.user_id, "m.fully_read", room_id=room_id)
        except errors.MatrixError:
            return None
        marker = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        self.fully_read[room_id] = marker
        return marker

    async def power_levels(
        self, room_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The room's power levels and its create event (whose sender is the creator), from
        the room list when it knows them."""
        return await power_levels_of(self.rooms.rooms.get(room_id), self.api, room_id)

    async def create_event(self, room_id: str) -> dict[str, Any] | None:
        """The whole `m.room.create` event (its sender is the creator); None if unavailable."""
        return await create_event_of(self.api, room_id)

    # -- actions ----------------------------------------------------------------------------

    async def mark_read(self, room_id: str, event_id: str) -> None:
        """Move the read receipt and the fully-read marker (the server then clears the
        room's unread counts, which every tab of this login sees through sync)."""
        if self._last_read.get(room_id) == event_id:
            return
        self._last_read[room_id] = event_id
        await self.api.read_markers(room_id, event_id)

    async def set_marked_unread(self, room_id: str, unread: bool) -> None:
        """Mark the room as unread, or take the mark away (`m.marked_unread`, v1.12), as
        Element's `setMarkedUnreadState`: nothing is written when it already is so."""
        summary = self.room(room_id)
        if summary is not None and summary.marked_unread == unread:
            return
        await self.api.set_account_data(
            self.user_id,
            "m.marked_unread",
            {"unread": unread},
            room_id=room_id,
            action=_("Marking the room as unread") if unread else _("Marking the room as read"),
        )

    async def set_typing(self, room_id: str, typing: bool) -> None:
        await self.api.typing(room_id, self.user_id, typing)

    async def send_message(
        self, room_id: str, content: dict[str, Any], txn_id: str, event_type: str = "m.room.message"
    ) -> str:
        """Send with the caller's transaction ID, so a retry can never post twice; in an
        encrypted room, encrypted (or not at all).

        Rate limits are waited out (up to a minute in all), like every session request."""
        crypto = self.crypto
        if crypto is not None and crypto.opening and not crypto.settled.is_set():
            # A session that has just started (a device taken over from a dead process)
            # opens its crypto store in a thread: nio has an olm machine from midway through,
            # and then refuses to send to a room it has not been told of (nio_room below).
            await crypto.wait_settled()
        encrypted = crypto is not None and crypto.room_encrypted(room_id)
        summary = self.room(room_id)
        if summary is not None and summary.encrypted and not encrypted:
            raise errors.MatrixError(
                (
                    _("This room is encrypted and this device cannot encrypt: %(problem)s")
                    % {"problem": crypto.problem}
                    if crypto is not None and crypto.problem
                    else _("This room is encrypted and this device cannot encrypt.")
                )
                + " "
                + _("Nothing was sent."),
                errcode="W_CANNOT_ENCRYPT",
            )
        new_session = False
        if crypto is not None and self.client.olm is not None:
            crypto.nio_room(room_id)  # nio wants to know every room it sends to
        if encrypted:
            assert crypto is not None
            if not crypto.ready:
                raise errors.MatrixError(
                    _("This room is encrypted and this device cannot encrypt: %(problem)s")
                    % {"problem": crypto.problem}
                    + " "
                    + _("Nothing was sent."),
                    errcode="W_CANNOT_ENCRYPT",
                )
            await crypto.prepare_room(room_id)
            olm = self.client.olm
            new_session = olm is not None and olm.should_share_group_session(room_id)
            if event_type == "m.reaction":
                # nio sends reactions in the clear; Element encrypts them too (their
                # `m.relates_to` stays outside, for the server's aggregations).
                if new_session:
                    await call(
                        self.client.share_group_session(room_id, ignore_unverified_devices=True),
                        self.homeserver,
                    )
                encrypted_type, encrypted_content = self.client.encrypt(
                    room_id, event_type, content
                )
                event_id = await self.api.send_event(
                    room_id, encrypted_type, encrypted_content, txn_id
                )
                if new_session:
                    self._fire(crypto.tell_withheld(room_id))
                return event_id
        waited = away = 0.0
        pause = SEND_RETRY_FIRST
        while True:
            try:
                response = await call(
                    self.client.room_send(
                        room_id,
                        event_type,
                        content,
                        tx_id=txn_id,
                        ignore_unverified_devices=True,
                    ),
                    self.homeserver,
                )
            except errors.UnknownToken:
                await self._token_revoked()
                raise
            except errors.RateLimited as exc:
                wait = (exc.retry_after_ms or 2000) / 1000
                if waited + wait > SESSION_RATE_LIMIT_BUDGET:
                    raise
                waited += wait
                await asyncio.sleep(wait)
                continue
            except errors.MatrixError as exc:
                # A homeserver restarting: the same transaction ID again, so it is posted
                # once, and the sends queued behind it still go out in order.
                if not exc.is_transient or away + pause > SEND_RETRY_BUDGET:
                    raise
                away += pause
                await asyncio.sleep(pause)
                pause = min(pause * 2, SEND_RETRY_MOST)
                continue
            if new_session and crypto is not None:
                self._fire(crypto.tell_withheld(room_id))
            return response.event_id

    async def redact(self, room_id: str, event_id: str, reason: str = "") -> None:
        await self.api.redact(
            room_id, event_id, new_txn_id("wcr", 10), reason, action=_("Deleting the message")
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
            await self.send_message(room_id, content, new_txn_id("wca", 10), "m.reaction")
        except errors.MatrixError as exc:
            if exc.errcode != "M_DUPLICATE_ANNOTATION":
                raise
            # We reacted before this process knew it: find that reaction and take it back.
            relations = await self.api.relations(
                room_id, event_id, "m.annotation", "m.reaction", query={"limit": "100"}
            )
            store.add_all(relations.get("chunk") or [])
            if mine := store.my_reaction(event_id, key, self.user_id):
                await self.redact(room_id, mine)


# -- what any process can know of a room with the login's token ----------------------------------


async def power_levels_of(
    summary: RoomSummary | None, api: HomeserverApi, room_id: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A room's power levels and its create event (whose sender is the creator), from its
    summary in a room list when that knows them (kept there when asked), else asked."""
    levels = summary.power_levels if summary is not None and summary.power_levels else None
    if levels is None:
        try:
            levels = await api.state_or_none(
                room_id, "m.room.power_levels", action=_("Loading the room's settings")
            )
        except errors.MatrixError:
            levels = None
        if summary is not None and levels:
            summary.power_levels = levels
    if summary is not None and summary.creators:
        create: dict[str, Any] | None = {
            "sender": summary.creators[0],
            "content": {
                "room_version": summary.room_version or "1",
                "additional_creators": summary.creators[1:],
            },
        }
    else:
        create = await create_event_of(api, room_id)
    return levels, create


async def create_event_of(api: HomeserverApi, room_id: str) -> dict[str, Any] | None:
    """The whole `m.room.create` event (its sender is the creator); None if unavailable."""
    try:
        return await api.get_state_event(
            room_id, "m.room.create", action=_("Loading the room's settings")
        )
    except errors.MatrixError:
        return None
