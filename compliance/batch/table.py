"""A profile as a row of a table, and back: the layout shared by CSV, the xlsx workbook and the template.

One row per centre. Scalar fields are one column each, headed by their profile key
(``population.households``); a code list is one yes/no column per code of its
vocabulary (``signage.grid_map``), and a list whose cells are all blank is absent
(its clauses are then not evidenced) while one with any answer is present, blanks
counting as no. Zones are numbered column groups in CSV (``zone_1_kind``,
``zone_1_area_m2``, ``zone_1_name``, …) and rows of their own sheet in a workbook.

Cells are read as a spreadsheet writes them: whole numbers stay whole where the
schema says integer, ids stay text (leading zeros kept), yes/no cells accept
是/否, yes/no, true/false and 1/0. The columns come from the published profile
schema and the rule set's vocabularies, so a new profile key or code needs no code
here — only its Chinese label below.
"""
from __future__ import annotations

import datetime
import decimal
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..contract import profile_schema
from ..errors import PathItem
from ..fields import CHOICES, FIELDS
from ..i18n import LANGS, Message, msg, quote, text
from ..model import CODE_LISTS, Vocabulary

#: Each field's name in the workbook (its Chinese name in the catalogue: 用房总面积（m²）), by its key.
LABELS: Mapping[str, str] = {key: text(name, "zh") for key, name in FIELDS.items()}
LIST_LABELS: Mapping[str, str] = {key: LABELS[key] for key in ("signage", "amenities", "services.feedback_loop",
                                                                "services.key_group_register")}
ENUM_LABELS: Mapping[str, Mapping[str, str]] = {
    key: {code: text(name, "zh") for code, name in names.items()} for key, names in CHOICES.items()}
ZONE_FIELDS = ("kind", "area_m2", "name")
#: a choice as a person may write it (its name in any language, or its code) → its code
CHOICE_CODES: Mapping[str, Mapping[str, str]] = {
    key: {**{text(name, lang): code for lang in LANGS for code, name in names.items()},
          **{text(name, "en").capitalize(): code for code, name in names.items()}}
    for key, names in CHOICES.items()}
ZONE_LABELS = {name: LABELS[f"space.zones.{name}"] for name in ZONE_FIELDS}
YES, NO = "是", "否"
_TRUE = {"是", "yes", "y", "true", "t", "1", "√", "✓", "有"}
_FALSE = {"否", "no", "n", "false", "f", "0", "×", "✗", "无"}
#: lists of names held in one cell, joined by 、 (an inspection's inspectors: 王敏、李强); read back split at 、 ; ， ,
NAME_LISTS = frozenset({"audit.inspectors"})
NAME_JOINER = "、"
_NAME_SPLIT = re.compile(r"[、;；,，]")
_ZONE_COLUMN = re.compile(r"^zone_([1-9][0-9]{0,3})_(kind|area_m2|name)$")


@dataclass(frozen=True)
class Column:
    """One column of the centres table."""

    key: str                      # the header: a profile key, or list.code for a yes/no column of a code list
    path: tuple[str, ...]         # where its value goes in a profile
    kind: str                     # text | integer | number | boolean | choice | date | code
    label: str                    # the header: the field's name (Chinese unless asked otherwise)
    choices: tuple[str, ...] = ()
    code: str | None = None       # for a code list's yes/no column
    minimum: float | None = None  # a number's bounds, as the profile schema gives them
    maximum: float | None = None
    above: float | None = None    # a bound the number must exceed (the schema's exclusiveMinimum)

    @property
    def list_key(self) -> str:
        return ".".join(self.path)

    @property
    def is_share(self) -> bool:
        """A share of a whole (0 to 1: coverage, satisfaction), which a spreadsheet shows as a percentage."""
        return self.kind == "number" and self.minimum == 0 and self.maximum == 1


def columns(vocabulary: Vocabulary, lang: str = "zh") -> list[Column]:
    """The centres table's columns, in the order of the published profile schema, named in ``lang``."""
    out: list[Column] = []

    def heading(key: str) -> str:
        return text(FIELDS[key], lang) if key in FIELDS else key

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for name, sub in node.get("properties", {}).items():
            path = prefix + (name,)
            key = ".".join(path)
            kind = sub.get("type")
            if kind == "object":
                walk(sub, path)
            elif key in CODE_LISTS and key != "zones":
                vocab = CODE_LISTS[key]
                for code in vocabulary.entries.get(vocab, {}):
                    label = text(msg("{list}: {item}", list=heading(key), item=vocabulary.label(vocab, code, lang)), lang)
                    out.append(Column(f"{key}.{code}", path, "code", label, (YES, NO), code))
            elif key in NAME_LISTS:
                out.append(Column(key, path, "names", heading(key)))
            elif kind == "array" or key == "schema_version":
                continue
            elif "enum" in sub:
                out.append(Column(key, path, "choice", heading(key), tuple(sub["enum"])))
            elif key == "center.assessed_on":
                out.append(Column(key, path, "date", heading(key)))
            else:
                out.append(Column(key, path, {"string": "text"}.get(kind or "", kind or "text"),
                                  heading(key), (YES, NO) if kind == "boolean" else (), minimum=sub.get("minimum"),
                                  maximum=sub.get("maximum"), above=sub.get("exclusiveMinimum")))

    walk(profile_schema(), ())
    return out


# --------------------------------------------------------------------------- a profile → a row

def _cell(value: Any, column: Column) -> Any:
    if column.kind == "names":
        return NAME_JOINER.join(str(v) for v in value) if isinstance(value, (list, tuple)) else value
    if column.kind == "boolean":
        return YES if value else NO
    if column.kind == "number" and isinstance(value, float) and value.is_integer():
        return repr(value)                 # "1.0": a numeric cell would come back as the integer 1
    if column.kind == "number" and isinstance(value, float) and float(f"{value:.16g}") != value:
        return repr(value)                 # openpyxl writes 16 digits: 0.30000000000000004 would come back 0.3
    return value


def to_row(document: Mapping[str, Any], cols: Sequence[Column]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The cells of one centre (blank where the profile has nothing) and its zones."""
    row: dict[str, Any] = {}
    for col in cols:
        node: Any = document
        for key in col.path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is None and col.key == "audit.kind" and isinstance(document.get("audit"), Mapping):
            node = "self_check"            # an empty audit block is a declared self-check: blank cells would drop it
        if col.kind == "code":
            if node is not None:
                row[col.key] = YES if col.code in node else NO
        elif node is not None:
            row[col.key] = _cell(node, col)
    zones = [{k: (_cell(v, ZONE_AREA) if k == "area_m2" else v) for k, v in z.items()}
             for z in document.get("space", {}).get("zones", [])]
    return row, zones


# --------------------------------------------------------------------------- a row → a profile

Locate = Callable[[tuple[PathItem, ...]], str]


class RowReader:
    """Turns the cells of one centre into a profile document, noting every cell it cannot read."""

    def __init__(self, cols: Sequence[Column], vocabulary: Vocabulary | None = None) -> None:
        self.cols = {c.key: c for c in cols}
        self.kinds = zone_kind_names(vocabulary) if vocabulary is not None else {}

    def read(self, cells: Mapping[str, Any], zones: Sequence[Mapping[str, Any]],
             where: Callable[[str, int | None], tuple[PathItem, ...]] | None = None
             ) -> tuple[dict[str, Any], list[tuple[tuple[PathItem, ...], Message]]]:
        """(document, problems as (json path, message)). ``cells`` maps column keys to raw cell values."""
        doc: dict[str, Any] = {"schema_version": 1}
        problems: list[tuple[tuple[PathItem, ...], Message]] = []
        lists: dict[tuple[str, ...], list[str] | None] = {}
        for key, raw in cells.items():
            col = self.cols.get(key)
            if col is None or (raw in (None, "") if col.kind == "text" else blank(raw)):
                if col is not None and col.kind == "code":
                    lists.setdefault(col.path, None)
                continue
            if col.kind == "code":
                flag, message = _boolean(raw)
                if message:
                    # The path names the column (signage.grid_map), so the problem points at its cell.
                    problems.append(((*col.path, col.code or ""), message))
                    continue
                present = lists.get(col.path) or []
                if flag:
                    present.append(col.code or "")
                lists[col.path] = present
                continue
            value, message = _convert(raw, col)
            if message:
                problems.append((col.path, message))
                continue
            _put(doc, col.path, value)
        for path, answers in lists.items():
            if answers is not None:
                _put(doc, path, answers)
        space = doc.setdefault("space", {})
        out_zones = []
        for i, zone in enumerate(zones):
            item: dict[str, Any] = {}
            for name in ZONE_FIELDS:
                raw = zone.get(name)
                if (raw in (None, "")) if name == "name" else blank(raw):
                    continue
                if name == "area_m2":
                    value, message = _convert(raw, ZONE_AREA)
                    if message:
                        problems.append((("space", "zones", i, name), message))
                        continue
                    item[name] = value
                elif name == "kind":
                    written = text_of(raw)
                    item[name] = self.kinds.get(written, written)      # 综合服务大厅 or service_hall
                else:
                    item[name] = exact_text(raw)
            out_zones.append(item)
        if out_zones:
            space["zones"] = out_zones      # none at all is left absent: "required key 'zones' is missing"
        return doc, problems


def _put(doc: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def blank(raw: Any) -> bool:
    """A cell with nothing in it: empty, or only spaces."""
    return raw is None or (isinstance(raw, str) and not raw.strip())


def exact_text(raw: Any) -> str:
    """A text cell as it holds the text, spaces and all (a profile's text reads back as it was written); a number
    typed into it as people write the number."""
    if isinstance(raw, str):
        return raw
    return text_of(raw)


def text_of(raw: Any) -> str:
    """A cell as the text a person typed (an id typed as a number keeps no ``.0``; a date its ISO form)."""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))                 # a number typed into a text column: 330212, not 330212.0
    if isinstance(raw, (datetime.datetime, datetime.date)):
        return raw.isoformat()[:10]
    return str(raw).strip()


def _boolean(raw: Any) -> tuple[bool, Message | None]:
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw), None
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True, None
    if text in _FALSE:
        return False, None
    return False, msg("{value} is not a yes/no answer; write {yes} or {no}", value=_cell_text(raw), yes=quote(YES),
                      no=quote(NO))


def _cell_text(raw: Any) -> str:
    """A cell as a message quotes it: text in quotes, a number as it is (-40, not '-40')."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return quote(int(raw) if isinstance(raw, float) and raw.is_integer() else raw)
    return quote(str(raw))


_PERCENT = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*%$")


def _share(raw: Any) -> tuple[Any, Message | None]:
    """A share as a spreadsheet holds it (0.95 in a cell formatted as a percentage) or as people write it in text
    (``95%``, ``95 %``, ``９５％``, ``0.95``)."""
    if isinstance(raw, str):
        written = unicodedata.normalize("NFKC", raw).strip()
        match = _PERCENT.match(written)
        if match:
            return float(decimal.Decimal(match.group(1)) / 100), None
    return _number(raw)


def _number(raw: Any) -> tuple[Any, Message | None]:
    if isinstance(raw, bool):
        return None, msg("{value} is not a number", value=quote(raw))
    if isinstance(raw, (int, float)):
        if isinstance(raw, float) and not math.isfinite(raw):
            return None, msg("{value} is not a finite number", value=quote(raw))
        return raw, None
    text = str(raw).strip().replace(",", "").replace("，", "")
    try:
        value = float(text)
    except ValueError:
        return None, msg("{value} is not a number", value=_cell_text(raw))
    if not math.isfinite(value):
        return None, msg("{value} is not a finite number", value=_cell_text(raw))
    return (int(value) if re.fullmatch(r"[-+]?\d+", text) else value), None


def _convert(raw: Any, col: Column) -> tuple[Any, Message | None]:
    if col.kind == "boolean":
        return _boolean(raw)
    if col.kind in ("integer", "number"):
        value, message = _share(raw) if col.is_share else _number(raw)
        if message:
            return value, message
        if col.kind == "number":
            # A workbook stores every number as a float: 45 comes back 45.0, so a whole number from a
            # numeric cell is read as an integer, as people write it. (A whole float such as 1.0 is
            # exported as the text "1.0", which reads back as the float it was.)
            whole = isinstance(raw, float) and isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53
            return (int(value) if whole else value), None
        if isinstance(value, float):
            if not value.is_integer():
                return None, msg("{value} is not a whole number", value=quote(value))
            return int(value), None
        return value, None
    if col.kind == "choice":
        written = text_of(raw)
        return CHOICE_CODES.get(col.key, {}).get(written, written), None          # 城市, urban or Urban
    if col.kind == "date":
        return text_of(raw), None
    if col.kind == "names":
        return [name.strip() for name in _NAME_SPLIT.split(text_of(raw)) if name.strip()], None
    return exact_text(raw), None


def field_labels(vocabulary: Vocabulary, lang: str = "zh") -> dict[str, str]:
    """Each column's name by its key (``space.total_area_m2`` → 用房总面积（m²）), zones' fields too."""
    labels = {c.key: c.label for c in columns(vocabulary, lang)}
    labels.update({f"space.zones.{name}": text(FIELDS[f"space.zones.{name}"], lang) for name in ZONE_FIELDS})
    return labels


def label_of(path: Sequence[PathItem], labels: Mapping[str, str]) -> str:
    """The label of the column a JSON path lives in, or of its nearest enclosing one; "" when none."""
    key = ".".join(str(p) for p in path if not isinstance(p, int))
    while key:
        if key in labels:
            return labels[key]
        key = key.rpartition(".")[0]
    return ""


def zone_kind_names(vocabulary: Vocabulary, langs: Sequence[str] = LANGS) -> dict[str, str]:
    """Each zone kind's name (in Chinese, and in English: a workbook made with ``--lang en`` offers those) → its
    code; a name two kinds share, or that is another kind's code, is left out (only codes then)."""
    names: dict[str, str] = {}
    shared: set[str] = set()
    codes = vocabulary.entries.get("zone_kinds", {})
    for lang in langs:
        for code in codes:
            name = vocabulary.label("zone_kinds", code, lang)
            if names.get(name, code) != code or (name in codes and name != code):
                shared.add(name)
            names[name] = code
    return {name: code for name, code in names.items() if name not in shared and name != code}


ZONE_AREA = Column("area_m2", ("area_m2",), "number", ZONE_LABELS["area_m2"], minimum=0, maximum=1_000_000)


def zone_columns(count: int) -> list[str]:
    """The CSV headers of ``count`` zones: zone_1_kind, zone_1_area_m2, zone_1_name, zone_2_kind, …"""
    return [f"zone_{i}_{name}" for i in range(1, count + 1) for name in ZONE_FIELDS]


def zone_cells(cells: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """The zones held in a CSV row's numbered columns, in order, and header → (zone index, field)."""
    numbered: dict[int, dict[str, Any]] = {}
    where: dict[str, tuple[int, str]] = {}
    for header, raw in cells.items():
        match = _ZONE_COLUMN.match(header)
        if match:
            numbered.setdefault(int(match.group(1)), {})[match.group(2)] = raw
    zones: list[dict[str, Any]] = []
    for n in sorted(numbered):
        values = numbered[n]
        if all(blank(v) for v in values.values()):
            continue
        for name in ZONE_FIELDS:
            where[f"zone_{n}_{name}"] = (len(zones), name)
        zones.append(values)
    return zones, where


def is_zone_header(header: str) -> bool:
    return bool(_ZONE_COLUMN.match(header))


def unknown_headers(headers: Iterable[str], cols: Sequence[Column], extra: Iterable[str] = ()) -> list[str]:
    known = {c.key for c in cols} | set(extra)
    return [h for h in headers if h and h not in known and not is_zone_header(h)]
