"""The member list (`/rooms/<room>/members/`) and inviting from it, against a real Synapse.

The person using the web client signs in through the login form with `async_client`; other
people act through plain client-server API calls, and what was (or was not) sent is checked
on the homeserver.
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from django.urls import reverse

from tests.client_helpers import sign_in
from tests.matrix_helpers import api, q
from tests.synapse_fixtures import MatrixAPIError, matrix_api

pytestmark = pytest.mark.django_db(transaction=True)


# -- helpers ------------------------------------------------------------------------------------


async def create_room(hs, owner, **body) -> str:
    body.setdefault("preset", "private_chat")
    return (await api(hs, owner.access_token, "POST", "/createRoom", body))["room_id"]


async def invite(hs, inviter, room_id: str, invitee) -> None:
    path = f"/rooms/{q(room_id)}/invite"
    await api(hs, inviter.access_token, "POST", path, {"user_id": invitee.user_id})


async def join(hs, user, room_id: str) -> None:
    await api(hs, user.access_token, "POST", f"/join/{q(room_id)}", {})


async def invite_and_join(hs, inviter, room_id: str, *users) -> None:
    for user in users:
        await invite(hs, inviter, room_id, user)
        await join(hs, user, room_id)


async def set_power(hs, admin, room_id: str, user, level: int) -> None:
    path = f"/rooms/{q(room_id)}/state/m.room.power_levels/"
    levels = await api(hs, admin.access_token, "GET", path)
    levels.setdefault("users", {})[user.user_id] = level
    await api(hs, admin.access_token, "PUT", path, levels)


async def membership(hs, reader, room_id: str, user) -> str | None:
    path = f"/rooms/{q(room_id)}/state/m.room.member/{q(user.user_id)}"
    try:
        return (await api(hs, reader.access_token, "GET", path))["membership"]
    except MatrixAPIError as exc:
        if exc.errcode == "M_NOT_FOUND":
            return None
        raise


def members_url(room: str) -> str:
    return reverse("rooms:members", args=[room])


def invite_url(room: str) -> str:
    return reverse("rooms:invite", args=[room])


def groups(page: str) -> dict[str, list[str]]:
    """Group key -> the user IDs listed in it, in page order."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(
        r'<section class="member-group" id="group-(\w+)".*?</section>', page, re.S
    ):
        found[match.group(1)] = [
            html.unescape(user)
            for user in re.findall(r'<li class="member" data-user-id="([^"]+)"', match.group(0))
        ]
    return found


def member_rows(page: str) -> dict[str, str]:
    """User ID -> the `<li>` of that member."""
    return {
        html.unescape(m.group(1)): m.group(0)
        for m in re.finditer(r'<li class="member" data-user-id="([^"]+)".*?</li>', page, re.S)
    }


def row_name(row: str) -> str:
    name = re.search(r'<span class="member-name"><bdi>(.*?)</bdi></span>', row, re.S)
    assert name, row
    return html.unescape(name.group(1))


def invite_input(page: str) -> str:
    field = re.search(
        r'<input type="text" id="invite-user-id" name="user_id" value="([^"]*)"', page
    )
    assert field, "no invite field"
    return html.unescape(field.group(1))


def invite_error(page: str) -> str:
    error = re.search(r'<p class="error" id="invite-error" role="alert">(.*?)</p>', page, re.S)
    assert error, "no invite error shown"
    return html.unescape(error.group(1))


def invites_sent(hs, user) -> int:
    return hs.count_requests("/invite", user.user_id)


# -- the list -----------------------------------------------------------------------------------


@pytest.mark.parametrize("room_version", [None, "11"])
async def test_members_grouped_by_power_level(async_client, synapse, make_user, room_version):
    """Room version 12 (Synapse's default) gives creators unlimited power outside `users`;
    in version 11 the creator is listed at 100. Either way the creator is an admin."""
    alice = make_user("alice", displayname="Alice Admin")
    bob = make_user("bob", displayname="Bob Moderator")
    carol = make_user("carol", displayname="Carol")
    zoe = make_user("zoe", displayname="Zoe")
    adam = make_user("adam", displayname="adam")
    dave = make_user("dave", displayname="Dave Invited")
    eve = make_user("eve", displayname="Eve Banned")
    frank = make_user("frank", displayname="Frank Left")
    extra = {"room_version": room_version} if room_version else {}
    room = await create_room(synapse, alice, name="Power Room", **extra)
    await invite_and_join(synapse, alice, room, bob, carol, zoe, adam, eve, frank)
    await set_power(synapse, alice, room, bob, 50)
    await invite(synapse, alice, room, dave)
    await api(
        synapse,
        alice.access_token,
        "POST",
        f"/rooms/{q(room)}/ban",
        {"user_id": eve.user_id, "reason": "spam"},
    )
    await api(synapse, frank.access_token, "POST", f"/rooms/{q(room)}/leave", {})

    await sign_in(async_client, synapse, carol)
    response = await async_client.get(members_url(room))
    assert response.status_code == 200
    page = response.content.decode()
    assert groups(page) == {
        "admins": [alice.user_id],
        "moderators": [bob.user_id],
        # Sorted by name, whatever the case: adam, Carol, Zoe.
        "members": [adam.user_id, carol.user_id, zoe.user_id],
        "invited": [dave.user_id],
        "banned": [eve.user_id],
    }
    assert list(groups(page)) == ["admins", "moderators", "members", "invited", "banned"]
    assert frank.user_id not in page
    rows = member_rows(page)
    assert row_name(rows[alice.user_id]) == "Alice Admin"
    if room_version == "11":
        assert '<span class="member-power" title="Power level">100</span>' in rows[alice.user_id]
    else:
        assert (
            '<span class="member-power" title="Room creator">creator</span>' in rows[alice.user_id]
        )
    assert '<span class="member-power" title="Power level">50</span>' in rows[bob.user_id]
    assert "member-power" not in rows[carol.user_id]
    assert '<span class="member-membership">joined</span>' in rows[carol.user_id]
    assert '<span class="member-membership">invited</span>' in rows[dave.user_id]
    assert '<span class="member-membership">banned</span>' in rows[eve.user_id]
    assert '<span class="member-reason">spam</span>' in rows[eve.user_id]
    for user in (alice, bob, carol, dave, eve):
        assert f'<span class="member-id">{user.user_id}</span>' in rows[user.user_id]
        assert 'class="avatar' in rows[user.user_id]
    assert 'id="member-counts">5 joined, 1 invited</p>' in page
    assert "<h2>Admins <span" in page and "<h2>Banned <span" in page
    # Carol (level 0) may invite in a private_chat room (invite: 0): no warning.
    assert 'id="invite-hint"' not in page
    assert "Content-Security-Policy" in response.headers

    # The room page links to the member list from its header.
    room_page = (await async_client.get(reverse("rooms:room", args=[room]))).content.decode()
    link = re.search(r'<a class="members-link" id="members-link" href="([^"]+)">Members', room_page)
    assert link and html.unescape(link.group(1)) == members_url(room)


async def test_users_default_and_room_alias(async_client, synapse, make_user):
    """`users_default` decides the group of people not listed; a room address works too."""
    alice = make_user("alice", displayname="Alice")
    bob = make_user("bob", displayname="Bob")
    alias_local = f"members-{bob.localpart}"
    room = await create_room(
        synapse,
        alice,
        room_alias_name=alias_local,
        power_level_content_override={"users_default": 50},
    )
    await invite_and_join(synapse, alice, room, bob)
    await sign_in(async_client, synapse, bob)
    response = await async_client.get(members_url(f"#{alias_local}:localhost"))
    assert response.status_code == 200
    found = groups(response.content.decode())
    assert found == {"admins": [alice.user_id], "moderators": [bob.user_id]}


async def test_display_names_disambiguated_and_escaped(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice")
    sam1 = make_user("sam", displayname="Sam Same")
    sam2 = make_user("sam", displayname="Sam Same")
    hostile_name = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'
    hostile = make_user("evil", displayname=hostile_name)
    spoof = make_user("spoof", displayname=alice.user_id)
    room = await create_room(synapse, alice, name="Names")
    await invite_and_join(synapse, alice, room, sam1, sam2, hostile, spoof)

    await sign_in(async_client, synapse, alice)
    response = await async_client.get(members_url(room))
    assert response.status_code == 200
    page = response.content.decode()
    rows = member_rows(page)
    assert row_name(rows[sam1.user_id]) == f"Sam Same ({sam1.user_id})"
    assert row_name(rows[sam2.user_id]) == f"Sam Same ({sam2.user_id})"
    assert row_name(rows[alice.user_id]) == "Alice"
    # A display name that looks like someone else's ID shows the real ID beside it.
    assert row_name(rows[spoof.user_id]) == f"{alice.user_id} ({spoof.user_id})"
    # The hostile name is text, never markup.
    assert row_name(rows[hostile.user_id]) == hostile_name
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in rows[hostile.user_id]
    assert "&amp;amp;" in rows[hostile.user_id]


# -- inviting -----------------------------------------------------------------------------------


async def test_invite(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice")
    bob = make_user("bob", displayname="Bob")
    room = await create_room(synapse, alice, name="Invite Room")
    await sign_in(async_client, synapse, alice)

    response = await async_client.post(invite_url(room), {"user_id": f"  {bob.user_id} "})
    assert response.status_code == 302
    assert response["Location"] == members_url(room)
    assert await membership(synapse, alice, room, bob) == "invite"

    # Bob's client sees the invitation.
    sync = await asyncio.to_thread(
        matrix_api, synapse.url, bob.access_token, "GET", "/_matrix/client/v3/sync?timeout=0"
    )
    assert room in sync["rooms"]["invite"]

    page = (await async_client.get(response["Location"])).content.decode()
    assert f'<li class="flash-success">Invited {bob.user_id}.</li>' in page
    assert groups(page)["invited"] == [bob.user_id]
    assert invite_input(page) == ""
    # The message is shown once.
    again = (await async_client.get(members_url(room))).content.decode()
    assert f"Invited {bob.user_id}." not in again

    # Without JavaScript a GET of the invite address is not an invite.
    assert (await async_client.get(invite_url(room))).status_code == 405


@pytest.mark.parametrize(
    "typed",
    [
        "bob",
        "@bob",
        "@bob:",
        "bob:localhost",
        "@bo b:localhost",
        "@bob:local host",
        "   ",
        "#room:localhost",
    ],
)
async def test_invite_malformed_user_id(async_client, synapse, make_user, typed):
    alice = make_user("alice")
    room = await create_room(synapse, alice, name="Strict")
    await sign_in(async_client, synapse, alice)
    before = invites_sent(synapse, alice)

    response = await async_client.post(invite_url(room), {"user_id": typed})
    assert response.status_code == 400
    page = response.content.decode()
    error = invite_error(page)
    if typed.strip():
        assert error.startswith(f"“{typed.strip()}” is not a Matrix user ID.")
    else:
        assert error.startswith("Enter the full Matrix ID")
    assert "@alice:example.org" in error
    assert invite_input(page) == typed
    assert 'aria-invalid="true"' in page
    # The rest of the page is still there.
    assert groups(page) == {"admins": [alice.user_id]}
    assert invites_sent(synapse, alice) == before


async def test_invite_refused_by_the_homeserver(async_client, synapse, make_user):
    bob = make_user("bob", displayname="Bob")
    alice = make_user("alice", displayname="Alice")
    carol = make_user("carol", displayname="Carol")
    room = await create_room(
        synapse, bob, name="Closed", power_level_content_override={"invite": 100}
    )
    await invite_and_join(synapse, bob, room, alice)
    with pytest.raises(MatrixAPIError) as refused:
        await invite(synapse, alice, room, carol)
    assert refused.value.errcode == "M_FORBIDDEN"
    server_says = refused.value.error

    await sign_in(async_client, synapse, alice)
    page = (await async_client.get(members_url(room))).content.decode()
    assert "Your power level (0) is below the 100 this room needs to invite people" in page

    response = await async_client.post(invite_url(room), {"user_id": carol.user_id})
    assert response.status_code == 400
    page = response.content.decode()
    error = invite_error(page)
    assert error.startswith(f"Inviting {carol.user_id}: The homeserver refused this.")
    assert server_says in error
    assert invite_input(page) == carol.user_id
    assert await membership(synapse, bob, room, carol) is None
    assert "flash-success" not in page


async def test_invite_unknown_user(async_client, synapse, make_user):
    alice = make_user("alice")
    room = await create_room(synapse, alice, name="Nobody")
    await sign_in(async_client, synapse, alice)
    before = invites_sent(synapse, alice)

    # Synapse would accept an invite for a local user who does not exist: the client asks
    # for the profile first and says so.
    nobody = f"@nobody-{alice.localpart}:localhost"
    response = await async_client.post(invite_url(room), {"user_id": nobody})
    assert response.status_code == 400
    page = response.content.decode()
    assert invite_error(page) == (
        f"There is no user {nobody}: their homeserver does not know that ID. Check it for typos."
    )
    assert invite_input(page) == nobody
    assert invites_sent(synapse, alice) == before

    # A server that cannot be reached: the homeserver's own answer, plainly.
    faraway = "@someone:nonexistent.invalid"
    response = await async_client.post(invite_url(room), {"user_id": faraway})
    assert response.status_code == 400
    page = response.content.decode()
    error = invite_error(page)
    assert error.startswith(f"Inviting {faraway}: The homeserver answered: ")
    assert "nonexistent.invalid" in error
    assert invite_input(page) == faraway


# -- not a member -------------------------------------------------------------------------------


async def test_not_a_member_is_404(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    carol = make_user("carol")
    secret = await create_room(synapse, bob, name="Bob's Secret Room")
    await sign_in(async_client, synapse, alice)
    before = invites_sent(synapse, alice)

    response = await async_client.get(members_url(secret))
    assert response.status_code == 404
    page = response.content.decode()
    assert "You are not a member of this room, or it does not exist." in page
    assert "Secret Room" not in page and bob.user_id not in page

    response = await async_client.post(invite_url(secret), {"user_id": carol.user_id})
    assert response.status_code == 404
    assert invites_sent(synapse, alice) == before

    # Invited but not joined is not a member either.
    invited_room = await create_room(synapse, bob, name="Invited Only", invite=[alice.user_id])
    response = await async_client.get(members_url(invited_room))
    assert response.status_code == 404

    response = await async_client.get(members_url("#no-such-room:localhost"))
    assert response.status_code == 404
    assert "Room not found" in response.content.decode()


async def test_members_need_login(async_client, synapse, make_user):
    alice = make_user("alice")
    room = await create_room(synapse, alice)
    response = await async_client.get(members_url(room))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    response = await async_client.post(invite_url(room), {"user_id": alice.user_id})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# -- large rooms and the pieces -----------------------------------------------------------------


async def test_large_room_is_capped(async_client, synapse, make_user, monkeypatch):
    from webclient.rooms import members

    monkeypatch.setattr(members, "MAX_SHOWN", 2)
    alice = make_user("alice", displayname="Alice")
    others = [make_user("user", displayname=f"User {n}") for n in range(3)]
    room = await create_room(synapse, alice, name="Big")
    await invite_and_join(synapse, alice, room, *others)
    await sign_in(async_client, synapse, alice)

    page = (await async_client.get(members_url(room))).content.decode()
    assert 'id="member-counts">4 joined</p>' in page
    assert "This room has 4 members; the first 2 are listed." in page
    assert groups(page) == {"admins": [alice.user_id], "members": [others[0].user_id]}
    assert '<li class="member-more">and 2 more</li>' in page
    assert "<h2>Members <span" in page and "(3)</span></h2>" in page
