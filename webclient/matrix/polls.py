"""Polls (MSC3381), as Element sends them and in their stable names: reading a poll's start,
its responses and its end, and counting the votes by the proposal's rules.

Element (matrix-js-sdk's `PollStartEvent`, `PollResponseEvent`, `PollEndEvent`) sends the
unstable names: `org.matrix.msc3381.poll.start` with its poll under the same key, texts in
`org.matrix.msc1767.text`, answers `{"id", "org.matrix.msc1767.text"}`; responses with
`{"answers": [...]}`; ends with an empty block and a text. The stable names are `m.poll.*`
(with `m.text`); the latest proposal text nests the poll in `m.poll` with `m.id` answers
and `m.selections` responses. All are read; replies go out in the poll's own namespace.

Counting (MSC3381): each user's latest response (by `origin_server_ts`) on or before the
poll's end counts; a response naming an unknown answer, or none, spoils that user's vote;
selections past `max_selections` are dropped, repeats count once. An end counts only from
the poll's sender or someone who may redact others' events; the earliest valid one wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

UNSTABLE_START = "org.matrix.msc3381.poll.start"
UNSTABLE_RESPONSE = "org.matrix.msc3381.poll.response"
UNSTABLE_END = "org.matrix.msc3381.poll.end"
STABLE_START = "m.poll.start"
STABLE_RESPONSE = "m.poll.response"
STABLE_END = "m.poll.end"
START_TYPES = frozenset({UNSTABLE_START, STABLE_START})
RESPONSE_TYPES = frozenset({UNSTABLE_RESPONSE, STABLE_RESPONSE})
END_TYPES = frozenset({UNSTABLE_END, STABLE_END})
DISCLOSED = frozenset({"org.matrix.msc3381.poll.disclosed", "m.poll.disclosed", "m.disclosed"})
UNSTABLE_TEXT = "org.matrix.msc1767.text"
REFERENCE = "m.reference"
MAX_ANSWERS = 20  # "The array is truncated to 20 maximum options."
MAX_TEXT = 1000


def _text(block: Any) -> str:
    """The plain text of an extensible-events text block (a string, or renderings)."""
    if not isinstance(block, Mapping):
        return ""
    for key in (UNSTABLE_TEXT, "m.text", "org.matrix.msc1767.message", "m.message"):
        value = block.get(key)
        if isinstance(value, str):
            return value[:MAX_TEXT]
        if isinstance(value, list):
            for rendering in value:
                if (
                    isinstance(rendering, Mapping)
                    and isinstance(rendering.get("body"), str)
                    and rendering.get("mimetype", "text/plain") == "text/plain"
                ):
                    return rendering["body"][:MAX_TEXT]
    body = block.get("body")
    return body[:MAX_TEXT] if isinstance(body, str) else ""


def fallback_text(content: Mapping[str, Any]) -> str:
    """What a client that knows no polls shows of a poll event: its text fallback."""
    return _text(content)


@dataclass(frozen=True)
class Poll:
    question: str
    answers: tuple[tuple[str, str], ...]  # (id, text), in the sender's order
    disclosed: bool
    max_selections: int
    stable: bool

    @property
    def answer_ids(self) -> frozenset[str]:
        return frozenset(answer_id for answer_id, _ in self.answers)

    def text_of(self, answer_id: str) -> str:
        return next((text for aid, text in self.answers if aid == answer_id), answer_id)


def parse_start(event_type: str, content: Mapping[str, Any]) -> Poll | None:
    """The poll of a start event; None when it is malformed (its text fallback then shows)."""
    if event_type not in START_TYPES or not isinstance(content, Mapping):
        return None
    block = None
    for key in (UNSTABLE_START, STABLE_START, "m.poll"):
        if isinstance(content.get(key), Mapping):
            block = content[key]
            break
    if block is None:
        return None
    question = _text(block.get("question"))
    raw_answers = block.get("answers")
    if not question.strip() or not isinstance(raw_answers, list):
        return None
    answers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in raw_answers[:MAX_ANSWERS]:
        if not isinstance(raw, Mapping):
            continue
        answer_id = raw.get("id", raw.get("m.id"))
        if not isinstance(answer_id, str) or not answer_id or answer_id in seen:
            continue
        seen.add(answer_id)
        answers.append((answer_id[:200], _text(raw) or answer_id[:200]))
    if not answers:
        return None
    max_selections = block.get("max_selections")
    if not isinstance(max_selections, int) or isinstance(max_selections, bool):
        max_selections = 1
    return Poll(
        question=question,
        answers=tuple(answers),
        disclosed=block.get("kind") in DISCLOSED,
        max_selections=max(1, min(max_selections, len(answers))),
        stable=event_type == STABLE_START,
    )


def response_selections(content: Mapping[str, Any]) -> list[str] | None:
    """The answer IDs a response names; None when it names none in a readable way."""
    for key in (UNSTABLE_RESPONSE, STABLE_RESPONSE):
        block = content.get(key)
        if isinstance(block, Mapping):
            answers = block.get("answers")
            break
    else:
        answers = content.get("m.selections")
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        return None
    return answers


@dataclass(frozen=True)
class Vote:
    sender: str
    ts: int
    event_id: str
    selections: tuple[str, ...] | None  # None: unreadable


@dataclass(frozen=True)
class End:
    sender: str
    ts: int
    event_id: str


@dataclass
class Tally:
    """The result of a poll as far as this client knows it."""

    votes: dict[str, list[str]] = field(default_factory=dict)  # answer ID -> voters, sorted
    voters: int = 0  # people whose vote counts
    ended: bool = False
    end_event: str = ""

    def key(self) -> str:
        return repr((sorted(self.votes.items()), self.voters, self.ended, self.end_event))

    def top_answers(self) -> list[str]:
        best = max((len(v) for v in self.votes.values()), default=0)
        return [a for a, v in self.votes.items() if best and len(v) == best]


def valid_end(ends: Iterable[End], poll_sender: str, may_end: Any) -> End | None:
    """The earliest end from the poll's sender or from someone with the power to redact."""
    valid = [e for e in ends if e.sender == poll_sender or (may_end and may_end(e.sender))]
    return min(valid, key=lambda e: (e.ts, e.event_id), default=None)


def tally(poll: Poll, votes: Iterable[Vote], end: End | None) -> Tally:
    latest: dict[str, Vote] = {}
    for vote in votes:
        if end is not None and vote.ts > end.ts:
            continue  # "Votes with timestamps after the poll has closed are ignored"
        current = latest.get(vote.sender)
        if current is None or (vote.ts, vote.event_id) > (current.ts, current.event_id):
            latest[vote.sender] = vote
    counts: dict[str, list[str]] = {answer_id: [] for answer_id, _ in poll.answers}
    voters = 0
    for sender, vote in latest.items():
        selections = vote.selections
        if not selections or any(s not in counts for s in selections):
            continue  # spoiled, or taken back with an empty selection
        chosen = list(dict.fromkeys(selections[: poll.max_selections]))
        for answer_id in chosen:
            counts[answer_id].append(sender)
        voters += 1
    for answer_id in counts:
        counts[answer_id].sort()
    return Tally(
        votes=counts,
        voters=voters,
        ended=end is not None,
        end_event=end.event_id if end is not None else "",
    )


def my_selections(result: Tally, user_id: str) -> list[str]:
    return [a for a, voters in result.votes.items() if user_id in voters]


def response_content(poll: Poll, poll_id: str, selections: list[str]) -> tuple[str, dict]:
    """(event type, content) of a vote, as matrix-js-sdk's `PollResponseEvent` makes it."""
    relation = {"rel_type": REFERENCE, "event_id": poll_id}
    if poll.stable:
        return STABLE_RESPONSE, {
            "m.relates_to": relation,
            STABLE_RESPONSE: {"answers": selections},
            "m.selections": selections,
        }
    return UNSTABLE_RESPONSE, {"m.relates_to": relation, UNSTABLE_RESPONSE: {"answers": selections}}


def end_message(poll: Poll, result: Tally) -> str:
    """Element's closing text (the fallback of the end event)."""
    top = result.top_answers()
    if not top:
        return _("The poll has ended. No votes were cast.")
    return _("The poll has ended. Top answer: %(answers)s") % {
        "answers": ", ".join(poll.text_of(a) for a in top)
    }


def end_content(poll: Poll, poll_id: str, message: str) -> tuple[str, dict]:
    """(event type, content) of an end, as matrix-js-sdk's `PollEndEvent` serialises it."""
    relation = {"rel_type": REFERENCE, "event_id": poll_id}
    if poll.stable:
        return STABLE_END, {
            "m.relates_to": relation,
            STABLE_END: {},
            "m.text": [{"body": message}],
            "body": message,
            "msgtype": "m.text",
        }
    return UNSTABLE_END, {
        "m.relates_to": relation,
        UNSTABLE_END: {},
        UNSTABLE_TEXT: message,
        "body": message,
        "msgtype": "m.text",
    }
