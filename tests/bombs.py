"""Decompression-bomb workbooks for tests and benchmarks, written without holding what they inflate to.

A bomb is the collection template whose centres sheet gains gigabytes of identical rows. Deflating
gigabytes takes zlib several seconds a GiB even at its fastest, so the repeated rows are deflated once:
a block ending in a full flush starts from an empty history and ends byte-aligned, so the same
compressed bytes written again and again are one valid deflate stream (level 9) that inflates to the
rows again and again. The archive around it is written field by field, so its headers can also lie.
"""
from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

GiB = 1 << 30
ROW = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
BLOCK = ROW * ((1 << 20) // len(ROW))               # about 1 MiB of rows
CENTRES_PART = "xl/worksheets/sheet2.xml"           # the template's centres sheet (sheet1 is its notes)


def _deflated(prefix: bytes, repeats: int, suffix: bytes) -> tuple[list[bytes], int, int, int]:
    """(pieces of a raw deflate stream, how often the middle piece repeats, compressed size, inflated size)
    of prefix + BLOCK × repeats + suffix."""
    first = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = first.compress(prefix) + first.flush(zlib.Z_FULL_FLUSH)
    middle = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = middle.compress(BLOCK) + middle.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    tail = last.compress(suffix) + last.flush(zlib.Z_FINISH)
    size = len(head) + len(block) * repeats + len(tail)
    return [head, block, tail], repeats, size, len(prefix) + len(BLOCK) * repeats + len(suffix)


def write_archive(target: Path, parts: list[tuple[str, Iterator[bytes], int, int, int]], *, flags: int = 0,
                  method: int = 8, offsets: dict[int, int] | None = None) -> Path:
    """A zip archive of (name, compressed pieces, compressed size, declared size, CRC) parts, header by header:
    ``flags`` and ``method`` for every part, ``offsets`` to point the directory entry of part i elsewhere."""
    central: list[bytes] = []
    with open(target, "wb") as out:
        for i, (name, pieces, size, declared, crc) in enumerate(parts):
            raw_name = name.encode("utf-8")
            offset = out.tell()
            out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0, crc, size, declared,
                                  len(raw_name), 0) + raw_name)
            for piece in pieces:
                out.write(piece)
            offset = (offsets or {}).get(i, offset)
            central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, method, 0, 0, crc, size,
                                       declared, len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name)
        start = out.tell()
        out.write(b"".join(central))
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central),
                              out.tell() - start, start, 0))
    return target


def deflated_part(name: str, data: bytes) -> tuple[str, Iterator[bytes], int, int, int]:
    """One honest deflated part for :func:`write_archive`."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    compressed = packer.compress(data) + packer.flush()
    return name, iter([compressed]), len(compressed), len(data), zlib.crc32(data)


def write_bomb(target: Path, template: Path, inflated: int = 3 * GiB, lie: int | None = None) -> Path:
    """The template at ``template`` with its centres sheet grown to about ``inflated`` bytes; with ``lie``,
    that part declares it inflates to ``lie`` bytes (a "lying header"). Sizes stay below 4 GiB (no zip64)."""
    source = zipfile.ZipFile(template)
    parts = []
    for info in source.infolist():
        data = source.read(info.filename)
        if info.filename != CENTRES_PART:
            parts.append(deflated_part(info.filename, data))
            continue
        cut = data.index(b"</sheetData>")
        repeats = max(1, inflated // len(BLOCK))
        (head, block, tail), repeats, size, usize = _deflated(data[:cut], repeats, data[cut:])
        assert usize < 1 << 32 and size < 1 << 32
        pieces = iter([head, *(block for _ in range(repeats)), tail])
        parts.append((info.filename, pieces, size, usize if lie is None else lie, 0))   # the CRC is never reached
    return write_archive(target, parts)
