"""A workbook's zip archive checked before python-calamine inflates it: decompression bombs are refused.

An ``.xlsx`` file is a zip archive of XML parts. A few megabytes of deflate can
inflate to gigabytes: such a workbook once made ``compliance batch`` take 4.6 GB
for 17 s, and under a 2 GB memory limit the reader aborted the process. The sizes
an archive declares are written by whoever made it, so :func:`check_workbook`
inflates every part itself, in 1 MiB pieces that are counted and dropped, and
stops at the first piece that breaks a rule:

* the parts together inflate to at most :data:`MAX_INFLATED` bytes;
* a part past :data:`RATIO_GRACE` bytes inflates to at most :data:`MAX_RATIO`
  times its compressed size (small parts, such as styles, may compress better);
* a part inflates to exactly the size it declares: a "lying header" whose parts
  claim a few bytes and inflate to gigabytes is refused once a part passes its
  claim, and the caps are then checked on the claims before anything is inflated;
* a sheet's used area (its rows × columns, up to the farthest cell it names or counts
  to) holds at most :data:`MAX_CELLS` cells: the reader allocates every cell of that
  rectangle and aborts the process when it cannot, so a sheet of one cell at
  ``XFD1048576`` would ask for 17 billion (see :class:`_Area` for how cells are placed);
* at most :data:`MAX_PARTS` parts, named once each, stored or deflated (what
  every spreadsheet program writes), not encrypted, not overlapping one another,
  with nothing before them or between the last part and the central directory.

The caps come from measured workbooks (``compliance template``; ``compliance
export`` of 25,000 generated centres, ``benchmarks/bench_bomb.py``):

=============================  ==========  ===========  ===========================
workbook                       file        inflated     ratio (whole / largest part)
=============================  ==========  ===========  ===========================
the empty template             128 KB      1.3 MB       10.1 / 12.8
examples/yinzhou-district      184 KB      1.9 MB       10.5 / 12.3
25,000 varied centres          8.3 MB      106 MB       12.8 / 13.8
25,000 identical centres       7.7 MB      114 MB       14.9 / 16.0
=============================  ==========  ===========  ===========================

So 100:1 is six times the most compressible real part (and the limit Apache POI
applies to Office files); deflate reaches 1,032:1, and a bomb needs far more than
100:1 to be one. 512 MiB is 4.5 times the largest 25,000-centre workbook, and
python-calamine holds about 2.3 bytes of memory for each inflated byte of a sheet
(250 MB for the 25,000 centres), so the largest workbook let through still reads
in about 1.2 GB. The scan inflates what calamine inflates again afterwards and measures
each sheet's area as it goes: 0.9 s for the 25,000-centre workbook (0.1 s of it
inflating), against 9.3 s for ``compliance validate`` to read and check it (peak 305 MB).
A 3 GiB bomb of 9.7 MB is refused in 0.8 s (the whole command) at a peak of 50 MB;
unchecked, calamine aborted the process after 18 s at 1.7 GB under a 2 GiB limit.
"""
from __future__ import annotations

import functools
import io
import re
import struct
import zipfile
import zlib
from typing import Callable, NoReturn

from ..errors import ProblemsError
from ..i18n import Message, msg, quote

MAX_INFLATED = 512 << 20         # bytes all parts inflate to: 4.5 × a 25,000-centre workbook (114 MB)
MAX_RATIO = 100                  # inflated / compressed for one part: 6 × the most compressible real part (16)
RATIO_GRACE = 1 << 20            # parts up to 1 MiB may compress better (a styles part of 3 KB at 50:1 is fine)
MAX_PARTS = 1000                 # the template has 12 parts; Excel adds a dozen, charts and pictures a few each
MAX_CELLS = 10_000_000           # rows × columns of a sheet's used area: 4 × a 25,000-centre district's centres sheet
MAX_DIRECTORY = MAX_PARTS * 1024     # bytes of central directory: read before the part count is known
PIECE = 1 << 20                  # inflated bytes held at a time
FEED = 64 << 10                  # compressed bytes given to the inflater at a time

_END = b"PK\x05\x06"
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"
_LOCAL = b"PK\x03\x04"
_STORED, _DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED


def _mib(n: int) -> Message:
    return msg("{count:,} MiB", count=round(n / (1 << 20)))


def _bomb(what: Message) -> Message:
    return msg("{problem}; refused as a decompression bomb", problem=what)


def _hostile(what: Message) -> Message:
    return msg("{problem}; refused as a damaged or hostile archive", problem=what)


def _unreadable(what: Message) -> Message:
    return msg("is not a workbook that can be read: {problem}", problem=what)


def check_workbook(raw: bytes, name: str, error: type[ProblemsError]) -> None:
    """Raise ``error`` (naming ``name``) unless the workbook ``raw`` inflates within the caps above."""
    directory_at, parts_declared = _directory(raw, name, error)
    try:
        infos = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, struct.error) as exc:
        raise error(_unreadable(msg("{detail}", detail=quote(str(exc)[:200], 200))), file=name) from None
    if len(infos) != parts_declared:
        raise error(_hostile(msg("lists {count:,} parts where its end record says {declared:,}", count=len(infos),
                                 declared=parts_declared)), file=name)
    names: set[str] = set()
    for info in infos:
        if info.filename in names:
            raise error(_hostile(msg("holds the part {part} twice", part=quote(info.filename))), file=name)
        names.add(info.filename)
        if info.flag_bits & 0x1:
            raise error(msg("the part {part} is encrypted; save the workbook without a password",
                            part=quote(info.filename)), file=name)
        if info.compress_type not in (_STORED, _DEFLATED):
            raise error(msg("the part {part} is compressed with the method {method} (a workbook's parts are stored or "
                            "deflated); refused", part=quote(info.filename), method=info.compress_type), file=name)
    # The claims first: a bomb that admits its size is refused without inflating anything.
    declared = sum(info.file_size for info in infos)
    if declared > MAX_INFLATED:
        raise error(_bomb(msg("inflates to {size} by its own account (the cap for a workbook is {cap})",
                              size=_mib(declared), cap=_mib(MAX_INFLATED))), file=name)
    for info in infos:
        _ratio(info.filename, info.file_size, info.compress_size, name, error)
    # Then every part inflated and counted: the claims are the attacker's, the bytes are not.
    total, end = 0, 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        start = _data_start(raw, info, name, error)
        if info.header_offset < end:
            raise error(_hostile(msg("the part {part} overlaps the part before it", part=quote(info.filename))),
                        file=name)
        end = start + info.compress_size
        if end > directory_at:
            raise error(_hostile(msg("the part {part} runs into the archive's directory", part=quote(info.filename))),
                        file=name)
        area = _Area(functools.partial(_refuse_sheet, info.filename, name, error)) \
            if info.filename.startswith("xl/worksheets/") else None
        total = _inflate(raw, start, end, info, total, name, error, area)
        if area is not None and area.cells > MAX_CELLS:
            raise error(_bomb(msg("the sheet {part} reaches the cell {cell}: {cells:,} cells to hold (the cap for a "
                                  "sheet is {cap:,})", part=quote(info.filename), cell=quote(area.corner()),
                                  cells=area.cells, cap=MAX_CELLS)), file=name)


class _Area:
    """The rectangle python-calamine allocates for a sheet: a value for every cell from the first row and column
    to the farthest a cell names (``r="XFD1048576"``), or reaches by counting (a row or cell without ``r`` comes
    right after the one before it), so one far cell costs as much memory as a sheet full of them.

    Fed a sheet's XML a piece at a time. A piece where every row and cell tag starts ``<row r="`` or ``<c r="``
    with a reference in capitals inside the rows and columns already reached, and no other ``r`` (what Excel, WPS,
    LibreOffice and openpyxl write, row after row) costs a few searches and counts and the row tags' numbers. A
    cell beyond them is measured from every reference in the piece; a piece with tags to count (no ``r``, a
    namespace prefix, ``r`` after other attributes or twice, spaces around ``=``) is walked tag by tag, counting
    as the reader counts, and every ``r`` in it is measured."""

    PLAIN = bytes.maketrans(b"\t\n\r'", b'   "')       # XML's other whitespace and quote, as the searches expect
    ROW_TAGS = re.compile(rb'<row(?: r="0*([0-9]{1,12})"|[ />])')     # b"" for a row tag without r first
    PREFIXED = re.compile(rb':(?:c|row)[ />]')
    TO_COUNT = re.compile(rb'<c(?:[/>]| (?!r="))')
    CELL_REFS = re.compile(rb'<c r="([A-Za-z]{0,8})0*([0-9]{0,12})')
    ANY_REF = re.compile(rb' r *= *"([A-Za-z]{0,8})0*([0-9]{0,12})')
    TAG = re.compile(rb'<(?:[^ <>/:]+:)?(c|row)(?=[ />])([^>]*)')
    TAG_REF = re.compile(rb' r *= *"([A-Za-z]{0,8})0*([0-9]{0,12})"')
    MAX_TAG = 64 << 10                                    # a start tag longer than this is no spreadsheet's

    def __init__(self, refuse: Callable[[Message], NoReturn]) -> None:
        self.rows = self.columns = 0         # the farthest row and column reached
        self.row = self.column = 0           # where the last tag left the count (rows and columns from 1)
        self.carry = b""
        self.refuse = refuse

    def feed(self, piece: bytes) -> None:
        text = self.carry + piece
        if any(c in text for c in (b"\t", b"\n", b"\r", b"'")):
            text = text.translate(self.PLAIN)
        opened = text.rfind(b"<")
        if opened >= 0 and text.find(b">", opened) < 0:        # a tag cut in two: measured with the next piece
            if len(text) - opened > self.MAX_TAG:
                self.refuse(msg("has a tag longer than {size:,} bytes", size=self.MAX_TAG))
            text, self.carry = text[:opened], text[opened:]
        else:
            self.carry = b""
        rows = self.ROW_TAGS.findall(text)
        if (b"" in rows or self.PREFIXED.search(text)        # a row to count, a prefixed tag, an r elsewhere
                or text.count(b" r=") + text.count(b" r ") != text.count(b'<c r="') + len(rows)):
            self._walk(text)
            return
        self.rows = max(self.rows, max(map(int, rows), default=0))
        outside = _outside(self.rows, self.columns).search(text)
        if outside is not None:
            if not text.startswith(b'r="', outside.end()) or self.TO_COUNT.search(text, outside.start()):
                self._walk(text)
                return
            for letters, digits in self.CELL_REFS.findall(text):
                self.columns = max(self.columns, _column(letters))
                self.rows = max(self.rows, int(digits or 0))
        last = max(text.rfind(b'<c r="'), text.rfind(b'<row r="'))
        if last >= 0:
            self._tag(text, last)              # where a later piece's counting starts

    def _walk(self, text: bytes) -> None:
        for letters, digits in self.ANY_REF.findall(text):
            self.columns = max(self.columns, _column(letters))
            self.rows = max(self.rows, int(digits or 0))
        for match in self.TAG.finditer(text):
            self._tag(text, match.start(), match)

    def _tag(self, text: bytes, at: int, match: re.Match[bytes] | None = None) -> None:
        match = match or self.TAG.match(text, at)
        if match is None:
            return
        refs = self.TAG_REF.findall(match.group(2))
        letters, digits = refs[-1] if refs else (b"", b"")     # the reader keeps the last of two
        if match.group(1) == b"row":
            self.row, self.column = (int(digits) if digits else self.row + 1), 0
        else:
            self.row = int(digits) if digits else self.row
            self.column = _column(letters) if letters else self.column + 1
        self.rows, self.columns = max(self.rows, self.row), max(self.columns, self.column)

    @property
    def cells(self) -> int:
        return self.rows * self.columns

    def corner(self) -> str:
        return f"{_letters(self.columns)}{self.rows}"


def _refuse_sheet(part: str, name: str, error: type[ProblemsError], what: Message) -> NoReturn:
    raise error(_hostile(msg("the sheet {part} {what}", part=quote(part), what=what)), file=name)


def _column(letters: bytes) -> int:
    """A column's letters as its number: A → 1, Z → 26, AA → 27; either case (the reader accepts both)."""
    column = 0
    for letter in letters.upper():
        column = column * 26 + letter - 64
    return column


def _letters(column: int) -> str:
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@functools.lru_cache(maxsize=256)
def _outside(rows: int, columns: int) -> re.Pattern[bytes]:
    """A search for a cell tag to count (no ``r`` first) or whose reference is not plainly inside ``rows`` ×
    ``columns``: capital letters up to the last column, then a row number without leading zeros up to the last
    row. Ended at the space before ``r``, so the caller can tell which."""
    return re.compile(rb'<c(?:[/>]| (?!r="(?:' + _up_to(_letters(columns), "A", "Z") + rb')(?:'
                      + _up_to(str(rows), "1", "9", "0") + rb')"))')


def _up_to(value: str, first: str, last: str, zero: str = "") -> bytes:
    """A pattern for the strings of the characters ``first``..``last`` (and ``zero`` after the first place) that
    count no further than ``value``: shorter ones, or ones as long that are smaller at the first place they
    differ, or ``value`` itself. Nothing matches an empty ``value``."""
    if not value or value == "0":
        return b"(?!)"
    lowest = zero or first
    head, tail = f"[{first}-{last}]", f"[{lowest}-{last}]"
    branches = [value]                                   # the longest first: fewer steps back for the search
    for i, c in reversed(list(enumerate(value))):
        low = first if i == 0 else lowest
        if c > low:
            branches.append(f"{value[:i]}[{low}-{chr(ord(c) - 1)}]{tail}{{{len(value) - i - 1}}}")
    if len(value) > 1:
        branches.append(f"{head}{tail}{{0,{len(value) - 2}}}")
    return "|".join(branches).encode()


def _ratio(part: str, inflated: int, compressed: int, name: str, error: type[ProblemsError]) -> None:
    if inflated > RATIO_GRACE and inflated > MAX_RATIO * compressed:
        raise error(_bomb(msg("the part {part} inflates to more than {ratio} times its compressed size (the cap for a "
                              "part past {grace})", part=quote(part), ratio=MAX_RATIO, grace=_mib(RATIO_GRACE))),
                    file=name)


def _directory(raw: bytes, name: str, error: type[ProblemsError]) -> tuple[int, int]:
    """(where the central directory starts, how many parts it lists), from the end record, refusing a directory
    too large to read: zipfile would build an object for each of millions of 46-byte entries."""
    at = raw.rfind(_END, max(0, len(raw) - 22 - 0xFFFF))
    if at < 0 or len(raw) < at + 22:
        raise error(_unreadable(msg("it is not a zip archive")), file=name)
    _, _, _, _, parts, size, offset, comment = struct.unpack("<4s4H2LH", raw[at:at + 22])
    if at + 22 + comment != len(raw):
        raise error(_hostile(msg("has bytes after its zip archive's end")), file=name)
    ends_at = at
    if parts == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF:      # zip64: the real figures are earlier
        locator = raw[at - 20:at] if at >= 20 else b""
        if not locator.startswith(_END64_LOCATOR):
            raise error(_unreadable(msg("its zip64 end record is missing")), file=name)
        ends_at = struct.unpack("<4sLQL", locator)[2]
        record = raw[ends_at:ends_at + 56]
        if len(record) < 56 or not record.startswith(_END64):
            raise error(_unreadable(msg("its zip64 end record is missing")), file=name)
        parts, size, offset = struct.unpack("<4sQ2H2L4Q", record)[6:9]
    if parts > MAX_PARTS or size > MAX_DIRECTORY:
        raise error(msg("has {parts:,} parts in a directory of {size:,} bytes (the cap for a workbook is {cap:,} "
                        "parts); refused", parts=parts, size=size, cap=MAX_PARTS), file=name)
    if offset + size != ends_at:
        raise error(_hostile(msg("has bytes before or inside its zip archive")), file=name)
    return offset, parts


def _data_start(raw: bytes, info: zipfile.ZipInfo, name: str, error: type[ProblemsError]) -> int:
    """Where a part's compressed bytes start: after its local header, whose own name and extra lengths count
    (they may differ from the directory's, and the reader skips the local ones)."""
    at = info.header_offset
    header = raw[at:at + 30]
    if len(header) < 30 or not header.startswith(_LOCAL):
        raise error(_unreadable(msg("the part {part} has no local header", part=quote(info.filename))), file=name)
    name_length, extra_length = struct.unpack("<2H", header[26:30])
    return int(at + 30 + name_length + extra_length)


def _inflate(raw: bytes, start: int, end: int, info: zipfile.ZipInfo, total: int, name: str,
             error: type[ProblemsError], area: _Area | None = None) -> int:
    """Inflate one part, counting; returns the running total. Stops as soon as the part passes its claim or a cap."""
    part = info.filename
    if info.compress_type == _STORED:
        if info.compress_size != info.file_size:
            raise error(_hostile(msg("the part {part} is stored as {stored:,} bytes but declares {declared:,}",
                                     part=quote(part), stored=info.compress_size, declared=info.file_size)), file=name)
        if area is not None:
            area.feed(bytes(raw[start:end]))
        return _counted(total + info.file_size, name, error)
    source = memoryview(raw)[start:end]
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    produced, fed = 0, 0
    try:
        while not inflater.eof:
            pending: bytes | memoryview = inflater.unconsumed_tail
            if not pending:
                if fed >= len(source):
                    break
                pending, fed = source[fed:fed + FEED], fed + min(FEED, len(source) - fed)
            piece = inflater.decompress(pending, PIECE)
            produced += len(piece)
            if area is not None:
                area.feed(piece)
            if produced > info.file_size:
                raise error(_bomb(msg("the part {part} inflates past the {declared:,} bytes it declares",
                                      part=quote(part), declared=info.file_size)), file=name)
            _counted(total + produced, name, error)
            _ratio(part, produced, fed - len(inflater.unconsumed_tail), name, error)
    except zlib.error as exc:
        raise error(_unreadable(msg("the part {part} is damaged ({detail})", part=quote(part),
                                    detail=quote(str(exc), 200))), file=name) from None
    if not inflater.eof or produced != info.file_size:
        raise error(_unreadable(msg("the part {part} inflates to {size:,} bytes, not the {declared:,} it declares",
                                    part=quote(part), size=produced, declared=info.file_size)), file=name)
    return total + produced


def _counted(total: int, name: str, error: type[ProblemsError]) -> int:
    if total > MAX_INFLATED:
        raise error(_bomb(msg("inflates past {cap} (the cap for a workbook)", cap=_mib(MAX_INFLATED))), file=name)
    return total
