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
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..contract import profile_schema
from ..errors import PathItem, Problem
from ..model import CODE_LISTS, Vocabulary

#: Chinese headers for the scalar fields (the key is the header's second line and the CSV header).
LABELS: Mapping[str, str] = {
    "center.id": "中心编码", "center.name": "中心名称", "center.community": "所属社区",
    "center.region.province": "省", "center.region.city": "市", "center.region.district": "区县",
    "center.region.street": "街道（镇）", "center.setting": "城市/农村", "center.housing": "住房类型",
    "center.assessed_on": "检查日期",
    "population.households": "户数", "population.residents": "常住人口",
    "space.total_area_m2": "用房总面积（m²）", "space.service_hall_floor": "服务大厅所在楼层",
    "space.open_plan": "开放式无柜台",
    "staff.community_workers": "专职社区工作者（人）", "staff.certified_social_workers": "持证社工（人）",
    "staff.college_educated": "大专及以上（人）", "staff.uniform_badges": "统一工作牌", "staff.ab_backup": "AB岗",
    "staff.grid_workers": "专职网格员（人）",
    "services.single_window": "一窗受理", "services.first_inquiry_responsibility": "首问责任制",
    "services.weekly_opening_hours": "每周开放小时", "services.after_hours_service": "8小时外服务",
    "services.grid_coverage": "网格覆盖率（0–1）", "services.satisfaction_rate": "满意度（0–1）",
    "services.grids": "网格数", "services.task_list_posted": "公示工作事项清单",
    "services.tasks_outside_list": "清单外事项（近12个月）", "services.deliberation_sessions_12m": "小巷公议日（近12个月次数）",
    "services.legal_service_days_12m": "律师驻室（近12个月天数）", "services.volunteers": "注册志愿者（人）",
}
LIST_LABELS: Mapping[str, str] = {
    "signage": "标识", "amenities": "便民设施", "services.feedback_loop": "民情闭环",
    "services.key_group_register": "重点人群台账",
}
ENUM_LABELS: Mapping[str, Mapping[str, str]] = {
    "center.setting": {"urban": "城市", "rural": "农村"},
    "center.housing": {"old": "老旧小区", "commercial": "商品房", "resettlement": "安置小区", "mixed": "混合"},
}
ZONE_FIELDS = ("kind", "area_m2", "name")
ZONE_LABELS = {"kind": "功能区类型", "area_m2": "面积（m²）", "name": "名称"}
YES, NO = "是", "否"
_TRUE = {"是", "yes", "y", "true", "t", "1", "√", "✓", "有"}
_FALSE = {"否", "no", "n", "false", "f", "0", "×", "✗", "无"}
_ZONE_COLUMN = re.compile(r"^zone_([1-9][0-9]{0,3})_(kind|area_m2|name)$")


@dataclass(frozen=True)
class Column:
    """One column of the centres table."""

    key: str                      # the header: a profile key, or list.code for a yes/no column of a code list
    path: tuple[str, ...]         # where its value goes in a profile
    kind: str                     # text | integer | number | boolean | choice | date | code
    label: str                    # the Chinese header
    choices: tuple[str, ...] = ()
    code: str | None = None       # for a code list's yes/no column

    @property
    def list_key(self) -> str:
        return ".".join(self.path)


def columns(vocabulary: Vocabulary) -> list[Column]:
    """The centres table's columns, in the order of the published profile schema."""
    out: list[Column] = []

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
                    label = f"{LIST_LABELS.get(key, key)}：{vocabulary.label(vocab, code, 'zh')}"
                    out.append(Column(f"{key}.{code}", path, "code", label, (YES, NO), code))
            elif kind == "array" or key == "schema_version":
                continue
            elif "enum" in sub:
                out.append(Column(key, path, "choice", LABELS.get(key, key), tuple(sub["enum"])))
            elif key == "center.assessed_on":
                out.append(Column(key, path, "date", LABELS.get(key, key)))
            else:
                out.append(Column(key, path, {"string": "text"}.get(kind or "", kind or "text"),
                                  LABELS.get(key, key), (YES, NO) if kind == "boolean" else ()))

    walk(profile_schema(), ())
    return out


# --------------------------------------------------------------------------- a profile → a row

def _cell(value: Any, column: Column) -> Any:
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
        if col.kind == "code":
            if node is not None:
                row[col.key] = YES if col.code in node else NO
        elif node is not None:
            row[col.key] = _cell(node, col)
    zones = [{k: (_cell(v, _AREA) if k == "area_m2" else v) for k, v in z.items()}
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
             ) -> tuple[dict[str, Any], list[tuple[tuple[PathItem, ...], str]]]:
        """(document, problems as (json path, message)). ``cells`` maps column keys to raw cell values."""
        doc: dict[str, Any] = {"schema_version": 1}
        problems: list[tuple[tuple[PathItem, ...], str]] = []
        lists: dict[tuple[str, ...], list[str] | None] = {}
        for key, raw in cells.items():
            col = self.cols.get(key)
            if col is None or _blank(raw):
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
                if _blank(raw):
                    continue
                if name == "area_m2":
                    value, message = _convert(raw, _AREA)
                    if message:
                        problems.append((("space", "zones", i, name), message))
                        continue
                    item[name] = value
                else:
                    text = _text(raw)
                    item[name] = self.kinds.get(text, text) if name == "kind" else text    # 综合服务大厅 or service_hall
            out_zones.append(item)
        if out_zones:
            space["zones"] = out_zones      # none at all is left absent: "required key 'zones' is missing"
        return doc, problems


def _put(doc: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))                 # a number typed into a text column: 330212, not 330212.0
    if isinstance(raw, (datetime.datetime, datetime.date)):
        return raw.isoformat()[:10]
    return str(raw).strip()


def _boolean(raw: Any) -> tuple[bool, str | None]:
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw), None
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True, None
    if text in _FALSE:
        return False, None
    return False, f"{str(raw)[:40]!r} is not a yes/no answer; write 是 or 否"


def _number(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, bool):
        return None, f"{raw!r} is not a number"
    if isinstance(raw, (int, float)):
        if isinstance(raw, float) and not math.isfinite(raw):
            return None, f"{raw!r} is not a finite number"
        return raw, None
    text = str(raw).strip().replace(",", "").replace("，", "")
    try:
        value = float(text)
    except ValueError:
        return None, f"{str(raw)[:40]!r} is not a number"
    if not math.isfinite(value):
        return None, f"{str(raw)[:40]!r} is not a finite number"
    return (int(value) if re.fullmatch(r"[-+]?\d+", text) else value), None


def _convert(raw: Any, col: Column) -> tuple[Any, str | None]:
    if col.kind == "boolean":
        return _boolean(raw)
    if col.kind in ("integer", "number"):
        value, message = _number(raw)
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
                return None, f"{value!r} is not a whole number"
            return int(value), None
        return value, None
    if col.kind == "choice":
        text = _text(raw)
        reverse = {v: k for k, v in ENUM_LABELS.get(col.key, {}).items()}
        return reverse.get(text, text), None          # 城市 or urban
    if col.kind == "date":
        return _text(raw), None
    return _text(raw), None


def field_labels(vocabulary: Vocabulary) -> dict[str, str]:
    """Each column's Chinese label by its key (``space.total_area_m2`` → 用房总面积（m²）), zones' fields too."""
    labels = {c.key: c.label for c in columns(vocabulary)}
    labels.update({f"space.zones.{name}": label for name, label in ZONE_LABELS.items()})
    return labels


def label_of(path: Sequence[PathItem], labels: Mapping[str, str]) -> str:
    """The label of the column a JSON path lives in, or of its nearest enclosing one; "" when none."""
    key = ".".join(str(p) for p in path if not isinstance(p, int))
    while key:
        if key in labels:
            return labels[key]
        key = key.rpartition(".")[0]
    return ""


def zone_kind_names(vocabulary: Vocabulary) -> dict[str, str]:
    """Each zone kind's Chinese name → its code (names two kinds share are left out: only codes then)."""
    names: dict[str, str] = {}
    shared: set[str] = set()
    for code in vocabulary.entries.get("zone_kinds", {}):
        name = vocabulary.label("zone_kinds", code, "zh")
        if name in names:
            shared.add(name)
        names[name] = code
    return {name: code for name, code in names.items() if name not in shared and name != code}


_AREA = Column("area_m2", ("area_m2",), "number", ZONE_LABELS["area_m2"])


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
        if all(_blank(v) for v in values.values()):
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


def problem(message: str, path: tuple[PathItem, ...], location: str) -> Problem:
    return Problem(message, path, location)
