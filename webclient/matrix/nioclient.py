"""matrix-nio clients configured for a server that talks for many people.

nio runs the sync loop (and, with encryption, the olm machine's key traffic). It retries rate
limits and timeouts forever by default; here every retry is the session's decision, so nio is
told never to retry, and its error responses become the same typed exceptions as every other
request's (`errors`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from django.conf import settings
from nio import AsyncClient, AsyncClientConfig, ErrorResponse, SyncResponse

from . import errors

T = TypeVar("T")


class SessionClient(AsyncClient):
    """nio's client, but the events of a sync stay as the homeserver sent them.

    nio would decrypt timeline events inside `sync()` and keep only the clear event (losing
    the encrypted envelope's `unsigned` and who sent it from which device); the session
    decrypts the spec's JSON itself (`encryption.DeviceCrypto.decrypt`), the same way for a
    sync and for a page of history. To-device events (room keys) are still nio's.

    With `hold_syncs` set, a sync that brings no to-device events and no device-list change
    is handed back before nio has taken it in (its rooms' state, key counts); the session
    shows its new events first and then calls `release_sync`. Room keys and devices are
    nio's before anything is decrypted: such syncs are taken in at once.

    With `early_sync` set, the JSON of a successful sync that brings no to-device events and
    no device-list change (`sync_without_keys`, the JSON side of the same rule) is handed to
    it before nio parses it: nio checks a sync against its schema and builds its objects
    (~0.5 ms for one message), and the session can show plain new messages meanwhile."""

    hold_syncs = False
    held_sync: SyncResponse | None = None
    early_sync: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    async def create_matrix_response(  # noqa: ANN201
        self,
        response_class: type,
        transport_response: aiohttp.ClientResponse,
        data: tuple[Any, ...] | None = None,
        save_to: Any = None,
    ):
        hook = self.early_sync
        if hook is not None and response_class is SyncResponse and transport_response.status == 200:
            try:
                parsed = await transport_response.json()
            except (ValueError, aiohttp.ContentTypeError):
                parsed = None  # nio's own parsing says what is wrong with it
            if isinstance(parsed, dict) and sync_without_keys(parsed):
                await hook(parsed)
        # nio parses the body again into dicts of its own: what it builds from them cannot
        # change the events already handed out.
        return await super().create_matrix_response(
            response_class, transport_response, data, save_to
        )

    async def receive_response(self, response):  # noqa: ANN001, ANN201
        if (
            self.hold_syncs
            and isinstance(response, SyncResponse)
            and not response.to_device_events
            and not response.device_list.changed
            and not response.device_list.left
        ):
            await self.release_sync()
            self.held_sync = response
            return
        await self.release_sync()
        await super().receive_response(response)

    async def release_sync(self) -> None:
        """Let nio take in the sync it was holding, if any."""
        response, self.held_sync = self.held_sync, None
        if response is not None:
            await super().receive_response(response)

    def _handle_timeline_event(self, event, room_id, room, encrypted_rooms):  # noqa: ANN001, ANN202
        from nio import MegolmEvent

        if isinstance(event, MegolmEvent):
            encrypted_rooms.add(room_id)
            return None
        return super()._handle_timeline_event(event, room_id, room, encrypted_rooms)


def sync_without_keys(sync: dict[str, Any]) -> bool:
    """Whether a sync's JSON brings no to-device events (room keys) and no device-list
    changes: `SessionClient.receive_response`'s rule for holding a sync, on the JSON."""
    to_device = sync.get("to_device")
    if isinstance(to_device, dict) and to_device.get("events"):
        return False
    devices = sync.get("device_lists")
    return not (isinstance(devices, dict) and (devices.get("changed") or devices.get("left")))


def make_client(
    homeserver: str,
    user_id: str = "",
    device_id: str | None = None,
    access_token: str | None = None,
) -> SessionClient:
    config = AsyncClientConfig(
        max_limit_exceeded=0,
        max_timeouts=0,
        request_timeout=settings.MATRIX_REQUEST_TIMEOUT,
        store_sync_tokens=False,
        # Turned on (with the device's store) by `encryption.DeviceCrypto.open`.
        encryption_enabled=False,
    )
    client = SessionClient(homeserver, user_id, device_id=device_id, config=config)
    if access_token:
        client.access_token = access_token
    return client


def check(response: T, action: str | None = None) -> T:
    """Return a successful nio response, or raise the exception an error one means."""
    if isinstance(response, ErrorResponse):
        if response.status_code in {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"}:
            raise errors.UnknownToken(errcode=response.status_code)
        transport = getattr(response, "transport_response", None)
        status = getattr(transport, "status", None)
        raise errors.from_response(
            response.status_code,
            status,
            response.message if response.message != "unknown error" else None,
            response.retry_after_ms,
            action=action,
        )
    return response


async def call(awaitable: Awaitable[T], homeserver: str, action: str | None = None) -> T:
    """Await a nio request, turning transport failures into a `MatrixError`."""
    try:
        return check(await awaitable, action)
    except errors.MatrixError:
        raise
    except TimeoutError as exc:
        raise errors.unreachable(homeserver, "timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        raise errors.unreachable(homeserver, exc.os_error.strerror or "connection refused") from exc
    except aiohttp.ClientError as exc:
        raise errors.unreachable(homeserver, type(exc).__name__) from exc
