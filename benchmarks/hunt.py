"""Benchmark of `kamal-siem hunt`: lines per second end to end with all rules, against `wc -l` on the
same file and against the Zircolite approach (Python parse, SQLite, pySigma's SQLite backend), with
the peak memory of each, measured in one run on a reproducible corpus.

    python benchmarks/hunt.py [--sizes 1000000,10000000] [--work DIR] [--baseline-max 2000000]

Each program runs as a child process; its time is wall-clock, its peak RSS comes from wait4. The
SQLite baseline is slow: above --baseline-max lines it is measured on a prefix and its rate is used.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from corpus import VERSION, write_corpus

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def measure(argv: list[str]) -> tuple[float, int, str]:
    """(seconds, peak RSS in bytes, stdout) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    output = child.stdout.read().decode() if child.stdout else ""
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{argv[0]} exited {code}")
    if code == 1 and Path(argv[0]).name != "kamal-siem":  # 1 means alerts for hunt, an error for the rest
        raise SystemExit(f"{argv[0]} failed")
    return elapsed, usage.ru_maxrss * 1024, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--work", type=Path, default=ROOT / "dist" / "bench")
    parser.add_argument("--baseline-max", type=int, default=2_000_000)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rules = str(ROOT / "sigma_rules")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        corpus = args.work / f"bench-v{VERSION}-{size}-production-audit.log"
        if not corpus.exists():
            write_corpus(corpus, size)
        wc_time, _, wc_out = measure(["wc", "-l", str(corpus)])
        assert int(wc_out.split()[0]) == size
        hunt_time, hunt_rss, hunt_out = measure([str(BIN / "kamal-siem"), "hunt", "--format", "json", "-q",
                                                 "--min-level", "informational", str(corpus)])
        base_lines = min(size, args.baseline_max)
        base_corpus = corpus
        if base_lines < size:
            base_corpus = args.work / f"bench-v{VERSION}-{base_lines}-production-audit.log"
            if not base_corpus.exists():
                write_corpus(base_corpus, base_lines)
        base_time, base_rss, base_out = measure([sys.executable, str(ROOT / "benchmarks" / "sqlite_baseline.py"),
                                                 str(base_corpus), rules])
        # a run that died early would look fast: it must have read every line
        if not base_out.strip() or int(base_out.split()[0]) != base_lines:
            raise SystemExit(f"the SQLite baseline did not read all {base_lines} lines: {base_out.strip()!r}")
        rows.append((size, size / wc_time, size / hunt_time, base_lines / base_time, hunt_rss, base_rss,
                     len(hunt_out.splitlines()), base_out.strip()))
    print(f"{'lines':>10} {'wc -l/s':>12} {'hunt/s':>12} {'sqlite/s':>10} {'hunt/wc':>8} {'hunt/sqlite':>11} "
          f"{'hunt RSS':>9} {'sqlite RSS':>10} {'alerts':>6}")
    for size, wc, hunt, base, hunt_rss, base_rss, alerts, _base_out in rows:
        print(f"{size:>10} {wc:>12,.0f} {hunt:>12,.0f} {base:>10,.0f} {hunt / wc:>8.3f} {hunt / base:>11.1f} "
              f"{hunt_rss / 2**20:>7.0f}Mi {base_rss / 2**20:>8.0f}Mi {alerts:>6}")
    print("targets: hunt >= 1,000,000 lines/s, >= 10x the SQLite baseline, peak RSS < 1 GiB at 10M lines")


if __name__ == "__main__":
    main()
