"""Room list, room pages and the no-JavaScript composer, against a real Synapse.

Other people act through plain client-server API calls (`matrix_api`); the person using the
web client signs in through the login form with `async_client`, so every page is rendered
by the real views from the real sync loop.
"""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.urls import reverse

from tests.synapse_fixtures import MatrixAPIError, matrix_api
from webclient.matrix.models import Credential

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = "/_matrix/client/v3"


# -- helpers ------------------------------------------------------------------------------------


def q(value: str) -> str:
    return quote(value, safe="")


async def api(hs, user, method: str, path: str, body: dict[str, Any] | None = None) -> dict:
    """A client-server call as `user` (another client), off the event loop."""
    return await asyncio.to_thread(
        matrix_api, hs.url, user.access_token, method, CLIENT + path, body
    )


async def create_room(hs, owner, **body) -> str:
    return (await api(hs, owner, "POST", "/createRoom", body))["room_id"]


async def join(hs, user, room_id: str) -> None:
    await api(hs, user, "POST", f"/join/{q(room_id)}", {})


async def invite(hs, user, room_id: str, invitee) -> None:
    await api(hs, user, "POST", f"/rooms/{q(room_id)}/invite", {"user_id": invitee.user_id})


async def send(hs, user, room_id: str, body: str, **content) -> str:
    txn = uuid.uuid4().hex
    path = f"/rooms/{q(room_id)}/send/m.room.message/{txn}"
    answer = await api(hs, user, "PUT", path, {"msgtype": "m.text", "body": body, **content})
    return answer["event_id"]


async def set_state(hs, user, room_id: str, etype: str, content: dict, key: str = "") -> str:
    path = f"/rooms/{q(room_id)}/state/{etype}/{q(key)}"
    return (await api(hs, user, "PUT", path, content))["event_id"]


async def messages(hs, user, room_id: str, limit: int = 50) -> list[dict]:
    """The room's newest events, oldest first."""
    path = f"/rooms/{q(room_id)}/messages?dir=b&limit={limit}"
    return list(reversed((await api(hs, user, "GET", path))["chunk"]))


async def sign_in(async_client, hs, user) -> Credential:
    response = await async_client.post(
        "/login/",
        {
            "mode": "password",
            "homeserver": hs.url,
            "username": user.localpart,
            "password": user.password,
        },
    )
    assert response.status_code == 302, response.content
    return await Credential.objects.filter(user_id=user.user_id).alatest("created")


def room_entries(page: str) -> list[dict[str, str]]:
    """The `<li data-room-entry>` items of the room list, in page order."""
    entries = []
    pattern = r'<li class="([^"]*)"[^>]*\sdata-room-entry="([^"]+)"[^>]*>(.*?)</li>'
    for match in re.finditer(pattern, page, re.S):
        classes, room_id, inner = match.groups()
        name = re.search(r'<span class="room-name">(.*?)</span>', inner, re.S)
        preview = re.search(r'<span class="room-preview">(.*?)</span>', inner, re.S)
        unread = re.search(r'<span class="badge unread"[^>]*>(\d+)</span>', inner)
        highlight = re.search(r'<span class="badge highlight"[^>]*>(\d+)</span>', inner)
        entries.append(
            {
                "room_id": html.unescape(room_id),
                "classes": classes,
                "inner": inner,
                "name": html.unescape(name.group(1)) if name else "",
                "preview": html.unescape(preview.group(1)) if preview else "",
                "unread": unread.group(1) if unread else "",
                "highlight": highlight.group(1) if highlight else "",
            }
        )
    return entries


def tiles(page: str) -> dict[str, str]:
    """Event tiles by event ID."""
    found = {}
    for match in re.finditer(
        r'<article\b[^>]*\sdata-event-id="([^"]+)"[^>]*>.*?</article>', page, re.S
    ):
        found[html.unescape(match.group(1))] = match.group(0)
    return found


def tile_body(tile: str) -> str:
    """The inner HTML of a tile's `.event-body` (divs inside it are balanced)."""
    start = tile.index('<div class="event-body">') + len('<div class="event-body">')
    depth = 1
    for match in re.finditer(r"<(/?)div\b", tile[start:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return tile[start : start + match.start()].strip()
    raise AssertionError(f"unbalanced tile: {tile}")


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def room_url(room: str) -> str:
    return reverse("rooms:room", args=[room])


# -- the room list --------------------------------------------------------------------------------


async def test_room_list(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    carol = make_user("carol", displayname="Carol Singer")
    dave = make_user("dave", displayname="Dave Inviter")

    # A named room, where Bob writes to Alice and mentions her by name.
    named = await create_room(synapse, bob, name="Project Falcon", invite=[alice.user_id])
    await join(synapse, alice, named)
    await send(synapse, bob, named, "first from bob")
    await send(synapse, alice, named, "alice's own message does not count as unread")
    await send(synapse, bob, named, "second from bob")
    await send(synapse, bob, named, "Alice Liddell, have a look please")

    # A room with only an address; Alice writes in it, nobody else.
    alias_local = f"plans-{uuid.uuid4().hex[:8]}"
    aliased = await create_room(synapse, alice, room_alias_name=alias_local)
    await send(synapse, alice, aliased, "notes to self")

    # An unnamed 1:1 room with Carol, who mentions Alice by user ID.
    direct = await create_room(
        synapse, carol, preset="trusted_private_chat", is_direct=True, invite=[alice.user_id]
    )
    await join(synapse, alice, direct)
    await send(
        synapse,
        carol,
        direct,
        f"ping {alice.user_id}",
        **{"m.mentions": {"user_ids": [alice.user_id]}},
    )

    # A pending invitation from Dave.
    invited = await create_room(synapse, dave, name="Secret Plans", invite=[alice.user_id])

    # Newest activity last: the named room.
    await send(synapse, bob, named, "latest news")

    credential = await sign_in(async_client, synapse, alice)
    response = await async_client.get("/rooms/")
    assert response.status_code == 200
    page = response.content.decode()
    entries = room_entries(page)
    by_id = {entry["room_id"]: entry for entry in entries}
    assert set(by_id) == {named, aliased, direct, invited}, entries

    # Names by the spec's algorithm.
    assert by_id[named]["name"] == "Project Falcon"
    assert by_id[aliased]["name"] == f"#{alias_local}:localhost"
    assert by_id[direct]["name"] == "Carol Singer"
    assert by_id[invited]["name"] == "Secret Plans"

    # The invitation: listed with its inviter, not as a room to open.
    assert "room-invite" in by_id[invited]["classes"]
    assert "Invited by Dave Inviter" in by_id[invited]["preview"]
    assert f'data-invite-room-id="{invited}"' in by_id[invited]["inner"]
    assert "data-room-id=" not in by_id[invited]["inner"]
    for room_id in (named, aliased, direct):
        assert f'data-room-id="{room_id}"' in by_id[room_id]["inner"]

    # Last message previews.
    assert by_id[named]["preview"] == "latest news"
    assert by_id[aliased]["preview"] == "notes to self"
    assert by_id[direct]["preview"] == f"ping {alice.user_id}"

    # Unread counts only for messages from others; highlights for mentions by name or ID.
    assert by_id[named]["unread"] == "4"
    assert by_id[named]["highlight"] == "1"
    assert "has-highlight" in by_id[named]["classes"]
    assert by_id[direct]["unread"] == "1"
    assert by_id[direct]["highlight"] == "1"
    assert by_id[aliased]["unread"] == ""
    assert by_id[aliased]["highlight"] == ""
    assert "has-unread" not in by_id[aliased]["classes"]

    # Invitations first, then newest activity first.
    order = [entry["room_id"] for entry in entries]
    assert order == [invited, named, direct, aliased]

    # The browser never sees the access token.
    assert credential.access_token not in page
    assert alice.access_token not in page


async def test_room_list_unread_without_highlight(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    room = await create_room(synapse, bob, name="Chatter", invite=[alice.user_id])
    await join(synapse, alice, room)
    await send(synapse, bob, room, "nothing personal")
    await send(synapse, bob, room, "still nothing")
    await sign_in(async_client, synapse, alice)
    entry = room_entries((await async_client.get("/rooms/")).content.decode())[0]
    assert entry["room_id"] == room
    assert entry["unread"] == "2"
    assert entry["highlight"] == ""
    assert "has-unread" in entry["classes"]
    assert "has-highlight" not in entry["classes"]


async def test_room_list_needs_login(async_client):
    response = await async_client.get("/rooms/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# -- a room page -----------------------------------------------------------------------------------


@pytest.fixture
async def design_room(synapse, make_user):
    """Bob's room with Alice in it: messages, renames, a topic and a hostile message."""
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    alias_local = f"design-{uuid.uuid4().hex[:8]}"
    room = await create_room(
        synapse,
        bob,
        name="Design Draft",
        room_alias_name=alias_local,
        invite=[alice.user_id],
    )
    await join(synapse, alice, room)
    events = {
        "hello": await send(synapse, bob, room, "Hello Alice, welcome"),
        "rename": await set_state(synapse, bob, room, "m.room.name", {"name": "Design Review"}),
        "topic": await set_state(
            synapse, bob, room, "m.room.topic", {"topic": "Weekly <b>sync</b> & notes"}
        ),
        "evil": await send(
            synapse,
            bob,
            room,
            "<script>alert('body')</script>",
            format="org.matrix.custom.html",
            formatted_body='safe text<script>alert("x")</script><img src=x onerror="alert(1)">',
        ),
        "reply": await send(synapse, alice, room, "thanks **Bob**"),
    }
    return {
        "alice": alice,
        "bob": bob,
        "room_id": room,
        "alias": f"#{alias_local}:localhost",
        "events": events,
    }


def check_room_page(page: str, room: dict) -> None:
    room_id, events = room["room_id"], room["events"]
    bob, alice = room["bob"], room["alice"]
    assert '<h1 id="room-name">Design Review</h1>' in page
    assert (
        '<p class="room-topic" id="room-topic">Weekly &lt;b&gt;sync&lt;/b&gt; &amp; notes</p>'
        in (page)
    )
    assert f'data-room-id="{room_id}"' in page

    found = tiles(page)
    for event_id in events.values():
        assert event_id in found, (event_id, list(found))

    hello = found[events["hello"]]
    assert f'data-sender="{bob.user_id}"' in hello
    assert "event-message" in hello
    assert ">Bob Builder</span>" in hello
    assert tile_body(hello) == "Hello Alice, welcome"

    reply = found[events["reply"]]
    assert f'data-sender="{alice.user_id}"' in reply
    assert tile_body(reply) == "thanks **Bob**"  # sent as plain text by the other client

    # State changes are compact lines.
    def state_line(event_id: str) -> str:
        tile = found[event_id]
        assert "event-state" in tile, tile
        assert 'class="event-meta"' not in tile
        return text(re.search(r'<span class="state-line">(.*?)</span>', tile).group(1))

    assert state_line(events["rename"]) == "Bob Builder changed the room name to Design Review"
    assert (
        state_line(events["topic"]) == "Bob Builder changed the topic to Weekly <b>sync</b> & notes"
    )
    joins = [
        tile
        for tile in found.values()
        if "event-state" in tile and "Alice Liddell joined the room" in tile
    ]
    assert len(joins) == 1
    assert f'data-sender="{alice.user_id}"' in joins[0]
    assert any("Bob Builder invited Alice Liddell" in tile for tile in found.values())
    assert any("Bob Builder created the room" in tile for tile in found.values())

    # Events are in timeline order.
    positions = [page.index(f'data-event-id="{events[k]}"') for k in events]
    assert positions == sorted(positions)

    # Hostile HTML is not in the page at all.
    evil = tile_body(found[events["evil"]])
    assert "safe text" in evil
    assert "<script" not in evil
    assert "alert(" not in page
    assert "onerror" not in page
    assert "<img" not in page


async def test_room_page_by_id(async_client, synapse, design_room):
    credential = await sign_in(async_client, synapse, design_room["alice"])
    response = await async_client.get(room_url(design_room["room_id"]))
    assert response.status_code == 200
    page = response.content.decode()
    check_room_page(page, design_room)
    assert credential.access_token not in page

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    # No inline scripts for the policy to block.
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>[^<]+</script>", page)
    assert not re.search(r"\son[a-z]+\s*=", page)

    # The timeline partial serves the same tiles.
    partial = await async_client.get(reverse("rooms:timeline", args=[design_room["room_id"]]))
    assert partial.status_code == 200
    assert set(tiles(partial.content.decode())) >= set(design_room["events"].values())


async def test_room_page_by_alias(async_client, synapse, design_room):
    await sign_in(async_client, synapse, design_room["alice"])
    url = room_url(design_room["alias"])
    assert "%23" in url  # "#" cannot go into a path unescaped
    response = await async_client.get(url)
    assert response.status_code == 200
    check_room_page(response.content.decode(), design_room)


async def test_room_not_joined_is_404(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    others = await create_room(synapse, bob, name="Bob's Private Room")
    await sign_in(async_client, synapse, alice)

    response = await async_client.get(room_url(others))
    assert response.status_code == 404
    page = response.content.decode()
    assert "You are not a member of this room, or it does not exist." in page
    assert "Bob&#x27;s Private Room" not in page and "Bob's Private Room" not in page
    assert "Content-Security-Policy" in response.headers

    response = await async_client.get(room_url("#no-such-room:localhost"))
    assert response.status_code == 404
    assert "Room not found" in response.content.decode()


async def test_invited_room_page_leads_to_the_invitation(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    room = await create_room(synapse, bob, name="Invite Only", invite=[alice.user_id])
    await sign_in(async_client, synapse, alice)
    response = await async_client.get(room_url(room))
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:invitation", args=[room])


# -- sending without JavaScript ------------------------------------------------------------------


@pytest.fixture
async def chat(synapse, make_user):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    room = await create_room(synapse, bob, name="Send Test", invite=[alice.user_id])
    await join(synapse, alice, room)
    return {"alice": alice, "bob": bob, "room_id": room}


async def post_send(async_client, room_id: str, body: str, txn_id: str):
    return await async_client.post(
        reverse("rooms:send", args=[room_id]), {"body": body, "txn_id": txn_id}
    )


async def alice_messages(synapse, chat) -> list[dict]:
    return [
        event
        for event in await messages(synapse, chat["bob"], chat["room_id"])
        if event["type"] == "m.room.message" and event["sender"] == chat["alice"].user_id
    ]


async def test_no_js_send(async_client, synapse, chat):
    await sign_in(async_client, synapse, chat["alice"])
    room_id = chat["room_id"]

    response = await post_send(async_client, room_id, "plain words", "txnplain1")
    assert response.status_code == 302
    assert response["Location"] == room_url(room_id) + "#composer"
    response = await post_send(async_client, room_id, "some **bold** words", "txnmarkdown1")
    assert response.status_code == 302
    response = await post_send(async_client, room_id, "/me waves", "txnemote1")
    assert response.status_code == 302

    sent = await alice_messages(synapse, chat)
    assert [event["content"]["body"] for event in sent] == [
        "plain words",
        "some **bold** words",
        "waves",
    ]
    plain, markdown, emote = (event["content"] for event in sent)
    assert plain == {"msgtype": "m.text", "body": "plain words"}
    assert markdown["msgtype"] == "m.text"
    assert markdown["format"] == "org.matrix.custom.html"
    assert "<strong>bold</strong>" in markdown["formatted_body"]
    assert emote["msgtype"] == "m.emote"
    assert "formatted_body" not in emote

    # The page after the redirect shows what was sent.
    page = (await async_client.get(room_url(room_id))).content.decode()
    found = tiles(page)
    assert "<strong>bold</strong>" in tile_body(found[sent[1]["event_id"]])
    assert "waves" in text(tile_body(found[sent[2]["event_id"]]))
    assert "msgtype-emote" in found[sent[2]["event_id"]]


async def test_no_js_send_is_idempotent(async_client, synapse, chat):
    await sign_in(async_client, synapse, chat["alice"])
    for _ in range(3):
        response = await post_send(async_client, chat["room_id"], "only once", "txnonce42")
        assert response.status_code == 302
    sent = await alice_messages(synapse, chat)
    assert [event["content"]["body"] for event in sent] == ["only once"]


async def test_no_js_send_empty_body_sends_nothing(async_client, synapse, chat):
    await sign_in(async_client, synapse, chat["alice"])
    response = await post_send(async_client, chat["room_id"], "   ", "txnempty1")
    assert response.status_code == 302
    assert await alice_messages(synapse, chat) == []


async def test_no_js_send_rejected_keeps_draft(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    room = await create_room(
        synapse,
        bob,
        name="Announcements",
        invite=[alice.user_id],
        power_level_content_override={"events_default": 50},
    )
    await join(synapse, alice, room)
    with pytest.raises(MatrixAPIError) as refused:
        await send(synapse, alice, room, "sanity check: the server refuses Alice")
    assert refused.value.errcode == "M_FORBIDDEN"

    await sign_in(async_client, synapse, alice)
    draft = "my <b>draft</b> & thoughts\nsecond line"
    response = await post_send(async_client, room, draft, "txnrefused7")
    assert response.status_code == 400
    page = response.content.decode()
    error = re.search(r'<p class="error" id="send-error" role="alert">(.*?)</p>', page, re.S)
    assert error, page
    assert text(error.group(1)).startswith("Not sent: The homeserver refused this.")
    textarea = re.search(r'<textarea id="composer-body"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea and html.unescape(textarea.group(1)) == draft
    assert "<b>draft</b>" not in page  # kept as text, not markup
    assert '<input type="hidden" name="txn_id" value="txnrefused7">' in page
    assert '<h1 id="room-name">Announcements</h1>' in page  # still the room page

    # Nothing was sent; once allowed, re-submitting the same form sends it exactly once.
    bob_only = await messages(synapse, bob, room)
    assert not [
        e for e in bob_only if e["sender"] == alice.user_id and e["type"] == "m.room.message"
    ]
    levels = await api(synapse, bob, "GET", f"/rooms/{q(room)}/state/m.room.power_levels/")
    levels["users"][alice.user_id] = 50
    await set_state(synapse, bob, room, "m.room.power_levels", levels)
    for _ in range(2):
        response = await post_send(async_client, room, draft, "txnrefused7")
        assert response.status_code == 302
    sent = [
        e
        for e in await messages(synapse, bob, room)
        if e["sender"] == alice.user_id and e["type"] == "m.room.message"
    ]
    assert [e["content"]["body"] for e in sent] == [draft]
