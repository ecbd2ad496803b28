"""``compliance batch``: one round over many centres, resumable, streaming, in input order.

While it runs the round keeps its work in ``OUTDIR/.round/``: the result lines so
far (the future ``results.jsonl``), one short row per centre for the tables, and a
checkpoint saying how many input records are done and how long both files were
then. Killed and started again with the same command (same inputs, rule set and
options), it cuts both files back to the checkpoint, skips the records already
done and goes on, so the outputs equal an uninterrupted run's. Only at the end are
the outputs written, each atomically, and the work folder removed.

Memory stays flat: records are read as a stream, a bounded window of chunks is in
flight, and per centre the parent keeps only its id (to refuse repeats) and, for
the league table, its score and the offset of its row.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Generic, Iterator, Sequence, TypeVar, cast

import orjson

from ..version import __version__
from .. import reading
from ..errors import ComplianceError, Problem, ProfileError, json_path, system_reason
from ..i18n import Joined, Message, msg, quote, text
from ..model import RuleSet
from ..waivers import Waivers
from ..writing import put_in_place, same_file, write_atomic
from . import outputs, sources, table
from .outputs import Previous, SelfRound, Tally
from .run import (CHUNK, RENDERER, Audited, Outcome, Plain, Refused, apart, executor, in_process, render_pdf,
                  rules_source, run_batches, run_chunks, warm_up)
from .seen import SeenIds

WORK = ".round"
SAVE_EVERY = 4 * CHUNK               # centres between checkpoints (and at least every 2 s): a save costs a rename
SAVE_GAP = 0.5                       # seconds at least between them: a national round does 1,024 centres in 50 ms
SAVE_WITHIN = 2.0                    # seconds at most between them
T = TypeVar("T")
_ID_IN_TEXT = re.compile(rb'"center"\s*:\s*\{[^{}]*?"id"\s*:\s*"([^"\\]{1,200})"')
OUTPUT_NAMES = ("results.jsonl", "results.parquet", "summary.csv", "summary.xlsx", "errors.csv", "district-report.html",
                "district-report.pdf")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


_HASHED = re.compile(r"-[0-9a-f]{8}$")
# names Windows keeps for devices, whatever follows their first dot: a folder of reports copied there would fail
_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                      *(f"{d}{i}" for d in ("COM", "LPT") for i in ("0123456789¹²³"))})
NAME_BYTES = 120                     # well under the 255 bytes a file name may have


class _Later(Generic[T]):
    """``work`` begun in a thread of its own; calling this waits for its answer, or raises its error."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._answer: list[T] = []
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._answer.append(work())
        except BaseException as exc:  # noqa: BLE001 - raised again in the thread that asks
            self._failed.append(exc)

    def ready(self) -> bool:
        """Whether calling this would not wait."""
        return not self._thread.is_alive()

    def __call__(self) -> T:
        self._thread.join()
        if self._failed:
            raise self._failed[0]
        return self._answer[0]


@contextlib.contextmanager
def _beside(work: Callable[[], None]) -> Iterator[None]:
    """``work`` in a thread of its own while the block runs; once both are done, its error is raised here (the
    block's own error first)."""
    done = _Later(work)
    try:
        yield
    except BaseException:
        with contextlib.suppress(BaseException):
            done()
        raise
    done()


def _stopped(where: Path) -> ComplianceError:
    """A process of the round gone before its work was done: not a defect, and nothing is lost."""
    return ComplianceError(msg("a process of the round stopped before its work was done (killed, or out of memory); "
                               "run the same command again: the round goes on from its last checkpoint"),
                           file=str(where))


def _stopped_names(work: Callable[[], None], target: Path) -> Callable[[], None]:
    """``work``, whose process stopping (killed, out of memory) is said of the file it was writing."""
    def run() -> None:
        try:
            work()
        except BrokenProcessPool as exc:
            raise _stopped(target) from exc

    return run


def report_name(center_id: str) -> str:
    """A centre's report file name: its id, where that is a safe file name.

    Otherwise (a path separator, ``..``, a control character, a leading dot, more than NAME_BYTES
    bytes, a name Windows keeps for a device such as ``CON`` or ``lpt1.x``, or an id that itself ends like a
    hash) the cleaned id plus ``-`` and 8 hex digits of the real id's SHA-256: no name leaves ``reports/``,
    and two ids share a name only if their hashes do.
    """
    import hashlib

    clean = _UNSAFE.sub("_", center_id).replace("..", "_").strip(" .") or "centre"
    while len(clean.encode("utf-8")) > NAME_BYTES:
        clean = clean[:-1]
    stem, dot, rest = clean.partition(".")
    device = stem.rstrip(" ").upper() in _DEVICES
    if device or clean != center_id or _HASHED.search(center_id):
        tag = "-" + hashlib.sha256(center_id.encode("utf-8")).hexdigest()[:8]
        # a device's hash goes before the first dot: Windows reads no further
        clean = stem.rstrip(" ") + tag + dot + rest if device else clean.rstrip(" .") + tag
    return clean + ".pdf"


@dataclass
class Round:
    inputs: Sequence[str]
    rules: RuleSet
    outdir: Path
    jobs: int = 1
    reports: bool = False
    previous: Previous | None = None
    self_round: SelfRound | None = None         # the round's self-checks, set beside these audits (batch --self)
    scheduler: str | None = None
    lang: str = "zh"
    progress: bool = False
    written: list[str] = field(default_factory=list)
    defects: int = 0                    # centres whose audit hit a bug (reported as refused, exit 3)
    strict: bool = False                # a key the contract does not know refuses the centre (else a warning)
    waivers: Waivers | None = None      # the bureau's waivers, applied to the centres they name
    labels: dict[str, str] = field(default_factory=dict)     # column key → its Chinese label, for errors
    results: str = "jsonl"              # or "parquet": results.parquet instead of results.jsonl
    _rows_end: int = field(default=0, repr=False)            # the rows file's length while the round runs
    _table: Any = field(default=None, repr=False)            # parquet: the chunk whose rows are being kept
    _counting: Any = field(default=None, repr=False)         # the tally, counted as the rows are written
    _kept: list[int] = field(default_factory=list, repr=False)
    _began: float = field(default=0.0, repr=False)           # when run() began (time.time())

    def __post_init__(self) -> None:
        self.labels = table.field_labels(self.rules.vocabulary, self.lang)

    # ------------------------------------------------------------------ set-up

    def check_paths(self) -> None:
        out = self.outdir
        if out.exists() and not out.is_dir():
            raise ComplianceError(msg("{option} must be a folder (the round's outputs go inside it)", option=quote("-o")),
                                  file=str(out))
        if self.previous is not None and self.previous.ruleset and self.previous.ruleset != self.rules.id:
            raise ComplianceError(
                msg("the round given as {option} was audited under the rule set {old} and this one under {new}: their "
                    "scores are not comparable. Audit last year's profiles with {rules} first", option=quote("--previous"),
                    old=quote(self.previous.ruleset), new=quote(self.rules.id), rules=quote(f"--rules {self.rules.id}")),
                file=self.previous.folder)
        if self.self_round is not None and self.self_round.content_hash and (
                self.self_round.content_hash != self.rules.content_hash):
            raise ComplianceError(
                msg("the round given as {option} was audited under the rule set {old} and this one under {new}: their "
                    "clauses cannot be set side by side. Audit the self-checks with {rules} first", option=quote("--self"),
                    old=quote(self.self_round.ruleset), new=quote(self.rules.id), rules=quote(f"--rules {self.rules.id}")),
                file=self.self_round.folder)
        if self.self_round is not None and same_file(out, self.self_round.folder):
            raise ComplianceError(msg("{o} is the folder of the round given as {option}: writing there would replace "
                                      "it; choose another output folder", o=quote("-o"), option=quote("--self")),
                                  file=str(out))
        if self.previous is not None and same_file(out, self.previous.folder):
            raise ComplianceError(msg("{o} is the folder of the round given as {previous}: writing there would replace "
                                      "the last round; choose another output folder", o=quote("-o"),
                                      previous=quote("--previous")), file=str(out))
        if self.reports:
            for source in self.inputs:
                if sources.read_once(source):
                    raise ComplianceError(msg("{option} reads the centres a second time to render their reports, and "
                                              "{input} can be read only once: save its lines to a file and give that",
                                              option=quote("--reports"), input=quote(str(source), 200)), file=str(source))
        protected = [*self.inputs, *self.rules.layer_files]
        for name in OUTPUT_NAMES:
            for source in protected:
                if Path(source).is_file() and same_file(out / name, source):
                    raise ComplianceError(msg("the round would replace its own input {source}; choose another output "
                                              "folder", source=quote(str(source), 200)), file=str(out / name))

    def fingerprint(self, stamps: list[tuple[Path, list[int] | None]] | None = None) -> bytes:
        """What the outputs depend on: a checkpoint of any other run is not resumed. ``stamps`` are the inputs'
        sizes and times when the round began (:meth:`stamps`): the content is hashed while the round runs, and an
        edit in that while changes the time."""
        files: list[list[Any]] = []
        for p, stamp in self.stamps() if stamps is None else stamps:
            try:
                # the content: an edit that keeps size and time still counts (SHA-256: processors compute it
                # in hardware, three times as fast as BLAKE2 here)
                if sources.read_once(p):
                    # a pipe is read once, by the round: its lines are never the same again, so no checkpoint of
                    # it is ever taken up (and hashing it here would take lines from the round)
                    files.append([str(p), "once:" + os.urandom(16).hex()])
                    continue
                with open(p, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                files.append([str(p.resolve()), digest, stamp])
            except OSError:
                files.append([str(p), None])
        prev = None
        if self.previous is not None:
            st = (Path(self.previous.folder) / "results.jsonl").stat()
            prev = [str(Path(self.previous.folder).resolve()), st.st_size, st.st_mtime_ns]
        mine = None
        if self.self_round is not None:
            st = (Path(self.self_round.folder) / "results.jsonl").stat()
            mine = [str(Path(self.self_round.folder).resolve()), st.st_size, st.st_mtime_ns]
        return orjson.dumps({"version": __version__, "rules": [self.rules.id, self.rules.content_hash],
                             "inputs": files, "reports": self.reports, "previous": prev, "lang": self.lang,
                             **({"results": self.results} if self.results != "jsonl" else {}),
                             **({"self": mine} if mine else {}),
                             **({} if self.waivers is None else {"waivers": _waivers_digest(self.waivers)})})

    def stamps(self) -> list[tuple[Path, list[int] | None]]:
        """Each input file, with its size and modification time now (None: it cannot be read)."""
        found: list[tuple[Path, list[int] | None]] = []
        for source in self.inputs:
            path = Path(source)
            if os.fspath(source) == sources.STDIN:     # standard input, even beside a folder named "-"
                found.append((path, None))
                continue
            for p in sources.folder_inputs(path) if path.is_dir() else [path]:
                try:
                    st = p.stat()
                    found.append((p, [st.st_size, st.st_mtime_ns]))
                except OSError:
                    found.append((p, None))
        return found

    # ------------------------------------------------------------------ the run

    def run(self) -> Tally:
        self._began = time.time()
        self.check_paths()
        # a cluster that cannot be reached leaves nothing behind; with reports, local workers start with the
        # renderer already imported (once, in the process they are forked from)
        pool = executor(self.jobs, self.scheduler, preload=RENDERER if self.reports else ())
        started: Callable[[], object] = lambda: None     # noqa: E731
        if self.reports and not in_process(pool) and not self.scheduler:
            # Handing the workers their first task waits for the fork server to import the renderer (a second):
            # a thread waits, and this process audits the centres meanwhile.
            source = rules_source(self.rules)
            started = _Later(lambda: [pool.submit(warm_up, source) for _ in range(self.jobs)])
        try:
            # With reports, the centres are audited in this process (a report costs a thousand audits) while the
            # workers start and warm up; they then render the reports.
            results_path, rows_path, seen = self._run(executor(1) if self.reports else pool)
            if self.reports and in_process(pool):
                self._render_reports(pool)
                tally = self.finish(results_path, rows_path, seen)
            elif self.reports:
                # Every centre audited, the reports are rendered by the workers while this process writes the
                # tables and the district report: the district report no longer waits for the last centre's. Its
                # PDF is a local worker's task too: this process never loads the renderer (a second of CPU the
                # workers had to share, and a slower exit).
                def to_pdf(html: str, title: str) -> bytes:
                    return cast(bytes, pool.submit(render_pdf, html, title).result())

                with _beside(lambda: self._render_reports(pool)):
                    tally = self.finish(results_path, rows_path, seen, None if self.scheduler else to_pdf)
        except BrokenProcessPool as exc:
            raise _stopped(self.outdir) from exc
        finally:
            with contextlib.suppress(Exception):    # a pool that could not start says so when the reports are handed out
                started()
            pool.shutdown(wait=True, cancel_futures=True)   # the workers' memory is free for the tables
        if not self.reports:
            tally = self.finish(results_path, rows_path, seen)
        shutil.rmtree(results_path.parent, ignore_errors=True)
        return tally

    def _render_reports(self, pool: Any) -> None:
        """One PDF per centre audited (the first record of each id that could be audited, as the round kept it),
        written as each comes back; a round stopped here renders them again when resumed."""
        written: set[str] = set()
        stream = sources.records(self.inputs, self.rules.vocabulary)
        for _, outcome in run_chunks(stream, self.rules, pool, self.lang, True, strict=self.strict,
                                     waivers=self.waivers, columns=False):
            if isinstance(outcome, Audited) and outcome.pdf is not None and outcome.center_id not in written:
                written.add(outcome.center_id)
                write_atomic(self.outdir / "reports" / report_name(outcome.center_id), outcome.pdf)

    def _run(self, pool: Any) -> tuple[Path, Path, SeenIds]:
        try:
            self.outdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ComplianceError(system_reason(exc, msg("the output folder cannot be made")),
                                  file=str(self.outdir)) from None
        work = self.outdir / WORK
        state_file = work / "state.json"
        done, results_at, rows_at = 0, 0, 0
        results_path = work / ("results.jsonl" if self.results == "jsonl" else "results.parts")
        rows_path = work / "rows.jsonl"
        try:
            saved: bytes | None = state_file.read_bytes()
        except OSError:
            saved = None
        stamps = self.stamps()
        hashed: Callable[[], bool] = lambda: True   # noqa: E731
        if saved is None:       # a round begun afresh: its inputs are hashed (0.85 s at 600,000 centres) as it runs
            hashing = _Later(lambda: self.fingerprint(stamps))
            # no checkpoint is taken until the hash is done: waiting for it, this process would hand the workers
            # no chunk for the second it takes
            fingerprint: Callable[[], bytes] = hashing
            hashed = hashing.ready
        else:
            known = self.fingerprint(stamps)
            fingerprint = lambda: known     # noqa: E731
            try:
                state = orjson.loads(saved)
                if state.get("fingerprint") == known.decode("utf-8") \
                        and results_path.stat().st_size >= state["results"] and rows_path.stat().st_size >= state["rows"]:
                    done, results_at, rows_at = state["done"], state["results"], state["rows"]
                    self.defects = int(state.get("defects", 0))     # a defect before the kill still counts
            except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
                pass                # another run's checkpoint, or its files are gone: start afresh
        if not done and work.exists():
            shutil.rmtree(work)
        work.mkdir(exist_ok=True)
        if self.reports:
            (self.outdir / "reports").mkdir(exist_ok=True)
        seen = SeenIds(rows_path)          # centre id → where its row starts: 16 bytes a centre
        with open(results_path, "ab") as fh:
            fh.truncate(results_at)
        with open(rows_path, "ab") as fh:
            fh.truncate(rows_at)
        self._counting = outputs.Counting(self.rules, self.previous, self.self_round, self.waivers is not None)
        for offset, row in outputs.read_rows(rows_path):     # the ids and the tally of the centres already done
            if "refused" not in row:
                seen.add(row["id"], offset)
            self._counting.add(offset, row)

        vocab = self.rules.vocabulary
        stream = sources.blocks(self.inputs, vocab, skip=done)
        bar = Progress(self._total() if self.progress else None, done) if self.progress else None
        last_save, passed = time.monotonic(), False
        try:
            with open(results_path, "ab", buffering=1 << 20) as results, open(rows_path, "a+b", buffering=1 << 20) as rows:
                self._rows_end = rows.seek(0, os.SEEK_END)    # where the next row starts, counted, not asked
                seen.flush = rows.flush
                for batch, outcomes in run_batches(stream, self.rules, pool, self.lang, False,
                                                   strict=self.strict, waivers=self.waivers, results=self.results):
                    if not (isinstance(outcomes, Plain) and self._keep_plain(batch, outcomes, seen, results, rows)):
                        for record, outcome in zip(batch.records if isinstance(batch, sources.Lines) else batch,
                                                   outcomes.outcomes() if isinstance(outcomes, Plain) else outcomes):
                            self._keep(record, outcome, seen, results, rows)
                    count = len(outcomes.ids) if isinstance(outcomes, Plain) else len(outcomes)  # one per record
                    before, done = done, done + count
                    if bar is not None:
                        bar.step(count)
                    # A checkpoint once a chunk has passed a multiple (at most one each SAVE_GAP), or each SAVE_WITHIN.
                    passed = passed or done // SAVE_EVERY != before // SAVE_EVERY
                    now = time.monotonic()
                    if (passed and now - last_save >= SAVE_GAP or now - last_save > SAVE_WITHIN) and hashed():
                        passed = False
                        self._flush(results)
                        _save(state_file, fingerprint(), done, results, rows, self.defects)
                        last_save = now
                self._flush(results)
                _save(state_file, fingerprint(), done, results, rows, self.defects)
        finally:
            seen.flush = lambda: None
            if bar is not None:
                bar.close()
        return results_path, rows_path, seen

    def _keep_plain(self, batch: Sequence[sources.Record] | sources.Lines, plain: Plain, seen: SeenIds,
                    results: IO[bytes], rows: IO[bytes]) -> bool:
        """A whole chunk kept at once: its rows and results written in one go each, its figures counted by column.
        False (nothing done) when a record of it needs telling apart: a warning from its source (never a line of
        JSON Lines), or an id read before; the chunk is then kept centre by centre."""
        ids = plain.ids
        if not isinstance(batch, sources.Lines) and any(record.warnings for record in batch) \
                or len(set(ids)) < len(ids) or seen.any_kept(ids):
            return False
        offsets, at = [], self._rows_end
        for row in plain.rows:
            offsets.append(at)
            at += len(row) + 1
        seen.add_new(ids, offsets)
        rows.write(b"\n".join([*plain.rows, b""]))          # each row and its line end, in one copy
        self._rows_end = at
        if plain.table is not None:
            self._flush(results)
            self._table, self._kept = plain.table, list(range(len(ids)))
        else:
            results.write(b"\n".join(plain.lines) + b"\n")
        if self._counting.takes_figures:
            self._counting.add_figures(offsets, plain.rows, plain.figures)
        else:
            for offset, row in zip(offsets, plain.rows):
                self._counting.add(offset, orjson.loads(row))
        return True

    def _keep(self, record: sources.Record, outcome: Outcome, seen: SeenIds, results: IO[bytes],
              rows: IO[bytes]) -> None:
        if isinstance(outcome, Audited):
            at = seen.get(outcome.center_id)
            if at is not None:
                rows.flush()
                first = orjson.loads(outputs.row_at(rows.fileno(), at))["loc"]
                self._row(rows, orjson.dumps({"loc": record.location, "id": outcome.center_id, "refused": [
                    [record.where(("center", "id")), "$.center.id",
                     text(sources.repeat_message(outcome.center_id, first, record.location), self.lang),
                     self.labels.get("center.id", "")]]}))
                return
            seen.add(outcome.center_id, self._rows_end)
            if outcome.pdf is not None:
                write_atomic(self.outdir / "reports" / report_name(outcome.center_id), outcome.pdf)
            if outcome.table is not None:     # --results parquet: the row is kept in its chunk's table
                if outcome.table is not self._table:
                    self._flush(results)
                    self._table = outcome.table
                self._kept.append(outcome.slot)
            else:
                results.write(outcome.line)       # 9 KB: written as it is, not copied to add the newline
                results.write(b"\n")
            told = [(w.path, w.text, w.file) for w in record.warnings] + [(p, m, None) for p, m in outcome.warnings]
            if told:                          # read, but maybe not as meant: in errors.csv, the centre audited
                row = orjson.loads(outcome.row)
                row["warnings"] = [[where or record.where(path), json_path(path) if path else "",
                                    text(message, self.lang), table.label_of(path, self.labels)]
                                   for path, message, where in told]
                self._row(rows, orjson.dumps(row))
            else:
                self._row(rows, outcome.row)
        else:
            assert isinstance(outcome, Refused)
            if outcome.internal:
                self.defects += 1
            problems = []
            for path, message in outcome.problems:
                cell = sources.refined(Problem(message, path))    # a missing value: the empty cell itself
                problems.append([record.where(cell), json_path(path) if path else "", text(message, self.lang),
                                 table.label_of(cell, self.labels)])
            self._row(rows, orjson.dumps({"loc": record.location, "id": outcome.center_id or _id_of(record),
                                          "refused": problems}))

    def _flush(self, results: IO[bytes]) -> None:
        """Write the rows kept so far of the current chunk's table (parquet) as one frame of the parts file."""
        if self._table is not None and self._kept:
            from .columns import write_frame

            write_frame(results, self._table, self._kept)
        self._kept = []

    def _row(self, rows: IO[bytes], row: bytes) -> None:
        rows.write(row + b"\n")
        self._counting.add(self._rows_end, orjson.loads(row))     # counted while the workers audit the next
        self._rows_end += len(row) + 1

    def _total(self) -> int | None:
        """How many records there are, for the time left: counted for JSON Lines and CSV, else unknown."""
        total = 0
        for source in self.inputs:
            count = None if os.fspath(source) == sources.STDIN else sources.count_records(Path(source))
            if count is None:
                return None
            total += count
        return total

    # ------------------------------------------------------------------ the outputs

    def finish(self, results_path: Path, rows_path: Path, seen: SeenIds,
               to_pdf: Callable[[str, str], bytes] | None = None) -> Tally:
        """Count the rows, write the tables and the report, and put results.jsonl in place."""
        out = self.outdir
        tally: Tally = self._counting.done(seen)
        seen.clear()                                   # a national round's ids: not needed any more
        if not tally.audited:
            # Nothing could be read (a mistyped name, an empty file): an earlier round's outputs stay as they
            # were; into a folder without one, errors.csv still says what was refused.
            earlier = (out / "results.jsonl").exists()
            if tally.refused and not earlier:
                outputs.write_errors_csv(out / "errors.csv", rows_path)
            shutil.rmtree(results_path.parent, ignore_errors=True)
            problems = [f"{where}: {path + ': ' if path else ''}{message}"
                        for row in tally.errors for where, path, message, *_ in row["refused"]][:outputs.ERRORS_KEPT]
            more = tally.refused - len(tally.errors)
            if earlier:
                why = msg("no centre could be audited: the earlier round's outputs in this folder are left as they were")
            elif tally.refused:
                why = msg("no centre could be audited: {file} lists what was refused", file=quote("errors.csv"))
            else:
                why = msg("no centre could be audited: the input holds no centre")
            lines: list[Message | str] = [why, *("  " + p for p in problems)]
            if more > 0:
                lines.append(msg("  … and {count:,} more", count=more))
            # named by the input when it held no centre at all (an empty file), else by the folder errors.csv is in
            empty = not tally.refused and not earlier
            raise NothingAudited(Joined(lines, "lines"), file=", ".join(map(str, self.inputs)) if empty else str(out))
        # Every output is made in the work folder and put in place at the end, one rename each: a round stopped
        # while it writes them (a kill, a full disk) leaves the earlier round's outputs as they were, not a mix.
        work = results_path.parent
        made = work / "outputs"
        made.mkdir(exist_ok=True)
        if self.results == "parquet":
            from .columns import write_parquet

            # side by side, summary.csv holding a quarter of the lines it holds alone: Arrow encodes and compresses
            # without the interpreter's lock, but reading the parts and ranking the lines are Python; with workers
            # allowed, the lines are ranked in a process of their own (600,000 centres, alternated with the code
            # before: 4.0-4.2 s after the workers against 4.7-4.8 s)
            csv_target = made / "summary.csv"
            if self.jobs > 1 and not self.scheduler and outputs.league_ready(tally, self.previous):
                league = outputs.League(tally.scores, tally.offsets)
                header = outputs.summary_header(tally, self.previous)
                csv = _stopped_names(lambda: apart(outputs.write_league_csv, csv_target, header, league, rows_path,
                                                   outputs.LEAGUE_PASS_APART), csv_target)
            else:
                csv = lambda: outputs.write_summary_csv(csv_target, tally, rows_path, self.previous,   # noqa: E731
                                                        outputs.LEAGUE_PASS_BESIDE)
            with _beside(csv):
                write_parquet(results_path, made / "results.parquet", self.rules)
            name, stale = "results.parquet", "results.jsonl"
        else:
            outputs.write_summary_csv(made / "summary.csv", tally, rows_path, self.previous)
            with open(results_path, "rb+") as fh:
                os.fsync(fh.fileno())
            name, stale = "results.jsonl", "results.parquet"
        names = [name, "summary.csv"]
        gone = [stale]                      # an earlier round's outputs this one has not: they would mislead
        if tally.refused or tally.warned:
            outputs.write_errors_csv(made / "errors.csv", rows_path)
            names.append("errors.csv")
        else:
            gone.append("errors.csv")
        if outputs.write_summary_xlsx(made / "summary.xlsx", tally, rows_path, self.previous, self.lang):
            names.append("summary.xlsx")
        else:
            gone.append("summary.xlsx")
        outputs.write_district_report(made, tally, self.previous, self.lang, to_pdf)
        names += ["district-report.html", "district-report.pdf"]
        # The results go last: a round killed before they are in place resumes from its checkpoint (results.jsonl
        # is moved from where the round wrote it), and puts the rest in place again.
        for each in [*names[1:], names[0]]:
            put_in_place(results_path if each == "results.jsonl" else made / each, out / each)
        for each in gone:
            if (out / each).is_file():
                (out / each).unlink()
        self.written += names
        _sweep(out, self._began)
        if self.reports:
            _sweep(out / "reports", self._began)
        return tally


def _sweep(folder: Path, began: float) -> None:
    """Take away the half-written outputs (``.compliance-….part``) a round stopped while writing left in ``folder``
    before this one began; any written since may be another writer's."""
    for part in folder.glob(".compliance-*.part"):
        with contextlib.suppress(OSError):
            if part.is_file() and part.stat().st_mtime < began:
                part.unlink()


class NothingAudited(ComplianceError):
    """A round in which no centre could be audited: it writes nothing (exit 2)."""


def _id_of(record: sources.Record) -> str | None:
    """The centre id of a refused record, where one can be read: errors.csv says whose row it is."""
    document: Any = record.document
    if document is None and record.raw is not None:
        try:
            document = reading.parse(record.raw, record.location, ProfileError,
                                     json_only=not record.location.endswith(sources.PROFILE_SUFFIXES))
        except ProfileError:
            found = _ID_IN_TEXT.search(record.raw)      # a line cut short may still say whose it was
            return found.group(1).decode("utf-8", "replace") if found else None
    center = document.get("center") if isinstance(document, dict) else None
    cid = center.get("id") if isinstance(center, dict) else None
    return cid if isinstance(cid, str) else None


def _waivers_digest(waivers: Waivers) -> str:
    """The waivers' content: a round resumed with other waivers starts afresh."""
    return hashlib.sha256(orjson.dumps([[w.centre, w.clause, w.reason, w.approved_by, w.approved_on.isoformat(),
                                         w.expires_on.isoformat()] for w in waivers])).hexdigest()


def _save(state_file: Path, fingerprint: bytes, done: int, results: IO[bytes], rows: IO[bytes], defects: int) -> None:
    results.flush()
    rows.flush()
    state = orjson.dumps({"fingerprint": fingerprint.decode("utf-8"), "done": done, "defects": defects,
                          "results": results.tell(), "rows": rows.tell()})
    tmp = state_file.with_suffix(".tmp")
    tmp.write_bytes(state)
    os.replace(tmp, state_file)


class Progress:
    """Count, rate and time left on standard error, redrawn at most five times a second."""

    def __init__(self, total: int | None, start: int = 0) -> None:
        self.total, self.count, self.start = total, start, start
        self.began = self.drawn = time.monotonic()

    def step(self, count: int) -> None:
        self.count += count
        now = time.monotonic()
        if now - self.drawn >= 0.2:
            self.drawn = now
            self.draw(now)

    def draw(self, now: float) -> None:
        rate = (self.count - self.start) / max(now - self.began, 1e-9)
        text = f"\r  {self.count:,}"
        if self.total:
            width = 24
            filled = int(width * min(1.0, self.count / self.total))
            text = f"\r  [{'#' * filled}{'.' * (width - filled)}] {self.count:,}/{self.total:,}"
        text += f" centres  {rate:,.0f}/s"
        if self.total and rate > 0:
            left = max(0, self.total - self.count) / rate
            text += f"  {int(left) // 60}:{int(left) % 60:02d} left"
        sys.stderr.write(text + "   ")
        sys.stderr.flush()

    def close(self) -> None:
        self.draw(time.monotonic())
        sys.stderr.write("\n")
        sys.stderr.flush()
