"""The collection workbook a bureau sends to communities, and the exports between formats.

``compliance template centres.xlsx`` writes an empty workbook in the layout
:mod:`compliance.batch.sources` reads: a ``centres`` sheet (row 1 Chinese labels,
row 2 profile keys, one centre a row from row 3) with drop-down lists for every
choice and yes/no cell, a ``zones`` sheet (centre id, kind, area, name), an
instructions sheet ``说明`` and a hidden ``lists`` sheet the drop-downs read;
headers are frozen and id cells are text so leading zeros survive.

``compliance export INPUT… -o FILE`` writes the same centres as xlsx, CSV (UTF-8
with a BOM) or JSON Lines, without loss: auditing the export gives the result of
auditing the original.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import orjson

from ..model import Vocabulary, plain_document
from ..writing import write_atomic
from . import table
from .sources import CENTRES_SHEET, ZONE_HEADERS, ZONES_SHEET, column_letter

INSTRUCTIONS = [
    ("社区便民服务中心规范审计 · 数据采集表", ""),
    ("", ""),
    ("怎么填", "在“centres”表中每个中心填一行（从第 3 行开始）；第 1 行是中文名称，第 2 行是字段名，请勿修改这两行。"),
    ("", "在“zones”表中每个功能区填一行：中心编码、功能区类型、面积（m²）、名称；一个中心可以有多行。"),
    ("", "带下拉箭头的单元格请从列表中选择。是/否 列填“是”或“否”；一组是/否列全部留空表示没有该项资料（将记为未佐证）。"),
    ("", "中心编码按文本填写，开头的 0 会保留。日期写成 2026-11-01。面积、人数填数字。"),
    ("", "不知道或没有的数据请留空，不要填 0：0 表示确实为零。"),
    ("规则集", "本表按规则集 {rules} 制作。"),
    ("交回", "填好后交回民政局，用 compliance batch centres.xlsx --rules {rules} -o 结果文件夹 审计。"),
    ("", ""),
    ("How to fill it in", "One centre per row of the 'centres' sheet from row 3 (row 1: labels, row 2: profile keys; keep both)."),
    ("", "One zone per row of the 'zones' sheet: centre id, kind, area in m², name."),
    ("", "Choose from the drop-down lists. Yes/no columns take 是 or 否; a group left all blank means no data."),
    ("", "Leave unknown data blank rather than 0. Audit with: compliance batch centres.xlsx --rules {rules} -o OUTDIR"),
]


def _openpyxl() -> Any:
    import openpyxl

    return openpyxl


def build(path: str | os.PathLike[str], vocabulary: Vocabulary,
          rows: Iterable[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]] = (), rules: str = "national") -> None:
    """Write the workbook to ``path`` atomically, with the given (cells, zones) of each centre."""
    openpyxl = _openpyxl()
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    cols = table.columns(vocabulary)
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "说明"
    for r, (head, text) in enumerate(INSTRUCTIONS, start=1):
        notes.cell(r, 1, head).font = Font(bold=True)
        notes.cell(r, 2, text.replace("{rules}", rules))
    notes.column_dimensions["A"].width = 18
    notes.column_dimensions["B"].width = 110

    lists = book.create_sheet("lists")
    centres = book.create_sheet(CENTRES_SHEET, 1)
    zones = book.create_sheet(ZONES_SHEET, 2)
    head_fill = PatternFill("solid", fgColor="1F3B64")
    key_fill = PatternFill("solid", fgColor="E8ECF2")

    def header(sheet: Any, labels: Sequence[str], keys: Sequence[str], widths: Sequence[float]) -> None:
        for c, (label, key, width) in enumerate(zip(labels, keys, widths), start=1):
            top = sheet.cell(1, c, label)
            top.font, top.fill = Font(bold=True, color="FFFFFF"), head_fill
            top.alignment = Alignment(wrap_text=True, vertical="top")
            low = sheet.cell(2, c, key)
            low.font, low.fill = Font(color="555555", size=8), key_fill
            sheet.column_dimensions[column_letter(c - 1)].width = width
        sheet.freeze_panes = "B3"
        sheet.row_dimensions[1].height = 42

    header(centres, [c.label for c in cols], [c.key for c in cols],
           [24 if c.key in ("center.name", "center.id") else 12 if c.kind == "code" else 14 for c in cols])
    header(zones, ["中心编码", table.ZONE_LABELS["kind"], table.ZONE_LABELS["area_m2"], table.ZONE_LABELS["name"]],
           list(ZONE_HEADERS), [20, 16, 12, 28])

    # Drop-down lists read ranges of the hidden lists sheet: no 255-character formula limit.
    choice_lists: dict[str, str] = {}

    def choices(name: str, values: Sequence[str]) -> str:
        if name not in choice_lists:
            c = len(choice_lists)
            for r, value in enumerate(values, start=1):
                lists.cell(r, c + 1, value)
            letter = column_letter(c)
            choice_lists[name] = f"lists!${letter}$1:${letter}${max(1, len(values))}"
        return choice_lists[name]

    last = 2000
    for i, col in enumerate(cols):
        letter = column_letter(i)
        if col.kind in ("boolean", "code"):
            ref = choices("yesno", [table.YES, table.NO])
        elif col.kind == "choice":
            labels = table.ENUM_LABELS.get(col.key, {})
            ref = choices(col.key, [labels.get(v, v) for v in col.choices])
        else:
            if col.kind == "text" or col.kind == "date":
                for r in range(3, last + 1):
                    centres.cell(r, i + 1).number_format = "@"
            continue
        rule = DataValidation(type="list", formula1=f"={ref}", allow_blank=True, showErrorMessage=True,
                              errorTitle="请从列表中选择", error="请从下拉列表中选择。")
        rule.add(f"{letter}3:{letter}{last}")
        centres.add_data_validation(rule)
    kinds = list(vocabulary.entries.get("zone_kinds", {}))
    kind_names = {code: name for name, code in table.zone_kind_names(vocabulary).items()}
    offered = [kind_names.get(k, k) for k in kinds]         # the Chinese names; the codes are read too
    rule = DataValidation(type="list", formula1=f"={choices('zone_kinds', offered)}", allow_blank=True,
                          showErrorMessage=True, errorTitle="功能区类型", error="请从下拉列表中选择功能区类型。")
    rule.add(f"B3:B{last * 8}")
    zones.add_data_validation(rule)
    for r in range(3, last * 8 + 1):
        zones.cell(r, 1).number_format = "@"
    area = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                          showErrorMessage=True, errorTitle="面积", error="面积为不小于 0 的数字（m²）。")
    area.add(f"C3:C{last * 8}")
    zones.add_data_validation(area)
    # The kinds with their Chinese names, beside the codes the drop-down offers.
    notes.cell(len(INSTRUCTIONS) + 2, 1, "功能区类型").font = Font(bold=True)
    notes.cell(len(INSTRUCTIONS) + 2, 2, "下拉列表中是中文名称；填代码也可以。")
    for r, kind in enumerate(kinds, start=len(INSTRUCTIONS) + 3):
        notes.cell(r, 1, kind)
        notes.cell(r, 2, vocabulary.label("zone_kinds", kind, "zh"))
    lists.sheet_state = "hidden"

    zr = 3
    for r, (cells, zone_list) in enumerate(rows, start=3):
        for i, col in enumerate(cols, start=1):
            value = cells.get(col.key)
            if value is None:
                continue
            if col.kind == "choice":
                value = table.ENUM_LABELS.get(col.key, {}).get(value, value)
            cell = _text_cell(centres.cell(r, i, cell_text(value)))
            if col.kind in ("text", "date"):
                cell.number_format = "@"
        for zone in zone_list:
            _text_cell(zones.cell(zr, 1, cell_text(cells.get("center.id")))).number_format = "@"
            zone_kind: Any = zone.get("kind")
            _text_cell(zones.cell(zr, 2, cell_text(kind_names.get(zone_kind, zone_kind)) if isinstance(zone_kind, str)
                                  else zone_kind))
            if zone.get("area_m2") is not None:
                _text_cell(zones.cell(zr, 3, zone.get("area_m2")))
            if zone.get("name") is not None:
                _text_cell(zones.cell(zr, 4, cell_text(zone.get("name"))))
            zr += 1
    book.active = 1
    buffer = io.BytesIO()
    book.save(buffer)
    write_atomic(path, buffer.getvalue())


def export(documents: Iterable[Mapping[str, Any]], target: str | os.PathLike[str], vocabulary: Vocabulary,
           rules: str = "national") -> int:
    """Write profile documents to ``target`` (.xlsx, .csv or .jsonl) atomically; returns how many."""
    suffix = Path(target).suffix.lower()
    cols = table.columns(vocabulary)
    if suffix == ".jsonl":
        lines = [orjson.dumps(doc) + b"\n" for doc in documents]
        write_atomic(target, b"".join(lines))
        return len(lines)
    rows = [table.to_row(doc, cols) for doc in documents]
    if suffix == ".xlsx":
        build(target, vocabulary, rows, rules=rules)
        return len(rows)
    if suffix == ".csv":
        most = max((len(z) for _, z in rows), default=0)
        headers = [c.key for c in cols] + table.zone_columns(most)
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headers)
        for cells, zone_list in rows:
            line = [_csv_cell(cells.get(c.key)) for c in cols]
            for zone in zone_list:
                line += [_csv_cell(zone.get(name)) for name in table.ZONE_FIELDS]
            writer.writerow(line + [""] * (len(headers) - len(line)))
        write_atomic(target, "\ufeff" + out.getvalue())
        return len(rows)
    raise ValueError(f"cannot export to {suffix or 'a file without a suffix'}; use .xlsx, .csv or .jsonl")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def export_profiles(profiles: Iterable[Any], target: str | os.PathLike[str], vocabulary: Vocabulary,
                    rules: str = "national") -> int:
    """Write validated profiles to ``target`` (.xlsx, .csv or .jsonl) as they were given."""
    return export((plain_document(p) for p in profiles), target, vocabulary, rules)


def _text_cell(cell: Any) -> Any:
    """Text stays text: openpyxl would store "=1+2" from a profile as a formula (lost, and run by Excel)."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
    return cell


# A workbook's XML cannot hold control characters (nor keep a carriage return): OOXML writes each as _xHHHH_,
# which spreadsheet programs and the reader turn back into the character, and writes a "_x" that would read as
# such an escape with its underscore escaped (_x005F_), so every text of a profile reads back as it was.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")


def cell_text(value: Any) -> Any:
    """``value`` as a workbook cell holds it: text escaped as OOXML escapes it, anything else as it is. Text of
    spaces only is escaped whole: openpyxl marks spaces to keep only around other characters, and unmarked
    spaces are dropped by every reader."""
    if not isinstance(value, str):
        return value
    if value and not value.strip():
        return "".join(f"_x{ord(ch):04X}_" for ch in value)
    if _NOT_XML.search(value):
        return _NOT_XML.sub(lambda m: f"_x{ord(m.group(0)):04X}_", value)
    return value
