"""The audit service under load: POST /v1/audits of a typical profile, with storage, over loopback.

    python benchmarks/bench_service.py                   # 30 s, 8 connections, yinzhou
    python benchmarks/bench_service.py --seconds 10 --connections 16
    python benchmarks/bench_service.py --inspections     # inspections, each opening actions (the live ledger)
    python benchmarks/bench_service.py --database postgresql --processes 2    # two processes on one PostgreSQL

Target (issue: the bureau's service): ≥ 500 audits/s sustained for 30 s with p99 ≤ 50 ms and no error,
and a report PDF served in ≤ 0.5 s.

`compliance serve` runs in its own process on a fresh SQLite database, as a bureau would start it. The
load comes from this process: N keep-alive connections, each sending the next request as soon as the
last answer is in (a closed loop), written with plain asyncio streams so the client costs little of the
machine the service shares. Each request is one of 500 varied profiles (benchmarks/profiles.py) with its
own centre id, and each request is a new self-check of its centre (a serial number in the centre's name), since
the service stores an audit identical to its centre's latest only once (it answers such a repeat 200, which is
counted apart). Latency is from the request's first byte sent to its answer's last byte read.

With ``--inspections`` each request is an inspection (``audit.kind: inspection``, by a bureau account) of a centre
not seen before, found short on several clauses (the hall upstairs, signs missing), so every stored audit opens
its actions in its own transaction: the cost of the live ledger on the audit route.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dashboard import Postgres  # noqa: E402 - the same throwaway PostgreSQL server

TARGET_RATE = 500
TARGET_P99 = 0.050
TARGET_PDF = 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def load(ports: list[int], requests: list[bytes], seconds: float, connections: int) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def one(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[k % len(ports)])   # as a front server spreads them
        i = k
        while time.perf_counter() < stop:
            # A new serial number of the same width each time: the same length, another profile.
            request = requests[i % len(requests)].replace(SERIAL, b"%09d" % next(serials))
            i += connections
            start = time.perf_counter()
            writer.write(request)
            status, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    await asyncio.gather(*(one(k) for k in range(connections)))
    return latencies, statuses


SERIAL = b"#########"
serials = itertools.count()


def request_bytes(body: bytes, path: str, token: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rules", default="yinzhou")
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                    help="the service's database: a fresh SQLite file, or a throwaway PostgreSQL server")
    ap.add_argument("--processes", type=int, default=1,
                    help="service processes on the one database (PostgreSQL), the connections spread over them")
    ap.add_argument("--inspections", action="store_true",
                    help="store inspections, each of a new centre found short on several clauses (opening actions)")
    args = ap.parse_args()
    if args.processes > 1 and args.database != "postgresql":
        ap.error("several service processes need --database postgresql (an SQLite database serves one process)")

    from profiles import make

    with tempfile.TemporaryDirectory(prefix="compliance-bench-service-") as folder, \
            (Postgres() if args.database == "postgresql" else contextlib.nullcontext(f"sqlite:///{folder}/bench.db")) as db:
        out = subprocess.run([sys.executable, "-m", "compliance", "users", "add", "bench", "--role",
                              "bureau" if args.inspections else "system",
                              "--db", db], capture_output=True, text=True, check=True)
        token = out.stdout.split()[-1]
        ports = [free_port() for _ in range(args.processes)]
        # Several processes (PostgreSQL only) share one data folder, as the deployment guide has them.
        servers = [subprocess.Popen([sys.executable, "-m", "compliance", "serve", "--db", db, "--port", str(p),
                                     "--data", f"{folder}/data"],
                                    cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in ports]
        port = ports[0]
        try:
            import httpx

            deadline = time.monotonic() + 60
            for p in ports:
                while True:
                    try:
                        httpx.get(f"http://127.0.0.1:{p}/openapi.json", timeout=1)
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline or any(s.poll() is not None for s in servers):
                            raise SystemExit("the service did not start")
                        time.sleep(0.1)
            docs = make(500)
            for i, doc in enumerate(docs):
                doc["center"]["id"] = f"330212-BENCH-{i:04d}"
                doc["center"]["name"] = f"{doc['center'].get('name', '')} {SERIAL.decode()}"
                if args.inspections:
                    doc["center"]["id"] = f"330212-B{i:03d}-{SERIAL.decode()}"      # a new centre each time
                    doc["audit"] = {"kind": "inspection", "inspectors": ["王敏", "李强"], "round": "bench"}
                    doc["space"]["service_hall_floor"] = 2
                    doc["signage"] = [c for c in doc.get("signage", []) if c not in
                                      ("staff_board", "complaint_hotline", "zone_signs", "grid_map")]
            path = f"/v1/audits?rules={args.rules}"
            requests = [request_bytes(orjson.dumps(doc), path, token) for doc in docs]
            warm, _ = asyncio.run(load(ports, requests, 3, args.connections))            # warm up
            latencies, statuses = asyncio.run(load(ports, requests, args.seconds, args.connections))

            headers = {"Authorization": f"Bearer {token}"}
            pdf_times = []
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
                for doc in docs[:5]:                   # each a new audit: its report is drawn, not cached
                    doc["center"]["id"] += "-PDF"
                    posted = client.post(path, content=orjson.dumps(doc), headers={"Content-Type": "application/json"})
                    start = time.perf_counter()
                    pdf = client.get(f"/v1/audits/{posted.json()['id']}/report.pdf")
                    pdf_times.append(time.perf_counter() - start)
                    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
            opened = 0
            if args.inspections:
                from sqlalchemy import create_engine, text

                engine = create_engine(db)
                with engine.connect() as con:
                    opened = con.execute(text("SELECT count(*) FROM actions")).scalar_one()
                engine.dispose()
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)

    n = len(latencies)
    ordered = sorted(latencies)
    p50, p99 = ordered[n // 2], ordered[min(n - 1, int(n * 0.99))]
    rate = n / args.seconds
    errors = sum(v for k, v in statuses.items() if k not in (200, 201))
    what = "inspections" if args.inspections else "audits"
    print(f"POST /v1/audits?rules={args.rules} ({what}), {args.database}, {args.processes} service "
          f"process{'es' if args.processes > 1 else ''}, {args.connections} connections, {args.seconds:.0f} s, "
          f"{os.cpu_count()} cores")
    print(f"  {n:,} audits stored: {rate:,.0f} audits/s; latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {ordered[-1] * 1000:.1f} ms; answers {dict(sorted(statuses.items()))}")
    if args.inspections:
        stored = len(warm) + n + len(pdf_times)               # the warm-up's and the reports' inspections too
        print(f"  {opened:,} actions opened by the {stored:,} inspections stored ({opened / stored:.1f} an inspection)")
    print(f"  report.pdf of a new audit: median {statistics.median(pdf_times):.2f} s, worst {max(pdf_times):.2f} s")
    ok = rate >= TARGET_RATE and p99 <= TARGET_P99 and errors == 0 and max(pdf_times) <= TARGET_PDF
    print(f"  target (≥ {TARGET_RATE}/s, p99 ≤ {TARGET_P99 * 1000:.0f} ms, no error, PDF ≤ {TARGET_PDF} s):",
          "met" if ok else "not met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
