"""Auditing many centres: in this process, in local worker processes, or on a Dask cluster.

The unit of work is a chunk of records (a few hundred centres). A worker parses,
validates and scores each and returns, per centre, either its result document as
one JSON line with the few figures the round's tables need, or its problems with
their JSON paths; the parent keeps the records of the chunks in flight to put each
problem back in its cell, and consumes chunks strictly in input order, so outputs
are the same whatever the number of workers and wherever they run.

:func:`audit_many` is the library's view: AuditResults in input order, streaming.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import traceback
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

import orjson

from .. import reading
from ..compile import load_ruleset
from ..errors import ComplianceError, PathItem, ProfileError, internal_error, system_reason
from ..i18n import Message, msg, quote
from ..reading import JSON_BREAKS
from ..evaluation import evaluate
from ..model import STATUS_LETTER, RuleSet, RuleSource, Status, facts_of, plain_document
from ..profile import Profile, load_parsed, load_profile
from ..result import AuditResult
from ..waivers import Waivers, as_waivers, expired_warning
from .lines import summary_tails
from .sources import PROFILE_SUFFIXES, Lines, Record, line_problem

T = TypeVar("T")

CHUNK = 256
COLUMN_CHUNK = 512                   # centres a chunk on the columnar engine: its vector passes want long columns
SCHEDULER_ADDRESS = re.compile(r"(tcp|tls)://[^\s/:]+(:[0-9]{1,5})?|\[[0-9a-fA-F:]+\](:[0-9]{1,5})?|[^\s/:]+:[0-9]{1,5}")


@dataclass
class Audited:
    """What the round keeps of one centre: its result document and its row of the round's tables, as
    the JSON lines the parent writes (the worker makes the bytes; the parent only checks the id)."""

    center_id: str
    line: bytes                         # the result document, one JSON line without its newline
    row: bytes                          # the figures the tables and the report need (see outputs.read_rows)
    pdf: bytes | None = None            # the centre's report, when the round makes them
    table: Any = None                   # --results parquet: the chunk's rows (columns.RowsTable), shared
    slot: int = -1                      # and this centre's row in it
    warnings: list[tuple[tuple[PathItem, ...], Message]] = field(default_factory=list)   # (path, message) of each


@dataclass
class Refused:
    """A centre that could not be audited: its problems as (JSON path, message), or a defect."""

    problems: list[tuple[tuple[PathItem, ...], Message]]
    center_id: str | None = None
    internal: str | None = None         # the defect's one-line description, when this is a bug


Outcome = Audited | Refused


@dataclass
class Plain:
    """A chunk whose centres were all read, valid and scored on the columnar engine, without a warning or a waiver
    (the common case): their ids, rows and result lines (or rows of results.parquet), and the figures the round's
    tally counts, by column: the round takes the whole chunk at once."""

    ids: list[str]
    rows: list[bytes]                   # as Audited.row
    lines: list[bytes]                  # as Audited.line (empty with --results parquet)
    figures: Any                        # columns.Figures
    table: Any = None                   # --results parquet: columns.RowsTable of the chunk, a row per centre

    def outcomes(self) -> list[Outcome]:
        """Each centre's outcome, as the chunk's centres one by one would have given."""
        return [Audited(center_id, self.lines[i] if self.lines else b"", self.rows[i], table=self.table,
                        slot=i if self.table is not None else -1) for i, center_id in enumerate(self.ids)]


# --------------------------------------------------------------------------- one centre

def _profile(location: str, raw: bytes | None, document: dict[str, Any] | None, vocabulary: Any,
             strict: bool = False) -> Profile:
    if raw is not None and location.endswith(PROFILE_SUFFIXES):
        profile = load_profile(reading.parse(raw, location, ProfileError), vocabulary=vocabulary, strict=strict)
        object.__setattr__(profile, "raw_sha256", hashlib.sha256(raw).hexdigest())
    elif raw is not None:
        data = reading.parse(raw, location, ProfileError, json_only=True)
        if not isinstance(data, dict):
            raise ProfileError(msg("the line is not a profile (a mapping in braces)"), file=location)
        profile = load_parsed(data, location, hashlib.sha256(raw).hexdigest(), vocabulary, strict)
    else:
        profile = load_parsed(document or {}, location, None, vocabulary, strict)
    object.__setattr__(profile, "source", location)
    return profile


def audit_one(location: str, raw: bytes | None, document: dict[str, Any] | None, rules: RuleSet,
              lang: str = "zh", report: bool = False, strict: bool = False, waivers: Waivers | None = None) -> Outcome:
    """Parse, validate and score one centre (and render its PDF when ``report``); never raises."""
    try:
        profile = _profile(location, raw, document, rules.vocabulary, strict)
        if raw is not None and "evidence" in plain_document(profile):
            profile = _evidence(profile, location, raw, rules)
        result = evaluate(profile, rules, waivers=waivers)
        outcome = audited(result, location, lang, waivers is not None)
        outcome.warnings = [(w.path, w.text) for w in profile.warnings]
        for f in result.waivers_expired if waivers is not None else ():
            outcome.warnings.append((("center", "assessed_on"), expired_warning(f, result)))
        if report:
            from ..rendering import render

            outcome.pdf = render(result, "pdf", lang=lang)
        return outcome
    except ProfileError as exc:
        if raw is not None and not location.endswith(PROFILE_SUFFIXES) and exc.text.msgid == JSON_BREAKS:
            # One line of JSON Lines that is not JSON: say so, and where in the line (its number is the location).
            return Refused([((), line_problem(exc))])
        return Refused([(p.path, p.text) for p in exc.problems] or [((), exc.text)])
    except ComplianceError as exc:
        return Refused([((), exc.text)])
    except Exception as exc:  # noqa: BLE001 - a defect: reported, and the others go on
        detail = "".join(traceback.format_exception_only(exc)).strip()[:300]
        return Refused([((), internal_error(exc))], internal=detail)


def _evidence(profile: Profile, location: str, raw: bytes, rules: RuleSet) -> Profile:
    """A profile file's or a JSON Lines line's evidence files, read from its folder (its clauses checked first)."""
    from ..evidence import check_clauses, folder_of, read_evidence

    check_clauses(profile, rules)
    return read_evidence(profile, folder_of(location), raw=raw if location.endswith(PROFILE_SUFFIXES) else b"")


def audited(result: AuditResult, location: str, lang: str = "zh", waivers: bool = False) -> Audited:
    center = plain_document(result.profile)["center"]
    region = center.get("region") or {}
    findings = result.findings
    center_id = str(center["id"])
    fields: dict[str, Any] = {
        "loc": location, "id": center_id, "name": str(center.get("name", "")),
        "region": [str(region.get(k, "")) for k in ("province", "city", "district", "street")],
        "score": result.score, "grade": result.grade, "verdict": result.verdict.value,
        "cats": [c.score for c in result.categories], "veto": [f.clause.clause for f in findings if f.vetoes],
        "actions": sum(1 for f in findings if f.status is _FAIL or f.status is _PARTIAL),
        "st": "".join([STATUS_LETTER[f.status] for f in findings]),
        "pc": [float(f.credit) for f in findings if f.status is _PARTIAL],     # the partial clauses' credits
        "amt": [(f.clause.clause, f.shortfall.unit, float(f.shortfall.amount)) for f in findings
                if f.shortfall is not None],
        "date": str(center.get("assessed_on") or ""),
    }
    fields["csv"] = summary_tails([fields])[0]          # its line of summary.csv (lines.py), last
    row = orjson.dumps(fields)
    if waivers and (result.unwaived is not None or result.waivers_expired):
        # only a centre a waiver concerns carries these: the score without waivers, the waived clauses and
        # the waivers that do not cover its assessment date (clause, expiry)
        extra = {"uw": result.unwaived.score if result.unwaived is not None else result.score,
                 "wv": [f.clause.clause for f in findings if f.waiver is not None],
                 "wx": [[f.clause.clause, f.waiver_expired.expires_on.isoformat()] for f in findings
                        if f.waiver_expired is not None]}
        row = row[:-1] + b"," + orjson.dumps(extra)[1:]
    return Audited(center_id, result.to_json(lang), row)



_FAIL, _PARTIAL = Status.FAIL, Status.PARTIAL


# --------------------------------------------------------------------------- chunks, in processes

# A worker gets the rule set as data, never as a path: a bundled name, or the district's own layer
# files with their bytes (a Dask worker on another machine has no copy of them). It compiles it once.
RulesSource = str | tuple[str, str, tuple[tuple[str, bytes], ...]]   # name | (content hash, leaf, files)
_WORKER_RULES: dict[Any, RuleSet] = {}


def rules_source(rules: RuleSet) -> RulesSource:
    """What a worker needs to compile this rule set: its bundled name, or its layer files' bytes."""
    from pathlib import Path

    from ..layers import bundled_dir

    bundled = bundled_dir().resolve()
    leaf = Path(rules.path).resolve()
    if leaf.parent == bundled:
        return rules.id
    files = tuple((Path(f).name, Path(f).read_bytes()) for f in rules.layer_files
                  if Path(f).resolve().parent != bundled)
    return (rules.content_hash, leaf.name, files)


def rules_in_worker(source: RulesSource) -> RuleSet:
    key = source if isinstance(source, str) else source[0]
    rules = _WORKER_RULES.get(key)
    if rules is None:
        if isinstance(source, str):
            rules = load_ruleset(source)
        else:
            import tempfile
            from pathlib import Path

            content_hash, leaf, files = source
            with tempfile.TemporaryDirectory(prefix="compliance-rules-") as folder:
                for name, data in files:
                    (Path(folder) / name).write_bytes(data)
                rules = load_ruleset(Path(folder) / leaf)
            if rules.content_hash != content_hash:
                raise ComplianceError(msg("the rule layers changed while the round was running"))
        _WORKER_RULES[key] = rules
    return rules


def audit_chunk(source: RulesSource, items: Sequence[tuple[str, bytes | None, dict[str, Any] | None]],
                lang: str = "zh", reports: bool = False, strict: bool = False,
                waivers: Waivers | None = None) -> list[Outcome]:
    """A worker's task: every centre of one chunk, in order (the rule set is compiled once per worker)."""
    rules = rules_in_worker(source)
    return [audit_one(location, raw, document, rules, lang, reports, strict, waivers)
            for location, raw, document in items]


def audit_chunk_columns(source: Any, items: Sequence[tuple[str, bytes | None, dict[str, Any] | None]],
                        lang: str = "zh", reports: bool = False, strict: bool = False,
                        waivers: Waivers | None = None, results: str = "jsonl") -> list[Outcome] | Plain:
    """``run.audit_chunk`` on the columnar engine: the same outcomes, in order, or a :class:`Plain` that gives them
    when every centre of the chunk was. With ``results="parquet"`` the audited outcomes carry no result line but
    their row of one Arrow record batch for the chunk (their ``table``, shared, and their ``slot`` in it), which
    the round writes to ``results.parquet``."""
    import gc

    enabled = gc.isenabled()
    gc.disable()        # a chunk's documents are thousands of new dicts, no cycle: the collector would walk them
    try:                # again and again (it doubles the time of reading them); it runs when the chunk is done
        return _audit_chunk_columns(source, items, lang, reports, strict, waivers, results)
    finally:
        if enabled:
            gc.enable()


def _audit_chunk_columns(source: Any, items: Sequence[tuple[str, bytes | None, dict[str, Any] | None]],
                         lang: str, reports: bool, strict: bool, waivers: Waivers | None,
                         results: str) -> list[Outcome] | Plain:
    from . import columns as engine

    rules = rules_in_worker(source)
    out: list[Any] = [None] * len(items)
    taken: list[tuple[int, Profile]] = []
    for k, (location, raw, document) in enumerate(items):
        profile = None if reports else engine.fast_profile(location, raw, document, rules)
        if profile is None or (waivers is not None and waivers.for_centre(str(plain_document(profile)["center"]["id"]))):
            out[k] = audit_one(location, raw, document, rules, lang, reports, strict, waivers)
        else:
            taken.append((k, profile))
    chunk = engine.score_chunk(rules, [facts_of(p) for _, p in taken]) if taken else None  # type: ignore[misc]
    parquet = results == "parquet"
    if chunk is not None:
        profiles = [p for _, p in taken]
        heads = engine.profile_heads(profiles)
        rows, figures = engine.chunk_rows(chunk, profiles, heads)
        ids = [head[0] for head in heads]
        lines = [] if parquet else [chunk.result(i, p).to_json(lang) for i, p in enumerate(profiles)]
        if len(taken) == len(items):        # the whole chunk: given as one
            table = engine.encode_part(len(taken), engine.chunk_part(chunk, profiles, heads)) if parquet else None
            return Plain(ids, rows, lines, figures, table)
        for i, (k, _) in enumerate(taken):
            out[k] = Audited(ids[i], lines[i] if lines else b"", rows[i])
    if parquet:
        mine = {t for t, _ in taken}
        others = [k for k, o in enumerate(out) if isinstance(o, Audited) and k not in mine]
        if taken or others:
            where = {k: i for i, (k, _) in enumerate(taken)}
            where.update({k: len(taken) + i for i, k in enumerate(others)})
            order = sorted(where)
            arrays = engine.chunk_part(chunk, [p for _, p in taken], heads) if chunk is not None else None
            shared = engine.encode_part(len(order), arrays, [out[k].line for k in others], [where[k] for k in order])
            for slot, k in enumerate(order):
                out[k].line = b""
                out[k].table, out[k].slot = shared, slot
    return out


class _Inline(Executor):
    """One process, no workers: the same code path, for --jobs 1 and small rounds."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001
            future.set_exception(exc)
        return future


class _Dask:
    """A Dask distributed client seen as an executor. Tasks are never deduplicated by their arguments
    (``pure=False``): two chunks that happen to be equal are still two chunks of the round."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def workers(self) -> int:
        try:
            return max(1, int(sum(self.client.nthreads().values())))
        except Exception:  # noqa: BLE001 - a cluster still starting its workers
            return 1

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self.client.close()


# The modules a worker that renders reports is forked with: the PDF engine and WeasyPrint, imported once.
RENDERER = ("compliance.pdf", "compliance.weasy")


def warm_up(source: RulesSource) -> None:
    """A worker's first task in a round that makes reports: the rule set compiled, the report engine's stylesheet
    and fonts loaded, while the round is still reading its input."""
    from ..pdf import html_to_pdf

    rules_in_worker(source)
    html_to_pdf("<html><body><h1>社区便民服务中心</h1><p>符合要求 100.0</p></body></html>")


def render_pdf(html: str, title: str) -> bytes:
    """A worker's task: report HTML as PDF (a round's district report, by a worker whose renderer is warm)."""
    from ..pdf import html_to_pdf

    return html_to_pdf(html, title=title)


def in_process(pool: Any) -> bool:
    """Whether ``pool`` runs its tasks in this process (``--jobs 1``)."""
    return isinstance(pool, _Inline)


def executor(jobs: int, scheduler: str | None = None, preload: Sequence[str] = ()) -> Any:
    """Local processes (``jobs`` > 1), this process (1), or the Dask cluster at ``scheduler``; local workers are
    forked from a process that has imported the ``preload`` modules (their import is paid once, not per worker)."""
    if scheduler:
        if not SCHEDULER_ADDRESS.fullmatch(scheduler):
            raise ComplianceError(msg("{option} {value} is not a scheduler address; write {form} (a Dask scheduler "
                                      "listens on port 8786 by default)", option=quote("--scheduler"),
                                      value=quote(scheduler), form=quote("tcp://HOST:PORT")))
        try:
            from distributed import Client
        except ImportError as exc:
            raise ComplianceError(msg("{option} needs Dask: {command}", option=quote("--scheduler"),
                                      command=quote("pip install 'community-compliance[dask]'", 100))) from exc
        try:
            return _Dask(Client(scheduler, timeout="5s", set_as_default=False))  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as exc:
            raise ComplianceError(system_reason(exc, msg("cannot reach the Dask scheduler at {address}",
                                                         address=quote(scheduler)))) from exc
    if jobs <= 1:
        return _Inline()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=_fork_server(preload), initializer=watch_parent,
                               initargs=(os.getpid(),))


def _fork_server(preload: Sequence[str] = ()) -> Any:
    """The context local workers are forked in: from a fork server that has imported ``preload`` (and this module)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    if preload:
        context.set_forkserver_preload(["compliance.batch.run", *preload])
    return context


def start_early(jobs: int, scheduler: str | None = None, preload: Sequence[str] = ()) -> None:
    """Start the fork server :func:`executor`'s local workers will come from now, so that its start and imports (a
    fifth of a second, a second with the renderer) run while this process reads the rule set and opens the inputs,
    not after. Nothing for one process or a cluster."""
    if jobs <= 1 or scheduler:
        return
    from multiprocessing import forkserver

    _fork_server(preload)
    forkserver.ensure_running()


def apart(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in a process of its own, forked like the round's workers, and its answer (or its error) here:
    for Python work that would otherwise share this process's interpreter lock with other work it runs beside."""
    with ProcessPoolExecutor(max_workers=1, mp_context=_fork_server(), initializer=_apart_child,
                             initargs=(os.getpid(),)) as pool:
        return pool.submit(work, *args).result()


def _apart_child(parent: int) -> None:
    """:func:`apart`'s process: Ctrl-C is the round's to answer (this process goes when the round's does)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent)


def watch_parent(parent: int) -> None:
    """A worker's watch on the round's process: when it is gone (killed by a supervisor or for memory, which runs
    no clean-up), the worker goes too, rather than wait on its queue for ever."""
    import select
    import signal
    import threading

    try:
        handle = os.pidfd_open(parent)
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGKILL)    # gone already
    except (OSError, AttributeError):           # not Linux 5.3 or later: no watch
        return

    def wait() -> None:
        select.select([handle], [], [])         # readable once the process has ended
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=wait, name="watch-parent", daemon=True).start()


def chunks(records: Iterable[Record | Lines], size: int = CHUNK, blocks: bool = False) -> Iterator[list[Record] | Lines]:
    """Records ``size`` at a time; a block of JSON Lines (:class:`~.sources.Lines`) as it is when ``blocks``, else
    cut into its records like the others."""
    batch: list[Record] = []
    for record in records:
        if isinstance(record, Lines) and blocks:
            if batch:
                yield batch
                batch = []
            yield record
            continue
        for one in record.records if isinstance(record, Lines) else (record,):
            batch.append(one)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def audit_lines(task: Callable[..., list[Outcome] | Plain], source: Any, name: str, first: int,
                data: bytes | tuple[int, int, int, str, int, int], *args: Any) -> list[Outcome] | Plain:
    """A worker's task on a block of JSON Lines: its lines read from their file (``data`` is where they are:
    :attr:`~.sources.Lines.where`) or given as bytes, cut into records here, then ``task`` on them (the round's
    process never makes a record of each line)."""
    if isinstance(data, bytes):
        lines = Lines(name, first, data)
    else:
        at, size, ends, path, device, inode = data
        lines = Lines(name, first, None, at, size, ends, (path, device, inode))
    return task(source, [(location, raw, None) for location, raw in lines.items()], *args)


# A chunk's answer is megabytes (a national round's 2,600 centres: 4.6 MB of rows and results.parquet's part; 23 MB
# with results.jsonl's lines). Through the pool's pipe, the round's process read it 64 KB at a time into a buffer the
# size of what was left, 1.8 s of its CPU for a national round's 1 GB (and a worker 0.6 s sending it); left in a
# file of memory (/dev/shm) by the worker and read there in one go, 0.4 s.
SPOOL_ROOT = "/dev/shm"
SPOOL_PREFIX = "compliance-spool-"
SPOOL_LEAST = 1 << 16               # bytes: a smaller answer goes through the pipe, as one write


class Spooled:
    """A worker's answer left in a file of the round's spool folder; :meth:`load` reads it and removes the file."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> Any:
        """The answer, its file removed; OSError when the file is gone (removed by the system: the chunk is then
        audited again)."""
        import pickle

        with open(self.path, "rb", buffering=0) as fh:
            data = fh.readall()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        return pickle.loads(data)


def spooled(folder: str, least: int, work: Callable[..., T], *args: Any) -> T | Spooled:
    """``work(*args)``'s answer, left in a new file of ``folder`` when it takes ``least`` bytes or more; as it is when
    smaller, or when the file cannot be written (the folder full, or gone with the round): the pipe then takes it."""
    import pickle
    import secrets

    answer = work(*args)
    data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) < least:
        return answer
    path = os.path.join(folder, secrets.token_hex(8))
    try:
        room = os.statvfs(folder)
        if room.f_bavail * room.f_frsize < 4 * len(data):     # a small /dev/shm (a container's 64 MB) left to others
            return answer
        with open(path, "xb") as fh:
            fh.write(data)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return answer
    return Spooled(path)


@contextlib.contextmanager
def spool_folder(pool: Any) -> Iterator[str | None]:
    """A folder of memory for local workers to leave their answers in, removed when the round is done; None for
    this process, a Dask cluster, or a system without /dev/shm. The round holds a lock on it while it runs; folders
    whose lock is free were left by a round whose process was killed, and are removed first."""
    if not isinstance(pool, ProcessPoolExecutor) or not os.path.isdir(SPOOL_ROOT):
        yield None
        return
    import shutil
    import tempfile

    with contextlib.suppress(OSError):
        for entry in os.scandir(SPOOL_ROOT):
            if entry.name.startswith(SPOOL_PREFIX) and entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError), _held(entry.path) as free:
                    if free:
                        shutil.rmtree(entry.path, ignore_errors=True)
    try:
        folder = tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=SPOOL_ROOT)
    except OSError:
        yield None
        return
    try:
        with _held(folder) as mine:
            yield folder if mine else None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _held(folder: str) -> Iterator[bool]:
    """An exclusive lock on ``folder`` while the block runs, if no other process holds it: whether it was had."""
    import fcntl

    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(handle)


def run_batches(records: Iterable[Record | Lines], rules: RuleSet, pool: Any, lang: str = "zh", reports: bool = False,
                window: int = 4, size: int = CHUNK, strict: bool = False,
                waivers: Waivers | None = None, columns: bool = True,
                results: str = "jsonl") -> Iterator[tuple[list[Record] | Lines, list[Outcome] | Plain]]:
    """(records, outcomes) of each chunk in input order, with at most ``window`` chunks in flight per worker: an
    outcome per record, or a :class:`Plain` chunk. Chunks are scored on the columnar engine (:mod:`.columns`)
    unless ``columns`` is False or the round makes reports. A block of JSON Lines is a chunk of its own, sent as
    its bytes, unless a ``size`` is asked for."""
    source = rules_source(rules)
    inflight: list[tuple[list[Record] | Lines, Any, Callable[[], Any]]] = []
    task: Callable[..., list[Outcome] | Plain] = audit_chunk
    blocks = size == CHUNK and not reports
    if results != "jsonl" or (columns and not reports):
        task = audit_chunk_columns
        if size == CHUNK:
            size, window = COLUMN_CHUNK, min(window, 2)     # as many centres in flight as 4 chunks of 256 and 2 more
    if reports:
        size = min(size, 2)      # a report takes ~0.2 s: small chunks keep every worker busy to the end
    limit = window * max(1, _workers(pool))
    extra = (lang, reports, strict, waivers, *([results] if results != "jsonl" else []))
    with spool_folder(pool) as spool:
        def submit(batch: list[Record] | Lines, *work: Any) -> None:
            # the chunk, and how to audit it again through the pipe should its answer's file be gone
            again: Callable[[], Any] = lambda: pool.submit(*work)     # noqa: E731
            inflight.append((batch, pool.submit(spooled, spool, SPOOL_LEAST, *work) if spool else again(), again))

        for batch in chunks(records, size, blocks):
            if isinstance(batch, Lines):     # where its lines are, unless a worker may not see this machine's files
                where = batch.data if batch.given is not None or isinstance(pool, _Dask) else batch.where
                submit(batch, audit_lines, task, source, batch.name, batch.first, where, *extra)
            else:
                submit(batch, task, source, [(r.location, r.raw, r.document) for r in batch if not r.problems], *extra)
            if len(inflight) >= limit:
                yield _done(inflight.pop(0))
        while inflight:
            yield _done(inflight.pop(0))


def run_chunks(records: Iterable[Record], rules: RuleSet, pool: Any, lang: str = "zh", reports: bool = False,
               window: int = 4, size: int = CHUNK, strict: bool = False,
               waivers: Waivers | None = None, columns: bool = True,
               results: str = "jsonl") -> Iterator[tuple[Record, Outcome]]:
    """(record, outcome) in input order: :func:`run_batches`, centre by centre."""
    for batch, outcomes in run_batches(records, rules, pool, lang, reports, window, size, strict, waivers, columns,
                                       results):
        yield from zip(batch.records if isinstance(batch, Lines) else batch,
                       outcomes.outcomes() if isinstance(outcomes, Plain) else outcomes)


def _workers(pool: Any) -> int:
    if isinstance(pool, _Dask):
        return pool.workers()
    return int(getattr(pool, "_max_workers", 1) or 1)


def _done(item: tuple[list[Record] | Lines, Any, Callable[[], Any]],
          ) -> tuple[list[Record] | Lines, list[Outcome] | Plain]:
    """A chunk's outcomes, when they are back: the records refused as they were read have theirs here (a block of
    JSON Lines holds none: each of its records was sent)."""
    batch, future, again = item
    result = future.result()
    if isinstance(result, Spooled):
        try:
            result = result.load()
        except OSError:         # its file removed by someone else (a logout's clean-up of /dev/shm): audited again
            result = again().result()
    if isinstance(batch, Lines):
        return batch, result
    if isinstance(result, Plain) and len(result.ids) == len(batch):
        return batch, result
    outcomes = iter(result.outcomes() if isinstance(result, Plain) else result)
    return batch, [Refused([(p.path, p.text) for p in record.problems]) if record.problems else next(outcomes)
                   for record in batch]


# --------------------------------------------------------------------------- the library's view

def audit_many(profiles: Iterable[Profile | Mapping[str, Any] | str | os.PathLike[str]],
               rules: RuleSource = "national", jobs: int = 1, *,
               waivers: Waivers | Mapping[str, Any] | str | os.PathLike[str] | None = None,
               ) -> Iterator[AuditResult | ProfileError]:
    """Score many centres, yielding in input order as they finish: an AuditResult, or the ProfileError of
    a centre that is not valid (the others go on). ``jobs`` > 1 scores in that many processes. ``waivers``
    (read once, as :func:`compliance.evaluate` takes them) apply to every centre they name.

    ``profiles`` is an iterable of profiles, each a Profile, a mapping or a path; one mapping or one path is
    a ``TypeError`` (its keys or characters are not profiles)."""
    if isinstance(profiles, (Mapping, str, bytes, os.PathLike)):
        raise TypeError(f"audit_many takes an iterable of profiles (Profile, mapping or path), not a "
                        f"{type(profiles).__name__}; for one profile, pass [profile]")
    if not isinstance(jobs, int) or isinstance(jobs, bool):
        raise TypeError(f"jobs is a whole number, not a {type(jobs).__name__}")
    ruleset = load_ruleset(rules)
    checked = None if waivers is None else as_waivers(waivers, ruleset)
    return _audit_many(profiles, ruleset, jobs, checked)      # bad arguments raise here, not at the first item


def _audit_many(profiles: Iterable[Any], ruleset: RuleSet, jobs: int,
                waivers: Waivers | None = None) -> Iterator[AuditResult | ProfileError]:
    if jobs <= 1:
        for item in profiles:
            yield _evaluate_one(item, ruleset, waivers)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending: list[Future[Any]] = []
        for item in profiles:
            pending.append(pool.submit(_evaluate_one, item, ruleset, waivers))
            if len(pending) >= jobs * 64:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _evaluate_one(item: Any, rules: RuleSet, waivers: Waivers | None = None) -> AuditResult | ProfileError:
    try:
        profile = item if isinstance(item, Profile) else load_profile(item, rules=rules)
        if isinstance(item, (str, os.PathLike)):
            from ..evidence import read_evidence

            profile = read_evidence(profile)
        return evaluate(profile, rules, waivers=waivers)
    except ProfileError as exc:
        return exc


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def progress_wanted() -> bool:
    return bool(sys.stderr is not None and sys.stderr.isatty() and not os.environ.get("CI"))
