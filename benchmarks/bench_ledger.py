"""A province's rectification ledger: three rounds of N centres through ``compliance ledger``; time and peak memory.

    python benchmarks/bench_ledger.py                   # three rounds of 25,000 centres
    python benchmarks/bench_ledger.py --centres 5000

Target (issue 18): a province's three rounds of 25,000 centres make ledger.xlsx and ledger.csv without holding every
finding of every round at once: memory must stay flat as the rounds grow, far below the size of the results read.

The rounds are made once with ``compliance batch`` and kept in the temporary folder: each is N varied profiles of
benchmarks/profiles.py with its own seed (so the same centres fail, pass and fail again from round to round) and
its own assessment date a year apart. Memory is the resident size of the ledger command, sampled every 20 ms.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_round import tree_rss  # noqa: E402

DATES = ("2025-10-15", "2026-10-15", "2027-10-15")


def make_rounds(n: int, jobs: int) -> list[Path]:
    from profiles import make

    root = Path(tempfile.gettempdir()) / f"compliance-bench-ledger-{n}"
    rounds = []
    for number, assessed in enumerate(DATES, start=1):
        folder = root / f"round-{assessed[:4]}"
        rounds.append(folder)
        if (folder / "results.jsonl").exists():
            continue
        source = root / f"centres-{number}.jsonl"
        source.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "wb") as out:
            for i, doc in enumerate(make(n, seed=20261122 + number)):
                doc["center"]["id"] = f"330200-{i:06d}"
                doc["center"]["assessed_on"] = assessed
                doc["center"]["region"]["street"] = f"街道{i % 40:02d}"
                out.write(orjson.dumps(doc) + b"\n")
        done = subprocess.run([sys.executable, "-m", "compliance", "batch", str(source), "-o", str(folder),
                               "--jobs", str(jobs)], capture_output=True)
        if done.returncode not in (0, 1):
            sys.exit(done.stderr.decode())
    return rounds


def measure(rounds: list[Path], target: Path) -> tuple[float, int, str]:
    command = [sys.executable, "-m", "compliance", "ledger", *map(str, rounds), "-o", str(target),
               "--as-of", "2028-01-01", "--lang", "en"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    out = (proc.stdout.read() if proc.stdout else b"").decode()
    if proc.returncode != 0:
        sys.exit((proc.stderr.read() if proc.stderr else b"").decode())
    return wall, peak, out.splitlines()[0] if out else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=25_000)
    parser.add_argument("--jobs", type=int, default=2, help="for making the rounds")
    args = parser.parse_args()
    rounds = make_rounds(args.centres, args.jobs)
    size = sum((r / "results.jsonl").stat().st_size for r in rounds)
    print(f"three rounds of {args.centres:,} centres: {size / 2**20:,.0f} MB of results.jsonl")
    with tempfile.TemporaryDirectory(prefix="compliance-bench-") as out:
        for name in ("ledger.csv", "ledger.xlsx"):
            wall, peak, said = measure(rounds, Path(out) / name)
            print(f"  {name}: {wall:.1f} s, peak memory {peak / 2**20:.0f} MB, "
                  f"{os.path.getsize(Path(out) / name) / 2**20:.1f} MB written — {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
