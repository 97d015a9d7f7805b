"""Run one benchmark on two checkouts of the client, alternately, in one run.

A change is judged against the code before it, measured on the same machine at the same time
(noise on a shared 2-core machine is larger than most changes). This runs the named benchmark
script in checkout A, then in checkout B, for `--rounds` rounds, each with its own
interpreter (the checkout's `.venv`, else this one) and working directory, and prints every
run's output under its label, then the lines matching `--grep` side by side.

    git worktree add /tmp/before <commit>        # the code before the change
    .venv/bin/python benchmarks/compare.py --before /tmp/before --rounds 3 \\
        --grep "ratio|p50|tiles/s" -- latency.py -n 40

The script and its arguments come after `--`; it is looked up in each checkout's benchmarks/.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def interpreter(checkout: Path) -> str:
    candidate = checkout / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def run(label: str, checkout: Path, script: list[str]) -> str:
    command = [interpreter(checkout), str(checkout / "benchmarks" / script[0]), *script[1:]]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    took = time.monotonic() - started
    output = done.stdout + (f"\n[stderr]\n{done.stderr[-2000:]}" if done.returncode else "")
    print(f"===== {label} ({checkout}) exit {done.returncode} in {took:.0f} s =====")
    print(output, flush=True)
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old code")
    parser.add_argument("--after", type=Path, default=HERE, help="checkout of the new code")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternately")
    parser.add_argument("--grep", default="", help="regex of summary lines to tabulate")
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- script.py [arguments]")
    args = parser.parse_args()
    script = [part for part in args.script if part != "--"]
    if not script:
        parser.error("name the benchmark script after --")
    outputs: dict[str, list[str]] = {"before": [], "after": []}
    for round_number in range(1, args.rounds + 1):
        for label, checkout in (("before", args.before), ("after", args.after)):
            outputs[label].append(run(f"{label} #{round_number}", checkout.resolve(), script))
    if args.grep:
        pattern = re.compile(args.grep)
        print("===== summary =====")
        for label, runs in outputs.items():
            for number, text in enumerate(runs, 1):
                for line in text.splitlines():
                    if pattern.search(line):
                        print(f"{label} #{number}: {line.strip()}")


if __name__ == "__main__":
    main()
