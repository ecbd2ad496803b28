"""Compare the library with the independent reference scorer over many generated edge profiles.

    python benchmarks/differential.py [--profiles N] [--seed S] [--rules national,ningbo,...] [--waivers K]

Prints, per rule set, how many profiles were compared and every kind of difference
found (there should be none). The test suite runs 500 per rule set; this runs more.
With ``--waivers K`` each profile is scored a second time with up to K random waivers
of its centre (some covering its assessment date, some not), and the waived score,
grade, verdict, unwaived figures and each finding's waiver are compared too.
"""
from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "oracle")]

import generate  # noqa: E402
from test_reference import differences  # noqa: E402
from test_waivers import random_waivers, waived_differences  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--rules", default="national,ningbo,yinzhou,beijing,nanxing")
    ap.add_argument("--waivers", type=int, default=0, metavar="K", help="also score with up to K random waivers")
    args = ap.parse_args()
    bad = 0
    for rules in args.rules.split(","):
        start = time.perf_counter()
        kinds: collections.Counter[str] = collections.Counter()
        example: dict[str, str] = {}
        for doc in generate.make(args.profiles, seed=args.seed, ruleset=rules):
            found = differences(doc, rules)
            if args.waivers:
                rng = random.Random(f"{args.seed}/{rules}/{doc['center']['id']}")
                picks = [(rng.randrange(40), rng.randint(-400, 400), rng.randrange(800))
                         for _ in range(rng.randint(1, args.waivers))]
                found += [f"waived {d}" for d in waived_differences(doc, rules, random_waivers(doc, rules, picks))]
            for d in found:
                kind = d.split(":")[0]
                kinds[kind] += 1
                example.setdefault(kind, f"{doc['center']['id']}: {d}")
        bad += sum(kinds.values())
        print(f"{rules:<10} {args.profiles} profiles, {sum(kinds.values())} differences "
              f"({time.perf_counter() - start:.0f} s)")
        for kind, n in kinds.most_common():
            print(f"    {n:>6}  {example[kind]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
