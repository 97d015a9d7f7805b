"""Relations end to end: edits, reactions, redactions, replies and threads reach open pages
as re-rendered tiles, and the page's own actions (over the websocket and without JS) do the
right thing on a real homeserver."""

from __future__ import annotations

import uuid

import pytest

from tests.client_helpers import events_with, receive_until, sign_in, synced_session
from tests.matrix_helpers import api, messages, q, send, shared_room
from webclient.live import publisher

db = pytest.mark.django_db(transaction=True)
# A reaction chip (every tile's action menu also offers a quick 👍, so match the chip).
CHIP_UP = '<span class="reaction-key">👍</span>'


async def relate(hs, user, room_id, event_type, content) -> str:
    path = f"/rooms/{q(room_id)}/send/{event_type}/{uuid.uuid4().hex}"
    return (await api(hs, user.access_token, "PUT", path, content))["event_id"]


async def redact(hs, user, room_id, event_id) -> str:
    path = f"/rooms/{q(room_id)}/redact/{q(event_id)}/{uuid.uuid4().hex}"
    return (await api(hs, user.access_token, "PUT", path, {}))["event_id"]


def replaced(event_id):
    return lambda m: (
        m["type"] == "events"
        and any(e["event_id"] == event_id and e.get("replace") for e in m["events"])
    )


def item(message, event_id):
    return next(e for e in message["events"] if e["event_id"] == event_id)


async def setup(async_client, synapse, make_user, sockets):
    me = make_user("me", displayname="Me Myself")
    bob = make_user("bob", displayname="Bob Builder")
    room = await shared_room(synapse, bob, me, name="Relations")
    credential = await sign_in(async_client, synapse, me)
    session = await synced_session(credential)
    ws = await sockets.connect(
        async_client,
        room=room,
        epoch=publisher.of(session).epoch,
        pos=publisher.of(session).position,
    )
    assert ws.connected
    return me, bob, room, ws


@db
async def test_edit_reaction_and_redaction_rerender_the_tile_live(
    async_client, synapse, make_user, sockets
):
    me, bob, room, ws = await setup(async_client, synapse, make_user, sockets)
    original = await send(synapse, bob, room, "first words")
    await receive_until(ws, events_with(original))

    await relate(
        synapse,
        bob,
        room,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* better words",
            "m.new_content": {"msgtype": "m.text", "body": "better words"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        },
    )
    edited = item(await receive_until(ws, replaced(original)), original)
    assert "better words" in edited["html"] and "(edited)" in edited["html"]
    assert "first words" not in edited["html"]

    reaction = await relate(
        synapse,
        bob,
        room,
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": original, "key": "🎉"}},
    )
    reacted = item(await receive_until(ws, replaced(original)), original)
    assert '<span class="reaction-key">🎉</span>' in reacted["html"]
    assert bob.user_id in reacted["html"]
    assert '<span class="reaction-count">1</span>' in reacted["html"]

    await redact(synapse, bob, room, reaction)
    unreacted = item(await receive_until(ws, replaced(original)), original)
    assert '<span class="reaction-key">🎉</span>' not in unreacted["html"]

    await redact(synapse, bob, room, original)
    deleted = item(await receive_until(ws, replaced(original)), original)
    assert "Message deleted" in deleted["html"] and "better words" not in deleted["html"]


@db
async def test_someone_elses_edit_does_not_change_a_message(
    async_client, synapse, make_user, sockets
):
    me, bob, room, ws = await setup(async_client, synapse, make_user, sockets)
    original = await send(synapse, bob, room, "bob's words")
    await receive_until(ws, events_with(original))
    await relate(
        synapse,
        me,
        room,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* hijacked",
            "m.new_content": {"msgtype": "m.text", "body": "hijacked"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        },
    )
    seen: list[dict] = []
    message = await receive_until(ws, replaced(original), seen=seen)
    assert "hijacked" not in item(message, original)["html"]
    assert "s words" in item(message, original)["html"]


@db
async def test_actions_over_the_socket(async_client, synapse, make_user, sockets):
    me, bob, room, ws = await setup(async_client, synapse, make_user, sockets)
    theirs = await send(synapse, bob, room, "question?")
    await receive_until(ws, events_with(theirs))

    # Reply: relation, fallback, mention, and a quote in the tile.
    await ws.send_json_to({"type": "send", "txn_id": "r1", "body": "answer", "reply_to": theirs})
    sent = await receive_until(ws, lambda m: m["type"] == "sent" and m["txn_id"] == "r1")
    reply = [e for e in await messages(synapse, bob, room) if e["event_id"] == sent["event_id"]][0]
    assert reply["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": theirs}}
    assert reply["content"]["m.mentions"] == {"user_ids": [bob.user_id]}
    assert reply["content"]["body"].startswith(f"> <{bob.user_id}> question?")
    assert "<mx-reply>" in reply["content"]["formatted_body"]
    tile = item(await receive_until(ws, events_with(sent["event_id"])), sent["event_id"])
    assert 'class="reply-quote"' in tile["html"] and "Bob Builder" in tile["html"]
    assert "question?" in tile["html"] and "<mx-reply>" not in tile["html"]

    # What a page may not ask is dropped: a key that is too long or empty, an event ID that
    # is not one, a vote without an answer. The jobs run in order, so once the good reaction
    # shows, the homeserver would have had the others.
    for bad in (
        {"type": "react", "event_id": theirs, "key": "x" * 65},
        {"type": "react", "event_id": theirs, "key": ""},
        {"type": "react", "event_id": "not-an-event", "key": "👎"},
        {"type": "vote", "event_id": theirs},
    ):
        await ws.send_json_to(bad)
    # React, then react again to take it back.
    await ws.send_json_to({"type": "react", "event_id": theirs, "key": "👍"})
    await receive_until(ws, lambda m: replaced(theirs)(m) and CHIP_UP in item(m, theirs)["html"])
    mine = [e for e in await messages(synapse, bob, room) if e["sender"] == me.user_id]
    keys = [e["content"]["m.relates_to"]["key"] for e in mine if e["type"] == "m.reaction"]
    assert keys == ["👍"]
    assert not [e for e in mine if "poll" in e["type"]]
    await ws.send_json_to({"type": "react", "event_id": theirs, "key": "👍"})
    await receive_until(
        ws, lambda m: replaced(theirs)(m) and CHIP_UP not in item(m, theirs)["html"]
    )

    # Edit one's own message; editing someone else's is refused with a reason.
    await ws.send_json_to(
        {"type": "edit", "txn_id": "e1", "body": "a better answer", "event_id": sent["event_id"]}
    )
    await receive_until(ws, lambda m: m["type"] == "sent" and m["txn_id"] == "e1")
    await receive_until(
        ws,
        lambda m: (
            replaced(sent["event_id"])(m) and "a better answer" in item(m, sent["event_id"])["html"]
        ),
    )
    await ws.send_json_to({"type": "edit", "txn_id": "e2", "body": "nope", "event_id": theirs})
    refused = await receive_until(ws, lambda m: m.get("txn_id") == "e2")
    assert refused["type"] == "send_failed" and "own messages" in refused["error"]
    assert refused["retry"] is False

    # Delete: one's own goes; someone else's is refused.
    await ws.send_json_to({"type": "redact", "event_id": theirs})
    failed = await receive_until(ws, lambda m: m["type"] == "action_failed")
    assert "own messages" in failed["error"]
    await ws.send_json_to({"type": "redact", "event_id": sent["event_id"]})
    await receive_until(
        ws,
        lambda m: (
            replaced(sent["event_id"])(m) and "Message deleted" in item(m, sent["event_id"])["html"]
        ),
    )


@db
async def test_thread_replies_update_the_root_and_stay_out_of_the_main_timeline(
    async_client, synapse, make_user, sockets
):
    me, bob, room, ws = await setup(async_client, synapse, make_user, sockets)
    root = await send(synapse, bob, room, "thread root")
    await receive_until(ws, events_with(root))
    await ws.send_json_to({"type": "send", "txn_id": "t1", "body": "in thread", "thread_id": root})
    sent = await receive_until(ws, lambda m: m["type"] == "sent" and m["txn_id"] == "t1")
    message = await receive_until(ws, replaced(root))
    assert "1 reply" in item(message, root)["html"]
    reply = next(e for e in message["events"] if e["event_id"] == sent["event_id"])
    assert reply["thread_id"] == root  # the page leaves it to the thread page
    event = [e for e in await messages(synapse, bob, room) if e["event_id"] == sent["event_id"]][0]
    assert event["content"]["m.relates_to"]["rel_type"] == "m.thread"
    assert event["content"]["m.relates_to"]["event_id"] == root

    room_page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert f'data-event-id="{sent["event_id"]}"' not in room_page
    assert "1 reply" in room_page
    thread_page = await async_client.get(f"/rooms/{room}/thread/{root}/")
    assert thread_page.status_code == 200
    html = thread_page.content.decode()
    assert f'data-event-id="{root}"' in html and f'data-event-id="{sent["event_id"]}"' in html
    assert 'name="thread_id"' in html

    # Posting into the thread without JavaScript.
    response = await async_client.post(
        f"/rooms/{room}/send/", {"body": "second", "txn_id": "wcthread2", "thread_id": root}
    )
    assert response.status_code == 302 and f"/thread/{root}/" in response["Location"]
    bodies = [
        e["content"].get("body")
        for e in await messages(synapse, bob, room)
        if e["content"].get("m.relates_to", {}).get("rel_type") == "m.thread"
    ]
    assert "second" in bodies


@db
async def test_room_page_and_no_js_actions(async_client, synapse, make_user):
    me = make_user("me", displayname="Me Myself")
    bob = make_user("bob", displayname="Bob Builder")
    room = await shared_room(synapse, bob, me, name="Plain")
    await sign_in(async_client, synapse, me)
    theirs = await send(synapse, bob, room, "hello there")
    await relate(
        synapse,
        bob,
        room,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* hello, edited",
            "m.new_content": {"msgtype": "m.text", "body": "hello, edited"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": theirs},
        },
    )
    page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert "hello, edited" in page and "(edited)" in page

    # React without JS: a confirmation page, then a POST that toggles.
    react_url = f"/rooms/{room}/event/{theirs}/react/"
    assert (await async_client.get(react_url + "?key=%E2%9C%85")).status_code == 200
    assert (await async_client.post(react_url, {"key": "✅"})).status_code == 302
    events = await messages(synapse, bob, room)
    mine = [e for e in events if e["type"] == "m.reaction" and e["sender"] == me.user_id]
    assert mine and mine[0]["content"]["m.relates_to"]["key"] == "✅"
    page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert 'data-key="✅"' in page and 'class="reaction' in page

    # Reply without JS: the banner, then the form post.
    page = (await async_client.get(f"/rooms/{room}/?reply_to={theirs}")).content.decode()
    assert 'id="reply-banner"' in page and "Bob Builder" in page
    response = await async_client.post(
        f"/rooms/{room}/send/", {"body": "my reply", "txn_id": "wcnojs1", "reply_to": theirs}
    )
    assert response.status_code == 302
    reply = [
        e
        for e in await messages(synapse, bob, room)
        if e["sender"] == me.user_id and e["type"] == "m.room.message"
    ][-1]
    assert reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == theirs

    # Edit and delete one's own message without JS; someone else's is refused.
    edit_url = f"/rooms/{room}/event/{reply['event_id']}/edit/"
    edit_page = (await async_client.get(edit_url)).content.decode()
    assert "my reply" in edit_page and "&gt; &lt;" not in edit_page  # fallback stripped
    assert (
        await async_client.post(edit_url, {"body": "my better reply", "txn_id": "wcnojs2"})
    ).status_code == 302
    refused = await async_client.post(f"/rooms/{room}/event/{theirs}/delete/", {})
    assert refused.status_code == 400 and "own messages" in refused.content.decode()
    delete_url = f"/rooms/{room}/event/{reply['event_id']}/delete/"
    assert (await async_client.post(delete_url, {"reason": "typo"})).status_code == 302
    events = await messages(synapse, bob, room)
    redactions = [e for e in events if e["type"] == "m.room.redaction"]
    assert any(
        e.get("redacts", e["content"].get("redacts")) == reply["event_id"] for e in redactions
    )
