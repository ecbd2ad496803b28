"""What a held connection costs the service: its resident memory with thousands of half-open connections.

    python benchmarks/bench_connections.py                        # 2,000 then 5,000 connections
    python benchmarks/bench_connections.py --counts 2000,5000,10000,10500     # and at the bound, and past it

`compliance serve` runs in its own process on a fresh SQLite database, as in bench_service.py. This process
then opens connections in steps, each sending the start of a request line and no more, as a slow or hostile
client would, and keeps them open. At each step, once the service has taken in every connection (its open
files say so, or stop growing at its bound on connections), it reads the service's resident memory (VmRSS)
and times an ordinary request (GET /v1/rulesets with a token). Memory is from the service started and
warmed up, so a connection's figure is the growth divided by the connections held then. At the service's
bound on connections (10,000) it holds no more, and the ordinary request's own connection is closed too.

The header deadline is raised to 120 s for the run (COMPLIANCE_HEADER_SECONDS) so that no connection is
closed while it is measured; it changes nothing of what a connection costs. Linux only (/proc). The
kernel's memory for the sockets is not the service's and is not counted (/proc/net/sockstat shows it).
Target (issue: slow clients): 5,000 half-open connections held at under 16 KiB each, and an ordinary
request answered 200 within 1 s meanwhile.
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_HELD = 5_000
TARGET_KIB = 16
TARGET_SECONDS = 1.0
PART = b"GET /v1/rul"                     # a request line begun and never finished


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def taken_in(pid: int, wanted: int, seconds: float = 30) -> int:
    """The service's open files once they reach ``wanted`` or stop growing for a second (its bound)."""
    deadline = time.monotonic() + seconds
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = open_files(pid)
        if now >= wanted:
            return now
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > 1:
            return now
        time.sleep(0.05)
    return open_files(pid)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="2000,5000", help="connections held at each step, comma-separated")
    args = ap.parse_args()
    counts = sorted(int(c) for c in args.counts.split(","))

    # This process holds the other end of every connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = counts[-1] + 500
    if hard != resource.RLIM_INFINITY and hard < wanted:
        print(f"the hard limit on open files ({hard}) is below {wanted}", file=sys.stderr)
        return 2
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    import httpx

    with tempfile.TemporaryDirectory(prefix="compliance-bench-connections-") as folder:
        db = f"sqlite:///{folder}/bench.db"
        out = subprocess.run([sys.executable, "-m", "compliance", "users", "add", "bench", "--role", "system",
                              "--db", db], capture_output=True, text=True, check=True)
        headers = {"Authorization": f"Bearer {out.stdout.split()[-1]}"}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "compliance", "serve", "--db", db, "--port", str(port)],
                                  cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "COMPLIANCE_HEADER_SECONDS": "120"})
        held: list[socket.socket] = []
        rows = []
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url + "/openapi.json", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for _ in range(20):                          # warm up: the routes, the account, the database
                assert httpx.get(url + "/v1/rulesets", headers=headers).status_code == 200
            time.sleep(1)
            base_rss, base_files = rss_kib(server.pid), open_files(server.pid)

            for count in counts:
                before = len(held)
                start = time.perf_counter()
                while len(held) < count:
                    s = socket.create_connection(("127.0.0.1", port))
                    s.sendall(PART)
                    held.append(s)
                opened = time.perf_counter() - start
                files = taken_in(server.pid, base_files + count)
                time.sleep(1)                            # let the service's allocator settle
                rss = rss_kib(server.pid)
                start = time.perf_counter()
                try:
                    status: int | str = httpx.get(url + "/v1/rulesets", headers=headers, timeout=30).status_code
                except httpx.TransportError:
                    status = "closed"                    # past the service's bound on connections
                answered = time.perf_counter() - start
                rows.append((count, count - before, files - base_files, rss - base_rss, opened, status, answered))
        finally:
            for s in held:
                s.close()
            server.terminate()
            server.wait(timeout=30)

    print(f"compliance serve, {os.cpu_count()} cores; service {base_rss / 1024:.1f} MiB resident after warm-up")
    ok = True
    for count, more, files, grown, opened, status, answered in rows:
        each = grown / max(files, 1)
        print(f"  {count:>6,} half-open connections ({more:,} more opened in {opened:.2f} s), {files:,} held by the "
              f"service: +{grown / 1024:.1f} MiB resident, {each:.1f} KiB each; an ordinary request meanwhile: "
              f"{status} in {answered * 1000:.0f} ms")
        if count <= TARGET_HELD:
            ok = ok and files >= count and each <= TARGET_KIB and status == 200 and answered <= TARGET_SECONDS
    print(f"  target ({TARGET_HELD:,} held at ≤ {TARGET_KIB} KiB each, a request answered 200 in ≤ {TARGET_SECONDS:.0f} s):",
          "met" if ok else "not met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
