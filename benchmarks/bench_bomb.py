"""Refusing decompression-bomb workbooks, and what the check costs a real one.

    python benchmarks/bench_bomb.py [--centres 25000] [--gib 3] [--unchecked]

Writes the collection template, two bombs made from it (its centres sheet grown to
--gib GiB of rows in about 3 MB a GiB: one whose headers say so, one whose headers
claim 5,000 bytes) and a workbook of --centres generated centres, then times
``compliance batch`` on each bomb and ``compliance validate`` on the real workbook in
a fresh process each, with its peak memory (the largest resident set). It also reports
the real workbook's measured sizes and ratios, the caps, and the archive check alone.
With --unchecked, the bomb is also given to python-calamine without the check, under a
2 GiB address-space limit (as a container's memory limit would): what the check prevents.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import compliance  # noqa: E402
from compliance.batch import archive, workbook  # noqa: E402
from compliance.batch.sources import SourceError  # noqa: E402
from bombs import GiB, write_bomb  # noqa: E402
from profiles import make  # noqa: E402

_MEASURED = """
import resource, subprocess, sys
limit = int(sys.argv[1])
def cap():
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out = subprocess.run(sys.argv[2:], capture_output=True, preexec_fn=cap)
print(out.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stdout.write(out.stderr.decode("utf-8", "replace")[-400:])
"""
_UNCHECKED = """
import io, sys
from python_calamine import CalamineWorkbook
book = CalamineWorkbook.from_filelike(io.BytesIO(open(sys.argv[1], "rb").read()))
book.get_sheet_by_name("centres").to_python(skip_empty_area=False)
"""


def measured(command: list[str], limit: int = 0) -> tuple[int, float, float, str]:
    """(exit status, seconds, peak resident MB, the end of its standard error) of a command in a fresh process."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _MEASURED, str(limit), *command], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    first, _, rest = out.stdout.partition("\n")
    status, peak = first.split()
    return int(status), elapsed, int(peak) / 1024, rest.strip().splitlines()[-1] if rest.strip() else ""


def sizes(path: Path) -> str:
    infos = zipfile.ZipFile(path).infolist()
    inflated = sum(i.file_size for i in infos)
    largest = max(i.file_size / max(1, i.compress_size) for i in infos if i.file_size > archive.RATIO_GRACE // 4)
    return (f"file {path.stat().st_size / 1e6:.1f} MB, inflates to {inflated / 1e6:.0f} MB, ratio "
            f"{inflated / sum(i.compress_size for i in infos):.1f} whole / {largest:.1f} largest part")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=25_000)
    parser.add_argument("--gib", type=int, default=3)
    parser.add_argument("--unchecked", action="store_true", help="also read a bomb without the check (slow)")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "compliance"]
    rules = compliance.load_ruleset("national")
    print(f"caps: {archive.MAX_INFLATED >> 20} MiB inflated, {archive.MAX_RATIO}:1 for a part past "
          f"{archive.RATIO_GRACE >> 20} MiB, {archive.MAX_PARTS} parts")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        template = root / "template.xlsx"
        workbook.build(template, rules.vocabulary)
        print(f"template: {sizes(template)}")
        for kind, lie in (("honest", None), ("lying", 5000)):
            bomb = write_bomb(root / f"{kind}.xlsx", template, inflated=args.gib * GiB, lie=lie)
            status, seconds, peak, last = measured([*cli, "batch", str(bomb), "-o", str(root / f"out-{kind}"),
                                                    "--jobs", "1"])
            print(f"{kind} bomb ({bomb.stat().st_size / 1e6:.1f} MB → {args.gib} GiB): compliance batch exit {status} "
                  f"in {seconds:.2f} s, peak {peak:.0f} MB\n    {last}")
        if args.unchecked:
            status, seconds, peak, last = measured([sys.executable, "-c", _UNCHECKED, str(root / "honest.xlsx")], 2 * GiB)
            print(f"honest bomb read by python-calamine without the check, 2 GiB limit: exit {status} in {seconds:.1f} s, "
                  f"peak {peak:.0f} MB\n    {last}")
        real = root / "district.xlsx"
        start = time.perf_counter()
        workbook.export(make(args.centres), real, rules.vocabulary)
        print(f"{args.centres:,} centres written in {time.perf_counter() - start:.0f} s: {sizes(real)}")
        raw = real.read_bytes()
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            archive.check_workbook(raw, str(real), SourceError)
            runs.append(time.perf_counter() - start)
        print(f"  the archive check alone: {min(runs):.2f} s (best of 5), holding 1 MiB pieces")
        status, seconds, peak, last = measured([*cli, "validate", str(real)])
        print(f"  compliance validate (every centre read and checked): exit {status} in {seconds:.1f} s, "
              f"peak {peak:.0f} MB\n    {last}")
    print(f"(this process: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
