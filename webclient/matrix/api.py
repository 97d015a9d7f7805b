"""The client-server API of one homeserver: every request this client makes goes through here.

`HomeserverApi.request` is the one request function: it adds the access token, applies the
timeout, waits out rate limits (`retry_after_ms` or `Retry-After`) within the budget its
owner allows, turns transport failures and error responses into the typed exceptions of
`errors`, and hands a user-interactive-authentication challenge back to `uia`. Above it, one
method per endpoint (`get_state`, `put_state`, `redact`, `join`, `create_room`, …), the way
matrix-nio's `api.py` and Hydrogen's `HomeServerApi` do, so no caller builds a path.

Only the sync loop itself (and, with encryption, the olm machine's key traffic and encrypted
sends) goes through matrix-nio's `AsyncClient` (`nioclient.py`), whose failures map to the
same exceptions.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from django.conf import settings
from django.utils.translation import gettext as _

from . import errors, media

CLIENT = "/_matrix/client"
PASSWORD_STAGE = "m.login.password"  # noqa: S105 - the UIA stage name
#: How long a session waits out rate limits in all before it gives up on a request.
SESSION_RATE_LIMIT_BUDGET = 60.0
#: What a rate-limited answer without `retry_after_ms` or `Retry-After` waits.
DEFAULT_RETRY_MS = 2000


def q(value: str) -> str:
    """One path segment (room IDs, event IDs, user IDs and aliases carry `!$@#:/`)."""
    return quote(value, safe="")


@dataclass
class Challenge:
    """A 401 answer that asks for (more) authentication."""

    session: str | None
    flows: list[list[str]]
    completed: list[str] = field(default_factory=list)
    errcode: str | None = None
    error: str | None = None
    #: The stages' parameters (`m.login.terms` policies, for registration).
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Challenge | None:
        flows = payload.get("flows")
        if not isinstance(flows, list):
            return None
        stages = [
            [s for s in flow["stages"] if isinstance(s, str)]
            for flow in flows
            if isinstance(flow, dict) and isinstance(flow.get("stages"), list)
        ]
        completed = payload.get("completed")
        session = payload.get("session")
        return cls(
            session=session if isinstance(session, str) else None,
            flows=stages,
            completed=[s for s in completed if isinstance(s, str)]
            if isinstance(completed, list)
            else [],
            errcode=payload.get("errcode") if isinstance(payload.get("errcode"), str) else None,
            error=payload.get("error") if isinstance(payload.get("error"), str) else None,
            params=payload["params"] if isinstance(payload.get("params"), dict) else {},
        )

    def remaining(self, flow: list[str]) -> list[str]:
        return [stage for stage in flow if stage not in self.completed]

    @property
    def password_is_enough(self) -> bool:
        """Whether some flow needs nothing but the password (what this client can ask for)."""
        return any(self.remaining(flow) == [PASSWORD_STAGE] for flow in self.flows)

    def stages_text(self) -> str:
        options = sorted({" then ".join(self.remaining(flow)) for flow in self.flows if flow})
        return "; or ".join(options) or "none"


def _retry_after(payload: dict[str, Any], headers: Any) -> int | None:
    retry = payload.get("retry_after_ms")
    if isinstance(retry, int) and not isinstance(retry, bool) and retry >= 0:
        return retry
    header = headers.get("Retry-After") if headers is not None else None
    if header and header.strip().isdigit():
        return int(header.strip()) * 1000
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class HomeserverApi:
    """Requests to one homeserver, as one user (an access token) or as nobody.

    `rate_limit_budget` is how many seconds of `429` answers it waits out per request (a
    signed-in session: a minute; sign-in and registration forms: none, the person is told).
    `on_unknown_token` runs before `errors.UnknownToken` is raised (the session ends the
    login everywhere)."""

    def __init__(
        self,
        base_url: str,
        access_token: str | None = None,
        *,
        rate_limit_budget: float = 0.0,
        on_unknown_token: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.rate_limit_budget = rate_limit_budget
        self.on_unknown_token = on_unknown_token
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HomeserverApi:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            timeout = aiohttp.ClientTimeout(total=settings.MATRIX_REQUEST_TIMEOUT)
            self._http = aiohttp.ClientSession(timeout=timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None and not self._http.closed:
            await self._http.close()

    def _headers(self, content_type: str | None = "application/json") -> dict[str, str]:
        headers: dict[str, str] = {}
        if content_type:
            headers["Content-Type"] = content_type
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return headers

    # -- the request function ------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | list[tuple[str, str]] | None = None,
        body: Any = None,
        version: str = "v3",
        action: str | None = None,
        uia: bool = False,
        array: bool = False,
    ) -> Any:
        """`/_matrix/client/{version}{path}`: the spec's JSON, or a `uia.Challenge` when
        `uia` is set and the homeserver asks for authentication. Raises `MatrixError`
        (typed) or `UnknownToken`. `array`: the endpoint answers with a JSON array."""
        url = f"{self.base_url}{CLIENT}/{version}{path}"
        if query:
            url += "?" + urlencode(query)
        data = json.dumps(body) if body is not None else None
        waited = 0.0
        while True:
            status, payload, headers = await self._send(method, url, data)
            if status < 400:
                if array and isinstance(payload, list):
                    return payload
                if not isinstance(payload, dict):
                    raise errors.not_matrix(self.base_url)
                return payload
            payload = payload if isinstance(payload, dict) else {}
            errcode = _text(payload.get("errcode"))
            if uia and status == 401 and (challenge := Challenge.from_payload(payload)):
                return challenge
            if errcode in {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"} and self.access_token:
                if self.on_unknown_token is not None:
                    await self.on_unknown_token()
                raise errors.UnknownToken(errcode=errcode)
            retry_ms = _retry_after(payload, headers)
            if status == 429 or errcode == "M_LIMIT_EXCEEDED":
                wait = (retry_ms or DEFAULT_RETRY_MS) / 1000
                if waited + wait <= self.rate_limit_budget:
                    waited += wait
                    await asyncio.sleep(wait)
                    continue
            raise errors.from_response(
                errcode, status, _text(payload.get("error")), retry_ms, action=action
            )

    async def _send(self, method: str, url: str, data: str | None) -> tuple[int, Any, Any]:
        try:
            async with self._client().request(
                method, url, data=data, headers=self._headers(), allow_redirects=False
            ) as response:
                try:
                    payload = await response.json(content_type=None)
                except ValueError:
                    payload = None
                return response.status, payload, response.headers
        except TimeoutError as exc:
            raise errors.unreachable(self.base_url, "timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            detail = exc.os_error.strerror or "connection refused"
            raise errors.unreachable(self.base_url, detail) from exc
        except aiohttp.ClientError as exc:
            raise errors.unreachable(self.base_url, type(exc).__name__) from exc

    # -- server and sign-in --------------------------------------------------------------------

    async def versions(self) -> dict[str, Any]:
        return await self.request("GET", "", version="versions")

    async def login_flows(self) -> dict[str, Any]:
        return await self.request("GET", "/login")

    async def login(self, body: dict[str, Any], *, action: str | None = None) -> dict[str, Any]:
        return await self.request("POST", "/login", body=body, action=action)

    async def whoami(self) -> dict[str, Any]:
        return await self.request("GET", "/account/whoami")

    async def logout(self) -> None:
        await self.request("POST", "/logout", body={})

    async def register(self, body: dict[str, Any]) -> dict[str, Any] | Challenge:
        return await self.request("POST", "/register", body=body, uia=True)

    async def register_guest(
        self, body: dict[str, Any], *, action: str | None = None
    ) -> dict[str, Any]:
        return await self.request(
            "POST", "/register", query={"kind": "guest"}, body=body, action=action
        )

    async def register_available(self, username: str) -> dict[str, Any]:
        return await self.request("GET", "/register/available", query={"username": username})

    async def registration_token_valid(self, token: str) -> dict[str, Any]:
        return await self.request(
            "GET",
            "/register/m.login.registration_token/validity",
            query={"token": token},
            version="v1",
        )

    # -- account ---------------------------------------------------------------------------------

    async def profile(self, user_id: str, *, action: str | None = None) -> dict[str, Any]:
        return await self.request("GET", f"/profile/{q(user_id)}", action=action)

    async def set_display_name(self, user_id: str, name: str, *, action: str | None = None) -> None:
        await self.request(
            "PUT", f"/profile/{q(user_id)}/displayname", body={"displayname": name}, action=action
        )

    async def set_avatar_url(self, user_id: str, url: str, *, action: str | None = None) -> None:
        await self.request(
            "PUT", f"/profile/{q(user_id)}/avatar_url", body={"avatar_url": url}, action=action
        )

    async def upload_filter(self, user_id: str, definition: dict[str, Any]) -> str:
        """Store a filter on the homeserver; its ID (spec: `POST /user/{userId}/filter`)."""
        answer = await self.request("POST", f"/user/{q(user_id)}/filter", body=definition)
        filter_id = answer.get("filter_id")
        if not isinstance(filter_id, str) or not filter_id:
            raise errors.not_matrix(self.base_url)
        return filter_id

    async def account_data(
        self,
        user_id: str,
        event_type: str,
        *,
        room_id: str | None = None,
        action: str | None = None,
    ) -> dict[str, Any]:
        """Global account data (or the room's, with `room_id`); `NotFound` when unset."""
        room = f"/rooms/{q(room_id)}" if room_id else ""
        return await self.request(
            "GET", f"/user/{q(user_id)}{room}/account_data/{q(event_type)}", action=action
        )

    async def set_account_data(
        self,
        user_id: str,
        event_type: str,
        content: dict[str, Any],
        *,
        room_id: str | None = None,
        action: str | None = None,
    ) -> None:
        room = f"/rooms/{q(room_id)}" if room_id else ""
        await self.request(
            "PUT",
            f"/user/{q(user_id)}{room}/account_data/{q(event_type)}",
            body=content,
            action=action,
        )

    async def add_tag(
        self, user_id: str, room_id: str, tag: str, *, action: str | None = None
    ) -> None:
        await self.request(
            "PUT", f"/user/{q(user_id)}/rooms/{q(room_id)}/tags/{q(tag)}", body={}, action=action
        )

    async def remove_tag(
        self, user_id: str, room_id: str, tag: str, *, action: str | None = None
    ) -> None:
        await self.request(
            "DELETE", f"/user/{q(user_id)}/rooms/{q(room_id)}/tags/{q(tag)}", action=action
        )

    async def devices(self, *, action: str | None = None) -> dict[str, Any]:
        return await self.request("GET", "/devices", action=action)

    async def rename_device(self, device_id: str, name: str, *, action: str | None = None) -> None:
        await self.request(
            "PUT", f"/devices/{q(device_id)}", body={"display_name": name}, action=action
        )

    async def delete_devices(
        self, body: dict[str, Any], *, action: str | None = None
    ) -> dict[str, Any] | Challenge:
        return await self.request("POST", "/delete_devices", body=body, action=action, uia=True)

    async def change_password(
        self, body: dict[str, Any], *, action: str | None = None
    ) -> dict[str, Any] | Challenge:
        return await self.request("POST", "/account/password", body=body, action=action, uia=True)

    # -- rooms: membership -----------------------------------------------------------------------

    async def create_room(self, body: dict[str, Any], *, action: str | None = None) -> str:
        answer = await self.request("POST", "/createRoom", body=body, action=action)
        return str(answer.get("room_id", ""))

    async def join(
        self, room: str, via: list[str] | None = None, *, action: str | None = None
    ) -> str:
        """Join a room by ID or alias (through `via` servers); the joined room's ID."""
        query = [("server_name", server) for server in via or []]
        answer = await self.request("POST", f"/join/{q(room)}", query=query, body={}, action=action)
        return str(answer.get("room_id") or room)

    async def leave(self, room_id: str, *, action: str | None = None) -> None:
        await self.request("POST", f"/rooms/{q(room_id)}/leave", body={}, action=action)

    async def forget(self, room_id: str, *, action: str | None = None) -> None:
        await self.request("POST", f"/rooms/{q(room_id)}/forget", body={}, action=action)

    async def invite(
        self, room_id: str, user_id: str, reason: str = "", *, action: str | None = None
    ) -> None:
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        await self.request("POST", f"/rooms/{q(room_id)}/invite", body=body, action=action)

    async def knock(
        self,
        room: str,
        via: list[str] | None = None,
        reason: str = "",
        *,
        action: str | None = None,
    ) -> str:
        """Ask to join a room whose join rule allows it (`knock`, `knock_restricted`); the
        room's ID. `via` goes out as both `via` (v1.12) and the older `server_name`, as
        matrix-js-sdk sends it."""
        servers = (via or [])[:3]
        query = [("server_name", s) for s in servers] + [("via", s) for s in servers]
        body = {"reason": reason} if reason else {}
        answer = await self.request(
            "POST", f"/knock/{q(room)}", query=query, body=body, action=action
        )
        return str(answer.get("room_id") or room)

    async def room_summary(
        self, room: str, via: list[str] | None = None, *, action: str | None = None
    ) -> dict[str, Any]:
        """`GET /_matrix/client/v1/room_summary/{roomIdOrAlias}` (v1.15): what a room one is
        not in says about itself (name, topic, members, join rule, one's membership)."""
        query = [("via", server) for server in (via or [])[:3]]
        return await self.request(
            "GET", f"/room_summary/{q(room)}", query=query, version="v1", action=action
        )

    async def moderate(
        self, room_id: str, what: str, user_id: str, reason: str = "", *, action: str | None = None
    ) -> None:
        """`what` is "kick", "ban" or "unban"."""
        if what not in ("kick", "ban", "unban"):
            raise ValueError(what)
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        await self.request("POST", f"/rooms/{q(room_id)}/{what}", body=body, action=action)

    async def members(
        self, room_id: str, *, not_membership: str | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"not_membership": not_membership} if not_membership else None
        answer = await self.request(
            "GET", f"/rooms/{q(room_id)}/members", query=query, action=action
        )
        chunk = answer.get("chunk")
        return [e for e in chunk if isinstance(e, dict)] if isinstance(chunk, list) else []

    async def joined_members(self, room_id: str) -> dict[str, Any]:
        answer = await self.request("GET", f"/rooms/{q(room_id)}/joined_members")
        joined = answer.get("joined")
        return joined if isinstance(joined, dict) else {}

    # -- reporting to the homeserver's admins (v1.13, v1.14) ---------------------------------

    async def report_event(
        self, room_id: str, event_id: str, reason: str, *, action: str | None = None
    ) -> None:
        """Report a message; the body is matrix-js-sdk's `reportEvent` as Element calls it
        (score -100, the most offensive)."""
        await self.request(
            "POST",
            f"/rooms/{q(room_id)}/report/{q(event_id)}",
            body={"score": -100, "reason": reason},
            action=action,
        )

    async def report_room(self, room_id: str, reason: str, *, action: str | None = None) -> None:
        await self.request(
            "POST", f"/rooms/{q(room_id)}/report", body={"reason": reason}, action=action
        )

    async def report_user(self, user_id: str, reason: str, *, action: str | None = None) -> None:
        await self.request(
            "POST", f"/users/{q(user_id)}/report", body={"reason": reason}, action=action
        )

    # -- rooms: state and events -----------------------------------------------------------------

    async def get_state(
        self, room_id: str, event_type: str, state_key: str = "", *, action: str | None = None
    ) -> dict[str, Any]:
        """A state event's content; `NotFound` when the room has none."""
        return await self.request(
            "GET", f"/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}", action=action
        )

    async def room_state(self, room_id: str, *, action: str | None = None) -> list[dict[str, Any]]:
        """Every current state event of the room (image packs are state events of any key)."""
        answer = await self.request("GET", f"/rooms/{q(room_id)}/state", action=action, array=True)
        return [e for e in answer if isinstance(e, dict)] if isinstance(answer, list) else []

    async def state_or_none(
        self, room_id: str, event_type: str, state_key: str = "", *, action: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return await self.get_state(room_id, event_type, state_key, action=action)
        except errors.NotFound:
            return None

    async def get_state_event(
        self, room_id: str, event_type: str, state_key: str = "", *, action: str | None = None
    ) -> dict[str, Any]:
        """The whole state event (`format=event`), e.g. `m.room.create` for its sender."""
        return await self.request(
            "GET",
            f"/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}",
            query={"format": "event"},
            action=action,
        )

    async def put_state(
        self,
        room_id: str,
        event_type: str,
        content: dict[str, Any],
        state_key: str = "",
        *,
        action: str | None = None,
    ) -> str:
        answer = await self.request(
            "PUT",
            f"/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}",
            body=content,
            action=action,
        )
        return str(answer.get("event_id", ""))

    async def send_event(
        self,
        room_id: str,
        event_type: str,
        content: dict[str, Any],
        txn_id: str,
        *,
        action: str | None = None,
    ) -> str:
        answer = await self.request(
            "PUT",
            f"/rooms/{q(room_id)}/send/{q(event_type)}/{q(txn_id)}",
            body=content,
            action=action,
        )
        return str(answer.get("event_id", ""))

    async def redact(
        self,
        room_id: str,
        event_id: str,
        txn_id: str,
        reason: str = "",
        *,
        action: str | None = None,
    ) -> None:
        body = {"reason": reason} if reason else {}
        await self.request(
            "PUT",
            f"/rooms/{q(room_id)}/redact/{q(event_id)}/{q(txn_id)}",
            body=body,
            action=action,
        )

    async def event(self, room_id: str, event_id: str, *, action: str | None = None) -> dict:
        return await self.request("GET", f"/rooms/{q(room_id)}/event/{q(event_id)}", action=action)

    async def messages(
        self, room_id: str, query: dict[str, str], *, action: str | None = None
    ) -> dict[str, Any]:
        return await self.request(
            "GET", f"/rooms/{q(room_id)}/messages", query=query, action=action
        )

    async def context(
        self, room_id: str, event_id: str, query: dict[str, str], *, action: str | None = None
    ) -> dict[str, Any]:
        return await self.request(
            "GET", f"/rooms/{q(room_id)}/context/{q(event_id)}", query=query, action=action
        )

    async def relations(
        self,
        room_id: str,
        event_id: str,
        rel_type: str,
        event_type: str | None = None,
        *,
        query: dict[str, str] | None = None,
        action: str | None = None,
    ) -> dict[str, Any]:
        path = f"/rooms/{q(room_id)}/relations/{q(event_id)}/{q(rel_type)}"
        if event_type:
            path += f"/{q(event_type)}"
        return await self.request("GET", path, query=query, version="v1", action=action)

    async def read_markers(self, room_id: str, event_id: str) -> None:
        body = {"m.fully_read": event_id, "m.read": event_id}
        await self.request(
            "POST",
            f"/rooms/{q(room_id)}/read_markers",
            body=body,
            action=_("Marking the room as read"),
        )

    async def typing(
        self, room_id: str, user_id: str, typing: bool, timeout_ms: int = 6000
    ) -> None:
        body: dict[str, Any] = {"typing": typing}
        if typing:
            body["timeout"] = timeout_ms
        await self.request("PUT", f"/rooms/{q(room_id)}/typing/{q(user_id)}", body=body)

    async def hierarchy(
        self, room_id: str, query: dict[str, str], *, action: str | None = None
    ) -> dict[str, Any]:
        return await self.request(
            "GET", f"/rooms/{q(room_id)}/hierarchy", query=query, version="v1", action=action
        )

    async def search(
        self, body: dict[str, Any], next_batch: str | None = None, *, action: str | None = None
    ) -> dict[str, Any]:
        query = {"next_batch": next_batch} if next_batch else None
        return await self.request("POST", "/search", query=query, body=body, action=action)

    # -- end-to-end encryption: keys, cross-signing, backups, to-device ---------------------

    async def keys_query(self, user_ids: list[str]) -> dict[str, Any]:
        """Device keys and cross-signing keys of users (`POST /keys/query`)."""
        body = {"device_keys": {user_id: [] for user_id in user_ids}, "timeout": 10000}
        return await self.request("POST", "/keys/query", body=body)

    async def upload_signatures(self, body: dict[str, Any], *, action: str | None = None) -> dict:
        """`POST /keys/signatures/upload`: cross-signing signatures of devices or keys."""
        answer = await self.request("POST", "/keys/signatures/upload", body=body, action=action)
        failures = answer.get("failures")
        if isinstance(failures, dict) and failures:
            raise errors.MatrixError(
                _("%(action)s: the homeserver refused a signature (%(failures)s).")
                % {
                    "action": action or _("Uploading signatures"),
                    "failures": json.dumps(failures)[:300],
                }
            )
        return answer

    async def upload_cross_signing_keys(
        self, body: dict[str, Any], *, action: str | None = None
    ) -> dict[str, Any] | Challenge:
        """`POST /keys/device_signing/upload` (user-interactive authentication)."""
        return await self.request(
            "POST", "/keys/device_signing/upload", body=body, action=action, uia=True
        )

    async def send_to_device(
        self, event_type: str, messages: dict[str, dict[str, Any]], txn_id: str
    ) -> None:
        """`PUT /sendToDevice/{type}/{txnId}`: {user: {device: content}}."""
        await self.request(
            "PUT",
            f"/sendToDevice/{q(event_type)}/{q(txn_id)}",
            body={"messages": messages},
        )

    async def backup_version(self, version: str | None = None) -> dict[str, Any]:
        """The current (or a given) key backup version; `NotFound` when there is none."""
        path = "/room_keys/version" + (f"/{q(version)}" if version else "")
        return await self.request("GET", path)

    async def create_backup_version(self, algorithm: str, auth_data: dict[str, Any]) -> str:
        answer = await self.request(
            "POST",
            "/room_keys/version",
            body={"algorithm": algorithm, "auth_data": auth_data},
            action=_("Creating the key backup"),
        )
        return str(answer.get("version", ""))

    async def backup_keys(
        self, version: str, room_id: str | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        """Backed-up room keys: all, one room's, or one session's."""
        path = "/room_keys/keys"
        if room_id:
            path += f"/{q(room_id)}"
            if session_id:
                path += f"/{q(session_id)}"
        return await self.request("GET", path, query={"version": version})

    async def put_backup_keys(self, version: str, rooms: dict[str, Any]) -> dict[str, Any]:
        """Add sessions to the backup: {"rooms": {room: {"sessions": {id: KeyBackupData}}}}."""
        return await self.request(
            "PUT", "/room_keys/keys", query={"version": version}, body={"rooms": rooms}
        )

    # -- addresses and the directory -------------------------------------------------------------

    async def resolve_alias(self, alias: str, *, action: str | None = None) -> str:
        answer = await self.request("GET", f"/directory/room/{q(alias)}", action=action)
        room_id = answer.get("room_id")
        if not isinstance(room_id, str):
            raise errors.NotFound(
                errors.from_response("M_NOT_FOUND", 404, action=action).message,
                errcode="M_NOT_FOUND",
                status=404,
            )
        return room_id

    async def add_alias(self, alias: str, room_id: str, *, action: str | None = None) -> None:
        await self.request(
            "PUT", f"/directory/room/{q(alias)}", body={"room_id": room_id}, action=action
        )

    async def remove_alias(self, alias: str, *, action: str | None = None) -> None:
        await self.request("DELETE", f"/directory/room/{q(alias)}", action=action)

    async def local_aliases(self, room_id: str, *, action: str | None = None) -> list[str]:
        answer = await self.request("GET", f"/rooms/{q(room_id)}/aliases", action=action)
        aliases = answer.get("aliases")
        return [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []

    async def directory_visibility(self, room_id: str) -> str:
        answer = await self.request("GET", f"/directory/list/room/{q(room_id)}")
        return str(answer.get("visibility", ""))

    async def public_rooms(
        self, body: dict[str, Any], server: str | None = None, *, action: str | None = None
    ) -> dict[str, Any]:
        query = {"server": server} if server else None
        return await self.request("POST", "/publicRooms", query=query, body=body, action=action)

    # -- media -------------------------------------------------------------------------------------

    async def open_media(
        self, server_name: str, media_id: str, *, thumbnail: dict[str, str] | None = None
    ) -> MediaStream:
        """Start downloading content (or a thumbnail, with its `width`/`height`/`method`) by
        authenticated media; the caller streams `chunks()` and must `close()`. Raises
        `MatrixError` (typed by status) when the homeserver does not answer 200."""
        if not media.valid_parts(server_name, media_id):
            # Checked, so the parts go into the path as they are (a port's colon included).
            raise errors.NotFound(_("Not a media address."), errcode="M_NOT_FOUND", status=404)
        kind = "thumbnail" if thumbnail is not None else "download"
        url = f"{self.base_url}{CLIENT}/v1/media/{kind}/{server_name}/{media_id}"
        http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=settings.MATRIX_REQUEST_TIMEOUT, sock_read=120
            )
        )
        headers = self._headers(None)
        # The bytes as stored: aiohttp would undo a compression a reverse proxy in front of
        # the homeserver adds, and the upstream length would then be wrong.
        headers["Accept-Encoding"] = "identity"
        try:
            # The spec lets servers redirect downloads (307/308).
            response = await http.get(
                url, params=thumbnail or {}, headers=headers, allow_redirects=True
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            await http.close()
            raise errors.unreachable(self.base_url, type(exc).__name__) from exc
        stream = MediaStream(response, http)
        if response.status != 200:
            status = response.status
            await stream.close()
            raise errors.from_response(None, status)
        return stream

    async def preview_url(self, url: str, ts: int | None = None) -> dict[str, Any]:
        """The homeserver's preview of a web page (`og:` properties; `og:image` an mxc URI),
        from `GET /_matrix/client/v1/media/preview_url` (v1.11)."""
        query = {"url": url}
        if ts is not None:
            query["ts"] = str(ts)
        return await self.request(
            "GET", "/media/preview_url", query=query, version="v1", action=_("Previewing a link")
        )

    async def media_config(self) -> dict[str, Any]:
        return await self.request("GET", "/media/config", version="v1")

    async def upload(
        self,
        chunks: AsyncIterator[bytes],
        *,
        size: int,
        content_type: str,
        filename: str,
        too_large: str,
    ) -> str:
        """Stream a file to the media repository; its `mxc://` URI. `too_large` is what a
        bare 413 from a proxy in front of the homeserver means to the person."""
        url = f"{self.base_url}/_matrix/media/v3/upload"
        if filename:
            url += "?" + urlencode({"filename": filename})
        headers = self._headers(content_type)
        headers["Content-Length"] = str(size)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.MATRIX_REQUEST_TIMEOUT, sock_read=300
        )
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(url, data=chunks, headers=headers) as response,
            ):
                try:
                    payload = await response.json(content_type=None)
                except ValueError:
                    payload = None
                payload = payload if isinstance(payload, dict) else {}
                status = response.status
                retry_ms = _retry_after(payload, response.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise errors.unreachable(self.base_url, type(exc).__name__) from exc
        errcode = _text(payload.get("errcode"))
        if status == 413 and not errcode:
            raise errors.MatrixError(too_large, errcode="M_TOO_LARGE", status=413)
        if errcode in {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"} and self.access_token:
            if self.on_unknown_token is not None:
                await self.on_unknown_token()
            raise errors.UnknownToken(errcode=errcode)
        if status >= 400 or not isinstance(payload.get("content_uri"), str):
            raise errors.from_response(
                errcode,
                status,
                _text(payload.get("error")),
                retry_ms,
                action=_("Uploading the file"),
            )
        return payload["content_uri"]


class MediaStream:
    """Content coming from the media repository, passed on chunk by chunk."""

    CHUNK = 64 * 1024

    def __init__(self, response: aiohttp.ClientResponse, http: aiohttp.ClientSession) -> None:
        self.status = response.status
        self.headers = response.headers
        self._response = response
        self._http = http

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(self.CHUNK):
                yield chunk
        finally:
            await self.close()

    async def close(self) -> None:
        self._response.release()
        await self._http.close()


def new_txn_id(prefix: str = "wc", size: int = 12) -> str:
    """A transaction ID: the homeserver posts each at most once per device."""
    return prefix + secrets.token_hex(size)
