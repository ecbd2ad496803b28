"""A district round from the collection workbook: N centres exported, read and audited, and summary.xlsx written.

    python benchmarks/bench_workbooks.py                  # 25,000 centres, --jobs 2, median of 3 runs
    python benchmarks/bench_workbooks.py --centres 5000 --runs 5

What the template and the league table cost a round: the export (``compliance export`` into the template, with
its checks and formats), reading the workbook back (``read_profiles``, every centre validated and located), a whole
round in this process (``compliance batch`` as the command runs it, ``--jobs 2``) and, inside it, writing
summary.xlsx (the league table with its print settings, the clause and region sheets). Run it with another
checkout's package first on PYTHONPATH to compare two versions on the same centres.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compliance  # noqa: E402
from compliance.batch import outputs, workbook  # noqa: E402
from compliance.batch.round import Round  # noqa: E402
from profiles import make  # noqa: E402


def centres(n: int) -> list[dict[str, Any]]:
    """N varied centres of one province, spread over its cities, districts and streets."""
    docs = make(n)
    for i, doc in enumerate(docs):
        city, district, street = i % 11, (i // 11) % 10, (i // 110) % 20
        doc["center"]["id"] = f"33{city:02d}{district:02d}-{street:02d}-{i:06d}"
        doc["center"]["region"] = {"province": "浙江省", "city": f"市{city:02d}", "district": f"区{district:02d}",
                                   "street": f"街道{street:02d}"}
        doc["center"]["assessed_on"] = f"2026-{9 + i % 3:02d}-{1 + i % 28:02d}"
    return docs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=25_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rules = compliance.load_ruleset("national")
    docs = centres(args.centres)
    timed: dict[str, list[float]] = {"export": [], "read": [], "round": [], "summary.xlsx": []}
    original = outputs.write_summary_xlsx

    def write_summary_xlsx(*a: Any, **k: Any) -> bool:
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            timed["summary.xlsx"].append(time.perf_counter() - start)

    outputs.write_summary_xlsx = write_summary_xlsx        # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as folder:
        book = Path(folder) / "centres.xlsx"
        size = 0
        for run in range(args.runs):
            start = time.perf_counter()
            workbook.export(docs, book, rules.vocabulary)
            timed["export"].append(time.perf_counter() - start)
            size = book.stat().st_size
            start = time.perf_counter()
            read = sum(1 for _ in compliance.read_profiles(book, rules))
            timed["read"].append(time.perf_counter() - start)
            assert read == args.centres
            start = time.perf_counter()
            tally = Round(inputs=[str(book)], rules=rules, outdir=Path(folder) / f"round-{run}", jobs=args.jobs).run()
            timed["round"].append(time.perf_counter() - start)
            assert tally.audited == args.centres, tally.audited
    print(f"{args.centres:,} centres of xlsx ({size / 1e6:.1f} MB), --jobs {args.jobs}, median of {args.runs} runs "
          f"(compliance from {Path(compliance.__file__).parent.parent})")
    for name, times in timed.items():
        print(f"  {name:<13} {statistics.median(times):6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
