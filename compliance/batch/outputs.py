"""A round's tables and report, made from its per-centre rows in one streaming pass.

While the round runs, every centre leaves one short JSON line in a rows file (its
summary figures, or its problems). :func:`finish` reads that file once to count,
sum and rank, keeping per centre only the two numbers the league table's sort needs
(its score and the row's offset), then writes ``summary.csv``, ``summary.xlsx``,
``errors.csv`` and ``district-report.html``/``.pdf``. At national scale the report
lists individual centres up to :data:`LIST_LIMIT` and otherwise reports by region.
"""
from __future__ import annotations

import contextlib
import csv
import datetime
import functools
import heapq
import io
import itertools
import os
import tempfile
from array import array
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, cast

import orjson

from ..errors import ERROR, WARNING, ComplianceError, system_reason
from ..i18n import Words, cmsg, msg, quote
from ..rendering import BAR, FOOTER_LIMITS, LOW, bar_chart, cut_to_width, footer, ruleset_view
from .lines import FORMULA_START as _FORMULA_START, csv_cell, tail_of
from .sources import column_letter
from ..model import STATUS_LETTER, RuleSet, Status
from ..reconciliation import Flag, flag
from ..wording import STATUS_LABELS, VERDICT_LABELS, fmt_amount, remedy_sum, unit_label
from ..writing import atomic_stream, write_atomic

if TYPE_CHECKING:
    from .columns import Figures
    from .seen import SeenIds

PATTERNS_HELD = 20_000              # patterns of status letters kept before they are counted into the clauses
AMOUNTS_HELD = 100_000             # remedies' distinct amounts kept before they are summed
LIST_LIMIT = 500                    # centres (or regions) listed one by one in the district report
ERRORS_KEPT = 100                   # refused centres the console lists (then a count), as every problem list
REPORT_ERRORS = 20                  # … and the district report (errors.csv lists them all)
TOP_CLAUSES = 10
TOP_MOVERS = 10
REGION_KEYS = ("province", "city", "district", "street")
BOM = "\ufeff"

SUMMARY_KEYS = ("rank", "center_id", "name", "province", "city", "district", "street", "score", "grade", "verdict")
PREVIOUS_KEYS = ("previous_score", "score_change", "previous_grade", "trend")
SELF_KEYS = ("self_score", "self_gap", "overstated")
TAIL_KEYS = ("veto_failed", "actions", "source")
WAIVER_KEYS = ("unwaived_score", "waived")        # a round run with waivers: the score without them, the clauses
ERROR_KEYS = ("location", "center_id", "path", "field", "problem", "severity")
TRENDS = ("improved", "worsened", "unchanged", "new", "gone")

LABELS = Words(
    rank=msg("Rank"), center_id=msg("Centre id"), name=cmsg("centre column", "Name"), province=msg("Province"),
    city=msg("City"), district=msg("District"), street=cmsg("column", "Street"), score=msg("Score"),
    grade=msg("Grade"), verdict=msg("Verdict"), veto_failed=msg("Veto clauses failed"), actions=msg("Actions"),
    source=msg("Source"), previous_score=msg("Previous score"), score_change=cmsg("column", "Change"),
    previous_grade=msg("Previous grade"), self_score=msg("Self-check score"),
    self_gap=msg("Gap to the self-check"), overstated=msg("Overstated in the self-check"),
    trend=msg("Trend"), improved=msg("improved"), worsened=msg("worsened"), unchanged=msg("unchanged"),
    new=cmsg("trend", "new"), gone=msg("not in this round"), location=msg("Location"), path=msg("Path"),
    field=msg("Field"), problem=msg("Problem"), severity=msg("Severity"),
    unwaived_score=msg("Score without waivers"), waived=msg("Waived clauses"),
)
_LETTER_STATUS = {letter: status for status, letter in STATUS_LETTER.items()}    # the rows' letters, read back
STATUS_KEYS = {letter: status.value for letter, status in _LETTER_STATUS.items()}


# --------------------------------------------------------------------------- the previous round

@dataclass
class Previous:
    """Last round's score and grade of every centre, read from its ``results.jsonl``."""

    folder: str
    scores: dict[str, tuple[float, str, str]]       # id → (score, grade, name)
    ruleset: str = ""

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> Previous:
        path = earlier_round(folder, "--previous")
        scores: dict[str, tuple[float, str, str]] = {}
        ruleset = ""
        for where, doc in result_documents(path):
            try:
                center = doc["center"]
                scores[str(center["id"])] = (float(doc["score"]), str(doc["grade"]), str(center.get("name", "")))
                ruleset = ruleset or str(doc.get("ruleset", {}).get("id", ""))
            except (KeyError, TypeError, ValueError, AttributeError):
                raise NotResults(msg("is not a result document (one a line, as a round writes them)"),
                                 file=where) from None
        return cls(str(folder), scores, ruleset)


def earlier_round(folder: str | os.PathLike[str], option: str) -> Path:
    """The ``results.jsonl`` of an earlier round's output folder, given as ``option`` (``--previous``, ``--self``);
    a :class:`ComplianceError` naming the folder when it is not one."""
    path = Path(folder) / "results.jsonl"
    if not Path(folder).is_dir():
        raise ComplianceError(msg("{option} must be the output folder of an earlier round", option=quote(option)),
                              file=str(folder))
    if not path.is_file():
        raise ComplianceError(msg("has no {file}: {option} takes the output folder of an earlier round",
                                  file=quote("results.jsonl"), option=quote(option)), file=str(folder))
    return path


class NotResults(ComplianceError):
    """A line of a round's ``results.jsonl`` that is not a result document, or the file cannot be read."""


def result_documents(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line``, document) of every line of a round's ``results.jsonl``, one line in memory at a time; a line
    that is not a JSON object, or a file that cannot be read, is a :class:`NotResults` naming the place."""
    try:
        with open(path, "rb") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError:
                    doc = None
                if not isinstance(doc, dict):
                    raise NotResults(msg("is not a result document (one a line, as a round writes them)"),
                                     file=f"{path}:{number}")
                yield f"{path}:{number}", doc
    except OSError as exc:
        raise NotResults(system_reason(exc, msg("cannot be read")), file=str(path)) from None


# --------------------------------------------------------------------------- the self-check round

@dataclass
class SelfRound:
    """A self-check round (自查), read from its ``results.jsonl`` for ``batch --self``: per centre its score and, as a
    round's rows keep them, its status letters and its partial clauses' credits; as little as :class:`Previous`
    keeps, and never a finding object."""

    folder: str
    centres: dict[str, tuple[float, str, tuple[float, ...]]]   # id → (score, status letters, partial credits)
    clauses: tuple[str, ...] = ()
    ruleset: str = ""
    content_hash: str = ""

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> SelfRound:
        path = earlier_round(folder, "--self")
        centres: dict[str, tuple[float, str, tuple[float, ...]]] = {}
        clauses: tuple[str, ...] = ()
        ruleset = content_hash = ""
        for place, doc in result_documents(path):
            try:
                findings = doc["findings"]
                order = tuple(str(f["clause"]) for f in findings)
                if not clauses:
                    clauses = order
                    ruleset = str(doc.get("ruleset", {}).get("id", ""))
                    content_hash = str(doc.get("ruleset", {}).get("content_hash", ""))
                elif order != clauses:
                    raise ValueError("another rule set's clauses")
                letters = "".join(STATUS_LETTER[Status(f["status"])] for f in findings)
                partial = tuple(float(f["credit"]) for f in findings if f["status"] == "partial")
                centres[str(doc["center"]["id"])] = (float(doc["score"]), letters, partial)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise NotResults(msg("is not a result document (one a line, as a round writes them)"),
                                 file=place) from None
        return cls(str(folder), centres, clauses, ruleset, content_hash)


def _credits(letters: str, partial: Sequence[float]) -> Iterator[tuple[Status, float]]:
    """Each clause's status and credit from a row's status letters and its partial clauses' credits."""
    credits = iter(partial)
    for letter in letters:
        status = _LETTER_STATUS[letter]
        yield status, (next(credits, 0.5) if status is Status.PARTIAL else 1.0 if status is Status.PASS else 0.0)


def _reconcile(row: dict[str, Any], self_round: SelfRound | None, clauses: Sequence[str]) -> None:
    """Put the centre's self-check into ``row``: its score, the gap (self-check less this round) and the clauses it
    overstated, flagged by the rule :func:`compliance.reconcile` follows. A centre without a self-check gets none."""
    if self_round is None:
        return
    mine = self_round.centres.get(row["id"])
    if mine is None or len(mine[1]) != len(row["st"]):
        return
    score, letters, partial = mine
    row["self_score"], row["self_gap"] = score, round(score - row["score"], 1)
    row["overstated"] = ";".join(clauses[i] for i in _overstated(letters, partial, row["st"], tuple(row.get("pc", ()))))


@functools.lru_cache(maxsize=4096)
def _overstated(letters: str, partial: tuple[float, ...], found: str, found_partial: tuple[float, ...]) -> tuple[int, ...]:
    """The positions of the clauses overstated, from both sides' status letters and partial credits (a round repeats
    far fewer patterns than it has centres: each is worked out once)."""
    if letters == found and partial == found_partial:
        return ()
    return tuple(i for i, ((s, c), (f, d)) in enumerate(zip(_credits(letters, partial), _credits(found, found_partial)))
                 if flag(s, c, f, d) is Flag.OVERSTATED)


# --------------------------------------------------------------------------- counting

@dataclass(slots=True)
class Group:
    """A region's counts (a national round holds one for each of some 60,000 streets)."""

    centres: int = 0
    score_sum: float = 0.0
    conforming: int = 0
    grades: dict[str, int] = field(default_factory=dict)
    nonconforming: int = 0


@dataclass
class Tally:
    """Everything the tables and the report need, counted in one pass over the rows."""

    rules: RuleSet
    audited: int = 0
    refused: int = 0                  # records refused (invalid or repeated)
    verdicts: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    score_sum: float = 0.0
    category_sums: list[float] = field(default_factory=list)
    category_counts: list[int] = field(default_factory=list)
    statuses: list[dict[str, int]] = field(default_factory=list)    # per clause: letter → count
    regions: dict[tuple[str, ...], Group] = field(default_factory=dict)
    region_names: dict[str, str] = field(default_factory=dict, repr=False)     # each name the regions hold, once
    nonconforming: list[dict[str, Any]] = field(default_factory=list)   # the first LIST_LIMIT + 1
    remedies: dict[tuple[str, str], list[Any]] = field(default_factory=dict)   # (clause, unit) → [centres, total]
    dates: list[str] = field(default_factory=list)                  # earliest and latest assessment date
    errors: list[dict[str, Any]] = field(default_factory=list)      # the first refused, for the console and report
    warned: int = 0                   # warnings of audited centres (a key the contract does not know…)
    warning_rows: list[dict[str, Any]] = field(default_factory=list)     # the first few rows with warnings
    scores: array[float] = field(default_factory=lambda: array("d"))       # per audited centre, in input order
    offsets: array[int] = field(default_factory=lambda: array("q"))      # its row's offset in the rows file
    # against the previous round
    trends: dict[str, int] = field(default_factory=dict)
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)
    gains: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)    # heaps of the biggest moves
    losses: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    gone: list[tuple[str, str, float, str]] = field(default_factory=list)
    gone_count: int = 0
    refused_ids: set[str] = field(default_factory=set)              # refused, so not "gone"
    previous_sum: float = 0.0
    matched_sum: float = 0.0
    previous_matched: int = 0
    # against the round's self-checks (batch --self)
    self_round: SelfRound | None = None
    self_matched: int = 0
    self_gap_sum: float = 0.0
    overstating: int = 0                                   # centres with a clause overstated
    overstated_clauses: dict[str, int] = field(default_factory=dict)
    overstated_top: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    # waivers (a round run with them)
    waivers: bool = False
    waived: dict[str, int] = field(default_factory=dict)           # clause → centres it is waived for
    waived_centres: int = 0
    expired: list[tuple[str, str, str, str]] = field(default_factory=list)   # the first few: id, name, clause, expiry
    expired_count: int = 0

    def __post_init__(self) -> None:
        self.category_sums = [0.0] * len(self.rules.categories)
        self.category_counts = [0] * len(self.rules.categories)
        self.statuses = [dict.fromkeys(STATUS_KEYS, 0) for _ in self.rules.clauses]

    @property
    def exit_code(self) -> int:
        if self.refused:
            return 2
        return 1 if self.verdicts.get("non_conforming") else 0


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset, row) of every row in the rows file."""
    with open(path, "rb") as fh:
        offset = 0
        for line in fh:
            yield offset, orjson.loads(line)
            offset += len(line)


def _compare(row: dict[str, Any], previous: Previous | None, grade_rank: Mapping[str, int]) -> None:
    """Put the previous round's figures into ``row``: previous score and grade, change, trend."""
    if previous is None:
        return
    before = previous.scores.get(row["id"])
    if before is None:
        row["trend"] = "new"
        return
    score, grade, _ = before
    change = round(row["score"] - score, 1)
    row["previous_score"], row["previous_grade"], row["score_change"] = score, grade, change
    better = grade_rank.get(row["grade"], 0) - grade_rank.get(grade, 0)
    row["trend"] = ("improved" if change > 0 or (change == 0 and better > 0)
                    else "worsened" if change < 0 or better < 0 else "unchanged")


class Counting:
    """A round's :class:`Tally`, counted one row at a time as the rows are written (``compliance batch`` counts
    while its workers audit the next chunks) or read back from the rows file when a round resumes."""

    def __init__(self, rules: RuleSet, previous: Previous | None, self_round: SelfRound | None = None,
                 waivers: bool = False) -> None:
        self.t = Tally(rules, self_round=self_round, waivers=waivers)
        self.previous = previous
        self.self_round = self_round
        self.grade_rank = {g.id: -i for i, g in enumerate(rules.grades)}
        self.clauses = [c.clause for c in rules.clauses]
        self.patterns: dict[str, int] = {}                        # status letters of every clause → centres
        self.amounts: dict[tuple[str, str], dict[float, int]] = {}   # (clause, unit) → amount → centres
        self.amounts_held = 0                                        # entries of amounts: folded at AMOUNTS_HELD
        self.remedy_sums: dict[tuple[str, str], list[Any]] = {}      # (clause, unit) → [centres, exact total]
        self.order = 0

    def add(self, offset: int, row: dict[str, Any]) -> None:
        """Count one row of the rows file (``offset``: where it starts)."""
        t, previous, self_round, clauses = self.t, self.previous, self.self_round, self.clauses
        grade_rank, patterns, amounts = self.grade_rank, self.patterns, self.amounts
        if "refused" in row:
            t.refused += 1
            if row.get("id"):
                t.refused_ids.add(row["id"])
            if len(t.errors) < ERRORS_KEPT:
                t.errors.append(row)
            return
        t.audited += 1
        if "warnings" in row:
            t.warned += len(row["warnings"])
            if len(t.warning_rows) < 20:
                t.warning_rows.append(row)
        t.scores.append(row["score"])
        t.offsets.append(offset)
        t.score_sum += row["score"]
        t.verdicts[row["verdict"]] = t.verdicts.get(row["verdict"], 0) + 1
        t.grades[row["grade"]] = t.grades.get(row["grade"], 0) + 1
        for i, score in enumerate(row["cats"]):
            if score is not None:
                t.category_sums[i] += score
                t.category_counts[i] += 1
        st = row["st"]
        if len(st) == len(clauses):
            patterns[st] = patterns.get(st, 0) + 1      # a district holds far fewer patterns than centres
            if len(patterns) >= PATTERNS_HELD:          # a national round may not: memory stays bounded
                self._count_patterns()
        if not _count_region(t, tuple(row["region"]), row["score"], row["grade"], row["verdict"]) \
                and len(t.nonconforming) <= LIST_LIMIT:
            t.nonconforming.append(row)
        for clause, unit, amount in row["amt"]:
            slot = amounts.get((clause, unit))
            if slot is None:
                slot = amounts[(clause, unit)] = {}
            before = slot.get(amount)
            if before is None:
                slot[amount] = 1
                self.amounts_held += 1
                if self.amounts_held >= AMOUNTS_HELD:       # a national round's amounts: memory stays bounded
                    self._sum_amounts()
            else:
                slot[amount] = before + 1
        if "wv" in row:
            if row["wv"]:
                t.waived_centres += 1
            for clause in row["wv"]:
                t.waived[clause] = t.waived.get(clause, 0) + 1
            for clause, expires in row["wx"]:
                t.expired_count += 1
                if len(t.expired) < LIST_LIMIT:
                    t.expired.append((row["id"], row["name"], clause, expires))
        if row["date"]:
            _count_date(t, row["date"])
        if previous is not None:
            _compare(row, previous, grade_rank)
            trend = row["trend"]
            t.trends[trend] = t.trends.get(trend, 0) + 1
            if trend != "new":
                t.previous_sum += row["previous_score"]
                t.matched_sum += row["score"]
                t.previous_matched += 1
                pair = (row["previous_grade"], row["grade"])
                t.transitions[pair] = t.transitions.get(pair, 0) + 1
                brief = {k: row[k] for k in ("id", "name", "score", "grade", "previous_score", "previous_grade",
                                             "score_change")}
                self.order += 1
                if row["score_change"] > 0:
                    _keep(t.gains, (row["score_change"], -self.order, brief))
                elif row["score_change"] < 0:
                    _keep(t.losses, (-row["score_change"], -self.order, brief))
        if self_round is not None:
            _reconcile(row, self_round, clauses)
            if "self_gap" in row:
                t.self_matched += 1
                t.self_gap_sum += row["self_gap"]
                if row["overstated"]:
                    t.overstating += 1
                    for clause in row["overstated"].split(";"):
                        t.overstated_clauses[clause] = t.overstated_clauses.get(clause, 0) + 1
                    self.order += 1
                    _keep(t.overstated_top, (row["self_gap"], -self.order, {k: row[k] for k in (
                        "id", "name", "region", "score", "self_score", "self_gap", "overstated")}))

    @property
    def takes_figures(self) -> bool:
        """Whether :meth:`add_figures` may count rows: not when they are set beside another round's."""
        return self.previous is None and self.self_round is None

    def add_figures(self, offsets: Sequence[int], rows: Sequence[bytes], f: Figures) -> None:
        """Count a chunk's rows of audited centres without warnings or waivers from their figures (the columnar
        engine's, in input order): what :meth:`add` counts from each row, the sums added in the same order."""
        t, patterns = self.t, self.patterns
        t.audited += len(offsets)
        t.offsets.extend(offsets)
        t.scores.extend(f.score)
        for s in f.score:
            t.score_sum += s
        _add_counts(t.grades, Counter(f.grade))
        _add_counts(t.verdicts, Counter(f.verdict))
        for k, column in enumerate(f.cats):
            total, count = t.category_sums[k], t.category_counts[k]
            for c in column:
                if c is not None:
                    total += c
                    count += 1
            t.category_sums[k], t.category_counts[k] = total, count
        _add_counts(patterns, Counter(f.st))
        if len(patterns) >= PATTERNS_HELD:
            self._count_patterns()
        for i, key in enumerate(f.region):
            if not _count_region(t, key, f.score[i], f.grade[i], f.verdict[i]) and len(t.nonconforming) <= LIST_LIMIT:
                t.nonconforming.append(orjson.loads(rows[i]))
        for remedy, (centres, owed) in f.remedies.items():
            self._add_remedy(remedy, centres, owed)
        dates = [d for d in f.date if d]
        if dates:
            _count_date(t, min(dates))
            _count_date(t, max(dates))

    def _count_patterns(self) -> None:
        """Each clause's status counts, from the patterns of status letters counted so far."""
        for st, n in self.patterns.items():
            for counts, letter in zip(self.t.statuses, st):
                counts[letter] += n
        self.patterns.clear()

    def _sum_amounts(self) -> None:
        """The remedies' amounts counted so far, summed exactly (as the decimals the reports show) per clause."""
        for key, values in self.amounts.items():
            self._add_remedy(key, *remedy_sum(values))
        self.amounts.clear()
        self.amounts_held = 0

    def _add_remedy(self, key: tuple[str, str], centres: int, total: Decimal) -> None:
        slot = self.remedy_sums.get(key)
        if slot is None:
            self.remedy_sums[key] = [centres, total]
        else:
            slot[0] += centres
            slot[1] += total

    def done(self, ids: SeenIds | None = None) -> Tally:
        """The tally, once every row is counted; ``ids`` are this round's centre ids (to find who is gone)."""
        t, previous = self.t, self.previous
        self._count_patterns()
        self._sum_amounts()
        for key, (centres, total) in self.remedy_sums.items():
            t.remedies[key] = [centres, total]
        if previous is not None:
            earlier = list(previous.scores)
            kept = ids.kept_among(earlier) if ids is not None else [False] * len(earlier)
            for (cid, (score, grade, name)), here in zip(previous.scores.items(), kept):
                if not here and cid not in t.refused_ids:
                    t.gone_count += 1
                    if len(t.gone) <= LIST_LIMIT:
                        t.gone.append((cid, name, score, grade))
            t.trends["gone"] = t.gone_count
        return t


def _add_counts(counts: dict[Any, int], more: Counter[Any]) -> None:
    for key, n in more.items():
        counts[key] = counts.get(key, 0) + n


def _count_region(t: Tally, key: tuple[str, ...], score: float, grade: str, verdict: str) -> bool:
    """Count a centre in its region's group; whether it conforms."""
    group = t.regions.get(key)
    if group is None:
        # a new street: its province, city and district names are those of the streets before it, held once
        names = t.region_names
        key = tuple([names.setdefault(name, name) for name in key])
        group = t.regions[key] = Group()
    group.centres += 1
    group.score_sum += score
    group.grades[grade] = group.grades.get(grade, 0) + 1
    if verdict == "conforming":
        group.conforming += 1
        return True
    group.nonconforming += 1
    return False


def _count_date(t: Tally, d: str) -> None:
    """Widen the round's span of assessment dates to take ``d``."""
    dates = t.dates
    if not dates:
        t.dates = [d, d]
    elif d < dates[0]:
        dates[0] = d
    elif d > dates[1]:
        dates[1] = d


def _keep(heap: list[Any], item: Any) -> None:
    if len(heap) < TOP_MOVERS:
        heapq.heappush(heap, item)
    else:
        heapq.heappushpop(heap, item)


@dataclass(frozen=True)
class League:
    """What summary.csv is made of when every line but its rank was made with its row (:func:`league_ready`):
    each audited centre's score and where its row starts in the rows file, in input order. Small enough (16
    bytes a centre) to hand to a process of its own."""

    scores: array[float]
    offsets: array[int]


def league_ready(t: Tally, previous: Previous | None) -> bool:
    """Whether summary.csv's lines are the rows' own (no other round or waiver adds columns to them)."""
    return previous is None and t.self_round is None and not t.waivers and bool(t.audited)


def league_order(t: Tally | League) -> Sequence[int]:
    """Audited centres by score, highest first; equal scores in input order.

    Scores have one decimal between 0 and 100: they are sorted as whole tenths by NumPy's stable sort (equal
    scores stay in input order), one array of machine integers, 8 bytes a centre, whatever the size of the round."""
    import numpy as np

    scores = np.frombuffer(t.scores, np.float64) if len(t.scores) else np.zeros(0)
    if not np.all((scores >= 0) & (scores <= 100)):          # not a score of ours: the general way
        return sorted(range(len(scores)), key=t.scores.__getitem__, reverse=True)
    keys = (1000 - np.rint(scores * 10)).astype(np.int16)       # 2 bytes a centre: sorted by radix, in two passes
    order: Any = np.argsort(keys, kind="stable")
    return cast("Sequence[int]", order)


LEAGUE_PASS = 1 << 18                      # summary.csv lines held at a time (about 50 MB of them, the tables come
                                           # after the workers are gone)
LEAGUE_PASS_BESIDE = 1 << 16               # the same, while results.parquet is written beside it (12 MB)
LEAGUE_PASS_APART = 1 << 14                # the same, in a process of its own beside it (as fast, 18 MB less)
ROWS_BLOCK = 1 << 20                       # bytes of the rows file read at a time for them
LEAGUE_PARTS = 256                         # files of lines at most (a larger round holds more lines a part)


def _league_lines(t: Tally | League, rows_path: Path, per_pass: int | None = None) -> Iterator[bytes]:
    """summary.csv's lines after its header when every line but its rank was made with its row (lines.py), in rank
    order with their ranks. The rows file is read once, in its order, a mebibyte at a time; each line goes to the
    part of the table its rank falls in (``per_pass`` ranks a part, :data:`LEAGUE_PASS` unless given), a file of
    its own while there are several; then each part is read back and put in rank order. A national round's 117 MB
    of lines are never held at once, and no row is read by a call of its own."""
    import numpy as np

    order = np.asarray(league_order(t), np.int64)
    n = len(order)
    per_pass = max(per_pass or LEAGUE_PASS, -(-n // LEAGUE_PARTS))
    scores, offsets = np.frombuffer(t.scores, np.float64), np.frombuffer(t.offsets, np.int64)
    ranked = scores[order]
    first = np.ones(n, bool)                                   # a centre that does not share its predecessor's score
    first[1:] = ranked[1:] != ranked[:-1]
    rank = np.maximum.accumulate(np.where(first, np.arange(1, n + 1, dtype=np.int32), 0))
    place = np.empty(n, np.int32)                              # each centre's place in rank order
    place[order] = np.arange(n, dtype=np.int32)
    del ranked, first, order
    parts = (n + per_pass - 1) // per_pass
    part = place // per_pass
    step = 1 << 14                                            # rows taken at a time (their offsets as ints)
    with open(rows_path, "rb") as fh, contextlib.ExitStack() as stack:
        files = [stack.enter_context(tempfile.TemporaryFile(dir=rows_path.parent)) for _ in range(parts)] \
            if parts > 1 else []
        sizes: list[array[int]] = [array("i") for _ in range(parts)]
        waiting: list[list[bytes]] = [[] for _ in range(parts)]
        tails = _tails_at(fh.fileno(), itertools.chain.from_iterable(
            offsets[lo:lo + step].tolist() for lo in range(0, n, step)))
        for lo in range(0, n, step):
            for k, line in zip(part[lo:lo + step].tolist(), tails):
                waiting[k].append(line)
                sizes[k].append(len(line))
            if files:
                for k, some in enumerate(waiting):
                    files[k].write(b"".join(some))
                    some.clear()
        for k in range(parts):
            if files:
                files[k].seek(0)
                held: Iterable[bytes] = map(files[k].read, sizes[k])       # each line, read back in turn
            else:
                held = waiting[0]
            mine = place[part == k] if files else place             # their places, in the file's order
            lines: list[bytes] = [b""] * len(mine)
            for slot, number, line in zip((mine - k * per_pass).tolist(), rank[mine].tolist(), held):
                lines[slot] = b"%d,%s" % (number, line)
            for start in range(0, len(lines), 1 << 14):
                yield b"".join(lines[start:start + (1 << 14)])


def _tails_at(fd: int, offsets: Iterable[int]) -> Iterator[bytes]:
    """:func:`~.lines.tail_of` of the rows starting at ``offsets`` (increasing), read :data:`ROWS_BLOCK` bytes at a
    time: each row's line taken from the block where the row lies, without a copy of the row first."""
    block, start, size = b"", 0, ROWS_BLOCK
    for offset in offsets:
        at = offset - start
        end = block.find(b"\n", at) if 0 <= at < len(block) else -1
        if end < 0:
            block, start = os.pread(fd, size, offset), offset
            at, end = 0, block.find(b"\n")
            if end < 0:                       # a row longer than a block
                row = row_at(fd, offset)
                block, start = b"", 0
                yield tail_of(row)
                continue
        yield tail_of(block, at, end)


# --------------------------------------------------------------------------- tables

def _region(row: Mapping[str, Any]) -> list[str]:
    return list(row["region"])


def summary_rows(t: Tally, rows_path: Path, previous: Previous | None) -> Iterator[list[Any]]:
    """The league table's rows in rank order (equal scores share a rank), read back by offset."""
    if not t.audited:
        return
    grade_rank = {g.id: -i for i, g in enumerate(t.rules.grades)}
    order = league_order(t)
    clauses = [c.clause for c in t.rules.clauses]
    with open(rows_path, "rb") as fh:
        fd = fh.fileno()
        rank, last = 0, None
        for position, i in enumerate(order, start=1):
            row = orjson.loads(row_at(fd, t.offsets[i]))
            if row["score"] != last:
                rank, last = position, row["score"]
            _compare(row, previous, grade_rank)
            _reconcile(row, t.self_round, clauses)
            line = [rank, row["id"], row["name"], *_region(row), row["score"], row["grade"], row["verdict"],
                    *row["cats"]]
            if previous is not None:
                line += [row.get(k) for k in PREVIOUS_KEYS]
            if t.self_round is not None:
                line += [row.get(k) for k in SELF_KEYS]
            if t.waivers:
                line += [row.get("uw", row["score"]), ";".join(row.get("wv", ()))]
            line += [";".join(row["veto"]), row["actions"], row["loc"]]
            yield line


def row_at(fd: int, offset: int) -> bytes:
    """The row starting at ``offset`` (read by position: no file mapped into memory, no seek state)."""
    size = 2048
    while True:
        data = os.pread(fd, size, offset)
        end = data.find(b"\n")
        if end >= 0 or len(data) < size:
            return data[:end] if end >= 0 else data
        size *= 4


def summary_header(t: Tally, previous: Previous | None) -> list[str]:
    cats = [c.id for c in t.rules.categories]
    return [*SUMMARY_KEYS, *cats, *(PREVIOUS_KEYS if previous is not None else ()),
            *(SELF_KEYS if t.self_round is not None else ()), *(WAIVER_KEYS if t.waivers else ()), *TAIL_KEYS]


def write_summary_csv(target: Path, t: Tally, rows_path: Path, previous: Previous | None,
                      per_pass: int | None = None) -> None:
    """summary.csv, the league table; ``per_pass``: its lines held at a time (:data:`LEAGUE_PASS`)."""
    header = summary_header(t, previous)
    if league_ready(t, previous):
        write_league_csv(target, header, League(t.scores, t.offsets), rows_path, per_pass)
        return
    with atomic_stream(target) as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
        text.write(BOM)
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(header)
        # Only the text a profile or a path brings can start like a formula: scores, grades and codes cannot
        # (csv writes None as an empty cell).
        text_columns = [header.index(k) for k in ("center_id", "name", "province", "city", "district", "street",
                                                   "source")]
        for line in summary_rows(t, rows_path, previous):
            for i in text_columns:
                value = line[i]
                if value[:1] in _FORMULA_START:
                    line[i] = csv_cell(value)
            writer.writerow(line)
        text.flush()
        text.detach()


def write_league_csv(target: Path, header: Sequence[str], league: League, rows_path: Path,
                     per_pass: int | None = None) -> None:
    """summary.csv when :func:`league_ready`: its header, then every line but its rank as its row made it
    (lines.py), here only put in rank order. Needs nothing but its arguments: a round may run it in a process of
    its own."""
    with atomic_stream(target) as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
        text.write(BOM)
        csv.writer(text, lineterminator="\r\n").writerow(header)
        text.flush()
        for block in _league_lines(league, rows_path, per_pass):
            out.write(block)
        text.detach()


def error_rows(path: Path) -> Iterator[list[str]]:
    """(location, centre id, JSON path, field, problem, severity) of every problem and warning in the rows file:
    a refused centre's problems, and the warnings of a centre that was audited all the same."""
    for _, row in read_rows(path):
        for where, json_path, message, *rest in row.get("refused", ()):
            yield [where, row.get("id") or "", json_path, rest[0] if rest else "", message, ERROR]
        for where, json_path, message, label in row.get("warnings", ()):
            yield [where, row.get("id") or "", json_path, label, message, WARNING]


def write_errors_csv(target: Path, rows_path: Path) -> None:
    with atomic_stream(target) as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
        text.write(BOM)
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(ERROR_KEYS)
        for line in error_rows(rows_path):
            writer.writerow([csv_cell(v) for v in line])
        text.flush()
        text.detach()




# --------------------------------------------------------------------------- the workbook

XLSX_MAX_ROWS = 1_048_576 - 1


#: The league table's columns a meeting reads, printed on A4: rank, centre, street, score, grade, verdict, the change
#: since the previous round, the gap to the self-check (with --self) and the veto clauses failed. The others (ids, regions, category scores, source) stay in
#: the sheet, folded away: hidden from the print, one click from view.
PRINTED_KEYS = ("rank", "name", "street", "score", "grade", "verdict", "score_change", "self_gap", "veto_failed")
PRINTED_WIDTHS = {"rank": 5, "name": 26, "street": 12, "score": 7, "grade": 8, "verdict": 10, "score_change": 8,
                  "self_gap": 9, "veto_failed": 56}
FONT_SIZE = 10                       # points, every sheet's cells
PRINTABLE_PX = 1040                  # A4 landscape inside 0.4" margins (277 mm at 96 px an inch), less a little
CHAR_PX = 8.6                        # a column's character at 10 pt where the sheet's font is replaced by a wide one
#: (DejaVu Sans, as LibreOffice uses without Calibri; Calibri's is 7 px): so the printed columns fit either way
MIN_PRINT_SCALE = 80                 # a sheet prints at 80 % or more: 10 pt text at 8 pt or more
LINE_PT = 14.5                       # a line of 10 pt text, Chinese fonts' spacing included


def column_px(width: float) -> int:
    """A column ``width`` characters wide in pixels, at most, as spreadsheet programs lay it out: a character of the
    default font (:data:`CHAR_PX` at the widest), plus 5 px of padding."""
    return int(width * CHAR_PX + 5)


def print_scale(widths: Sequence[float]) -> int:
    """The print scale (per cent) at which columns this wide fill an A4 landscape page across, at most 100."""
    return max(MIN_PRINT_SCALE, min(100, PRINTABLE_PX * 100 // max(1, sum(column_px(w) for w in widths))))


def wrapped_lines(words: str, width: float) -> int:
    """The lines ``words`` take when wrapped in a column ``width`` characters wide (a Chinese character is two)."""
    if 2 * len(words) <= width - 0.5:           # fits whatever its characters: most names, and no veto clause
        return 1
    lines, used = 1, 0.0
    for ch in words:
        size = 2.0 if "\u2e80" <= ch <= "\uffef" else 1.1
        if used + size > width - 0.5 and used > 0:
            lines, used = lines + 1, 0.0
        used += size
    return lines


def header_text(value: str) -> str:
    """Text for a page's header or footer, where ``&`` starts a code: written ``&&``."""
    return value.replace("&", "&&")


def write_summary_xlsx(target: Path, t: Tally, rows_path: Path, previous: Previous | None, lang: str = "zh") -> bool:
    """The league table, each clause's pass rate and the regions as a workbook, streamed in constant memory;
    False when the round has more centres than a sheet has rows (summary.csv still lists them all).

    Every sheet prints on A4 landscape with the title and the round in the page header, 第 N 页 共 M 页 in the
    footer and its header row on every page, at 80 % or more of its 10-point text, long cells wrapped. The league
    table prints the columns a meeting reads (:data:`PRINTED_KEYS`); the others stay in the sheet, folded away."""
    if t.audited > XLSX_MAX_ROWS:
        return False
    import xlsxwriter

    rules = t.rules
    labels = LABELS.of(lang)
    with atomic_stream(target) as out:
        book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
        # A fixed creation time: the same round gives the same bytes, whatever the day or --jobs.
        book.set_properties({"created": datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc),
                             "title": f"{round_name(t)} {rules.title[lang]} {rules.version}"})
        book.formats[0].set_font_size(FONT_SIZE)
        head = book.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F3B64", "text_wrap": True,
                                "valign": "top", "align": "center", "font_size": FONT_SIZE})
        red = book.add_format({"font_color": "#B3261E"})
        green = book.add_format({"font_color": "#1B7A3D"})
        red_fill = book.add_format({"font_color": "#B3261E", "bg_color": "#F8D7DA"})
        pct = book.add_format({"num_format": "0.0%", "font_size": FONT_SIZE})
        one = book.add_format({"num_format": "0.0", "font_size": FONT_SIZE, "valign": "top"})
        signed = book.add_format({"num_format": "+0.0;-0.0;0.0", "font_size": FONT_SIZE, "valign": "top"})
        plain = book.add_format({"font_size": FONT_SIZE, "valign": "top"})
        wrap = book.add_format({"font_size": FONT_SIZE, "valign": "top", "text_wrap": True})
        indented = book.add_format({"font_size": FONT_SIZE, "valign": "top", "text_wrap": True, "indent": 1})
        centred = book.add_format({"font_size": FONT_SIZE, "valign": "top", "align": "center"})
        # Cut as a report's footer cuts them, so the header stays one line and inside the 255 characters a
        # spreadsheet keeps (a longer one is dropped whole).
        area = cut_to_width(round_name(t), 60)
        dates = msg("assessed {first} to {last}", first=t.dates[0], last=t.dates[1]).text(lang) if t.dates else ""
        ruleset = msg("rule set {name} {version}", name=cut_to_width(rules.title[lang], FOOTER_LIMITS["title"]),
                      version=cut_to_width(rules.version, FOOTER_LIMITS["version"])).text(lang)
        about = header_text(" · ".join(x for x in (area, ruleset, dates) if x))

        page_footer = "&C" + header_text(msg("page {page} of {pages}", page="\x00P", pages="\x00N").text(lang)) \
            .replace("\x00", "&")

        def printable(sheet: Any, name: str, widths: Sequence[float]) -> None:
            """A4 landscape, the title and the round in the header, page numbers in the footer, the header row on every
            page."""
            title = msg("Community service centre audit · {sheet}", sheet=name).text(lang)
            page_header = f'&C&"-,Bold"{header_text(title)}\n&"-,Regular"{about}'
            sheet.set_paper(9)
            sheet.set_landscape()
            sheet.set_print_scale(print_scale(widths))
            sheet.repeat_rows(0)
            sheet.set_margins(left=0.4, right=0.4, top=0.85, bottom=0.6)
            sheet.set_header(page_header, {"margin": 0.25})
            sheet.set_footer(page_footer, {"margin": 0.25})

        grade_titles = {g.id: g.title[lang] for g in rules.grades}
        verdict_titles = {v.value: VERDICT_LABELS[v].text(lang) for v in VERDICT_LABELS}
        keys = summary_header(t, previous)
        cat_ids = {c.id for c in rules.categories}
        league_name = msg("League table").text(lang)
        league = book.add_worksheet(league_name)
        league.write_row(0, 0, [labels.get(k) or rules.category(k).title[lang] for k in keys], head)
        others = {"center_id": 18, "province": 8, "city": 8, "district": 10, "previous_score": 10,
                  "previous_grade": 10, "trend": 10, "actions": 8, "source": 28, "self_score": 9, "self_gap": 9,
                  "overstated": 40}
        widths = [PRINTED_WIDTHS.get(k) or others.get(k) or 10 for k in keys]
        for c, (column, width) in enumerate(zip(keys, widths)):
            decimal = column in ("score", "previous_score", "score_change", "self_score", "unwaived_score") \
                or column in cat_ids
            folded = column not in PRINTED_KEYS           # not printed: a group folded away, "+" above it unfolds it
            league.set_column(c, c, width, signed if column in ("score_change", "self_gap") else one if decimal
                              else centred if column == "rank" else indented if column in ("veto_failed", "overstated")
                              else wrap if column == "name" else plain,
                              {"level": 1, "hidden": True} if folded else
                              {"collapsed": True} if c and keys[c - 1] not in PRINTED_KEYS else {})
        league.freeze_panes(1, 3)
        printable(league, league_name, [w for k, w in zip(keys, widths) if k in PRINTED_KEYS])
        league.set_row(0, 30)
        grade_col, verdict_col, veto_col = keys.index("grade"), keys.index("verdict"), keys.index("veto_failed")
        name_col = keys.index("name")
        clause_titles = {c.clause: c.title[lang] for c in rules.clauses}
        trend_col = keys.index("trend") if previous is not None else -1
        prev_grade_col = keys.index("previous_grade") if previous is not None else -1
        overstated_col = keys.index("overstated") if t.self_round is not None else -1
        n = 0
        for line in summary_rows(t, rows_path, previous):
            n += 1
            line[grade_col] = grade_titles.get(line[grade_col], line[grade_col])
            line[verdict_col] = verdict_titles.get(line[verdict_col], line[verdict_col])
            if line[veto_col]:                        # 5.2 服务空间最大化（8:2）: read by people, not imported
                line[veto_col] = "；".join(f"{c} {clause_titles.get(c, '')}".strip() for c in line[veto_col].split(";"))
            if overstated_col >= 0 and line[overstated_col]:      # as the veto clauses: with their titles
                line[overstated_col] = "；".join(f"{c} {clause_titles.get(c, '')}".strip()
                                                for c in line[overstated_col].split(";"))
            if previous is not None:
                line[prev_grade_col] = grade_titles.get(line[prev_grade_col], line[prev_grade_col])
                line[trend_col] = labels.get(line[trend_col], line[trend_col])
            lines = max(wrapped_lines(str(line[veto_col] or ""), widths[veto_col] - 2),
                        wrapped_lines(str(line[name_col]), widths[name_col]))
            if lines > 1:                             # a wrapped cell's row is as tall as its lines: nothing cut off
                league.set_row(n, LINE_PT * lines + 2)
            # one call a row: text stays text (0012 keeps its zeros: strings_to_numbers is off), None is no cell
            league.write_row(n, 0, line)
        league.autofilter(0, 0, max(n, 1), len(keys) - 1)
        league.print_area(0, 0, max(n, 1), len(keys) - 1)      # its folded columns are not printed
        if n:
            col = keys.index("score")
            league.conditional_format(1, col, n, col, {
                "type": "3_color_scale", "min_type": "num", "min_value": 0, "min_color": "#F8D7DA",
                "mid_type": "num", "mid_value": rules.pass_score, "mid_color": "#FFF3CD",
                "max_type": "num", "max_value": 100, "max_color": "#D4EDDA"})
            cats = [keys.index(c.id) for c in rules.categories]
            league.conditional_format(1, min(cats), n, max(cats), {
                "type": "cell", "criteria": "<", "value": rules.pass_score, "format": red})
            verdict_letter = column_letter(verdict_col)
            league.conditional_format(1, 0, n, len(keys) - 1, {       # the whole row of a non-conforming centre
                "type": "formula", "criteria": f'=${verdict_letter}2="{verdict_titles["non_conforming"]}"',
                "format": red_fill})
            if t.self_round is not None:                # a self-check above the inspection: red
                col = keys.index("self_gap")
                league.conditional_format(1, col, n, col, {"type": "cell", "criteria": ">", "value": 0, "format": red})
            if previous is not None:
                col = keys.index("score_change")
                league.conditional_format(1, col, n, col, {"type": "cell", "criteria": "<", "value": 0, "format": red})
                league.conditional_format(1, col, n, col, {"type": "cell", "criteria": ">", "value": 0, "format": green})

        # Each clause's pass rate across the round.
        clauses_name = msg("Clause pass rates").text(lang)
        clauses = book.add_worksheet(clauses_name)
        status_names = [STATUS_LABELS[s].text(lang) for s in STATUS_LABELS]
        clauses.write_row(0, 0, [m.text(lang) for m in (msg("Clause"), cmsg("column", "Name"), msg("Category"),
                                                        msg("Level"), msg("Veto"))]
                          + [*status_names, msg("Pass rate").text(lang)], head)
        clause_widths = [7, 34, 12, 6, 7, 8, 9, 8, 8, 8, 9]
        for c, width in enumerate(clause_widths):
            clauses.set_column(c, c, width, pct if c == 10 else wrap if c == 1 else plain)
        clauses.freeze_panes(1, 2)
        printable(clauses, clauses_name, clause_widths)
        rates = clause_rates(t, lang)
        for r, row in enumerate(rates, start=1):
            if wrapped_lines(row["title"], clause_widths[1]) > 1:
                clauses.set_row(r, LINE_PT * wrapped_lines(row["title"], clause_widths[1]) + 2)
            clauses.write_string(r, 0, row["clause"])
            clauses.write_row(r, 1, [row["title"], row["category"], row["level"], row["veto"], row["pass"],
                                     row["partial"], row["fail"], row["missing"], row["not_applicable"]])
            if row["rate"] is not None:
                clauses.write_number(r, 10, row["rate"], pct)
        clauses.autofilter(0, 0, len(rates), 10)
        clauses.conditional_format(1, 10, len(rates), 10, {"type": "data_bar", "bar_color": "#4A6FA5",
                                                           "min_type": "num", "min_value": 0,
                                                           "max_type": "num", "max_value": 1})

        # The regions, at the finest level that stays readable.
        level, groups = region_groups(t)
        regions_name = msg("By region").text(lang)
        regions = book.add_worksheet(regions_name)
        gheads = [labels[k] for k in REGION_KEYS[: level + 1]] + [
            m.text(lang) for m in (msg("Centres"), msg("Mean score"), msg("Conforming"), msg("Non-conforming"))] + [
            g.title[lang] for g in rules.grades]
        regions.write_row(0, 0, gheads, head)
        region_widths = [12] * (level + 1) + [9] * (len(gheads) - level - 1)
        regions.set_column(0, level, 12, plain)
        regions.set_column(level + 1, len(gheads) - 1, 9, plain)
        regions.set_column(level + 2, level + 2, 9, one)
        regions.freeze_panes(1, 0)
        printable(regions, regions_name, region_widths)
        for r, (key, g) in enumerate(groups, start=1):
            regions.write_row(r, 0, [*key, g.centres, round(g.score_sum / g.centres, 1), g.conforming,
                                     g.nonconforming, *[g.grades.get(gr.id, 0) for gr in rules.grades]])
        regions.autofilter(0, 0, max(1, len(groups)), len(gheads) - 1)

        # What could not be audited: an officer working in the workbook sees it too.
        if t.refused:
            refused_name = msg("Refused").text(lang)
            refused = book.add_worksheet(refused_name)
            refused.write_row(0, 0, [labels[k] for k in ERROR_KEYS], head)
            refused_widths = [30, 15, 22, 14, 48, 7]
            for c, width in enumerate(refused_widths):
                refused.set_column(c, c, width, wrap)
            refused.freeze_panes(1, 0)
            printable(refused, refused_name, refused_widths)
            r = 0
            for r, line in enumerate(error_rows(rows_path), start=1):
                cells = [str(v) for v in line]
                lines = max(wrapped_lines(v, w) for v, w in zip(cells, refused_widths))
                if lines > 1:
                    refused.set_row(r, LINE_PT * lines + 2)
                refused.write_row(r, 0, cells)
            refused.autofilter(0, 0, max(1, r), len(ERROR_KEYS) - 1)
        book.close()
    return True


# --------------------------------------------------------------------------- aggregates for the report

def clause_rates(t: Tally, lang: str = "zh") -> list[dict[str, Any]]:
    from ..wording import LEVEL_LABELS, YES_NO

    out = []
    for clause, counts in zip(t.rules.clauses, t.statuses):
        applicable = sum(counts.values()) - counts["N"]
        out.append({
            "clause": clause.clause, "title": clause.title[lang],
            "category": t.rules.category(clause.category).title[lang],
            "level": LEVEL_LABELS[clause.level].text(lang), "veto": YES_NO[True].text(lang) if clause.veto else "",
            "is_veto": clause.veto,
            **{STATUS_KEYS[k]: v for k, v in counts.items()},
            "applicable": applicable,
            "rate": round(counts["P"] / applicable, 4) if applicable else None,
        })
    return out


def region_groups(t: Tally) -> tuple[int, list[tuple[tuple[str, ...], Group]]]:
    """Groups at the finest region level with at most LIST_LIMIT of them: street, else district, city, province."""
    for level in (3, 2, 1, 0):
        merged: dict[tuple[str, ...], Group] = {}
        for key, g in t.regions.items():
            k = key[: level + 1]
            m = merged.get(k)
            if m is None:
                m = merged[k] = Group()
            m.centres += g.centres
            m.score_sum += g.score_sum
            m.conforming += g.conforming
            m.nonconforming += g.nonconforming
            for grade, count in g.grades.items():
                m.grades[grade] = m.grades.get(grade, 0) + count
        if len(merged) <= LIST_LIMIT or level == 0:
            return level, sorted(merged.items())
    raise AssertionError("unreachable")


def remedy_totals(t: Tally, lang: str = "zh") -> list[dict[str, Any]]:
    """What the round's shortfalls add up to, clause by clause: what a bureau budgets."""
    order = {c.clause: i for i, c in enumerate(t.rules.clauses)}
    out = []
    for (clause, unit), (centres, total) in sorted(t.remedies.items(), key=lambda kv: order.get(kv[0][0], 0)):
        try:
            title = t.rules.clause(clause).title[lang]
        except KeyError:
            title = clause
        value: Any = int(total) if total == total.to_integral_value() and unit != "m2" else float(total)
        additive = unit != "ratio"          # shares of different centres do not add up
        out.append({"clause": clause, "title": title, "unit": unit_label(unit, lang) if additive else "",
                    "unit_id": unit, "centres": centres, "total": fmt_amount(value) if additive else "—",
                    "value": value if additive else None})
    return out


# --------------------------------------------------------------------------- the district report

UI = Words(
    title=msg("Community service centre audit · district report"), round=msg("Round"), ruleset=msg("Rule set"),
    dates=msg("Assessed"), to=msg("to"), overview=msg("Overview"), audited=msg("Centres audited"),
    conforming=msg("Conforming"), non_conforming=msg("Non-conforming"), refused=msg("Inputs refused"),
    mean=msg("Mean score"), grades=msg("Grades"), categories=msg("Category averages"),
    regions=msg("Results by region"), clauses=msg("Clauses most often failed"),
    nonconforming_list=msg("Non-conforming centres"), remedies=msg("Remediation totals (for the budget)"),
    previous=msg("Against the previous round"), errors=msg("Inputs refused"), clause=msg("Clause"),
    name=cmsg("column", "Name"), veto=msg("Veto"), fail=cmsg("column", "Fail"), partial=cmsg("column", "Partial"),
    missing=cmsg("column", "Not evidenced"), rate=msg("Pass rate"), centre=msg("Centre"), id=msg("Id"),
    street=msg("Street"), score=msg("Score"), grade=msg("Grade"), vetoed=msg("Veto clauses failed"),
    count=msg("Centres"), total=msg("Total"), unit=msg("Unit"), affected=msg("Centres affected"),
    improved=cmsg("column", "Improved"), worsened=cmsg("column", "Worsened"), unchanged=cmsg("column", "Unchanged"),
    new=cmsg("column", "New"), gone=cmsg("column", "Not in this round"), previous_score=cmsg("column", "Before"),
    change=msg("Change"), top_gains=msg("Biggest gains"), top_losses=msg("Biggest losses"),
    transitions=msg("Grade changes (rows: previous, columns: this round)"), previous_round=msg("Previous round"),
    previous_mean=msg("Previous mean score (same centres)"),
    gone_note=msg("Centres of the previous round missing from this one"),
    errors_note=msg("{file} locates every problem.", file="errors.csv"),
    location=msg("Location"), problem=msg("Problem"), none=msg("none"), pct=msg("Share"),
    no_remedies=msg("No quantifiable shortfall in this round."), nonconforming_none=msg("Every centre conforms."),
    self_check=msg("Self-check overstated"), self_round=msg("Self-check round"),
    self_matched=msg("Centres with a self-check"), overstating=msg("Centres overstating a clause"),
    mean_gap=msg("Mean gap (self-check less inspection)"), self_score=msg("Self-check score"),
    inspection_score=msg("Inspection score"), gap=msg("Gap"), overstated=msg("Clauses overstated"),
    top_overstated=msg("Largest overstated gaps"), clauses_overstated=msg("Clauses most often overstated"),
    none_overstated=msg("No centre's self-check overstates a clause."),
    waivers=msg("Waivers"), waived_count=msg("Centres waived"), waivers_none=msg("No waiver applied in this round."),
    waived_centres=msg("Centres with a waiver applied"),
    expired=msg("Waivers not applied (they do not cover the assessment date)"), expires=msg("Expires on"),
)
REGION_LEVELS = (msg("Province"), msg("City"), msg("District"), msg("Street"))
GRADE_COLOURS = ("#1b7a3d", "#4a6fa5", "#9a6700", "#b3261e")
CHART_WIDTH = 360                    # shorter bars than a centre's: the counts and shares fit beside them


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def _shared(t: Tally) -> list[str]:
    keys = list(t.regions)
    shared: list[str] = []
    for level in range(4):
        values = {k[level] if len(k) > level else "" for k in keys}
        if len(values) != 1 or not next(iter(values)):
            break
        shared.append(next(iter(values)))
    return shared


def _shared_levels(t: Tally) -> int:
    return len(_shared(t))


def round_name(t: Tally) -> str:
    """The area the round covers: the region levels every centre shares (浙江省宁波市鄞州区)."""
    shared = _shared(t)
    if len(shared) >= 2 and shared[0] == shared[1]:          # 北京市北京市 → 北京市
        shared = shared[1:]
    return "".join(shared)


def district_view(t: Tally, previous: Previous | None, lang: str = "zh") -> dict[str, Any]:

    rules, ui = t.rules, UI.of(lang)
    grade_titles = {g.id: g.title[lang] for g in rules.grades}
    n = t.audited
    level, groups = region_groups(t)
    shared = min(level, _shared_levels(t))       # levels every centre shares are the report's title, not columns
    rates = clause_rates(t, lang)
    failing = sorted((r for r in rates if r["fail"] + r["partial"]), key=lambda r: (-(r["fail"] + r["partial"]),
                                                                                    rates.index(r)))[:TOP_CLAUSES]
    category_means = [s / k if k else None for s, k in zip(t.category_sums, t.category_counts)]
    nonconforming_count = t.verdicts.get("non_conforming", 0)
    listed = nonconforming_count <= LIST_LIMIT
    clause_titles = {c.clause: c.title[lang] for c in rules.clauses}
    view: dict[str, Any] = {
        "lang": lang, "ui": ui, "more": lambda count: msg("{n} more not listed", n=count).text(lang),
        "round": round_name(t) or ui["none"],
        "ruleset": ruleset_view(rules, lang),
        "dates": t.dates,
        "meta": footer(rules, lang),
        "counts": {"audited": n, "conforming": t.verdicts.get("conforming", 0),
                   "conforming_pct": _pct(t.verdicts.get("conforming", 0), n),
                   "non_conforming": nonconforming_count, "non_conforming_pct": _pct(nonconforming_count, n),
                   "refused": t.refused, "mean": f"{t.score_sum / n:.1f}" if n else "—"},
        "grade_chart": bar_chart([(g.title[lang], t.grades.get(g.id, 0),
                                   f"{t.grades.get(g.id, 0)}{ui['lp']}{_pct(t.grades.get(g.id, 0), n)}{ui['rp']}",
                                   GRADE_COLOURS[min(i, 3)] if i < len(rules.grades) - 1 else GRADE_COLOURS[3])
                                  for i, g in enumerate(rules.grades)], max(t.grades.values(), default=0),
                                 bar_width=CHART_WIDTH),
        "category_chart": bar_chart([(c.title[lang], 0 if mean is None else mean, "—" if mean is None else f"{mean:.1f}",
                                      LOW if mean is not None and mean < rules.pass_score else BAR)
                                     for c, mean in zip(rules.categories, category_means)], 100.0,
                                    bar_width=CHART_WIDTH),
        "region_level": REGION_LEVELS[level].text(lang),
        "region_heads": [m.text(lang) for m in REGION_LEVELS[shared: level + 1]],
        "regions": [{"key": list(key[shared:]), "centres": g.centres,
                     "mean": f"{g.score_sum / g.centres:.1f}", "conforming": g.conforming,
                     "non_conforming": g.nonconforming, "grades": [g.grades.get(gr.id, 0) for gr in rules.grades]}
                    for key, g in sorted(groups, key=lambda kg: -kg[1].score_sum / kg[1].centres)],
        "grade_titles": [g.title[lang] for g in rules.grades],
        "failing": [{**r, "rate": _pct(r["pass"], r["applicable"])} for r in failing],
        "nonconforming_listed": listed,
        "nonconforming": [{"id": r["id"], "name": r["name"], "street": r["region"][3] or r["region"][2],
                           "score": f"{r['score']:.1f}", "grade": grade_titles.get(r["grade"], r["grade"]),
                           "vetoed": ui["sep"].join(f"{c} {clause_titles.get(c, '')}" for c in r["veto"])
                           or msg("none (score below {score})", score=format(rules.pass_score, "g")).text(lang)}
                          for r in sorted(t.nonconforming if listed else [],
                                          key=lambda r: (tuple(r["region"]), r["score"]))],
        "nonconforming_by_region": [] if listed else [
            {"key": list(key[shared:]), "count": g.nonconforming, "centres": g.centres}
            for key, g in sorted(groups, key=lambda kg: -kg[1].nonconforming) if g.nonconforming],
        "by_region_note": msg("More than {n} centres are non-conforming: counted by region; {file} lists each.",
                              n=LIST_LIMIT, file="summary.csv").text(lang),
        "remedies": remedy_totals(t, lang),
        "errors": [{"location": e["refused"][0][0] if e["refused"] else e["loc"],
                    "problem": (e["refused"][0][2] if e["refused"] else "")
                    + (f" (+{len(e['refused']) - 1})" if len(e["refused"]) > 1 else "")}
                   for e in t.errors[:REPORT_ERRORS]],
        "previous": None,
        "waivers": None if not t.waivers else {
            "centres": t.waived_centres,
            "clauses": [{"clause": c.clause, "title": c.title[lang], "veto": c.veto, "centres": t.waived[c.clause]}
                        for c in rules.clauses if c.clause in t.waived],
            "expired": [{"id": cid, "name": name, "clause": clause, "title": clause_titles.get(clause, ""),
                         "expires": expires} for cid, name, clause, expires in t.expired],
            "expired_more": max(0, t.expired_count - len(t.expired)),
        },
    }
    if previous is not None:
        def mover(item: tuple[float, int, dict[str, Any]]) -> dict[str, Any]:
            b = item[2]
            return {"id": b["id"], "name": b["name"], "score": f"{b['score']:.1f}",
                    "previous_score": f"{b['previous_score']:.1f}", "change": f"{b['score_change']:+.1f}",
                    "grade": grade_titles.get(b["grade"], b["grade"]),
                    "previous_grade": grade_titles.get(b["previous_grade"], b["previous_grade"])}
        grade_ids = [g.id for g in rules.grades]
        earlier = grade_ids + sorted({a for a, _ in t.transitions} - set(grade_ids))
        view["previous"] = {
            "folder": Path(previous.folder).name or previous.folder,
            "trends": [{"key": k, "label": ui[k], "count": t.trends.get(k, 0)} for k in TRENDS],
            "matched": t.previous_matched,
            "mean_now": f"{t.matched_sum / t.previous_matched:.1f}" if t.previous_matched else "—",
            "previous_mean": f"{t.previous_sum / t.previous_matched:.1f}" if t.previous_matched else "—",
            "transitions": [{"from": grade_titles.get(a, a),
                             "counts": [t.transitions.get((a, b), 0) for b in grade_ids]} for a in earlier
                            if any(t.transitions.get((a, b), 0) for b in grade_ids)],
            "gains": [mover(x) for x in sorted(t.gains, reverse=True)],
            "losses": [mover(x) for x in sorted(t.losses, reverse=True)],
            "gone": [{"id": cid, "name": name, "score": f"{score:.1f}", "grade": grade_titles.get(grade, grade)}
                     for cid, name, score, grade in t.gone[:LIST_LIMIT]],
            "gone_more": max(0, t.gone_count - LIST_LIMIT),
        }
    view["self_check"] = _self_check_view(t, lang)
    return view


def _self_check_view(t: Tally, lang: str) -> dict[str, Any] | None:
    """The 自评虚高 section: how many centres' self-checks overstate a clause, the largest gaps, the clauses."""
    if t.self_round is None:
        return None
    clause_titles = {c.clause: c.title[lang] for c in t.rules.clauses}
    sep = UI.of(lang)["sep"]
    order = {c.clause: i for i, c in enumerate(t.rules.clauses)}
    return {
        "folder": Path(t.self_round.folder).name or t.self_round.folder,
        "matched": t.self_matched,
        "overstating": t.overstating, "overstating_pct": _pct(t.overstating, t.self_matched),
        "mean_gap": f"{t.self_gap_sum / t.self_matched:+.1f}" if t.self_matched else "—",
        "top": [{"id": b["id"], "name": b["name"], "street": b["region"][3] or b["region"][2],
                 "self_score": f"{b['self_score']:.1f}", "score": f"{b['score']:.1f}", "gap": f"{b['self_gap']:+.1f}",
                 "overstated": sep.join(f"{c} {clause_titles.get(c, '')}".strip() for c in b["overstated"].split(";"))}
                for _, _, b in sorted(t.overstated_top, reverse=True)],
        "clauses": [{"clause": c, "title": clause_titles.get(c, ""), "count": n, "pct": _pct(n, t.self_matched)}
                    for c, n in sorted(t.overstated_clauses.items(), key=lambda cn: (-cn[1], order.get(cn[0], 0)))
                    ][:TOP_CLAUSES],
    }


def write_district_report(outdir: Path, t: Tally, previous: Previous | None, lang: str = "zh",
                          to_pdf: Callable[[str, str], bytes] | None = None) -> None:
    """``district-report.html`` (one file, stylesheet inlined) and ``district-report.pdf``; ``to_pdf(html, title)``
    renders the PDF (in this process unless given: a round with reports hands it to a worker already warm)."""
    from ..rendering import standalone, environment

    view = district_view(t, previous, lang)
    html = str(environment("html").get_template("district.html.j2").render(**view))
    write_atomic(outdir / "district-report.html", standalone(html))
    from .run import render_pdf

    title = f"{view['round']} · {UI.of(lang)['title']}"
    write_atomic(outdir / "district-report.pdf", (to_pdf or render_pdf)(html, title))
