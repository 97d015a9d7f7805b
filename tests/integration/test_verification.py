"""Verification by emoji (SAS) with the crypto Element runs: a matrix-js-sdk peer (Rust crypto)
as the user's other, bootstrapped device, real Synapse, both directions, driven through the
Settings → Encryption → Verify pages. This client's device is the new, unverified one: after
the SAS the js device cross-signs it and sends it the cross-signing and backup secrets."""

from __future__ import annotations

import asyncio
import html
import re

import pytest

from tests.client_helpers import eventually, sign_in, synced_session
from webclient.matrix import device_trust

db = pytest.mark.django_db(transaction=True)

VERIFY = "/settings/encryption/verify/"


async def _page_until(async_client, text: str, timeout: float = 20) -> str:
    """The verify page, once it shows `text` (the page refreshes itself every 2 s; the test
    asks more often)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await async_client.get(VERIFY)
        assert response.status_code == 200
        page = response.content.decode()
        if text in page:
            return page
        if loop.time() > deadline:
            raise AssertionError(f"{text!r} not on the verify page:\n{page[-4000:]}")
        await asyncio.sleep(0.3)


def _emoji_names(page: str) -> list[str]:
    return [html.unescape(name) for name in re.findall(r'data-name="([^"]+)"', page)]


def _decimals(page: str) -> list[int]:
    found = re.search(r'class="sas-numbers">(\d+) (\d+) (\d+)<', page)
    assert found, page[-3000:]
    return [int(n) for n in found.groups()]


async def _post(async_client, form: str, transaction_id: str | None = None) -> None:
    data = {"form": form}
    if transaction_id:
        data["transaction_id"] = transaction_id
    response = await async_client.post(VERIFY, data)
    assert response.status_code == 302, response.content.decode()[-2000:]


async def _new_device_and_element(async_client, synapse, make_user, js_peer):
    """Alice's Element device (bootstrapped: cross-signing, secret storage, backup) and a
    new sign-in here that Element knows about."""
    alice = make_user("alice", displayname="Alice")
    element = await js_peer(alice, bootstrap=True)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    await eventually(
        lambda: session.crypto is not None and session.crypto.verifications is not None,
        timeout=10,
    )
    status = await element.call(
        "device_status",
        user_id=alice.user_id,
        device_id=credential.device_id,
        wait_for="known",
        timeout_ms=15000,
        timeout=25,
    )
    assert status["known"] and not status["signed_by_owner"]
    return alice, element, credential, session


async def _compare_and_confirm(async_client, element, transaction_id: str) -> None:
    """Both sides show the same emoji and numbers; both say they match."""
    shown = await element.next_event("sas", timeout=20)
    page = await _page_until(async_client, 'class="sas-match"')
    assert _emoji_names(page) == [name for _symbol, name in shown["emoji"]]
    assert _decimals(page) == shown["decimal"]
    await _post(async_client, "match", transaction_id)
    await element.call("confirm_sas", transaction_id=shown["transaction_id"])
    done = await element.next_event("verification_done", timeout=20)
    assert done["phase"] == "Done"
    page = await _page_until(async_client, "This device is now verified")
    assert 'data-phase="done"' in page


async def _cross_signed_with_backup(session, element, alice, credential) -> None:
    """Element sees this device signed by its owner; this device holds the secrets it was
    sent: cross-signed, key backup on."""
    status = await element.call(
        "device_status",
        user_id=alice.user_id,
        device_id=credential.device_id,
        wait_for="signed_by_owner",
        timeout_ms=15000,
        timeout=25,
    )
    assert status["signed_by_owner"]

    async def trusted() -> bool:
        state = await device_trust.state(session)
        return state.cross_signed and state.backup_on

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not await trusted():
        assert loop.time() < deadline, session.crypto.verifications.secrets.notes
        await asyncio.sleep(0.3)


@db
async def test_this_client_asks_and_element_accepts(async_client, synapse, make_user, js_peer):
    alice, element, credential, session = await _new_device_and_element(
        async_client, synapse, make_user, js_peer
    )
    page = (await async_client.get("/settings/encryption/")).content.decode()
    assert 'id="verify-with-device"' in page

    await _post(async_client, "request")
    page = await _page_until(async_client, "Waiting for one of your other devices")
    assert '<meta http-equiv="refresh" content="2">' in page
    transaction_id = re.search(r'data-transaction="([^"]+)"', page)[1]

    request = await element.next_event("verification_request", timeout=20)
    assert request["transaction_id"] == transaction_id and request["is_self_verification"]
    await element.call("accept_verification", transaction_id=transaction_id)
    # This client asked, so it starts the SAS once Element is ready; Element accepts.
    await _compare_and_confirm(async_client, element, transaction_id)
    await _cross_signed_with_backup(session, element, alice, credential)
    # The two notes come as the two secrets are taken up, in either order (signing this
    # device takes a few requests after the backup key is in).
    await _page_until(async_client, "This device is cross-signed")
    page = await _page_until(async_client, "Key backup is on")
    assert "This device is cross-signed" in page


@db
async def test_element_asks_and_this_client_accepts(async_client, synapse, make_user, js_peer):
    alice, element, credential, session = await _new_device_and_element(
        async_client, synapse, make_user, js_peer
    )
    asked = await element.call("request_verification", user_id=alice.user_id)
    transaction_id = asked["transaction_id"]
    page = await _page_until(async_client, f'data-transaction="{transaction_id}"')
    assert 'class="accept-verification"' in page and "your device " + element.device_id in page

    await _post(async_client, "accept", transaction_id)
    await element.next_event(
        "verification_phase", where=lambda e: e["phase"] == "Ready", timeout=20
    )
    await _page_until(async_client, 'class="start-verification"')
    # Element starts (its "Verify by emoji"); this client accepts the start on its own.
    await element.call("start_sas", transaction_id=transaction_id)
    await _compare_and_confirm(async_client, element, transaction_id)
    await _cross_signed_with_backup(session, element, alice, credential)


@db
async def test_emoji_that_do_not_match_cancel_both_sides_and_sign_nothing(
    async_client, synapse, make_user, js_peer
):
    alice, element, credential, session = await _new_device_and_element(
        async_client, synapse, make_user, js_peer
    )
    await _post(async_client, "request")
    request = await element.next_event("verification_request", timeout=20)
    await element.call("accept_verification", transaction_id=request["transaction_id"])
    await element.next_event("sas", timeout=20)
    page = await _page_until(async_client, 'class="sas-mismatch"')
    assert len(_emoji_names(page)) == 7

    await _post(async_client, "mismatch", request["transaction_id"])
    cancelled = await element.next_event("verification_cancelled", timeout=20)
    assert cancelled["cancellation_code"] == "m.mismatched_sas"
    page = await _page_until(async_client, 'data-phase="cancelled"')
    assert 'data-cancel-code="m.mismatched_sas"' in page
    assert "Cancelled: The emoji did not match." in page
    assert '<meta http-equiv="refresh"' not in page

    # Nothing was signed on either side, and no secret was asked for.
    status = await element.call(
        "device_status", user_id=alice.user_id, device_id=credential.device_id
    )
    assert not status["signed_by_owner"] and not status["locally_verified"]
    state = await device_trust.state(session)
    assert not state.cross_signed and not state.backup_on
    assert not session.crypto.verifications.secrets.pending


@db
async def test_a_verified_client_cross_signs_a_new_element_device_and_shares_its_secrets(
    async_client, synapse, make_user, js_peer
):
    """The other way round: this device is verified (recovery key) and holds the secrets; a
    new Element device asks it, this client starts the emoji, then cross-signs the new
    device and answers its `m.secret.request`s."""
    alice, element, credential, session = await _new_device_and_element(
        async_client, synapse, make_user, js_peer
    )
    await device_trust.verify_with_recovery_key(session, element.recovery_key)
    new = await js_peer(alice)
    before = await new.call("crypto_status")
    assert not before["cross_signing_ready"]

    asked = await new.call(
        "request_verification", user_id=alice.user_id, device_id=credential.device_id
    )
    transaction_id = asked["transaction_id"]
    await _page_until(async_client, f'data-transaction="{transaction_id}"')
    await _post(async_client, "accept", transaction_id)
    page = await _page_until(async_client, 'class="start-verification"')
    await _post(async_client, "start", transaction_id)

    shown = await new.next_event("sas", timeout=20)
    page = await _page_until(async_client, 'class="sas-match"')
    assert _emoji_names(page) == [name for _symbol, name in shown["emoji"]]
    await new.call("confirm_sas", transaction_id=transaction_id)
    await _post(async_client, "match", transaction_id)
    await new.next_event("verification_done", timeout=20)
    page = await _page_until(async_client, f"Your device {new.device_id} is now verified")

    # Signed with this device's self-signing key: Element's first device sees it too.
    status = await element.call(
        "device_status",
        user_id=alice.user_id,
        device_id=new.device_id,
        wait_for="signed_by_owner",
        timeout_ms=15000,
        timeout=25,
    )
    assert status["signed_by_owner"]
    # The new device got the cross-signing keys from this one.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not (await new.call("crypto_status"))["cross_signing_ready"]:
        assert loop.time() < deadline, "the new Element device did not get the secrets"
        await asyncio.sleep(0.5)


@db
async def test_element_cancelling_ends_the_verification_here(
    async_client, synapse, make_user, js_peer
):
    alice, element, credential, session = await _new_device_and_element(
        async_client, synapse, make_user, js_peer
    )
    asked = await element.call("request_verification", user_id=alice.user_id)
    transaction_id = asked["transaction_id"]
    await _page_until(async_client, f'data-transaction="{transaction_id}"')
    await _post(async_client, "accept", transaction_id)
    await element.next_event("verification_phase", where=lambda e: e["phase"] == "Ready")
    await element.call("cancel_verification", transaction_id=transaction_id)
    page = await _page_until(async_client, 'data-phase="cancelled"')
    assert "Cancelled: The other device cancelled the verification." in page
    # A button of the ended verification says so instead of doing anything.
    response = await async_client.post(VERIFY, {"form": "start", "transaction_id": transaction_id})
    assert response.status_code == 400
    assert "This verification has already ended." in response.content.decode()
