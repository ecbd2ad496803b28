"""Reading the collection workbook: 1,000 centres of xlsx, python-calamine (ours) against openpyxl.

    python benchmarks/bench_xlsx.py [--centres 1000]

Target (issue: district rounds): 1,000 rows of xlsx read in under 1 s. "Read" is what a round does
before scoring: every centre of both sheets turned into a validated profile, each problem located
(``compliance.read_profiles``). For comparison, the time openpyxl (read-only mode) takes only to load
the cell values of the same workbook.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compliance  # noqa: E402
from compliance.batch import workbook  # noqa: E402
from profiles import make  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rules = compliance.load_ruleset("national")
    with tempfile.TemporaryDirectory() as folder:
        book = Path(folder) / "centres.xlsx"
        workbook.export(make(args.centres), book, rules.vocabulary)
        ours, theirs = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            read = list(compliance.read_profiles(book, rules))
            ours.append(time.perf_counter() - start)
            assert len(read) == args.centres       # (the generator's centres without zones are read with a warning)
            import openpyxl

            start = time.perf_counter()
            wb = openpyxl.load_workbook(book, read_only=True, data_only=True)
            for sheet in ("centres", "zones"):
                for _ in wb[sheet].iter_rows(values_only=True):
                    pass
            wb.close()
            theirs.append(time.perf_counter() - start)
    print(f"{args.centres:,} centres of xlsx (median of {args.runs} runs)")
    print(f"  read_profiles (python-calamine, validated, located): {statistics.median(ours):.2f} s (target < 1 s)")
    print(f"  openpyxl read-only, cell values only:                 {statistics.median(theirs):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
