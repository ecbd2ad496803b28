"""The Yinzhou example with ``--reports``: one PDF per centre plus the district report.

    python benchmarks/bench_reports.py [--runs 3]

Target (issue: district rounds): about 140 PDFs and the district report in ≤ 30 s on 2 cores, and at
most 0.6× the time of rendering the same centre reports one after another in one process: measured both
as the whole ``--jobs 1`` command and as the bare renders (``render(result, "pdf")`` for each centre, in
this process, after a warm-up render; no district report, no start-up). Each run writes into a fresh
temporary folder; the figures are medians of the runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "yinzhou-district" / "centres.xlsx"


def run(jobs: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="compliance-bench-") as out:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "compliance", "batch", str(SOURCE), "--rules", "yinzhou",
                               "-o", out, "--reports", "--jobs", str(jobs)], capture_output=True)
        wall = time.perf_counter() - start
        if done.returncode not in (0, 1, 2):
            raise SystemExit(done.stderr.decode())
        return wall, len(os.listdir(Path(out) / "reports"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    # One run of each kind after another, ratios taken within a round of three: this host's speed drifts by
    # more than the difference measured over a few minutes.
    parallel, serial, bare = [], [], []
    for _ in range(args.runs):
        parallel.append(run(args.jobs))
        serial.append(run(1))
        bare.append(renders())
    p, s = statistics.median(w for w, _ in parallel), statistics.median(w for w, _ in serial)
    b = statistics.median(bare)
    to_serial = statistics.median(w / t for (w, _), (t, _) in zip(parallel, serial))
    to_bare = statistics.median(w / t for (w, _), t in zip(parallel, bare))
    print(f"{parallel[0][1]} centre reports + district report, {SOURCE.relative_to(ROOT)}")
    print(f"  --jobs {args.jobs}: {p:.1f} s (median of {args.runs}: {', '.join(f'{w:.1f}' for w, _ in parallel)})")
    print(f"  --jobs 1: {s:.1f} s (median of {args.runs}: {', '.join(f'{w:.1f}' for w, _ in serial)})")
    print(f"  the centre reports rendered one after another in one process: {b:.1f} s (median of {args.runs}: "
          f"{', '.join(f'{w:.1f}' for w in bare)})")
    print(f"  ratio (median of each round's) {to_serial:.2f}× the --jobs 1 command, {to_bare:.2f}× the bare renders "
          f"(target ≤ 0.6×); {'within' if p <= 30 else 'over'} 30 s")
    return 0


def renders() -> float:
    """Every valid centre of the example rendered as a PDF, one after another, in this process."""
    sys.path.insert(0, str(ROOT))
    import compliance
    from compliance.batch.sources import read_profiles

    rules = compliance.load_ruleset("yinzhou")
    results = []
    for _, item in read_profiles([SOURCE], rules=rules):
        if isinstance(item, compliance.Profile):
            results.append(compliance.evaluate(item, rules))
    compliance.render(results[0], "pdf")                 # fonts and stylesheet loaded, as a warm worker has them
    start = time.perf_counter()
    for result in results:
        compliance.render(result, "pdf")
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
