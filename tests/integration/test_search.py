"""Searching messages (`/search/` and `/rooms/<room>/search/`) against a real Synapse.

Other people write through plain client-server API calls; the person searching signs in
through the login form with `async_client`, so every page comes from the real views asking
the real homeserver's `/search`.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
from django.urls import reverse

from tests.client_helpers import sign_in
from tests.matrix_helpers import api, q, send, shared_room

pytestmark = pytest.mark.django_db(transaction=True)


# -- helpers ------------------------------------------------------------------------------------


def unique_word() -> str:
    """A word no other test's messages contain (Synapse's full-text search matches words)."""
    return "qx" + uuid.uuid4().hex[:12]


async def send_content(hs, user, room_id: str, content: dict[str, Any]) -> str:
    path = f"/rooms/{q(room_id)}/send/m.room.message/{uuid.uuid4().hex}"
    return (await api(hs, user.access_token, "PUT", path, content))["event_id"]


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def first(pattern: str, block: str) -> str | None:
    match = re.search(pattern, block, re.S)
    return match[1] if match else None


def results(page: str) -> list[dict[str, Any]]:
    """The results on a search page, in order: ids, room link, permalink, hit and context."""
    found = []
    for block in page.split('<li class="search-result"')[1:]:
        block = block.split("</li>")[0]
        before = first(r'<div class="search-context search-before">(.*?)</div>\s*<div', block)
        after = first(r'<div class="search-context search-after">(.*)</div>', block)
        hit = first(r'<div class="search-hit">(.*?)</div>\s*(?:<div|$)', block) or ""
        room_link = re.search(r'<a class="search-room" href="([^"]*)">([^<]*)</a>', block)
        found.append(
            {
                "event_id": html.unescape(first(r'data-event-id="([^"]*)"', block)),
                "room_id": html.unescape(first(r'data-room-id="([^"]*)"', block)),
                "permalink": html.unescape(first(r'class="permalink" href="([^"]*)"', block)),
                "room_name": html.unescape(room_link[2]) if room_link else None,
                "room_href": html.unescape(room_link[1]) if room_link else None,
                "before": text(before) if before else "",
                "after": text(after) if after else "",
                "hit": hit,
                "hit_text": text(hit),
                "block": block,
            }
        )
    return found


def more_link(page: str) -> str | None:
    match = re.search(r'<a class="search-more" id="search-more" href="([^"]*)"', page)
    return html.unescape(match[1]) if match else None


def count_line(page: str) -> str:
    match = re.search(r'<p class="search-count" id="search-count">(.*?)</p>', page, re.S)
    return text(match[1]) if match else ""


def search_url(term: str, room_id: str | None = None) -> str:
    base = reverse("rooms:room_search", args=[room_id]) if room_id else reverse("rooms:search")
    return f"{base}?{urlencode({'q': term})}"


async def get_page(async_client, url: str, status: int = 200) -> str:
    response = await async_client.get(url)
    assert response.status_code == status, response.content[:2000]
    return response.content.decode()


def assert_permalink(result: dict[str, Any], room_id: str, event_id: str) -> None:
    assert result["event_id"] == event_id
    assert unquote(result["permalink"]) == f"/rooms/{room_id}/event/{event_id}/"


# -- tests --------------------------------------------------------------------------------------


async def test_search_all_rooms_and_one_room(async_client, synapse, make_user):
    alice = make_user("alice", displayname="Alice Liddell")
    bob = make_user("bob", displayname="Bob Builder")
    word = unique_word()
    alpha = await shared_room(synapse, bob, alice, name="Alpha Room")
    beta = await shared_room(synapse, bob, alice, name="Beta Room")
    quiet = await shared_room(synapse, bob, alice, name="Quiet Room")
    await send(synapse, bob, alpha, "the kettle is on")
    in_alpha = await send(synapse, bob, alpha, f"have you seen the {word} yet")
    await send(synapse, alice, alpha, "not yet, later")
    await send(synapse, bob, beta, "in beta")
    in_beta = await send(synapse, alice, beta, f"a {word} in beta as well")
    await send(synapse, bob, quiet, "nothing to find here")
    await sign_in(async_client, synapse, alice)

    # Every room: both hits, newest first, each with its room's name, link and permalink.
    page = await get_page(async_client, search_url(word))
    found = results(page)
    assert [r["event_id"] for r in found] == [in_beta, in_alpha]
    assert count_line(page) == f"2 results for “{word}”"
    beta_hit, alpha_hit = found
    assert_permalink(alpha_hit, alpha, in_alpha)
    assert_permalink(beta_hit, beta, in_beta)
    assert (alpha_hit["room_id"], alpha_hit["room_name"]) == (alpha, "Alpha Room")
    assert (beta_hit["room_id"], beta_hit["room_name"]) == (beta, "Beta Room")
    assert alpha_hit["room_href"] == reverse("rooms:room", args=[alpha])
    # The hit is the timeline's tile: sender's name, body, the event's ID.
    assert f'data-event-id="{in_alpha}"' in alpha_hit["hit"]
    assert '<article class="event ' in alpha_hit["hit"]
    assert "Bob Builder" in alpha_hit["hit_text"]
    assert f"have you seen the {word} yet" in alpha_hit["hit_text"]
    # Alice's own message is marked as hers, as in the timeline.
    assert re.search(r'<article class="event [^"]*\bmine\b', beta_hit["hit"])
    # The messages just before and after, in the muted context.
    assert alpha_hit["before"].endswith("the kettle is on")
    assert "Bob Builder" in alpha_hit["before"]
    assert alpha_hit["after"].endswith("not yet, later")
    assert "Alice Liddell" in alpha_hit["after"]
    assert beta_hit["before"].endswith("in beta")
    assert beta_hit["after"] == ""
    assert quiet not in page

    # One room: only its own hit, without the room name repeated on every result.
    page = await get_page(async_client, search_url(word, alpha))
    found = results(page)
    assert [r["event_id"] for r in found] == [in_alpha]
    assert_permalink(found[0], alpha, in_alpha)
    assert found[0]["room_name"] is None
    assert count_line(page) == f"1 result for “{word}”"
    assert "Search in Alpha Room" in page
    assert html.escape(search_url(word)) in page  # "Search all rooms instead" keeps the term
    page = await get_page(async_client, search_url(word, beta))
    assert [r["event_id"] for r in results(page)] == [in_beta]
    page = await get_page(async_client, search_url(word, quiet))
    assert results(page) == []
    assert f"No messages match “{word}” in this room." in text(page)


async def test_search_boxes_on_room_and_room_list(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Boxes")
    await sign_in(async_client, synapse, alice)
    page = await get_page(async_client, reverse("rooms:room", args=[room]))
    form = re.search(r'<form class="search-box" id="room-search-form"[^>]*>.*?</form>', page, re.S)
    assert form, page
    assert f'action="{reverse("rooms:room_search", args=[room])}"' in form[0]
    assert 'method="get"' in form[0] and 'name="q"' in form[0]
    page = await get_page(async_client, reverse("rooms:list"))
    form = re.search(r'<form class="search-box" id="rooms-search-form"[^>]*>.*?</form>', page, re.S)
    assert form, page
    assert f'action="{reverse("rooms:search")}"' in form[0]
    assert 'method="get"' in form[0] and 'name="q"' in form[0]


async def test_search_pagination(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob Builder")
    word = unique_word()
    room = await shared_room(synapse, bob, alice, name="Busy Room")
    sent = [await send(synapse, bob, room, f"{word} number {i}") for i in range(13)]
    await sign_in(async_client, synapse, alice)

    page = await get_page(async_client, search_url(word))
    first = [r["event_id"] for r in results(page)]
    assert first == list(reversed(sent))[:10]  # the server's default page, newest first
    assert count_line(page) == f"13 results for “{word}”"
    link = more_link(page)
    assert link and link.startswith(reverse("rooms:search") + "?")
    assert f"q={word}" in link and "next_batch=" in link

    page = await get_page(async_client, link)
    second = [r["event_id"] for r in results(page)]
    assert second == list(reversed(sent))[10:]
    assert count_line(page) == f"Results 11–13 of 13 for “{word}”"
    assert more_link(page) is None
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(sent)
    # The search box on the later page still holds the term.
    assert f'name="q" value="{word}"' in page

    # The same in one room.
    page = await get_page(async_client, search_url(word, room))
    assert len(results(page)) == 10
    link = more_link(page)
    assert link and link.startswith(reverse("rooms:room_search", args=[room]) + "?")
    page = await get_page(async_client, link)
    assert [r["event_id"] for r in results(page)] == list(reversed(sent))[10:]


async def test_hostile_content_is_escaped_or_sanitized(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob", displayname='Bob <img src=x onerror="alert(9)">')
    word = unique_word()
    room = await shared_room(synapse, bob, alice, name='Room <script>alert("name")</script>')
    plain = await send(
        synapse, bob, room, f'<script>alert("plain")</script> {word} <img src=x onerror=alert(1)>'
    )
    formatted = await send_content(
        synapse,
        bob,
        room,
        {
            "msgtype": "m.text",
            "body": f"{word} formatted",
            "format": "org.matrix.custom.html",
            "formatted_body": f'<b>{word}</b> <script>alert("f")</script>'
            '<img src="https://evil.example/x.png" onerror="alert(2)">'
            '<a href="javascript:alert(3)">click</a><iframe src="https://evil.example"></iframe>',
        },
    )
    await sign_in(async_client, synapse, alice)
    page = await get_page(async_client, search_url(word))
    found = {r["event_id"]: r for r in results(page)}
    assert set(found) == {plain, formatted}
    # Nothing hostile survives as markup: no scripts, handlers, frames or foreign loads.
    tags = re.findall(r"<[^>]*>", page)
    assert not [t for t in tags if re.search(r"onerror|javascript:|evil\.example", t, re.I)]
    own_scripts = re.compile(
        r'<script (type="module" src="/static/js/[\w.-]+\.js"|src="/jsi18n/" defer)>$'
    )
    assert not [
        t for t in tags if re.match(r"<(script|iframe)\b", t, re.I) and not own_scripts.match(t)
    ]
    # The plain message's markup shows as text.
    assert "&lt;script&gt;alert(" in found[plain]["hit"]
    assert (
        f'<script>alert("plain")</script> {word} <img src=x onerror=alert(1)>'
        in (found[plain]["hit_text"])
    )
    # The formatted message keeps its allowed markup only.
    assert f"<strong>{word}</strong>" in found[formatted]["hit"] or (
        f"<b>{word}</b>" in found[formatted]["hit"]
    )
    assert "click" in found[formatted]["hit_text"]
    # The room's name (shown with each result) is text.
    assert found[plain]["room_name"] == 'Room <script>alert("name")</script>'

    # The term is shown back escaped, in the box and in the sentence.
    hostile_term = f'"><script>alert(4)</script>{unique_word()}'
    page = await get_page(async_client, search_url(hostile_term))
    assert "<script>alert(4)" not in page
    assert html.escape(hostile_term) in page
    assert results(page) == []


async def test_no_results_and_empty_query(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Nothing Here")
    await send(synapse, bob, room, "some ordinary words")
    await sign_in(async_client, synapse, alice)
    searches_before = synapse.count_requests("/_matrix/client/v3/search", alice.user_id)

    # No query: the form only, and the homeserver is not asked.
    for url in (reverse("rooms:search"), reverse("rooms:search") + "?q=+++"):
        page = await get_page(async_client, url)
        assert 'id="search-form"' in page
        assert 'id="search-results"' not in page
        assert 'id="search-empty"' not in page
        assert 'id="search-error"' not in page
    page = await get_page(async_client, reverse("rooms:room_search", args=[room]))
    assert 'id="search-form"' in page and "Search in Nothing Here" in page
    assert synapse.count_requests("/_matrix/client/v3/search", alice.user_id) == searches_before

    word = unique_word()
    page = await get_page(async_client, search_url(word))
    assert 'id="search-results"' not in page
    assert f"No messages match “{word}”." in text(page)
    assert more_link(page) is None
    assert synapse.count_requests("/_matrix/client/v3/search", alice.user_id) > searches_before


async def test_edited_message_is_found_by_its_new_text(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob Builder")
    word = unique_word()
    room = await shared_room(synapse, bob, alice, name="Edits")
    original = await send(synapse, bob, room, "first draft")
    await send_content(
        synapse,
        bob,
        room,
        {
            "msgtype": "m.text",
            "body": f"* final {word}",
            "m.new_content": {"msgtype": "m.text", "body": f"final {word}"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        },
    )
    await sign_in(async_client, synapse, alice)
    page = await get_page(async_client, search_url(word, room))
    found = results(page)
    # The edit matched; the result is the message it edits, showing its new text.
    assert [r["event_id"] for r in found] == [original]
    assert_permalink(found[0], room, original)
    assert f"final {word}" in found[0]["hit_text"]
    assert "(edited)" in found[0]["hit_text"]
    assert "* final" not in found[0]["hit_text"]


async def test_errors_are_shown_plainly(async_client, synapse, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    room = await shared_room(synapse, bob, alice, name="Errors")
    await sign_in(async_client, synapse, alice)
    # A page token the homeserver does not accept.
    url = search_url("anything") + "&next_batch=not-a-real-token"
    page = await get_page(async_client, url, status=502)
    error = re.search(r'<p class="error" id="search-error" role="alert">(.*?)</p>', page, re.S)
    assert error and text(error[1]).startswith("Searching:"), page
    assert 'id="search-form"' in page
    # Too long a search is refused before asking the homeserver.
    page = await get_page(async_client, search_url("x" * 501, room), status=400)
    assert "too long" in page

    # A room one is not in.
    stranger_room = (
        await api(synapse, bob.access_token, "POST", "/createRoom", {"name": "Private"})
    )["room_id"]
    page = await get_page(async_client, search_url("anything", stranger_room), status=404)
    assert "not a member" in page


async def test_search_needs_login(async_client):
    for url in (search_url("secret"), search_url("secret", "!room:localhost")):
        response = await async_client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
