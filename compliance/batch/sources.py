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
import functools
import io
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, Sequence

from .. import reading
from ..reading import JSON_BREAKS
from ..contract import missing_keys
from ..errors import WARNING, ComplianceError, PathItem, Problem, ProfileError, problems_message, system_reason
from ..i18n import Joined, Message, msg, quote
from ..wording import hinted
from ..model import RuleSet, RuleSource, Vocabulary, plain_document
from ..profile import Profile, default_vocabulary, load_profile
from . import archive, table

PROFILE_SUFFIXES = (".yaml", ".yml", ".json")
TABLE_SUFFIXES = (".jsonl", ".csv", ".xlsx")
MAX_LINE = reading.MAX_BYTES              # one JSON Lines record, like one profile file
STDIN = "-"                              # as an input of a round or an export: JSON Lines on standard input
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


def read_once(source: str | os.PathLike[str]) -> bool:
    """Whether an input can be read only once: standard input, or a pipe (a second reading finds nothing)."""
    name = os.fspath(source)
    if name == STDIN:
        return True
    try:
        mode = os.stat(name).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


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


def repeat_message(center_id: str, first: str, here: str) -> Message:
    if first == here:
        return msg("the centre id {id} is repeated: this record was read before, at {first} (is an input given "
                   "twice?)", id=quote(center_id), first=first)
    return msg("the centre id {id} is repeated: first at {first}", id=quote(center_id), first=first)


def unknown_columns(headers: Sequence[str], known: Sequence[str]) -> Message:
    """'unknown column 'x'; did you mean 'y'?', for up to five columns a table's layout does not have."""
    return Joined([hinted(msg("unknown column {column}", column=quote(h)), h, known) for h in headers[:5]], "sentences")


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
    for item in _items(inputs, vocabulary or default_vocabulary()):
        if isinstance(item, Lines):
            yield from item.records
        else:
            yield item


def blocks(inputs: Sequence[str | os.PathLike[str]], vocabulary: Vocabulary | None = None,
           skip: int = 0) -> Iterator[Record | Lines]:
    """:func:`records`, with each JSON Lines file's lines in :class:`Lines` blocks of about a mebibyte (a worker
    cuts them into records; the round's process makes no record of each line); the first ``skip`` records (a
    resumed round's, already done) left out."""
    for item in _items(inputs, vocabulary or default_vocabulary()):
        if skip and isinstance(item, Lines):
            found = item.records
            if len(found) <= skip:
                skip -= len(found)
                continue
            yield from found[skip:]
            skip = 0
        elif skip:
            skip -= 1
        else:
            yield item


def _items(inputs: Sequence[str | os.PathLike[str]], vocab: Vocabulary) -> Iterator[Record | Lines]:
    for source in inputs:
        name = os.fspath(source)
        if name == STDIN:               # a pipeline's centres: JSON Lines, read once
            yield from _jsonl_stream(name, sys.stdin.buffer)
            continue
        path = Path(name)
        if path.is_dir():
            for file in folder_inputs(path):
                yield from _items([file], vocab)
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
                yield Record(name, problems=[Problem(exc.text, (), name)], source=name)
                continue
            yield Record(name, raw=raw, source=name)


# --------------------------------------------------------------------------- JSON Lines

BLOCK = MAX_LINE                # bytes read at a time: a line within them is never too long


@dataclass(frozen=True)
class Lines:
    """Whole lines of one JSON Lines file, from line ``first`` on (the last line's end included, if it has one):
    ``size`` bytes from byte ``at`` of the file, holding ``ends`` line ends, read again by whoever needs their bytes
    (a worker, not the round's process) from the file ``place`` names (its absolute path, device and inode); or,
    from a file that cannot be read twice (a pipe), the bytes themselves (``given``). None is longer than
    :data:`MAX_LINE`: such a line is a refused :class:`Record` of its own."""

    name: str
    first: int
    given: bytes | None = None
    at: int = 0
    size: int = 0
    ends: int = 0
    place: tuple[str, int, int] = ("", 0, 0)

    @property
    def where(self) -> tuple[int, int, int, str, int, int]:
        """What a worker needs to read the block again: (at, size, ends, path, device, inode)."""
        return (self.at, self.size, self.ends, *self.place)

    @functools.cached_property
    def data(self) -> bytes:
        return self.given if self.given is not None else read_lines(self.name, *self.where)

    def items(self) -> Iterator[tuple[str, bytes]]:
        """(location, line) of each record: blank lines skipped and each line's end taken off, as ever."""
        data = self.data
        pieces = data.split(b"\n")
        if data.endswith(b"\n"):
            pieces.pop()                # (what follows the last line end: nothing)
        name = self.name
        for number, piece in enumerate(pieces, start=self.first):
            if piece and not piece.isspace():
                yield f"{name}:{number}", piece.rstrip(b"\r")

    @functools.cached_property
    def records(self) -> list[Record]:
        return [Record(location, raw=raw, source=location) for location, raw in self.items()]


def read_lines(name: str, at: int, size: int, ends: int, path: str, device: int, inode: int) -> bytes:
    """A block of :class:`Lines` read again from its file, checked to be the same file and the lines that were
    there (a file moved, replaced, cut short or edited while the round reads it is refused, in words)."""
    changed = _changed(name)
    try:
        with open(path, "rb") as stream:
            st = os.fstat(stream.fileno())
            data = _read_at(stream.fileno(), size, at)
    except OSError as exc:
        raise ComplianceError(system_reason(exc, changed)) from None
    if (st.st_dev, st.st_ino) != (device, inode) or len(data) != size or data.count(b"\n") != ends:
        raise ComplianceError(changed)
    return data


def _changed(name: str) -> Message:
    return msg("{file} changed while the round was reading it", file=quote(name, 200))


def _read_at(fd: int, size: int, at: int) -> bytes:
    """``size`` bytes from byte ``at`` on, fewer only at the end of the file (a read may give fewer: go on)."""
    data = os.pread(fd, size, at)
    while len(data) < size:
        more = os.pread(fd, size - len(data), at + len(data))
        if not more:
            break
        data += more
    return data


def _fill(fd: int, view: memoryview, at: int) -> int:
    """Read into ``view`` from byte ``at`` until it is full or the file ends; how many bytes were read. A read
    may give fewer bytes than asked before the end (a network or FUSE file system, a signal): only 0 is the end."""
    got = 0
    while got < len(view):
        read = os.preadv(fd, [view[got:]], at + got)
        if not read:
            break
        got += read
    return got


def _too_long(name: str, number: int, size: int) -> Record:
    location = f"{name}:{number}"
    return Record(location, problems=[Problem(msg("the line is {size:,} bytes; the limit is {limit:,}", size=size,
                                                  limit=MAX_LINE), (), location)], source=location)


def _jsonl(name: str) -> Iterator[Record | Lines]:
    """A JSON Lines file in :class:`Lines` blocks of at most :data:`BLOCK` bytes, each the lines that end within
    them. A line longer than :data:`MAX_LINE` is refused as its size is counted, without being held."""
    try:
        stream = open(name, "rb")
    except OSError as exc:
        yield Record(name, problems=[Problem(system_reason(exc, msg("cannot be read")), (), name)], source=name)
        return
    with stream:
        try:
            st = os.fstat(stream.fileno())
            regular = stat.S_ISREG(st.st_mode)
        except OSError:
            regular = False
        if regular:
            yield from _jsonl_file(name, stream.fileno(), (os.path.abspath(name), st.st_dev, st.st_ino), st.st_size)
        else:
            yield from _jsonl_stream(name, stream)


def _jsonl_file(name: str, fd: int, place: tuple[str, int, int], length: int) -> Iterator[Record | Lines]:
    """:func:`_jsonl` of a file on disk: each block is where its lines are (the round's process reads the bytes
    into one buffer, to count their line ends, and keeps none of them). A file that ends before the ``length`` it had
    when opened was cut short while the round read it: refused, rather than its last lines lost without a word."""
    import numpy as np

    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    at, number = 0, 1               # where the next line starts, and its number
    while read := _fill(fd, view, at):
        end = buffer.rfind(b"\n", 0, read) + 1
        if end:
            ends = int(np.count_nonzero(np.frombuffer(buffer, np.uint8, end) == 10))
            yield Lines(name, number, at=at, size=end, ends=ends, place=place)
            at, number = at + end, number + ends
            continue
        if read < BLOCK or not _fill(fd, view[:1], at + read):    # the last line, without its end, within the limit
            if at + read < length:
                raise ComplianceError(_changed(name))
            yield Lines(name, number, at=at, size=read, place=place)
            return
        size = read                 # a line longer than the limit: its bytes counted to its end
        while more := _fill(fd, view, at + size):
            end = buffer.find(b"\n", 0, more) + 1
            if end:
                size += end
                break
            size += more
        yield _too_long(name, number, size)
        at, number = at + size, number + 1
    if at < length:
        raise ComplianceError(_changed(name))


def _jsonl_stream(name: str, stream: IO[bytes]) -> Iterator[Record | Lines]:
    """:func:`_jsonl` of a pipe, read once, :data:`BLOCK` bytes at a time: the lines that end in the bytes just
    read, and the start of the next kept for the next block."""
    number, carry = 1, b""          # the line being read, and its bytes so far
    fresh = stream.read(BLOCK)
    while fresh:
        end = fresh.rfind(b"\n") + 1
        if not end:                 # no line ends in these bytes
            carry += fresh
            fresh = stream.read(BLOCK)
            if len(carry) > MAX_LINE:
                rest, fresh = _skip_line(stream, fresh)
                yield _too_long(name, number, len(carry) + rest)
                number, carry = number + 1, b""
            continue
        first = fresh.find(b"\n") + 1
        if len(carry) + first > MAX_LINE:       # the line begun before these bytes is too long
            yield _too_long(name, number, len(carry) + first)
            number, carry = number + 1, b""
        else:
            first = 0
        if first < end:
            block = carry + fresh[first:end]
            yield Lines(name, number, block)
            number += block.count(b"\n")
        carry, fresh = fresh[end:], stream.read(BLOCK)
    if carry:                       # the last line, without a line end
        yield Lines(name, number, carry)


def _skip_line(stream: IO[bytes], fresh: bytes) -> tuple[int, bytes]:
    """Read on to the end of a line too long to keep: (its bytes from ``fresh`` on, what follows its end)."""
    size = 0
    while fresh:
        end = fresh.find(b"\n") + 1
        if end:
            return size + end, fresh[end:] or stream.read(BLOCK)
        size += len(fresh)
        fresh = stream.read(BLOCK)
    return size, b""


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
    encodings = [quote(e) for e in ("UTF-8", "GBK", "GB18030")]
    if guess:
        raise SourceError(msg("is not text in any of {encodings} (it looks like {guess})", encodings=encodings,
                              guess=quote(guess)), file=name)
    raise SourceError(msg("is not text in any of {encodings}", encodings=encodings), file=name)


def _csv(name: str, vocab: Vocabulary) -> Iterator[Record]:
    try:
        raw = reading.read_bytes(name, SourceError, max_bytes=MAX_TABLE_BYTES)
        text = decode_table(raw, name)
    except ProfileError as exc:
        yield Record(name, problems=[Problem(exc.text, (), name)], source=name)
        return
    cols = table.columns(vocab)
    reader = table.RowReader(cols, vocab)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        headers = [h.strip() for h in next(rows)]
    except StopIteration:
        yield Record(f"{name}:1", problems=[Problem(msg("is empty: no header line"), (), f"{name}:1")], source=name)
        return
    except csv.Error as exc:
        yield Record(f"{name}:1", problems=[Problem(system_reason(exc, msg("the header line cannot be read")), (),
                                                    f"{name}:1")], source=name)
        return
    unknown = table.unknown_headers(headers, cols)
    if unknown:
        message = unknown_columns(unknown, [c.key for c in cols])
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
            yield Record(location, problems=[Problem(system_reason(exc, msg("the line cannot be read")), (), location)],
                         source=location)
            continue
        if not any(v.strip() for v in values):
            continue
        location = f"{name}:{line_before}"
        cells = {h: (values[i] if i < len(values) else "") for h, i in position.items()}
        zones, _ = table.zone_cells(cells)
        document, problems = reader.read({k: v for k, v in cells.items() if not table.is_zone_header(k)}, zones)
        warnings = _no_zones(document, location, msg("no {columns} column of this line is filled",
                                                     columns=quote("zone_N_…"))) if not zones else []
        yield Record(location, document=document, source=location, warnings=warnings,
                     problems=[Problem(m, p, location) for p, m in every_problem(document, problems, vocab, cols)])


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
        raise SourceError(system_reason(exc, msg("reading workbooks needs python-calamine")), file=name) from exc
    base = name
    try:
        raw = reading.read_bytes(name, SourceError, max_bytes=MAX_TABLE_BYTES)   # read once, size-checked
        archive.check_workbook(raw, name, SourceError)    # a decompression bomb never reaches calamine
        book = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        sheets = set(book.sheet_names)
        if CENTRES_SHEET not in sheets:
            raise SourceError(msg("has no sheet named {sheet} (the template's layout)", sheet=quote(CENTRES_SHEET)),
                              file=name)
        centre_rows = book.get_sheet_by_name(CENTRES_SHEET).to_python(skip_empty_area=False)
        zone_rows = book.get_sheet_by_name(ZONES_SHEET).to_python(skip_empty_area=False) if ZONES_SHEET in sheets else []
    except ProfileError as exc:
        yield Record(name, problems=[Problem(exc.text, (), name)], source=name)
        return
    except Exception as exc:  # noqa: BLE001 - a damaged workbook is bad input, whatever calamine raises
        yield Record(name, problems=[Problem(system_reason(exc, msg("is not a workbook that can be read")), (), name)],
                     source=name)
        return
    cols = table.columns(vocab)
    reader = table.RowReader(cols, vocab)
    if len(centre_rows) < HEADER_ROWS:
        yield Record(f"{base}!{CENTRES_SHEET}!A2", problems=[Problem(
            msg("the sheet {sheet} has no header rows (row 1 the names, row 2 the profile keys)",
                sheet=quote(CENTRES_SHEET)), (), f"{base}!{CENTRES_SHEET}!A2")], source=name)
        return
    keys = [str(k).strip() if k is not None else "" for k in centre_rows[HEADER_ROWS - 1]]
    unknown = table.unknown_headers(keys, cols)
    if unknown:
        at = f"{base}!{CENTRES_SHEET}!{column_letter(keys.index(unknown[0]))}{HEADER_ROWS}"
        yield Record(at, problems=[Problem(unknown_columns(unknown, [c.key for c in cols]), (), at)], source=name)
        return
    col_of = {k: i for i, k in enumerate(keys) if k}

    # Zones, grouped by centre id, with the cell of every value.
    zkeys = [str(k).strip() if k is not None else "" for k in (zone_rows[HEADER_ROWS - 1] if len(zone_rows) >= HEADER_ROWS else [])]
    zcol = {k: i for i, k in enumerate(zkeys) if k}
    by_centre: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    orphans: list[Record] = []
    if zone_rows and "center.id" not in zcol:
        at = f"{base}!{ZONES_SHEET}!A{HEADER_ROWS}"
        orphans.append(Record(at, problems=[Problem(msg("the sheet {sheet} needs a {column} column", sheet=quote(ZONES_SHEET),
                                                        column=quote("center.id")), (), at)], source=name))
    else:
        for r, row in enumerate(zone_rows[HEADER_ROWS:], start=HEADER_ROWS + 1):
            values = {k: row[i] if i < len(row) else None for k, i in zcol.items()}
            if all(table.blank(v) for v in values.values()):
                continue
            centre = table.text_of(values.get("center.id")) if not table.blank(values.get("center.id")) else ""
            by_centre.setdefault(centre, []).append((r, values))
    seen_ids: set[str] = set()

    for r, row in enumerate(centre_rows[HEADER_ROWS:], start=HEADER_ROWS + 1):
        cells = {k: row[i] if i < len(row) else None for k, i in col_of.items()}
        if all(table.blank(v) for v in cells.values()):
            continue
        location = f"{base}!{CENTRES_SHEET}!{column_letter(col_of.get('center.id', 0))}{r}"
        cid = table.text_of(cells.get("center.id")) if not table.blank(cells.get("center.id")) else ""
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

        warnings = _no_zones(document, location, msg("the centre {id} has no row on the sheet {sheet}", id=quote(cid),
                                                     sheet=quote(ZONES_SHEET))) if not zones else []
        yield Record(location, document=document, cells=cell, source=location, warnings=warnings,
                     problems=[Problem(m, p, cell(refined(Problem(m, p))))
                               for p, m in every_problem(document, problems, vocab, cols)])
    for centre, zone_list in by_centre.items():
        if centre not in seen_ids:
            r = zone_list[0][0]
            at = f"{base}!{ZONES_SHEET}!{column_letter(zcol.get('center.id', 0))}{r}"
            orphans.append(Record(at, problems=[Problem(
                msg("zones of the centre {id}, which is not on the sheet {sheet}", id=quote(centre),
                    sheet=quote(CENTRES_SHEET)), (), at)], source=name))
    yield from orphans


def every_problem(document: dict[str, Any], unread: list[tuple[tuple[PathItem, ...], Message]], vocab: Vocabulary,
                  cols: Sequence[table.Column]) -> list[tuple[tuple[PathItem, ...], Message]]:
    """Every problem of a row at once, in the order of its cells: the cells that could not be read and what the
    profile's checks find in the rest (a bad date beside a bad rate: both). A problem of a cell already named
    unreadable (its value then missing) is not told twice. A row whose cells all read is checked later, as any
    profile is."""
    if not unread:
        return unread
    found = list(unread)
    try:
        load_profile(document, vocabulary=vocab)
    except ProfileError as exc:
        cells = [path for path, _ in unread]
        for problem in exc.problems:
            at = refined(problem)
            if not any(at[:len(path)] == path for path in cells):
                found.append((problem.path, problem.text))
    position = {c.key: i for i, c in enumerate(cols)}

    def order(item: tuple[tuple[PathItem, ...], Message]) -> tuple[int, int, int]:
        path = refined(Problem(item[1], item[0]))
        if path[:2] == ("space", "zones") and len(path) > 2 and isinstance(path[2], int):
            field_name = str(path[3]) if len(path) > 3 else ""
            return 1, path[2], table.ZONE_FIELDS.index(field_name) if field_name in table.ZONE_FIELDS else -1
        key = ".".join(str(p) for p in path)
        while key and key not in position:
            key = key.rpartition(".")[0]
        return 0, position.get(key, -1), 0

    return sorted(found, key=order)


def _no_zones(document: dict[str, Any], location: str, what: Message) -> list[Problem]:
    """A centre without zones is read as one that has none (``space.zones: []``, which a profile may say), not
    refused as missing them: a centre exported with no zones must read back. Said, since it may be an oversight."""
    document.setdefault("space", {}).setdefault("zones", [])
    return [Problem(msg("{what}: read as a centre without zones; add its zones if it has any", what=what),
                    ("space", "zones"), location, severity=WARNING)]


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

def validate(record: Record, vocabulary: Vocabulary, strict: bool = False, rules: RuleSet | None = None,
             evidence: bool = False) -> Profile:
    """The record as a validated profile, or a ProfileError whose problems name their cells. The profile's
    ``warnings`` are the record's (a centre read as having no zones) and its own (keys the contract does not
    know), each at its cell or line; ``strict`` refuses a key the contract does not know. With ``evidence``, the
    evidence files a profile file or a JSON Lines line names are read (and its clauses checked against ``rules``)."""
    if record.problems:
        raise ProfileError(problems_message(len(record.problems), msg("the profile")), file=record.location,
                           problems=record.problems, total=len(record.problems))
    try:
        if record.raw is not None:
            if record.source.endswith(PROFILE_SUFFIXES) or record.location.endswith(PROFILE_SUFFIXES):
                profile = load_profile(record.location, vocabulary=vocabulary, strict=strict)
                if evidence:
                    profile = _evidence(profile, record, rules, record.raw)
                return _with_warnings(profile, record)
            try:
                document = reading.parse(record.raw, record.location, ProfileError, json_only=True)
            except ProfileError as exc:       # one line that is not JSON: say so, and where in the line
                message = line_problem(exc)
                raise ProfileError(message, file=record.location,
                                   problems=[Problem(message, (), record.location)]) from None
            if not isinstance(document, dict):
                told = msg("the line is not a profile (a mapping in braces)")
                raise ProfileError(told, file=record.location, problems=[Problem(told, (), record.location)])
            profile = _named(load_profile(document, vocabulary=vocabulary, strict=strict), record.location)
            if evidence:
                profile = _evidence(profile, record, rules, b"")
        else:
            profile = load_profile(record.document or {}, vocabulary=vocabulary, strict=strict)
        return _with_warnings(_named(profile, record.location), record)
    except ProfileError as exc:
        problems = [p.located(file=record.where(refined(p))) for p in exc.problems]
        raise ProfileError(exc.text, file=record.location, problems=problems, total=exc.total,
                           complete=exc.complete) from None


def _evidence(profile: Profile, record: Record, rules: RuleSet | None, raw: bytes) -> Profile:
    if "evidence" not in plain_document(profile):
        return profile
    from ..evidence import check_clauses, folder_of, read_evidence

    if rules is not None:
        check_clauses(profile, rules)
    return read_evidence(profile, folder_of(record.location), raw=raw or None)


def _with_warnings(profile: Profile, record: Record) -> Profile:
    """The profile with the record's warnings first, and its own located at their cell or line."""
    own = [w.located(file=record.where(w.path)) if w.file == "<dict>" else w for w in profile.warnings]
    if record.warnings or own:
        object.__setattr__(profile, "warnings", (*record.warnings, *own))
    return profile


def line_problem(exc: ProfileError) -> Message:
    """What is wrong with one JSON Lines line: the column where its JSON breaks (the line is the location)."""
    said = dict(exc.text.params)
    if exc.text.msgid == JSON_BREAKS and said.get("line") == 1:
        return msg("cannot be read (column {column}): {problem}", column=said["column"], problem=said["problem"])
    return exc.text


def refined(problem: Problem) -> tuple[PathItem, ...]:
    """The path of the value a problem is about: a missing key's own, so its empty cell is named."""
    missing = missing_keys(problem.text)
    return (*problem.path, missing[0]) if missing else problem.path


def _named(profile: Profile, location: str) -> Profile:
    object.__setattr__(profile, "source", location)
    return profile


def read_profiles(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                  rules: RuleSource | None = None, *, strict: bool = False, evidence: bool = True
                  ) -> Iterator[tuple[str, Profile | ProfileError]]:
    """Every centre of a file, folder, JSON Lines, CSV or xlsx input: (location, Profile or ProfileError).

    ``rules`` (a RuleSet, a bundled name or a path) gives the vocabularies codes are checked against. A bad
    centre is yielded as its error, with every problem located (``centres.xlsx!zones!C7``), and never stops
    the others. A centre id already seen is refused, naming where it was first. What is read but may not be
    as meant (a centre with no zones, a key the contract does not know) is in the profile's ``warnings``;
    ``strict`` refuses a key the contract does not know. The evidence files a YAML, JSON or JSON Lines profile
    names are read and hashed from its folder (:func:`compliance.read_evidence`), unless ``evidence`` is False.
    """
    given: Any = path                       # checked as it comes, whatever the annotation says
    if isinstance(given, (str, os.PathLike)):
        inputs = [given]
    elif isinstance(given, Sequence) and not isinstance(given, (bytes, bytearray)):
        inputs = list(given)
    else:
        raise TypeError(f"read_profiles takes a path or a list of paths, not a {type(path).__name__}")
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"read_profiles takes paths, not a {type(item).__name__}")
    if rules is not None and not isinstance(rules, RuleSet):
        from ..compile import load_ruleset

        rules = load_ruleset(rules)
    vocab = rules.vocabulary if rules is not None else default_vocabulary()
    ruleset = rules if isinstance(rules, RuleSet) else None
    return _read_profiles(inputs, vocab, strict, ruleset, evidence)      # bad arguments raise here, not at the first


def _read_profiles(inputs: list[str | os.PathLike[str]], vocab: Vocabulary, strict: bool,
                   rules: RuleSet | None = None, evidence: bool = False) -> Iterator[tuple[str, Profile | ProfileError]]:
    first: dict[str, str] = {}
    for record in records(inputs, vocab):
        try:
            profile = validate(record, vocab, strict, rules, evidence)
        except ProfileError as exc:
            yield record.location, exc
            continue
        seen = first.get(profile.id)
        if seen is None:
            first[profile.id] = record.location
        else:
            where = record.where(("center", "id"))
            yield record.location, ProfileError(
                problems_message(1, msg("the profile")), file=record.location, total=1, problems=[
                    Problem(repeat_message(profile.id, seen, record.location), ("center", "id"), where)])
            continue
        yield record.location, profile
