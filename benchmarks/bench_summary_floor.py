"""The floor under summary.xlsx at national scale: XlsxWriter writing the league table's rows, nothing read.

    python benchmarks/bench_summary_floor.py                  # 100,000 rows of 18 cells, bare
    python benchmarks/bench_summary_floor.py --formatted      # with the league table's column formats
    python benchmarks/bench_summary_floor.py --compiled       # rustpy-xlsxwriter (pip install rustpy-xlsxwriter)

The league table of a national round has 600,000 rows of 18 cells. Whatever the round does, writing them
through XlsxWriter in constant-memory mode costs at least this loop's time per row; with ``--formatted`` each
column carries the format summary.xlsx gives it (10-point text aligned to the top, one decimal, a centred rank),
which XlsxWriter writes into every cell. ``--compiled`` times the same rows through a compiled writer, for
comparison: it is not a dependency, and it cannot write summary.xlsx as it is (see docs/reference.md). The
figure for 600,000 rows is the loop's time scaled up.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any, Iterator

import xlsxwriter

ROW = [1, "11-00-00-0000001", "社区便民服务中心", "省01", "市02", "区03", "街道04", 87.5, "良好", "合格",
       90.0, 85.5, 70.0, 100.0, 92.3, "", 3, "national.jsonl:1"]


def xlsxwriter_rows(path: str, rows: int, formatted: bool) -> None:
    workbook = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False,
                                          "strings_to_formulas": False, "strings_to_urls": False})
    sheet = workbook.add_worksheet("centres")
    if formatted:                                   # as write_summary_xlsx sets the league table's columns
        workbook.formats[0].set_font_size(10)
        plain = workbook.add_format({"font_size": 10, "valign": "top"})
        one = workbook.add_format({"num_format": "0.0", "font_size": 10, "valign": "top"})
        centred = workbook.add_format({"font_size": 10, "valign": "top", "align": "center"})
        wrap = workbook.add_format({"font_size": 10, "valign": "top", "text_wrap": True})
        for c, value in enumerate(ROW):
            sheet.set_column(c, c, 10, centred if c == 0 else wrap if c == 2 else one if isinstance(value, float)
                             else plain)
    for i in range(rows):
        sheet.write_row(i, 0, ROW)
    workbook.close()


def compiled_rows(path: str, rows: int) -> None:
    import rustpy_xlsxwriter                        # type: ignore[import-not-found]

    keys = [f"c{i}" for i in range(len(ROW))]

    def records() -> Iterator[dict[str, Any]]:
        for _ in range(rows):
            yield dict(zip(keys, ROW))

    rustpy_xlsxwriter.write_worksheet(records(), path, sheet_name="centres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--formatted", action="store_true", help="the league table's column formats")
    parser.add_argument("--compiled", action="store_true", help="rustpy-xlsxwriter instead of XlsxWriter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "floor.xlsx")
        start = time.perf_counter()
        if args.compiled:
            compiled_rows(path, args.rows)
        else:
            xlsxwriter_rows(path, args.rows, args.formatted)
        took = time.perf_counter() - start
    kind = "rustpy-xlsxwriter" if args.compiled else "XlsxWriter, formatted" if args.formatted else "XlsxWriter"
    print(f"{kind}: {args.rows:,} rows of {len(ROW)} cells: {took:.1f} s, {took / args.rows * 1e6:.0f} µs a row; "
          f"600,000 rows: {took / args.rows * 600_000:.0f} s")


if __name__ == "__main__":
    main()
