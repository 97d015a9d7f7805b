"""Power levels as the spec rules them (webclient.matrix.power, and the check of a level
change in webclient.rooms.room_settings): who may act, on whom, and the creators of v12 rooms.

Pure functions: no homeserver, no client."""

from __future__ import annotations

from webclient.matrix import power
from webclient.matrix.power import power_of
from webclient.rooms.room_settings import check_level_change


def test_power_rules():
    levels = {"users": {"@a:x": 100, "@m:x": 50}, "users_default": 0, "kick": 50, "redact": 50}
    v10 = {"sender": "@a:x", "content": {"room_version": "10"}}
    assert power.can(levels, v10, "@m:x", "kick") and not power.can(levels, v10, "@u:x", "kick")
    assert power.can_act_on(levels, v10, "@a:x", "@m:x", "ban")
    assert not power.can_act_on(levels, v10, "@m:x", "@a:x", "kick")  # not above the target
    assert not power.can({}, v10, "@u:x", "redact")
    # Room v12: the creator is above everyone without being listed.
    v12 = {"sender": "@c:x", "content": {"room_version": "12"}}
    assert power.can_act_on({"users": {"@m:x": 50}}, v12, "@c:x", "@m:x", "ban")
    assert not power.can_act_on({"users": {"@m:x": 50}}, v12, "@m:x", "@c:x", "kick")


def test_level_rules_follow_the_spec():
    create = {"sender": "@c:x", "content": {"room_version": "12"}}
    levels = {"users": {"@mod:x": 50, "@peer:x": 50, "@low:x": 10}, "users_default": 0}
    assert power_of("@c:x", levels, create) == float("inf")
    assert check_level_change("@mod:x", "@low:x", 50, levels, create) == ""
    assert "above your own" in check_level_change("@mod:x", "@low:x", 100, levels, create)
    assert "at or above yours" in check_level_change("@mod:x", "@peer:x", 0, levels, create)
    assert check_level_change("@mod:x", "@mod:x", 0, levels, create) == ""  # demote oneself
    assert "created this room" in check_level_change("@c:x", "@c:x", 100, levels, create)
