"""Demo accounts, rooms and messages for a fresh local homeserver.

`make serve` (and anyone trying the client) needs something to look at: three users, a public
"Welcome" room with a topic, a "Random" room and a private direct chat, with plain, Markdown
(HTML-formatted), emote and notice messages. Everything goes through the ordinary
client-server API, the same way the web client talks to Synapse.

Seeding is idempotent per data directory: a marker file records the created rooms, and on a
second run the existing accounts are logged in instead of registered.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from webclient.demo.homeserver import LocalSynapse, MatrixHTTPError, RegisteredUser, matrix_request

logger = logging.getLogger(__name__)

__all__ = ["DEMO_USERS", "MARKER_NAME", "demo_password", "seed_demo"]

# (localpart, display name). Passwords follow `demo_password()`.
DEMO_USERS: tuple[tuple[str, str], ...] = (
    ("alice", "Alice Liddell"),
    ("bob", "Bob Builder"),
    ("carol", "Carol Danvers"),
)
MARKER_NAME = "demo-seed.json"
# Re-used on every login so repeated demo runs do not pile up devices.
_SEED_DEVICE_ID = "DEMOSEED"


def demo_password(localpart: str) -> str:
    """The published password of a demo account, e.g. "demo-password-alice"."""
    return f"demo-password-{localpart}"


def _api(
    hs: LocalSynapse, user: RegisteredUser, method: str, path: str, body: dict[str, Any] | None
) -> dict[str, Any]:
    return matrix_request(hs.url, method, path, body, token=user.access_token)


def _send(hs: LocalSynapse, user: RegisteredUser, room_id: str, content: dict[str, Any]) -> str:
    txn = uuid.uuid4().hex
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{txn}"
    return _api(hs, user, "PUT", path, content)["event_id"]


def _join(hs: LocalSynapse, user: RegisteredUser, room_id: str) -> None:
    _api(hs, user, "POST", f"/_matrix/client/v3/join/{quote(room_id)}", {})


def _ensure_user(hs: LocalSynapse, localpart: str, displayname: str) -> RegisteredUser:
    password = demo_password(localpart)
    try:
        return hs.register(localpart, password, displayname=displayname)
    except MatrixHTTPError as exc:
        if exc.errcode != "M_USER_IN_USE":
            raise
    return hs.login(localpart, password, device_id=_SEED_DEVICE_ID)


def _create_room(hs: LocalSynapse, creator: RegisteredUser, body: dict[str, Any]) -> str:
    """createRoom; if the alias survives from an interrupted earlier run, reuse that room."""
    try:
        return _api(hs, creator, "POST", "/_matrix/client/v3/createRoom", body)["room_id"]
    except MatrixHTTPError as exc:
        alias_name = body.get("room_alias_name")
        if exc.errcode != "M_ROOM_IN_USE" or not alias_name:
            raise
    alias = quote(f"#{alias_name}:{hs.server_name}")
    found = _api(hs, creator, "GET", f"/_matrix/client/v3/directory/room/{alias}", None)
    _join(hs, creator, found["room_id"])
    return found["room_id"]


def _create_rooms(
    hs: LocalSynapse, alice: RegisteredUser, bob: RegisteredUser, carol: RegisteredUser
) -> dict[str, str]:
    welcome = _create_room(
        hs,
        alice,
        {
            "name": "Welcome",
            "topic": "Say hello! This room is where the demo starts.",
            "preset": "public_chat",
            "visibility": "public",
            "room_alias_name": "welcome",
        },
    )
    random_room = _create_room(
        hs,
        bob,
        {
            "name": "Random",
            "topic": "Off-topic chatter",
            "preset": "public_chat",
            "visibility": "public",
            "room_alias_name": "random",
        },
    )
    direct = _create_room(
        hs,
        alice,
        {"preset": "trusted_private_chat", "is_direct": True, "invite": [bob.user_id]},
    )
    for user in (bob, carol):
        _join(hs, user, welcome)
    for user in (alice, carol):
        _join(hs, user, random_room)
    _join(hs, bob, direct)
    # m.direct account data is what makes clients show the room as a DM.
    for me, other in ((alice, bob), (bob, alice)):
        path = f"/_matrix/client/v3/user/{quote(me.user_id)}/account_data/m.direct"
        _api(hs, me, "PUT", path, {other.user_id: [direct]})

    _send(hs, alice, welcome, {"msgtype": "m.text", "body": "Hi everyone, welcome to the demo!"})
    _send(
        hs,
        bob,
        welcome,
        {
            "msgtype": "m.text",
            "body": "Markdown works too: **bold**, *italic*, `code` and a [link](https://matrix.org).",
            "format": "org.matrix.custom.html",
            "formatted_body": (
                "Markdown works too: <strong>bold</strong>, <em>italic</em>, "
                '<code>code</code> and a <a href="https://matrix.org">link</a>.'
            ),
        },
    )
    _send(hs, carol, welcome, {"msgtype": "m.emote", "body": "waves at everybody"})
    _send(
        hs,
        alice,
        welcome,
        {"msgtype": "m.notice", "body": "Notice: this is a local demo homeserver on 127.0.0.1."},
    )
    _send(hs, bob, random_room, {"msgtype": "m.text", "body": "Anyone up for lunch?"})
    _send(hs, carol, random_room, {"msgtype": "m.text", "body": "Always. Noodles?"})
    _send(hs, alice, direct, {"msgtype": "m.text", "body": "Hey Bob, just between us: it works!"})
    _send(hs, bob, direct, {"msgtype": "m.text", "body": "Nice, thanks Alice."})
    return {"welcome": welcome, "random": random_room, "direct": direct}


def seed_demo(hs: LocalSynapse) -> list[RegisteredUser]:
    """Create (or log back into) the demo accounts and, once per data dir, the demo rooms.

    Returns the users in `DEMO_USERS` order (alice, bob, carol), each with a fresh access token.
    """
    users = [_ensure_user(hs, localpart, name) for localpart, name in DEMO_USERS]
    marker = hs.data_dir / MARKER_NAME
    if marker.exists():
        logger.info("Demo rooms already seeded (%s); skipping room creation", marker)
        return users
    started = time.monotonic()
    rooms = _create_rooms(hs, *users)
    marker.write_text(json.dumps({"rooms": rooms, "users": [u.user_id for u in users]}, indent=2))
    logger.info("Seeded %d demo rooms in %.2fs", len(rooms), time.monotonic() - started)
    return users


def _main() -> None:  # pragma: no cover - manual use
    """`python -m webclient.demo.seed [DATA_DIR] [PORT]`: run a seeded Synapse until Ctrl-C."""
    logging.basicConfig(level=logging.INFO)
    data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".synapse")
    port = int(sys.argv[2]) if len(sys.argv) > 2 else None
    with LocalSynapse(data_dir, port=port) as hs:
        for user in seed_demo(hs):
            print(f"{user.user_id}  password: {user.password}", flush=True)
        print(f"Synapse running at {hs.url}. Ctrl-C to stop.", flush=True)
        try:
            while hs.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    _main()
