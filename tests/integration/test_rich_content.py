"""Issue 13 against a real Synapse: polls as Element sends them (vote, change the vote, end;
no-JS pages and the socket), pinned messages (banner, pin and unpin, state lines), image
packs (what the picker gets), and the room page showing colours, emoji, formatted topics."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from tests.client_helpers import events_with, eventually, receive_until, sign_in, synced_session
from tests.matrix_helpers import api, messages, q, send, shared_room, state
from webclient.live import publisher
from webclient.matrix import image_packs

db = pytest.mark.django_db(transaction=True)
T = "org.matrix.msc1767.text"


async def send_event(hs, user, room_id, event_type, content) -> str:
    path = f"/rooms/{q(room_id)}/send/{q(event_type)}/{uuid.uuid4().hex}"
    return (await api(hs, user.access_token, "PUT", path, content))["event_id"]


async def put_state(hs, user, room_id, event_type, content, key: str = "") -> str:
    path = f"/rooms/{q(room_id)}/state/{q(event_type)}/{q(key)}"
    return (await api(hs, user.access_token, "PUT", path, content))["event_id"]


def element_poll(question: str, answers: list[str], kind: str) -> dict:
    """matrix-js-sdk PollStartEvent.from(question, answers, kind).serialize().content."""
    return {
        "org.matrix.msc3381.poll.start": {
            "question": {T: question},
            "kind": kind,
            "max_selections": 1,
            "answers": [{"id": f"answer{i:011d}", T: a} for i, a in enumerate(answers)],
        },
        T: question + "".join(f"\n{i + 1}. {a}" for i, a in enumerate(answers)),
    }


def element_vote(poll_id: str, answer_id: str) -> dict:
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_id},
        "org.matrix.msc3381.poll.response": {"answers": [answer_id]},
    }


def replaced(event_id):
    return lambda m: (
        m["type"] == "events"
        and any(e["event_id"] == event_id and e.get("replace") for e in m["events"])
    )


def item(message, event_id):
    return next(e for e in message["events"] if e["event_id"] == event_id)


async def setup(async_client, synapse, make_user, sockets, **room):
    me = make_user("me", displayname="Mia")
    bob = make_user("bob", displayname="Bob")
    room_id = await shared_room(synapse, bob, me, **room)
    credential = await sign_in(async_client, synapse, me)
    session = await synced_session(credential)
    pages = publisher.of(session)
    ws = await sockets.connect(async_client, room=room_id, epoch=pages.epoch, pos=pages.position)
    assert ws.connected
    return me, bob, room_id, ws, session


@db
async def test_polls_as_element_sends_them(async_client, synapse, make_user, sockets):
    me, bob, room_id, ws, session = await setup(async_client, synapse, make_user, sockets)
    poll_id = await send_event(
        synapse,
        bob,
        room_id,
        "org.matrix.msc3381.poll.start",
        element_poll("Lunch?", ["Pizza", "Sushi"], "org.matrix.msc3381.poll.disclosed"),
    )
    first = item(await receive_until(ws, events_with(poll_id)), poll_id)
    assert (
        "Lunch?" in first["html"] and "Pizza" in first["html"] and "No votes cast" in first["html"]
    )

    # Bob votes (as Element): the poll's tile re-renders for every viewer.
    await send_event(
        synapse,
        bob,
        room_id,
        "org.matrix.msc3381.poll.response",
        element_vote(poll_id, "answer00000000000"),
    )
    tile = item(await receive_until(ws, replaced(poll_id)), poll_id)
    assert f'data-voters="{bob.user_id}" data-answer="answer00000000000"' in tile["html"]
    assert "Based on 1 votes" in tile["html"]

    # I vote over the socket, then change my vote: the homeserver has Element's shapes.
    await ws.send_json_to({"type": "vote", "event_id": poll_id, "answer": "answer00000000000"})
    tile = item(await receive_until(ws, replaced(poll_id)), poll_id)
    assert me.user_id in tile["html"]
    await ws.send_json_to({"type": "vote", "event_id": poll_id, "answer": "answer00000000001"})
    tile = item(await receive_until(ws, replaced(poll_id)), poll_id)
    assert f'data-voters="{me.user_id}" data-answer="answer00000000001"' in tile["html"]
    votes = [
        e
        for e in await messages(synapse, bob, room_id)
        if e["type"] == "org.matrix.msc3381.poll.response" and e["sender"] == me.user_id
    ]
    assert [v["content"] for v in votes] == [
        element_vote(poll_id, "answer00000000000"),
        element_vote(poll_id, "answer00000000001"),
    ]

    # I may not end Bob's poll (he is the room's admin, I am not); Bob ends it as Element.
    await ws.send_json_to({"type": "end_poll", "event_id": poll_id})
    failed = await receive_until(ws, lambda m: m["type"] == "action_failed")
    assert "Only the person who started this poll can end it" in failed["error"]
    end_id = await send_event(
        synapse,
        bob,
        room_id,
        "org.matrix.msc3381.poll.end",
        {
            "m.relates_to": {"rel_type": "m.reference", "event_id": poll_id},
            "org.matrix.msc3381.poll.end": {},
            T: "The poll has ended. Top answer: Pizza, Sushi",
            "body": "The poll has ended. Top answer: Pizza, Sushi",
            "msgtype": "m.text",
        },
    )
    frame = await receive_until(ws, events_with(end_id))
    assert "The poll has ended. Top answer: Pizza, Sushi" in item(frame, end_id)["html"]
    tile = item(frame, poll_id) if any(e["event_id"] == poll_id for e in frame["events"]) else None
    if tile is None:
        tile = item(await receive_until(ws, replaced(poll_id)), poll_id)
    assert "Final result based on 2 votes" in tile["html"] and "/vote/" not in tile["html"]

    # A fresh page counts the votes from /relations, and marks my vote for me.
    session.timeline(room_id).poll_fetched.clear()
    page = (await async_client.get(f"/rooms/{quote(room_id)}/")).content.decode()
    assert '<li class="poll-answer mine"' in page and "Final result based on 2 votes" in page


@db
async def test_undisclosed_poll_voted_and_ended_without_javascript(
    async_client, synapse, make_user, sockets
):
    me, bob, room_id, ws, session = await setup(async_client, synapse, make_user, sockets)
    poll_id = await send_event(
        synapse,
        me,
        room_id,
        "org.matrix.msc3381.poll.start",
        element_poll("Secret?", ["Yes", "No"], "org.matrix.msc3381.poll.undisclosed"),
    )
    await receive_until(ws, events_with(poll_id))
    await send_event(
        synapse,
        bob,
        room_id,
        "org.matrix.msc3381.poll.response",
        element_vote(poll_id, "answer00000000001"),
    )
    tile = item(await receive_until(ws, replaced(poll_id)), poll_id)
    assert "Results will be visible when the poll is ended" in tile["html"]
    assert "poll-count" not in tile["html"]

    url = f"/rooms/{quote(room_id)}/event/{quote(poll_id)}/vote/?answer=answer00000000000"
    confirm = await async_client.get(url)
    assert confirm.status_code == 200 and "Vote for “Yes”" in confirm.content.decode()
    done = await async_client.post(url, {"answer": "answer00000000000"})
    assert done.status_code == 302
    await receive_until(ws, replaced(poll_id))
    end = await async_client.post(f"/rooms/{quote(room_id)}/event/{quote(poll_id)}/end-poll/")
    assert end.status_code == 302
    events = await messages(synapse, bob, room_id)
    [end_event] = [e for e in events if e["type"] == "org.matrix.msc3381.poll.end"]
    assert end_event["content"][T] == "The poll has ended. Top answer: Yes, No"
    assert end_event["content"]["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll_id}
    tile = item(await receive_until(ws, replaced(poll_id)), poll_id)
    assert "Final result based on 2 votes" in tile["html"] and "poll-count" in tile["html"]
    again = await async_client.post(f"/rooms/{quote(room_id)}/event/{quote(poll_id)}/end-poll/")
    assert again.status_code == 400 and "already ended" in again.content.decode()


@db
async def test_pinned_messages(async_client, synapse, make_user, sockets):
    me, bob, room_id, ws, session = await setup(async_client, synapse, make_user, sockets)
    message_id = await send(synapse, bob, room_id, "the meeting is at <b>noon</b>")
    await receive_until(ws, events_with(message_id))
    # Too little power (the room's default 50 for state): refused before anything is sent.
    await ws.send_json_to({"type": "pin", "event_id": message_id})
    failed = await receive_until(ws, lambda m: m["type"] == "action_failed")
    assert "too low to pin" in failed["error"]
    # Bob (Element) pins it.
    pin_id = await put_state(
        synapse, bob, room_id, "m.room.pinned_events", {"pinned": [message_id]}
    )
    line = item(await receive_until(ws, events_with(pin_id)), pin_id)
    assert "Bob pinned a message" in line["html"] and "View the message" in line["html"]
    header = await receive_until(ws, lambda m: m["type"] == "header" and m.get("pinned"))
    assert header["pinned"] == [message_id]
    page = (await async_client.get(f"/rooms/{quote(room_id)}/")).content.decode()
    assert 'id="pinned-banner"' in page and "1 pinned message" in page
    assert "the meeting is at &lt;b&gt;noon&lt;/b&gt;" in page
    assert 'class="event pinned ' in page or "event pinned" in page
    banner = (await async_client.get(f"/rooms/{quote(room_id)}/pins/")).content.decode()
    assert message_id in banner
    # With the power level, I unpin it from the (no-JS) page.
    levels = await state(synapse, bob, room_id, "m.room.power_levels")
    levels.setdefault("users", {})[me.user_id] = 50
    await put_state(synapse, bob, room_id, "m.room.power_levels", levels)
    await eventually(lambda: session.room(room_id).power_levels.get("users", {}).get(me.user_id))
    url = f"/rooms/{quote(room_id)}/event/{quote(message_id)}/pin/?unpin=1"
    assert (await async_client.post(url, {"unpin": "1"})).status_code == 302
    assert (await state(synapse, bob, room_id, "m.room.pinned_events"))["pinned"] == []
    unpin = await receive_until(ws, lambda m: m["type"] == "events" and any(
        "unpinned a message" in e.get("html", "") for e in m["events"]))  # fmt: skip
    assert unpin


@db
async def test_image_packs_emoji_colours_and_topics(async_client, synapse, make_user, sockets):
    me, bob, room_id, ws, session = await setup(async_client, synapse, make_user, sockets)
    space_id = await shared_room(synapse, bob, me, creation_content={"type": "m.space"})
    await put_state(
        synapse, bob, room_id, "m.space.parent", {"via": ["localhost"], "canonical": True}, space_id
    )
    cat = "mxc://localhost/cat"
    await put_state(
        synapse,
        bob,
        room_id,
        "m.room.image_pack",
        {
            "images": {"cat_wave": {"url": cat, "body": "a waving cat"}, "bad code!": {"url": cat}},
            "pack": {"display_name": "Cats <b>", "usage": ["emoticon"]},
        },
        "cats",
    )
    await put_state(
        synapse, bob, space_id, "m.room.image_pack",
        {"images": {"dog": {"url": "mxc://localhost/dog"}}}, "",
    )  # fmt: skip
    await put_state(
        synapse, bob, room_id, "im.ponies.room_emotes",
        {"images": {"old": {"url": "mxc://localhost/old"}}}, "legacy",
    )  # fmt: skip
    mine = await shared_room(synapse, me, bob, name="My stickers")
    await put_state(
        synapse, me, mine, "m.room.image_pack",
        {"images": {"wave": {"url": "mxc://localhost/wave"}}, "pack": {"usage": ["sticker"]}},
    )  # fmt: skip
    path = f"/user/{q(me.user_id)}/account_data/m.image_pack.rooms"
    await api(synapse, me.access_token, "PUT", path, {"rooms": {mine: {"": {}}}})
    await eventually(lambda: session.room(mine) and session.room(space_id))
    packs = await image_packs.packs_for_room(session, room_id)
    assert [(p.source, p.display_name) for p in packs] == [
        ("user", "My stickers"),
        ("room", "Cats <b>"),
        ("room", "legacy"),
        ("space", ""),  # no name: the space's name, and it has none
    ]
    assert packs[0].stickers() and not packs[0].emoticons()
    cats = packs[1]
    assert sorted((i.shortcode, i.body, i.valid_shortcode) for i in cats.images) == [
        ("bad code!", "bad code!", False),
        ("cat_wave", "a waving cat", True),
    ]
    assert {i.url for i in cats.images} == {"/media/localhost/cat/"}
    assert packs[3].images[0].shortcode == "dog"

    # A message of custom emoticons and emoji (as Element and Cinny send them), coloured text
    # from a bot, a formatted topic.
    emote = await send_event(
        synapse, bob, room_id, "m.room.message",
        {"msgtype": "m.text", "body": ":cat_wave: 🎉", "format": "org.matrix.custom.html",
         "formatted_body": f'<img data-mx-emoticon src="{cat}" alt="a waving cat" title="cat_wave"'
                           ' height="32"> 🎉'},
    )  # fmt: skip
    alert = await send_event(
        synapse, bob, room_id, "m.room.message",
        {"msgtype": "m.notice", "body": "CRITICAL", "format": "org.matrix.custom.html",
         "formatted_body": '<font color="#ff0000">CRITICAL</font> <span data-mx-bg-color="#ffff00">'
                           "disk</span>"},
    )  # fmt: skip
    await put_state(
        synapse, bob, room_id, "m.room.topic",
        {"topic": "Read the rules", "m.topic": {"m.text": [
            {"mimetype": "text/html", "body": "Read <strong>the rules</strong>"},
            {"body": "Read the rules"}]}},
    )  # fmt: skip
    frame = await receive_until(ws, events_with(alert))
    header = await receive_until(ws, lambda m: m["type"] == "header" and m.get("topic_html"))
    assert header["topic_html"] == "Read <strong>the rules</strong>"
    page = (await async_client.get(f"/rooms/{quote(room_id)}/")).content.decode()
    assert 'class="event-body big-emoji"' in page
    assert 'data-mx-emoticon="" height="32" src="/media/localhost/cat/"' in page
    assert '<span data-mx-color="#ff0000">CRITICAL</span>' in page
    assert '<span data-mx-bg-color="#ffff00">disk</span>' in page
    assert '<p class="room-topic" id="room-topic">Read <strong>the rules</strong></p>' in page
    assert emote and frame
