"""Moderation against a real homeserver: controls follow the viewer's power level, actions
work when allowed, and a refusal from the homeserver is shown plainly."""

from __future__ import annotations

import pytest

from tests.client_helpers import asks_first, sign_in, synced_session
from tests.matrix_helpers import api, messages, q, send

db = pytest.mark.django_db(transaction=True)


async def member_state(hs, reader, room, user):
    path = f"/rooms/{q(room)}/state/m.room.member/{q(user.user_id)}"
    return await api(hs, reader.access_token, "GET", path)


async def set_level(hs, admin, room, user, level):
    path = f"/rooms/{q(room)}/state/m.room.power_levels/"
    levels = await api(hs, admin.access_token, "GET", path)
    levels.setdefault("users", {})[user.user_id] = level
    await api(hs, admin.access_token, "PUT", path, levels)


async def room_with(hs, owner, *others):
    room = (
        await api(
            hs,
            owner.access_token,
            "POST",
            "/createRoom",
            {"name": "Moderated", "invite": [u.user_id for u in others]},
        )
    )["room_id"]
    for user in others:
        await api(hs, user.access_token, "POST", f"/join/{q(room)}", {})
    return room


@db
async def test_without_power_controls_are_hidden_and_refusals_shown(
    async_client, synapse, make_user
):
    me = make_user("me")
    boss = make_user("boss", displayname="The Boss")
    room = await room_with(synapse, boss, me)
    theirs = await send(synapse, boss, room, "the boss speaks")
    credential = await sign_in(async_client, synapse, me)
    await synced_session(credential)

    page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert "data-can-redact" not in page
    person = (await async_client.get(f"/rooms/{room}/people/{boss.user_id}/")).content.decode()
    assert "The Boss" in person and 'value="kick"' not in person and 'value="ban"' not in person

    # Forcing the form anyway: the homeserver's refusal, shown as it is.
    refused = await async_client.post(
        f"/rooms/{room}/people/{boss.user_id}/",
        {"action": "kick", "reason": "try", "confirm": "yes"},
    )
    assert refused.status_code == 400
    assert "refused" in refused.content.decode()
    assert (await member_state(synapse, boss, room, boss))["membership"] == "join"

    # Removing someone else's message needs the power level.
    removed = await async_client.post(f"/rooms/{room}/event/{theirs}/delete/", {})
    assert removed.status_code == 400 and "own messages" in removed.content.decode()


@db
async def test_moderator_kicks_bans_unbans_and_removes(async_client, synapse, make_user):
    me = make_user("me")
    boss = make_user("boss")
    carol = make_user("carol", displayname="Carol Chatter")
    room = await room_with(synapse, boss, me, carol)
    await set_level(synapse, boss, room, me, 50)
    spam = await send(synapse, carol, room, "spam spam spam")
    credential = await sign_in(async_client, synapse, me)
    await synced_session(credential)

    page = (await async_client.get(f"/rooms/{room}/")).content.decode()
    assert 'data-can-redact="true"' in page
    person = (await async_client.get(f"/rooms/{room}/people/{carol.user_id}/")).content.decode()
    assert 'value="kick"' in person and 'value="ban"' in person
    # Not above the room's admin: no controls on them.
    boss_page = (await async_client.get(f"/rooms/{room}/people/{boss.user_id}/")).content.decode()
    assert 'value="kick"' not in boss_page

    response = await async_client.post(f"/rooms/{room}/event/{spam}/delete/", {"reason": "spam"})
    assert response.status_code == 302
    redactions = [e for e in await messages(synapse, boss, room) if e["type"] == "m.room.redaction"]
    assert any(e.get("redacts", e["content"].get("redacts")) == spam for e in redactions)

    # Without "I am sure" a page asks first, with the reason kept; nothing happens yet.
    asked = asks_first(
        await async_client.post(
            f"/rooms/{room}/people/{carol.user_id}/", {"action": "kick", "reason": "cool off"}
        ),
        "Remove Carol Chatter from",
    )
    assert asked["action"] == ["kick"] and asked["reason"] == ["cool off"]
    assert (await member_state(synapse, boss, room, carol))["membership"] == "join"
    response = await async_client.post(
        f"/rooms/{room}/people/{carol.user_id}/",
        {"action": "kick", "reason": "cool off", "confirm": "yes"},
    )
    assert response.status_code == 302
    state = await member_state(synapse, boss, room, carol)
    assert state["membership"] == "leave" and state.get("reason") == "cool off"

    response = await async_client.post(
        f"/rooms/{room}/people/{carol.user_id}/", {"action": "ban", "confirm": "yes"}
    )
    assert response.status_code == 302
    assert (await member_state(synapse, boss, room, carol))["membership"] == "ban"
    person = (await async_client.get(f"/rooms/{room}/people/{carol.user_id}/")).content.decode()
    assert 'value="unban"' in person and "banned" in person.lower()

    response = await async_client.post(
        f"/rooms/{room}/people/{carol.user_id}/", {"action": "unban"}
    )
    assert response.status_code == 302
    assert (await member_state(synapse, boss, room, carol))["membership"] == "leave"
