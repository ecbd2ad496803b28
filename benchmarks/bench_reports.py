"""The Yinzhou example with ``--reports``: one PDF per centre plus the district report.

    python benchmarks/bench_reports.py [--runs 3]

Target (issue: district rounds): about 140 PDFs and the district report in ≤ 30 s on 2 cores, and at
most 0.6× the time of rendering the same centre reports one after another in one process: measured both
as the whole ``--jobs 1`` command and as the bare renders (``render(result, "pdf")`` for each centre, in
this process, after a warm-up render; no district report, no start-up). Each run writes into a fresh
temporary folder; the figures are medians of the runs.

Beside them, the floor: the same centres handed to ``--jobs`` workers that are already started and warm, as the
round hands them (two reports a task), timed from the first task to the last report, with nothing else running:
no start-up, no audit in the command's process, no district report.
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
    parallel, serial, bare, floor = [], [], [], []
    for _ in range(args.runs):
        parallel.append(run(args.jobs))
        serial.append(run(1))
        bare.append(renders())
        floor.append(warm_workers(args.jobs))
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
    to_floor = statistics.median(w / t for w, t in zip(floor, bare))
    print(f"  floor: {args.jobs} warm workers rendering the same reports and nothing else: "
          f"{statistics.median(floor):.1f} s, {to_floor:.2f}× the bare renders")
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


def warm_workers(jobs: int) -> float:
    """The centre reports rendered by ``jobs`` local workers already started and warm, as a round hands them out."""
    sys.path.insert(0, str(ROOT))
    import compliance
    from compliance.batch import sources
    from compliance.batch.run import RENDERER, executor, rules_source, run_chunks, warm_up

    rules = compliance.load_ruleset("yinzhou")
    pool = executor(jobs, None, preload=RENDERER)
    try:
        for started in [pool.submit(warm_up, rules_source(rules)) for _ in range(jobs)]:
            started.result()
        start = time.perf_counter()
        stream = sources.records([SOURCE], rules.vocabulary)
        for _ in run_chunks(stream, rules, pool, "zh", True, columns=False):
            pass
        return time.perf_counter() - start
    finally:
        pool.shutdown()


if __name__ == "__main__":
    sys.exit(main())
