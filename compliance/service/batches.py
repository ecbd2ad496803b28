"""Rounds submitted through the API: each runs as `compliance batch` in its own process, one at a time.

A batch's folder holds the uploaded file (`input/`), the round's outputs (`out/`) and the command's log.
Running the command itself, rather than a copy of it in the service, gives an API batch exactly the
outputs of the command line, keeps a long round's memory out of the service, and lets a batch that was
running when the service stopped resume from its checkpoint when the service starts again.
"""
from __future__ import annotations

import contextlib
import os
import queue
import secrets
import signal
import subprocess
import sys
import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import orjson


from ..batch.sources import count_records
from ..i18n import msg, quote, text
from .processes import POLL_SECONDS, Heartbeat, Leases, claimable
from ..model import RuleSet
from .store import Batch, Store

log = logging.getLogger("compliance.service")
DONE_MESSAGES = {0: msg("every centre conforms"), 1: msg("some centres do not conform"),
                 2: msg("some input was refused: see {file}", file=quote("errors.csv"))}
INTERNAL = "internal error"           # the stored message of a batch stopped by a defect (worded when read)
INTERRUPTED = "interrupted"           # the stored message of a batch whose round was stopped too often
MAX_CLAIMS = 10                       # a batch taken up again this many times (each a restart or a take-over) fails
OUTPUTS = ("results.jsonl", "summary.csv", "summary.xlsx", "errors.csv", "district-report.pdf", "district-report.html")
MEDIA_TYPES = {
    ".jsonl": "application/jsonl", ".csv": "text/csv; charset=utf-8", ".pdf": "application/pdf",
    ".html": "text/html; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
INPUT_SUFFIXES = (".xlsx", ".csv", ".jsonl")


class Batches:
    """The batch jobs and the one thread of this process that runs them, one at a time, in the order they came.

    Every process on the database runs such a thread; a batch is run by the one holding its lease (see
    processes.py), so it runs once however many processes there are, and a batch whose holder died is taken over
    by another and resumed from its checkpoint. The batches' folder must be one that every process sees."""

    def __init__(self, store: Store, folder: Path, jobs: int = 1) -> None:
        self.store, self.folder, self.jobs = store, folder, jobs
        self.waiting: queue.Queue[str] = queue.Queue()        # wakes the worker when this process queues a batch
        self.current: subprocess.Popen[bytes] | None = None
        self.leases = Leases(store)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Writes the waivers in force as a waiver file (False: none), set by the service's waivers
        self.waivers_file: Callable[[Store, RuleSet, Path], bool] | None = None

    def start(self) -> None:
        """Resume whatever was queued or running and nobody holds (a stopped service's, or a dead process's), then
        take new batches: this process's at once, other processes' and abandoned ones within POLL_SECONDS."""
        self._thread = threading.Thread(target=self._work, name="batches", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the round being run (it keeps its checkpoint) and give its lease back, so that another process, or
        this service started again, resumes it at once."""
        self._stopping.set()
        self.waiting.put("")
        process = self.current
        if process is not None and process.poll() is None:
            process.terminate()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def submit(self, upload: Path, filename: str, rules: str, submitted_by: str, lang: str = "zh") -> Batch:
        """Queue a round on ``upload``; its outputs (errors.csv, the district report) speak ``lang``."""
        batch_id = secrets.token_hex(16)
        home = self.home(batch_id)
        (home / "input").mkdir(parents=True)
        os.replace(upload, home / "input" / filename)
        batch = self.store.add_batch(batch_id, rules, filename, submitted_by, lang)
        self.waiting.put(batch_id)
        return batch

    def home(self, batch_id: str) -> Path:
        return self.folder / batch_id

    # ------------------------------------------------------------------ what a client reads

    def view(self, batch: Batch) -> dict[str, Any]:
        done, total = self.progress(batch)
        files = [name for name in OUTPUTS if self.file(batch, name) is not None]
        view: dict[str, Any] = {
            "id": batch.id, "status": batch.status, "rules": batch.rules, "filename": batch.filename,
            "submitted_by": batch.submitted_by, "submitted_at": batch.submitted_at.isoformat(),
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
            "progress": {"done": done, "total": total},
            "exit_code": batch.exit_code, "message": self.message(batch), "added": batch.added,
            "audited": self.audited(batch),
            "files": {name: f"/v1/batches/{batch.id}/files/{name}" for name in files},
        }
        return view

    @staticmethod
    def message(batch: Batch) -> str | None:
        """What the batch's end says, in the reader's language: a finished round by its exit status; a failed one
        by the last lines the round printed (in the service's language)."""
        if batch.status == "done" and batch.exit_code in DONE_MESSAGES:
            return text(DONE_MESSAGES[batch.exit_code])
        if batch.status == "failed" and batch.message == INTERNAL:
            return text(msg("the round stopped on an internal error; it has been logged"))
        if batch.status == "failed" and batch.message == INTERRUPTED:
            return text(msg("the round was interrupted too many times and has been stopped; submit it again"))
        return batch.message

    def audited(self, batch: Batch) -> int | None:
        """How many centres a finished batch audited (the rest of its input was refused), else None."""
        if batch.status != "done":
            return None
        return _count(self.home(batch.id) / "out" / "results.jsonl")

    def progress(self, batch: Batch) -> tuple[int, int | None]:
        """(centres done, centres in the input when it can be counted without reading it all)."""
        home = self.home(batch.id)
        total = _count(home / "input" / batch.filename)
        if batch.status == "done":
            return (total if total is not None else _count(home / "out" / "results.jsonl") or 0), total
        try:
            state = orjson.loads((home / "out" / ".round" / "state.json").read_bytes())
            return min(int(state.get("done", 0)), total if total is not None else 1 << 62), total
        except (OSError, orjson.JSONDecodeError, ValueError, TypeError):
            # No checkpoint: not started yet, or every centre done and the tables being written.
            return (total or 0) if (home / "out").is_dir() and batch.status == "running" else 0, total

    def file(self, batch: Batch, name: str) -> Path | None:
        """An output of a finished batch, by its name only (no path reaches outside the batch's folder)."""
        if name not in OUTPUTS or not (batch.status == "done" or (batch.status == "failed" and name == "errors.csv")):
            return None                        # a failed round may still say what it refused
        path = self.home(batch.id) / "out" / name
        return path if path.is_file() else None

    # ------------------------------------------------------------------ the worker

    def _work(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(queue.Empty):
                self.waiting.get(timeout=POLL_SECONDS)
            try:
                self._claim_and_run()
            except Exception as exc:  # noqa: BLE001 - the database away for a moment: look again later
                log.error("looking for batches to run failed: %s", type(exc).__name__)
                self._stopping.wait(POLL_SECONDS)

    def _claim_and_run(self) -> None:
        """Run every unfinished batch nobody holds, one after the other, each once this process holds its lease."""
        unfinished = [b.id for b in self.store.unfinished_batches()]
        for batch_id in claimable(self.store, "batch", unfinished):
            if self._stopping.is_set() or not self.leases.claim("batch", batch_id):
                continue
            try:
                batch = self.store.batch(batch_id)          # as it is now that this process holds it
                if batch is None or batch.status in ("done", "failed"):
                    continue
                held = self.leases.held("batch", batch_id)
                if held is not None and held[2] > MAX_CLAIMS:
                    log.error("batch %s was interrupted %d times: stopped", batch_id, held[2] - 1)
                    self.store.set_batch(batch_id, "failed", message=INTERRUPTED)
                    continue
                try:
                    self._run(batch)
                except Exception as exc:  # noqa: BLE001 - one batch's failure never stops the queue
                    log.error("batch %s stopped: %s", batch.id, type(exc).__name__)
                    self.store.set_batch(batch.id, "failed", message=INTERNAL)
            finally:
                self.leases.release("batch", batch_id)

    def _run(self, batch: Batch) -> None:
        home = self.home(batch.id)
        self.store.set_batch(batch.id, "running")
        # Run beside the upload and name it alone, so every location reads as the bureau's own file
        # ("centres.xlsx!centres!F12"), not as a path on the server.
        command = [sys.executable, "-m", "compliance", "batch", batch.filename,
                   "--rules", batch.rules, "-o", str(home / "out"), "--jobs", str(self.jobs), "--lang", batch.lang]
        command += self.waivers(batch.rules, home)
        with Heartbeat(self.leases, "batch", batch.id, lambda: self.current) as beat, \
                open(home / "log.txt", "ab") as log_file:
            self.current = subprocess.Popen(command, stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL,
                                            cwd=home / "input", preexec_fn=die_with_parent)
            code = self.current.wait()
            self.current = None
            if beat.lost.is_set():
                log.warning("batch %s: its lease was lost; the process that took it over resumes it", batch.id)
                return
            results = (home / "out" / "results.jsonl").is_file()
            if code in (0, 1) or (code == 2 and results):
                added = self.remember(batch)
                self.store.set_batch(batch.id, "done", exit_code=code, message=DONE_MESSAGES[code].text("en"),
                                     added=added)
            elif code < 0 and -code in (signal.SIGTERM, signal.SIGKILL):
                pass             # stopped with the service (or killed): still "running", resumed from its checkpoint
            else:
                message = _last_lines(home / "log.txt").replace(str(home / "out") + ": ", "").replace(str(home), "")
                self.store.set_batch(batch.id, "failed", exit_code=code, message=message)

    def waivers(self, rules: str, home: Path) -> list[str]:
        """``--waivers FILE`` with the waivers in force as the round starts (none: nothing), as the command line
        takes them; the file is beside the upload, so a resumed round sees what it started with."""
        from ..compile import load_ruleset

        target = home / "waivers.json"
        if not target.is_file() and (self.waivers_file is None or
                                     not self.waivers_file(self.store, load_ruleset(rules), target)):
            return []
        return ["--waivers", str(target)]

    def remember(self, batch: Batch) -> int:
        """Put a finished batch's audits into the history (and so on the dashboard), each with its profile, unless
        identical to the centre's latest audit under the same rule set; returns how many it added.

        results.jsonl holds the audited centres in input order; the input, read again, gives their profiles in
        the same order with the refused ones left out, so the two are walked side by side (by centre id) and
        never held in memory whole."""
        from ..batch.sources import read_profiles
        from ..compile import load_ruleset

        home = self.home(batch.id)
        profiles = (item for _, item in read_profiles(str(home / "input" / batch.filename), load_ruleset(batch.rules),
                                                       evidence=False)
                    if not isinstance(item, Exception))

        def pairs() -> Any:
            with open(home / "out" / "results.jsonl", "rb") as fh:
                for line in fh:
                    centre = orjson.loads(line)["center"]["id"]
                    for profile in profiles:
                        if profile.id == centre:
                            yield line.rstrip(b"\n"), orjson.dumps(profile.data)
                            break
                    else:
                        return

        return self.store.add_round(batch.id, batch.submitted_by, pairs())


def die_with_parent() -> None:
    """In the round's process, before it starts: end it if the service ends (Linux), so a restarted service
    never finds an orphan still writing the batch it resumes."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)    # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@lru_cache(maxsize=256)
def _count(path: Path) -> int | None:
    """Records in a batch's input, or in a finished batch's results: both never change once written, so a
    client polling a national batch does not have the service read its input again every time."""
    if path.suffix.lower() == ".xlsx":
        return _count_workbook(path)
    return count_records(path)


def _count_workbook(path: Path) -> int | None:
    """The rows of centres in an uploaded workbook (checked against decompression bombs when it was uploaded): its
    sheet of centres read once, for the progress of its batch. None when it cannot be read (the round says why)."""
    try:
        from python_calamine import CalamineWorkbook

        from ..batch.sources import CENTRES_SHEET, HEADER_ROWS

        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(CENTRES_SHEET).to_python(skip_empty_area=False)
    except Exception:  # noqa: BLE001 - progress only: a workbook that cannot be read has no count
        return None
    return sum(1 for row in rows[HEADER_ROWS:] if any(v not in (None, "") for v in row))


def _last_lines(log: Path, n: int = 5) -> str:
    try:
        lines = log.read_text("utf-8", "replace").strip().splitlines()
    except OSError:
        return text(msg("the round failed"))
    return "\n".join(lines[-n:])[:2000] or text(msg("the round failed"))
