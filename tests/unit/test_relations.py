"""The relations store: which tiles an event changes, and what each tile then shows."""

from webclient.matrix.relations import RoomEvents, has_tile

ALICE, BOB = "@alice:example.org", "@bob:example.org"


def msg(event_id, sender=ALICE, body="hi", ts=1, **content):
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.room.message",
        "origin_server_ts": ts,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def edit(event_id, target, body, sender=ALICE, ts=2):
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.room.message",
        "origin_server_ts": ts,
        "content": {
            "msgtype": "m.text",
            "body": f"* {body}",
            "m.new_content": {"msgtype": "m.text", "body": body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": target},
        },
    }


def reaction(event_id, target, key, sender=BOB):
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.reaction",
        "origin_server_ts": 3,
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}},
    }


def redaction(event_id, target, sender=ALICE):
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.room.redaction",
        "redacts": target,
        "origin_server_ts": 4,
        "content": {},
    }


def test_edit_changes_its_target_and_has_no_tile():
    store = RoomEvents("!r:x")
    store.add(msg("$a"))
    assert store.add(edit("$e", "$a", "better")) == {"$a"}
    tile = store.tile("$a")
    assert tile.edited and tile.event["content"]["body"] == "better"
    assert not has_tile(store.get("$e")) and store.tile("$e") is None


def test_edit_by_someone_else_is_ignored():
    store = RoomEvents()
    store.add(msg("$a"))
    store.add(edit("$e", "$a", "hijacked", sender=BOB))
    tile = store.tile("$a")
    assert not tile.edited and tile.event["content"]["body"] == "hi"


def test_newest_edit_wins_whatever_the_arrival_order():
    store = RoomEvents()
    store.add(msg("$a"))
    store.add(edit("$e2", "$a", "second", ts=20))
    store.add(edit("$e1", "$a", "first", ts=10))
    assert store.tile("$a").event["content"]["body"] == "second"


def test_edit_keeps_the_reply_relation_of_the_original():
    store = RoomEvents()
    store.add(msg("$root", sender=BOB))
    store.add(msg("$a", **{"m.relates_to": {"m.in_reply_to": {"event_id": "$root"}}}))
    store.add(edit("$e", "$a", "changed"))
    tile = store.tile("$a")
    assert tile.event["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": "$root"}}
    assert tile.reply_to["event_id"] == "$root"


def test_bundled_edit_from_the_server_applies():
    original = msg("$a")
    original["unsigned"] = {"m.relations": {"m.replace": edit("$e", "$a", "from bundle")}}
    store = RoomEvents()
    store.add(original)
    assert store.tile("$a").event["content"]["body"] == "from bundle"


def test_reactions_count_and_redacting_one_takes_it_back():
    store = RoomEvents()
    store.add(msg("$a"))
    assert store.add(reaction("$r1", "$a", "👍")) == {"$a"}
    store.add(reaction("$r2", "$a", "👍", sender=ALICE))
    store.add(reaction("$r3", "$a", "🎉"))
    assert store.tile("$a").reactions == [("👍", [ALICE, BOB]), ("🎉", [BOB])]
    assert store.my_reaction("$a", "👍", BOB) == "$r1"
    assert store.add(redaction("$x", "$r1", sender=BOB)) == {"$a"}
    assert store.tile("$a").reactions == [("👍", [ALICE]), ("🎉", [BOB])]
    assert store.my_reaction("$a", "👍", BOB) is None


def test_redaction_empties_the_message_and_its_tile_key_changes():
    store = RoomEvents()
    store.add(msg("$a"))
    before = store.tile("$a").cache_key()
    assert store.add(redaction("$x", "$a")) == {"$a"}
    tile = store.tile("$a")
    assert tile.redacted and tile.event["content"] == {}
    assert tile.cache_key() != before


def test_redacting_an_edit_restores_the_original():
    store = RoomEvents()
    store.add(msg("$a"))
    store.add(edit("$e", "$a", "changed"))
    assert store.add(redaction("$x", "$e")) == {"$a"}
    assert store.tile("$a").event["content"]["body"] == "hi"


def test_redaction_in_content_for_room_v11():
    store = RoomEvents()
    store.add(msg("$a"))
    event = redaction("$x", "$a")
    del event["redacts"]
    event["content"] = {"redacts": "$a"}
    assert store.add(event) == {"$a"}
    assert store.tile("$a").redacted


def test_thread_summary_counts_replies_once_and_keeps_the_latest():
    store = RoomEvents()
    store.add(msg("$root"))
    rel = {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}
    assert store.add(msg("$t1", sender=BOB, body="one", ts=5, **rel)) == {"$root"}
    store.add(msg("$t2", sender=BOB, body="two", ts=6, **rel))
    store.add(msg("$t1", sender=BOB, body="one", ts=5, **rel))  # seen again (sync + page)
    tile = store.tile("$root")
    assert tile.thread_count == 2 and tile.thread_latest["event_id"] == "$t2"
    assert store.latest_in_thread("$root") == "$t2"


def test_reply_to_an_unknown_event_is_marked_missing():
    store = RoomEvents()
    store.add(msg("$a", **{"m.relates_to": {"m.in_reply_to": {"event_id": "$gone"}}}))
    assert store.tile("$a").reply_to == {"event_id": "$gone", "missing": True}


def test_cache_key_changes_with_each_input_and_not_otherwise():
    store = RoomEvents()
    store.add(msg("$a"))
    keys = {store.tile("$a").cache_key()}
    store.add(reaction("$r", "$a", "👍"))
    keys.add(store.tile("$a").cache_key())
    store.add(edit("$e", "$a", "x"))
    keys.add(store.tile("$a").cache_key())
    assert len(keys) == 3
    assert store.tile("$a").cache_key() == store.tile("$a").cache_key()


def test_store_is_bounded():
    store = RoomEvents(limit=10)
    for i in range(50):
        store.add(msg(f"$m{i}"))
        store.add(reaction(f"$r{i}", f"$m{i}", "👍"))
    assert len(store.events) <= 10
    assert len(store.reactions) <= 10
