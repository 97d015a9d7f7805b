"""Room settings beyond name and topic (`webclient/rooms/room_settings.py`), against a real
Synapse: avatar, addresses, who can join, history visibility, guest access, power levels.

The person using the web client signs in through the login form with `async_client`; the
result of each form is checked in the room's state on the homeserver.
"""

from __future__ import annotations

import html
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from tests.client_helpers import (
    asks_first,
    eventually,
    field_value,
    sign_in,
    synced_session,
    text_of,
)
from tests.matrix_helpers import api, q, set_power, state, unique
from tests.synapse_fixtures import MatrixAPIError

pytestmark = pytest.mark.django_db(transaction=True)


# -- helpers ------------------------------------------------------------------------------------


def png(colour: str = "red") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, "PNG")
    # The name and declared type lie on purpose: the content decides.
    return SimpleUploadedFile("picture.bin", buffer.getvalue(), content_type="text/plain")


async def room_with(hs, async_client, owner, member, **body) -> tuple[str, object]:
    """`owner` (signed in here) makes a room and `member` joins it; (room ID, session)."""
    credential = await sign_in(async_client, hs, owner)
    body.setdefault("preset", "private_chat")
    body.setdefault("name", "Settings room")
    room_id = (
        await api(
            hs, owner.access_token, "POST", "/createRoom", {"invite": [member.user_id], **body}
        )
    )["room_id"]
    await api(hs, member.access_token, "POST", f"/join/{q(room_id)}", {})
    session = await synced_session(credential)
    await eventually(lambda: room_id in session.rooms.rooms)
    return room_id, session


def selected(page: str, select_id: str) -> str:
    match = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no #{select_id}"
    chosen = re.search(r'<option value="([^"]*)" selected>', match.group(1))
    assert chosen, f"nothing selected in #{select_id}"
    return html.unescape(chosen.group(1))


def control_disabled(page: str, element_id: str) -> bool:
    match = re.search(rf'<(?:input|select|textarea|button)[^>]*id="{element_id}"[^>]*>', page)
    assert match, f"no #{element_id}"
    return " disabled" in match.group(0)


async def resolve(hs, user, alias: str) -> str | None:
    try:
        return (await api(hs, user.access_token, "GET", f"/directory/room/{q(alias)}"))["room_id"]
    except MatrixAPIError as exc:
        if exc.status == 404:
            return None
        raise


# -- as the room's creator ----------------------------------------------------------------------


async def test_creator_changes_avatar(async_client, synapse, make_user):
    me, friend = make_user("me"), make_user("friend")
    room_id, session = await room_with(synapse, async_client, me, friend)
    url = reverse("rooms:settings_avatar", args=[room_id])
    settings_url = reverse("rooms:settings", args=[room_id])

    page = (await async_client.get(settings_url)).content.decode()
    assert "needs power level" not in page
    assert 'id="no-room-avatar"' in page

    # Not a picture: refused here, nothing sent.
    text = SimpleUploadedFile("evil.png", b"<svg onload=alert(1)>", content_type="image/png")
    refused = await async_client.post(url, {"action": "upload", "avatar": text})
    assert refused.status_code == 400
    assert "not a picture" in text_of(refused.content.decode(), "avatar-error")

    response = await async_client.post(url, {"action": "upload", "avatar": png()})
    assert response.status_code == 302, response.content.decode()[:3000]
    content = await state(synapse, me, room_id, "m.room.avatar")
    assert content["url"].startswith("mxc://")
    assert content["info"]["mimetype"] == "image/png"
    assert (content["info"]["w"], content["info"]["h"]) == (8, 8)
    page = (await async_client.get(settings_url)).content.decode()
    assert "Room avatar changed." in page
    media_id = content["url"].rsplit("/", 1)[1]
    thumb = re.search(r'id="room-avatar"><img [^>]*src="([^"]+)"', page)
    assert thumb and media_id in thumb.group(1)

    # Sent without "I am sure" (no script, no form checks): a page asks, nothing changes.
    asked = asks_first(
        await async_client.post(url, {"action": "remove"}), "Remove the room's avatar?"
    )
    assert asked["action"] == ["remove"]
    assert "url" in await state(synapse, me, room_id, "m.room.avatar")
    response = await async_client.post(url, {"action": "remove", "confirm": "yes"})
    assert response.status_code == 302
    assert "url" not in await state(synapse, me, room_id, "m.room.avatar")
    assert 'id="no-room-avatar"' in (await async_client.get(settings_url)).content.decode()


async def test_creator_manages_addresses(async_client, synapse, make_user):
    me, friend = make_user("me"), make_user("friend")
    room_id, session = await room_with(synapse, async_client, me, friend)
    url = reverse("rooms:settings_addresses", args=[room_id])
    settings_url = reverse("rooms:settings", args=[room_id])
    local = unique("garden")
    alias = f"#{local}:localhost"

    page = (await async_client.get(settings_url)).content.decode()
    assert 'id="no-addresses"' in page

    response = await async_client.post(url, {"action": "add", "localpart": f"#{local}"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert await resolve(synapse, me, alias) == room_id
    page = (await async_client.get(settings_url)).content.decode()
    assert f'data-alias="{alias}"' in page
    assert f"Added the address {alias}." in page

    # Taken (by this very room): said so, and what was typed is kept.
    taken = await async_client.post(url, {"action": "add", "localpart": local})
    assert taken.status_code == 400
    taken_page = taken.content.decode()
    assert f"The address {alias} is already taken." in text_of(taken_page, "alias-error")
    assert field_value(taken_page, "alias-localpart") == local
    bad = await async_client.post(url, {"action": "add", "localpart": "no spaces please"})
    assert bad.status_code == 400
    assert "cannot be an address" in text_of(bad.content.decode(), "alias-error")

    # Make it the main address: m.room.canonical_alias says so, and the room is named by it.
    response = await async_client.post(url, {"action": "main", "alias": alias})
    assert response.status_code == 302
    assert (await state(synapse, me, room_id, "m.room.canonical_alias"))["alias"] == alias
    assert session.rooms.rooms[room_id].canonical_alias == alias
    page = (await async_client.get(settings_url)).content.decode()
    assert text_of(page, "settings-alias") == alias

    # A second address, published beside the main one.
    second = f"#{unique('patch')}:localhost"
    await async_client.post(url, {"action": "add", "localpart": second[1:].split(":")[0]})
    response = await async_client.post(url, {"action": "publish", "alias": second})
    assert response.status_code == 302
    canonical = await state(synapse, me, room_id, "m.room.canonical_alias")
    assert canonical == {"alias": alias, "alt_aliases": [second]}
    response = await async_client.post(url, {"action": "unpublish", "alias": second})
    assert (await state(synapse, me, room_id, "m.room.canonical_alias"))["alt_aliases"] == []

    # Removing the main address: gone from the directory and from the room's state.
    # Its Remove button has no checkbox of its own: without script the server asks.
    asked = asks_first(
        await async_client.post(url, {"action": "delete", "alias": alias}),
        f"Remove the address {alias}?",
    )
    assert asked == {"action": ["delete"], "alias": [alias], "confirm": ["yes"]}
    assert await resolve(synapse, me, alias) is not None
    response = await async_client.post(url, {"action": "delete", "alias": alias, "confirm": "yes"})
    assert response.status_code == 302
    assert await resolve(synapse, me, alias) is None
    assert "alias" not in await state(synapse, me, room_id, "m.room.canonical_alias")
    page = (await async_client.get(settings_url)).content.decode()
    assert f'data-alias="{alias}"' not in page
    assert f'data-alias="{second}"' in page


async def test_creator_changes_access(async_client, synapse, make_user):
    me, friend = make_user("me"), make_user("friend")
    room_id, _ = await room_with(synapse, async_client, me, friend)
    url = reverse("rooms:settings_access", args=[room_id])
    settings_url = reverse("rooms:settings", args=[room_id])

    page = (await async_client.get(settings_url)).content.decode()
    assert selected(page, "settings-join-rule") == "invite"
    assert selected(page, "settings-history-visibility") == "shared"
    assert selected(page, "settings-guest-access") == "can_join"  # private_chat's default
    assert "Members, from when they joined" in page

    for field, value, event_type in [
        ("join_rule", "public", "m.room.join_rules"),
        ("join_rule", "invite", "m.room.join_rules"),
        ("history_visibility", "joined", "m.room.history_visibility"),
        ("history_visibility", "world_readable", "m.room.history_visibility"),
        ("guest_access", "forbidden", "m.room.guest_access"),
    ]:
        response = await async_client.post(url, {"field": field, field: value})
        assert response.status_code == 302, response.content.decode()[:3000]
        assert (await state(synapse, me, room_id, event_type))[field] == value

    page = (await async_client.get(settings_url)).content.decode()
    assert selected(page, "settings-history-visibility") == "world_readable"
    assert selected(page, "settings-guest-access") == "forbidden"
    assert text_of(page, "join-rule") == "Only invited people"

    # Knocking comes with room version 7 and later; anything else is refused here.
    assert 'value="knock"' in page
    bad = await async_client.post(url, {"field": "history_visibility", "history_visibility": "x"})
    assert bad.status_code == 400
    assert "Choose one of" in text_of(bad.content.decode(), "history-visibility-error")


async def test_creator_gives_a_member_power(async_client, synapse, make_user):
    me, friend = make_user("me"), make_user("friend")
    room_id, session = await room_with(synapse, async_client, me, friend)
    url = reverse("rooms:settings_power", args=[room_id])
    settings_url = reverse("rooms:settings", args=[room_id])

    page = (await async_client.get(settings_url)).content.decode()
    # Synapse makes version 12 rooms: the creator is shown as such and is not in `users`.
    version = (await state(synapse, me, room_id, "m.room.create"))["room_version"]
    if version == "12":
        row = re.search(rf'<tr data-user-id="{re.escape(me.user_id)}">(.*?)</tr>', page, re.S)
        assert row and 'class="power-level">creator<' in row.group(1)
        refused = await async_client.post(url, {"user": me.user_id, "level": "100"})
        assert refused.status_code == 400
        assert "created this room" in text_of(refused.content.decode(), "power-error")
    assert f'<option value="{friend.user_id}">' in page  # suggested in the member field

    response = await async_client.post(url, {"user": friend.user_id, "level": "50"})
    assert response.status_code == 302, response.content.decode()[:3000]
    levels = await state(synapse, me, room_id, "m.room.power_levels")
    assert levels["users"][friend.user_id] == 50
    page = (await async_client.get(settings_url)).content.decode()
    assert f"{friend.user_id} now has power level 50." in page
    row = re.search(rf'<tr data-user-id="{re.escape(friend.user_id)}">(.*?)</tr>', page, re.S)
    assert row and "50 (Moderator)" in row.group(1)

    # A custom number, then back to the default (the entry goes).
    response = await async_client.post(
        url, {"user": friend.user_id, "level": "custom", "custom_level": "25"}
    )
    assert response.status_code == 302
    levels = await state(synapse, me, room_id, "m.room.power_levels")
    assert levels["users"][friend.user_id] == 25
    response = await async_client.post(url, {"user": friend.user_id, "level": "0"})
    assert response.status_code == 302
    levels = await state(synapse, me, room_id, "m.room.power_levels")
    assert friend.user_id not in levels["users"]
    # Everything else in the power levels was written back as it was.
    assert levels["events"]["m.room.power_levels"] == 100

    bad = await async_client.post(url, {"user": "friend", "level": "50"})
    assert bad.status_code == 400
    bad_page = bad.content.decode()
    assert "Type the member's user ID" in text_of(bad_page, "power-error")
    assert field_value(bad_page, "power-user") == "friend"


# -- without the power --------------------------------------------------------------------------


async def test_plain_member_sees_controls_disabled(async_client, synapse, make_user):
    owner, me = make_user("owner"), make_user("me")
    room_id = (
        await api(
            synapse,
            owner.access_token,
            "POST",
            "/createRoom",
            {"preset": "private_chat", "name": "Not mine", "invite": [me.user_id]},
        )
    )["room_id"]
    await api(synapse, me.access_token, "POST", f"/join/{q(room_id)}", {})
    credential = await sign_in(async_client, synapse, me)
    session = await synced_session(credential)
    await eventually(lambda: room_id in session.rooms.rooms)
    settings_url = reverse("rooms:settings", args=[room_id])

    page = (await async_client.get(settings_url)).content.decode()
    for hint, needed in [
        ("avatar-hint", "Changing the avatar needs power level 50; yours is 0."),
        ("alias-hint", "Changing the addresses needs power level 50; yours is 0."),
        ("join-rule-hint", "Changing who can join needs power level 50; yours is 0."),
        (
            "history-visibility-hint",
            "Changing who can read the history needs power level 100; yours is 0.",
        ),
        ("guest-access-hint", "Changing guest access needs power level 50; yours is 0."),
        ("power-hint", "Changing power levels needs power level 100; yours is 0."),
    ]:
        assert text_of(page, hint) == needed
    for control in [
        "avatar-input",
        "avatar-upload",
        "alias-localpart",
        "alias-add",
        "settings-join-rule",
        "settings-history-visibility",
        "settings-guest-access",
        "power-user",
        "power-level",
        "power-custom",
        "power-save",
    ]:
        assert control_disabled(page, control), control
    # The room ID is there to select (and copy, with the script).
    assert field_value(page, "room-id-field") == room_id
    assert 'data-copy-target="room-id-field"' in page

    # A forced POST: the homeserver's refusal, plainly, with the choice kept.
    before = await state(synapse, owner, room_id, "m.room.history_visibility")
    response = await async_client.post(
        reverse("rooms:settings_access", args=[room_id]),
        {"field": "history_visibility", "history_visibility": "world_readable"},
    )
    assert response.status_code == 400
    refused = response.content.decode()
    assert "refused" in text_of(refused, "history-visibility-error")
    assert selected(refused, "settings-history-visibility") == "world_readable"
    assert await state(synapse, owner, room_id, "m.room.history_visibility") == before

    response = await async_client.post(
        reverse("rooms:settings_addresses", args=[room_id]),
        {"action": "main", "alias": f"#{unique('nope')}:localhost"},
    )
    assert response.status_code == 400
    assert text_of(response.content.decode(), "addresses-error")


async def test_moderator_cannot_raise_above_own_level(async_client, synapse, make_user):
    owner, mod, other, peer = (make_user(p) for p in ("owner", "mod", "other", "peer"))
    room_id = (
        await api(
            synapse,
            owner.access_token,
            "POST",
            "/createRoom",
            {
                "preset": "private_chat",
                "invite": [mod.user_id, other.user_id, peer.user_id],
                # Moderators may change power levels here, within the spec's limits.
                "power_level_content_override": {"events": {"m.room.power_levels": 50}},
            },
        )
    )["room_id"]
    for user in (mod, other, peer):
        await api(synapse, user.access_token, "POST", f"/join/{q(room_id)}", {})
    await set_power(synapse, owner, room_id, mod, 50)
    await set_power(synapse, owner, room_id, peer, 50)
    credential = await sign_in(async_client, synapse, mod)
    session = await synced_session(credential)
    await eventually(
        lambda: (
            (s := session.rooms.rooms.get(room_id))
            and (s.power_levels.get("users") or {}).get(peer.user_id) == 50
        )
    )
    url = reverse("rooms:settings_power", args=[room_id])
    before = await state(synapse, owner, room_id, "m.room.power_levels")

    page = (await async_client.get(reverse("rooms:settings", args=[room_id]))).content.decode()
    assert not control_disabled(page, "power-user")
    # Peers at one's own level have no form; those below do.
    row = re.search(rf'<tr data-user-id="{re.escape(peer.user_id)}">(.*?)</tr>', page, re.S)
    assert row and "power-row-form" not in row.group(1)

    response = await async_client.post(url, {"user": other.user_id, "level": "100"})
    assert response.status_code == 400
    refused = response.content.decode()
    assert "You cannot give a power level above your own (50)" in text_of(refused, "power-error")
    assert field_value(refused, "power-user") == other.user_id
    response = await async_client.post(url, {"user": peer.user_id, "level": "0"})
    assert response.status_code == 400
    assert "at or above yours (50)" in text_of(response.content.decode(), "power-error")
    assert await state(synapse, owner, room_id, "m.room.power_levels") == before  # nothing sent

    # Within the limits it works.
    response = await async_client.post(url, {"user": other.user_id, "level": "50"})
    assert response.status_code == 302
    levels = await state(synapse, owner, room_id, "m.room.power_levels")
    assert levels["users"][other.user_id] == 50
