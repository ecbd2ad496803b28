"""The floor under summary.xlsx at national scale: XlsxWriter writing bare rows, nothing read, no formats.

    python benchmarks/bench_summary_floor.py              # 100,000 rows of 18 cells
    python benchmarks/bench_summary_floor.py --rows 20000

The league table of a national round has 600,000 rows of about 18 cells. Whatever the round does, writing
them through XlsxWriter in constant-memory mode costs at least this loop's time per row; the figure for
600,000 rows is the loop's time scaled up.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import xlsxwriter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    row = [1, "11-00-00-0000001", "社区便民服务中心", "省01", "市02", "区03", "街道04", 87.5, "good", "conforming",
           90.0, 85.5, 70.0, 100.0, 92.3, "", 3, "national.jsonl:1"]
    with tempfile.TemporaryDirectory() as folder:
        workbook = xlsxwriter.Workbook(os.path.join(folder, "floor.xlsx"), {"constant_memory": True})
        sheet = workbook.add_worksheet("centres")
        start = time.perf_counter()
        for i in range(args.rows):
            sheet.write_row(i, 0, row)
        workbook.close()
        took = time.perf_counter() - start
    print(f"{args.rows:,} rows of {len(row)} cells: {took:.1f} s, {took / args.rows * 1e6:.0f} µs a row; "
          f"600,000 rows: {took / args.rows * 600_000:.0f} s")


if __name__ == "__main__":
    main()
