"""`DeviceHandle`: a Matrix device as views and sockets use it, whichever process runs it.

Exactly one process owns a device cluster-wide (`matrix.registry`: the device's lease): it
syncs, decrypts, renders once and publishes. Any process serves any page or socket: what
needs the owner's state (a timeline page decrypted and rendered, an event, a send with the
page's transaction ID, the catch-up of a socket) is a *device operation*: an async function
`op(session, **kwargs)` marked `@device_op`, run on the owner's `MatrixSession`. A view
calls `await device.run(op, room_id=…)`: in the owner's process that is a plain call; in any
other process it is a request over the channel layer to the owner (`cluster.Node`), with the
same result or the same error. The one-process default never leaves the process.

What else views need is on the handle too, with the session's names, so a view does not know
where the device runs: `api` (plain homeserver requests, which any process may make with the
login's token: none of them touches the olm account), `rooms` (the room list: the session's
own, or a copy of the owner's, asked again when its version changed), `room`, `members`,
`unread_total`, `resolve`, `wait_synced`, `wait_until`, `epoch` and `position` (what pages
carry for their socket's catch-up), and a few operations by name (`event`, `send_message`,
`toggle_reaction`, `redact`, `mark_read`, `set_typing`, `power_levels`, `create_event`).

Takeover. A process with open pages of a device owned elsewhere looks at the device's lease
every `DEVICE_TAKEOVER_POLL` seconds (and tells the owner it still has viewers, so its loop
does not stop idle); when the lease has lapsed (the owner died) or was released (it shut
down), it takes the device over: it starts the session from the stored sync token and
crypto store and announces the new owner (`session.owner`, with the new epoch), and every
page of the device then catches up afresh (`resync`). A request whose owner stops answering
is asked again wherever the lease then points, or this process takes the device over itself
once the lease lapses; `OwnerUnavailable` ("… restarting; try again in a moment") only when
nothing answers within `DEVICE_REQUEST_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import json
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from webclient.matrix import errors, registry
from webclient.matrix.api import SESSION_RATE_LIMIT_BUDGET, HomeserverApi
from webclient.matrix.models import Credential
from webclient.matrix.roomstate import RoomList, RoomSummary
from webclient.matrix.session import MatrixSession, create_event_of, power_levels_of

from . import cluster, publisher
from .cluster import Silent, spans_processes

logger = logging.getLogger("webclient.live.devices")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

#: How long a handle of a device owned elsewhere, with no viewers, is kept for later pages.
HANDLE_IDLE_SECONDS = 300.0
#: A copy of the owner's state this recent serves a page without asking again.
STATE_FRESH_SECONDS = 1.0


class OwnerUnavailable(errors.MatrixError):
    """Nobody answers for the device (its owner process died and nobody took it over yet)."""


def owner_unavailable() -> OwnerUnavailable:
    return OwnerUnavailable(
        _("This login's server process is restarting; try again in a moment."),
        errcode="W_OWNER_UNAVAILABLE",
        status=503,
    )


# -- operations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    name: str
    fn: Callable[..., Awaitable[Any]]
    #: Has effects (a send): an owner asked twice under one request ID does it once.
    once: bool
    #: Reads what every page of the device sees alike (a timeline page, a catch-up): calls
    #: with the same arguments while one is under way share its result (a thousand screens
    #: catching up at once cost the homeserver one request).
    shared: bool = False


OPS: dict[str, Op] = {}


def device_op(fn: F | None = None, *, once: bool = False, shared: bool = False) -> Any:
    """Mark `fn(session, **kwargs)` as something a device's owner runs for any process.
    Its keyword arguments and its result must be plain data (what JSON holds); see `Op` for
    `once` and `shared`."""

    def mark(fn: F) -> F:
        name = f"{fn.__module__}.{fn.__qualname__}"
        OPS[name] = Op(name, fn, once, shared)
        fn.device_op_name = name  # type: ignore[attr-defined]
        return fn

    return mark(fn) if fn is not None else mark


def _plain(value: Any) -> Any:
    """What a result looks like after the trip through the channel layer (msgpack)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def _error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, errors.UnknownToken):
        return {"kind": "unknown_token", "message": exc.message, "errcode": exc.errcode}
    if isinstance(exc, errors.MatrixError):
        kind = type(exc).__name__
        return {
            "kind": "matrix",
            "class": kind if isinstance(getattr(errors, kind, None), type) else "MatrixError",
            "message": exc.message,
            "errcode": exc.errcode,
            "status": exc.status,
            "retry_after_ms": exc.retry_after_ms,
            "server_message": exc.server_message,
        }
    return {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"}


class RemoteError(RuntimeError):
    """The owner failed with something other than a Matrix error (a bug, logged there)."""


def _raise(error: dict[str, Any]) -> None:
    kind = error.get("kind")
    if kind == "unknown_token":
        raise errors.UnknownToken(error.get("message") or "", error.get("errcode") or "")
    if kind == "matrix":
        cls = getattr(errors, str(error.get("class")), errors.MatrixError)
        if not (isinstance(cls, type) and issubclass(cls, errors.MatrixError)):
            cls = errors.MatrixError
        raise cls(
            str(error.get("message") or ""),
            errcode=error.get("errcode"),
            status=error.get("status"),
            retry_after_ms=error.get("retry_after_ms"),
            server_message=error.get("server_message"),
        )
    raise RemoteError(str(error.get("message") or "the device's owner failed"))


# -- the handle ---------------------------------------------------------------------------------


class DeviceHandle:
    """One device as this process sees it: its `MatrixSession` when this process owns it,
    else a proxy to the owner. See the module docstring."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential
        self.credential_id: int = credential.pk
        self.user_id: str = credential.user_id
        self.device_id: str = credential.device_id
        self.homeserver: str = credential.homeserver
        self._session: MatrixSession | None = None
        self._api: HomeserverApi | None = None
        # The owner's state as last asked (only while another process owns the device).
        self._rooms = RoomList()
        self._state: dict[str, Any] = {
            "epoch": "",
            "position": 0,
            "version": -1,
            "status": "starting",
            "status_message": "",
            "synced": False,
            "closed": False,
        }
        self.owner: str | None = None
        self.viewers = 0
        self.used = time.monotonic()
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shared: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._refreshed = 0.0
        self._owner_answered = 0.0

    def __repr__(self) -> str:
        where = "here" if self.session is not None else f"at {self.owner}"
        return f"<DeviceHandle {self.credential_id} {where}, {self.viewers} viewers>"

    # -- where it runs ------------------------------------------------------------------------

    @property
    def session(self) -> MatrixSession | None:
        """The device's session when this process owns it."""
        session = self._session
        if session is not None and session.closed:
            self._session = session = None
            self._watch()
        return session

    async def ready(self) -> None:
        """Make sure the device runs somewhere: here when this process owns it or can take
        it, else at its owner, whose state this handle then copies."""
        self.used = time.monotonic()
        session = self.session
        if session is not None:
            session.touch()
            return
        if self.owner is not None and time.monotonic() - self._refreshed <= STATE_FRESH_SECONDS:
            return  # its owner answered a moment ago
        if await self._own(wait=0) is not None:
            return
        if not spans_processes():
            # No way to reach another process (no Redis): wait for its lease to lapse.
            if await self._own(wait=settings.DEVICE_LEASE_TTL + 1) is None:
                raise owner_unavailable()
            return
        if time.monotonic() - self._refreshed > STATE_FRESH_SECONDS:
            await self.refresh()

    async def _own(self, *, wait: float) -> MatrixSession | None:
        before = registry.running(self.credential_id)
        address = _node().address if spans_processes() else None
        session = await registry.own(self.credential, wait=wait, owner_id=address)
        if session is not None:
            await self._adopt(session, fresh=session is not before)
        return session

    async def _adopt(self, session: MatrixSession, *, fresh: bool) -> None:
        if self._session is session:
            return
        self._session = session
        for _viewer in range(self.viewers):
            session.attach()
        if fresh and spans_processes():
            logger.info("device %s: this process is its owner now", self.credential_id)
            # Pages rendered from another owner catch up afresh (a new epoch).
            await publisher.of(session).announce()

    # -- running operations ---------------------------------------------------------------------

    async def run(self, op: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        """`op(session, **kwargs)` on the device's session, wherever it runs."""
        name = getattr(op, "device_op_name", None)
        if name is None or name not in OPS:
            raise TypeError(f"{op!r} is not a device operation (@device_op)")
        spec = OPS[name]
        if not spec.shared:
            return await self._call(spec, kwargs)
        key = (name, json.dumps(kwargs, sort_keys=True, default=str))
        running = self._shared.get(key)
        if running is None:
            running = self._shared[key] = asyncio.ensure_future(self._call(spec, kwargs))
            running.add_done_callback(lambda done: self._unshare(key, done))
        result = await asyncio.shield(running)
        # Each caller gets its own dict: views add to the context they are given.
        return dict(result) if isinstance(result, dict) else result

    def _unshare(self, key: tuple[str, str], done: asyncio.Future[Any]) -> None:
        if self._shared.get(key) is done:
            del self._shared[key]
        if not done.cancelled():
            done.exception()  # retrieved here too: every waiter may have gone

    async def _call(
        self,
        op: Op,
        kwargs: dict[str, Any],
        *,
        take_over: bool = True,
        timeout: float | None = None,
    ) -> Any:
        session = self.session
        if session is not None:
            return await op.fn(session, **kwargs)
        if not spans_processes():
            await self.ready()
            session = self.session
            assert session is not None
            return await op.fn(session, **kwargs)
        node = _node()
        request_id = uuid.uuid4().hex
        body = {"credential_id": self.credential_id, "op": op.name, "args": kwargs}
        # The owner words its errors and results in the asking page's language.
        body.update(once=op.once, module=op.fn.__module__, language=translation.get_language())
        deadline = time.monotonic() + (timeout or settings.DEVICE_REQUEST_TIMEOUT)
        silent: str | None = None
        # The owner that answered last, while that is recent (its lease would have lapsed
        # since otherwise); after any trouble, wherever the lease points now.
        trusted = time.monotonic() - self._owner_answered < settings.DEVICE_LEASE_TTL
        while True:
            session = self.session
            if session is not None:
                return await op.fn(session, **kwargs)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise owner_unavailable()
            if trusted and self.owner is not None:
                owner: str | None = self.owner
            else:
                owner = await registry.holder(self.credential)
            trusted = False
            target = cluster.Node.channel_of(owner) if owner else ""
            if owner is None or owner == node.address or not target or owner == silent:
                # Nobody owns it, or its owner is gone: run it here (wait for a dead
                # owner's lease to lapse).
                if not take_over:
                    raise owner_unavailable()
                wait = 0.0 if owner is None else min(settings.DEVICE_LEASE_TTL + 1, remaining)
                if await self._own(wait=wait) is None:
                    silent = None  # the lease is alive: its holder is slow, not dead
                    await asyncio.sleep(0.1)
                continue
            self.owner = owner
            try:
                reply = await node.call(
                    target,
                    request_id,
                    body,
                    silence=min(settings.DEVICE_REQUEST_SILENCE, max(remaining, 0.1)),
                )
            except Silent as exc:
                logger.warning(
                    "device %s: owner %s did not answer: %s", self.credential_id, owner, exc
                )
                silent = owner
                continue
            if reply.get("state") == "done":
                self._owner_answered = time.monotonic()
                return reply.get("result")
            error = reply.get("error") or {}
            if error.get("kind") != "not_owner":
                self._owner_answered = time.monotonic()
            if error.get("kind") == "not_owner":
                await asyncio.sleep(0.1)  # it has just stopped owning it: look again
                continue
            _raise(error)

    async def refresh(self, wait_synced: float = 0.0) -> None:
        """Ask the owner for its state (the room list only when it changed)."""
        known_epoch, known_version = self._state["epoch"], self._state["version"]
        state = await self.run(
            _state,
            wait_synced=wait_synced,
            known_epoch=known_epoch,
            known_version=known_version,
        )
        if self.session is not None:
            return  # it became ours meanwhile
        rooms = state.pop("rooms", None)
        if rooms is not None:
            self._rooms = RoomList.from_dict(rooms)
        elif (state["epoch"], state["version"]) != (known_epoch, known_version):
            return  # answered for a copy another refresh has meanwhile replaced
        self._state = state
        self._refreshed = time.monotonic()

    # -- what views read ----------------------------------------------------------------------

    @property
    def api(self) -> HomeserverApi:
        """Homeserver requests with the login's token (the session's own when it runs here)."""
        session = self.session
        if session is not None:
            return session.api
        if self._api is None:
            self._api = HomeserverApi(
                self.homeserver,
                self.credential.access_token,
                rate_limit_budget=SESSION_RATE_LIMIT_BUDGET,
            )
        return self._api

    @property
    def rooms(self) -> RoomList:
        session = self.session
        return session.rooms if session is not None else self._rooms

    @property
    def closed(self) -> bool:
        session = self.session
        return session.closed if session is not None else bool(self._state["closed"])

    @property
    def status(self) -> str:
        session = self.session
        return session.status if session is not None else str(self._state["status"])

    @property
    def status_message(self) -> str:
        session = self.session
        return session.status_message if session is not None else self._state["status_message"]

    @property
    def epoch(self) -> str:
        """The publisher's epoch (pages carry it in `data-epoch`)."""
        session = self.session
        return publisher.of(session).epoch if session is not None else str(self._state["epoch"])

    @property
    def position(self) -> int:
        """The publisher's position now: a page rendered after this replays what follows."""
        session = self.session
        return publisher.of(session).position if session is not None else self._state["position"]

    def room(self, room_id: str) -> RoomSummary | None:
        return self.rooms.rooms.get(room_id)

    def members(self, room_id: str) -> dict[str, dict]:
        summary = self.room(room_id)
        return summary.members if summary else {}

    def unread_total(self) -> int:
        return sum(
            r.notification_count for r in self.rooms.rooms.values() if r.membership == "join"
        )

    def room_encrypted(self, room_id: str) -> bool:
        """Whether messages to the room are encrypted here (always false with encryption off)."""
        summary = self.room(room_id)
        return settings.E2E_ENABLED and bool(summary and summary.encrypted)

    def touch(self) -> None:
        if (session := self.session) is not None:
            session.touch()

    async def resolve(self, room: str) -> str:
        """A room ID from a room ID or an alias."""
        if room.startswith("#"):
            return await self.api.resolve_alias(room, action=_("Looking up the room address"))
        return room

    async def wait_synced(self, timeout: float) -> bool:
        """Whether the room list is known (a first sync done, or a stored one) in time."""
        session = self.session
        if session is not None:
            return await session.wait_synced(timeout)
        await self.refresh(wait_synced=timeout)
        if (session := self.session) is not None:
            return await session.wait_synced(timeout)
        return bool(self._state["synced"])

    async def wait_until(
        self, room_id: str, done: Callable[[RoomSummary | None], bool], timeout: float
    ) -> bool:
        """Wait (briefly) until the room list shows a change: `done(summary)` holds."""
        session = self.session
        if session is not None:
            return await session.wait_until(room_id, done, timeout)
        deadline = time.monotonic() + timeout
        while True:
            if done(self.rooms.rooms.get(room_id)):
                return True
            if time.monotonic() >= deadline or self.closed:
                return False
            await asyncio.sleep(0.2)
            await self.refresh()

    # -- what pages do --------------------------------------------------------------------------

    async def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """An event as the owner decrypted it (from its store or the homeserver)."""
        return await self.run(_event, room_id=room_id, event_id=event_id)

    async def power_levels(
        self, room_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The room's power levels and create event (from the room list when it has them)."""
        session = self.session
        if session is not None:
            return await session.power_levels(room_id)
        return await power_levels_of(self.room(room_id), self.api, room_id)

    async def create_event(self, room_id: str) -> dict[str, Any] | None:
        session = self.session
        if session is not None:
            return await session.create_event(room_id)
        return await create_event_of(self.api, room_id)

    async def send_message(
        self, room_id: str, content: dict[str, Any], txn_id: str, event_type: str = "m.room.message"
    ) -> str:
        return await self.run(
            _send_message, room_id=room_id, content=content, txn_id=txn_id, event_type=event_type
        )

    async def redact(self, room_id: str, event_id: str, reason: str = "") -> None:
        await self.run(_redact, room_id=room_id, event_id=event_id, reason=reason)

    async def toggle_reaction(self, room_id: str, event_id: str, key: str) -> None:
        await self.run(_toggle_reaction, room_id=room_id, event_id=event_id, key=key)

    async def mark_read(self, room_id: str, event_id: str) -> None:
        await self.run(_mark_read, room_id=room_id, event_id=event_id)

    async def set_marked_unread(self, room_id: str, unread: bool) -> None:
        await self.run(_set_marked_unread, room_id=room_id, unread=unread)

    async def global_account_data(self, event_type: str) -> dict[str, Any]:
        """The user's global account data of a type, as the owner's sync keeps it."""
        return await self.run(_global_account_data, event_type=event_type)

    async def set_global_account_data(self, event_type: str, content: dict[str, Any]) -> None:
        await self.run(_set_global_account_data, event_type=event_type, content=content)

    async def set_typing(self, room_id: str, typing: bool) -> None:
        await self.run(_set_typing, room_id=room_id, typing=typing)

    # -- viewers ----------------------------------------------------------------------------------

    def attach(self) -> None:
        """An open page (a socket) shows the device."""
        self.viewers += 1
        self.used = time.monotonic()
        if (session := self.session) is not None:
            session.attach()
        self._watch()

    def detach(self) -> None:
        self.viewers = max(0, self.viewers - 1)
        self.used = time.monotonic()
        if (session := self.session) is not None:
            session.detach()

    def _watch(self) -> None:
        # Also in a single process: a loop stalled past the lease's expiry (thousands of
        # sockets connecting at once) loses the lease and stops the session; pages still
        # open must not wait for a reload to get the device back.
        if self.viewers and self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch_owner(),
                name=f"watch device {self.credential_id}",
                context=contextvars.Context(),
            )

    async def _watch_owner(self) -> None:
        """While this process has viewers of a device another process owns: keep the owner's
        loop alive, and take the device over when its lease lapses (or take it back when
        this process lost it)."""
        keepalive = max(1.0, min(settings.MATRIX_SESSION_IDLE_SECONDS / 3, 30.0))
        told = 0.0
        try:
            while self.viewers:
                await asyncio.sleep(settings.DEVICE_TAKEOVER_POLL)
                if self.session is not None:
                    continue
                try:
                    owner = await registry.holder(self.credential)
                    if owner is None:
                        if await self._own(wait=0) is not None:
                            logger.info("took over device %s", self.credential_id)
                        continue
                    self.owner = owner
                    if (
                        spans_processes()
                        and time.monotonic() - told >= keepalive
                        and owner != _node().address
                    ):
                        told = time.monotonic()
                        self._fire(self._keepalive())
                except errors.UnknownToken:
                    return  # signed out: its pages are told by the sign-out
                except Exception:
                    logger.warning("watching device %s failed", self.credential_id, exc_info=True)
        finally:
            self._watcher = None

    async def _keepalive(self) -> None:
        try:
            await self._call(OPS[_keepalive.device_op_name], {}, take_over=False, timeout=5)  # type: ignore[attr-defined]
        except (errors.MatrixError, errors.UnknownToken, RemoteError):
            pass

    def _fire(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self._api is not None:
            await self._api.close()
            self._api = None


# -- this process's handles --------------------------------------------------------------------

_handles: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, DeviceHandle]] = (
    weakref.WeakKeyDictionary()
)
_swept: dict[asyncio.AbstractEventLoop, float] = {}


def _here() -> dict[int, DeviceHandle]:
    return _handles.setdefault(asyncio.get_running_loop(), {})


def _sweep(handles: dict[int, DeviceHandle]) -> None:
    """Forget handles of devices owned elsewhere that nobody here looked at for a while."""
    loop = asyncio.get_running_loop()
    now = time.monotonic()
    if now - _swept.get(loop, 0.0) < 60:
        return
    _swept[loop] = now
    for pk, handle in list(handles.items()):
        if (
            not handle.viewers
            and handle._session is None
            and now - handle.used > HANDLE_IDLE_SECONDS
        ):
            del handles[pk]
            loop.create_task(handle.close())


async def device_for(credential: Credential) -> DeviceHandle:
    """The device of a login, running here or at its owner (started here if nobody runs it).
    `OwnerUnavailable` when its owner is gone and nobody could take it over in time."""
    handles = _here()
    handle = handles.get(credential.pk)
    if handle is None:
        handle = handles[credential.pk] = DeviceHandle(credential)
        _sweep(handles)
    await handle.ready()
    return handle


def handle_of(credential_id: int) -> DeviceHandle | None:
    """This process's handle of a device, if it has one (tests and measurements)."""
    return _here().get(credential_id)


async def stop(credential: Credential) -> None:
    """Stop the device's sync loop wherever it runs (a sign-out): here, or at its owner.
    Never starts it anywhere."""
    handle = _here().pop(credential.pk, None)
    if registry.running(credential.pk) is not None:
        await registry.stop(credential.pk)
    elif spans_processes():
        handle = handle or DeviceHandle(credential)
        try:
            await handle._call(
                OPS[_stop.device_op_name],  # type: ignore[attr-defined]
                {},
                take_over=False,
                timeout=settings.DEVICE_REQUEST_SILENCE + 1,
            )
        except (errors.MatrixError, errors.UnknownToken, RemoteError) as exc:
            logger.info("device %s: owner not told to stop: %s", credential.pk, exc)
    if handle is not None:
        await handle.close()


# -- the owner's side ---------------------------------------------------------------------------


def _node() -> cluster.Node:
    return cluster.node(_serve)


async def _serve(request: dict[str, Any]) -> dict[str, Any]:
    """Run a request another process sent this one as the device's owner."""
    op = OPS.get(str(request.get("op")))
    module = str(request.get("module", ""))
    if op is None and module.startswith("webclient."):
        # Operations are registered when their module is imported: a process that has not
        # loaded that view yet (it served only sockets so far) loads it now.
        importlib.import_module(module)
        op = OPS.get(str(request.get("op")))
    if op is None:
        return {"state": "error", "error": {"kind": "internal", "message": "unknown operation"}}
    try:
        credential_id = int(request.get("credential_id", 0))
        session = registry.running(credential_id)
        if session is None or session.closed:
            credential = await Credential.objects.filter(pk=credential_id).afirst()
            if credential is None:
                raise errors.UnknownToken(_("This login has ended."))
            if not registry.holds(credential):
                return {"state": "error", "error": {"kind": "not_owner", "message": ""}}
            handle = await device_for(credential)
            session = handle.session
            if session is None:
                return {"state": "error", "error": {"kind": "not_owner", "message": ""}}
        session.touch()
        args = request.get("args") or {}
        handle = _here().get(credential_id)
        with translation.override(str(request.get("language") or "") or None):
            if op.shared and handle is not None and handle.session is session:
                result = await handle.run(op.fn, **args)  # shared with this process's pages
            else:
                result = await op.fn(session, **args)
    except asyncio.CancelledError:
        raise
    except (errors.MatrixError, errors.UnknownToken) as exc:
        return {"state": "error", "error": _error_of(exc)}
    except Exception as exc:
        logger.exception("device operation %s failed", op.name)
        return {"state": "error", "error": _error_of(exc)}
    return {"state": "done", "result": _plain(result)}


async def subscribe(
    group: str, name: str, handler: Callable[[dict[str, Any]], Awaitable[None] | None]
) -> bool:
    """Hand what a device's group carries to `handler` (a consumer of this process): through
    the process's relay of the group with several processes, straight from the in-memory
    layer in one. False when the layer can only queue the messages on the consumer's own
    channel (then its receive loop dispatches them)."""
    if spans_processes():
        await _node().subscribe(group, name, handler)
        return True
    layer = get_channel_layer()
    direct = hasattr(layer, "deliver_directly")
    if direct:
        layer.deliver_directly(name, handler)
    await layer.group_add(group, name)
    return direct


async def unsubscribe(group: str, name: str) -> None:
    if spans_processes():
        if (node := cluster.current()) is not None:
            await node.unsubscribe(group, name)
        return
    layer = get_channel_layer()
    if hasattr(layer, "stop_direct"):
        layer.stop_direct(name)
    await layer.group_discard(group, name)


async def shutdown(timeout: float = 5.0) -> None:
    """A graceful stop (`ops.lifecycle` calls it on SIGTERM): finish the requests under way
    (up to `timeout`), stop every session and release every lease now (other processes take
    the devices over at once), leave every relay."""
    node = cluster.current()
    if node is not None:
        await node.drain(timeout)
    await registry.stop_all()
    if node is not None:
        await node.close()
    for handle in list(_here().values()):
        await handle.close()
    _here().clear()


# -- operations every page may need ----------------------------------------------------------------


@device_op(shared=True)
async def _state(
    session: MatrixSession, wait_synced: float, known_epoch: str, known_version: int
) -> dict[str, Any]:
    """The owner's state for a copy in another process (the room list when it changed)."""
    if wait_synced:
        await session.wait_synced(wait_synced)
    pages = publisher.of(session)
    changed = (known_epoch, known_version) != (pages.epoch, session.rooms_version)
    return {
        "epoch": pages.epoch,
        "position": pages.position,
        "version": session.rooms_version,
        "status": session.status,
        "status_message": session.status_message,
        "synced": session.synced.is_set(),
        "closed": session.closed,
        "rooms": session.rooms.to_dict() if changed else None,
    }


@device_op
async def _keepalive(session: MatrixSession) -> None:
    """Another process still has viewers of the device (`_serve` touched the session)."""


@device_op
async def _stop(session: MatrixSession) -> None:
    await session.stop()


@device_op(shared=True)
async def _event(session: MatrixSession, room_id: str, event_id: str) -> dict[str, Any]:
    return await session.event(room_id, event_id)


@device_op(once=True)
async def _send_message(
    session: MatrixSession, room_id: str, content: dict[str, Any], txn_id: str, event_type: str
) -> str:
    return await session.send_message(room_id, content, txn_id, event_type)


@device_op(once=True)
async def _redact(session: MatrixSession, room_id: str, event_id: str, reason: str) -> None:
    await session.redact(room_id, event_id, reason)


@device_op(once=True)
async def _toggle_reaction(session: MatrixSession, room_id: str, event_id: str, key: str) -> None:
    await session.toggle_reaction(room_id, event_id, key)


@device_op
async def _mark_read(session: MatrixSession, room_id: str, event_id: str) -> None:
    await session.mark_read(room_id, event_id)


@device_op
async def _set_typing(session: MatrixSession, room_id: str, typing: bool) -> None:
    await session.set_typing(room_id, typing)


@device_op(once=True)
async def _set_marked_unread(session: MatrixSession, room_id: str, unread: bool) -> None:
    await session.set_marked_unread(room_id, unread)


@device_op(shared=True)
async def _global_account_data(session: MatrixSession, event_type: str) -> dict[str, Any]:
    return await session.global_account_data(event_type)


@device_op(once=True)
async def _set_global_account_data(
    session: MatrixSession, event_type: str, content: dict[str, Any]
) -> None:
    await session.set_global_account_data(event_type, content)
