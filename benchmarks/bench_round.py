"""A national round: N centres of JSON Lines through ``compliance batch``; wall time and peak memory.

    python benchmarks/bench_round.py                    # 600,000 centres, --jobs 2
    python benchmarks/bench_round.py --centres 20000 --jobs 1
    python benchmarks/bench_round.py --results parquet     # results.parquet instead of results.jsonl
    python benchmarks/bench_round.py --results parquet --tables-only   # stop once the two tables are written

``--tables-only`` stops the command once its two tables are written (summary.xlsx and the district report take
minutes more and no target is about them): run it alternately with two checkouts (``PYTHONPATH=...``) to compare
two versions of the code on a host whose speed drifts, from a folder that is neither checkout: the round's
``python -m compliance`` finds the package in the current folder before it looks at ``PYTHONPATH``.

Beside the round, the same run times the plain single-process loop (``json.loads``, ``load_profile``,
``evaluate``, ``to_dict``, ``json.dumps``) on the first ``--plain`` centres of the same input (20,000 by
default; the whole round would take minutes that way), and gives the round's speed against that loop's.

Target (issue: national rounds): 600,000 centres → results.jsonl and summary.csv in ≤ 30 s on a
2-core machine, peak memory of all the round's processes together < 400 MB.

The input is made once and kept in the temporary folder: 10,000 varied profiles (benchmarks/profiles.py)
repeated with fresh ids over 31 provinces × 10 cities × 10 districts × 20 streets, so region tables and
id checks see national variety. Memory is the sum over the command's whole process tree, sampled
every 50 ms, of the resident sizes (RSS: a library's pages that every worker maps count once per
worker) and, every 0.5 s, of the proportional sizes (PSS: each shared page counted once in all), each with the
chunks the workers left for the round in files of memory (/dev/shm) at that moment; the times are when
results.jsonl and summary.csv appeared (the figures the target is about) and when the command ended
(summary.xlsx and the district report too).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

BASE_COUNT = 10_000


def make_input(n: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"compliance-bench-round-{n}.jsonl"
    if path.exists():
        return path
    from profiles import make

    base = [orjson.dumps(p) for p in make(BASE_COUNT)]
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        for i in range(n):
            doc = orjson.loads(base[i % BASE_COUNT])
            province, city, district, street = i % 31, (i // 31) % 10, (i // 310) % 10, (i // 3100) % 20
            doc["center"]["id"] = f"{province + 11:02d}{city:02d}{district:02d}-{street:02d}-{i:07d}"
            doc["center"]["region"] = {"province": f"省{province:02d}", "city": f"市{city:02d}",
                                       "district": f"区{district:02d}", "street": f"街道{street:02d}"}
            out.write(orjson.dumps(doc) + b"\n")
    os.replace(tmp, path)
    return path


def tree_memory(root: int, proportional: bool = False) -> tuple[int, int]:
    """Resident bytes of ``root`` and every descendant: the sum of their resident sizes (RSS, which counts a page
    that several processes share once in each) and of their proportional sizes (PSS, which shares it out: what
    the processes take of the machine's memory together; only when ``proportional``: the kernel then walks every
    page table, which would slow the round down if done every 50 ms)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    rss = pss = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            if proportional:
                with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                    for line in fh:
                        if line.startswith(b"Rss:"):
                            rss += int(line.split()[1]) * 1024
                        elif line.startswith(b"Pss:"):
                            pss += int(line.split()[1]) * 1024
            else:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    rss += int(fh.read().rsplit(b")", 1)[1].split()[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(pid, ()))
    spooled = spool_bytes(root)     # chunks the workers left in memory files for the round: memory too, counted in both
    return rss + spooled, pss + spooled


def spool_bytes(root: int) -> int:
    """The bytes of the files in the round's spool folders (``/dev/shm/compliance-spool-<pid>-*``, of memory)."""
    from compliance.batch.run import SPOOL_PREFIX, SPOOL_ROOT

    total = 0
    try:
        folders = [e.path for e in os.scandir(SPOOL_ROOT) if e.name.startswith(f"{SPOOL_PREFIX}{root}-")]
        for folder in folders:
            for entry in os.scandir(folder):
                try:
                    total += entry.stat().st_size
                except OSError:          # read and removed meanwhile
                    pass
    except OSError:
        pass
    return total


def made(out: str, name: str) -> Path:
    """Where the round's output ``name`` is once written: its folder, or, until the workbook and the district report
    are written too and all are put in place together, the round's work folder (results.jsonl is written there as
    the round goes, and is whole once summary.csv, made after it, is)."""
    for place in (Path(out) / name, Path(out) / ".round" / "outputs" / name):
        if place.exists():
            return place
    return Path(out) / ".round" / name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=600_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rules", default="national")
    parser.add_argument("--results", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--plain", type=int, default=20_000, help="centres of the plain loop (0: leave it out)")
    parser.add_argument("--tables-only", action="store_true", help="stop the command once its two tables are written")
    args = parser.parse_args()
    source = make_input(args.centres)
    with tempfile.TemporaryDirectory(prefix="compliance-bench-") as out:
        command = [sys.executable, "-m", "compliance", "batch", str(source), "--rules", args.rules, "-o", out,
                   "--jobs", str(args.jobs), "--results", args.results]
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=args.tables_only)     # its workers stopped with it
        peak, peak_pss, seen = 0, 0, {}
        tables_peak = tables_pss = 0            # until results and summary.csv are written
        samples = 0
        while proc.poll() is None:
            rss, pss = tree_memory(proc.pid, proportional=samples % 10 == 0)
            samples += 1
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            if len(seen) < 2:
                tables_peak, tables_pss = peak, peak_pss
            for name in (f"results.{args.results}", "summary.csv"):
                if name not in seen and made(out, name).exists():
                    seen[name] = time.perf_counter() - start
            if args.tables_only and len(seen) == 2:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.05)
        wall = time.perf_counter() - start
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode not in (0, 1) and not (args.tables_only and len(seen) == 2):
            print(stderr, file=sys.stderr)
            return 1
        if args.results == "parquet":
            import pyarrow.parquet as pq

            lines = pq.ParquetFile(made(out, "results.parquet")).metadata.num_rows
        else:
            lines = sum(1 for _ in open(made(out, "results.jsonl"), "rb"))
    tables = max(seen.values()) if len(seen) == 2 else wall
    print(f"{args.centres:,} centres, --jobs {args.jobs}, rules {args.rules}: {lines:,} results")
    print(f"  results.{args.results} and summary.csv written after {tables:.1f} s "
          f"({args.centres / tables:,.0f} centres/s)")
    if not args.tables_only:
        print(f"  whole command (summary.xlsx and the district report too): {wall:.1f} s")
    print(f"  peak memory of all processes together until then: {tables_peak / 2**20:.0f} MB resident (RSS "
          f"summed), {tables_pss / 2**20:.0f} MB proportional (PSS: shared pages counted once)")
    if not args.tables_only:
        print(f"  and over the whole command: {peak / 2**20:.0f} MB (RSS summed), {peak_pss / 2**20:.0f} MB (PSS)")
    if args.plain:
        rate = plain_loop(source, args.plain, args.rules)
        print(f"  the plain loop, one process: {rate:,.0f} centres/s; the round is "
              f"{args.centres / tables / rate:.1f}× as fast")
    if args.centres == 600_000:
        ok = tables <= 30 and tables_peak < 400 * 2**20
        print("  target (≤ 30 s and < 400 MB at 600,000 centres):", "met" if ok else "not met")
    return 0


def plain_loop(source: Path, n: int, rules_name: str) -> float:
    """Centres a second of json.loads + load_profile + evaluate + to_dict + json.dumps, one process."""
    import json

    import compliance

    rules = compliance.load_ruleset(rules_name)
    with open(source, "rb") as fh:
        lines = [fh.readline() for _ in range(n)]
    start = time.perf_counter()
    for line in lines:
        json.dumps(compliance.evaluate(compliance.load_profile(json.loads(line), rules=rules), rules).to_dict())
    return len(lines) / (time.perf_counter() - start)


if __name__ == "__main__":
    sys.exit(main())
