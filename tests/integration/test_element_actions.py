"""What Element users do, against a real Synapse: mark a room unread, report a message, a
room or a person, ask to join a room (and let people in), react with any emoji (recently
used ones shared through account data). Events and account data are checked on the
homeserver in the shapes Element writes them."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from django.test import AsyncClient

from tests.client_helpers import eventually, receive_until, sign_in, synced_session
from tests.matrix_helpers import api, create_room, join, messages, q, send, state
from tests.synapse_fixtures import MatrixAPIError, matrix_api

pytestmark = pytest.mark.django_db(transaction=True)


async def room_data(hs, user, room, event_type):
    path = f"/user/{q(user.user_id)}/rooms/{q(room)}/account_data/{event_type}"
    return await api(hs, user.access_token, "GET", path)


async def global_data(hs, user, event_type):
    return await api(
        hs, user.access_token, "GET", f"/user/{q(user.user_id)}/account_data/{event_type}"
    )


def entry_of(page: str, room: str) -> str:
    start = page.index(f'data-room-entry="{room}"')
    return page[page.rindex("<li", 0, start) : page.index("</li>", start)]


# -- mark as unread ---------------------------------------------------------------------------


async def test_mark_as_unread_from_the_list_and_from_element(
    async_client, synapse, make_user, sockets
):
    me = make_user("me")
    room = await create_room(synapse, me, name="Later", preset="private_chat")
    other = await create_room(synapse, me, name="Elsewhere", preset="private_chat")
    session = await synced_session(await sign_in(async_client, synapse, me))

    page = (await async_client.get("/rooms/")).content.decode()
    assert "Mark as unread" in entry_of(page, room) and "marked-unread" not in entry_of(page, room)

    # Without JavaScript: the link's confirmation page, then the POST.
    confirm = await async_client.get(f"/rooms/{room}/unread/?unread=1")
    assert confirm.status_code == 200 and 'id="unread-form"' in confirm.content.decode()
    response = await async_client.post(f"/rooms/{room}/unread/", {"unread": "1"})
    assert response.status_code == 302
    assert await room_data(synapse, me, room, "m.marked_unread") == {"unread": True}
    entry = entry_of((await async_client.get("/rooms/")).content.decode(), room)
    assert "marked-unread" in entry and "has-unread" in entry and "Mark as read" in entry

    # Opening the room reads it, as in Element.
    assert (await async_client.get(f"/rooms/{room}/")).status_code == 200
    assert await room_data(synapse, me, room, "m.marked_unread") == {"unread": False}

    # With JavaScript: over the list's socket; the entry comes back changed.
    socket = await sockets.connect(async_client)
    await socket.send_json_to({"type": "mark_unread", "room_id": other, "unread": True})
    update = await receive_until(
        socket,
        lambda m: m["type"] == "room" and m["room_id"] == other and "marked-unread" in m["html"],
    )
    assert "Mark as read" in update["html"]
    assert await room_data(synapse, me, other, "m.marked_unread") == {"unread": True}

    # Element on another device: the unstable type older Element wrote counts too, and the
    # stable one wins when both are there.
    await api(
        synapse,
        me.access_token,
        "PUT",
        f"/user/{q(me.user_id)}/rooms/{q(room)}/account_data/com.famedly.marked_unread",
        {"unread": True},
    )
    await eventually(lambda: session.room(room).marked_unread is False)  # stable says read
    await api(
        synapse,
        me.access_token,
        "PUT",
        f"/user/{q(me.user_id)}/rooms/{q(room)}/account_data/m.marked_unread",
        {"unread": True},
    )
    await eventually(lambda: session.room(room).marked_unread)


# -- reports -----------------------------------------------------------------------------------


async def test_report_a_message_a_room_and_a_person(async_client, synapse, make_user):
    me = make_user("me")
    troll = make_user("troll")
    admin = make_user("admin", admin=True)
    room = await create_room(synapse, troll, preset="public_chat", name="Trolling")
    await join(synapse, me, room)
    nasty = await send(synapse, troll, room, "something nasty")
    await synced_session(await sign_in(async_client, synapse, me))

    page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert 'class="action-report"' in page

    form = await async_client.get(f"/rooms/{room}/event/{nasty}/report/")
    assert form.status_code == 200 and "something nasty" in form.content.decode()
    response = await async_client.post(
        f"/rooms/{room}/event/{nasty}/report/", {"reason": "it is <nasty>"}
    )
    assert response.status_code == 302
    reports = await asyncio.to_thread(
        matrix_api, synapse.url, admin.access_token, "GET", "/_synapse/admin/v1/event_reports"
    )
    mine = [r for r in reports["event_reports"] if r["event_id"] == nasty]
    assert mine and mine[0]["reason"] == "it is <nasty>" and mine[0]["score"] == -100
    assert mine[0]["user_id"] == me.user_id

    # The room (v1.13): a reason is needed.
    refused = await async_client.post(f"/rooms/{room}/report/", {"reason": "  "})
    assert refused.status_code == 400 and "Say why" in refused.content.decode()
    assert (
        await async_client.post(f"/rooms/{room}/report/", {"reason": "a troll den"})
    ).status_code == 302

    def room_reports():
        with sqlite3.connect(synapse.data_dir / "homeserver.db") as db:
            return db.execute("SELECT room_id, user_id, reason FROM room_reports").fetchall()

    assert (room, me.user_id, "a troll den") in await asyncio.to_thread(room_reports)

    # A person (v1.14), from their page in the room.
    person = (await async_client.get(f"/rooms/{room}/people/{troll.user_id}/")).content.decode()
    assert 'id="report-user-link"' in person
    response = await async_client.post(
        f"/rooms/{room}/people/{troll.user_id}/report/", {"reason": "trolls everyone"}
    )
    assert response.status_code == 302
    reports = await asyncio.to_thread(
        matrix_api, synapse.url, admin.access_token, "GET", "/_synapse/admin/v1/user_reports"
    )
    assert any(
        r["target_user_id"] == troll.user_id and r["reason"] == "trolls everyone"
        for r in reports["user_reports"]
    ), reports


# -- knocking ----------------------------------------------------------------------------------


async def test_knock_with_a_reason_then_be_let_in_or_turned_away(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner")
    knock_rule = {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}
    room = await create_room(
        synapse,
        owner,
        preset="private_chat",
        name="Ask <first>",
        topic="We let people in\nafter a chat",
        initial_state=[knock_rule],
    )
    await synced_session(await sign_in(async_client, synapse, me))

    # Not in it: the room page shows its summary (v1.15) and "Ask to join".
    response = await async_client.get(f"/rooms/{room}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ask &lt;first&gt;" in page and "Ask <first>" not in page
    assert "We let people in after a chat" in page
    assert 'id="knock-form"' in page and "ask to join" in page

    response = await async_client.post(f"/rooms/{room}/knock/", {"reason": "I like asking"})
    assert response.status_code == 302
    member = await state(synapse, owner, room, "m.room.member", me.user_id)
    assert member["membership"] == "knock" and member["reason"] == "I like asking"
    page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert 'id="knock-pending"' in page

    # The owner sees the request with Accept and Decline (their own web client session).
    owner_client = AsyncClient()
    await sign_in(owner_client, synapse, owner)
    members = (await owner_client.get(f"/rooms/{room}/members/")).content.decode()
    assert 'id="group-knocking"' in members and "I like asking" in members
    assert 'class="knock-accept"' in members and 'class="knock-decline secondary"' in members
    response = await owner_client.post(
        f"/rooms/{room}/members/knock/", {"user_id": me.user_id, "answer": "accept"}
    )
    assert response.status_code == 302
    assert (await state(synapse, owner, room, "m.room.member", me.user_id))[
        "membership"
    ] == "invite"

    # A second person is turned away: a kick of their knock, with the reason.
    other = make_user("other")
    await api(synapse, other.access_token, "POST", f"/knock/{q(room)}", {"reason": "me too"})
    response = await owner_client.post(
        f"/rooms/{room}/members/knock/",
        {"user_id": other.user_id, "answer": "decline", "reason": "not now"},
    )
    assert response.status_code == 302
    member = await state(synapse, owner, room, "m.room.member", other.user_id)
    assert member["membership"] == "leave" and member["reason"] == "not now"
    # Nobody is asking any more: said so.
    again = await owner_client.post(
        f"/rooms/{room}/members/knock/", {"user_id": other.user_id, "answer": "accept"}
    )
    assert again.status_code == 409


async def test_join_page_previews_a_room_before_joining(async_client, synapse, make_user):
    me = make_user("me")
    owner = make_user("owner")
    room = await create_room(
        synapse, owner, preset="public_chat", name="Open House", room_alias_name=owner.localpart
    )
    await synced_session(await sign_in(async_client, synapse, me))
    alias = f"#{owner.localpart}:localhost"
    page = (await async_client.get("/rooms/join/", {"room": alias})).content.decode()
    assert 'id="join-preview"' in page and "Open House" in page and "anyone can join" in page
    assert 'id="knock-form"' not in page
    # A private room the homeserver will not describe: said so, the form still there.
    secret = await create_room(synapse, owner, preset="private_chat", name="Secret")
    page = (await async_client.get("/rooms/join/", {"room": secret})).content.decode()
    assert 'id="join-preview-missing"' in page and "Secret" not in page
    # Its room page stays "not in this room".
    assert (await async_client.get(f"/rooms/{secret}/")).status_code == 404
    assert room  # joined by the Join button of the join page (tested in test_rooms.py)


# -- reactions with any emoji, recently used -------------------------------------------------


async def test_react_with_any_emoji_and_recent_emoji_in_account_data(
    async_client, synapse, make_user, sockets
):
    me = make_user("me")
    bob = make_user("bob")
    room = await create_room(synapse, bob, preset="public_chat")
    await join(synapse, me, room)
    theirs = await send(synapse, bob, room, "party time")
    # Element wrote its older format before: read while there is no m.recent_emoji yet.
    await api(
        synapse,
        me.access_token,
        "PUT",
        f"/user/{q(me.user_id)}/account_data/io.element.recent_emoji",
        {"recent_emoji": [["🚀", 4], ["👀", 1]]},
    )
    await synced_session(await sign_in(async_client, synapse, me))

    picker = (await async_client.get(f"/rooms/{room}/event/{theirs}/react/")).content.decode()
    assert 'id="emoji-recent"' in picker and picker.index("🚀") < picker.index("👀")
    found = (
        await async_client.get(f"/rooms/{room}/event/{theirs}/react/", {"q": "tada"})
    ).content.decode()
    assert 'id="emoji-results"' in found and 'value="🎉"' in found

    assert (
        await async_client.post(f"/rooms/{room}/event/{theirs}/react/", {"key": "🎉"})
    ).status_code == 302
    reaction = [e for e in await messages(synapse, bob, room) if e["type"] == "m.reaction"][-1]
    assert reaction["content"] == {
        "m.relates_to": {"rel_type": "m.annotation", "event_id": theirs, "key": "🎉"}
    }
    assert await global_data(synapse, me, "m.recent_emoji") == {
        "recent_emoji": [
            {"emoji": "🎉", "total": 1},
            {"emoji": "🚀", "total": 4},
            {"emoji": "👀", "total": 1},
        ]
    }
    assert await global_data(synapse, me, "io.element.recent_emoji") == {
        "recent_emoji": [["🎉", 1], ["🚀", 4], ["👀", 1]]
    }

    # Over the socket; used again: counted and first. Taking it back counts nothing.
    socket = await sockets.connect(async_client, room=room)
    await socket.send_json_to({"type": "react", "event_id": theirs, "key": "🚀"})

    async def recent():
        return (await global_data(synapse, me, "m.recent_emoji"))["recent_emoji"][0]

    for _ in range(100):
        if await recent() == {"emoji": "🚀", "total": 5}:
            break
        await asyncio.sleep(0.1)
    assert await recent() == {"emoji": "🚀", "total": 5}

    # The picker's data: every Unicode emoji, and "the emoji for this room".
    data = json.loads((await async_client.get("/emoji/")).content)
    assert [g["name"] for g in data["groups"]][0] == "Smileys & Emotion"
    assert sum(len(g["emoji"]) for g in data["groups"]) > 1800
    thumbs = next(e for g in data["groups"] for e in g["emoji"] if e[0] == "👍")
    assert thumbs[1] == "thumbs up" and "+1" in thumbs[2].split()
    mine = json.loads((await async_client.get(f"/rooms/{room}/emoji/")).content)
    assert [e["key"] for e in mine["recent"]][:2] == ["🚀", "🎉"] and mine["custom"] == []
    assert (await async_client.get("/rooms/!nowhere:localhost/emoji/")).status_code == 404


async def test_picking_an_emoji_in_the_composer_counts_as_used(
    async_client, synapse, make_user, sockets
):
    me = make_user("me")
    room = await create_room(synapse, me, preset="private_chat")
    await synced_session(await sign_in(async_client, synapse, me))
    socket = await sockets.connect(async_client, room=room)
    await socket.send_json_to({"type": "recent_emoji", "key": "🦄"})
    for _ in range(100):
        try:
            data = await global_data(synapse, me, "m.recent_emoji")
        except MatrixAPIError:
            data = {}
        if data.get("recent_emoji") == [{"emoji": "🦄", "total": 1}]:
            break
        await asyncio.sleep(0.1)
    assert data == {"recent_emoji": [{"emoji": "🦄", "total": 1}]}
