"""Render events to HTML fragments, once per event: every viewer gets the same bytes.

Events are immutable (edits and redactions are new events that re-render their target), so
a fragment is cached by event ID. The cache version changes when templates change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.cache import cache
from django.template.loader import render_to_string

from . import viewmodels

logger = logging.getLogger("webclient.timeline")

RENDER_VERSION = "2"
CACHE_SECONDS = 60 * 60 * 24


def _key(event_id: str) -> str:
    return f"event-html:{RENDER_VERSION}:{event_id}"


def render_view(view: viewmodels.EventView) -> str:
    return render_to_string("events/tile.html", {"view": view})


def render_event_uncached(event: Mapping[str, Any], members: Mapping[str, dict]) -> str:
    """The fragment of one event; '' when the event has no tile."""
    try:
        view = viewmodels.build(event, members)
    except Exception:
        # A malformed event gets a placeholder tile, never a broken page.
        logger.exception("could not build a view of %s", event.get("event_id"))
        view = viewmodels.EventView(
            event_id=str(event.get("event_id", "")),
            sender=str(event.get("sender", "")),
            sender_name=str(event.get("sender", "")),
            timestamp=None,
            template="events/unrenderable.html",
            kind="message",
            css="unrenderable",
        )
    return render_view(view) if view else ""


def render_events(
    events: Iterable[Mapping[str, Any]], members: Mapping[str, dict]
) -> list[dict[str, Any]]:
    """Fragments for a run of events, as `{event_id, html, txn_id}` (txn_id for local echo)."""
    events = [e for e in events if isinstance(e.get("event_id"), str)]
    cached = cache.get_many([_key(e["event_id"]) for e in events])
    fresh: dict[str, str] = {}
    items = []
    for event in events:
        key = _key(event["event_id"])
        html = cached.get(key)
        if html is None:
            html = render_event_uncached(event, members)
            fresh[key] = html
        unsigned = event.get("unsigned") if isinstance(event.get("unsigned"), dict) else {}
        txn_id = unsigned.get("transaction_id")
        items.append(
            {
                "event_id": event["event_id"],
                "html": html,
                "txn_id": txn_id if isinstance(txn_id, str) else None,
            }
        )
    if fresh:
        cache.set_many(fresh, CACHE_SECONDS)
    return items
