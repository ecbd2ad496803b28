"""Validate + evaluate throughput from dicts, one core, national rule set.

    python benchmarks/bench_throughput.py [--profiles N] [--repeat K]

Compares the library (compiled jsonschema-rs validation + compiled rules)
with a baseline measured in the same run: jsonschema's Draft 2020-12
validator on the published schema plus the straightforward scorer in
``baseline_scorer.py``. Prints profiles/s for each, best of K runs.
Target: ≥ 20,000 profiles/s and ≥ 3× the baseline.
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jsonschema  # noqa: E402

import compliance  # noqa: E402
from profiles import make  # noqa: E402
from baseline_scorer import score as baseline_score  # noqa: E402

TARGET = 20_000
TARGET_RATIO = 3.0


def rates(fn, items, repeat: int) -> tuple[float, float]:
    """Best and median profiles/s over ``repeat`` runs (the host's speed drifts; both are shown)."""
    seconds = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn(items)
        seconds.append(time.perf_counter() - start)
    return len(items) / min(seconds), len(items) / statistics.median(seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})   # one core (the last: the first takes most interrupts)

    docs = make(args.profiles)
    rules = compliance.load_ruleset("national")
    validator = jsonschema.Draft202012Validator(compliance.profile_schema())

    def library(items):
        for doc in items:
            compliance.evaluate(compliance.load_profile(doc, rules=rules), rules)

    def baseline(items):
        for doc in items:
            validator.validate(doc)
            baseline_score(doc)

    ours, ours_median = rates(library, docs, args.repeat)
    base, base_median = rates(baseline, docs[: max(500, args.profiles // 5)], max(3, args.repeat // 2))
    print(f"profiles            {args.profiles}, best of {args.repeat} runs (median in brackets)")
    print(f"library             {ours:>10,.0f} profiles/s   ({1e6 / ours:.1f} µs each)   [{ours_median:,.0f}]")
    print(f"baseline            {base:>10,.0f} profiles/s   (jsonschema + straightforward scorer)   [{base_median:,.0f}]")
    print(f"ratio               {ours / base:>10.1f}×")
    ok = ours >= TARGET and ours / base >= TARGET_RATIO
    print(f"target              ≥ {TARGET:,}/s and ≥ {TARGET_RATIO:.0f}× baseline: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
