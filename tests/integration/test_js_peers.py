"""The js peer harness against real Synapse: matrix-js-sdk 36.2.0 with its Rust crypto (the
crypto Element runs) as other people in encrypted rooms.

These tests prove the harness, not the web client: two peers talk in an encrypted room with
"only cross-signed devices" on, an encrypted attachment goes round, keys reach the backup, a
new device gets verified by emoji (SAS) from an existing one, and a recovery key lets a fresh
device cross-sign itself.
"""

from __future__ import annotations

import asyncio
import os

from tests.peers.jspeer import JsPeer


async def encrypted_room_of_two(alice: JsPeer, bob: JsPeer) -> str:
    room_id = (await alice.call("create_room", encrypted=True, invite=[bob.user_id]))["room_id"]
    await bob.call("wait_invite", room_id=room_id)
    await bob.call("join", room_id=room_id)
    return room_id


async def test_encrypted_messages_both_ways_between_cross_signed_peers(js_peer, make_user):
    alice, bob = await asyncio.gather(
        js_peer(make_user("alice"), bootstrap=True, only_signed_devices=True),
        js_peer(make_user("bob"), bootstrap=True, only_signed_devices=True),
    )
    assert alice.recovery_key and bob.recovery_key
    room_id = await encrypted_room_of_two(alice, bob)

    sent = await alice.call("send_text", room_id=room_id, body="hello bob")
    seen = await bob.wait_message(room_id, body="hello bob", sender=alice.user_id)
    assert seen["event_id"] == sent["event_id"]
    assert seen["encrypted"] and seen["decrypted"] and seen["error"] is None
    # From a device cross-signed by its owner (owner not verified by bob): no shield.
    assert seen["shield_colour"] == "NONE" and seen["shield_reason"] is None

    pushed = await bob.next_event("message", where=lambda e: e["event_id"] == sent["event_id"])
    assert pushed["content"]["body"] == "hello bob"

    await bob.call("send_text", room_id=room_id, body="hello alice")
    reply = await alice.wait_message(room_id, body="hello alice", sender=bob.user_id)
    assert reply["decrypted"]

    # Each sees the other's device as cross-signed by its owner.
    status = await alice.call(
        "device_status", user_id=bob.user_id, device_id=bob.device_id, wait_for="signed_by_owner"
    )
    assert status["known"] and status["signed_by_owner"] and not status["cross_signing_verified"]
    assert await alice.call("user_verified", user_id=bob.user_id) is False

    # The room key alice created reaches her backup (the sdk waits up to 10 s to upload).
    backup = await alice.call("backup_info", wait_for_keys=1, timeout_ms=20000, timeout=30)
    assert backup["version"] and backup["count"] >= 1


async def test_encrypted_attachment_round_trip(js_peer, make_user):
    alice, bob = await asyncio.gather(
        js_peer(make_user("alice"), bootstrap=True, only_signed_devices=True),
        js_peer(make_user("bob"), bootstrap=True, only_signed_devices=True),
    )
    room_id = await encrypted_room_of_two(alice, bob)

    data = os.urandom(70_000)
    sent = await alice.send_file(room_id, "noise.bin", data)
    assert sent["mxc"].startswith("mxc://")
    assert sent["file"]["url"] == sent["mxc"] and sent["file"]["v"] == "v2"

    seen = await bob.wait_message(room_id, event_id=sent["event_id"])
    content = seen["content"]
    assert content["msgtype"] == "m.file" and "url" not in content
    assert content["file"]["url"] == sent["mxc"]
    assert await bob.download_decrypted(content["file"]) == data


async def test_sas_verification_of_a_new_device_by_an_existing_one(js_peer, make_user):
    user = make_user("carol")
    old = await js_peer(user, bootstrap=True, name="carol-old")
    new = await js_peer(user, name="carol-new")

    before = await old.call("device_status", user_id=user.user_id, device_id=new.device_id)
    assert before["known"] and not before["signed_by_owner"]

    await new.call("request_verification", user_id=user.user_id, device_id=old.device_id)
    incoming = await old.next_event("verification_request")
    assert incoming["other_device_id"] == new.device_id and incoming["is_self_verification"]
    await old.call("accept_verification", transaction_id=incoming["transaction_id"])
    await new.next_event("verification_phase", where=lambda e: e["phase"] == "Ready")
    await new.call("start_sas")

    sas_new, sas_old = await asyncio.gather(new.next_event("sas"), old.next_event("sas"))
    assert len(sas_new["emoji"]) == 7
    assert sas_new["emoji"] == sas_old["emoji"]
    assert sas_new["decimal"] == sas_old["decimal"]

    await asyncio.gather(new.call("confirm_sas"), old.call("confirm_sas"))
    await asyncio.gather(new.next_event("verification_done"), old.next_event("verification_done"))

    after = await old.call(
        "device_status",
        user_id=user.user_id,
        device_id=new.device_id,
        wait_for=["signed_by_owner", "cross_signing_verified"],
    )
    assert after["signed_by_owner"] and after["cross_signing_verified"]
    # And the new device, having checked the emoji, trusts the old one through cross-signing.
    mirror = await new.call(
        "device_status",
        user_id=user.user_id,
        device_id=old.device_id,
        wait_for=["cross_signing_verified"],
    )
    assert mirror["signed_by_owner"] and mirror["cross_signing_verified"]


async def test_sas_verification_between_two_people(js_peer, make_user):
    alice, bob = await asyncio.gather(
        js_peer(make_user("alice"), bootstrap=True, only_signed_devices=True),
        js_peer(make_user("bob"), bootstrap=True, only_signed_devices=True),
    )
    room_id = await encrypted_room_of_two(alice, bob)
    await alice.call("send_text", room_id=room_id, body="before")
    before = await bob.wait_message(room_id, body="before")

    await alice.call("request_verification", user_id=bob.user_id, device_id=bob.device_id)
    incoming = await bob.next_event("verification_request")
    assert incoming["other_user_id"] == alice.user_id and not incoming["is_self_verification"]
    await bob.call("accept_verification")
    await bob.next_event("verification_phase", where=lambda e: e["phase"] == "Ready")
    await bob.call("start_sas")  # the side that accepted starts SAS this time

    sas_alice, sas_bob = await asyncio.gather(alice.next_event("sas"), bob.next_event("sas"))
    assert sas_alice["emoji"] == sas_bob["emoji"]
    await asyncio.gather(alice.call("confirm_sas"), bob.call("confirm_sas"))
    await asyncio.gather(alice.next_event("verification_done"), bob.next_event("verification_done"))

    for me, them in ((alice, bob), (bob, alice)):
        status = await me.call(
            "device_status",
            user_id=them.user_id,
            device_id=them.device_id,
            wait_for=["cross_signing_verified"],
        )
        assert status["cross_signing_verified"], (me, status)
        assert await me.call("user_verified", user_id=them.user_id) is True

    await alice.call("send_text", room_id=room_id, body="after")
    after = await bob.wait_message(room_id, body="after")
    # Element shows no shield for a cross-signed device, verified owner or not.
    assert before["shield_colour"] == after["shield_colour"] == "NONE"


async def test_a_device_without_cross_signing_is_refused_or_marked_red(js_peer, make_user):
    alice = await js_peer(make_user("alice"), bootstrap=True, only_signed_devices=True)
    # Like a client without cross-signing (matrix-nio today): device keys only.
    eve = await js_peer(make_user("eve"))
    room_id = await encrypted_room_of_two(alice, eve)

    # With "only cross-signed devices", alice refuses to decrypt it ...
    await eve.call("send_text", room_id=room_id, body="unsigned 1")
    refused = await alice.wait_message(room_id, error="UNSIGNED_SENDER_DEVICE")
    assert refused["sender"] == eve.user_id and not refused["decrypted"]
    # ... and never shares her room key with it.
    await alice.call("send_text", room_id=room_id, body="not for eve")
    withheld = await eve.wait_message(room_id, error="MEGOLM_KEY_WITHHELD_FOR_UNVERIFIED_DEVICE")
    assert withheld["sender"] == alice.user_id

    # With every device allowed, she reads it under a red shield.
    await alice.call("only_signed_devices", on=False)
    await eve.call("send_text", room_id=room_id, body="unsigned 2")
    marked = await alice.wait_message(room_id, body="unsigned 2")
    assert marked["shield_colour"] == "RED" and marked["shield_reason"] == "UNSIGNED_DEVICE"


async def test_recovery_key_lets_a_new_device_cross_sign_itself(js_peer, make_user):
    user = make_user("dave")
    first = await js_peer(user, bootstrap=True, name="dave-first")
    second = await js_peer(user, name="dave-second")

    recovered = await second.call("recover", recovery_key=first.recovery_key)
    assert recovered["cross_signing_ready"]
    assert recovered["backup_version"] == (await first.call("backup_info"))["version"]

    status = await first.call(
        "device_status",
        user_id=user.user_id,
        device_id=second.device_id,
        wait_for="signed_by_owner",
    )
    assert status["signed_by_owner"]
