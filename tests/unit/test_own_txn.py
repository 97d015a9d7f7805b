"""A page fetching its timeline afresh (after a reconnect, a new owner, a Redis restart)
must drop the local echo of a message the fetched page already shows: the viewer's own
messages carry the transaction ID they were sent with (`data-own-txn`), which live.js
matches with its echoes' `data-txn-id`."""

from webclient.timeline.render import for_viewer

ALICE = "@alice:localhost"
BOB = "@bob:localhost"


def item(sender: str, txn_id: str | None) -> dict:
    return {
        "event_id": "$e1",
        "sender": sender,
        "txn_id": txn_id,
        "html": '<article class="event event-message" data-event-id="$e1">hi</article>',
    }


def test_own_message_carries_its_transaction_id():
    html = for_viewer([item(ALICE, "wc0123abcd")], ALICE)[0]["html"]
    assert html.startswith('<article data-own-txn="wc0123abcd" class="event mine ')


def test_transaction_id_is_escaped_and_only_on_own_messages():
    html = for_viewer([item(ALICE, 'a"><script>')], ALICE)[0]["html"]
    assert "<script>" not in html and 'data-own-txn="a&quot;&gt;&lt;script&gt;"' in html
    assert "data-own-txn" not in for_viewer([item(BOB, "wc1")], ALICE)[0]["html"]
    assert "data-own-txn" not in for_viewer([item(ALICE, None)], ALICE)[0]["html"]
