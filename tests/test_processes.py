"""Several `compliance serve` processes on one PostgreSQL database, as a province runs them behind one front server:
they serve the same accounts, sessions and audits, run each batch and make each round's files once, and finish the
batch or the files of a process that died. On SQLite, one process only."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import run_cli
from test_postgres import _head, postgres  # noqa: F401 - the PostgreSQL server these tests share
from test_service import DISTRICT, HAIYUE, Service, _free_port, add_user, wait_for_batch
from test_web import csrf_of


LEASE = 9      # seconds: a dead holder's work is taken over sooner than the 30 s a service keeps by default


class Process:
    """One `compliance serve` on ``db`` with the batches' folder ``data``, in a process group of its own (so that it
    and the round it runs can be killed together)."""

    def __init__(self, db: str, data: Path, folder: Path) -> None:
        self.db, self.data, self.folder = db, data, folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "compliance", "serve", "--db", self.db, "--port", str(self.port),
                 "--data", str(self.data)], cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env={**os.environ, "COMPLIANCE_LEASE_SECONDS": str(LEASE)})

    def ready(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/openapi.json", timeout=1)
                return
            except httpx.TransportError:
                assert self.process is not None and self.process.poll() is None, self.log.read_text("utf-8")
                time.sleep(0.1)
        raise AssertionError("the service did not start")

    def kill(self) -> None:
        """SIGKILL to the service and every process it started (its round)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def _database(server: str, name: str) -> str:
    """A new, empty database on the PostgreSQL server, and its URL."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
def pair(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:  # noqa: F811
    """Two service processes on one PostgreSQL database, sharing one batches' folder, and the accounts made once."""
    folder = tmp_path_factory.mktemp("processes")
    db = _database(postgres, "pair")
    tokens = {"bureau": add_user(db, "bureau1", "bureau"),
              "haiyue": add_user(db, "haiyue", "community", "330212-SN-0103")}
    processes = [Process(db, folder / "data", folder) for _ in range(2)]
    for p in processes:
        p.start()                    # at once: one of them makes the tables' newest version, the other waits
    for p in processes:
        p.ready()
    try:
        yield processes, tokens, db
    finally:
        for p in processes:
            p.stop()


def _api(p: Process, token: str) -> httpx.Client:
    return httpx.Client(base_url=p.url, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
                        timeout=60)


def _login(c: httpx.Client, name: str, secret: str) -> httpx.Response:
    csrf = csrf_of(c.get("/login").text)
    return c.post("/login", data={"csrf": csrf, "name": name, "secret": secret})


def test_accounts_made_once_and_a_web_session_work_on_every_process(pair):
    (a, b), tokens, _ = pair
    for p in (a, b):
        with _api(p, tokens["haiyue"]) as c:
            assert c.get("/v1/centres/330212-SN-0103/audits").status_code == 200
    with httpx.Client(base_url=a.url, timeout=60) as on_a:
        assert _login(on_a, "bureau1", tokens["bureau"]).status_code == 303
        cookies = dict(on_a.cookies)
    with httpx.Client(base_url=b.url, cookies=cookies, timeout=60) as on_b:      # the same browser, the other process
        page = on_b.get("/dashboard")
        assert page.status_code == 200 and "bureau1" in page.text


def test_the_same_profile_sent_through_both_processes_at_once_is_one_audit(pair):
    (a, b), tokens, db = pair
    body = HAIYUE.read_bytes().replace(b"name: \xe6\xb5\xb7\xe6\x82\xa6", "name: 两个进程 海悦".encode())
    answers: list[httpx.Response] = []

    def send(p: Process) -> None:
        with _api(p, tokens["bureau"]) as c:
            answers.append(c.post("/v1/audits?rules=yinzhou", content=body,
                                  headers={"Content-Type": "application/yaml"}))

    threads = [threading.Thread(target=send, args=(p,)) for p in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    for p in (a, b):                # and each process reads it back
        with _api(p, tokens["haiyue"]) as c:
            history = c.get("/v1/centres/330212-SN-0103/audits").json()["audits"]
            assert [h["id"] for h in history].count(answers[0].json()["id"]) == 1


def test_five_failed_logins_spread_over_both_processes_pause_the_account_on_both(pair):
    (a, b), tokens, _ = pair
    english = {"Accept-Language": "en"}
    with httpx.Client(base_url=a.url, headers=english, timeout=60) as on_a, \
            httpx.Client(base_url=b.url, headers=english, timeout=60) as on_b:
        for c in (on_a, on_b, on_a, on_b, on_a):
            assert _login(c, "haiyue", "not-the-password").status_code == 401
        for c in (on_a, on_b):                    # even the right token now waits, on either process
            paused = _login(c, "HaiYue", tokens["haiyue"])
            assert paused.status_code == 429 and "5 minutes" in paused.text


def _big_input(folder: Path, copies: int) -> Path:
    """The district's centres ``copies`` times over, each copy with its own centre ids: a round long enough to
    be killed part-way."""
    lines = (DISTRICT / "centres.jsonl").read_text("utf-8").splitlines()
    out = folder / "province.jsonl"
    with open(out, "w", encoding="utf-8") as fh:
        for n in range(copies):
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:                # the example's broken lines stay broken
                    fh.write(line + "\n")
                    continue
                centre = record.get("center") if isinstance(record, dict) else None
                if isinstance(centre, dict) and isinstance(centre.get("id"), str):
                    centre["id"] = f"{centre['id']}-{n:02d}"
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out


def _lease(db: str, batch_id: str) -> tuple[str | None, int] | None:
    import psycopg

    with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("select owner, claims from leases where kind = 'batch' and work_id = %s",
                           (batch_id,)).fetchone()
    return None if row is None else (row[0], int(row[1]))


def test_a_batch_runs_once_and_the_other_process_finishes_it_when_its_runner_is_killed(pair, tmp_path):
    (a, b), tokens, db = pair
    folder = a.data.parent
    # A batch sent to one process runs once, on one of them.
    with _api(a, tokens["bureau"]) as c:
        small = c.post("/v1/batches?rules=yinzhou", files={"file": ("centres.jsonl",
                                                                    (DISTRICT / "centres.jsonl").read_bytes())})
        assert small.status_code == 202, small.text
        done = wait_for_batch(c, small.json()["id"])
    assert done["status"] == "done" and done["exit_code"] == 2
    assert _lease(db, done["id"]) == (None, 1)                        # claimed once, and given back
    with _api(b, tokens["bureau"]) as c:                               # the other process serves its files
        assert c.get(done["files"]["summary.csv"]).status_code == 200

    # A longer one: kill the process running it, with its round, at its first checkpoint; the other process takes
    # it over and resumes it from there.
    source = _big_input(tmp_path, 8)
    with _api(b, tokens["bureau"]) as c:
        r = c.post("/v1/batches?rules=yinzhou", files={"file": ("province.jsonl", source.read_bytes())})
        assert r.status_code == 202, r.text
        batch_id = r.json()["id"]
    checkpoint = folder / "data" / batch_id / "out" / ".round" / "state.json"
    deadline = time.monotonic() + 240
    while not checkpoint.is_file() and time.monotonic() < deadline:
        time.sleep(0.005)
    state = json.loads(checkpoint.read_bytes())
    assert state["done"] > 0, state          # part-way, or every centre audited and the tables still to write
    lease = _lease(db, batch_id)
    assert lease is not None and lease[0] is not None
    runner, other = (a, b) if f":{a.process.pid}:" in lease[0] else (b, a)
    assert f":{runner.process.pid}:" in lease[0]
    runner.kill()
    killed_at = time.monotonic()
    with _api(other, tokens["bureau"]) as c:
        finished = wait_for_batch(c, batch_id, seconds=120)
        took = time.monotonic() - killed_at
        got = {name: c.get(url).content for name, url in finished["files"].items()}
    runner.start()                                        # back for the other tests (and the fixture's stop)
    assert finished["status"] == "done" and finished["exit_code"] == 2, finished
    assert took < 60, f"taken over and finished {took:.0f} s after the kill"
    owner, claims = _lease(db, batch_id) or (None, 0)
    assert owner is None and claims == 2                  # its first holder, then the one that took it over
    out = tmp_path / "cli"                                # the same round, run once without interruption
    assert run_cli("batch", "province.jsonl", "--rules", "yinzhou", "-o", str(out), "--jobs", "1",
                   cwd=tmp_path).returncode == 2
    for name in ("results.jsonl", "summary.csv", "errors.csv"):
        assert got[name] == (out / name).read_bytes(), name
    import psycopg

    with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        stored, centres = conn.execute("select count(*), count(distinct centre_id) from audits where batch_id = %s",
                                       (batch_id,)).fetchone()
    assert stored == centres == finished["added"] > 0      # each centre's audit stored once
    runner.ready()


ROUND_CENTRES = 6


def _round_leases(db: str) -> list[tuple[str, str | None, int]]:
    import psycopg

    with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return [(r[0], r[1], int(r[2])) for r in conn.execute(
            "select work_id, owner, claims from leases where kind = 'round'").fetchall()]


def test_a_rounds_files_are_made_once_and_the_other_process_finishes_them_when_their_maker_is_killed(pair):
    from urllib.parse import quote

    from test_rounds import wait_for_file

    (a, b), tokens, db = pair
    rounds_folder = a.data / "rounds"
    round_id = "两个进程-2026秋季"
    with _api(a, tokens["bureau"]) as c:
        assert c.post("/v1/rounds", json={"id": round_id, "name": "两个进程的轮次", "rules": "yinzhou"}).status_code == 201
        for line in (DISTRICT / "centres.jsonl").read_text("utf-8").splitlines()[:ROUND_CENTRES]:
            doc = json.loads(line)
            doc.pop("evidence", None)
            doc["audit"] = {**doc.get("audit", {}), "kind": "self_check", "round": round_id}
            assert c.post("/v1/audits?rules=yinzhou", json=doc).status_code == 201
    url = f"/v1/rounds/{quote(round_id, safe='')}/files/summary.csv"
    # Asked of both processes at once: one of them claims the job, the other reports its progress.
    answers: list[httpx.Response] = []

    def ask(p: Process) -> None:
        with _api(p, tokens["bureau"]) as c:
            answers.append(c.get(url))

    threads = [threading.Thread(target=ask, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [202, 202], [r.text for r in answers]
    # Kill the one making them, with its round, once the batch has a checkpoint (or has ended and the ledger runs).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
            (w / "out" / ".round" / "state.json").is_file() or (w / "batch.json").is_file()
            for w in rounds_folder.glob("*/*.work")):
        time.sleep(0.005)
    [(job, owner, claims)] = _round_leases(db)
    assert owner is not None and claims == 1, (owner, claims)
    runner, other = (a, b) if f":{a.process.pid}:" in owner else (b, a)
    assert f":{runner.process.pid}:" in owner
    runner.kill()
    killed_at, killed_on = time.monotonic(), time.time()
    try:
        with _api(other, tokens["bureau"]) as c:
            making = c.get(url)             # its holder's deadline not passed yet: half made, not served
            assert making.status_code == 202 and making.json()["progress"]["total"] == ROUND_CENTRES
            made = wait_for_file(c, url, 120)
            took = time.monotonic() - killed_at
            ledger = c.get(url.replace("summary.csv", "ledger.xlsx"))
    finally:
        runner.start()                                    # back for the other tests (and the fixture's stop)
    assert made.status_code == 200, made.text
    assert len(made.content.decode("utf-8-sig").strip().splitlines()) == 1 + ROUND_CENTRES
    assert ledger.status_code == 200 and ledger.content.startswith(b"PK")
    assert took < 60, f"taken over and made {took:.0f} s after the kill"
    assert _round_leases(db) == [(job, None, 2)]         # its first holder, then the one that took it over
    assert [p.name for p in rounds_folder.glob("*/*")] == [job.rpartition("/")[2]]   # the work folder renamed
    # Each step as the files' log names it: the killed process's before the kill, the other's only after.
    from datetime import datetime

    steps = [(datetime.fromisoformat(w[1]).timestamp(), w[2].rstrip(":"), w[4])
             for w in (line.split() for line in (rounds_folder / job / "log.txt").read_text("utf-8").splitlines())
             if w[:1] == ["--"]]
    assert [by == owner for _, by, _ in steps] == [on < killed_on for on, _, _ in steps], steps
    assert steps[0][1:] == (owner, "batch") and steps[-1][2] == "ledger", steps
    runner.ready()


def test_several_processes_starting_together_on_an_empty_database_migrate_it_once(postgres, tmp_path):  # noqa: F811
    for db in (_database(postgres, "empty"), f"sqlite:///{tmp_path / 'empty.db'}"):
        commands = [subprocess.Popen([sys.executable, "-m", "compliance", "users", "add", f"worker{n}", "--role",
                                      "system", "--db", db, "--lang", "en"], cwd=tmp_path,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(4)]
        for command in commands:
            out, err = command.communicate(timeout=120)
            assert command.returncode == 0, err.decode()
        from compliance.service.store import Store

        store = Store(db, migrate=False)
        assert sorted(a.name for a in store.list_accounts()) == [f"worker{n}" for n in range(4)]
        with store.engine.connect() as conn:
            from sqlalchemy import text

            assert conn.execute(text("select version_num from alembic_version")).scalars().all() == [_head()]


def test_a_second_service_on_one_sqlite_database_is_refused_in_chinese(tmp_path):
    first = Service(tmp_path)
    first.start()
    try:
        second = run_cli("serve", "--db", first.db, "--port", str(_free_port()), cwd=tmp_path, lang=None)
        assert second.returncode != 0
        assert "SQLite" in second.stderr and "PostgreSQL" in second.stderr and "另一个服务进程" in second.stderr
        assert str(first.db_path) in second.stderr and "Traceback" not in second.stderr
        english = run_cli("serve", "--db", first.db, "--port", str(_free_port()), cwd=tmp_path)
        assert "another service process" in english.stderr
    finally:
        first.stop()
    first.start()                              # the lock went with the process that held it
    first.stop()



def test_a_lease_is_claimed_by_one_of_many_and_taken_over_only_once_its_deadline_has_passed(postgres, tmp_path):  # noqa: F811
    from compliance.service.processes import Leases
    from compliance.service.store import Store

    for url in (f"sqlite:///{tmp_path / 'leases.db'}", _database(postgres, "leases")):
        store = Store(url)
        claimants = [Leases(store, f"host-{n}:{n}:x", seconds=1.5) for n in range(8)]
        won: list[int] = []
        threads = [threading.Thread(target=lambda n=n: won.append(n) if claimants[n].claim("batch", "b1") else None)
                   for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, url                                  # of eight at once, exactly one
        holder, others = claimants[won[0]], [c for n, c in enumerate(claimants) if n != won[0]]
        assert holder.renew("batch", "b1") and not others[0].claim("batch", "b1")
        time.sleep(2.0)                                            # the holder stopped renewing: its deadline passed
        assert others[0].claim("batch", "b1")
        assert not holder.renew("batch", "b1")                     # taken over: the old holder knows it
        holder.release("batch", "b1")                              # and cannot give back what it no longer holds
        owner, _, claims = others[0].held("batch", "b1") or (None, None, 0)
        assert owner == others[0].owner and claims == 2
        others[0].release("batch", "b1")
        assert others[1].claim("batch", "b1")                      # given back: free at once


def test_work_left_part_way_or_by_a_dead_holder_is_listed_as_abandoned(postgres, tmp_path):  # noqa: F811
    from compliance.service.processes import Leases, abandoned
    from compliance.service.store import Store

    for url in (f"sqlite:///{tmp_path / 'abandoned.db'}", _database(postgres, "abandoned")):
        store = Store(url)
        dead, stopping, done = (Leases(store, f"host-{n}:{n}:x", seconds=1.0) for n in range(3))
        assert dead.claim("round", "r1") and stopping.claim("round", "r2") and done.claim("round", "r3")
        assert done.claim("batch", "b1")
        assert abandoned(store, "round") == []                  # every holder alive
        stopping.leave("round", "r2")                            # the service stopping: for another at once
        done.release("round", "r3")                              # made: nobody's, and not abandoned
        assert abandoned(store, "round") == ["r2"], url
        time.sleep(1.2)                                          # the dead holder's deadline passes too
        assert abandoned(store, "round") == ["r2", "r1"], url   # the longest abandoned first
        assert abandoned(store, "batch") == ["b1"]
        assert done.claim("round", "r2") and abandoned(store, "round") == ["r1"]
