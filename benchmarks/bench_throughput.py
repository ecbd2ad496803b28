"""Validate + evaluate throughput from dicts, one core, national rule set.

    python benchmarks/bench_throughput.py [--profiles N] [--repeat K]

Compares the library (compiled jsonschema-rs validation + compiled rules)
with a baseline measured in the same run: jsonschema's Draft 2020-12
validator on the published schema plus the straightforward scorer in
``reference_scorer.py``. Prints profiles/s for each, best of K runs.
Target: ≥ 20,000 profiles/s and ≥ 3× the baseline.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jsonschema  # noqa: E402

import compliance  # noqa: E402
from profiles import make  # noqa: E402
from reference_scorer import score as reference_score  # noqa: E402

TARGET = 20_000
TARGET_RATIO = 3.0


def best_rate(fn, items, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn(items)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})   # one core

    docs = make(args.profiles)
    rules = compliance.load_ruleset("national")
    validator = jsonschema.Draft202012Validator(compliance.profile_schema())

    def library(items):
        for doc in items:
            compliance.evaluate(compliance.load_profile(doc, rules=rules), rules)

    def baseline(items):
        for doc in items:
            validator.validate(doc)
            reference_score(doc)

    ours = best_rate(library, docs, args.repeat)
    base = best_rate(baseline, docs[: max(500, args.profiles // 5)], max(2, args.repeat // 2))
    print(f"profiles            {args.profiles}")
    print(f"library             {ours:>10,.0f} profiles/s   ({1e6 / ours:.1f} µs each)")
    print(f"baseline            {base:>10,.0f} profiles/s   (jsonschema + straightforward scorer)")
    print(f"ratio               {ours / base:>10.1f}×")
    ok = ours >= TARGET and ours / base >= TARGET_RATIO
    print(f"target              ≥ {TARGET:,}/s and ≥ {TARGET_RATIO:.0f}× baseline: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
