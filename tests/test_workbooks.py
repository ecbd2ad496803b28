"""The bureau officer's workbooks as they are used: the collection template catches mistakes as they are typed and
takes what a spreadsheet stores; validate tells every problem of a row at once, by the column names errors.csv
uses; a misspelt code is answered by the name people see, and only when it is close; the league table prints
readably on A4; the bundled example is made for the rule set its README round uses.

What a spreadsheet program stores when a person types is written here with openpyxl: 95% typed into a cell
formatted as a percentage is the number 0.95, a date typed into a date cell is a date, '约500' is text. Printed
pages are looked at through LibreOffice (PDF) and poppler's pdftotext.
"""
from __future__ import annotations

import csv
import datetime
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

import compliance
from compliance.batch import table
from compliance.contract import profile_schema

from conftest import BASE, EXAMPLES, profile, run_cli
from test_batch import fill_workbook, row_keys
from test_language import english_words

DISTRICT = EXAMPLES / "yinzhou-district"
YINZHOU = compliance.load_ruleset("yinzhou")
ZONE_KIND_NAMES = {code: YINZHOU.vocabulary.label("zone_kinds", code, "zh")
                   for code in YINZHOU.vocabulary.entries["zone_kinds"]}


# --------------------------------------------------------------------------- helpers

def schema_fields() -> dict[str, dict[str, Any]]:
    """Every scalar field of the published profile schema by its dotted key (what the template's columns check)."""
    out: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, sub in node.get("properties", {}).items():
            key = f"{prefix}{name}"
            if sub.get("type") == "object":
                walk(sub, key + ".")
            elif sub.get("type") != "array":
                out[key] = sub

    walk(profile_schema(), "")
    return out


def validation_of(sheet: Any, column: str) -> Any:
    """The data validation covering the column's first data row, or None."""
    for dv in sheet.data_validations.dataValidation:
        if f"{column}3" in dv.sqref:
            return dv
    return None


def column_of(sheet: Any, key: str) -> str:
    return get_column_letter(row_keys(sheet).index(key) + 1)


def chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None or shutil.which("pdftotext") is None:
        pytest.skip("LibreOffice and poppler's pdftotext are needed to print a workbook and read its pages")
    return found


def printed(book: Path, folder: Path) -> list[list[tuple[str, float, float, float, float]]]:
    """The workbook printed to PDF by LibreOffice, as its pages' words (text, x0, y0, x1, y1, in points)."""
    office = soffice()
    folder.mkdir(parents=True, exist_ok=True)
    profile_dir = folder / "office-profile"            # its own profile: another LibreOffice may be running
    subprocess.run([office, f"-env:UserInstallation={profile_dir.as_uri()}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(folder), str(book)], check=True, capture_output=True, timeout=300)
    pdf = folder / f"{book.stem}.pdf"
    boxes = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True,
                           timeout=60).stdout.decode("utf-8")
    pages = []
    for page in boxes.split("<page ")[1:]:
        pages.append([(html_text(m.group(5)), float(m.group(1)), float(m.group(2)), float(m.group(3)),
                       float(m.group(4)))
                      for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                                           r"([^<]*)</word>", page)])
    return pages


def html_text(value: str) -> str:
    import html

    return html.unescape(value)


def page_text(words: list[tuple[str, float, float, float, float]]) -> str:
    return "".join(w[0] for w in words)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a bureau makes it (Chinese: the command's default language)."""
    target = tmp_path_factory.mktemp("template") / "centres.xlsx"
    out = run_cli("template", str(target), "--rules", "yinzhou", lang=None)
    assert out.returncode == 0, out.stderr
    return target


@pytest.fixture
def blank(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "centres.xlsx"
    shutil.copy(template, copy)
    return copy


# --------------------------------------------------------------------------- the template catches mistakes

def test_every_number_rate_and_date_column_of_the_template_checks_what_is_typed_as_the_schema_says(template):
    book = openpyxl.load_workbook(template)
    centres = book["centres"]
    fields = schema_fields()
    numbers = [k for k, s in fields.items() if s.get("type") in ("integer", "number")]
    assert "space.total_area_m2" in numbers and len(numbers) == 16          # 用房总面积 and fifteen others
    for key in numbers:
        spec = fields[key]
        dv = validation_of(centres, column_of(centres, key))
        assert dv is not None, key
        assert dv.type == ("whole" if spec["type"] == "integer" else "decimal"), key
        assert dv.showErrorMessage and dv.errorStyle in (None, "stop") and dv.showInputMessage, key
        assert str(dv.sqref).endswith("1048576"), key               # every row a community may fill
        if "exclusiveMinimum" in spec:
            assert (dv.operator, float(dv.formula1)) == ("greaterThan", spec["exclusiveMinimum"]), key
        else:
            assert (dv.operator, float(dv.formula1), float(dv.formula2)) == \
                ("between", spec["minimum"], spec["maximum"]), key
        for words in (dv.prompt, dv.error, dv.promptTitle, dv.errorTitle):
            assert words and chinese(words) and english_words(words) == [], (key, words)
        assert len(dv.promptTitle) <= 32 and len(dv.errorTitle) <= 32 and len(dv.prompt) <= 255 and len(dv.error) <= 255
    date = validation_of(centres, column_of(centres, "center.assessed_on"))
    assert date is not None and date.type == "date" and chinese(date.prompt) and "2026-11-01" in date.prompt
    assert centres.column_dimensions[column_of(centres, "center.assessed_on")].number_format == "yyyy-mm-dd"
    zones = book["zones"]
    area = validation_of(zones, "C")
    assert area is not None and area.type == "decimal" and float(area.formula1) == 0 and chinese(area.error)


def test_rate_cells_are_percentages_and_say_so(template):
    book = openpyxl.load_workbook(template)
    centres = book["centres"]
    shares = [k for k, s in schema_fields().items() if s.get("minimum") == 0 and s.get("maximum") == 1]
    assert shares == ["services.grid_coverage", "services.satisfaction_rate"]
    for key in shares:
        column = column_of(centres, key)
        assert "%" in centres.column_dimensions[column].number_format
        dv = validation_of(centres, column)
        assert (dv.type, float(dv.formula1), float(dv.formula2)) == ("decimal", 0, 1)
        assert "95%" in dv.prompt


def test_choices_and_yes_no_columns_offer_their_chinese_names_and_refuse_anything_else(template):
    book = openpyxl.load_workbook(template)
    centres = book["centres"]

    def offered(dv: Any) -> set[str]:
        sheet, cells = dv.formula1.lstrip("=").split("!")
        return {c.value for row in book[sheet][cells.replace("$", "")] for c in row}

    for key, names in (("center.setting", {"城市", "农村"}), ("staff.ab_backup", {"是", "否"}),
                       ("signage.grid_map", {"是", "否"})):
        dv = validation_of(centres, column_of(centres, key))
        assert dv.type == "list" and offered(dv) == names and dv.showErrorMessage and chinese(dv.error)
    kind = validation_of(book["zones"], "B")
    assert offered(kind) == set(ZONE_KIND_NAMES.values()) and chinese(kind.prompt)


def test_what_a_spreadsheet_stores_for_95_percent_and_a_typed_date_reads_as_the_profile_says(blank):
    def edit(book: Any) -> None:
        centres = book["centres"]
        rate = centres[f"{column_of(centres, 'services.satisfaction_rate')}3"]
        rate.value, rate.number_format = 0.95, "0%"                        # 95% typed: 0.95 stored
        coverage = centres[f"{column_of(centres, 'services.grid_coverage')}3"]
        coverage.value = "100%"                                            # typed into a cell formatted as text
        day = centres[f"{column_of(centres, 'center.assessed_on')}3"]
        day.value, day.number_format = datetime.date(2026, 11, 1), "yyyy-mm-dd"

    fill_workbook(blank, [profile()], edit)
    [(_, read)] = list(compliance.read_profiles(blank, YINZHOU))
    assert isinstance(read, compliance.Profile), read
    assert read.data["services"]["satisfaction_rate"] == 0.95
    assert read.data["services"]["grid_coverage"] == 1
    assert read.data["center"]["assessed_on"] == "2026-11-01"


@pytest.mark.parametrize("written, share", [("95%", 0.95), ("95 %", 0.95), ("９５％", 0.95), ("93.5%", 0.935),
                                            ("0.95", 0.95), ("0%", 0)])
def test_a_rate_written_as_a_percentage_in_csv_reads_as_its_share(tmp_path, written, share):
    cols = table.columns(YINZHOU.vocabulary)
    cells, zones = table.to_row(BASE, cols)
    cells["services.satisfaction_rate"] = written
    path = tmp_path / "centres.csv"
    headers = [c.key for c in cols] + table.zone_columns(len(zones))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerow([cells.get(c.key, "") for c in cols] + [z.get(f, "") for z in zones for f in table.ZONE_FIELDS])
    path.write_text(out.getvalue(), encoding="utf-8")
    [(_, read)] = list(compliance.read_profiles(path, YINZHOU))
    assert isinstance(read, compliance.Profile), read
    assert read.data["services"]["satisfaction_rate"] == pytest.approx(share, abs=1e-12)


def test_a_percentage_is_only_a_share_where_the_field_is_one(blank):
    def edit(book: Any) -> None:
        book["centres"][f"{column_of(book['centres'], 'space.total_area_m2')}3"] = "50%"

    fill_workbook(blank, [profile()], edit)
    [(_, error)] = list(compliance.read_profiles(blank, YINZHOU))
    assert isinstance(error, compliance.ProfileError)
    assert [p.message for p in error.problems] == ["'50%' is not a number"]


def test_a_share_written_as_95_is_told_to_write_95_percent_or_0_95(blank):
    def edit(book: Any) -> None:
        book["centres"][f"{column_of(book['centres'], 'services.grid_coverage')}3"] = 95

    fill_workbook(blank, [profile()], edit)
    out = run_cli("validate", str(blank), "--rules", "yinzhou", lang=None)
    assert out.returncode == 2
    assert "数值 95 超出范围，应不大于 1" in out.stderr and "0.95" in out.stderr and "95%" in out.stderr
    assert english_words(out.stderr) == [], out.stderr


# --------------------------------------------------------------------------- the instructions sheet

def test_the_instructions_are_chinese_name_the_rule_set_and_print_on_a4_without_a_cut_line(template, tmp_path):
    book = openpyxl.load_workbook(template)
    assert book.sheetnames[:3] == ["说明", "centres", "zones"]            # errors name the sheets: names kept
    notes = book["说明"]
    said = [str(c.value) for row in notes.iter_rows() for c in row if c.value is not None]
    codes = set(YINZHOU.vocabulary.entries["zone_kinds"])
    for words in said:
        if words in codes or words.startswith("compliance "):
            continue
        assert chinese(words) and english_words(words, typed=["compliance", "validate", "batch", "rules",
                                                              "yinzhou", "centres", "xlsx"]) == [], words
    assert any("宁波市鄞州区（'yinzhou'）" in w and "规则集" in w for w in said)
    assert int(notes.page_setup.paperSize) == 9 and notes.page_setup.orientation == "portrait"
    assert notes.sheet_properties.pageSetUpPr.fitToPage and notes.page_setup.fitToWidth == 1
    # Printed: every sentence of the sheet is on its first page, whole (nothing runs off the page or under a row).
    pages = printed(template, tmp_path)
    first = page_text(pages[0])
    for words in said:
        assert re.sub(r"\s", "", words) in first, words
    width = 595.3                                                          # A4 portrait, points
    assert all(0 <= x0 and x1 <= width for _, x0, _, x1, _ in pages[0])
    lines = sorted({round(y0, 1) for _, _, y0, _, _ in pages[0]})
    boxes = sorted(pages[0], key=lambda w: w[2])
    for (_, a0, top_a, a1, bottom_a), (_, b0, top_b, b1, _) in zip(boxes, boxes[1:]):
        if top_b > top_a + 1 and min(a1, b1) > max(a0, b0):                  # one line above another, overlapping
            assert top_b >= bottom_a - 1.5, "two lines printed over each other"
    assert len(lines) > 20


def test_the_bundled_example_workbook_is_made_for_the_rule_set_its_readme_round_uses():
    readme = (DISTRICT / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"compliance batch examples/yinzhou-district/centres\.xlsx --rules (\w+)", readme))
    assert used == {"yinzhou"}
    notes = openpyxl.load_workbook(DISTRICT / "centres.xlsx", read_only=True)["说明"]
    said = " ".join(str(c) for row in notes.iter_rows(values_only=True) for c in row if c is not None)
    assert "'yinzhou'" in said and "national" not in said
    centres = openpyxl.load_workbook(DISTRICT / "centres.xlsx")["centres"]
    assert validation_of(centres, column_of(centres, "space.total_area_m2")).type == "decimal"


# --------------------------------------------------------------------------- validate: every problem of a row

def _two_bad_cells(path: Path) -> tuple[str, str]:
    """A bad date and a bad rate in the first row, as typed into cells formatted as text."""
    def edit(book: Any) -> None:
        centres = book["centres"]
        centres[f"{column_of(centres, 'center.assessed_on')}3"] = "2026-02-30"
        centres[f"{column_of(centres, 'services.satisfaction_rate')}3"] = "很高"
        centres[f"{column_of(centres, 'space.total_area_m2')}4"] = "约500"

    fill_workbook(path, [profile(), profile(center__id="330212-SN-0999")], edit)
    book = openpyxl.load_workbook(path)
    centres = book["centres"]
    return column_of(centres, "center.assessed_on"), column_of(centres, "services.satisfaction_rate")


def test_validate_tells_every_problem_of_a_row_at_once_by_its_cell_and_column_name(blank, tmp_path):
    date, rate = _two_bad_cells(blank)
    out = run_cli("validate", str(blank), "--rules", "yinzhou", lang=None)
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines[:2] == [
        f"{blank}!centres!{date}3: $.center.assessed_on (检查日期): '2026-02-30' 不是日历上存在的日期（写法如 2026-11-01）",
        f"{blank}!centres!{rate}3: $.services.satisfaction_rate (满意度（%）): '很高' 不是数字"]
    assert english_words(out.stderr) == [], out.stderr
    # The same problems and the same column names as errors.csv of a round.
    batch = run_cli("batch", str(blank), "--rules", "yinzhou", "-o", str(tmp_path / "round"), "--jobs", "1", lang=None)
    assert batch.returncode == 2
    with open(tmp_path / "round" / "errors.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    told = [re.match(r"^(\S+): (\$\S+) \((.+?)\): (.*)$", line).groups() for line in lines if line.startswith(str(blank) + "!")]
    assert [(r["location"], r["path"], r["field"], r["problem"]) for r in rows] == [tuple(t) for t in told]
    assert len(rows) == 3


def test_a_bad_cell_does_not_hide_the_schema_problems_of_the_rest_of_its_row(blank):
    def edit(book: Any) -> None:
        centres = book["centres"]
        centres[f"{column_of(centres, 'population.households')}3"] = "很多"          # cannot be read
        centres[f"{column_of(centres, 'center.setting')}3"] = "城镇"                 # read, not a choice
        centres[f"{column_of(centres, 'staff.certified_social_workers')}3"] = 99    # more than the workers
        book["zones"]["C3"] = -5                                                   # a zone's area below 0

    fill_workbook(blank, [profile()], edit)
    [(_, error)] = list(compliance.read_profiles(blank, YINZHOU))
    centres = openpyxl.load_workbook(blank)["centres"]
    assert [(p.file, p.json_path) for p in error.problems] == [
        (f"{blank}!centres!{column_of(centres, 'center.setting')}3", "$.center.setting"),
        (f"{blank}!centres!{column_of(centres, 'population.households')}3", "$.population.households"),
        (f"{blank}!centres!{column_of(centres, 'staff.certified_social_workers')}3",
         "$.staff.certified_social_workers"),
        (f"{blank}!zones!C3", "$.space.zones[0].area_m2")]
    assert "required" not in " ".join(p.message for p in error.problems)     # the unread households: told once


def test_validate_of_a_csv_tells_every_problem_of_a_line_in_english_on_request(tmp_path):
    cols = table.columns(YINZHOU.vocabulary)
    cells, zones = table.to_row(BASE, cols)
    cells.update({"center.assessed_on": "2026/11/01", "services.satisfaction_rate": "high"})
    path = tmp_path / "centres.csv"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.key for c in cols] + table.zone_columns(len(zones)))
    writer.writerow([cells.get(c.key, "") for c in cols] + [z.get(f, "") for z in zones for f in table.ZONE_FIELDS])
    path.write_text(out.getvalue(), encoding="utf-8")
    told = run_cli("validate", str(path), "--rules", "yinzhou")
    assert told.returncode == 2
    assert told.stderr.splitlines() == [
        f"{path}:2: $.center.assessed_on (date of the inspection): '2026/11/01' is not a date written as 2026-11-01",
        f"{path}:2: $.services.satisfaction_rate (satisfaction (%)): 'high' is not a number"]


# --------------------------------------------------------------------------- codes suggested by their names

def _zone_problem(doc: dict[str, Any], lang: str = "zh") -> str:
    from compliance.i18n import use_language

    with pytest.raises(compliance.ProfileError) as caught:
        compliance.load_profile(doc, rules=YINZHOU)
    with use_language(lang):
        return next(p.message for p in caught.value.problems if p.json_path == "$.space.zones[0].kind")


def _with_kind(kind: str) -> dict[str, Any]:
    doc = profile()
    doc["space"]["zones"][0]["kind"] = kind
    return doc


def test_a_kind_close_to_none_is_answered_with_the_kinds_there_are_never_a_far_one():
    told = _zone_problem(_with_kind("fitness_room"))
    assert "是否应为" not in told
    assert told.startswith("'fitness_room' 不是功能区类型；应为以下之一：")
    for code, name in ZONE_KIND_NAMES.items():
        assert f"{name}（'{code}'）" in told
    english = _zone_problem(_with_kind("fitness_room"), "en")
    assert "did you mean" not in english and "'restroom'" in english and "'service_hall'" in english


@pytest.mark.parametrize("written, meant", [("ofice", "office"), ("Service Hall", "service_hall"),
                                            ("restrom", "restroom"), ("卫生服务占", "health"), ("食堂", "canteen"),
                                            ("多功能厅", "multipurpose")])
def test_a_kind_close_to_one_is_suggested_by_its_chinese_name_and_its_code(written, meant):
    told = _zone_problem(_with_kind(written))
    assert told.endswith(f"；是否应为 {ZONE_KIND_NAMES[meant]}（'{meant}'）？"), told
    assert english_words(told) == []


@pytest.mark.parametrize("written", ["gym", "卫生站", "卫生", "hall", "toilet"])
def test_a_word_near_no_kind_or_near_two_gets_no_guess(written):
    told = _zone_problem(_with_kind(written))
    assert "是否应为" not in told and "应为以下之一" in told


@pytest.mark.parametrize("key, written, meant, name", [
    ("signage", "gridmap", "grid_map", "民情地图"), ("amenities", "wi-fi", "wifi", "无线网络"),
    ("amenities", "first_aid", "first_aid_kit", "急救药箱")])
def test_a_misspelt_sign_or_amenity_is_suggested_by_its_name(key, written, meant, name):
    doc = profile()
    doc[key] = [written]
    with pytest.raises(compliance.ProfileError) as caught:
        compliance.load_profile(doc, rules=YINZHOU)
    from compliance.i18n import use_language

    with use_language("zh"):
        [told] = [p.message for p in caught.value.problems]
    assert told.endswith(f"是否应为 {name}（'{meant}'）？"), told


def test_a_kind_typed_into_the_zones_sheet_is_answered_by_names_in_the_cell_that_holds_it(blank):
    def edit(book: Any) -> None:
        book["zones"]["B3"] = "健身房"
        book["zones"]["B4"] = "卫生服务占"

    fill_workbook(blank, [profile()], edit)
    out = run_cli("validate", str(blank), "--rules", "yinzhou", lang=None)
    lines = out.stderr.splitlines()
    assert lines[0].startswith(f"{blank}!zones!B3: $.space.zones[0].kind (功能区类型): '健身房' 不是功能区类型；应为以下之一：综合服务大厅（'service_hall'）")
    assert lines[1] == f"{blank}!zones!B4: $.space.zones[1].kind (功能区类型): '卫生服务占' 不是功能区类型；是否应为 卫生服务站（'health'）？"
    assert english_words(out.stderr) == [], out.stderr


def test_a_choice_is_answered_with_its_chinese_names():
    doc = profile(center__setting="urbn", center__housing="老小区")
    with pytest.raises(compliance.ProfileError) as caught:
        compliance.load_profile(doc, rules=YINZHOU)
    from compliance.i18n import use_language

    with use_language("zh"):
        told = {p.json_path: p.message for p in caught.value.problems}
    assert told["$.center.setting"] == "'urbn' 不是可选值之一；是否应为 城市（'urban'）？"
    assert told["$.center.housing"] == ("'老小区' 不是可选值之一；应为以下之一：老旧小区（'old'）、商品房（'commercial'）、"
                                        "安置小区（'resettlement'）、混合（'mixed'）")


def test_a_rule_layer_code_far_from_any_lists_the_vocabulary(tmp_path):
    from test_nanxing import layer

    out = run_cli("rules", "lint", str(layer(tmp_path, 'overrides: {"5.7": {check: {codes: [health, fitness_room]}}}')))
    assert out.returncode == 2
    assert "'fitness_room' is not in the vocabulary 'zone_kinds'; write one of 'service_hall'" in out.stderr
    assert "did you mean" not in out.stderr


# --------------------------------------------------------------------------- the league table, printed

@pytest.fixture(scope="module")
def league(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example district's round against last year's, as a bureau runs it (Chinese)."""
    out = tmp_path_factory.mktemp("league") / "round-2026"
    done = run_cli("batch", str(DISTRICT / "centres.xlsx"), "--rules", "yinzhou", "-o", str(out), "--jobs", "1",
                   "--previous", str(DISTRICT / "2025-round"), lang=None)
    assert done.returncode == 2, done.stderr          # (its four bad rows)
    return out / "summary.xlsx"


PRINTED = ["rank", "name", "street", "score", "grade", "verdict", "score_change", "veto_failed"]


def test_the_league_table_prints_the_meeting_columns_on_a4_at_8_points_or_more(league):
    book = openpyxl.load_workbook(league)
    sheet = book.worksheets[0]
    header = list(csv.reader(io.StringIO((league.parent / "summary.csv").read_text(encoding="utf-8-sig"))))[0]
    assert sheet.max_column == len(header)                       # every column stays in the sheet
    hidden = {get_column_letter(c) for c in range(1, len(header) + 1)
              if any(d.hidden and d.min <= c <= d.max for d in sheet.column_dimensions.values())}
    shown = [header[c - 1] for c in range(1, len(header) + 1) if get_column_letter(c) not in hidden]
    assert shown == PRINTED
    setup = sheet.page_setup
    assert (int(setup.paperSize), setup.orientation) == (9, "landscape")      # A4
    assert not sheet.sheet_properties.pageSetUpPr or not sheet.sheet_properties.pageSetUpPr.fitToPage
    scale = (setup.scale or 100) / 100
    sizes = {cell.font.sz for row in sheet.iter_rows(min_row=1, max_row=sheet.max_row) for cell in row
             if cell.value is not None}
    assert min(sizes) * scale >= 8, (sizes, scale)
    assert sheet.print_title_rows == "$1:$1"
    assert sheet.print_area == f"'{sheet.title}'!$A$1:${get_column_letter(len(header))}${sheet.max_row}"
    assert "社区便民服务中心规范审计" in sheet.oddHeader.center.text and "鄞州区" in sheet.oddHeader.center.text
    assert "规则集 宁波市鄞州区 2026" in sheet.oddHeader.center.text         # the rule set by its title
    assert sheet.oddFooter.center.text == "第 &P 页 共 &N 页"
    veto = header.index("veto_failed") + 1
    listed = [sheet.cell(r, veto) for r in range(2, sheet.max_row + 1) if sheet.cell(r, veto).value]
    assert listed and all(cell.alignment.wrap_text for cell in listed)          # long lists wrap, never cut off
    for cell in listed:                                       # and their row is tall enough for their lines
        width = sheet.column_dimensions[get_column_letter(veto)].width
        wide = sum(2 if "\u4e00" <= ch <= "\u9fff" or ch in "（）；" else 1 for ch in str(cell.value))
        if wide > width:
            assert (sheet.row_dimensions[cell.row].height or 0) >= 2 * 12, cell.value


def test_the_league_table_printed_by_libreoffice_is_readable_on_every_page(league, tmp_path):
    pages = printed(league, tmp_path)
    book = openpyxl.load_workbook(league, read_only=True)
    names = {str(row[2]) for row in book.worksheets[0].iter_rows(min_row=2, values_only=True)}
    total = len(pages)
    league_pages = [p for p in pages if "社区便民服务中心规范审计·汇总" in page_text(p)]
    assert len(league_pages) >= 3
    for number, words in enumerate(pages, start=1):
        text = page_text(words)
        assert f"第{number}页共{total}页" in text                        # the footer of every page
        assert "鄞州区" in text and "规则集宁波市鄞州区" in text              # the round, in the header
        assert all(0 <= x0 and x1 <= 841.9 for _, x0, _, x1, _ in words)   # nothing off the page
    printed_names = set()
    for words in league_pages:
        text = page_text(words)
        assert "名次" in text and "未通过的否决项" in text and "得分变化" in text      # the header row, repeated
        assert "examples/yinzhou-district" not in text and "330212-" not in text   # folded columns not printed
        for word, x0, _, x1, _ in words:
            if re.fullmatch(r"[\u4e00-\u9fff]{2,}", word):
                assert (x1 - x0) / len(word) >= 7.9, word                  # a Chinese character is 8 pt or more
        printed_names |= {n for n in names if n in text}
    assert printed_names == names                                           # every centre, none cut off
    # The longest veto list is printed whole.
    longest = max((str(row[-3]) for row in book.worksheets[0].iter_rows(min_row=2, values_only=True) if row[-3]),
                  key=len)
    assert re.sub(r"\s", "", longest) in "".join(page_text(p) for p in league_pages)


def test_the_league_tables_pages_are_worded_in_english_on_request(tmp_path):
    out = tmp_path / "round"
    done = run_cli("batch", str(EXAMPLES / "haiyue.yaml"), str(EXAMPLES / "dandinghe-old-compound.yaml"), "-o", str(out),
                   "--jobs", "1")
    assert done.returncode == 1, done.stderr
    sheet = openpyxl.load_workbook(out / "summary.xlsx").worksheets[0]
    assert "Community service centre audit" in sheet.oddHeader.center.text
    assert sheet.oddFooter.center.text == "page &P of &N"
