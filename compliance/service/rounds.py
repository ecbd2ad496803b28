"""Rounds (考核轮次) opened in the service: ``POST /v1/rounds``, ``GET /v1/rounds``, ``GET /v1/rounds/{id}`` and its
files.

A round is opened once by a bureau account (its id, name, rule set, an optional region it covers and the days the
self-checks and inspections are due). Every audit stored with ``audit.round`` is noted as it is stored (in the same
transaction, :func:`joined`), so the round's progress is read without opening any result.

The round's files (summary.xlsx/csv, district-report.pdf, ledger.xlsx) are made by the command line's own code, run
as the command line: from each centre's latest inspection in the round (its latest self-check where it has none),
their stored profiles are written as a JSON Lines file and ``compliance batch`` runs on it, with the waivers the
stored results applied (read back from the results, so each result comes out as it was stored), then
``compliance ledger`` on its output. They are made in the background, one round at a time in each process, and kept
until a new audit joins the round. Of several service processes on one database, exactly one makes a round's files,
the one holding their lease, and another takes them over if it dies (:class:`RoundFiles`).
"""
from __future__ import annotations

import datetime
import hashlib
import logging
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import (Column, Date, DateTime, Index, Integer, String, Table, Text, and_, case, func, not_,
                        or_, select)
from sqlalchemy.exc import IntegrityError

from ..errors import ProfileError
from ..i18n import Message, cmsg, language, msg, quote, separator, text
from ..model import today_in_china
from ..reading import parse
from ..wording import hinted
from ..writing import write_atomic
from .actions import actions as live_actions
from .batches import MAX_CLAIMS, MEDIA_TYPES, die_with_parent
from .common import (JSON_TYPES, PROFILE_LIMIT, Problem, bundled, content_disposition, media_type_of, read_body,
                     service_rules)
from .processes import POLL_SECONDS, Heartbeat, Leases, abandoned, claimable
from .store import Account, Store, audits, metadata

log = logging.getLogger("compliance.service")

rounds = Table(
    "rounds", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("rules", String(200), nullable=False),
    Column("region", Text),                             # JSON {"district": …, "street": …}: the centres it covers
    Column("self_check_due", Date),
    Column("inspection_due", Date),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

round_audits = Table(
    "round_audits", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),     # the order they joined in
    Column("round_id", String(64), nullable=False),
    Column("audit_id", String(32), nullable=False, unique=True),
    Column("centre_id", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("ruleset_id", String(200), nullable=False),
    Column("region", Text, nullable=False),             # JSON [province, city, district, street]
    Index("ix_round_audits_centre", "round_id", "centre_id", "seq"),
)

FILES = ("summary.xlsx", "summary.csv", "district-report.pdf", "ledger.xlsx")
REGION_KEYS = ("province", "city", "district", "street")
KEYS = ("id", "name", "rules", "region", "self_check_due", "inspection_due")
JOB = "round"                         # the leases' kind for a round's files
ROUND_ID = re.compile(r"[^\x00-\x1f\x7f/\\?#%]{1,64}")


# --------------------------------------------------------------------------- noting the audits that join a round

def joined(db: Any, items: Iterable[tuple[dict[str, Any], Mapping[str, Any]]]) -> None:
    """Store hook: note each audit just stored that names a round (``audit.round``), in its transaction."""
    rows = []
    for values, document in items:
        block = document.get("audit")
        name = block.get("round") if isinstance(block, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            continue
        region = (document.get("center") or {}).get("region") or {}
        rows.append({"round_id": name.strip()[:64], "audit_id": values["id"], "centre_id": values["centre_id"],
                     "kind": values["kind"], "ruleset_id": values["ruleset_id"],
                     "region": orjson.dumps([str(region.get(k, "") or "") for k in REGION_KEYS]).decode()})
    if rows:
        db.execute(round_audits.insert(), rows)


# --------------------------------------------------------------------------- reading a round

def get_round(store: Store, round_id: str) -> Any:
    with store.engine.connect() as db:
        return db.execute(select(rounds).where(rounds.c.id == round_id)).first()


def _covers(round_row: Any, region_json: str) -> bool:
    wanted = orjson.loads(round_row.region) if round_row.region else {}
    if not wanted:
        return True
    found = dict(zip(REGION_KEYS, orjson.loads(region_json)))
    return all(found.get(k) == v for k, v in wanted.items())


def members(store: Store, round_row: Any, centre: str | None = None) -> list[Any]:
    """The audits that joined the round under its rule set and within its region, in the order they joined (with
    ``centre``, only that centre's)."""
    query = select(round_audits).where(round_audits.c.round_id == round_row.id,
                                       round_audits.c.ruleset_id == round_row.rules)
    if centre is not None:
        query = query.where(round_audits.c.centre_id == centre)
    with store.engine.connect() as db:
        return [r for r in db.execute(query.order_by(round_audits.c.seq)) if _covers(round_row, r.region)]


def latest_per_centre(found: list[Any]) -> dict[str, Any]:
    """Each centre's latest inspection in the round, else its latest self-check."""
    chosen: dict[str, Any] = {}
    for r in found:                                        # in the order they joined: the later one stays
        before = chosen.get(r.centre_id)
        if before is None or r.kind == "inspection" or before.kind != "inspection":
            chosen[r.centre_id] = r
    return chosen


def round_action_counts(store: Store, round_id: str) -> tuple[int, int]:
    """(open, overdue) actions of the round: those of the live ledger (service/actions.py) of the centres that joined
    it, opened in this round or in none. ``overdue``: open past its due day (in China); ``open``: the others not
    yet ended (open and not yet due, or reported fixed and waiting for review, which is never overdue)."""
    a = live_actions
    past = and_(a.c.state == "open", a.c.due < today_in_china().isoformat())
    query = select(func.sum(case((and_(a.c.state.in_(("open", "fixed_pending_review")), not_(past)), 1), else_=0)),
                   func.sum(case((past, 1), else_=0))).where(
        a.c.centre_id.in_(select(round_audits.c.centre_id).where(round_audits.c.round_id == round_id)),
        or_(a.c.round.is_(None), a.c.round == round_id))
    with store.engine.connect() as db:
        counts = db.execute(query).first()
    return (int(counts[0] or 0), int(counts[1] or 0)) if counts is not None else (0, 0)


def progress(store: Store, round_row: Any, account: Account) -> dict[str, Any]:
    """How far the round is: centres with a self-check, with an inspection, open and overdue actions. A community
    account's is its own centre's."""
    own = account.centre_id if account.role == "community" else None
    found = members(store, round_row, own or None) if own or account.role != "community" else []
    centres = {r.centre_id for r in found}
    selfs = {r.centre_id for r in found if r.kind != "inspection"}
    inspected = {r.centre_id for r in found if r.kind == "inspection"}
    open_, overdue = round_action_counts(store, round_row.id) if own is None else (None, None)
    return {"centres": len(centres), "self_checked": len(selfs), "inspected": len(inspected),
            "audits": len(found), "open_actions": open_, "overdue_actions": overdue}


def view(store: Store, round_row: Any, account: Account, files: RoundFiles | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": round_row.id, "name": round_row.name, "rules": round_row.rules,
        "region": orjson.loads(round_row.region) if round_row.region else None,
        "self_check_due": round_row.self_check_due.isoformat() if round_row.self_check_due else None,
        "inspection_due": round_row.inspection_due.isoformat() if round_row.inspection_due else None,
        "opened_by": round_row.created_by, "opened_at": _utc(round_row.created_at).isoformat()}
    if files is not None:
        out["progress"] = progress(store, round_row, account)
        if may_read_files(account):
            out["files"] = {name: f"/v1/rounds/{_path_id(round_row.id)}/files/{name}" for name in FILES}
    return out


def may_read_files(account: Account) -> bool:
    """The round's tables set every centre side by side: the bureau's, and an importing system's."""
    return account.role in ("bureau", "system")


def _path_id(round_id: str) -> str:
    from urllib.parse import quote as percent

    return percent(round_id, safe="")


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=datetime.timezone.utc) if isinstance(value, datetime.datetime) and \
        value.tzinfo is None else value


# --------------------------------------------------------------------------- opening a round

def checked(body: Any, default_rules: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A round as posted, checked: (its values, its problems located by JSON path)."""
    problems: list[dict[str, Any]] = []

    def problem(path: str, message: Message) -> None:
        problems.append({"path": path, "message": message})

    if not isinstance(body, dict):
        problem("$", msg("send {body}", body=quote('{"id": …, "name": …, "rules": …}')))
        return {}, problems
    for key in body:
        if key not in KEYS:
            problem(f"$.{key}", hinted(msg("unknown key {key} (the keys are {keys})", key=quote(str(key), 60),
                                           keys=[quote(k) for k in KEYS]), str(key), KEYS))
    values: dict[str, Any] = {}
    for key, limit in (("id", 64), ("name", 200)):
        value = body.get(key)
        if value is None:
            problem("$", msg("required key {field} is missing", field=quote(key)))
        elif not isinstance(value, str) or not value.strip():
            problem(f"$.{key}", msg("{key} is blank; write it", key=quote(key)))
        elif len(value.strip()) > limit:
            problem(f"$.{key}", msg("{value} is {length:,} characters long; it must be at most {expected}",
                                    value=quote(value.strip(), 40), length=len(value.strip()), expected=limit))
        elif key == "id" and not ROUND_ID.fullmatch(value.strip()):
            problem("$.id", msg("a round's id has no slash, question mark, hash, percent sign or control "
                                "character: it is part of the round's address"))
        else:
            values[key] = value.strip()
    rules = body.get("rules", default_rules)
    if not isinstance(rules, str) or rules not in bundled():
        problem("$.rules", msg("{name} is not a rule set of this service", name=quote(str(rules), 60)))
    else:
        values["rules"] = rules
    region = body.get("region")
    if region is not None:
        if not isinstance(region, dict) or not region:
            problem("$.region", msg("the region is a mapping of {keys}", keys=[quote(k) for k in REGION_KEYS]))
        else:
            for key, value in region.items():
                if key not in REGION_KEYS:
                    problem(f"$.region.{key}", hinted(msg("unknown key {key} (the keys are {keys})",
                                                          key=quote(str(key), 60),
                                                          keys=[quote(k) for k in REGION_KEYS]), str(key), REGION_KEYS))
                elif not isinstance(value, str) or not value.strip() or len(value) > 200:
                    problem(f"$.region.{key}", msg("{key} is blank; write it", key=quote(key)))
            values["region"] = {k: str(v).strip() for k, v in region.items() if k in REGION_KEYS}
    for key in ("self_check_due", "inspection_due"):
        value = body.get(key)
        if value is None:
            values[key] = None
            continue
        day = None
        if isinstance(value, str) and len(value) == 10:
            try:
                day = datetime.date.fromisoformat(value)
            except ValueError:
                day = None
        if day is None:
            problem(f"$.{key}", msg("{value} is not a date in the calendar (write it as 2026-11-01)",
                                    value=quote(str(value), 40)))
        values[key] = day
    first, last = values.get("self_check_due"), values.get("inspection_due")
    if isinstance(first, datetime.date) and isinstance(last, datetime.date) and last < first:
        problem("$.inspection_due", msg("the inspections are due on {inspection}, before the self-checks on "
                                        "{self_check}", inspection=last.isoformat(), self_check=first.isoformat()))
    return values, problems


# --------------------------------------------------------------------------- the round's files

class RoundFiles:
    """A round's files, made in the background by the command line's code and kept under the service's data folder
    until a new audit joins the round.

    A job (the round as it is now, named by its last audit, in one language) is made by exactly one of the processes
    on the database: the one holding its lease (processes.py), claimed before it starts, renewed while the command
    line runs, given back once the files are made or making them failed. Every other process asked for them reads
    their progress from the shared folder. When the holder dies, the next process asked for the files, or the first
    to look for abandoned work (every POLL_SECONDS), takes the job over and resumes it: the work folder is the job's
    own (``<stamp>-<lang>.work``, the same for every process), so ``compliance batch`` goes on from its checkpoint,
    and a batch that had ended is not run again. The files appear whole: ``done.json`` (or ``failed.json``) is
    written last in the work folder, which is then renamed to the job's folder."""

    def __init__(self, store: Store, folder: Path, owner: str | None = None) -> None:
        self.store, self.folder = store, folder / "rounds"
        self.leases = Leases(store, owner)
        self.poll = POLL_SECONDS                  # how often abandoned jobs are looked for
        self.waiting: queue.Queue[tuple[str, int, str] | None] = queue.Queue()
        self.asked: set[tuple[str, int, str]] = set()        # queued for this process's worker
        self.current: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._rounds: dict[str, str] = {}         # a round id's digest (its folder's name) → the id

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._work, name="round-files", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the files being made (their work folder stays, with the round's checkpoint) and leave their lease for
        another process, or this service started again, to take over at once."""
        self._stopping.set()
        self.waiting.put(None)
        process = self.current
        if process is not None and process.poll() is None:
            process.terminate()
        if self._thread is not None:
            self._thread.join(timeout=15)

    @staticmethod
    def digest(round_id: str) -> str:
        return hashlib.sha256(round_id.encode()).hexdigest()[:24]

    def home(self, round_id: str, stamp: int, lang: str) -> Path:
        """Where a job's files are once made (or its failure once it failed)."""
        return self.folder / self.digest(round_id) / f"{stamp}-{lang}"

    def work(self, round_id: str, stamp: int, lang: str) -> Path:
        """Where a job's files are made: the job's own folder, the same for whichever process makes them."""
        home = self.home(round_id, stamp, lang)
        return home.with_name(home.name + ".work")

    def job_id(self, round_id: str, stamp: int, lang: str) -> str:
        """The job's name in the leases: its folder under rounds/."""
        return f"{self.digest(round_id)}/{stamp}-{lang}"

    @staticmethod
    def stamp(found: list[Any]) -> int:
        """What the files were made from: the last audit that joined."""
        return max((r.seq for r in found), default=0)

    def state(self, round_row: Any, lang: str) -> tuple[str, Path, dict[str, Any]]:
        """("done", folder, …) when the files of the round as it is now are made; ("making", …, progress) while they
        are being made (by whichever process holds them; asking this process's worker for them when nobody does, or
        their maker died); ("failed", …) when making them failed."""
        found = members(self.store, round_row)
        job = (round_row.id, self.stamp(found), lang)
        home = self.home(*job)
        if (home / "done.json").is_file():
            return "done", home, {}
        if (home / "failed.json").is_file():
            return "failed", home, {}
        if claimable(self.store, JOB, [self.job_id(*job)]):
            self.ask(job)
        total = len(latest_per_centre(found))
        done = 0
        try:
            state = orjson.loads((self.work(*job) / "out" / ".round" / "state.json").read_bytes())
            done = min(int(state.get("done", 0)), total)
        except (OSError, orjson.JSONDecodeError, ValueError, TypeError, AttributeError):
            pass
        return "making", home, {"done": done, "total": total}

    def ask(self, job: tuple[str, int, str]) -> None:
        """Queue a job for this process's worker, which makes it if it can claim it."""
        with self._lock:
            if job in self.asked:
                return
            self.asked.add(job)
        self.waiting.put(job)

    def failure(self, home: Path) -> Message:
        """What a client is told of files that could not be made."""
        try:
            failed = orjson.loads((home / "failed.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            failed = {}
        if isinstance(failed, dict) and "interrupted" in failed:
            return msg("making them was interrupted too many times; they are made again when another audit joins "
                       "the round")
        return msg("the error has been logged; tell the administrator")

    # ------------------------------------------------------------------ the worker

    def _work(self) -> None:
        looked = time.monotonic() - self.poll
        while not self._stopping.is_set():
            if time.monotonic() - looked >= self.poll:
                looked = time.monotonic()
                try:
                    self._take_over()
                except Exception as exc:  # noqa: BLE001 - the database away for a moment: look again later
                    log.error("looking for abandoned round files failed: %s", type(exc).__name__)
            try:
                job = self.waiting.get(timeout=max(0.0, looked + self.poll - time.monotonic()))
            except queue.Empty:
                continue
            if job is None:
                continue
            try:
                self._claim_and_make(job)
            except Exception as exc:  # noqa: BLE001 - one round's failure never stops the others
                log.error("round files %s stopped: %s", job[0], type(exc).__name__)
            finally:
                with self._lock:
                    self.asked.discard(job)

    def _take_over(self) -> None:
        """Make the files whose maker died or stopped part-way, one job after the other, each once claimed here."""
        for job_id in abandoned(self.store, JOB):
            if self._stopping.is_set():
                return
            job = self._job_of(job_id)
            if job is not None:
                self._claim_and_make(job)
            elif self.leases.claim(JOB, job_id):            # no such round (any more): nothing to make
                self.leases.release(JOB, job_id)

    def _job_of(self, job_id: str) -> tuple[str, int, str] | None:
        digest, _, name = job_id.partition("/")
        stamp, _, lang = name.partition("-")
        if not stamp.isdigit() or not lang:
            return None
        if digest not in self._rounds:                # rounds are never removed: the ids read once
            with self.store.engine.connect() as db:
                self._rounds.update({self.digest(i): i for i in db.execute(select(rounds.c.id)).scalars()})
        round_id = self._rounds.get(digest)
        return None if round_id is None else (round_id, int(stamp), lang)

    def _claim_and_make(self, job: tuple[str, int, str]) -> None:
        if self._stopping.is_set() or self.home(*job).is_dir():
            return
        job_id = self.job_id(*job)
        if not self.leases.claim(JOB, job_id):
            return                                   # another process makes them
        finished = False
        try:
            held = self.leases.held(JOB, job_id)
            if held is not None and held[2] > MAX_CLAIMS:
                log.error("round files %s were interrupted %d times: stopped", job[0], held[2] - 1)
                finished = self._publish(job, "failed.json", {"interrupted": held[2] - 1})
            else:
                finished = self._make(*job)
        finally:
            if finished:
                self.leases.release(JOB, job_id)
            else:                                    # stopped part-way: for another process to take over at once
                self.leases.leave(JOB, job_id)

    def _make(self, round_id: str, stamp: int, lang: str) -> bool:
        """Make a job's files, this process holding its lease; False when stopped part-way (the service stopping,
        the command killed, or the lease lost), for whoever holds the job next to go on."""
        round_row = get_round(self.store, round_id)
        job = (round_id, stamp, lang)
        if round_row is None or self.home(*job).is_dir():
            return True
        found = members(self.store, round_row)
        if self.stamp(found) != stamp:
            return True                              # another audit joined meanwhile: asked for again when read
        work = self.work(*job)
        (work / "out").mkdir(parents=True, exist_ok=True)
        chosen = latest_per_centre(found)
        # Written again by a process that takes the job over: the same audits give the same bytes, so the command
        # line's checkpoint (which names its input by path and content) still holds.
        granted = self._input(work, chosen.values())
        batch = [sys.executable, "-m", "compliance", "batch", "centres.jsonl", "--rules", round_row.rules,
                 "-o", str(work / "out"), "--lang", lang, "--jobs", "1"]
        if granted:
            batch += ["--waivers", "waivers.json"]
        ledger = [sys.executable, "-m", "compliance", "ledger", str(work / "out"), "-o", str(work / "ledger.xlsx"),
                  "--lang", lang]
        ended = work / "batch.json"                  # the batch's end: a job taken over after it makes the ledger
        with Heartbeat(self.leases, JOB, self.job_id(*job), lambda: self.current) as beat, \
                open(work / "log.txt", "ab") as out:
            for command, fine in ((batch, (0, 1, 2)), (ledger, (0,))):
                if command is batch and ended.is_file():
                    continue
                if self._stopping.is_set():
                    return False
                # Which process ran which step, and when: a job taken over is made by two.
                now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
                out.write(f"-- {now} {self.leases.owner}: compliance {command[3]}\n".encode())
                out.flush()
                self.current = subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=work,
                                                preexec_fn=die_with_parent)
                code = self.current.wait()
                self.current = None
                if beat.lost.is_set():
                    log.warning("round files %s: the lease was lost; the process that took them over makes them",
                                round_id)
                    return False
                if code < 0 and -code in (signal.SIGTERM, signal.SIGKILL):
                    return False                     # stopped (with the service, or killed): resumed from here
                if code not in fine or (command is batch and not (work / "out" / "summary.csv").is_file()):
                    log.error("round files %s: %s ended with %s", round_id, command[3], code)
                    return self._publish(job, "failed.json", {"step": command[3], "exit_code": code})
                if command is batch:
                    write_atomic(ended, orjson.dumps({"exit_code": code}))
            return self._publish(job, "done.json", {"centres": len(chosen), "stamp": stamp})

    def _publish(self, job: tuple[str, int, str], name: str, content: dict[str, Any]) -> bool:
        """Put the job's folder in place whole: ``name`` written last in the work folder, which is then renamed.
        Only while this process still holds the job (one that lost it leaves the folder to the one that took it
        over); False when it did not."""
        if not self.leases.renew(JOB, self.job_id(*job)):
            return False
        work, home = self.work(*job), self.home(*job)
        work.mkdir(parents=True, exist_ok=True)
        write_atomic(work / name, orjson.dumps(content))
        try:
            os.replace(work, home)
        except OSError:
            if not home.is_dir():
                raise
            shutil.rmtree(work, ignore_errors=True)  # put in place already, by a holder before this one
        return True

    def _input(self, work: Path, chosen: Iterable[Any]) -> bool:
        """The chosen audits' stored profiles as centres.jsonl, and the waivers their results applied (or found
        expired) as waivers.json; True when there are waivers. Each file is written whole or not at all."""
        granted: dict[tuple[str, str, str, str, str, str], None] = {}
        partial = work / "centres.jsonl.part"
        with open(partial, "wb") as lines, self.store.engine.connect() as db:
            for r in chosen:
                stored = db.execute(select(audits.c.profile, audits.c.profile_type, audits.c.result)
                                    .where(audits.c.id == r.audit_id)).first()
                if stored is None:
                    continue
                name = "profile.yaml" if "yaml" in stored.profile_type else "profile.json"
                try:
                    document = parse(bytes(stored.profile), name, ProfileError)
                except ProfileError:
                    continue
                lines.write(orjson.dumps(document) + b"\n")
                result = orjson.loads(bytes(stored.result))
                for finding in result.get("findings") or ():
                    for key in ("waiver", "waiver_expired"):
                        w = finding.get(key)
                        if isinstance(w, dict):
                            granted[(r.centre_id, str(finding.get("clause")), w["reason"], w["approved_by"],
                                     w["approved_on"], w["expires_on"])] = None
        if granted:
            write_atomic(work / "waivers.json", orjson.dumps({"waivers": [
                dict(zip(("centre", "clause", "reason", "approved_by", "approved_on", "expires_on"), g))
                for g in granted]}))
        else:
            (work / "waivers.json").unlink(missing_ok=True)
        os.replace(partial, work / "centres.jsonl")
        return bool(granted)

    def file(self, home: Path, name: str) -> Path | None:
        path = home / "ledger.xlsx" if name == "ledger.xlsx" else home / "out" / name
        return path if path.is_file() else None


# --------------------------------------------------------------------------- the routes

ROUND_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name", "rules", "region", "self_check_due", "inspection_due", "opened_by",
                                   "opened_at"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "rules": {"type": "string"},
        "region": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
        "self_check_due": {"type": ["string", "null"], "format": "date"},
        "inspection_due": {"type": ["string", "null"], "format": "date"},
        "opened_by": {"type": "string"}, "opened_at": {"type": "string", "format": "date-time"},
        "progress": {"type": "object", "description": "for a community account, its own centre's", "properties": {
            "centres": {"type": "integer"}, "self_checked": {"type": "integer"}, "inspected": {"type": "integer"},
            "audits": {"type": "integer"}, "open_actions": {"type": ["integer", "null"]},
            "overdue_actions": {"type": ["integer", "null"]}}},
        "files": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
MAKING_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["round", "file", "status", "progress"],
    "properties": {"round": {"type": "string"}, "file": {"type": "string"}, "status": {"enum": ["making"]},
                   "progress": {"type": "object", "properties": {"done": {"type": "integer"},
                                                                 "total": {"type": "integer"}}}}}
RECORD_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name"],
    "properties": {"id": {"type": "string", "maxLength": 64}, "name": {"type": "string"},
                   "rules": {"type": "string", "description": "the rule set (without it, the service's)"},
                   "region": {"type": "object", "description": "the centres it covers: any of province, city, "
                              "district, street", "additionalProperties": {"type": "string"}},
                   "self_check_due": {"type": "string", "format": "date"},
                   "inspection_due": {"type": "string", "format": "date"}}}
_TITLES = {400: "The client went away", 401: "No valid bearer token", 403: "Not a bureau account",
           404: "No such round", 408: "The body came too slowly", 409: "A round with this id exists, or the round "
           "has no audit yet, or its files could not be made", 413: "The body is too large", 415: "Not JSON",
           422: "Not a valid round"}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": _TITLES[code], "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}} for code in codes}


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json", headers=headers)


def install(app: FastAPI, store: Store, data: Path, current_account: Any, pages: Any = None) -> RoundFiles:
    """The routes of rounds, with ``current_account`` the API's dependency naming the account of a request, and with
    ``pages`` (the web pages' module) the bureau's rounds page (:func:`install_pages`)."""
    store.on_audits.append(joined)
    files = RoundFiles(store, data)
    one = {"application/json": {"schema": ROUND_SCHEMA}}

    @app.post("/v1/rounds", status_code=201, tags=["rounds"], summary="Open a round (bureau accounts)",
              description="Audits whose profile names the round (audit.round) join it.",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": RECORD_SCHEMA}}}},
              responses={201: {"description": "Opened", "content": one}, **errors(400, 401, 403, 408, 409, 413, 415,
                                                                                   422)})
    async def post_round(request: Request, account: Account = Depends(current_account)) -> Response:
        if account.role != "bureau":
            raise Problem(403, msg("Rounds are opened by bureau accounts"))
        raw = await read_body(request, PROFILE_LIMIT)
        if media_type_of(request) not in JSON_TYPES:
            raise Problem(415, msg("Unsupported media type"), msg("send the round as {type}",
                                                                  type=quote("application/json")))
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Problem(422, msg("The round is not valid"), msg("the body is not {format}", format=quote("JSON")),
                          problems=[{"path": "$", "message": msg("the body is not {format}",
                                                                 format=quote("JSON"))}]) from None
        values, problems = checked(body, service_rules(store))
        if problems:
            raise Problem(422, msg("The round is not valid"), problems=problems)
        row = open_round(store, values, account)
        return _json(view(store, row, account, files), 201,
                     headers={"Location": f"/v1/rounds/{_path_id(row.id)}"})

    @app.get("/v1/rounds", tags=["rounds"], summary="The rounds opened, newest first",
             responses={200: {"content": {"application/json": {"schema": {
                 "type": "object", "required": ["rounds"], "properties": {
                     "rounds": {"type": "array", "items": ROUND_SCHEMA}}}}}}, **errors(401)})
    def list_rounds(account: Account = Depends(current_account)) -> Response:
        with store.engine.connect() as db:
            rows = list(db.execute(select(rounds).order_by(rounds.c.seq.desc()).limit(1000)))
        return _json({"rounds": [view(store, r, account) for r in rows]})

    def readable(round_id: str) -> Any:
        found = get_round(store, round_id)
        if found is None:
            raise Problem(404, msg("No such round"))
        return found

    @app.get("/v1/rounds/{round_id}", tags=["rounds"], summary="A round and its progress",
             description="Centres with a self-check, with an inspection, and the open and overdue actions of the "
                         "centres in it; a community account sees its own centre's.",
             responses={200: {"content": one}, **errors(401, 404)})
    def get_one(round_id: str, account: Account = Depends(current_account)) -> Response:
        return _json(view(store, readable(round_id), account, files))

    @app.get("/v1/rounds/{round_id}/files/{name}", tags=["rounds"], summary="One of the round's files",
             description="Made from each centre's latest inspection in the round (its latest self-check where it has "
                         "none) by the code of compliance batch and compliance ledger; 202 while they are made.",
             response_class=Response,
             responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}},
                        202: {"description": "Being made: ask again shortly",
                              "content": {"application/json": {"schema": MAKING_SCHEMA}}},
                        **errors(401, 403, 404, 409)})
    def get_file(round_id: str, name: str, account: Account = Depends(current_account)) -> Response:
        found = readable(round_id)
        path, made = file_of(store, files, found, name, account)
        if path is None:
            return _json({"round": found.id, "file": name, "status": "making", "progress": made}, 202,
                         headers={"Retry-After": "2", "Location": f"/v1/rounds/{_path_id(found.id)}/files/{name}"})
        made_on = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
        from .common import local_date

        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                            headers={"Content-Disposition": content_disposition(
                                f"{found.name}-{local_date(made_on)}-{name}")})

    if pages is not None:
        install_pages(app, store, pages, files)
    return files


def open_round(store: Store, values: Mapping[str, Any], account: Account) -> Any:
    """Store a round as checked (:func:`checked`): its row; 409 when a round has its id already."""
    try:
        with store.engine.begin() as db:
            db.execute(rounds.insert(), {
                **values, "region": orjson.dumps(values["region"]).decode() if values.get("region") else None,
                "created_by": account.name, "created_at": datetime.datetime.now(datetime.timezone.utc)})
    except IntegrityError:
        raise Problem(409, msg("A round with this id exists"), msg("the round {id} was opened already",
                                                                  id=quote(values["id"]))) from None
    return get_round(store, values["id"])


def file_of(store: Store, files: RoundFiles, found: Any, name: str,
            account: Account) -> tuple[Path | None, dict[str, Any]]:
    """One of the round's files for ``account``, in the language in force: (its path, {}) once made, (None, progress)
    while it is being made. 403, 404 or 409 (no audit has joined, or making them failed) as a problem."""
    if not may_read_files(account):
        raise Problem(403, msg("A round's files are the bureau's"),
                      msg("they set every centre of the round side by side"))
    if name not in FILES:
        raise Problem(404, msg("No such file"), msg("a round has {files}", files=[quote(n) for n in FILES]))
    if not members(store, found):
        raise Problem(409, msg("No audit has joined the round yet"),
                      msg("an audit joins it when its profile names it: {key}",
                          key=quote(f"audit.round: {found.id}")))
    state, home, made = files.state(found, language())
    if state == "making":
        return None, made
    path = files.file(home, name) if state == "done" else None
    if path is None:
        raise Problem(409, msg("The round's files could not be made"), files.failure(home))
    return path, {}



# --------------------------------------------------------------------------- the bureau's rounds page

FILE_LABELS = {"summary.xlsx": cmsg("round file", "summary table"), "summary.csv": cmsg("round file", "summary table"),
               "district-report.pdf": cmsg("round file", "district report"),
               "ledger.xlsx": cmsg("round file", "rectification ledger")}
FILE_KINDS = {".xlsx": "Excel", ".csv": "CSV", ".pdf": "PDF"}
FORM_FIELDS = ("id", "name", "rules", "self_check_due", "inspection_due")
REFRESH_SECONDS = 3           # how often the page of files being made asks again
PAGE_ROUNDS = 200             # the rounds the page lists, newest first


def download_name(round_row: Any, name: str) -> str:
    """A round's file under the round's name and what the file is, in the reader's language
    (2026年秋季考核-整改台账.xlsx)."""
    return f"{round_row.name}-{FILE_LABELS[name].text()}{Path(name).suffix}"


def file_links(round_row: Any) -> list[dict[str, str]]:
    return [{"href": f"/rounds/{_path_id(round_row.id)}/files/{name}", "name": name,
             "label": f"{FILE_LABELS[name].text()}{separator('open')}{FILE_KINDS[Path(name).suffix]}"
                      f"{separator('close')}"} for name in FILES]


def install_pages(app: FastAPI, store: Store, web: Any, files: RoundFiles) -> None:
    """The bureau's rounds page: the rounds with their progress and files, and a form to open one; ``web`` is the
    pages' module (its ``page``, ``account_of``, ``check_csrf``, ``posted_form``), handed in by the application."""
    from fastapi.responses import RedirectResponse

    def bureau(request: Request) -> Account:
        account: Account = web.account_of(request, store)
        if account.role != "bureau":
            raise Problem(403, msg("Rounds are the bureau's"), msg("they set every centre of the round side by side"))
        return account

    def page_of(request: Request, account: Account, values: Mapping[str, str] | None = None,
                errors: Mapping[str, str] | None = None, general: list[str] | None = None,
                opened: str = "", status: int = 200) -> Response:
        with store.engine.connect() as db:
            rows = list(db.execute(select(rounds).order_by(rounds.c.seq.desc()).limit(PAGE_ROUNDS)))
        items = [{"round": view(store, r, account, files), "links": file_links(r), "anchor": RoundFiles.digest(r.id)}
                 for r in rows]
        default = service_rules(store)
        shown: Response = web.page(
            request, "rounds.html.j2", status=status, me=account, items=items,
            rule_names=[(name, _ruleset_title(name)) for name in bundled()],
            values=values or {"rules": default}, errors=errors or {}, general=general or [], opened=opened)
        return shown

    @app.get("/rounds", include_in_schema=False)
    def rounds_page(request: Request, opened: str = "") -> Response:
        return page_of(request, bureau(request), opened=opened[:64])

    @app.post("/rounds", include_in_schema=False)
    async def open_from_page(request: Request) -> Response:
        account = bureau(request)
        form = await web.posted_form(request, 10)
        web.check_csrf(request, form)
        values = {key: str(form.get(key, "") or "").strip() for key in FORM_FIELDS}
        body: dict[str, Any] = {key: values[key] for key in ("id", "name", "rules")}
        body.update({key: values[key] for key in ("self_check_due", "inspection_due") if values[key]})
        checked_values, problems = checked(body, service_rules(store))
        # A field left empty is said at the field as the other forms say it, not by the API's key name.
        errors: dict[str, str] = {key: text(msg("required: fill this in")) for key in ("id", "name") if not values[key]}
        general: list[str] = []
        for p in problems:
            field = str(p["path"]).removeprefix("$.").split(".")[0]
            words = text(p["message"])
            if field in errors and not values[field]:
                continue
            if field in FORM_FIELDS:
                errors[field] = errors[field] + separator("sentences") + words if field in errors else words
            else:
                general.append(words)
        if not problems:
            try:
                open_round(store, checked_values, account)
            except Problem as problem:
                if problem.status != 409:
                    raise
                errors["id"] = text(problem.detail) if problem.detail is not None else text(problem.title)
        if errors or general:
            return page_of(request, account, values, errors, general, status=422)
        from urllib.parse import quote as percent

        return RedirectResponse(f"/rounds?opened={percent(checked_values['id'], safe='')}#r-"
                                f"{RoundFiles.digest(checked_values['id'])}", status_code=303)

    @app.get("/rounds/{round_id}/files/{name}", include_in_schema=False)
    def file_page(request: Request, round_id: str, name: str) -> Response:
        account = bureau(request)
        found = get_round(store, round_id)
        if found is None:
            raise Problem(404, msg("No such round"))
        path, made = file_of(store, files, found, name, account)
        if path is None:
            shown: Response = web.page(request, "round_making.html.j2", status=202, me=account,
                                       round=view(store, found, account), file_label=file_links(found)[
                                           FILES.index(name)]["label"], made=made, refresh=REFRESH_SECONDS)
            shown.headers["Retry-After"] = str(REFRESH_SECONDS)
            return shown
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                            headers={"Content-Disposition": content_disposition(download_name(found, name))})


def _ruleset_title(name: str) -> str:
    from .common import load_bundled

    return str(load_bundled(name).title[language()])
