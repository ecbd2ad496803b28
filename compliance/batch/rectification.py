"""The rectification ledger (整改台账): every shortfall of a series of rounds, as an item to close.

``compliance ledger ROUND_DIR…`` and :func:`ledger` read the rounds' ``results.jsonl`` (the folders of
``compliance batch``, oldest first, under one rule set), one line at a time. An item is one (centre, clause) whose
finding is ``fail``, ``partial`` or ``missing`` and not waived, in an audit that is an inspection or has no
``audit`` block; a self-check neither opens, closes nor voids one. A later inspection that finds the clause
``pass`` closes it (销号), one that finds it ``not_applicable`` voids it; a second shortfall while it is still
open is the same item; a shortfall after it was closed opens a new item marked ``recurred``. A centre absent from
a round keeps its items as they were.

Memory stays bounded: the items live in a temporary SQLite file, and in memory there is only, per open item, its
(centre, clause) key and row number, and the keys of the items closed (to mark a recurrence). The ledger is read
back from that file in its order — overdue, open, closed, void; then due date, centre and the clause's place in
the rule set — by :class:`Ledger`, and written as CSV or a printable workbook by :func:`write_ledger`.
"""
from __future__ import annotations

import csv
import datetime
import io
import os
import shutil
import sqlite3
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, overload

from ..errors import WARNING, ComplianceError, Problem
from ..i18n import Joined, Words, cmsg, language, msg, quote
from ..wording import LEVEL_LABELS, STATUS_LABELS, fmt_amount, fmt_amount_pct, unit_label
from ..model import CHINA, Level, Status, today_in_china
from ..writing import atomic_stream, same_file
from .lines import csv_cell
from .outputs import (BOM, FONT_SIZE, LINE_PT, XLSX_MAX_ROWS, NotResults, header_text, print_scale,
                      result_documents, wrapped_lines)

#: China's time (no daylight saving): the default ``as_of`` is today there.
DEFAULT_DAYS: Mapping[str, int] = {"veto": 30, "shall": 90, "should": 180}
STATES = ("overdue", "open", "closed", "void")
SHORTFALL = frozenset({Status.FAIL.value, Status.PARTIAL.value, Status.MISSING.value})
PASS, NOT_APPLICABLE = Status.PASS.value, Status.NOT_APPLICABLE.value
KEYS = ("centre_id", "name", "street", "clause", "title", "level", "veto", "found", "amount", "unit", "missing",
        "remedy", "opened_in", "opened_on", "due", "state", "closed_in", "void_in", "recurred")
_CLOSED, _VOID = 1, 2
CLAUSES = 4096                       # clause ids a ledger tells apart: a rule set has a few dozen
LEVELS = frozenset(level.value for level in Level)

STATE_LABELS = Words(overdue=cmsg("ledger state", "overdue"), open=cmsg("ledger state", "not rectified"),
                     closed=cmsg("ledger state", "closed"), void=cmsg("ledger state", "no longer applies"))


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """One item of the ledger: a centre's clause found short in ``opened_in`` and what became of it.

    ``state`` is ``overdue``, ``open``, ``closed`` (销号, in ``closed_in``) or ``void`` (the clause no longer
    applied in ``void_in``); ``recurred`` marks an item opened after the same clause had been closed."""

    centre_id: str
    name: str
    street: str
    clause: str
    title: str
    level: str                       # shall | should
    veto: bool
    found: str                       # fail | partial | missing: the status found when it opened
    amount: float | int | None       # the shortfall, in ``unit`` (None: none measured)
    unit: str | None
    missing: tuple[str, ...]         # the codes missing
    remedy: str                      # what to do, in words (the finding's message)
    opened_in: str                   # the round's name: its ``audit.round``, or its folder's name
    opened_on: datetime.date         # the assessment date the due date counts from
    due: datetime.date
    state: str
    closed_in: str | None
    void_in: str | None
    recurred: bool

    def row(self) -> dict[str, Any]:
        """The item as ``ledger.csv``'s row: its keys, dates as ISO text, codes joined by ``;``."""
        return {"centre_id": self.centre_id, "name": self.name, "street": self.street, "clause": self.clause,
                "title": self.title, "level": self.level, "veto": "true" if self.veto else "false",
                "found": self.found, "amount": "" if self.amount is None else self.amount, "unit": self.unit or "",
                "missing": ";".join(self.missing), "remedy": self.remedy, "opened_in": self.opened_in,
                "opened_on": self.opened_on.isoformat(), "due": self.due.isoformat(), "state": self.state,
                "closed_in": self.closed_in or "", "void_in": self.void_in or "",
                "recurred": "true" if self.recurred else "false"}


class Ledger(Sequence[LedgerItem]):
    """The items of a ledger in its order (overdue, open, closed, void; then due date, centre, clause), read back
    from a temporary SQLite file as they are iterated, so a province's ledger is never all in memory.

    ``counts`` gives the items by state, ``rounds`` the rounds' folders, ``names`` the rounds as the items name them (a round's ``audit.round`` when its
    results all give the same one, else its folder's name), ``ruleset`` the rule set's id, ``as_of``
    the day overdue is judged on, ``warnings`` what is worth a look (a round assessed before the one given before it). The file is removed when the ledger is closed (or collected)."""

    def __init__(self, db: sqlite3.Connection, folder: str, *, rounds: tuple[str, ...], ruleset: str,
                 as_of: datetime.date, counts: Mapping[str, int], warnings: tuple[Problem, ...] = (),
                 names: tuple[str, ...] = ()) -> None:
        self._db = db
        self._done = weakref.finalize(self, _drop, db, folder)
        self.rounds = rounds
        self.names = names or tuple((Path(r).parent if Path(r).is_file() else Path(r)).resolve().name or r
                                    for r in rounds)
        self.ruleset = ruleset
        self.as_of = as_of
        self.counts: Mapping[str, int] = dict(counts)
        self._length = sum(self.counts.values())
        self.warnings = warnings

    def close(self) -> None:
        """Remove the temporary file (iterating afterwards is an error)."""
        self._done()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[LedgerItem]:
        return self._select("", ())

    @overload
    def __getitem__(self, index: int) -> LedgerItem: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[LedgerItem]: ...

    def __getitem__(self, index: int | slice) -> LedgerItem | Sequence[LedgerItem]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self._length)))
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"ledger indices must be integers or slices, not {type(index).__name__}")
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("ledger index out of range")
        return next(self._select(" LIMIT 1 OFFSET ?", (index,)))

    def _rows(self, tail: str, values: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """The items' rows as stored, in order: (state's rank, centre, name, …, recurred)."""
        if not self._done.alive:
            raise ValueError("the ledger is closed")
        rank = "CASE WHEN ended = 1 THEN 2 WHEN ended = 2 THEN 3 WHEN due < ? THEN 0 ELSE 1 END"
        return self._db.execute(
            f"SELECT {rank} AS r, centre, name, street, clause, title, level, veto, found, amount, unit, missing, "
            "remedy, opened_in, opened_on, due, closed_in, void_in, recurred FROM items "
            f"ORDER BY r, due, centre, clause_order, seq{tail}", (self.as_of.isoformat(), *values))

    def _select(self, tail: str, values: tuple[Any, ...]) -> Iterator[LedgerItem]:
        date = datetime.date.fromisoformat
        for row in self._rows(tail, values):
            (r, centre, name, street, clause, title, level, veto, found, amount, unit, missing, remedy, opened_in,
             opened_on, due, closed_in, void_in, recurred) = row
            yield LedgerItem(centre, name, street, clause, title, level, bool(veto), found, amount, unit,
                             tuple(missing.split("\x1f")) if missing else (), remedy, opened_in, date(opened_on),
                             date(due), STATES[r], closed_in, void_in, bool(recurred))

    def csv_rows(self) -> Iterator[list[Any]]:
        """The rows of ``ledger.csv`` in :data:`KEYS` order, straight from the file (what ``LedgerItem.row()``
        gives, without making the items)."""
        yes_no = ("false", "true")
        for (r, centre, name, street, clause, title, level, veto, found, amount, unit, missing, remedy, opened_in,
             opened_on, due, closed_in, void_in, recurred) in self._rows("", ()):
            yield [centre, name, street, clause, title, level, yes_no[veto], found, "" if amount is None else amount,
                   unit or "", missing.replace("\x1f", ";") if missing else "", remedy, opened_in, opened_on, due,
                   STATES[r], closed_in or "", void_in or "", yes_no[recurred]]


def _drop(db: sqlite3.Connection, folder: str) -> None:
    try:
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- arguments

def _date(value: Any, name: str) -> datetime.date:
    if isinstance(value, datetime.datetime) or not isinstance(value, (datetime.date, str)):
        raise TypeError(f"{name} must be a datetime.date or an ISO date string, not {type(value).__name__}")
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} {value!r} is not a date (write it as 2026-12-31)") from None
    return value


def _days(value: Any) -> dict[str, int]:
    if value is None:
        return dict(DEFAULT_DAYS)
    if not isinstance(value, Mapping):
        raise TypeError(f"days must be a mapping of veto/shall/should to whole numbers, not {type(value).__name__}")
    days = dict(DEFAULT_DAYS)
    for key, number in value.items():
        if key not in DEFAULT_DAYS:
            raise ValueError(f"days: {key!r} is not one of veto, shall, should")
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"days[{key!r}] must be a whole number, not {type(number).__name__}")
        if number < 0:
            raise ValueError(f"days[{key!r}] must not be negative")
        days[key] = number
    return days


def _folders(rounds: Any) -> list[str]:
    if isinstance(rounds, (str, os.PathLike)):
        rounds = [rounds]
    if isinstance(rounds, (bytes, bytearray)) or not isinstance(rounds, Iterable):
        raise TypeError(f"rounds must be round folders (paths), not {type(rounds).__name__}")
    folders = []
    for folder in rounds:
        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"a round must be a folder's path, not {type(folder).__name__}")
        folders.append(os.fspath(folder))
    if not folders:
        raise ValueError("a ledger needs at least one round")
    return folders


# --------------------------------------------------------------------------- the rules of an item

def opens_item(finding: Mapping[str, Any]) -> bool:
    """Whether a finding of an inspection opens an item: it is ``fail``, ``partial`` or ``missing`` and not waived.
    (The service's live actions follow the same rule.)"""
    return finding.get("status") in SHORTFALL and not finding.get("waiver")


def ends_item(status: Any) -> str | None:
    """What an inspection's finding does to an item still open for its clause: ``closed`` (销号) when it is ``pass``,
    ``void`` when the clause no longer applies (``not_applicable``), else nothing (None)."""
    return "closed" if status == PASS else "void" if status == NOT_APPLICABLE else None


def level_of(finding: Mapping[str, Any]) -> str:
    """The finding's level (``shall`` or ``should``; ``shall`` where it gives none)."""
    level = finding.get("level")
    return level if level in LEVELS else "shall"


def days_for(finding: Mapping[str, Any], days: Mapping[str, int] | None = None) -> int:
    """The days an item of this finding has to be rectified: ``days['veto']`` for a veto clause, else those of its
    level (by default veto 30, shall 90, should 180)."""
    per_level = DEFAULT_DAYS if days is None else days
    return per_level["veto" if finding.get("veto") is True else level_of(finding)]


def due_after(opened_on: datetime.date, finding: Mapping[str, Any], days: Mapping[str, int] | None = None
              ) -> datetime.date:
    """An item's due date: the day it was found (the assessment date) plus :func:`days_for` its finding."""
    return opened_on + datetime.timedelta(days=days_for(finding, days))


def is_overdue(due: datetime.date | str, as_of: datetime.date | str) -> bool:
    """Whether an item still open on ``as_of`` is overdue: its due date is past (due on the day is not yet)."""
    return str(due) < str(as_of)


def shortfall_of(finding: Mapping[str, Any]) -> tuple[float | int | None, str | None, tuple[str, ...]]:
    """The finding's shortfall: (amount, unit, the codes missing), None where none was measured."""
    shortfall = finding.get("shortfall")
    amount = unit = None
    codes: tuple[str, ...] = ()
    if type(shortfall) is dict:
        amount = shortfall.get("amount")
        if type(amount) not in (int, float):        # a bool is not an amount either
            amount = None
        unit = shortfall.get("unit")
        if type(unit) is not str:
            unit = None
        listed = shortfall.get("missing")
        if listed and type(listed) is list:
            codes = tuple(m for m in listed if type(m) is str)
    return amount, unit, codes


# --------------------------------------------------------------------------- reading the rounds

def check_rounds(folders: Sequence[str]) -> list[Path]:
    """The rounds' ``results.jsonl`` files; a :class:`ComplianceError` naming the folder for one that is not a
    round's output folder, or one given twice."""
    paths: list[Path] = []
    for folder in folders:
        path = Path(folder) / "results.jsonl"
        if Path(folder).is_file() and Path(folder).name == "results.jsonl":
            path = Path(folder)                     # the round's results file itself: read as its folder
        elif not Path(folder).is_dir():
            raise ComplianceError(msg("is not a folder: a ledger is made from the output folders of rounds ({command})",
                                      command=quote("compliance batch")), file=folder)
        if not path.is_file():
            raise ComplianceError(msg("has no {file}: a ledger is made from the output folders of rounds ({command})",
                                      file=quote("results.jsonl"), command=quote("compliance batch")), file=folder)
        for earlier, seen in zip(folders, paths):
            if same_file(seen, path):
                raise ComplianceError(msg("is given twice (also as {other}): give each round once, oldest first",
                                          other=quote(earlier, 200)), file=folder)
        paths.append(path)
    return paths


def _not_results(where: str) -> NotResults:
    return NotResults(msg("is not a result document (one a line, as a round writes them)"), file=where)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


class _Build:
    """The items as the rounds are read, one round at a time, into the SQLite file."""

    def __init__(self, db: sqlite3.Connection, due: datetime.date | None, days: Mapping[str, int]) -> None:
        self.db, self.due, self.days = db, due, days
        # A (centre, clause) is one int: centre number × CLAUSES + clause number, 28 bytes where a tuple of two
        # strings took some 200 (half a million open items at a province's scale).
        self.centres: dict[str, int] = {}
        self.clauses: dict[str, int] = {}
        self.open: dict[int, int] = {}                  # (centre, clause) → its open item's row
        self.closed: set[int] = set()                   # closed once: failing again is a recurrence
        self.seq = 0
        self._due: dict[tuple[str, int], str] = {}      # (assessed on, days) → due: a round has few dates
        self.ruleset: tuple[str, str] | None = None     # (id, where it was first read)
        self.names: list[str] = []                      # each round's name, as its items name it

    def round(self, path: Path, folder_name: str) -> str:
        """Read one round; its latest assessment date ('' when none is given)."""
        inserts: list[tuple[Any, ...]] = []
        ends: list[tuple[int, str | None, str | None, int]] = []
        latest = ""                                     # the round's latest assessment date
        named_as: set[str] = set()                      # the names its items are opened or closed in
        undated: list[int] = []                         # rows opened in this round by a centre without a date
        for where, doc in result_documents(path):
            try:
                centre = doc["center"]
                cid = centre["id"]
                findings = doc["findings"]
                ruleset = doc["ruleset"]["id"]
                if not isinstance(cid, str) or not isinstance(findings, list) or not isinstance(centre, dict):
                    raise TypeError
            except (KeyError, TypeError):
                raise _not_results(where) from None
            self._same_rules(str(ruleset), where)
            assessed = _iso(centre.get("assessed_on"))
            if assessed and assessed > latest:
                latest = assessed
            audit = doc.get("audit")
            if isinstance(audit, dict) and audit.get("declared", True) and audit.get("kind", "self_check") != "inspection":
                continue                                # a self-check opens, closes and voids nothing; a result whose
                                                        # profile had no audit block ("declared": false) counts
            named = audit.get("round") if isinstance(audit, dict) else None
            round_name = named if isinstance(named, str) and named.strip() else folder_name
            named_as.add(round_name)
            region = centre.get("region")
            street = _text(region.get("street")) if isinstance(region, dict) else ""
            base = self.centres.setdefault(cid, len(self.centres)) * CLAUSES
            name = _text(centre.get("name"))
            for order, finding in enumerate(findings):
                if not isinstance(finding, dict) or not isinstance(finding.get("clause"), str):
                    raise _not_results(where)
                clause, status = finding["clause"], finding.get("status")
                number = self.clauses.get(clause)
                if number is None:
                    if len(self.clauses) >= CLAUSES:
                        raise _not_results(where)
                    number = self.clauses[clause] = len(self.clauses)
                key = base + number
                row = self.open.get(key)
                ending = ends_item(status)
                if ending is not None:
                    if row is not None:
                        ends.append((_CLOSED, round_name, None, row) if ending == "closed"
                                    else (_VOID, None, round_name, row))
                        del self.open[key]
                        if ending == "closed":
                            self.closed.add(key)
                elif row is None and opens_item(finding):
                    self.seq += 1
                    self.open[key] = self.seq
                    if not assessed:
                        undated.append(self.seq)
                    inserts.append(self._item(self.seq, cid, name, street, order, finding, round_name, assessed,
                                              key in self.closed))
                if len(inserts) >= 5000:
                    self._flush(inserts, ends)
            if len(ends) >= 5000:
                self._flush(inserts, ends)
        self._flush(inserts, ends)
        if undated:
            # Where a centre gave no date, the round's latest one; a round with no date at all, the day its results
            # were written (in China's time).
            start = latest or datetime.datetime.fromtimestamp(path.stat().st_mtime, CHINA).date().isoformat()
            self.db.executemany("UPDATE items SET opened_on = ? WHERE seq = ?", [(start, s) for s in undated])
            if self.due is None:
                self.db.executemany("UPDATE items SET due = date(?, '+' || days || ' days') WHERE seq = ?",
                                    [(start, s) for s in undated])
        self.names.append(named_as.pop() if len(named_as) == 1 else folder_name)
        return latest

    def _same_rules(self, ruleset: str, where: str) -> None:
        if self.ruleset is None:
            self.ruleset = (ruleset, where)
        elif self.ruleset[0] != ruleset:
            raise ComplianceError(msg("was audited under the rule set {new} and {first} under {old}: a ledger follows "
                                      "clauses across rounds under one rule set. Audit the rounds under one rule "
                                      "set first", new=quote(ruleset), old=quote(self.ruleset[0]),
                                      first=quote(self.ruleset[1], 300)), file=where)

    def _item(self, seq: int, cid: str, name: str, street: str, order: int, finding: Mapping[str, Any],
              round_name: str, assessed: str | None, recurred: bool) -> tuple[Any, ...]:
        get = finding.get
        level = level_of(finding)
        veto = get("veto") is True
        days = days_for(finding, self.days)
        amount, unit, codes = shortfall_of(finding)
        missing = "\x1f".join(codes)
        if self.due is not None:
            due: str | None = self.due.isoformat()
        elif assessed:
            due = self._due.get((assessed, days))
            if due is None:
                due = self._due[assessed, days] = (datetime.date.fromisoformat(assessed)
                                                   + datetime.timedelta(days=days)).isoformat()
        else:
            due = None                                   # filled in at the round's end
        title, status, remedy = get("title"), get("status"), get("message")
        return (seq, cid, name, street, finding["clause"], order, title if type(title) is str else _text(title),
                level, int(veto), status, amount, unit, missing,
                remedy if type(remedy) is str else _text(remedy), round_name, assessed, days, due, int(recurred))

    def _flush(self, inserts: list[tuple[Any, ...]], ends: list[tuple[int, str | None, str | None, int]]) -> None:
        if inserts:
            self.db.executemany(
                "INSERT INTO items (seq, centre, name, street, clause, clause_order, title, level, veto, found, amount, "
                "unit, missing, remedy, opened_in, opened_on, days, due, recurred, ended) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)", inserts)
            inserts.clear()
        if ends:
            self.db.executemany("UPDATE items SET ended = ?, closed_in = ?, void_in = ? WHERE seq = ?", ends)
            ends.clear()


def _iso(value: Any) -> str | None:
    """A date written ``yyyy-mm-dd`` as such, else None (no date)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def ledger(rounds: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
           as_of: datetime.date | str | None = None, due: datetime.date | str | None = None,
           days: Mapping[str, int] | None = None) -> Ledger:
    """The rectification ledger of ``rounds`` (``compliance batch`` output folders, oldest first, one rule set).

    ``due`` gives every item one due date; otherwise an item is due ``days[level]`` days (``veto`` for a veto
    clause; by default veto 30, shall 90, should 180) after its centre's assessment date in the round it opened in
    (the round's latest assessment date where the centre has none). ``as_of`` (default: today in China) is the day
    an open item past its due date is ``overdue``. A folder that is not a round, a line that is not a result
    document, or rounds under two rule sets are a :class:`ComplianceError` naming the place; wrong argument types
    a ``TypeError``.
    """
    folders = _folders(rounds)
    day = today_in_china() if as_of is None else _date(as_of, "as_of")
    fixed = None if due is None else _date(due, "due")
    if due is not None and days is not None:
        raise ValueError("give due or days, not both")
    per_level = _days(days)
    paths = check_rounds(folders)
    folder = tempfile.mkdtemp(prefix="compliance-ledger-")
    db = sqlite3.connect(os.path.join(folder, "ledger.sqlite3"), isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -16000")          # 16 MB of pages at most
        db.execute("CREATE TABLE items (seq INTEGER PRIMARY KEY, centre TEXT, name TEXT, street TEXT, clause TEXT, "
                   "clause_order INTEGER, title TEXT, level TEXT, veto INTEGER, found TEXT, amount, unit TEXT, "
                   "missing TEXT, remedy TEXT, opened_in TEXT, opened_on TEXT, days INTEGER, due TEXT, "
                   "recurred INTEGER, ended INTEGER, closed_in TEXT, void_in TEXT)")
        build = _Build(db, fixed, per_level)
        db.execute("BEGIN")
        warnings: list[Problem] = []
        before = ("", "")                               # the latest date so far, and its round
        for folder_name, path in zip(folders, paths):
            latest = build.round(path, path.parent.resolve().name or folder_name)
            if latest and latest < before[0]:
                warnings.append(Problem(msg("was assessed up to {date}, before {other} (up to {then}): rounds are read "
                                            "oldest first, so a later one closes what an earlier one found; check "
                                            "their order", date=latest, other=quote(before[1], 200), then=before[0]),
                                        file=folder_name, severity=WARNING))
            if latest >= before[0]:
                before = (latest, folder_name)
        db.execute("COMMIT")
        counts = dict.fromkeys(STATES, 0)
        for state, count in db.execute(
                "SELECT CASE WHEN ended = 1 THEN 'closed' WHEN ended = 2 THEN 'void' WHEN due < ? THEN 'overdue' "
                "ELSE 'open' END, count(*) FROM items GROUP BY 1", (day.isoformat(),)):
            counts[state] = count
        ruleset = build.ruleset[0] if build.ruleset else ""
    except BaseException:
        _drop(db, folder)
        raise
    return Ledger(db, folder, rounds=tuple(folders), ruleset=ruleset, as_of=day, counts=counts,
                  warnings=tuple(warnings), names=tuple(build.names))


# --------------------------------------------------------------------------- writing

def shortfall_text(item: LedgerItem, lang: str | None = None) -> str:
    """The shortfall as a reader writes it: 69.0 m², 2 项, 10%; empty where none was measured."""
    if item.amount is None:
        return ""
    if item.unit == "ratio":
        return fmt_amount_pct(item.amount)
    return f"{fmt_amount(item.amount)} {unit_label(item.unit or '', lang)}".strip()


def write_ledger(items: Ledger | Iterable[LedgerItem], target: str | os.PathLike[str], *,
                 lang: str | None = None) -> None:
    """Write the ledger as ``ledger.csv`` (UTF-8 with a BOM, a header row of keys) or ``ledger.xlsx`` (整改台账,
    printable on A4 landscape, overdue rows coloured), by the target's suffix, atomically."""
    if not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"target must be a path, not {type(target).__name__}")
    suffix = Path(target).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ComplianceError(msg("a ledger is written as {kinds}: name the output so",
                                  kinds=Joined([quote(".xlsx"), quote(".csv")], "or")), file=os.fspath(target))
    lang = lang or language()
    if suffix == ".xlsx" and isinstance(items, Ledger) and len(items) > XLSX_MAX_ROWS:
        raise ComplianceError(msg("the ledger has {count:,} items, more than a sheet's {rows:,} rows: write it as {csv}",
                                  count=len(items), rows=XLSX_MAX_ROWS, csv=quote(".csv")), file=os.fspath(target))
    if suffix == ".csv":
        _write_csv(items, target)
    else:
        _write_xlsx(items, target, lang)


def _write_csv(items: Iterable[LedgerItem], target: str | os.PathLike[str]) -> None:
    with atomic_stream(target, msg("cannot write the ledger")) as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        text.write(BOM)
        writer = csv.writer(text)
        writer.writerow(KEYS)
        rows = items.csv_rows() if isinstance(items, Ledger) else ([item.row()[k] for k in KEYS] for item in items)
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
        text.flush()
        text.detach()


HEADINGS = Words(
    number=msg("No."), centre_id=msg("Centre id"), name=cmsg("centre column", "Name"), street=msg("Street"),
    clause=msg("Clause"), problem=cmsg("ledger column", "Problem"), level=msg("Level"),
    shortfall=cmsg("ledger column", "Shortfall"), remedy=cmsg("ledger column", "Rectification required"),
    due=cmsg("ledger column", "Due"), state=cmsg("ledger column", "State"),
    opened_in=cmsg("ledger column", "Found in round"), closed_in=cmsg("ledger column", "Closed in round"),
)
COLUMNS = ("number", "centre_id", "name", "street", "clause", "problem", "level", "shortfall", "remedy", "due",
           "state", "opened_in", "closed_in")
USUAL_LINES = 2
WIDTHS = (4.5, 13.5, 16, 8, 5.5, 21.5, 7, 7.5, 19.5, 10.5, 9.5, 9.5, 9.5)    # 142.5: A4 landscape at 80 %


HEADER_ROUNDS = 120                  # characters of round names in the page header, which must stay under 255


def rounds_text(names: Sequence[str]) -> str:
    """The rounds for the page header: ``a → b → c``; when long, each name cut and the middle ones left out
    (``a → … → c``), so the header stays inside the 255 characters a spreadsheet keeps (a longer one is dropped
    whole)."""
    cut = [n if len(n) <= 40 else n[:39] + "…" for n in names]
    text = " → ".join(cut)
    if len(text) > HEADER_ROUNDS and len(cut) > 2:
        text = f"{cut[0]} → … → {cut[-1]}"
    return text


def _write_xlsx(items: Iterable[LedgerItem], target: str | os.PathLike[str], lang: str) -> None:
    import xlsxwriter

    heads = HEADINGS.of(lang)
    states = STATE_LABELS.of(lang)
    recurred = cmsg("ledger state", "recurred").text(lang)
    veto_word = msg("veto").text(lang)
    rounds: list[str] = []
    if isinstance(items, Ledger):
        rounds = list(items.names)
        as_of = items.as_of
        counts = items.counts
    else:
        as_of, counts = today_in_china(), {}
    with atomic_stream(target, msg("cannot write the ledger")) as out:
        book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
        title = msg("Rectification ledger").text(lang)
        book.set_properties({"created": datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc),
                             "title": title})
        book.formats[0].set_font_size(FONT_SIZE)
        head = book.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F3B64", "text_wrap": True,
                                "valign": "vcenter", "align": "center", "font_size": FONT_SIZE, "border": 1})
        base = {"font_size": FONT_SIZE, "valign": "top", "text_wrap": True, "border": 1, "border_color": "#BFBFBF"}
        formats = {
            "overdue": book.add_format({**base, "bg_color": "#F8D7DA", "font_color": "#8A1C14"}),
            "open": book.add_format(base),
            "closed": book.add_format({**base, "font_color": "#1B7A3D"}),
            "void": book.add_format({**base, "font_color": "#6B6B6B"}),
        }
        centred = {state: book.add_format({**base, **extra, "align": "center"})
                   for state, extra in (("overdue", {"bg_color": "#F8D7DA", "font_color": "#8A1C14"}), ("open", {}),
                                        ("closed", {"font_color": "#1B7A3D"}), ("void", {"font_color": "#6B6B6B"}))}
        dated = {state: book.add_format({**base, **extra, "num_format": "yyyy-mm-dd", "align": "center"})
                 for state, extra in (("overdue", {"bg_color": "#F8D7DA", "font_color": "#8A1C14", "bold": True}),
                                      ("open", {}), ("closed", {"font_color": "#1B7A3D"}),
                                      ("void", {"font_color": "#6B6B6B"}))}
        sheet = book.add_worksheet(title)
        for c, width in enumerate(WIDTHS):
            sheet.set_column(c, c, width)
        sheet.write_row(0, 0, [heads[k] for k in COLUMNS], head)
        sheet.set_row(0, LINE_PT * 2 + 4)
        sheet.freeze_panes(1, 0)
        # Most rows take two lines (a centre's name, a clause's title and its status wrap): that is the sheet's
        # default height, and only the others are given theirs. The spreadsheet writer keeps a record for every
        # row given a height, which at a province's half a million items would be a hundred megabytes.
        sheet.set_default_row(LINE_PT * USUAL_LINES + 3)
        about = " · ".join(x for x in (
            rounds_text(rounds),
            msg("as of {date}", date=as_of.isoformat()).text(lang),
            msg("{overdue} overdue, {open} open, {closed} closed, {void} no longer apply",
                overdue=counts.get("overdue", 0), open=counts.get("open", 0), closed=counts.get("closed", 0),
                void=counts.get("void", 0)).text(lang) if counts else "") if x)
        sheet.set_paper(9)
        sheet.set_landscape()
        sheet.set_print_scale(print_scale(WIDTHS))
        sheet.repeat_rows(0)
        sheet.set_margins(left=0.4, right=0.4, top=0.85, bottom=0.6)
        sheet.set_header(f'&C&"-,Bold"{header_text(title)}\n&"-,Regular"{header_text(about)}', {"margin": 0.25})
        sheet.set_footer("&C" + header_text(msg("page {page} of {pages}", page="\x00P", pages="\x00N").text(lang))
                         .replace("\x00", "&"), {"margin": 0.25})
        n = 0
        lines_of: dict[tuple[str, float], int] = {}     # titles, names and remedies repeat: measured once each

        def wrapped(value: str, width: float) -> int:
            found = lines_of.get((value, width))
            if found is None:
                if len(lines_of) > 50_000:
                    lines_of.clear()
                found = lines_of[value, width] = wrapped_lines(value, width - 0.5)
            return found

        mark = "·" if lang == "zh" else ", "            # 未整改·复发, not rectified, recurred
        level_words = {lv.value: label.text(lang) for lv, label in LEVEL_LABELS.items()}
        status_words = {st.value: label.text(lang) for st, label in STATUS_LABELS.items()}
        for item in items:
            n += 1
            state = states[item.state] + (f"{mark}{recurred}" if item.recurred else "")
            level = level_words.get(item.level, item.level) + (f"{mark}{veto_word}" if item.veto else "")
            problem = f"{item.title}（{status_words.get(item.found, item.found)}）" if lang == "zh" \
                else f"{item.title} ({status_words.get(item.found, item.found)})"
            cells = [n, item.centre_id, item.name, item.street, item.clause, problem, level,
                     shortfall_text(item, lang), item.remedy, None, state, item.opened_in, item.closed_in or ""]
            lines = max(wrapped(v, w) for v, w in zip(cells, WIDTHS) if isinstance(v, str))
            if lines != USUAL_LINES:
                sheet.set_row(n, LINE_PT * lines + 3)
            fmt = formats[item.state]
            for c, value in enumerate(cells):
                if c == 9:
                    sheet.write_datetime(n, c, datetime.datetime.combine(item.due, datetime.time()), dated[item.state])
                elif isinstance(value, str):
                    sheet.write_string(n, c, value, fmt)
                else:
                    sheet.write_number(n, c, value, centred[item.state])
        sheet.autofilter(0, 0, max(n, 1), len(COLUMNS) - 1)
        sheet.print_area(0, 0, max(n, 1), len(COLUMNS) - 1)
        book.close()
