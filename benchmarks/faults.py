"""Messages under faults: nothing lost, nothing doubled, nothing out of order.

1,000 messages received (a bare client PUTs them to the homeserver, each sent again with
its transaction ID until answered) and 200 typed in browsers (Chromium pages of one login
on two daphne processes, typing in the composer and pressing Enter), while these faults
happen one after another, `--gap` seconds apart:

  - the process that owns the typing login's device is SIGKILLed (and restarted);
  - Redis restarts (empty: no persistence);
  - PostgreSQL restarts;
  - the homeserver (Synapse) restarts;
  - every page's socket drops (the run's proxy in front of each process aborts them);
  - the homeserver answers 429: Synapse's own `rc_message` limit (a burst of 3, then 2 a
    second), which the typist is exempt from except during a burst of typing.

PostgreSQL, Redis and Synapse are the run's own (temporary directories, free ports), so
restarting them touches nothing else on the machine. Checked on every page (the timeline's
DOM, watched by a MutationObserver) and on the homeserver (the room's /messages): every
message exactly once, each sender's messages in order. Printed: the results per page, and
per fault how long delivery stopped (from the fault to the first message sent after it
showing on the slowest page) and the slowest typed send (Enter to the tile) around it.

    .venv/bin/python benchmarks/faults.py                    # 1,000 + 200, 15 s apart
    .venv/bin/python benchmarks/faults.py --received 200 --typed 40 --gap 10
    .venv/bin/python benchmarks/faults.py --check            # exit 1 if anything is wrong

The code is tests/fault_run.py, which tests/browser/test_faults.py runs smaller.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fault_run import FAULTS, run_faults, summary, table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--received", type=int, default=1000)
    parser.add_argument("--typed", type=int, default=200)
    parser.add_argument("--gap", type=float, default=15.0, help="seconds between faults")
    parser.add_argument("--faults", nargs="*", choices=FAULTS, default=list(FAULTS))
    parser.add_argument("--check", action="store_true", help="exit 1 unless all is well")
    parser.add_argument("--logs", action="store_true", help="print the daphne logs' tails")
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args()
    logs: list[str] = []
    result = run_faults(
        received=args.received,
        typed=args.typed,
        gap=args.gap,
        faults=tuple(args.faults),
        log=lambda line: print(line, flush=True),
        keep_logs=logs,
        keep_dir=args.keep,
    )
    print()
    print(summary(result))
    print()
    print(table(result))
    if args.logs:
        print("\n".join(logs))
    ok = result.ok and not result.send_failed
    print("\nOK: 0 lost, 0 doubled, in order" if ok else "\nFAILED")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
