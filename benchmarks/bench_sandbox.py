"""What the MBPP sandbox costs per item: bubblewrap + limits vs the same harness unsandboxed vs a bare
interpreter start. Prints a markdown table (no target: the numbers say what an MBPP run of 500 items pays).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sandbox.py [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from basesel.bench import sandbox
from basesel.bench.sandbox import run_untrusted

SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def row(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"| {name} | {statistics.median(ms):.0f} ms | {p95:.0f} ms |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    mechanism, reason = sandbox.isolation_mechanism()
    if mechanism is None:
        sys.exit(f"no sandbox here: {reason}")
    python = str(sandbox._sandbox_python())

    def sandboxed():
        assert run_untrusted(SOLUTION, TESTS).passed

    def unsandboxed():  # the same harness and limits, no namespaces: what bubblewrap adds is the difference
        saved = os.environ["PATH"]
        os.environ["PATH"] = ""  # no bwrap to be found
        try:
            assert run_untrusted(SOLUTION, TESTS, unsafe=True).isolation == "none"
        finally:
            os.environ["PATH"] = saved

    bare = lambda: subprocess.run([python, "-I", "-c", "pass"], check=True)  # noqa: E731
    sandboxed()  # the one-off start-up probe, outside the timings
    print(f"Per MBPP item, {args.runs} runs each (median, p95). Sandbox interpreter {python}; unsandboxed: {sys.executable}\n")
    print("| what | median | p95 |\n|---|---|---|")
    print(row("bare interpreter start (`python -I -c pass`)", timed(bare, args.runs)))
    print(row("harness + limits, unsandboxed (`unsafe=True`, no bwrap)", timed(unsandboxed, args.runs)))
    print(row("bubblewrap sandbox (`run_untrusted`)", timed(sandboxed, args.runs)))


if __name__ == "__main__":
    main()
