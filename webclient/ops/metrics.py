"""Prometheus metrics of this process, at `/metrics` (prometheus_client's text format).

Each daphne process has its own figures: Prometheus scrapes every process directly
(`127.0.0.1:8001/metrics`, `…:8002/metrics`), never through the load balancer, which would
answer from any one of them. Who may read them: METRICS_ALLOWED_IPS (loopback by default),
or anyone sending `Authorization: Bearer <METRICS_TOKEN>` when a token is set.

Counted where they happen, in the ASGI wrapper (webclient/ops/lifecycle.py): HTTP requests,
open websockets (viewers, by kind), sends confirmed and failed (the `sent` / `send_failed`
replies a page gets). Read at scrape time from the state of the modules that own it
(`SessionCollector`): the devices this process runs, their sync loops' status and how long
since each last synced, the encryption leases held, and the render cache's hits and misses.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# `*_created` series double every counter for nothing Prometheus uses.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "webclient_http_requests",
    "HTTP requests answered by this process, by method and status code.",
    ["method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "webclient_http_request_seconds",
    "Time from an HTTP request's arrival to the end of its response.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
OPEN_VIEWERS = Gauge(
    "webclient_open_viewers",
    "Open websockets of this process: pages of a signed-in person, embeds and kiosk screens.",
    ["kind"],
    registry=REGISTRY,
)
WEBSOCKETS_CLOSED = Counter(
    "webclient_websockets_closed",
    "Websockets closed by this process, by close code (1012: restarting).",
    ["code"],
    registry=REGISTRY,
)
SENDS = Counter(
    "webclient_sends",
    "Messages and actions sent from pages over the websocket and confirmed by the homeserver.",
    registry=REGISTRY,
)
SENDS_FAILED = Counter(
    "webclient_sends_failed",
    "Sends and actions from pages that failed (the page shows Retry, or the action's error).",
    ["kind"],
    registry=REGISTRY,
)
DRAINING = Gauge(
    "webclient_draining",
    "1 while this process is shutting down (closing sockets, handing devices over).",
    registry=REGISTRY,
)
for kind in ("page", "embed", "kiosk"):
    OPEN_VIEWERS.labels(kind)
for kind in ("message", "action"):
    SENDS_FAILED.labels(kind)


class SyncClock:
    """When each running session last completed a sync, from its `sync_count`.

    A session that records the time itself (`last_sync_at`, wall clock) is read directly;
    otherwise a change of `sync_count` seen by `observe()` (called every second by
    lifecycle.py's sampler, and at each scrape) stamps the time it was seen."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[int, float]] = {}

    def observe(self, sessions: Iterable[Any], now: float | None = None) -> dict[int, float]:
        """Seconds since each session's last sync, by session (id())."""
        now = time.time() if now is None else now
        ages: dict[int, float] = {}
        alive = set()
        for session in sessions:
            key = id(session)
            alive.add(key)
            stamped = getattr(session, "last_sync_at", None)
            count = getattr(session, "sync_count", 0)
            seen = self._seen.get(key)
            if seen is None or seen[0] != count:
                seen = (count, now)
                self._seen[key] = seen
            if isinstance(stamped, int | float) and stamped > 0:
                ages[key] = max(0.0, now - stamped)
            else:
                # Since the count last moved (or since the session was first seen, for one
                # whose first sync has not come back).
                ages[key] = max(0.0, now - seen[1])
        for key in list(self._seen):
            if key not in alive:
                del self._seen[key]
        return ages


SYNC_CLOCK = SyncClock()


def running_sessions() -> list[Any]:
    """The sessions this process runs (webclient/matrix/registry.py): the public accessor
    when the registry has one, else its table."""
    from webclient.matrix import registry

    listing = getattr(registry, "sessions", None)
    found = listing() if callable(listing) else getattr(registry, "_sessions", {}).values()
    return [s for s in list(found) if not getattr(s, "closed", False)]


class SessionCollector(Collector):
    """Figures read at scrape time from the modules that own them, without hooks in them."""

    def collect(self) -> Iterator[Any]:
        sessions = running_sessions()
        yield GaugeMetricFamily(
            "webclient_devices_owned",
            "Matrix devices whose sync loop runs in this process.",
            value=len(sessions),
        )
        by_status = GaugeMetricFamily(
            "webclient_devices_by_status",
            "Running sync loops by status (live, starting, retrying, offline).",
            labels=["status"],
        )
        counts: dict[str, int] = {"live": 0, "starting": 0, "retrying": 0, "offline": 0}
        for session in sessions:
            status = str(getattr(session, "status", "unknown"))
            counts[status] = counts.get(status, 0) + 1
        for status, count in sorted(counts.items()):
            by_status.add_metric([status], count)
        yield by_status
        leases = {
            lease.device_key
            for s in sessions
            if (lease := getattr(s, "lease", None)) is not None and getattr(lease, "held", False)
        }
        yield GaugeMetricFamily(
            "webclient_device_leases_held",
            "Device leases this process holds (it owns those devices: syncs, decrypts, "
            "publishes for every process).",
            value=len(leases),
        )
        yield GaugeMetricFamily(
            "webclient_session_viewers",
            "Pages attached to this process's sync loops (their sessions' viewer counts).",
            value=sum(int(getattr(s, "viewers", 0)) for s in sessions),
        )
        ages = SYNC_CLOCK.observe(sessions)
        yield GaugeMetricFamily(
            "webclient_sync_lag_seconds_max",
            "Seconds since the last completed /sync, for the device that waited longest "
            "(a healthy long-poll stays under MATRIX_SYNC_TIMEOUT_MS plus a few seconds).",
            value=max(ages.values(), default=0.0),
        )
        yield GaugeMetricFamily(
            "webclient_sync_lag_over_60s",
            "Devices whose last completed /sync is more than 60 seconds old.",
            value=sum(1 for age in ages.values() if age > 60),
        )
        from webclient.timeline import render

        stats = getattr(render, "CACHE_COUNTS", None)
        if stats is not None:
            yield CounterMetricFamily(
                "webclient_render_cache_hits",
                "Event tiles served from the render cache.",
                value=stats[0],
            )
            yield CounterMetricFamily(
                "webclient_render_cache_misses",
                "Event tiles rendered because the render cache did not have them.",
                value=stats[1],
            )


REGISTRY.register(SessionCollector())


def allowed(client_ip: str | None, authorization: str | None) -> bool:
    """Whether a scrape may read the figures: a listed address, or the token."""
    from django.conf import settings

    token = settings.METRICS_TOKEN
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True
    allowed_ips = settings.METRICS_ALLOWED_IPS
    return bool(client_ip) and ("*" in allowed_ips or client_ip in allowed_ips)


def exposition() -> tuple[bytes, str]:
    """The text format and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def websocket_kind(query_string: bytes) -> str:
    """What kind of viewer a websocket is, from its query (see live/consumer.py)."""
    if b"kiosk=" in query_string:
        return "kiosk"
    if b"ticket=" in query_string:
        return "embed"
    return "page"
