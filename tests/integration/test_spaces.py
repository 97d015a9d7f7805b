"""Spaces, favourites, low priority and direct messages in the room list, and the space page,
against a real Synapse.

Other people (and "another client" of the same person) act through plain client-server API
calls; the person using the web client signs in through the login form with `async_client`.
"""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from tests.client_helpers import eventually, receive_until, sign_in, synced_session
from tests.matrix_helpers import api, q, send, shared_room

db = pytest.mark.django_db(transaction=True)


# -- helpers ------------------------------------------------------------------------------------


async def create(hs, owner, **body) -> str:
    return (await api(hs, owner.access_token, "POST", "/createRoom", body))["room_id"]


async def create_space(hs, owner, name: str, **body) -> str:
    return await create(
        hs, owner, name=name, creation_content={"type": "m.space"}, preset="public_chat", **body
    )


async def add_child(hs, owner, space: str, child: str, **content) -> None:
    path = f"/rooms/{q(space)}/state/m.space.child/{q(child)}"
    await api(hs, owner.access_token, "PUT", path, {"via": ["localhost"], **content})


async def join(hs, user, room: str) -> None:
    await api(hs, user.access_token, "POST", f"/join/{q(room)}", {})


async def tag(hs, user, room: str, name: str, order: float | None = None) -> None:
    path = f"/user/{q(user.user_id)}/rooms/{q(room)}/tags/{q(name)}"
    await api(hs, user.access_token, "PUT", path, {} if order is None else {"order": order})


async def tags_of(hs, user, room: str) -> dict:
    path = f"/user/{q(user.user_id)}/rooms/{q(room)}/tags"
    return (await api(hs, user.access_token, "GET", path))["tags"]


async def set_direct(hs, user, content: dict) -> None:
    path = f"/user/{q(user.user_id)}/account_data/m.direct"
    await api(hs, user.access_token, "PUT", path, content)


def sections(page: str) -> list[tuple[str, str, list[str]]]:
    """(section key, heading text, room IDs of its entries) in page order."""
    found = []
    pattern = r'<section class="room-section[^"]*" data-section="([^"]+)"[^>]*>(.*?)</section>'
    for match in re.finditer(pattern, page, re.S):
        key, inner = match.groups()
        heading = re.search(r"<h2[^>]*>(.*?)</h2>", inner, re.S)
        title = html.unescape(re.sub(r"<[^>]+>", "", heading.group(1))).strip() if heading else ""
        entries = [html.unescape(r) for r in re.findall(r'data-room-entry="([^"]+)"', inner)]
        found.append((html.unescape(key), title, entries))
    return found


def layout(page: str) -> list[tuple[str, list[str]]]:
    return [(key, entries) for key, _, entries in sections(page)]


async def room_list(async_client) -> str:
    response = await async_client.get(reverse("rooms:list"))
    assert response.status_code == 200
    return response.content.decode()


def space_rooms(page: str) -> dict[str, str]:
    """Room ID -> the `<li>` of the space page's list."""
    found = {}
    pattern = r'<li class="directory-room space-room[^"]*" data-room-id="([^"]+)">(.*?)</li>'
    for match in re.finditer(pattern, page, re.S):
        found[html.unescape(match.group(1))] = match.group(2)
    return found


# -- spaces ---------------------------------------------------------------------------------------


@db
async def test_space_section_space_page_and_joining(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    space = await create_space(synapse, bob, "Garden Club", topic="All things green")
    beds = await create(synapse, bob, name="Raised Beds", preset="public_chat")
    seeds = await create(
        synapse, bob, name="Seed Swap", preset="public_chat", topic="Swap <b>seeds</b> & tips"
    )
    await add_child(synapse, bob, space, beds, suggested=True)
    await add_child(synapse, bob, space, seeds)
    plain = await create(synapse, bob, name="Elsewhere", preset="public_chat")
    for room in (space, beds, plain):
        await join(synapse, alice, room)
    await send(synapse, bob, beds, "compost delivery on Friday")
    await send(synapse, bob, plain, "newest activity of all")

    await sign_in(async_client, synapse, alice)
    page = await room_list(async_client)
    assert layout(page) == [(f"space:{space}", [beds]), ("rooms", [plain])]
    key, title, _ = sections(page)[0]
    assert title == "Garden Club"
    space_url = reverse("rooms:space", args=[space])
    assert f'href="{space_url}"' in page
    # The space is a heading, never a room entry; the room not joined is not listed.
    assert f'data-room-entry="{space}"' not in page
    assert f'data-room-entry="{seeds}"' not in page

    # The space page: both rooms from /hierarchy, the joined one to open, the other to join.
    response = await async_client.get(space_url)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="space-name"><bdi>Garden Club</bdi>' in body
    assert "All things green" in body
    assert 'id="space-join"' not in body  # already in the space
    listed = space_rooms(body)
    assert set(listed) == {beds, seeds}
    assert "Raised Beds" in listed[beds] and "Seed Swap" in listed[seeds]
    assert "Suggested" in listed[beds]
    assert reverse("rooms:room", args=[beds]) in listed[beds]
    assert "<form" not in listed[beds]
    # Topics are text: escaped, never markup.
    assert "Swap &lt;b&gt;seeds&lt;/b&gt; &amp; tips" in listed[seeds]
    assert "<b>seeds" not in body
    assert re.search(r"1 member\b", listed[seeds])
    form = r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>'
    join_form = re.search(form, listed[seeds], re.S)
    assert join_form and join_form.group(1) == reverse("rooms:join")
    assert f'name="room" value="{seeds}"' in join_form.group(2)
    assert 'name="via" value="localhost"' in join_form.group(2)

    # Joining through that form: into the room, and into the space's section of the list.
    response = await async_client.post(reverse("rooms:join"), {"room": seeds, "via": "localhost"})
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:room", args=[seeds])
    members = await api(synapse, alice.access_token, "GET", f"/rooms/{q(seeds)}/joined_members")
    assert alice.user_id in members["joined"]
    page = await room_list(async_client)
    assert layout(page)[0] == (f"space:{space}", [seeds, beds])  # joining is activity
    listed = space_rooms((await async_client.get(space_url)).content.decode())
    assert "<form" not in listed[seeds]


@db
async def test_space_page_of_a_space_not_joined(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    space = await create_space(synapse, bob, "Open Space")
    child = await create(synapse, bob, name="Lobby", preset="public_chat")
    await add_child(synapse, bob, space, child)
    await sign_in(async_client, synapse, alice)

    # A public space can be looked at before joining, and joined from its page.
    body = (await async_client.get(reverse("rooms:space", args=[space]))).content.decode()
    assert 'id="space-join"' in body
    assert set(space_rooms(body)) == {child}
    response = await async_client.post(reverse("rooms:join"), {"room": space, "via": "localhost"})
    assert response.status_code == 302
    page = await room_list(async_client)
    assert layout(page) == [(f"space:{space}", [])]

    # A private space one is not in says so.
    secret = await create(
        synapse, bob, name="Hidden", creation_content={"type": "m.space"}, preset="private_chat"
    )
    response = await async_client.get(reverse("rooms:space", args=[secret]))
    assert response.status_code == 403
    assert "cannot see the rooms of this space" in response.content.decode()


# -- favourites, DMs, low priority --------------------------------------------------------------


@db
async def test_favourites_direct_messages_and_low_priority(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    carol = make_user("carol", displayname="Carol Singer")
    plain = await shared_room(synapse, bob, alice, name="Plain Room")
    older = await shared_room(synapse, bob, alice, name="Older Room")
    fav_late = await shared_room(synapse, bob, alice, name="Favourite B")
    fav_first = await shared_room(synapse, bob, alice, name="Favourite A")
    low = await shared_room(synapse, bob, alice, name="Announcements")
    dm = await create(
        synapse, carol, preset="trusted_private_chat", is_direct=True, invite=[alice.user_id]
    )
    await join(synapse, alice, dm)
    invite = await create(synapse, bob, name="Come In", invite=[alice.user_id])
    await set_direct(synapse, alice, {carol.user_id: [dm]})
    await tag(synapse, alice, fav_late, "m.favourite", 0.8)
    await tag(synapse, alice, fav_first, "m.favourite", 0.2)
    await tag(synapse, alice, low, "m.lowpriority")
    await send(synapse, bob, older, "older news")
    await send(synapse, carol, dm, "psst")
    await send(synapse, bob, plain, "plain news")
    await send(synapse, bob, low, "the most recent message, but low priority")

    await sign_in(async_client, synapse, alice)
    page = await room_list(async_client)
    assert layout(page) == [
        ("invites", [invite]),
        ("favourites", [fav_first, fav_late]),  # by tag order
        ("direct", [dm]),
        ("rooms", [plain, older]),
        ("lowpriority", [low]),
    ]
    assert [title for _, title, _ in sections(page)] == [
        "Invites",
        "Favourites",
        "Direct messages",
        "Rooms",
        "Low priority",
    ]

    # The room page's header toggles the tags with plain forms.
    room_page = (await async_client.get(reverse("rooms:room", args=[plain]))).content.decode()
    assert 'id="favourite-toggle" aria-pressed="false"' in room_page
    assert 'id="lowpriority-toggle" aria-pressed="false"' in room_page
    tags_url = reverse("rooms:tags", args=[plain])
    response = await async_client.post(tags_url, {"tag": "m.favourite", "on": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:room", args=[plain])
    assert "m.favourite" in await tags_of(synapse, alice, plain)
    page = await room_list(async_client)
    assert ("favourites", [fav_first, fav_late, plain]) in layout(page)
    assert ("rooms", [older]) in layout(page)
    room_page = (await async_client.get(reverse("rooms:room", args=[plain]))).content.decode()
    assert 'id="favourite-toggle" aria-pressed="true"' in room_page

    # Low priority takes the favourite away; taking it off puts the room back among Rooms.
    response = await async_client.post(
        tags_url, {"tag": "m.lowpriority", "on": "1", "next": reverse("rooms:list")}
    )
    assert response["Location"] == reverse("rooms:list")
    assert set(await tags_of(synapse, alice, plain)) == {"m.lowpriority"}
    assert layout(await room_list(async_client))[-1] == ("lowpriority", [low, plain])
    response = await async_client.post(
        tags_url, {"tag": "m.lowpriority", "on": "0", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("rooms:room", args=[plain])  # not elsewhere
    assert await tags_of(synapse, alice, plain) == {}
    assert ("rooms", [plain, older]) in layout(await room_list(async_client))

    # Only those two tags, only POST, only rooms one is in.
    assert (await async_client.post(tags_url, {"tag": "u.custom", "on": "1"})).status_code == 400
    assert (await async_client.get(tags_url)).status_code == 405
    response = await async_client.post(
        reverse("rooms:tags", args=[invite]), {"tag": "m.favourite", "on": "1"}
    )
    assert response.status_code == 404


# -- live ---------------------------------------------------------------------------------------


@db
async def test_live_updates_carry_the_section(async_client, synapse, make_user, sockets):
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Moving Room")
    other = await shared_room(synapse, bob, alice, name="Staying Room")
    space = await create_space(synapse, bob, "Live Space")
    await join(synapse, alice, space)
    credential = await sign_in(async_client, synapse, alice)
    session = await synced_session(credential)
    list_socket = await sockets.connect(async_client)
    first = await receive_until(list_socket, lambda m: m["type"] == "rooms")
    joined_entries = "".join(first["entries"])
    assert f'data-section="space:{space}"' in joined_entries
    assert f'data-room-id="{room}"' in joined_entries

    def moved(section: str):
        return lambda m: m["type"] == "room" and m["room_id"] == room and m["section"] == section

    # Another client of Alice's favourites the room: it moves, with the sections to show.
    await tag(synapse, alice, room, "m.favourite")
    update = await receive_until(list_socket, moved("favourites"))
    assert f'data-room-id="{room}"' in update["html"]
    assert [s["key"] for s in update["sections"]] == ["favourites", f"space:{space}", "rooms"]
    assert update["order"] == [room, other]
    assert all("data-room-entry" not in s["html"] for s in update["sections"])

    # Untagged, then made a child of the space: the room moves under the space, though only
    # the space changed.
    await api(
        synapse,
        alice.access_token,
        "DELETE",
        f"/user/{q(alice.user_id)}/rooms/{q(room)}/tags/m.favourite",
    )
    await receive_until(list_socket, moved("rooms"))
    await add_child(synapse, bob, space, room)
    update = await receive_until(list_socket, moved(f"space:{space}"))
    assert 'data-space-id="' in update["sections"][0]["html"]
    assert "Live Space" in update["sections"][0]["html"]

    # m.direct from another client: Direct messages.
    await set_direct(synapse, alice, {bob.user_id: [room]})
    await receive_until(list_socket, moved("direct"))
    assert session.rooms.rooms[room].is_direct
    assert session.rooms.direct_room_ids == [room]

    # Leaving the space: a room update with no entry, and its section is gone.
    await api(synapse, alice.access_token, "POST", f"/rooms/{q(space)}/leave", {})
    gone = await receive_until(list_socket, lambda m: m["type"] == "room" and m["room_id"] == space)
    assert gone["html"] == ""
    assert all(s["key"] != f"space:{space}" for s in gone["sections"])
    await eventually(lambda: space not in session.rooms.rooms)


@db
async def test_space_page_needs_login(async_client):
    response = await async_client.get(reverse("rooms:space", args=["!nope:localhost"]))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
