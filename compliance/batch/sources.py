"""Where a round's profiles come from: files, folders, JSON Lines, CSV and the xlsx template.

:func:`records` streams one :class:`Record` per centre, in input order, without
validating it: a JSON Lines line stays bytes until a worker parses it, so a
national round never holds its input in memory. Every record knows its place in
the source — ``district.jsonl:812``, ``centres.csv:40``, ``centres.xlsx!zones!C7``
— and can name the exact cell of a problem found later at a JSON path.

:func:`read_profiles` is the library's view: (location, Profile or ProfileError)
for every centre, validated.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from .. import reading
from ..errors import PathItem, Problem, ProfileError, problems_message
from ..model import RuleSet, Vocabulary
from ..profile import Profile, default_vocabulary, load_profile
from . import archive, table

PROFILE_SUFFIXES = (".yaml", ".yml", ".json")
TABLE_SUFFIXES = (".jsonl", ".csv", ".xlsx")
MAX_LINE = reading.MAX_BYTES              # one JSON Lines record, like one profile file
MAX_TABLE_BYTES = 200 << 20              # a CSV or workbook of a whole province is well below this


@dataclass
class Record:
    """One centre as read from its source, not yet validated."""

    location: str                                   # where the centre is: file, file:LINE, book.xlsx!centres!3
    raw: bytes | None = None                        # a JSON Lines line or a profile file's bytes
    document: dict[str, Any] | None = None          # a centre read from a table
    problems: list[Problem] = field(default_factory=list)     # what could not even be read
    cells: Callable[[tuple[PathItem, ...]], str] | None = None   # JSON path → the cell holding it
    source: str = ""                                # the profile's source name (a file path for files)
    warnings: list[Problem] = field(default_factory=list)     # read, but maybe not as meant: told, never refused

    def where(self, path: tuple[PathItem, ...]) -> str:
        """The exact place of a problem at ``path``: a cell of a workbook, else the record's location."""
        return self.cells(path) if self.cells is not None else self.location


class SourceError(ProfileError):
    """A whole input cannot be read (a missing file, a workbook without its sheets)."""


def count_records(path: Path) -> int | None:
    """How many centres a JSON Lines or CSV file holds, counted by its lines without parsing them (a last line
    without its newline counts; a CSV's header does not); None for any other input. For progress, not truth:
    blank lines count too."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv") or not path.is_file():
        return None
    count, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            count += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        count += 1
    return max(0, count - (1 if suffix == ".csv" else 0))


def repeat_message(center_id: str, first: str, here: str) -> str:
    if first == here:
        return f"centre id {center_id!r} is repeated: this record was read before (is an input given twice?)"
    return f"centre id {center_id!r} is repeated: first at {first}"


def is_round_output(folder: Path) -> bool:
    """A folder ``compliance batch`` wrote (its results, not profiles): skipped when a folder is read."""
    return (folder / "results.jsonl").is_file() and (folder / "summary.csv").is_file() or (folder / ".round").is_dir()


def folder_inputs(folder: Path) -> list[Path]:
    """The profiles and tables in a folder, sorted; never a round's outputs or its work files (.round/),
    so a round may write into a folder it reads."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PROFILE_SUFFIXES + TABLE_SUFFIXES
                  and not p.name.endswith(".test.yaml") and ".round" not in p.relative_to(folder).parts
                  and not is_round_output(p.parent))


def records(inputs: Sequence[str | os.PathLike[str]], vocabulary: Vocabulary | None = None) -> Iterator[Record]:
    """Every centre of every input, in order: files, folders (their profiles, sorted), .jsonl, .csv, .xlsx."""
    vocab = vocabulary or default_vocabulary()
    for source in inputs:
        name = os.fspath(source)
        path = Path(name)
        if name != "-" and path.is_dir():
            for file in folder_inputs(path):
                yield from records([file], vocab)
            continue
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            yield from _jsonl(name)
        elif suffix == ".csv":
            yield from _csv(name, vocab)
        elif suffix == ".xlsx":
            yield from _xlsx(name, vocab)
        else:
            try:
                raw = reading.read_bytes(name, ProfileError)
            except ProfileError as exc:
                yield Record(name, problems=[Problem(exc.message, (), name)], source=name)
                continue
            yield Record(name, raw=raw, source=name)


# --------------------------------------------------------------------------- JSON Lines

def _jsonl(name: str) -> Iterator[Record]:
    try:
        stream = open(name, "rb")
    except OSError as exc:
        yield Record(name, problems=[Problem(f"cannot be read: {exc.strerror or exc}", (), name)], source=name)
        return
    with stream:
        for number, line in enumerate(stream, start=1):
            location = f"{name}:{number}"
            if len(line) > MAX_LINE:
                yield Record(location, problems=[Problem(f"line is {len(line):,} bytes; the limit is {MAX_LINE:,}",
                                                         (), location)], source=location)
                continue
            if line.isspace():          # (a line is never empty: it holds at least its newline)
                continue
            yield Record(location, raw=line.rstrip(b"\r\n"), source=location)


# --------------------------------------------------------------------------- CSV

def decode_table(raw: bytes, name: str) -> str:
    """CSV text as Excel on Chinese Windows writes it: UTF-8 with or without a BOM, GBK or GB18030."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    guess = reading.guess_encoding(raw)
    raise SourceError(f"is neither UTF-8 nor GBK/GB18030 text{f' (it looks like {guess})' if guess else ''}",
                      file=name)


def _csv(name: str, vocab: Vocabulary) -> Iterator[Record]:
    try:
        raw = reading.read_bytes(name, SourceError, max_bytes=MAX_TABLE_BYTES)
        text = decode_table(raw, name)
    except ProfileError as exc:
        yield Record(name, problems=[Problem(exc.message, (), name)], source=name)
        return
    cols = table.columns(vocab)
    reader = table.RowReader(cols, vocab)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        headers = [h.strip() for h in next(rows)]
    except StopIteration:
        yield Record(f"{name}:1", problems=[Problem("is empty: no header line", (), f"{name}:1")], source=name)
        return
    except csv.Error as exc:
        yield Record(f"{name}:1", problems=[Problem(f"is not CSV: {exc}", (), f"{name}:1")], source=name)
        return
    unknown = table.unknown_headers(headers, cols)
    if unknown:
        known = [c.key for c in cols]
        from ..wording import nearest
        message = "; ".join(f"unknown column {h!r}{nearest(h, known)}" for h in unknown[:5])
        yield Record(f"{name}:1", problems=[Problem(message, (), f"{name}:1")], source=name)
        return
    position = {h: i for i, h in enumerate(headers)}
    while True:
        line_before = rows.line_num + 1
        try:
            values = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            location = f"{name}:{line_before}"
            yield Record(location, problems=[Problem(f"is not valid CSV: {exc}", (), location)], source=location)
            continue
        if not any(v.strip() for v in values):
            continue
        location = f"{name}:{line_before}"
        cells = {h: (values[i] if i < len(values) else "") for h, i in position.items()}
        zones, _ = table.zone_cells(cells)
        document, problems = reader.read({k: v for k, v in cells.items() if not table.is_zone_header(k)}, zones)
        yield Record(location, document=document, source=location,
                     problems=[Problem(m, p, location) for p, m in problems],
                     warnings=_no_zones(document, location, "no zone_N_… column of this line is filled") if not zones else [])


# --------------------------------------------------------------------------- the xlsx template

CENTRES_SHEET, ZONES_SHEET = "centres", "zones"
HEADER_ROWS = 2                          # row 1: the Chinese label; row 2: the profile key
ZONE_HEADERS = ("center.id", "kind", "area_m2", "name")


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx(name: str, vocab: Vocabulary) -> Iterator[Record]:
    try:
        from python_calamine import CalamineWorkbook
    except ImportError as exc:  # pragma: no cover - a dependency
        raise SourceError(f"reading workbooks needs python-calamine: {exc}", file=name) from exc
    base = name
    try:
        raw = reading.read_bytes(name, SourceError, max_bytes=MAX_TABLE_BYTES)   # read once, size-checked
        archive.check_workbook(raw, name, SourceError)    # a decompression bomb never reaches calamine
        book = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        sheets = set(book.sheet_names)
        if CENTRES_SHEET not in sheets:
            raise SourceError(f"has no sheet named {CENTRES_SHEET!r} (the template's layout)", file=name)
        centre_rows = book.get_sheet_by_name(CENTRES_SHEET).to_python(skip_empty_area=False)
        zone_rows = book.get_sheet_by_name(ZONES_SHEET).to_python(skip_empty_area=False) if ZONES_SHEET in sheets else []
    except ProfileError as exc:
        yield Record(name, problems=[Problem(exc.message, (), name)], source=name)
        return
    except Exception as exc:  # noqa: BLE001 - a damaged workbook is bad input, whatever calamine raises
        yield Record(name, problems=[Problem(f"is not a readable xlsx workbook: {str(exc)[:200]}", (), name)],
                     source=name)
        return
    cols = table.columns(vocab)
    reader = table.RowReader(cols, vocab)
    if len(centre_rows) < HEADER_ROWS:
        yield Record(f"{base}!{CENTRES_SHEET}!A2", problems=[Problem(
            "the centres sheet has no header rows (row 1 labels, row 2 profile keys)", (), f"{base}!{CENTRES_SHEET}!A2")],
            source=name)
        return
    keys = [str(k).strip() if k is not None else "" for k in centre_rows[HEADER_ROWS - 1]]
    unknown = table.unknown_headers(keys, cols)
    if unknown:
        from ..wording import nearest
        at = f"{base}!{CENTRES_SHEET}!{column_letter(keys.index(unknown[0]))}{HEADER_ROWS}"
        message = "; ".join(f"unknown column {h!r}{nearest(h, [c.key for c in cols])}" for h in unknown[:5])
        yield Record(at, problems=[Problem(message, (), at)], source=name)
        return
    col_of = {k: i for i, k in enumerate(keys) if k}

    # Zones, grouped by centre id, with the cell of every value.
    zkeys = [str(k).strip() if k is not None else "" for k in (zone_rows[HEADER_ROWS - 1] if len(zone_rows) >= HEADER_ROWS else [])]
    zcol = {k: i for i, k in enumerate(zkeys) if k}
    by_centre: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    orphans: list[Record] = []
    if zone_rows and "center.id" not in zcol:
        at = f"{base}!{ZONES_SHEET}!A{HEADER_ROWS}"
        orphans.append(Record(at, problems=[Problem("the zones sheet needs a center.id column", (), at)], source=name))
    else:
        for r, row in enumerate(zone_rows[HEADER_ROWS:], start=HEADER_ROWS + 1):
            values = {k: row[i] if i < len(row) else None for k, i in zcol.items()}
            if all(table._blank(v) for v in values.values()):
                continue
            centre = table._text(values.get("center.id")) if not table._blank(values.get("center.id")) else ""
            by_centre.setdefault(centre, []).append((r, values))
    seen_ids: set[str] = set()

    for r, row in enumerate(centre_rows[HEADER_ROWS:], start=HEADER_ROWS + 1):
        cells = {k: row[i] if i < len(row) else None for k, i in col_of.items()}
        if all(table._blank(v) for v in cells.values()):
            continue
        location = f"{base}!{CENTRES_SHEET}!{column_letter(col_of.get('center.id', 0))}{r}"
        cid = table._text(cells.get("center.id")) if not table._blank(cells.get("center.id")) else ""
        zone_list = by_centre.get(cid, [])      # a repeated id's row sees the same zones; it is refused as a repeat
        seen_ids.add(cid)
        zones = [{f: values.get(f) for f in table.ZONE_FIELDS} for _, values in zone_list]
        document, problems = reader.read(cells, zones)

        def cell(path: tuple[PathItem, ...], r: int = r, zone_list: list[tuple[int, dict[str, Any]]] = zone_list,
                 document: dict[str, Any] = document) -> str:
            if len(path) >= 3 and path[:2] == ("space", "zones") and isinstance(path[2], int) \
                    and path[2] < len(zone_list):
                zr = zone_list[path[2]][0]
                field_name = path[3] if len(path) > 3 else "kind"
                c = zcol.get(str(field_name), zcol.get("kind", 1))
                return f"{base}!{ZONES_SHEET}!{column_letter(c)}{zr}"
            key = ".".join(str(p) for p in path if not isinstance(p, int))
            if isinstance(path[-1:][0] if path else None, int) and len(path) >= 2:
                code = _list_code(document, path)
                if code is not None and f"{key}.{code}" in col_of:
                    return f"{base}!{CENTRES_SHEET}!{column_letter(col_of[f'{key}.{code}'])}{r}"
            while key and key not in col_of:
                key = key.rpartition(".")[0]
            if key in col_of:
                return f"{base}!{CENTRES_SHEET}!{column_letter(col_of[key])}{r}"
            return f"{base}!{CENTRES_SHEET}!A{r}"

        yield Record(location, document=document, cells=cell, source=location,
                     problems=[Problem(m, p, cell(p)) for p, m in problems],
                     warnings=_no_zones(document, location, f"centre {cid!r} has no row on the {ZONES_SHEET} sheet")
                     if not zones else [])
    for centre, zone_list in by_centre.items():
        if centre not in seen_ids:
            r = zone_list[0][0]
            at = f"{base}!{ZONES_SHEET}!{column_letter(zcol.get('center.id', 0))}{r}"
            orphans.append(Record(at, problems=[Problem(
                f"zones of centre {centre!r}, which is not on the centres sheet", (), at)], source=name))
    yield from orphans


def _no_zones(document: dict[str, Any], location: str, what: str) -> list[Problem]:
    """A centre without zones is read as one that has none (``space.zones: []``, which a profile may say), not
    refused as missing them: a centre exported with no zones must read back. Said, since it may be an oversight."""
    document.setdefault("space", {}).setdefault("zones", [])
    return [Problem(f"{what}: read as a centre without zones (space.zones: []); add its zones if it has any",
                    ("space", "zones"), location)]


def _list_code(document: Mapping[str, Any], path: tuple[PathItem, ...]) -> str | None:
    node: Any = document
    for key in path:
        if isinstance(node, Mapping):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node if isinstance(node, str) else None


# --------------------------------------------------------------------------- the library's view

def validate(record: Record, vocabulary: Vocabulary) -> Profile:
    """The record as a validated profile, or a ProfileError whose problems name their cells."""
    if record.problems:
        raise ProfileError(problems_message(len(record.problems), "profile"), file=record.location,
                           problems=record.problems, total=len(record.problems))
    try:
        if record.raw is not None:
            if record.source.endswith(PROFILE_SUFFIXES) or record.location.endswith(PROFILE_SUFFIXES):
                return load_profile(record.location, vocabulary=vocabulary)
            try:
                document = reading.parse(record.raw, record.location, ProfileError, json_only=True)
            except ProfileError as exc:       # one line that is not JSON: say so, and where in the line
                message = exc.message.replace("(line 1, column", "(column")
                raise ProfileError(message, file=record.location,
                                   problems=[Problem(message, (), record.location)]) from None
            if not isinstance(document, dict):
                raise ProfileError("the line is not a profile (a JSON object)", file=record.location)
            return _named(load_profile(document, vocabulary=vocabulary), record.location)
        return _named(load_profile(record.document or {}, vocabulary=vocabulary), record.location)
    except ProfileError as exc:
        problems = [Problem(p.message, p.path, record.where(refined(p.path, p.message)), p.line, p.clause)
                    for p in exc.problems]
        raise ProfileError(exc.message, file=record.location, problems=problems, total=exc.total,
                           complete=exc.complete) from None


_REQUIRED = re.compile(r"required key '([^']+)' is missing")


def refined(path: tuple[PathItem, ...], message: str) -> tuple[PathItem, ...]:
    """The path of the value a problem is about: a missing key's own, so its empty cell is named."""
    missing = _REQUIRED.search(message)
    return (*path, missing.group(1)) if missing else path


def _named(profile: Profile, location: str) -> Profile:
    object.__setattr__(profile, "source", location)
    return profile


def read_profiles(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                  rules: RuleSet | None = None, *, warnings: list[Problem] | None = None
                  ) -> Iterator[tuple[str, Profile | ProfileError]]:
    """Every centre of a file, folder, JSON Lines, CSV or xlsx input: (location, Profile or ProfileError).

    A bad centre is yielded as its error, with every problem located (``centres.xlsx!zones!C7``), and
    never stops the others. A centre id already seen is refused, naming where it was first. Warnings
    (a centre read as having no zones) are appended to ``warnings``, when given, before its centre is yielded.
    """
    inputs = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    vocab = rules.vocabulary if rules is not None else default_vocabulary()
    first: dict[str, str] = {}
    for record in records(inputs, vocab):
        if warnings is not None:
            warnings.extend(record.warnings)
        try:
            profile = validate(record, vocab)
        except ProfileError as exc:
            yield record.location, exc
            continue
        seen = first.get(profile.id)
        if seen is None:
            first[profile.id] = record.location
        else:
            where = record.where(("center", "id"))
            yield record.location, ProfileError(
                problems_message(1, "profile"), file=record.location, total=1, problems=[
                    Problem(repeat_message(profile.id, seen, record.location), ("center", "id"), where)])
            continue
        yield record.location, profile
