"""What Element users do, in Chromium against a real Synapse: react with any emoji from the
picker (and put one in the composer), slash commands and their help, drafts kept across
reloads and rooms, marking a room unread from the list, and URL previews under messages."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import (
    CS,
    event_tile,
    login_with_password,
    open_room,
    q,
    send_text,
    shared_room,
    type_and_send,
    wait_for_message,
)
from tests.preview_helpers import PageServer, page_html, preview_synapse
from tests.synapse_fixtures import matrix_api


def test_react_with_any_emoji_and_pick_one_for_the_composer(
    page, webclient_server, synapse, make_user
):
    me = make_user("me")
    bob = make_user("bob", displayname="Bob")
    room = shared_room(synapse, bob, me, name="Emoji room")
    theirs = send_text(synapse, bob, room, "we shipped it")
    login_with_password(page, webclient_server.url, synapse, me)
    open_room(page, webclient_server.url, room)

    tile = event_tile(page, theirs)
    tile.locator(".actions-toggle").click()
    tile.locator(".action-react-pick").click()
    picker = page.locator("#emoji-popover")
    expect(picker).to_be_visible()
    expect(picker.locator('[data-section="g0"] button.emoji').first).to_have_text("😀")
    picker.locator(".emoji-popover-search").fill("tada")
    picker.locator('.emoji-results button.emoji[data-key="🎉"]').click()
    expect(picker).to_be_hidden()
    chip = tile.locator('.reaction[data-key="🎉"]')
    expect(chip).to_have_class("reaction mine", timeout=15000)
    expect(chip.locator(".reaction-count")).to_have_text("1")
    reactions = matrix_api(
        synapse.url,
        bob.access_token,
        "GET",
        f"/_matrix/client/v1/rooms/{q(room)}/relations/{q(theirs)}",
    )
    assert any(e["content"]["m.relates_to"]["key"] == "🎉" for e in reactions["chunk"])

    # The composer's button: the picker again, "Recently used" first, then into the text.
    page.locator("#composer textarea").fill("well done ")
    page.locator("#composer-emoji").click()
    expect(picker.locator('[data-section="recent"] button.emoji').first).to_have_text("🎉")
    picker.locator(".emoji-popover-search").fill("rocket")
    picker.locator(".emoji-popover-search").press("Enter")
    expect(page.locator("#composer textarea")).to_have_value("well done 🚀")

    # Escape closes it without picking.
    page.locator("#composer-emoji").click()
    expect(picker).to_be_visible()
    page.keyboard.press("Escape")
    expect(picker).to_be_hidden()


def test_slash_commands_help_and_unknown(page, webclient_server, synapse, make_user):
    me = make_user("me")
    bob = make_user("bob")
    carol = make_user("carol")
    room = shared_room(synapse, me, bob, name="Commands")
    login_with_password(page, webclient_server.url, synapse, me)
    open_room(page, webclient_server.url, room)
    box = page.locator("#composer textarea")

    type_and_send(page, "/frobnicate now")
    expect(page.locator(".composer-note.error")).to_contain_text("Unknown command /frobnicate")
    expect(box).to_have_value("/frobnicate now")  # kept, nothing sent

    box.fill("/help")
    box.press("Enter")
    expect(page.locator("#commands")).to_have_attribute("open", "")
    expect(page.locator('#command-list [data-command="tableflip"]')).to_be_visible()

    type_and_send(page, "/shrug so it goes")
    event = wait_for_message(synapse, bob, room, lambda e: e["sender"] == me.user_id)
    assert event["content"] == {"msgtype": "m.text", "body": "¯\\_(ツ)_/¯ so it goes"}
    expect(page.locator("#timeline")).to_contain_text("¯\\_(ツ)_/¯ so it goes")

    type_and_send(page, f"/invite {carol.user_id}")
    expect(page.locator(".composer-note")).to_contain_text(f"Invited {carol.user_id}.")
    member = matrix_api(
        synapse.url,
        me.access_token,
        "GET",
        f"{CS}/rooms/{q(room)}/state/m.room.member/{q(carol.user_id)}",
    )
    assert member["membership"] == "invite"

    # A refused command gives its text back with the reason.
    type_and_send(page, "/op @nobody:localhost")
    expect(page.locator(".composer-note.error, #composer .error")).to_contain_text(
        "not in this room"
    )
    expect(box).to_have_value("/op @nobody:localhost")
    assert all(
        not e["content"].get("body", "").startswith("/")
        for e in [wait_for_message(synapse, bob, room, lambda e: e["sender"] == me.user_id)]
    )


def test_drafts_survive_reloads_and_rooms_and_go_when_sent(
    page, webclient_server, synapse, make_user
):
    me = make_user("me")
    bob = make_user("bob")
    first = shared_room(synapse, bob, me, name="First")
    second = shared_room(synapse, bob, me, name="Second")
    login_with_password(page, webclient_server.url, synapse, me)
    open_room(page, webclient_server.url, first)
    box = page.locator("#composer textarea")
    box.fill("half a thought")
    page.wait_for_timeout(500)
    page.reload()
    expect(box).to_have_value("half a thought")

    open_room(page, webclient_server.url, second)
    expect(box).to_have_value("")
    box.fill("another room, another draft")
    page.wait_for_timeout(500)
    open_room(page, webclient_server.url, first)
    expect(box).to_have_value("half a thought")

    box.press("End")
    box.type(", finished")
    box.press("Enter")
    wait_for_message(
        synapse, bob, first, lambda e: e["content"].get("body") == "half a thought, finished"
    )
    page.reload()
    expect(box).to_have_value("")
    open_room(page, webclient_server.url, second)
    expect(box).to_have_value("another room, another draft")


def test_mark_a_room_unread_from_the_list(page, webclient_server, synapse, make_user):
    me = make_user("me")
    bob = make_user("bob")
    room = shared_room(synapse, bob, me, name="Read me later")
    login_with_password(page, webclient_server.url, synapse, me)
    page.goto(f"{webclient_server.url}/rooms/")
    expect(page.locator("#room-list")).to_have_attribute("data-live", "true", timeout=15000)
    entry = page.locator(f'#rooms [data-room-entry="{room}"]')
    entry.hover()
    entry.locator("a.unread-toggle").click()
    expect(entry).to_have_class("room-entry has-unread marked-unread", timeout=15000)
    expect(entry.locator(".badge.marked")).to_be_visible()
    data = matrix_api(
        synapse.url,
        me.access_token,
        "GET",
        f"{CS}/user/{q(me.user_id)}/rooms/{q(room)}/account_data/m.marked_unread",
    )
    assert data == {"unread": True}

    entry = page.locator(f'#rooms [data-room-entry="{room}"]')
    entry.hover()
    expect(entry.locator("a.unread-toggle")).to_have_text("Mark as read")
    entry.locator("a.unread-toggle").click()
    expect(entry).to_have_class("room-entry", timeout=15000)


HOSTILE_TITLE = '<img src=x onerror="window.__hacked=1">Launch <script>window.__hacked=2</script>'


@pytest.fixture(scope="module")
def preview_hs(tmp_path_factory) -> Iterator:
    with preview_synapse(tmp_path_factory.mktemp("hs-previews-browser")) as server:
        yield server


def test_url_previews_under_messages(page, webclient_server, preview_hs, make_user):
    hs = preview_hs
    me = hs.register(f"me-{uuid.uuid4().hex[:8]}", "pw-secret-123")
    bob = hs.register(f"bob-{uuid.uuid4().hex[:8]}", "pw-secret-123")
    room = shared_room(hs, bob, me, name="Links")
    with PageServer({"/launch": page_html(HOSTILE_TITLE, "We <b>launched</b>.")}) as pages:
        login_with_password(page, webclient_server.url, hs, me)
        open_room(page, webclient_server.url, room)
        link = f"{pages.url}/launch"
        said = send_text(hs, bob, room, f"news: {link}")
        tile = event_tile(page, said)
        card = tile.locator(".url-preview")
        expect(card).to_be_visible(timeout=20000)
        expect(card.locator(".url-preview-title")).to_have_text(
            '<img src=x onerror="window.__hacked=1">Launch <script>window.__hacked=2</script>'
        )
        expect(card.locator(".url-preview-description")).to_have_text("We <b>launched</b>.")
        expect(card.locator(".url-preview-site")).to_have_text("Loopback News")
        assert card.locator("img.url-preview-image").get_attribute("src").startswith("/media/")
        assert page.evaluate("window.__hacked") is None
        assert card.locator("script").count() == 0

        # Hidden by its button, and stays hidden after a reload.
        card.locator(".url-preview-hide").click()
        expect(tile.locator(".url-preview")).to_have_count(0)
        page.reload()
        expect(event_tile(page, said)).to_be_visible()
        page.wait_for_timeout(1500)
        expect(event_tile(page, said).locator(".url-preview")).to_have_count(0)

        # Turned off for this room: no preview is asked for.
        page.goto(f"{webclient_server.url}/rooms/{q(room)}/settings/")
        page.locator("#room-previews-toggle").click()
        expect(page.locator("#room-previews-state")).to_contain_text("off")
        open_room(page, webclient_server.url, room)
        assert page.get_attribute("#room-features", "data-url-previews") == "off"


# -- hostile text in what this issue shows: room summaries and URL previews -----------------

CORPUS = json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "hostile_html.json").read_text("utf-8")
)
TRAPS = """
(() => {
  const hits = [];
  Object.defineProperty(window, "__hits", { value: hits });
  for (const name of ["alert", "confirm", "prompt", "print", "open"]) {
    const trap = (m) => { hits.push(name + ": " + m); };
    Object.defineProperty(window, name, { value: trap, writable: false });
  }
  document.addEventListener("securitypolicyviolation", (e) => {
    hits.push("csp: " + e.violatedDirective + " " + (e.sample || ""));
  }, true);
})();
"""
MARKUP_CHECK = """
(selector) => {
  const bad = [];
  for (const box of document.querySelectorAll(selector)) {
    for (const el of box.querySelectorAll("*")) {
      const tag = el.tagName.toUpperCase();
      if (["SCRIPT", "IFRAME", "OBJECT", "EMBED", "SVG", "STYLE", "FORM"].includes(tag)) {
        bad.push(tag);
      }
      for (const attr of el.attributes) {
        if (/^on/i.test(attr.name) || attr.name === "style") bad.push(tag + "@" + attr.name);
      }
    }
  }
  return bad;
}
"""


def _shown(text: str, limit: int) -> str:
    """Text as a summary or a preview shows it: one line, shortened."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _sample(count: int) -> list[str]:
    """Payloads that try to run something, spread over the corpus (the same every run)."""
    risky = [
        e["payload"] for e in CORPUS if re.search(r"(?i)script|on\w+=|javascript:", e["payload"])
    ]
    step = max(1, len(risky) // count)
    return risky[::step][:count]


def test_hostile_room_summaries_and_previews_stay_text(page, webclient_server, preview_hs):
    hs = preview_hs
    me = hs.register(f"me-{uuid.uuid4().hex[:8]}", "pw-secret-123")
    owner = hs.register(f"owner-{uuid.uuid4().hex[:8]}", "pw-secret-123")
    page.add_init_script(TRAPS)
    knock = {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}
    payloads = _sample(24)
    rooms = []
    for payload in payloads:
        body = {
            "preset": "private_chat",
            "name": payload[:250],
            "topic": payload,
            "initial_state": [knock],
        }
        rooms.append(
            matrix_api(hs.url, owner.access_token, "POST", f"{CS}/createRoom", body)["room_id"]
        )
    login_with_password(page, webclient_server.url, hs, me)
    for room, payload in zip(rooms, payloads, strict=True):
        page.goto(f"{webclient_server.url}/rooms/{q(room)}/")
        summary = page.locator("#room-summary")
        expect(summary).to_be_visible()
        assert summary.locator(".room-summary-topic").text_content() == _shown(payload, 1000)
        assert page.evaluate(MARKUP_CHECK, "#room-summary") == [], payload
    assert page.evaluate("window.__hits.slice()") == []

    # URL previews whose titles and descriptions are hostile pages' og: properties.
    room = shared_room(hs, owner, me, name="Hostile links")
    sample = _sample(8)
    with PageServer({f"/p{i}": page_html(p, p) for i, p in enumerate(sample)}) as pages:
        open_room(page, webclient_server.url, room)
        said = [
            send_text(hs, owner, room, f"{pages.url}/p{i} and {pages.url}/p{i + 1}")
            for i in range(0, len(sample), 2)
        ]
        for event_id in said:
            expect(event_tile(page, event_id).locator(".url-preview")).to_have_count(
                2, timeout=20000
            )
        assert page.evaluate(MARKUP_CHECK, ".url-previews") == []
        titles = page.locator(".url-preview-title").all_text_contents()
        assert sorted(titles) == sorted(_shown(p, 200) for p in sample)
    assert page.evaluate("window.__hits.slice()") == []
