"""Benchmark of `kamal-siem build`: all targets for the whole catalogue against `sigma convert -t
splunk` (sigma-cli with our exported Splunk pipeline) of the same rules, as child processes in one
run, reported as a ratio. Target: all targets in at most 3x the time sigma-cli takes for one.

    python benchmarks/build.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    args = parser.parse_args()
    rules = sorted(str(p) for p in (ROOT / "sigma_rules").rglob("*.yml"))
    # sigma-cli 3.1 cannot convert our correlations (their base rules are in other files: pySigma's
    # ordering gives "Conversion result not available"), so it converts the single-event rules only:
    # less work than ours, which makes the ratio conservative
    singles = [r for r in rules if "/correlations/" not in r]
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([str(BIN / "kamal-siem"), "pipelines", "export", "-o", work, "--target", "splunk"], check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        sigma = [str(BIN / "sigma"), "convert", "-t", "splunk", "-p", f"{work}/kamal-siem-splunk.yml", *singles]
        build = [str(BIN / "kamal-siem"), "build", "--target", "all", "-o", f"{work}/dist"]
        sigma_time = min(timed(sigma) for _ in range(args.repeat))
        build_time = min(timed(build) for _ in range(args.repeat))
    print(f"sigma convert -t splunk ({len(singles)} rules) {sigma_time:.2f} s, kamal-siem build, all targets ({len(rules)} rules) "
          f"{build_time:.2f} s: "
          f"ratio {build_time / sigma_time:.2f}x (target: at most 3x)")


if __name__ == "__main__":
    main()
