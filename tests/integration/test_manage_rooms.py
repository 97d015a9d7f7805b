"""Creating, joining, exploring, accepting, declining, leaving and forgetting rooms
(`webclient/rooms/manage.py`), against a real Synapse.

The person using the web client signs in through the login form with `async_client`; other
people act through plain client-server API calls, and the result is checked on the
homeserver (room state, memberships, account data) and on the room list page.

Synapse publishes nothing in its room directory unless `room_list_publication_rules` allow
it, so this module runs its own homeserver that allows publishing.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from django.urls import reverse

from tests.client_helpers import (
    asks_first,
    eventually,
    field_value,
    sign_in,
    synced_session,
    text_of,
)
from tests.matrix_helpers import api, q, state, unique
from tests.synapse_fixtures import MatrixAPIError
from webclient.demo.homeserver import LocalSynapse

pytestmark = pytest.mark.django_db(transaction=True)


class PublishingSynapse(LocalSynapse):
    def build_config(self) -> dict:
        config = super().build_config()
        config["room_list_publication_rules"] = [{"action": "allow"}]
        return config


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    hs = PublishingSynapse(tmp_path_factory.mktemp("synapse-directory"))
    with hs:
        yield hs


# -- helpers ------------------------------------------------------------------------------------


async def create_room(hs, owner, **body) -> str:
    body.setdefault("preset", "private_chat")
    return (await api(hs, owner.access_token, "POST", "/createRoom", body))["room_id"]


async def membership(hs, reader, room_id: str, user) -> str | None:
    try:
        return (await state(hs, reader, room_id, "m.room.member", user.user_id))["membership"]
    except MatrixAPIError as exc:
        if exc.errcode == "M_NOT_FOUND":
            return None
        raise


async def joined_rooms(hs, user) -> list[str]:
    return (await api(hs, user.access_token, "GET", "/joined_rooms"))["joined_rooms"]


async def direct_map(hs, user) -> dict:
    path = f"/user/{q(user.user_id)}/account_data/m.direct"
    try:
        return await api(hs, user.access_token, "GET", path)
    except MatrixAPIError as exc:
        if exc.errcode == "M_NOT_FOUND":
            return {}
        raise


def room_url(room_id: str) -> str:
    return reverse("rooms:room", args=[room_id])


def room_from_location(response) -> str:
    """The room ID of a redirect to a room page."""
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.fullmatch(r"/rooms/([^/]+)/", response["Location"])
    assert match, response["Location"]
    return unquote(match.group(1))


async def list_page(async_client) -> str:
    response = await async_client.get(reverse("rooms:list"))
    assert response.status_code == 200
    return response.content.decode()


def listed_joined(page: str, room_id: str) -> bool:
    return f'data-room-id="{html.escape(room_id)}"' in page


def listed_invite(page: str, room_id: str) -> bool:
    return f'data-invite-room-id="{html.escape(room_id)}"' in page


def listed_at_all(page: str, room_id: str) -> bool:
    return f'data-room-entry="{html.escape(room_id)}"' in page


# -- creating rooms ----------------------------------------------------------------------------


async def test_create_public_room(async_client, synapse, make_user):
    me = make_user("me", displayname="Mia")
    bob = make_user("bob")
    carol = make_user("carol")
    await sign_in(async_client, synapse, me)
    form = await async_client.get(reverse("rooms:create"))
    assert form.status_code == 200
    assert 'id="create-form"' in form.content.decode()
    alias = unique("club")
    response = await async_client.post(
        reverse("rooms:create"),
        {
            "name": "Book Club",
            "topic": "Reading <b>together</b>",
            "visibility": "public",
            "alias": alias,
            "publish": "on",
            "invite": f"{bob.user_id}, {carol.user_id}",
        },
    )
    room_id = room_from_location(response)
    assert (await state(synapse, me, room_id, "m.room.join_rules"))["join_rule"] == "public"
    assert (await state(synapse, me, room_id, "m.room.name"))["name"] == "Book Club"
    assert (await state(synapse, me, room_id, "m.room.topic"))["topic"] == (
        "Reading <b>together</b>"
    )
    assert (await state(synapse, me, room_id, "m.room.canonical_alias"))["alias"] == (
        f"#{alias}:localhost"
    )
    assert await membership(synapse, me, room_id, bob) == "invite"
    assert await membership(synapse, me, room_id, carol) == "invite"
    listing = await api(synapse, me.access_token, "GET", f"/directory/list/room/{q(room_id)}")
    assert listing["visibility"] == "public"

    # The redirect lands in the room, which the session already knows as joined.
    page = await async_client.get(response["Location"])
    assert page.status_code == 200
    assert text_of(page.content.decode(), "room-name") == "Book Club"
    assert listed_joined(await list_page(async_client), room_id)


async def test_create_private_room(async_client, synapse, make_user):
    me = make_user("me")
    bob = make_user("bob")
    await sign_in(async_client, synapse, me)
    response = await async_client.post(
        reverse("rooms:create"),
        {"name": "Secret", "topic": "", "visibility": "private", "invite": bob.user_id},
    )
    room_id = room_from_location(response)
    assert (await state(synapse, me, room_id, "m.room.join_rules"))["join_rule"] == "invite"
    assert (await state(synapse, me, room_id, "m.room.name"))["name"] == "Secret"
    assert await membership(synapse, me, room_id, bob) == "invite"
    listing = await api(synapse, me.access_token, "GET", f"/directory/list/room/{q(room_id)}")
    assert listing["visibility"] == "private"
    # Someone who was not invited cannot join.
    stranger = make_user("stranger")
    with pytest.raises(MatrixAPIError) as refused:
        await api(synapse, stranger.access_token, "POST", f"/join/{q(room_id)}", {})
    assert refused.value.status == 403


async def test_create_errors_keep_the_form(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner")
    taken = unique("taken")
    await create_room(synapse, owner, preset="public_chat", room_alias_name=taken)
    await sign_in(async_client, synapse, me)
    before = await joined_rooms(synapse, me)

    response = await async_client.post(
        reverse("rooms:create"),
        {"name": "Dup", "topic": "t", "visibility": "public", "alias": taken, "publish": "on"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "is already taken" in text_of(page, "alias-error")
    assert f"#{taken}:localhost" in text_of(page, "alias-error")
    assert field_value(page, "create-name") == "Dup"
    assert field_value(page, "create-alias") == taken
    assert 'id="visibility-public" checked' in page

    response = await async_client.post(
        reverse("rooms:create"),
        {"name": "Typo", "visibility": "private", "invite": "bob, @fine:localhost"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Not a Matrix user ID: bob." in text_of(page, "invite-error")
    assert field_value(page, "create-invite") == "bob, @fine:localhost"

    nobody = f"@{unique('nobody')}:localhost"
    response = await async_client.post(
        reverse("rooms:create"), {"name": "Ghost", "visibility": "private", "invite": nobody}
    )
    assert response.status_code == 400
    assert f"No such user: {nobody}." in text_of(response.content.decode(), "invite-error")

    response = await async_client.post(
        reverse("rooms:create"), {"name": "Priv", "visibility": "private", "alias": "x"}
    )
    assert response.status_code == 400
    assert "Only public rooms" in text_of(response.content.decode(), "alias-error")
    assert await joined_rooms(synapse, me) == before


# -- direct messages ---------------------------------------------------------------------------


async def test_dm_created_then_reused(async_client, synapse, make_user):
    me = make_user("me", displayname="Mia")
    bob = make_user("bob", displayname="Bob Builder")
    await sign_in(async_client, synapse, me)
    # The People page's "Start a DM" link fills in the form; nothing is created by a GET.
    form = await async_client.get(reverse("rooms:dm"), {"user": bob.user_id})
    assert form.status_code == 200
    assert field_value(form.content.decode(), "dm-user-id") == bob.user_id
    assert await joined_rooms(synapse, me) == []

    response = await async_client.post(reverse("rooms:dm"), {"user_id": f" {bob.user_id} "})
    room_id = room_from_location(response)
    invite = await state(synapse, me, room_id, "m.room.member", bob.user_id)
    assert invite["membership"] == "invite"
    assert invite["is_direct"] is True
    assert (await state(synapse, me, room_id, "m.room.join_rules"))["join_rule"] == "invite"
    assert await direct_map(synapse, me) == {bob.user_id: [room_id]}
    # Bob sees a DM invite.
    sync = await api(synapse, bob.access_token, "GET", "/sync?timeout=0")
    assert room_id in sync["rooms"]["invite"]

    again = await async_client.post(reverse("rooms:dm"), {"user_id": bob.user_id})
    assert room_from_location(again) == room_id
    assert await direct_map(synapse, me) == {bob.user_id: [room_id]}
    # Once there is a chat, the link goes straight to it.
    linked = await async_client.get(reverse("rooms:dm"), {"user": bob.user_id})
    assert room_from_location(linked) == room_id

    page = await list_page(async_client)
    assert listed_joined(page, room_id)
    assert "Bob Builder" in page


async def test_dm_errors(async_client, synapse, make_user):
    me = make_user("me")
    await sign_in(async_client, synapse, me)
    nobody = f"@{unique('nobody')}:localhost"
    for value, expected in (
        (nobody, f"No such user: {nobody}."),
        ("bob", "“bob” is not a Matrix user ID."),
        (me.user_id, "That is you."),
    ):
        response = await async_client.post(reverse("rooms:dm"), {"user_id": value})
        assert response.status_code == 400
        page = response.content.decode()
        assert expected in text_of(page, "dm-error")
        assert field_value(page, "dm-user-id") == value
    assert await joined_rooms(synapse, me) == []
    assert await direct_map(synapse, me) == {}


# -- joining ------------------------------------------------------------------------------------


async def test_join_by_id_alias_and_link(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner")
    by_id = await create_room(synapse, owner, preset="public_chat", name="By ID")
    alias = unique("lobby")
    by_alias = await create_room(
        synapse, owner, preset="public_chat", name="By Alias", room_alias_name=alias
    )
    by_link = await create_room(synapse, owner, preset="public_chat", name="By Link")
    await sign_in(async_client, synapse, me)
    form = await async_client.get(reverse("rooms:join") + "?room=%23x%3Ay.org")
    assert field_value(form.content.decode(), "join-room") == "#x:y.org"

    response = await async_client.post(reverse("rooms:join"), {"room": by_id})
    assert room_from_location(response) == by_id
    assert await membership(synapse, owner, by_id, me) == "join"

    response = await async_client.post(reverse("rooms:join"), {"room": f"#{alias}:localhost"})
    assert room_from_location(response) == by_alias
    assert await membership(synapse, owner, by_alias, me) == "join"

    link = f"https://matrix.to/#/{q(by_link)}?via=localhost"
    response = await async_client.post(reverse("rooms:join"), {"room": link})
    assert room_from_location(response) == by_link
    assert await membership(synapse, owner, by_link, me) == "join"
    assert synapse.count_requests(f"/join/{by_link}?server_name=localhost", me.user_id) == 1

    page = await list_page(async_client)
    for room_id in (by_id, by_alias, by_link):
        assert listed_joined(page, room_id)


async def test_join_errors(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner")
    private = await create_room(synapse, owner, name="Private")
    await sign_in(async_client, synapse, me)
    missing = f"#{unique('missing')}:localhost"
    for value, element, expected in (
        (missing, "join-error", f"There is no room with the address {missing}."),
        (private, "join-error", f"You may not join {private}"),
        ("lobby", "join-error", "“lobby” is not a room."),
        ("", "join-error", "Enter the room's address"),
    ):
        response = await async_client.post(reverse("rooms:join"), {"room": value})
        assert response.status_code == 400, value
        page = response.content.decode()
        assert expected in text_of(page, element), (value, text_of(page, element))
        assert field_value(page, "join-room") == value
    assert await joined_rooms(synapse, me) == []


# -- the directory -----------------------------------------------------------------------------


async def test_directory_lists_searches_and_joins(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner")
    word = uuid.uuid4().hex[:10]
    alias = unique("dir")
    room_id = await create_room(
        synapse,
        owner,
        preset="public_chat",
        visibility="public",
        name=f"Gardening {word}",
        topic="Tomatoes <script>alert(1)</script> & roses",
        room_alias_name=alias,
    )
    other = await create_room(
        synapse, owner, preset="public_chat", visibility="public", name=f"Chess {word}"
    )
    await sign_in(async_client, synapse, me)

    async def directory(**params) -> str:
        response = await async_client.get(reverse("rooms:directory"), params)
        assert response.status_code == 200, response.content.decode()[:2000]
        return response.content.decode()

    async def listed(**params) -> str | None:
        page = await directory(**params)
        return page if f'data-room-id="{html.escape(room_id)}"' in page else None

    page = await eventually_async(lambda: listed())
    assert text_of(page, "directory-server") == "localhost"
    entry = re.search(
        rf'<li class="directory-room" data-room-id="{re.escape(html.escape(room_id))}">.*?</li>',
        page,
        re.S,
    ).group(0)
    assert f"Gardening {word}" in entry
    assert f"#{alias}:localhost" in entry
    assert "1 member" in entry
    # The topic is text: escaped, never markup.
    assert "Tomatoes &lt;script&gt;alert(1)&lt;/script&gt; &amp; roses" in entry
    assert "<script>" not in entry
    assert 'action="/rooms/join/"' in entry and "<button" in entry

    searched = await directory(q=f"gardening {word}")
    assert room_id in html.unescape(searched)
    assert other not in html.unescape(searched)
    nothing = await directory(q=f"nothing-{word}")
    assert 'id="directory-empty"' in nothing

    # Joining from the directory: the form posts the room's address.
    response = await async_client.post(reverse("rooms:join"), {"room": f"#{alias}:localhost"})
    assert room_from_location(response) == room_id
    assert await membership(synapse, owner, room_id, me) == "join"
    entry_after = await directory(q=f"gardening {word}")
    assert f'href="{room_url(room_id)}"' in entry_after
    assert "directory-open" in entry_after


async def test_directory_errors(async_client, synapse, make_user):
    me = make_user("me")
    await sign_in(async_client, synapse, me)
    response = await async_client.get(reverse("rooms:directory"), {"server": "not a server"})
    assert response.status_code == 400
    assert "is not a server name" in text_of(response.content.decode(), "directory-error")
    response = await async_client.get(reverse("rooms:directory"), {"server": "unreachable.invalid"})
    assert response.status_code == 502
    error = text_of(response.content.decode(), "directory-error")
    assert error.startswith("Loading the public rooms of unreachable.invalid:"), error


async def eventually_async(check, timeout: float = 15):
    """Await `check()` until it returns something truthy (then return it)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.3)


# -- invitations --------------------------------------------------------------------------------


async def test_accept_invite(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner", displayname="Olive")
    room_id = await create_room(synapse, owner, name="Invited Room", topic="Come in")
    await api(
        synapse,
        owner.access_token,
        "POST",
        f"/rooms/{q(room_id)}/invite",
        {"user_id": me.user_id},
    )
    credential = await sign_in(async_client, synapse, me)
    await synced_session(credential)
    page = await list_page(async_client)
    assert listed_invite(page, room_id)
    assert f'href="{reverse("rooms:invitation", args=[room_id])}"' in page

    # The room page of an invited room leads to the invitation.
    response = await async_client.get(room_url(room_id))
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:invitation", args=[room_id])
    invitation = (await async_client.get(response["Location"])).content.decode()
    assert text_of(invitation, "room-name") == "Invited Room"
    assert "Olive" in invitation and owner.user_id in invitation
    assert "invited you to join this room." in invitation

    response = await async_client.post(
        reverse("rooms:invitation", args=[room_id]), {"response": "accept"}
    )
    assert room_from_location(response) == room_id
    assert await membership(synapse, owner, room_id, me) == "join"
    page = await list_page(async_client)
    assert listed_joined(page, room_id)
    assert not listed_invite(page, room_id)


async def test_decline_invite(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner")
    room_id = await create_room(synapse, owner, name="Unwanted")
    await api(
        synapse, owner.access_token, "POST", f"/rooms/{q(room_id)}/invite", {"user_id": me.user_id}
    )
    credential = await sign_in(async_client, synapse, me)
    await synced_session(credential)
    assert listed_invite(await list_page(async_client), room_id)

    response = await async_client.post(
        reverse("rooms:invitation", args=[room_id]), {"response": "decline"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:list")
    assert await membership(synapse, owner, room_id, me) == "leave"
    page = await list_page(async_client)
    assert not listed_at_all(page, room_id)
    assert "Declined the invitation to Unwanted." in page
    # No invitation any more.
    gone = await async_client.get(reverse("rooms:invitation", args=[room_id]))
    assert gone.status_code == 404


# -- settings, leaving, forgetting ----------------------------------------------------------------


async def test_leave_then_forget(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner")
    room_id = await create_room(synapse, owner, preset="private_chat", name="Leaving Room")
    await api(
        synapse, owner.access_token, "POST", f"/rooms/{q(room_id)}/invite", {"user_id": me.user_id}
    )
    await api(synapse, me.access_token, "POST", f"/join/{q(room_id)}", {})
    credential = await sign_in(async_client, synapse, me)
    session = await synced_session(credential)
    await eventually(lambda: room_id in session.rooms.rooms)
    version = (await state(synapse, owner, room_id, "m.room.create"))["room_version"]

    settings_url = reverse("rooms:settings", args=[room_id])
    page = (await async_client.get(settings_url)).content.decode()
    assert field_value(page, "room-id-field") == room_id
    assert text_of(page, "room-version") == version
    assert text_of(page, "join-rule") == "Only invited people"
    assert 'id="leave-link"' in page

    # Forgetting a room one is still in is refused plainly.
    refused = await async_client.post(reverse("rooms:forget", args=[room_id]))
    assert refused.status_code == 400
    assert "Leave the room before forgetting it." in refused.content.decode()

    confirm = await async_client.get(reverse("rooms:leave", args=[room_id]))
    assert confirm.status_code == 200
    confirm_page = confirm.content.decode()
    assert 'id="leave-form"' in confirm_page
    assert "you will need a new invitation" in confirm_page
    assert await membership(synapse, owner, room_id, me) == "join"  # GET changes nothing

    response = await async_client.post(reverse("rooms:leave", args=[room_id]))
    assert response.status_code == 302
    assert response["Location"] == settings_url
    assert await membership(synapse, owner, room_id, me) == "leave"
    left = await async_client.get(settings_url)
    left_page = left.content.decode()
    assert left.status_code == 200
    assert "You left Leaving Room." in left_page
    assert not listed_at_all(await list_page(async_client), room_id)
    assert text_of(left_page, "room-name") == "Leaving Room"
    assert 'id="forget-form"' in left_page

    asks_first(
        await async_client.post(reverse("rooms:forget", args=[room_id])), "Forget this room?"
    )
    response = await async_client.post(reverse("rooms:forget", args=[room_id]), {"confirm": "yes"})
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:list")
    assert "Forgot Leaving Room." in await list_page(async_client)
    # A forgotten room is no longer readable.
    with pytest.raises(MatrixAPIError):
        await state(synapse, me, room_id, "m.room.name")
    assert (await async_client.get(settings_url)).status_code == 404


async def test_leave_alone_warns(async_client, synapse, make_user):
    me = make_user("me")
    await sign_in(async_client, synapse, me)
    response = await async_client.post(
        reverse("rooms:create"), {"name": "Solo", "visibility": "public", "publish": ""}
    )
    room_id = room_from_location(response)
    confirm = (await async_client.get(reverse("rooms:leave", args=[room_id]))).content.decode()
    assert "You are the only member" in text_of(confirm, "leave-alone")


async def test_settings_name_and_topic(async_client, synapse, make_user):
    me = make_user("me")
    guest = make_user("guest")
    await sign_in(async_client, synapse, me)
    room_id = room_from_location(
        await async_client.post(
            reverse("rooms:create"),
            {"name": "Old", "visibility": "private", "invite": guest.user_id},
        )
    )
    settings_url = reverse("rooms:settings", args=[room_id])
    response = await async_client.post(settings_url, {"field": "name", "name": "New name"})
    assert response.status_code == 302
    assert (await state(synapse, me, room_id, "m.room.name"))["name"] == "New name"
    response = await async_client.post(settings_url, {"field": "topic", "topic": "Fresh topic"})
    assert response.status_code == 302
    assert (await state(synapse, me, room_id, "m.room.topic"))["topic"] == "Fresh topic"
    page = (await async_client.get(settings_url)).content.decode()
    assert field_value(page, "settings-name") == "New name"
    assert "Room topic changed." in page

    # A member without the power sees the controls disabled, and a refusal plainly.
    await api(synapse, guest.access_token, "POST", f"/join/{q(room_id)}", {})
    async_client.cookies.clear()
    await sign_in(async_client, synapse, guest)
    page = (await async_client.get(settings_url)).content.decode()
    assert "Changing the name needs power level 50; yours is 0." in page
    assert re.search(r'id="settings-name"[^>]*disabled', page)
    response = await async_client.post(settings_url, {"field": "name", "name": "Hijacked"})
    assert response.status_code == 400
    assert "refused" in text_of(response.content.decode(), "name-error")
    assert (await state(synapse, me, room_id, "m.room.name"))["name"] == "New name"


async def test_settings_link_to_successor(async_client, synapse, make_user):
    me = make_user("me")
    credential = await sign_in(async_client, synapse, me)
    room_id = room_from_location(
        await async_client.post(reverse("rooms:create"), {"name": "Old", "visibility": "private"})
    )
    answer = await api(
        synapse, me.access_token, "POST", f"/rooms/{q(room_id)}/upgrade", {"new_version": "11"}
    )
    successor = answer["replacement_room"]
    session = await synced_session(credential)
    await eventually(
        lambda: (s := session.rooms.rooms.get(room_id)) and s.tombstone_replacement == successor
    )
    page = (await async_client.get(reverse("rooms:settings", args=[room_id]))).content.decode()
    assert 'id="settings-tombstone"' in page
    assert f'href="{room_url(successor)}"' in page
