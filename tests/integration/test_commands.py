"""Slash commands against a real Synapse: the no-JS form and the websocket share one parser
(webclient/timeline/compose.py) and one place that acts (webclient/live/actions.py); what
they send is checked on the homeserver, shaped as Element's SlashCommands.tsx sends it."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.client_helpers import events_with, receive_until, sign_in, synced_session
from tests.matrix_helpers import api, create_room, join, messages, q, sent_by, state

pytestmark = pytest.mark.django_db(transaction=True)


async def command(async_client, room: str, body: str, **extra):
    return await async_client.post(f"/rooms/{room}/send/", {"body": body, "txn_id": "", **extra})


async def newest(hs, reader, room, sender) -> dict:
    return (await sent_by(hs, reader, room, sender))[-1]


async def test_message_commands_send_what_element_sends(async_client, synapse, make_user):
    me = make_user("me")
    bob = make_user("bob")
    room = await create_room(synapse, me, invite=[bob.user_id], preset="private_chat")
    await join(synapse, bob, room)
    await synced_session(await sign_in(async_client, synapse, me))

    expected = {
        "/shrug oh well": {"msgtype": "m.text", "body": "¯\\_(ツ)_/¯ oh well"},
        "/tableflip": {"msgtype": "m.text", "body": "(╯°□°）╯︵ ┻━┻"},
        "/plain **not bold**": {"msgtype": "m.text", "body": "**not bold**"},
        "/html <b>bold</b> <script>x()</script>": {
            "msgtype": "m.text",
            "format": "org.matrix.custom.html",
            "body": "<b>bold</b> <script>x()</script>",
            "formatted_body": "<b>bold</b> <script>x()</script>",
        },
        "/spoiler it was <the butler>": {
            "msgtype": "m.text",
            "format": "org.matrix.custom.html",
            "body": "it was <the butler>",
            "formatted_body": "<span data-mx-spoiler>it was &lt;the butler&gt;</span>",
        },
        "/me waves": {"msgtype": "m.emote", "body": "waves"},
    }
    for typed, content in expected.items():
        response = await command(async_client, room, typed)
        assert response.status_code == 302, typed
        event = await newest(synapse, bob, room, me)
        assert event["content"] == content, typed

    # /html is sanitised when shown, as all HTML is: the script never reaches the page.
    page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert "<b>bold</b>" in page and "x()</script>" not in page
    assert "data-mx-spoiler" in page


async def test_unknown_command_is_refused_and_never_sent(async_client, synapse, make_user):
    me = make_user("me")
    room = await create_room(synapse, me, preset="private_chat")
    await synced_session(await sign_in(async_client, synapse, me))
    before = len(await messages(synapse, me, room))

    response = await command(async_client, room, "/shrugg hi there")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Unknown command /shrugg" in page
    assert ">/shrugg hi there</textarea>" in page  # the draft is kept
    assert len(await messages(synapse, me, room)) == before

    # "//" sends one leading slash, as text.
    assert (await command(async_client, room, "//shrugg is not a command")).status_code == 302
    assert (await newest(synapse, me, room, me))["content"]["body"] == "/shrugg is not a command"

    # /help: the list of commands, open, without sending anything.
    response = await command(async_client, room, "/help")
    assert response.status_code == 302 and response["Location"].endswith("?help=1#commands")
    page = (await async_client.get(response["Location"])).content.decode()
    assert '<details class="composer-commands" id="commands" open>' in page
    for name in ("/tableflip", "/converttodm", "/myroomnick", "/deop"):
        assert f"<code>{name}" in page


async def test_commands_that_act(async_client, synapse, make_user):
    me = make_user("me")
    bob = make_user("bob")
    carol = make_user("carol")
    room = await create_room(synapse, me, preset="private_chat", name="Acting")
    await synced_session(await sign_in(async_client, synapse, me))

    # /invite with a reason, as Element's MultiInviter sends it.
    assert (
        await command(async_client, room, f"/invite {bob.user_id} come along")
    ).status_code == 302
    member = await state(synapse, me, room, "m.room.member", bob.user_id)
    assert member["membership"] == "invite" and member["reason"] == "come along"
    await join(synapse, bob, room)

    # /op with the default 50 and with a level, /deop back to the default.
    await command(async_client, room, f"/op {bob.user_id}")
    assert (await state(synapse, me, room, "m.room.power_levels"))["users"][bob.user_id] == 50
    await command(async_client, room, f"/op {bob.user_id} 75")
    assert (await state(synapse, me, room, "m.room.power_levels"))["users"][bob.user_id] == 75
    await command(async_client, room, f"/deop {bob.user_id}")
    assert bob.user_id not in (await state(synapse, me, room, "m.room.power_levels"))["users"]
    # Someone not in the room: said in words, nothing changed.
    response = await command(async_client, room, f"/op {carol.user_id}")
    assert response.status_code == 400 and "is not in this room" in response.content.decode()

    # /topic with Markdown: m.topic (v1.15) as matrix-js-sdk's makeTopicContent.
    await command(async_client, room, "/topic A **bold** plan")
    topic = await state(synapse, me, room, "m.room.topic")
    assert topic == {
        "topic": "A **bold** plan",
        "m.topic": {
            "m.text": [
                {"body": "A <strong>bold</strong> plan", "mimetype": "text/html"},
                {"body": "A **bold** plan", "mimetype": "text/plain"},
            ]
        },
    }

    # /myroomnick keeps the member event and changes the name; /nick the global one.
    await command(async_client, room, "/myroomnick Captain")
    mine = await state(synapse, me, room, "m.room.member", me.user_id)
    assert mine["displayname"] == "Captain" and mine["membership"] == "join"
    await command(async_client, room, "/nick Everywhere Me")
    profile = await api(synapse, me.access_token, "GET", f"/profile/{q(me.user_id)}")
    assert profile["displayname"] == "Everywhere Me"

    # /kick and /ban with reasons, /unban.
    await command(async_client, room, f"/kick {bob.user_id} too loud")
    member = await state(synapse, me, room, "m.room.member", bob.user_id)
    assert member["membership"] == "leave" and member["reason"] == "too loud"
    await command(async_client, room, f"/ban {bob.user_id} spam")
    member = await state(synapse, me, room, "m.room.member", bob.user_id)
    assert member["membership"] == "ban" and member["reason"] == "spam"
    await command(async_client, room, f"/unban {bob.user_id}")
    assert (await state(synapse, me, room, "m.room.member", bob.user_id))["membership"] == "leave"

    # Bad arguments are said in words.
    response = await command(async_client, room, "/invite nobody")
    assert response.status_code == 400 and "Usage: /invite" in response.content.decode()


async def test_converttodm_join_and_leave(async_client, synapse, make_user):
    me = make_user("me")
    bob = make_user("bob")
    room = await create_room(synapse, me, preset="private_chat", invite=[bob.user_id])
    await join(synapse, bob, room)
    other = await create_room(synapse, bob, preset="public_chat", room_alias_name=bob.localpart)
    await synced_session(await sign_in(async_client, synapse, me))

    await command(async_client, room, "/converttodm")
    direct = await api(
        synapse, me.access_token, "GET", f"/user/{q(me.user_id)}/account_data/m.direct"
    )
    assert direct == {bob.user_id: [room]}

    # /join by an alias on this server without ":server", as Element allows.
    response = await command(async_client, room, f"/join #{bob.localpart}")
    assert response.status_code == 302 and other in unquote(response["Location"])
    member = await state(synapse, bob, other, "m.room.member", me.user_id)
    assert member["membership"] == "join"

    # /leave the room one is in: to the room list.
    response = await command(async_client, other, "/leave")
    assert response.status_code == 302 and response["Location"] == "/rooms/"
    member = await state(synapse, bob, other, "m.room.member", me.user_id)
    assert member["membership"] == "leave"


async def test_commands_over_the_socket(async_client, synapse, make_user, sockets):
    me = make_user("me")
    bob = make_user("bob")
    room = await create_room(synapse, me, preset="private_chat")
    await synced_session(await sign_in(async_client, synapse, me))
    socket = await sockets.connect(async_client, room=room)
    assert socket.connected

    await socket.send_json_to({"type": "send", "txn_id": "wccmd1", "body": "/nope"})
    failed = await receive_until(socket, lambda m: m.get("txn_id") == "wccmd1")
    assert failed["type"] == "send_failed" and failed["retry"] is False
    assert "Unknown command /nope" in failed["error"]

    await socket.send_json_to(
        {"type": "send", "txn_id": "wccmd2", "body": f"/invite {bob.user_id}"}
    )
    done = await receive_until(socket, lambda m: m.get("txn_id") == "wccmd2")
    assert done == {
        "type": "command_done",
        "txn_id": "wccmd2",
        "message": f"Invited {bob.user_id}.",
        "go": "",
        "help": False,
    }
    assert (await state(synapse, me, room, "m.room.member", bob.user_id))["membership"] == "invite"

    # A message command sends its message with the page's transaction ID.
    await socket.send_json_to({"type": "send", "txn_id": "wccmd3", "body": "/shrug fine"})
    sent = await receive_until(socket, lambda m: m.get("txn_id") == "wccmd3")
    assert sent["type"] == "sent"
    await receive_until(socket, events_with(sent["event_id"]))
    assert (await newest(synapse, me, room, me))["content"]["body"] == "¯\\_(ツ)_/¯ fine"
