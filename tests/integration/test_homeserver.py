"""The local Synapse harness itself: start-up, accounts, messaging, log counting, rate limits."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.synapse_fixtures import MakeUser, MatrixAPIError, matrix_api
from webclient.demo.homeserver import LocalSynapse, SynapseStartError
from webclient.demo.seed import MARKER_NAME, demo_password, seed_demo


def _wait_for_count(
    hs: LocalSynapse, fragment: str, user_id: str | None, expected: int, timeout: float = 5.0
) -> int:
    """The access log line is written as the response completes; allow a moment for it."""
    deadline = time.monotonic() + timeout
    while True:
        count = hs.count_requests(fragment, user_id)
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def test_versions_answer(synapse: LocalSynapse) -> None:
    assert synapse.url.startswith("http://127.0.0.1:")
    answer = matrix_api(synapse.url, None, "GET", "/_matrix/client/versions")
    assert answer["versions"]


def test_register_gives_working_token(synapse: LocalSynapse, make_user: MakeUser) -> None:
    user = make_user("whoami", displayname="Who Am I")
    assert user.user_id.startswith("@whoami-") and user.user_id.endswith(":localhost")
    assert user.device_id
    me = matrix_api(synapse.url, user.access_token, "GET", "/_matrix/client/v3/account/whoami")
    assert me["user_id"] == user.user_id
    assert me["device_id"] == user.device_id
    profile = matrix_api(
        synapse.url, user.access_token, "GET", f"/_matrix/client/v3/profile/{user.user_id}"
    )
    assert profile["displayname"] == "Who Am I"
    # Password login works too (a second device).
    again = synapse.login(user.user_id, user.password)
    assert again.user_id == user.user_id and again.device_id != user.device_id


def test_two_users_exchange_a_message(synapse: LocalSynapse, make_user: MakeUser) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    room_id = matrix_api(
        synapse.url,
        alice.access_token,
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "private_chat", "name": "Harness", "invite": [bob.user_id]},
    )["room_id"]
    room = quote(room_id)
    matrix_api(synapse.url, bob.access_token, "POST", f"/_matrix/client/v3/join/{room}", {})
    sent = matrix_api(
        synapse.url,
        alice.access_token,
        "PUT",
        f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}",
        {"msgtype": "m.text", "body": "hello bob"},
    )
    page = matrix_api(
        synapse.url,
        bob.access_token,
        "GET",
        f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10",
    )
    messages = [e for e in page["chunk"] if e["type"] == "m.room.message"]
    assert [(m["sender"], m["content"]["body"], m["event_id"]) for m in messages] == [
        (alice.user_id, "hello bob", sent["event_id"])
    ]


def test_count_requests_per_user(synapse: LocalSynapse, make_user: MakeUser) -> None:
    syncer, other = make_user("syncer"), make_user("other")
    path = "/_matrix/client/v3/sync?timeout=0"
    for _ in range(3):
        matrix_api(synapse.url, syncer.access_token, "GET", path)
    matrix_api(synapse.url, other.access_token, "GET", path)

    assert _wait_for_count(synapse, "/sync", syncer.user_id, 3) == 3
    assert _wait_for_count(synapse, "GET /_matrix/client/v3/sync", other.user_id, 1) == 1
    assert synapse.count_requests("/sync") >= 4
    assert synapse.count_requests("/sync", "@nobody:localhost") == 0


def test_errors_carry_status_and_errcode(synapse: LocalSynapse) -> None:
    with pytest.raises(MatrixAPIError) as info:
        matrix_api(synapse.url, "not-a-token", "GET", "/_matrix/client/v3/account/whoami")
    assert info.value.status == 401
    assert info.value.errcode == "M_UNKNOWN_TOKEN"


def test_strict_server_rate_limits_failed_logins(synapse_strict: LocalSynapse) -> None:
    user = synapse_strict.register(f"victim-{uuid.uuid4().hex[:8]}", "right-password")
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.user_id},
        "password": "wrong-password",
    }
    statuses = []
    for _ in range(30):
        try:
            matrix_api(synapse_strict.url, None, "POST", "/_matrix/client/v3/login", body)
        except MatrixAPIError as exc:
            statuses.append(exc.status)
            if exc.status == 429:
                assert exc.errcode == "M_LIMIT_EXCEEDED"
                assert exc.retry_after_ms is not None and exc.retry_after_ms > 0
                break
            assert exc.errcode == "M_FORBIDDEN"
    assert statuses[-1] == 429, statuses
    assert len(statuses) > 1  # the first attempts are plain wrong-password errors


def test_start_failure_is_reported(tmp_path: Path) -> None:
    hs = LocalSynapse(tmp_path / "broken", python="/bin/false")
    with pytest.raises(SynapseStartError):
        hs.start(timeout=10)
    assert not hs.running


def test_seed_demo_is_idempotent_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    with LocalSynapse(data_dir) as hs:
        users = seed_demo(hs)
        port = hs.port
    assert [u.user_id for u in users] == ["@alice:localhost", "@bob:localhost", "@carol:localhost"]
    assert users[0].password == demo_password("alice") == "demo-password-alice"
    assert (data_dir / MARKER_NAME).exists()

    alice = users[0]
    with LocalSynapse(data_dir, port=port) as hs:
        rooms_before = matrix_api(
            hs.url, alice.access_token, "GET", "/_matrix/client/v3/joined_rooms"
        )
        again = seed_demo(hs)  # logs in, creates nothing
        assert [u.user_id for u in again] == [u.user_id for u in users]
        token = again[0].access_token
        rooms = matrix_api(hs.url, token, "GET", "/_matrix/client/v3/joined_rooms")["joined_rooms"]
        assert sorted(rooms) == sorted(rooms_before["joined_rooms"])
        assert len(rooms) == 3

        sync = matrix_api(hs.url, token, "GET", "/_matrix/client/v3/sync?timeout=0")
        contents = [
            event["content"]
            for room in sync["rooms"]["join"].values()
            for event in room["timeline"]["events"]
            if event["type"] == "m.room.message"
        ]
        msgtypes = {c["msgtype"] for c in contents}
        assert {"m.text", "m.emote", "m.notice"} <= msgtypes
        assert any(c.get("format") == "org.matrix.custom.html" for c in contents)
        direct = matrix_api(
            hs.url, token, "GET", f"/_matrix/client/v3/user/{alice.user_id}/account_data/m.direct"
        )
        assert list(direct) == ["@bob:localhost"]


def test_relaxed_server_does_not_throttle(synapse: LocalSynapse, make_user: MakeUser) -> None:
    """Each of these exceeds a default burst (logins 5, room creation 10, messages 10)."""
    user = make_user("busy")
    for _ in range(8):
        synapse.login(user.user_id, user.password)
    for _ in range(12):
        room_id = matrix_api(
            synapse.url, user.access_token, "POST", "/_matrix/client/v3/createRoom", {}
        )["room_id"]
    for i in range(15):
        matrix_api(
            synapse.url,
            user.access_token,
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{uuid.uuid4().hex}",
            {"msgtype": "m.text", "body": f"message {i}"},
        )
