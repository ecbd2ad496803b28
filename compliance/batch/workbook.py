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
import datetime
import io
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import orjson

from ..fields import CHOICES, FIELDS
from ..i18n import Message, checked, msg, quote, text
from ..model import Vocabulary, plain_document
from ..writing import write_atomic
from . import table
from .sources import CENTRES_SHEET, ZONE_HEADERS, ZONES_SHEET, column_letter

NOTES_SHEET, LISTS_SHEET = "说明", "lists"      # the sheets' names are the layout's, in every language

#: The instructions sheet: (heading, text) lines, worded in the workbook's language (Chinese unless asked).
INSTRUCTIONS: tuple[tuple[Message | None, Message], ...] = (
    (msg("How to fill it in"), msg("On the sheet {centres}, one centre a row, from row 3. Row 1 holds the names and "
                                   "row 2 the field keys: change neither.", centres=quote(CENTRES_SHEET))),
    (None, msg("On the sheet {zones}, one functional zone a row: centre id, zone type, area (m²) and name. A centre "
               "may have several rows.", zones=quote(ZONES_SHEET))),
    (None, msg("Cells with a drop-down arrow take a choice from their list. Yes/no columns take {yes} or {no}; a group "
               "of yes/no columns (all the signs, say) left blank means there is no record of it, and its clauses are "
               "then not evidenced; once one is answered, blanks count as no.", yes="{yes}", no="{no}")),
    (None, msg("A selected cell says what it takes, and a value it cannot take is refused as it is typed: numbers in "
               "number columns, whole numbers for persons, days and sessions, a date in the date column.")),
    (None, msg("Centre ids are kept as text, leading zeros and all. Type dates as 2026-11-01.")),
    (None, msg("Rates (grid coverage, satisfaction) are percentages: type 95% (or 0.95).")),
    (None, msg("Leave what is not known blank rather than 0: 0 means there is none.")),
    (msg("Rule set"), msg("This workbook was made for the rule set {rules}.", rules="{rules}")),
    (msg("Returning it"), msg("Return it to the civil-affairs bureau once filled in. The bureau checks it with {validate} "
                              "and audits it with {batch}.", validate="{validate}", batch="{batch}")),
)
TITLE = msg("Community service centre audit · data collection workbook")
LAST_ROW = 1_048_576            # a column's checks and formats reach its last row: however many centres are entered
PERCENT = "0.0%"
DATE = "yyyy-mm-dd"
TEXT = "@"
PRACTICAL = 1_000_000           # an upper bound at least this large is checked but not said in a prompt
#: what a column takes, said beside some fields
FIELD_NOTES: Mapping[str, Message] = {
    "space.service_hall_floor": msg("1 is the ground floor, -1 the first floor below ground."),
    "center.id": msg("Kept as text: leading zeros stay."),
}


def _openpyxl() -> Any:
    import openpyxl

    return openpyxl


def _takes(col: table.Column | None, lang: str, kind: str = "") -> Message:
    """What a column takes, as its cells' prompt and their error say it: from the profile schema's bounds."""
    kind = kind or (col.kind if col is not None else "")
    if col is not None and col.is_share:
        return msg("A percentage from 0% to 100%: type 95% (or 0.95).")
    low = _bound(col.minimum if col is not None else None)
    high = _bound(col.maximum if col is not None else None)
    if high is not None and high >= PRACTICAL:         # 10,000,000 households: a bound only against typing slips
        high = None
    above = _bound(col.above if col is not None else None)
    if kind == "date":
        return msg("A date, typed as 2026-11-01.")
    if kind == "integer":
        if low is not None and high is not None:
            return msg("A whole number from {low} to {high}.", low=low, high=high)
        return msg("A whole number, {low} or more.", low=low if low is not None else 0)
    if above is not None:
        return msg("A number more than {above}.", above=above)
    if low is not None and high is not None:
        return msg("A number from {low} to {high}.", low=low, high=high)
    return msg("A number, {low} or more.", low=low if low is not None else 0)


def _bound(value: float | None) -> int | float | None:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _title(text_: str) -> str:
    """A prompt's or an error's title: spreadsheet programs take at most 32 characters."""
    return text_ if len(text_) <= 32 else text_[:31] + "…"


def build(path: str | os.PathLike[str], vocabulary: Vocabulary,
          rows: Iterable[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]] = (), rules: str = "national",
          lang: str = "zh") -> None:
    """Write the workbook to ``path`` atomically, with the given (cells, zones) of each centre. Its words (names,
    lists, what each cell takes, the instructions) are in ``lang``: Chinese, the communities' language, whatever
    language the command speaks; the reader takes the names of either language, and the codes."""
    openpyxl = _openpyxl()
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    lang = checked(lang)
    cols = table.columns(vocabulary, lang)
    yes, no = (table.YES, table.NO) if lang == "zh" else ("yes", "no")
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = NOTES_SHEET
    _instructions(notes, vocabulary, rules, lang, yes, no)

    lists = book.create_sheet(LISTS_SHEET)
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
        # Printed (a blank form, or what came back): A4 landscape, the two header rows and the first column on every
        # page.
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.page_setup.orientation = "landscape"
        sheet.print_title_rows = "1:2"
        sheet.print_title_cols = "A:A"

    zone_labels = [text(FIELDS["center.id"], lang), *(text(FIELDS[f"space.zones.{f}"], lang) for f in table.ZONE_FIELDS)]
    header(centres, [c.label for c in cols], [c.key for c in cols],
           [24 if c.key in ("center.name", "center.id") else 12 if c.kind == "code" else 14 for c in cols])
    header(zones, zone_labels, list(ZONE_HEADERS), [20, 16, 12, 28])

    # Drop-down lists read ranges of the hidden lists sheet: no 255-character formula limit.
    choice_lists: dict[str, str] = {}

    def choices(name: str, values: Sequence[str]) -> str:
        if name not in choice_lists:
            c = len(choice_lists)
            for r, value in enumerate(values, start=1):
                lists.cell(r, c + 1, value)
            letter = column_letter(c)
            choice_lists[name] = f"{LISTS_SHEET}!${letter}$1:${letter}${max(1, len(values))}"
        return choice_lists[name]

    pick = msg("Choose from the drop-down list.").text(lang)

    def check(sheet: Any, letter: str, label: str, kind: str, takes: str, **rule: Any) -> None:
        """The spreadsheet's own check of a column's cells, with what it takes as the prompt and the error."""
        note = DataValidation(type=kind, allow_blank=True, showErrorMessage=True, showInputMessage=True,
                              errorStyle="stop", promptTitle=_title(label), prompt=takes,
                              errorTitle=_title(label), error=msg("{field} does not take this value. {takes}",
                                                                  field=label, takes=takes).text(lang), **rule)
        note.add(f"{letter}3:{letter}{LAST_ROW}")
        sheet.add_data_validation(note)

    formats: dict[str, str] = {}              # column key → its cells' number format
    for i, col in enumerate(cols):
        letter = column_letter(i)
        if col.kind in ("boolean", "code"):
            check(centres, letter, col.label, "list", pick, formula1=f"={choices('yesno', [yes, no])}")
        elif col.kind == "choice":
            names = CHOICES.get(col.key, {})
            offered = [text(names[v], lang) if v in names else v for v in col.choices]
            check(centres, letter, col.label, "list", pick, formula1=f"={choices(col.key, offered)}")
        elif col.kind == "date":
            formats[col.key] = DATE
            check(centres, letter, col.label, "date", _takes(col, lang).text(lang), operator="between",
                  formula1="1", formula2="2958465")             # 1900-01-01 to 9999-12-31: any date
        elif col.kind in ("integer", "number"):
            takes = _takes(col, lang)
            note = FIELD_NOTES.get(col.key)
            worded = msg("{takes} {note}", takes=takes, note=note).text(lang) if note is not None else takes.text(lang)
            kind = "whole" if col.kind == "integer" else "decimal"
            if col.above is not None:
                bounds: dict[str, Any] = {"operator": "greaterThan", "formula1": str(_bound(col.above))}
            elif col.minimum is not None and col.maximum is not None:
                bounds = {"operator": "between", "formula1": str(_bound(col.minimum)),
                          "formula2": str(_bound(col.maximum))}
            else:
                bounds = {"operator": "greaterThanOrEqual", "formula1": str(_bound(col.minimum) or 0)}
            check(centres, letter, col.label, kind, worded, **bounds)
            if col.is_share:
                formats[col.key] = PERCENT
        else:
            formats[col.key] = TEXT
            note = FIELD_NOTES.get(col.key)
            if note is not None:
                check(centres, letter, col.label, "textLength", note.text(lang), operator="between",
                      formula1="1", formula2="64")
        if col.key in formats:
            centres.column_dimensions[letter].number_format = formats[col.key]
    kinds = list(vocabulary.entries.get("zone_kinds", {}))
    readable = table.zone_kind_names(vocabulary)
    kind_names = {}
    for code in kinds:
        name = vocabulary.label("zone_kinds", code, lang)
        kind_names[code] = name if readable.get(name) == code else code    # a name the reader reads back as the code
    offered = [kind_names[k] for k in kinds]                 # the names; the codes are read too
    check(zones, "B", zone_labels[1], "list", msg("Choose a zone type from the drop-down list.").text(lang),
          formula1=f"={choices('zone_kinds', offered)}")
    check(zones, "C", zone_labels[2], "decimal", _takes(table.ZONE_AREA, lang).text(lang), operator="between",
          formula1="0", formula2=str(_bound(table.ZONE_AREA.maximum)))
    zones.column_dimensions["A"].number_format = TEXT
    zones.column_dimensions["D"].number_format = TEXT
    lists.sheet_state = "hidden"

    zr = 3
    kinds_of = {col.key: col.kind for col in cols}
    for r, (cells, zone_list) in enumerate(rows, start=3):
        for i, col in enumerate(cols, start=1):
            value = cells.get(col.key)
            if value is None:
                continue
            if col.kind == "choice":
                names = CHOICES.get(col.key, {})
                value = text(names[value], lang) if value in names else value
            elif col.kind in ("boolean", "code") and lang != "zh":
                value = {table.YES: yes, table.NO: no}.get(value, value)
            elif col.kind == "date":
                value = _date(value)
            cell = _text_cell(centres.cell(r, i, cell_text(value)))
            shown = formats.get(col.key)
            if shown is not None and (shown != PERCENT or isinstance(value, (int, float))) \
                    and (shown != DATE or isinstance(value, datetime.date)):
                cell.number_format = shown
            elif kinds_of[col.key] == "date":
                cell.number_format = TEXT
        for zone in zone_list:
            _text_cell(zones.cell(zr, 1, cell_text(cells.get("center.id")))).number_format = TEXT
            zone_kind: Any = zone.get("kind")
            _text_cell(zones.cell(zr, 2, cell_text(kind_names.get(zone_kind, zone_kind)) if isinstance(zone_kind, str)
                                  else zone_kind))
            if zone.get("area_m2") is not None:
                _text_cell(zones.cell(zr, 3, zone.get("area_m2")))
            if zone.get("name") is not None:
                _text_cell(zones.cell(zr, 4, cell_text(zone.get("name")))).number_format = TEXT
            zr += 1
    book.active = 1
    buffer = io.BytesIO()
    book.save(buffer)
    write_atomic(path, buffer.getvalue())


def _date(value: Any) -> Any:
    """A profile's date as a date cell (the template's date column takes dates); anything else as it is."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _lines(words: str, width: float) -> int:
    """How many lines ``words`` wrap to in a column ``width`` characters wide (a Chinese character takes two)."""
    lines, used = 1, 0.0
    for word in re.findall(r"[\u2e80-\uffef]|[^\s\u2e80-\uffef]+\s*|\s+", words):
        size = sum(1.95 if "\u2e80" <= ch <= "\uffef" else 1.1 for ch in word)
        if used + size > width - 1 and used > 0:
            lines, used = lines + 1, 0.0
        used += size
    return lines


def _ruleset_named(rules: str, lang: str) -> str:
    """A bundled rule set by its title and the name a command takes (宁波市鄞州区（'yinzhou'）); another by its name."""
    from ..compile import bundled_rulesets, load_ruleset

    if rules not in bundled_rulesets():
        return quote(rules)
    return msg("{title} ({name})", title=load_ruleset(rules).title[lang], name=quote(rules)).text(lang)


def _instructions(notes: Any, vocabulary: Vocabulary, rules: str, lang: str, yes: str, no: str) -> None:
    """The instructions sheet, in the workbook's language, printable on A4 portrait with every line wrapped."""
    from openpyxl.styles import Alignment, Font

    wrap = Alignment(wrap_text=True, vertical="top")
    values = {"rules": _ruleset_named(rules, lang), "yes": yes, "no": no,
              "validate": f"compliance validate {CENTRES_SHEET}.xlsx --rules {rules}",
              "batch": f"compliance batch {CENTRES_SHEET}.xlsx --rules {rules} -o " + msg("OUTDIR").text(lang)}
    notes.cell(1, 1, TITLE.text(lang)).font = Font(bold=True, size=14)
    r = 3
    for head, said in INSTRUCTIONS:
        if head is not None and r > 3:
            r += 1
        if head is not None:
            notes.cell(r, 1, head.text(lang)).font = Font(bold=True)
        words = said.text(lang)
        for name, value in values.items():
            words = words.replace("{" + name + "}", value)
        cell = notes.cell(r, 2, words)
        cell.alignment = wrap
        notes.cell(r, 1).alignment = wrap
        r += 1
    r += 1
    notes.cell(r, 1, msg("Zone types").text(lang)).font = Font(bold=True)
    notes.cell(r, 2, msg("The drop-down list offers the names; the codes are read too.").text(lang)).alignment = wrap
    for code in vocabulary.entries.get("zone_kinds", {}):
        r += 1
        notes.cell(r, 1, vocabulary.label("zone_kinds", code, lang)).alignment = wrap
        notes.cell(r, 2, code)
    widths = {1: 16, 2: 74}
    for c, width in widths.items():
        notes.column_dimensions[column_letter(c - 1)].width = width
    # Spreadsheet programs do not grow a row for its wrapped lines when they open a file: each row is given the
    # height of its longest cell's lines, so no line is cut off on screen or on paper.
    for row in notes.iter_rows(min_row=3, max_row=r):
        lines = max((_lines(str(cell.value), widths[cell.column]) for cell in row if cell.value is not None), default=1)
        if lines > 1:
            notes.row_dimensions[row[0].row].height = 15 * lines + 2
    notes.page_setup.paperSize = notes.PAPERSIZE_A4
    notes.page_setup.orientation = "portrait"
    notes.page_setup.fitToWidth = 1
    notes.page_setup.fitToHeight = 0
    notes.sheet_properties.pageSetUpPr.fitToPage = True
    notes.print_options.horizontalCentered = True
    notes.page_margins.left = notes.page_margins.right = 0.6


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
