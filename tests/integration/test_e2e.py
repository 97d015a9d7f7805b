"""End-to-end encryption against the crypto Element runs: a matrix-js-sdk peer (Rust crypto)
in an encrypted room with a user of this client, real Synapse, both directions."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import pytest

from tests.client_helpers import eventually, sign_in, synced_session
from tests.synapse_fixtures import matrix_api
from webclient.live import actions
from webclient.matrix.api import new_txn_id

db = pytest.mark.django_db(transaction=True)


async def _join_encrypted_room(session, bob, alice_user) -> str:
    room_id = (await bob.call("create_room", encrypted=True, invite=[alice_user.user_id]))[
        "room_id"
    ]
    await eventually(lambda: session.room(room_id) is not None, timeout=20)
    await session.api.join(room_id)
    await eventually(
        lambda: (s := session.room(room_id)) is not None and s.membership == "join" and s.encrypted,
        timeout=20,
    )
    return room_id


@db
async def test_encrypted_room_both_ways_with_a_js_sdk_peer(
    async_client, synapse, make_user, js_peer
):
    alice = make_user("alice", displayname="Alice")
    bob = await js_peer(make_user("bob", displayname="Bob"), bootstrap=True)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    assert session.crypto is not None and session.crypto.ready, session.crypto.problem
    room_id = await _join_encrypted_room(session, bob, alice)
    # Bob's client shares keys with alice's device once it knows it (after her join).
    await asyncio.sleep(1)

    sent = await bob.call("send_text", room_id=room_id, body="a secret for alice")
    page = await _page_until(async_client, room_id, "a secret for alice")
    assert sent["event_id"] in page
    assert "Waiting for the key" not in page

    # Alice answers from this client: encrypted, and bob's js-sdk decrypts it.
    event_id = await actions.send_text(session, room_id, "and one for bob", new_txn_id())
    seen = await bob.wait_message(room_id, body="and one for bob", sender=alice.user_id, timeout=20)
    assert seen["event_id"] == event_id
    assert seen["encrypted"] and seen["decrypted"] and seen["error"] is None


async def _page_until(async_client, room_id: str, text: str, timeout: float = 20) -> str:
    """The room page, once it shows `text`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        page = (await async_client.get(f"/rooms/{room_id}/")).content.decode()
        if text in page or loop.time() > deadline:
            assert text in page, page[-3000:]
            return page
        await asyncio.sleep(0.5)


@db
async def test_recovery_key_verifies_this_device_and_restores_history(
    async_client, synapse, make_user, js_peer
):
    """Alice uses Element (a js-sdk device with cross-signing, secret storage and backup)
    and signs in here too: her recovery key cross-signs this device, history from before it
    existed comes back from the backup, and Bob (keys only to signed devices) reaches her."""
    from webclient.matrix import device_trust

    alice_user = make_user("alice", displayname="Alice")
    bob_user = make_user("bob", displayname="Bob")
    alice_js = await js_peer(alice_user, bootstrap=True, only_signed_devices=True)
    bob = await js_peer(bob_user, bootstrap=True, only_signed_devices=True)
    room_id = (await alice_js.call("create_room", encrypted=True, invite=[bob.user_id]))["room_id"]
    await bob.call("wait_invite", room_id=room_id)
    await bob.call("join", room_id=room_id)
    await alice_js.call("send_text", room_id=room_id, body="said before the new device")
    await alice_js.call("backup_info", wait_for_keys=1, timeout_ms=25000, timeout=35)

    credential = await sign_in(async_client, synapse, alice_user)
    session = await synced_session(credential)
    assert session.crypto is not None and session.crypto.ready
    await eventually(lambda: (s := session.room(room_id)) is not None and s.encrypted, timeout=20)
    before = await device_trust.state(session)
    assert before.enabled and not before.cross_signed and before.account_has_cross_signing

    # A wrong key changes nothing and says so.
    with pytest.raises(Exception) as wrong:
        await device_trust.verify_with_recovery_key(
            session, "EsTc 1234 5678 9abc defg hijk lmno pqrs tuvw xyzA BCDE FGHJ KLMN"
        )
    assert "Nothing was changed" in str(wrong.value)
    assert not (await device_trust.state(session)).cross_signed

    done = await device_trust.verify_with_recovery_key(session, alice_js.recovery_key)
    assert done["restored"] >= 1 and done["backup_version"]
    after = await device_trust.state(session)
    assert after.cross_signed and after.backup_on
    page = await _page_until(async_client, room_id, "said before the new device")
    assert "Waiting for the key" not in page

    # Element's devices see this one as signed by its owner, and Bob now shares keys with it.
    status = await bob.call(
        "device_status",
        user_id=alice_user.user_id,
        device_id=credential.device_id,
        wait_for="signed_by_owner",
        timeout_ms=15000,
        timeout=25,
    )
    assert status["signed_by_owner"]
    await bob.call("send_text", room_id=room_id, body="only for signed devices")
    await _page_until(async_client, room_id, "only for signed devices", timeout=30)


@db
async def test_encryption_page_recovery_form_and_key_files(
    async_client, synapse, make_user, js_peer
):
    """Settings → Encryption: the state, a wrong recovery key refused with nothing changed,
    the right one verifying the device; room keys exported and imported in Element's format."""
    alice_user = make_user("alice", displayname="Alice")
    alice_js = await js_peer(alice_user, bootstrap=True)
    credential = await sign_in(async_client, synapse, alice_user)
    session = await synced_session(credential)
    await eventually(lambda: session.crypto is not None and session.crypto.ready, timeout=10)

    page = (await async_client.get("/settings/encryption/")).content.decode()
    assert "This client decrypts on its server" in page
    assert 'id="recovery-form"' in page and 'name="recovery_key"' in page
    assert 'data-verified="false"' in page

    wrong = await async_client.post(
        "/settings/encryption/", {"form": "recovery", "recovery_key": "not a key"}
    )
    assert wrong.status_code == 400
    assert "Nothing was changed" in wrong.content.decode() or "not a recovery key" in (
        wrong.content.decode()
    )
    assert "no-store" in wrong["Cache-Control"]

    right = await async_client.post(
        "/settings/encryption/", {"form": "recovery", "recovery_key": alice_js.recovery_key}
    )
    assert right.status_code == 302
    page = (await async_client.get("/settings/encryption/")).content.decode()
    assert 'data-verified="true"' in page and 'data-backup="on"' in page
    assert alice_js.recovery_key not in page

    # Export, then import into the same device: the file is Element's format and opens.
    exported = await async_client.post(
        "/settings/encryption/",
        {"form": "export", "passphrase": "pass phrase", "passphrase_again": "pass phrase"},
    )
    assert exported.status_code == 200
    text = exported.content.decode()
    assert text.startswith("-----BEGIN MEGOLM SESSION DATA-----")
    from django.core.files.uploadedfile import SimpleUploadedFile

    wrong_pass = await async_client.post(
        "/settings/encryption/",
        {
            "form": "import",
            "passphrase": "another",
            "key_file": SimpleUploadedFile("keys.txt", text.encode()),
        },
    )
    assert wrong_pass.status_code == 400
    assert "No keys were imported" in wrong_pass.content.decode()


@db
async def test_encrypted_attachments_both_ways(async_client, synapse, make_user, js_peer):
    """Files in an encrypted room: the js-sdk's encrypted upload opens through the media
    proxy (decrypted, hash checked), and this client's upload is encrypted (no `url`, a
    `file` with key and hash) and opens in the js-sdk."""
    import base64
    import re
    from urllib.parse import quote

    from django.core.files.uploadedfile import SimpleUploadedFile

    alice = make_user("alice", displayname="Alice")
    bob = await js_peer(make_user("bob", displayname="Bob"), bootstrap=True)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    room_id = await _join_encrypted_room(session, bob, alice)
    await asyncio.sleep(1)

    data = bytes(range(256)) * 300  # 76.8 kB, not a picture: served as a download
    sent = await bob.call(
        "send_file",
        room_id=room_id,
        name="report.bin",
        mimetype="application/octet-stream",
        data_base64=base64.b64encode(data).decode(),
    )
    page = await _page_until(async_client, room_id, "report.bin")
    match = re.search(r'href="(/media/e/[^"]+)"', page)
    assert match, page[-2000:]
    url = match.group(1).replace("&amp;", "&")
    assert quote(sent["event_id"], safe="") in url
    response = await async_client.get(url)
    assert response.status_code == 200
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert body == data
    assert response["Content-Type"] == "application/octet-stream"
    assert "attachment" in response["Content-Disposition"]
    # The address names the event, never the key.
    assert sent["file"]["key"]["k"] not in url

    upload = SimpleUploadedFile("notes.txt", b"secret notes\n" * 100, content_type="text/plain")
    answer = await async_client.post(
        f"/rooms/{room_id}/send/",
        {"body": "", "txn_id": new_txn_id(), "file": upload},
        headers={"accept": "application/json"},
    )
    assert answer.status_code == 200, answer.content
    event_id = answer.json()["event_id"]
    seen = await bob.wait_message(room_id, event_id=event_id, timeout=20)
    content = seen["content"]
    assert "url" not in content and content["file"]["url"].startswith("mxc://")
    opened = await bob.call("download_decrypted", file=content["file"])
    assert base64.b64decode(opened["data_base64"]) == b"secret notes\n" * 100


@db
async def test_kiosk_of_an_encrypted_room(async_client, synapse, make_user, js_peer):
    """A kiosk link made with the recovery key gets a verified device of its own: Element
    (sharing keys only with verified devices) reaches it, and the screen shows the room's
    encrypted messages; a wrong recovery key makes no link and leaves no device behind."""
    alice_user = make_user("alice", displayname="Alice")
    alice_js = await js_peer(alice_user, bootstrap=True, only_signed_devices=True)
    room_id = (await alice_js.call("create_room", encrypted=True, name="Lobby"))["room_id"]
    credential = await sign_in(async_client, synapse, alice_user)
    session = await synced_session(credential)
    await eventually(lambda: (s := session.room(room_id)) is not None and s.encrypted, timeout=20)

    form = {
        "name": "lobby",
        "rooms": [room_id],
        "theme": "dark",
        "scale": "1.5",
        "password": alice_user.password,
    }
    refused = await async_client.post(
        "/settings/kiosks/new/",
        {**form, "recovery_key": "EsTc 1234 5678 9abc defg hijk lmno pqrs tuvw xyzA BCDE FGHJ"},
    )
    assert refused.status_code == 400
    # The homeserver's own list (the peer's device list is a cache that may still hold the
    # screen's device from the moment it uploaded its keys).
    listed = await asyncio.to_thread(
        matrix_api, synapse.url, alice_user.access_token, "GET", "/_matrix/client/v3/devices"
    )
    known = {alice_user.device_id, alice_js.device_id, credential.device_id}
    assert {d["device_id"] for d in listed["devices"]} <= known, listed

    made = await async_client.post(
        "/settings/kiosks/new/", {**form, "recovery_key": alice_js.recovery_key}
    )
    assert made.status_code == 200, made.content.decode()[-2000:]
    page = made.content.decode()
    import re

    token = re.search(r"/kiosk/([^/\"<]+)/", page).group(1)
    await alice_js.call("send_text", room_id=room_id, body="visitors welcome")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        screen = (await async_client.get(f"/kiosk/{token}/")).content.decode()
        if "visitors welcome" in screen or loop.time() > deadline:
            break
        await asyncio.sleep(1)
    assert "visitors welcome" in screen, screen[-2000:]


@db
async def test_shield_on_messages_from_a_device_its_owner_did_not_verify(
    async_client, synapse, make_user, js_peer
):
    """Bob writes from a device that is not cross-signed (no bootstrap): his messages carry
    Element's warning; a cross-signed device's messages carry none."""
    alice = make_user("alice", displayname="Alice")
    bob_user = make_user("bob", displayname="Bob")
    signed = await js_peer(bob_user, bootstrap=True)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    room_id = await _join_encrypted_room(session, signed, alice)
    unsigned = await js_peer(bob_user, name="bob-unsigned")
    await asyncio.sleep(1)
    await signed.call("send_text", room_id=room_id, body="from the verified device")
    await unsigned.call("send_text", room_id=room_id, body="from the other device")
    page = await _page_until(async_client, room_id, "from the other device")
    # The tiles only: the room list beside the room shows the last message's text too.
    tiles = re.findall(r'<article class="event.*?</article>', page, re.S)
    verified = next(t for t in tiles if "from the verified device" in t)
    other = next(t for t in tiles if "from the other device" in t)
    assert "data-shield" not in verified
    assert 'data-shield="unverified_device"' in other
    assert "Encrypted by a device not verified by its owner." in other


@db
async def test_keys_survive_a_restart_of_the_session(async_client, synapse, make_user, js_peer):
    """The device's crypto store outlives its session: after a restart the same identity is
    back, old messages still decrypt (from the stored room keys, without asking anyone), and
    sending still works."""
    from webclient.matrix import registry

    alice = make_user("alice", displayname="Alice")
    bob = await js_peer(make_user("bob", displayname="Bob"), bootstrap=True)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    room_id = await _join_encrypted_room(session, bob, alice)
    await asyncio.sleep(1)
    await bob.call("send_text", room_id=room_id, body="remember me")
    await _page_until(async_client, room_id, "remember me")
    identity = session.client.olm.account.identity_keys["curve25519"]

    await registry.stop(credential.pk)
    assert session.closed
    restarted = await registry.session_for(credential)
    assert restarted is not session
    await eventually(lambda: restarted.crypto is not None and restarted.crypto.ready, timeout=15)
    assert restarted.client.olm.account.identity_keys["curve25519"] == identity
    page = await _page_until(async_client, room_id, "remember me")
    assert "Waiting for the key" not in page
    event_id = await actions.send_text(restarted, room_id, "still here", new_txn_id())
    seen = await bob.wait_message(room_id, event_id=event_id, timeout=20)
    assert seen["decrypted"] and seen["content"]["body"] == "still here"


@db
async def test_embed_display_account_verifies_its_own_device(
    async_client, synapse, make_user, js_peer, settings
):
    """The embeds' display account, new to cross-signing, sets it up on first use: Element
    users who share keys only with verified devices then reach it, and the embed shows their
    encrypted messages."""
    from webclient.matrix import display_accounts

    display = make_user("display", displayname="Lobby screen")
    alice_js = await js_peer(make_user("alice"), bootstrap=True, only_signed_devices=True)
    room_id = (
        await alice_js.call("create_room", encrypted=True, invite=[display.user_id], name="News")
    )["room_id"]
    settings.EMBED_DISPLAY_ACCESS_TOKEN = display.access_token
    settings.EMBED_DISPLAY_HOMESERVER = synapse.url
    settings.EMBED_GUEST_ACCESS = False
    display_accounts._display_ids.clear()
    matrix_api(
        synapse.url,
        display.access_token,
        "POST",
        f"/_matrix/client/v3/join/{quote(room_id, safe='')}",
        {},
    )
    first = await async_client.get(f"/embed/{room_id}/")
    assert first.status_code == 200
    credential = await display_accounts.display_credential()
    session = await synced_session(credential)
    await eventually(lambda: session.crypto is not None and session.crypto.ready, timeout=15)

    async def signed() -> bool:
        return await session.crypto.own_device_cross_signed()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await signed():
        assert loop.time() < deadline, "the display account's device was not cross-signed"
        await asyncio.sleep(0.5)
    await alice_js.call(
        "device_status",
        user_id=display.user_id,
        device_id=credential.device_id,
        wait_for="signed_by_owner",
        timeout_ms=15000,
        timeout=25,
    )
    await alice_js.call("send_text", room_id=room_id, body="news for every desk")
    deadline = loop.time() + 30
    while True:
        page = (await async_client.get(f"/embed/{room_id}/")).content.decode()
        if "news for every desk" in page or loop.time() > deadline:
            break
        await asyncio.sleep(1)
    assert "news for every desk" in page


@db
async def test_setting_up_cross_signing_shows_a_recovery_key_once(
    async_client, synapse, make_user, js_peer
):
    """An account with no cross-signing sets it up on the encryption page (the password
    confirms it): the recovery key is shown once, this device is verified, and Element (a new
    js-sdk device) can verify itself with that key."""
    import re

    alice = make_user("alice", displayname="Alice")
    await sign_in(async_client, synapse, alice)
    page = (await async_client.get("/settings/encryption/")).content.decode()
    assert 'id="setup-form"' in page
    wrong = await async_client.post(
        "/settings/encryption/", {"form": "setup", "password": "not the password"}
    )
    assert wrong.status_code == 400 and 'id="new-recovery-key"' not in wrong.content.decode()
    done = await async_client.post(
        "/settings/encryption/", {"form": "setup", "password": alice.password}
    )
    assert done.status_code == 200
    shown = done.content.decode()
    assert 'id="new-recovery-key"' in shown and "no-store" in done["Cache-Control"]
    recovery_key = re.search(r'id="recovery-key-value">([^<]+)<', shown).group(1).strip()
    assert 'data-verified="true"' in shown and 'data-backup="on"' in shown
    again = (await async_client.get("/settings/encryption/")).content.decode()
    assert recovery_key not in again

    element = await js_peer(alice, name="alice-element")
    status = await element.call("recover", recovery_key=recovery_key, timeout=60)
    assert status["cross_signing_ready"]


@db
async def test_reactions_in_an_encrypted_room_are_encrypted(
    async_client, synapse, make_user, js_peer
):
    """A reaction in an encrypted room goes encrypted (its relation outside, as Element sends
    it), and this client shows it on the message."""
    alice = make_user("alice", displayname="Alice")
    bob = await js_peer(make_user("bob", displayname="Bob"), bootstrap=True)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    room_id = await _join_encrypted_room(session, bob, alice)
    await asyncio.sleep(1)
    sent = await bob.call("send_text", room_id=room_id, body="react to me")
    await _page_until(async_client, room_id, "react to me")
    await session.toggle_reaction(room_id, sent["event_id"], "👍")
    from tests.matrix_helpers import messages

    raw = await messages(synapse, alice, room_id)
    reaction = next(
        e
        for e in raw
        if (e.get("content") or {}).get("m.relates_to", {}).get("rel_type") == "m.annotation"
    )
    assert reaction["type"] == "m.room.encrypted"
    assert "key" in reaction["content"]["m.relates_to"]
    page = await _page_until(async_client, room_id, 'class="reaction-key">👍')
    assert "react to me" in page
