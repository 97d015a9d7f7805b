"""Sum py-spy's collapsed stacks (`py-spy record --format raw`, fanout.py --profile) by function.

    .venv/bin/python benchmarks/stacks.py /tmp/prof/fanout-2000-0.txt --top 40

Prints, per function (file:name), the share of samples in which it is on the stack
("total") and at the top of it ("self"): where a process's CPU goes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME_RE = re.compile(r"^(?P<name>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    match = FRAME_RE.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match.group("file")
    short = "/".join(path.split("/")[-2:])
    return f"{short}:{match.group('name')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--grep", default="", help="only stacks containing this")
    args = parser.parse_args()
    total: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for path in args.files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit() or args.grep not in stack:
                continue
            n = int(count)
            samples += n
            frames = [frame_name(f) for f in stack.split(";") if f]
            for name in set(frames):
                total[name] += n
            if frames:
                own[frames[-1]] += n
    if not samples:
        print("no samples")
        return 1
    print(f"{samples} samples")
    print(f"{'total':>6} {'self':>6}  function")
    for name, n in total.most_common(args.top):
        print(f"{n / samples:6.1%} {own[name] / samples:6.1%}  {name}")
    print("\nby self time:")
    for name, n in own.most_common(args.top // 2):
        print(f"{n / samples:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
