"""Messages under faults, end to end and all real: Chromium pages on two daphne processes
of a private PostgreSQL, Redis and Synapse (tests/fault_run.py, which benchmarks/faults.py
runs with 1,000 + 200 messages). While a bare client sends and the pages type, the typing
login's owner process is SIGKILLed, Redis, PostgreSQL and the homeserver restart, every
page socket drops and the homeserver rate-limits the typing: every message shows once on
every page and is posted once, each sender's in order."""

from __future__ import annotations

import pytest

from tests.fault_run import run_faults, summary, table

# The kill last: restarting a daphne under load takes longest, and would push the others.
ORDER = (
    "sockets_drop",
    "redis_restart",
    "postgres_restart",
    "synapse_restart",
    "rate_limit",
    "kill_owner",
)


@pytest.mark.timeout(420)
def test_nothing_lost_doubled_or_out_of_order_under_faults():
    logs: list[str] = []
    # Pages of 8 events: more arrives during the takeover than a page fetched afresh holds,
    # so the page must fill the gap between what it showed and that page.
    result = run_faults(
        received=60,
        typed=30,
        gap=7.0,
        faults=ORDER,
        keep_logs=logs,
        server_env={"TIMELINE_PAGE_SIZE": "8"},
    )
    report = f"{summary(result)}\n{table(result)}"
    print(report)
    assert result.rate_limited > 0, f"the burst of typing was never rate-limited\n{report}"
    assert not result.send_failed, report
    for where in [*result.pages, "homeserver"]:
        assert result.lost[where] == [], f"lost on {where}\n{report}\n{logs[0][-3000:]}"
        assert result.doubled[where] == [], f"doubled on {where}\n{report}"
        assert result.disorder[where] == [], f"out of order on {where}\n{report}"
    # Every fault was got over: what was sent after it reached every page.
    for fault in result.faults:
        assert fault.received_gap is not None, f"{fault.name}: delivery never resumed\n{report}"
