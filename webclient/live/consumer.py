"""The websocket of one open page: live fragments down, composer sends up.

A consumer attaches to its login's device (`devices.DeviceHandle`: the session when this
process owns the device, else its owner elsewhere) and hears the device's channel-layer group
(straight from the in-memory layer in one process, through the process's relay with several);
it forwards what concerns its page. Its catch-up and its sends are device operations, run by
the device's owner wherever that is. It never sees or sends the access token.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qs, urlencode

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.urls import reverse
from django.utils.translation import gettext as _

from webclient.build import build_id
from webclient.matrix import errors, recent_emoji
from webclient.matrix.models import Credential, credential_for
from webclient.matrix.session import MatrixSession
from webclient.timeline.roomlist import render_room_sections
from webclient.timeline.viewmodels import topic_html

from . import actions, devices, locale, publisher
from .access import Access, from_kiosk_token, from_ticket, media_base, rewrite_media
from .devices import DeviceHandle, device_op
from .frames import Frame, LatestPush, RawWriter, SharedFrames, raw_writer

logger = logging.getLogger("webclient.live")

TXN_ID_RE = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
EVENT_ID_RE = re.compile(r"^\$[^\s/]{1,255}$")
ROOM_ID_RE = re.compile(r"^![^\s/]{1,255}$")
MAX_BODY = 60_000  # well under the homeserver's 64 KiB event limit once wrapped in JSON
# What a page may ask done to an event it shows, and the text some of them carry (its field,
# and how long it may be: a poll's answer ID, a reaction's key).
EVENT_ACTIONS = frozenset({"vote", "end_poll", "pin", "unpin", "redact", "react"})
EVENT_ACTION_TEXT = {"vote": ("answer", 200), "react": ("key", 64)}
# Well inside the channel layers' group_expiry (a day by default).
GROUP_REFRESH_SECONDS = 3600

# Frames of the device's pushes, encoded and framed once per process and variant of viewer
# (frames.py): `events` by (epoch, position, room) and media prefix (positions are unique
# within an epoch, so a key names one push, replayed or live); the others by the message
# object the layer hands every viewer.
FRAMES = SharedFrames(256)
# The latest `room.events` push's wire bytes per media prefix (see `_deliver`).
LATEST_EVENTS = LatestPush()


# Messages from the device's group: handled without Channels' per-message database
# connection clean-up, which waits behind the session's database writes and delayed every
# live event by several milliseconds (none of these handlers touch the database).
LIVE_HANDLERS = {
    "room.events": "room_events",
    "room.summary": "room_summary",
    "room.header": "room_header",
    "room.typing": "room_typing",
    "room.receipts": "room_receipts",
    "room.notify": "room_notify",
    "session.status": "session_status",
    "session.unread": "session_unread",
    "session.ended": "session_ended",
    "session.owner": "session_owner",
    "cluster.gap": "cluster_gap",
}
#: How long a socket's catch-up waits for a new session's first sync (the room list).
FIRST_SYNC_WAIT = 60.0


# Per push (the same list object for every screen of a process): whether it shows media.
_SHOWS_MEDIA: OrderedDict[int, tuple[list[dict[str, Any]], bool]] = OrderedDict()


def _shows_media(events: list[dict[str, Any]]) -> bool:
    """Whether a push's fragments point at media (what `rewrite_media` changes): found once
    per push, not once per screen (`reverse` and a search of every fragment each time were
    a tenth of a kiosk wall's fan-out)."""
    known = _SHOWS_MEDIA.get(id(events))
    if known is not None and known[0] is events:
        return known[1]
    needle = f'"{media_base()}'
    found = any(needle in (item.get("html") or "") for item in events)
    _SHOWS_MEDIA[id(events)] = (events, found)
    if len(_SHOWS_MEDIA) > 64:
        _SHOWS_MEDIA.popitem(last=False)
    return found


def _login_url(reason: str | None) -> str:
    """The login page a signed-out tab goes to (the reason is put in words there)."""
    url = reverse("accounts:login")
    return f"{url}?{urlencode({'reason': reason})}" if reason else url


def _command_reply(txn_id: str | None, result: actions.CommandResult) -> dict[str, Any]:
    """What the page hears after a command that acts: a sentence, and where to go."""
    go = ""
    if result.open_room:
        go = reverse("rooms:room", args=[result.open_room])
    elif result.left:
        go = reverse("rooms:list")
    return {
        "type": "command_done",
        "txn_id": txn_id,
        "message": result.message,
        "go": go,
        "help": result.help,
    }


class TimelineConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/?room=<room id>&epoch=…&pos=…` (no room: the room list); an embed page connects
    with `ticket=` and a kiosk screen with `kiosk=` instead of the session cookie."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = LIVE_HANDLERS.get(message.get("type", ""))
        if handler is not None:
            await getattr(self, handler)(message)
            return
        await super().dispatch(message)

    device: DeviceHandle | None = None
    group: str | None = None
    variant: str = ""
    # The owner's epoch the page is caught up with (another means a new owner).
    epoch = ""
    _membership: asyncio.Task[None] | None = None
    # Direct delivery: messages held while catching up; set once disconnected.
    _held: list[dict[str, Any]] | None = None
    _closed = False

    # Set for embed and kiosk viewers (a ticket or a kiosk token instead of the cookie).
    access: Access | None = None
    read_only = False
    # Writes a shared frame's bytes straight to the connection (frames.py), when the server
    # side offers it.
    _write_frame: RawWriter | None = None
    # A screen's prefix for media URLs (its access), None for a person's pages.
    _media_prefix: str | None = None
    # Whether the page shows the room list (the list page, or a room page beside it).
    with_list = False

    async def _authenticate(self, query: dict[str, list[str]]) -> Credential | None:
        """The credential this socket reads through, and the rooms it may follow."""
        if token := query.get("kiosk", [""])[0]:
            self.access = await from_kiosk_token(token, seen=True)
        elif ticket := query.get("ticket", [""])[0]:
            self.access = await from_ticket(ticket)
        else:
            credential = await credential_for(self.scope["session"])
            room = query.get("room", [""])[0] or None
            self.room_id = room
            self.rooms = frozenset([room]) if room else frozenset()
            # A room page beside the room list (the two-pane layout) hears the list too.
            self.with_list = not room or query.get("list", [""])[0] == "1"
            return credential
        if self.access is None:
            return None
        self._media_prefix = self.access.media_prefix
        self.rooms = frozenset(self.access.room_ids)
        self.room_id = self.access.room_ids[0] if len(self.access.room_ids) == 1 else None
        self.read_only = not self.access.can_send
        return self.access.credential

    async def _refuse(self, query: dict[str, list[str]]) -> None:
        if "kiosk" in query:
            # Revoked or altered: the screen says so and stops reconnecting.
            await self.send_json({"type": "revoked"})
        elif "ticket" in query:
            # Expired (or its login ended): the page reloads for a new ticket.
            await self.send_json({"type": "reload"})
        else:
            await self.send_json({"type": "logout", "url": _login_url("expired")})
        await self.close(code=4401)

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.rooms: frozenset[str] = frozenset()
        self.room_id: str | None = None
        self._write_frame = raw_writer(self.scope)
        credential = await self._authenticate(query)
        await self.accept()
        await self.send_json({"type": "hello", "build": build_id()})
        if credential is None:
            await self._refuse(query)
            return
        epoch = query.get("epoch", [""])[0]
        try:
            after = int(query.get("pos", ["-1"])[0])
        except ValueError:
            after = -1
        try:
            self.device = await devices.device_for(credential)
        except errors.UnknownToken:
            await self._refuse(query)
            return
        except errors.MatrixError as exc:
            # Its owner is gone and nobody took it over yet: the page tries again shortly.
            await self.send_json({"type": "status", "state": "offline", "message": exc.message})
            await self.close(code=1013)
            return
        self.device.attach()
        # The language and time zone the page reads in, as its request had them: live tiles
        # come rendered in it (publisher.room_events).
        headers = dict(self.scope.get("headers") or [])
        chosen: Credential | None = credential
        if self.access is not None:
            # A screen reads through someone else's device: an embed viewer's own login (if
            # any) chose their language, a kiosk screen has none.
            chosen = None
            if self.access.mode != "kiosk" and "session" in self.scope:
                chosen = await credential_for(self.scope["session"])
        self.variant = locale.variant(
            locale.language_for(
                chosen.language if chosen else "",
                self.scope.get("cookies") or {},
                headers.get(b"accept-language", b"").decode("latin-1"),
            ),
            locale.zone_for(chosen.time_zone if chosen else "", self.scope.get("cookies") or {}),
        )
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.sender = asyncio.get_running_loop().create_task(self._send_worker())
        # Screens (embeds, kiosks) get only what a screen shows, not a person's unread
        # counts, notifications and room list.
        self.group = (
            publisher.device_group(credential.pk)
            if self.access is None
            else publisher.screens_group(credential.pk)
        )
        # Every handler of the device's group only forwards a frame (LIVE_HANDLERS): the
        # in-memory layer (or, with several processes, this process's relay of the group)
        # calls it straight from the publishing task, so the frame is written before the
        # loop goes on, and hundreds of screens cost no queue and task switch each. Held
        # until caught up.
        self._held = []
        if not await devices.subscribe(self.group, self.channel_name, self._deliver):
            self._held = None
        elif not devices.spans_processes():
            self._membership = asyncio.get_running_loop().create_task(self._keep_membership())
        try:
            caught = await self.device.run(
                catch_up,
                rooms=sorted(self.rooms),
                epoch=epoch,
                after=after,
                room_list=self.access is None and self.with_list,
                variant=self.variant,
            )
        except (errors.MatrixError, errors.UnknownToken, devices.RemoteError) as exc:
            logger.info("catching up a page failed: %s", exc)
            await self.close(code=1013)
            return
        await self._send_caught_up(caught)
        # What arrived meanwhile, in order, without what the catch-up already sent; anything
        # arriving during this still queues up behind it, and direct delivery starts only
        # once nothing is held.
        replayed = {
            (payload["epoch"], payload["pos"])
            for _, missed in caught["replay"]
            for payload in missed or ()
        }
        while self._held:
            message = self._held.pop(0)
            if (message.get("epoch"), message.get("pos")) in replayed:
                continue
            await self._forward(message)
        self._held = None

    async def _send_caught_up(self, caught: dict[str, Any]) -> None:
        """The frames of a catch-up, in the order a page expects them."""
        self.epoch = caught["epoch"]
        if status := caught.get("status"):
            await self.send_json({"type": "status", **status})
        for room_id, missed in caught["replay"]:
            if missed is None:
                await self.send_json({"type": "resync", "room_id": room_id})
                continue
            for payload in missed:
                await self.room_events(payload)
        if caught.get("sections") is not None:
            # The whole list: each of `entries` is a section with its rooms' entries.
            await self.send_json({"type": "rooms", "entries": caught["sections"]})
        for frame in caught["frames"]:
            await self.send_json(frame)

    def _deliver(self, message: dict[str, Any]) -> Awaitable[None] | None:
        """A group message handed over directly by the layer or the relay (every handler of
        the group only forwards a frame): None when done, else what is left to await.

        A new message's `events` frame is what a kiosk wall's thousands of screens each get
        in one loop, so its common case (the page follows the room and is caught up with its
        owner, in the push's first language, the frame already built for the first screen)
        is written here without a coroutine or a lookup beyond one comparison; anything else
        takes the full way (`room_events`), which also builds the frame the others reuse."""
        if self._held is not None:
            self._held.append(message)
            return None
        if self._closed:
            return None
        kind = message.get("type", "")
        if kind == "room.events":
            if message["room_id"] not in self.rooms:
                return None
            write = self._write_frame
            if (
                write is not None
                and message["epoch"] == self.epoch
                and message.get("variant", self.variant) == self.variant
            ):
                wire = LATEST_EVENTS.get(message, self._media_prefix)
                if wire is not None and write(wire):
                    return None
            return self.room_events(message)
        handler = LIVE_HANDLERS.get(kind)
        if handler is not None:
            return getattr(self, handler)(message)
        return self.dispatch(message)

    async def _forward(self, message: dict[str, Any]) -> None:
        if not self._closed:
            await self.dispatch(message)

    async def _keep_membership(self) -> None:
        """Join the group again now and then: channel layers silently drop members after
        `group_expiry` (a day by default), and a kiosk screen stays connected for weeks."""
        assert self.group
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        self._closed = True
        if self._membership is not None:
            self._membership.cancel()
        if self.group:
            await devices.unsubscribe(self.group, self.channel_name)
        if self.device:
            self.device.detach()
            if self.variant:
                self._fire(self.device.run(want_variant, variant=self.variant, delta=-1), "variant")
            # Queued sends still go out: the person pressed Send before closing the tab.
            await self.outbox.put({"type": "stop"})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or not self.device or self.read_only:
            # Kiosk screens and embeds read through a shared account: they never act.
            return
        kind = content.get("type")
        if kind == "mark_unread" and self.access is None:
            # From the room list (any room of the user's), not only the page's room.
            room = content.get("room_id")
            if isinstance(room, str) and ROOM_ID_RE.match(room) and self.device.room(room):
                unread = bool(content.get("unread"))
                self._fire(self.device.set_marked_unread(room, unread), "marking unread")
            return
        if kind == "recent_emoji" and self.access is None:
            key = content.get("key")
            if isinstance(key, str) and 0 < len(key) <= 64:
                self._fire(recent_emoji.record(self.device, key), "recent emoji")
            return
        if kind == "follow" and self.access is None:
            await self._follow(content)
            return
        if not self.room_id:
            return
        if kind in ("send", "edit"):
            txn_id = content.get("txn_id")
            body = content.get("body")
            if not isinstance(txn_id, str) or not TXN_ID_RE.match(txn_id):
                return
            if not isinstance(body, str) or not body.strip() or len(body) > MAX_BODY:
                await self.send_json(
                    {
                        "type": "send_failed",
                        "txn_id": txn_id,
                        "error": _("This message is empty or too long to send."),
                        "retry": False,
                    }
                )
                return
            job = {"type": kind, "txn_id": txn_id, "body": body}
            for name in ("reply_to", "thread_id", "event_id"):
                value = content.get(name)
                if isinstance(value, str) and EVENT_ID_RE.match(value):
                    job[name] = value
            if kind == "edit" and "event_id" not in job:
                return
            await self.outbox.put({**job, "room_id": self.room_id})
        elif kind == "read":
            event_id = content.get("event_id")
            if isinstance(event_id, str) and EVENT_ID_RE.match(event_id):
                self._fire(self.device.mark_read(self.room_id, event_id), "read marker")
        elif kind == "typing":
            self._fire(self.device.set_typing(self.room_id, bool(content.get("typing"))), "typing")
        elif kind in EVENT_ACTIONS:
            event_id = content.get("event_id")
            if not isinstance(event_id, str) or not EVENT_ID_RE.match(event_id):
                return
            job = {"type": kind, "event_id": event_id}
            if kind in EVENT_ACTION_TEXT:
                name, longest = EVENT_ACTION_TEXT[kind]
                value = content.get(name)
                if not isinstance(value, str) or not value or len(value) > longest:
                    return
                job[name] = value
            elif kind == "redact":
                reason = content.get("reason")
                job["reason"] = reason[:500] if isinstance(reason, str) else ""
            await self.outbox.put({**job, "room_id": self.room_id})

    def _fire(self, coroutine: Any, what: str) -> None:
        """Side requests (read markers, typing) that nobody waits for; failures are logged."""

        async def run() -> None:
            try:
                await coroutine
            except (errors.MatrixError, errors.UnknownToken, devices.RemoteError) as exc:
                logger.info("%s failed: %s", what, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _run_job(self, job: dict[str, Any]) -> str | None:
        """One action, by the device's owner (a send with the page's transaction ID: asked
        again after a takeover, the homeserver still posts it once). It goes to the room the
        page showed when it was asked, even if the page has moved on to another since."""
        assert self.device
        room_id = job["room_id"]
        kind = job["type"]
        if kind == "send":
            done = await actions.run_command_on(self.device, room_id, job["body"])
            if done is not None:
                job["result"] = done
                return None
            return await self.device.run(
                actions.send_text,
                room_id=room_id,
                text=job["body"],
                txn_id=job["txn_id"],
                reply_to=job.get("reply_to"),
                thread_id=job.get("thread_id"),
            )
        if kind == "edit":
            return await self.device.run(
                actions.edit,
                room_id=room_id,
                event_id=job["event_id"],
                text=job["body"],
                txn_id=job["txn_id"],
            )
        if kind == "redact":
            await self.device.run(
                actions.redact, room_id=room_id, event_id=job["event_id"], reason=job["reason"]
            )
        elif kind == "react":
            await self.device.run(
                actions.react, room_id=room_id, event_id=job["event_id"], key=job["key"]
            )
        elif kind == "vote":
            await self.device.run(
                actions.vote, room_id=room_id, poll_id=job["event_id"], answer_id=job["answer"]
            )
        elif kind == "end_poll":
            await self.device.run(actions.end_poll, room_id=room_id, poll_id=job["event_id"])
        elif kind in ("pin", "unpin"):
            await self.device.run(
                actions.set_pinned,
                room_id=room_id,
                event_id=job["event_id"],
                pinned=kind == "pin",
            )
        return None

    async def _follow(self, content: dict[str, Any]) -> None:
        """The page swapped its conversation for another room (the two-pane layout): stop
        forwarding the old room, catch up the new one from where the fetched pane was
        rendered, and forward it live, as a socket opened on that room would."""
        assert self.device
        room = content.get("room_id")
        if not isinstance(room, str) or not ROOM_ID_RE.match(room):
            return
        summary = self.device.room(room)
        if summary is None or getattr(summary, "membership", "join") != "join":
            # Not a room this login is in: the page loads it whole (and is told why there).
            await self.send_json({"type": "follow_refused", "room_id": room})
            return
        epoch = content.get("epoch")
        after = content.get("pos")
        if not isinstance(epoch, str) or not isinstance(after, int):
            epoch, after = "", -1
        self.room_id = room
        self.rooms = frozenset([room])
        held_here = self._held is None
        if held_here:
            self._held = []
        try:
            caught = await self.device.run(
                catch_up, rooms=[room], epoch=epoch, after=after, room_list=False
            )
        except (errors.MatrixError, errors.UnknownToken, devices.RemoteError) as exc:
            logger.info("following a room failed: %s", exc)
            caught = {"epoch": self.epoch, "replay": [[room, None]], "frames": []}
        await self._send_caught_up(caught)
        replayed = {
            (payload["epoch"], payload["pos"])
            for _, missed in caught["replay"]
            for payload in missed or ()
        }
        if held_here:
            while self._held:
                message = self._held.pop(0)
                if (message.get("epoch"), message.get("pos")) in replayed:
                    continue
                await self._forward(message)
            self._held = None
        await self.send_json({"type": "following", "room_id": room})

    async def _send_worker(self) -> None:
        """Actions one at a time, in order, without holding up live events to this page."""
        assert self.device
        while True:
            job = await self.outbox.get()
            if job["type"] == "stop":
                return
            txn_id = job.get("txn_id")
            try:
                event_id = await self._run_job(job)
            except errors.MatrixError as exc:
                if txn_id:
                    reply = {"type": "send_failed", "txn_id": txn_id, "error": exc.message}
                    reply["retry"] = not exc.is_unknown_token and exc.errcode not in (
                        "W_NOT_OWN",
                        actions.COMMAND_ERROR,
                    )
                else:
                    reply = {"type": "action_failed", "error": exc.message}
                await self._reply(reply)
            except Exception:
                logger.exception("%s failed", job["type"])
                error = _("Something went wrong while sending.")
                if txn_id:
                    await self._reply(
                        {"type": "send_failed", "txn_id": txn_id, "error": error, "retry": True}
                    )
                else:
                    await self._reply({"type": "action_failed", "error": error})
            else:
                if "result" in job:
                    await self._reply(_command_reply(txn_id, job["result"]))
                elif txn_id:
                    await self._reply({"type": "sent", "txn_id": txn_id, "event_id": event_id})

    async def _reply(self, message: dict[str, Any]) -> None:
        try:
            await self.send_json(message)
        except Exception:  # noqa: S110 - the page went away; the send itself is done
            pass

    # -- messages from the device's group ---------------------------------------------------

    async def _send_frame(self, frame: Frame) -> None:
        """A frame encoded once for many viewers: its bytes straight onto the connection when
        the server side allows (frames.py), else its text through ASGI."""
        write = self._write_frame
        if write is not None and write(frame.wire):
            return
        await self.send(text_data=frame.text)

    async def room_events(self, message: dict[str, Any]) -> None:
        if message["room_id"] not in self.rooms:
            return
        if message["epoch"] != self.epoch and self.epoch:
            await self._owner_changed(message["epoch"])
        prefix = self._media_prefix
        # Pages of this device reading in another language or zone than the push's first
        # rendering take their own (publisher.room_events); the common case shares one.
        own = None
        events_in = message["events"]
        if message.get("variant", self.variant) != self.variant:
            others = message.get("variants") or {}
            if self.variant in others:
                own, events_in = self.variant, others[self.variant]
        media = _shows_media(events_in)
        if prefix is not None and not media:
            # Nothing to point elsewhere: the frame every viewer gets (each embed page has a
            # prefix of its own, its ticket; sharing the frame is what makes a desk-wide
            # embed cheap).
            prefix = None

        def build() -> dict[str, Any]:
            events = events_in
            if prefix is not None:
                events = [
                    {**item, "html": rewrite_media(item["html"], prefix)}
                    if item.get("html")
                    else item
                    for item in events
                ]
            return {
                "type": "events",
                "room_id": message["room_id"],
                "events": events,
                "limited": message.get("limited", False),
                "prev_batch": message.get("prev_batch"),
                "epoch": message["epoch"],
                "pos": message["pos"],
            }

        key = ("events", message["epoch"], message["pos"], message["room_id"])
        frame = FRAMES.get(key, prefix if own is None else (prefix, own), build)
        if own is None:
            LATEST_EVENTS.put(message, prefix, frame.wire, media=media)
        await self._send_frame(frame)

    async def room_summary(self, message: dict[str, Any]) -> None:
        if not self.with_list or self.access is not None:
            return
        # The entry as rendered in this page's language and zone, when that is not the first.
        own = (message.get("variants") or {}).get(self.variant)
        shown = own or message
        await self._send_frame(
            FRAMES.for_message(
                message,
                "room" if own is None else ("room", self.variant),
                lambda: {
                    "type": "room",
                    "room_id": message["room_id"],
                    "html": shown["html"],
                    "section": message.get("section", ""),
                    "sections": shown.get("sections", []),
                    "order": message["order"],
                },
            )
        )

    async def room_header(self, message: dict[str, Any]) -> None:
        if message["room_id"] in self.rooms:
            await self._send_frame(
                FRAMES.for_message(
                    message,
                    "header",
                    lambda: {
                        "type": "header",
                        "room_id": message["room_id"],
                        "name": message["name"],
                        "topic": message["topic"],
                        "topic_html": message.get("topic_html", ""),
                        "pinned": message.get("pinned", []),
                    },
                )
            )

    async def room_typing(self, message: dict[str, Any]) -> None:
        if message["room_id"] in self.rooms:
            await self._send_frame(
                FRAMES.for_message(
                    message,
                    "typing",
                    lambda: {
                        "type": "typing",
                        "room_id": message["room_id"],
                        "users": message["users"],
                    },
                )
            )

    async def room_receipts(self, message: dict[str, Any]) -> None:
        if message["room_id"] in self.rooms and self.access is None:
            await self._send_frame(
                FRAMES.for_message(
                    message,
                    "receipts",
                    lambda: {"type": "receipts", "receipts": message["receipts"]},
                )
            )

    async def room_notify(self, message: dict[str, Any]) -> None:
        if self.access is not None:
            return  # a shared screen does not notify anyone
        keys = ("room_id", "room_name", "sender", "event_id", "highlight")
        preview, variant = self._worded(message, "preview", "previews")
        await self._send_frame(
            FRAMES.for_message(
                message,
                ("notify", variant),
                lambda: {"type": "notify", "preview": preview, **{k: message[k] for k in keys}},
            )
        )

    def _worded(self, message: dict[str, Any], key: str, per_variant: str) -> tuple[str, str]:
        """A pushed text in this page's language and zone when the push has it (`publisher.
        worded`), else the push's own; and the variant it is in (frames are shared by it)."""
        own = (message.get(per_variant) or {}).get(self.variant)
        if own is None:
            return message[key], message.get("variant", "")
        return own, self.variant

    async def session_unread(self, message: dict[str, Any]) -> None:
        if self.access is not None:
            return
        await self._send_frame(
            FRAMES.for_message(
                message, "unread", lambda: {"type": "unread", "total": message["total"]}
            )
        )

    async def session_status(self, message: dict[str, Any]) -> None:
        text, variant = self._worded(message, "message", "messages")
        await self._send_frame(
            FRAMES.for_message(
                message,
                ("status", variant),
                lambda: {"type": "status", "state": message["state"], "message": text},
            )
        )

    async def session_owner(self, message: dict[str, Any]) -> None:
        """Another process owns the device now (the last one died or shut down)."""
        if message["epoch"] != self.epoch:
            await self._owner_changed(message["epoch"])

    async def cluster_gap(self, message: dict[str, Any]) -> None:
        """Redis lost pushes (restarted, or out of reach): catch up afresh, as after a new
        owner."""
        await self._owner_changed(self.epoch)

    async def _owner_changed(self, epoch: str) -> None:
        """What the page was caught up with belongs to another owner's epoch: its rooms
        fetch their newest events afresh (`resync` keeps what the page has that is newer),
        the room list comes whole."""
        self.epoch = epoch
        if self.device is not None and self.variant:
            # The new owner renders for the variants its pages name.
            self._fire(self.device.run(want_variant, variant=self.variant, delta=1), "variant")
        for room_id in sorted(self.rooms):
            await self.send_json({"type": "resync", "room_id": room_id})
        if self.with_list and self.access is None and self.device is not None:
            self._fire(self._room_list_afresh(), "room list")

    async def _room_list_afresh(self) -> None:
        assert self.device
        caught = await self.device.run(
            catch_up,
            rooms=[],
            epoch="",
            after=-1,
            room_list=True,
            variant=self.variant,
            register=False,
        )
        if caught.get("sections") is not None and not self._closed:
            await self.send_json({"type": "rooms", "entries": caught["sections"]})

    async def session_ended(self, message: dict[str, Any]) -> None:
        if self.access is not None and self.access.mode == "kiosk":
            await self.send_json({"type": "revoked"})
        elif self.access is not None:
            await self.send_json({"type": "reload"})
        else:
            await self.send_json({"type": "logout", "url": _login_url(message.get("reason"))})
        await self.close(code=4401)


@device_op(shared=True)
async def want_variant(session: MatrixSession, variant: str, delta: int) -> None:
    """A page of the device reads in `variant` (+1), or no longer (-1)."""
    publisher.of(session).want(variant, delta)


@device_op(shared=True)
async def catch_up(
    session: MatrixSession,
    rooms: list[str],
    epoch: str,
    after: int,
    room_list: bool,
    variant: str = "",
    register: bool = True,
) -> dict[str, Any]:
    """What a page rendered at (`epoch`, `after`) missed, by its owner: the session's
    status when not live; per room the pushes since (None: "fetch afresh"); the room list
    (a room-list page of another epoch, or older than the last push); then each room's
    header when it changed since and who is typing."""
    pages = publisher.of(session)
    if variant and register:
        pages.want(variant, 1)
    answer: dict[str, Any] = {
        "epoch": pages.epoch,
        "status": None,
        "replay": [],
        "sections": None,
        "frames": [],
    }
    if session.status != "live":
        with locale.rendering_in(variant):
            message = session.status_message
        if message:
            answer["status"] = {"state": session.status, "message": message}
    if rooms:
        if after >= 0:
            answer["replay"] = [[room_id, pages.replay(room_id, epoch, after)] for room_id in rooms]
    if room_list and (epoch != pages.epoch or after < pages.position):
        try:
            await asyncio.wait_for(session.synced.wait(), FIRST_SYNC_WAIT)
        except TimeoutError:
            pass
        else:
            with locale.rendering_in(variant):
                answer["sections"] = render_room_sections(session.rooms, session.user_id)
    for room_id in rooms:
        summary = session.rooms.rooms.get(room_id)
        changed_at = pages.header_changed.get(room_id, 0)
        if summary is not None and (epoch != pages.epoch or changed_at > after):
            # The name or topic changed between the page's render and this socket.
            answer["frames"].append(
                {
                    "type": "header",
                    "room_id": room_id,
                    "name": summary.display_name(session.user_id),
                    "topic": summary.topic or "",
                    "topic_html": topic_html(summary.topic, summary.topic_html),
                    "pinned": summary.pinned,
                }
            )
        if typing := session.typing.get(room_id):
            answer["frames"].append(
                {"type": "typing", "room_id": room_id, "users": pages.names(room_id, typing)}
            )
    return answer
