"""daphne's walk over its connections, a slice at a time (webclient/ops/timers.py): every
connection is still checked once per daphne's period, never twice, and the walk goes on after
a failing check; a new socket's first ping falls within its first interval."""

from __future__ import annotations

import time

import pytest

from webclient.ops import timers


class Protocol:
    def __init__(self, checks: list[int], n: int) -> None:
        self.checks, self.n = checks, n

    def check_timeouts(self) -> None:
        self.checks.append(self.n)


class Reactor:
    def __init__(self) -> None:
        self.scheduled: list[tuple[float, object]] = []

    def callLater(self, delay: float, call: object) -> None:  # noqa: N802 - Twisted's name
        self.scheduled.append((delay, call))


class Server:
    ping_interval = 20

    def __init__(self, n: int) -> None:
        self.checks: list[int] = []
        self.connections = {Protocol(self.checks, i): {} for i in range(n)}

    def timeout_checker(self) -> None:
        raise AssertionError("daphne's own walk should have been replaced")


def test_each_connection_is_checked_once_per_period_in_slices():
    server, reactor = Server(103), Reactor()
    walk = timers.SlicedTimeoutWalk(server, reactor)
    sizes = []
    for _ in range(timers.SLICES):
        before = len(server.checks)
        walk()
        sizes.append(len(server.checks) - before)
    assert sorted(server.checks) == list(range(103))  # all of them, once
    assert max(sizes) <= 11  # a tenth at a time, not 103 in one go
    assert [delay for delay, _ in reactor.scheduled] == [0.2] * timers.SLICES
    assert all(call is walk for _, call in reactor.scheduled)


def test_a_failing_check_does_not_stop_the_walk():
    server, reactor = Server(3), Reactor()
    walk = timers.SlicedTimeoutWalk(server, reactor, slices=1)
    broken = next(iter(server.connections))
    broken.check_timeouts = lambda: 1 / 0
    with pytest.raises(ZeroDivisionError):
        walk()
    assert reactor.scheduled == [(2.0, walk)]


def test_spread_replaces_daphnes_walk_once(monkeypatch):
    server = Server(2)
    assert timers.spread(server)
    assert isinstance(server.timeout_checker, timers.SlicedTimeoutWalk)
    installed = server.timeout_checker
    assert not timers.spread(server)
    assert server.timeout_checker is installed
    assert not timers.spread(object())  # not daphne's server: left alone


def test_a_new_sockets_first_ping_falls_within_its_first_interval():
    server = Server(0)
    times = []
    for _ in range(200):
        protocol = type("P", (), {"server": server, "last_ping": time.time()})()
        now = time.time()
        timers.first_ping_within_interval(protocol)
        times.append(now - protocol.last_ping)
    assert all(-0.01 <= t <= 20.01 for t in times)
    assert max(times) - min(times) > 10  # spread over the interval, not all alike
