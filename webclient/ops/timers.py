"""daphne's walk over every connection, a slice at a time, and keep-alive pings spread out.

Every two seconds daphne's `Server.timeout_checker` calls `check_timeouts()` on every
connection in one go: each enforces its timeouts and pings a websocket that has been quiet
for `ping_interval` (20 s). With the 5,000 screens of a kiosk wall on one process that walk
stalled the loop for 13 ms, and for 35-120 ms when the pings of sockets opened together fell
due together (autobahn's ping and the pong it reads back cost ~70 µs a socket; measured under
`benchmarks/fanout.py`): a push arriving meanwhile waited for all of it, which is what the
wall's slowest screens showed. Here:

- the walk is done in `SLICES` steps spread over the same period (every connection is still
  checked once per period, so timeouts and pings keep daphne's meaning and granularity);
- a new socket's first ping comes at a random point within its first interval, so the screens
  of a wall that connected together (after a restart, say) are pinged a few at a time from
  then on, instead of all at once every 20 s.

Installed by `ops.lifecycle` on daphne's server object when the first websocket arrives
(`spread`, once per process), and on each accepted socket (`first_ping_within_interval`).
"""

from __future__ import annotations

import random
import time
from typing import Any

#: Steps per period of daphne's walk (each checks every SLICES-th connection).
SLICES = 10
#: daphne's own period for `timeout_checker` (daphne/server.py).
TIMEOUT_PERIOD = 2.0


class SlicedTimeoutWalk:
    """Replaces a daphne `Server`'s `timeout_checker` (an instance attribute, which the
    method's own rescheduling, `reactor.callLater(2, self.timeout_checker)`, then finds)."""

    def __init__(self, server: Any, reactor: Any, slices: int = SLICES) -> None:
        self.server = server
        self.reactor = reactor
        self.slices = slices
        self.step = 0

    def __call__(self) -> None:
        try:
            for protocol in list(self.server.connections)[self.step :: self.slices]:
                protocol.check_timeouts()
        finally:
            self.step = (self.step + 1) % self.slices
            self.reactor.callLater(TIMEOUT_PERIOD / self.slices, self)


def spread(server: Any) -> bool:
    """Install the sliced walk on daphne's server once; False when it is not daphne's (or
    already installed)."""
    checker = getattr(server, "timeout_checker", None)
    if isinstance(checker, SlicedTimeoutWalk) or not callable(checker):
        return False
    if not hasattr(server, "connections"):
        return False
    from twisted.internet import reactor

    server.timeout_checker = SlicedTimeoutWalk(server, reactor)
    return True


def first_ping_within_interval(protocol: Any) -> None:
    """Date a newly accepted socket's last activity back by a random part of daphne's ping
    interval, so its first ping comes anywhere within that interval (later ones follow every
    interval, as daphne does)."""
    server = getattr(protocol, "server", None)
    interval = getattr(server, "ping_interval", None)
    if not isinstance(interval, int | float) or interval <= 0 or not hasattr(protocol, "last_ping"):
        return
    protocol.last_ping = time.time() - random.uniform(0, interval)
