"""A centre's line of summary.csv, made where its row of the round's tables is made.

Without a previous round, self-checks or waivers, every cell of a centre's line but its rank is known
once it is scored: the worker that scores it writes the line (after the rank) into the centre's row, and
summary.csv at the end only puts the lines in rank order, rather than reading each row's figures back
and writing them again one by one in the round's own process.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any, Mapping, Sequence

FORMULA_START = ("=", "+", "-", "@")
_QUOTE_OR_END = re.compile(r'["\r\n]').search
# Scores are whole tenths: their text looked up, not made again (a float's repr is a quarter of a line's time).
_TENTHS = {k / 10: repr(k / 10) for k in range(1, 1001)}


class _Cells(dict[Any, str]):
    """A float's or None's cell, looked up: nothing for None, a whole tenth's text, else its ``repr``."""

    def __missing__(self, key: Any) -> str:
        return repr(key)


_CELLS = _Cells(_TENTHS)
_CELLS[None] = ""


def csv_cell(value: Any) -> Any:
    """A cell Excel shows as text, never runs as a formula (a profile's text can start with =); not text: as it is."""
    if type(value) is str and value[:1] in FORMULA_START and not _numeric(value):
        return "'" + value
    return value


def _numeric(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def summary_tails(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each row's line of summary.csv after its rank and its comma, ending in CR LF (as the csv module writes it)."""
    return [summary_tail(row["id"], row["name"], row["region"], row["score"], row["grade"], row["verdict"],
                         row["cats"], row["veto"], row["actions"], row["loc"]) for row in rows]


def summary_tail(center_id: str, name: str, region: Sequence[str], score: Any, grade: str, verdict: str,
                 cats: Sequence[Any], veto: Sequence[str], actions: int, loc: str) -> str:
    """One row's line of summary.csv after its rank, as the csv module writes it, in a round without a previous
    round, self-checks or waivers (which add columns before the last three). The text a profile brings (id, name,
    region, source) is kept from running as a formula.

    A line none of whose cells holds a comma, a quote or a line end needs no quoting: its cells joined by commas
    are what the csv module writes (text as it is, a number as ``repr`` gives it, nothing for None), in a fraction
    of the time. Any other line is written by the csv module."""
    text = [center_id, name, *region]
    for i, value in enumerate(text):
        if value[:1] in FORMULA_START:
            text[i] = csv_cell(value)
    if loc[:1] in FORMULA_START:
        loc = csv_cell(loc)
    cells = [*text, _number(score), grade, verdict, *map(_number, cats), ";".join(veto), _number(actions), loc]
    line = ",".join(cells)
    if line.count(",") == len(cells) - 1 and _QUOTE_OR_END(line) is None:
        return line + "\r\n"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()


def summary_lines(ids: Sequence[str], names: Sequence[str], regions: Sequence[Sequence[str]], scores: Sequence[float],
                  grades: Sequence[str], verdicts: Sequence[str], cats: Sequence[Sequence[Any]],
                  vetoes: Sequence[Sequence[str]], actions: Sequence[int], locs: Sequence[str]) -> list[str]:
    """:func:`summary_tail` of many rows at once (a chunk's, column by column): where no text cell of any row needs
    quoting, each line is its cells joined by commas; else each line is :func:`summary_tail`'s."""
    if not ids:
        return []
    text = [list(ids), list(names), *map(list, zip(*regions)), list(locs)]
    for column in text:
        for i, value in enumerate(column):
            if value[:1] in FORMULA_START:
                column[i] = csv_cell(value)
    veto = [";".join(v) for v in vetoes]
    words = "".join(["".join(column) for column in text] + veto + list(grades) + list(verdicts))
    if "," in words or _QUOTE_OR_END(words) is not None:
        return [summary_tail(*row) for row in zip(ids, names, regions, scores, grades, verdicts, cats, vetoes,
                                                  actions, locs)]
    numbers = [_numbers(scores), *map(_numbers, zip(*cats))]
    cells = [*text[:6], numbers[0], grades, verdicts, *numbers[1:], veto, list(map(_number, actions)), text[6]]
    return [line + "\r\n" for line in map(",".join, zip(*cells))]


_FLOAT_OR_NONE = {float, type(None)}


def _numbers(column: Sequence[Any]) -> list[str]:
    """:func:`_number` of each value; a column of floats and None only (a chunk's scores) is looked up whole."""
    if set(map(type, column)) <= _FLOAT_OR_NONE:
        return list(map(_CELLS.__getitem__, column))
    return list(map(_number, column))


def _number(value: Any) -> str:
    """A number's cell as the csv module writes it: ``repr`` (a whole tenth's looked up), nothing for None."""
    return _CELLS[value] if type(value) is float or value is None else repr(value)


def tail_of(data: bytes, start: int = 0, end: int | None = None) -> bytes:
    """The line a row of the round's tables carries (its last key, ``csv``) as UTF-8, read without reading the row's
    figures: the row is ``data[start:end]`` (a block of the rows file, or the row alone). The line is cut from it as
    it is when nothing in it is escaped (orjson writes every character but quotes, backslashes and controls as
    itself: the line's CR LF is the only escape of a common line), with no copy of the row; else decoded; the whole
    row is read when something follows the line (the warnings of a centre audited all the same)."""
    import orjson

    if end is None:
        end = len(data)
    at = data.rfind(b',"csv":"', start, end)
    if at >= 0 and data.startswith(b'"}', end - 2):
        if end - 6 >= at + 8 and data.startswith(b"\\r\\n", end - 6) and data.find(b"\\", at + 8, end - 6) < 0:
            return data[at + 8:end - 6] + b"\r\n"
        return str(orjson.loads(data[at + 7:end - 1])).encode("utf-8")
    found = orjson.loads(data[start:end])
    return (str(found["csv"]) if "csv" in found else summary_tails([found])[0]).encode("utf-8")
