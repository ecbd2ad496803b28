"""The reports as their readers see them: in Chinese throughout (rule sets and layers by their titles, no ids or
English words), one footer line on every page, no table row alone at the head or foot of a page, names that keep
a readable width, and HTML reports that read on a phone.

Layouts are measured, not assumed: PDF text positions with poppler (``pdftotext -bbox``), the pages each table
row starts on from WeasyPrint's own layout (its public ``Page.anchors``), and the HTML in Chromium."""
from __future__ import annotations

import html as html_module
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

import compliance
from compliance import rendering
from compliance.batch import outputs
from compliance.batch.round import Round

from conftest import EXAMPLES, PROFILE_EXAMPLES
from test_language import english_words

DISTRICT = EXAMPLES / "yinzhou-district"
BEFORE, AFTER = EXAMPLES / "renovation" / "before.yaml", EXAMPLES / "renovation" / "after.yaml"
DANDINGHE = EXAMPLES / "dandinghe-old-compound.yaml"
CHAIN = {"zh": "全国基线 → 宁波市 → 宁波市鄞州区", "en": "National baseline → Ningbo → Yinzhou, Ningbo"}
NAMED = {"zh": "宁波市鄞州区 2026.1（全国基线 → 宁波市 → 宁波市鄞州区）",
         "en": "Yinzhou, Ningbo 2026.1 (National baseline → Ningbo → Yinzhou, Ningbo)"}
LAYER_IDS = ("national", "ningbo", "yinzhou")
A4_HEIGHT, BOTTOM_MARGIN = 841.89, 20 * 72 / 25.4          # points: report.css's @page


def visible(page: str) -> str:
    """The text an HTML report shows: no style sheet, no SVG, no tags; entities decoded."""
    page = re.sub(r"<style.*?</style>|<svg.*?</svg>", " ", page, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", page))


def ids_in(text: str) -> list[str]:
    """Layer ids shown as words (the titles are capitalised in English, Chinese in Chinese)."""
    return [w for w in re.findall(r"[A-Za-z]+", text) if w in LAYER_IDS]


def english_in_chinese(text: str, *typed: str) -> list[str]:
    """English words in a Chinese report, outside the input's own values (``typed``) and the hex digits of a hash."""
    for value in typed:
        text = text.replace(value, " ")
    return english_words(re.sub(r"\b[0-9a-f]{12,64}\b", " ", text))


def words(pdf: Path) -> list[list[tuple[float, float, float, str]]]:
    """Per page, every word poppler reads with its box: (x, top, bottom, text)."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = []
    for page in out.split("<page ")[1:]:
        pages.append([(float(x), float(top), float(bottom), html_module.unescape(t)) for x, top, _, bottom, t in
                      re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
                                 page)])
    return pages


def footer_lines(pdf: Path) -> list[list[str]]:
    """Per page, the lines of the bottom margin (the footer and the page number), each as its text."""
    out = []
    for page in words(pdf):
        below = sorted((top, x, text) for x, top, _, text in page if top > A4_HEIGHT - BOTTOM_MARGIN - 1)
        lines: list[list[tuple[float, float, str]]] = []
        for top, x, text in below:
            if lines and abs(top - lines[-1][0][0]) < 3:
                lines[-1].append((top, x, text))
            else:
                lines.append([(top, x, text)])
        out.append(["".join(t for _, _, t in sorted(line, key=lambda w: w[1])) for line in lines])
    return out


def run_round(folder: Path, lang: str, inputs: list[Path], rules: Any = "yinzhou", previous: Path | None = None) -> Path:
    """A round as ``compliance batch`` runs it, in this process."""
    out = folder / f"round-{lang}"
    Round(inputs=[str(p) for p in inputs], rules=compliance.load_ruleset(rules), outdir=out, lang=lang,
          previous=outputs.Previous.read(previous) if previous else None).run()
    return out


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> dict[str, Path]:
    """The example district's round against last year's, in both languages."""
    folder = tmp_path_factory.mktemp("district")
    return {lang: run_round(folder, lang, [DISTRICT / "centres.jsonl"], previous=DISTRICT / "2025-round")
            for lang in ("zh", "en")}


# --------------------------------------------------------------------------- Chinese throughout

@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_a_centre_report_names_the_rule_set_and_its_layers_by_their_titles(fmt, lang):
    result = compliance.evaluate(compliance.load_profile(DANDINGHE), "yinzhou")
    report = compliance.render(result, fmt, lang=lang)
    shown = visible(report) if fmt == "html" else report
    if fmt == "md":                                     # as Markdown shows it: escapes and the footer's tag gone
        shown = re.sub(r"\\(.)", r"\1", shown.replace("<sub>", "").replace("</sub>", ""))
    assert NAMED[lang] in shown
    assert ids_in(shown) == []
    set_by = {"zh": "（设定层 {}）", "en": " (set by {})"}[lang]
    for layer in ("全国基线", "宁波市", "宁波市鄞州区") if lang == "zh" else ("National baseline", "Ningbo"):
        if fmt != "text":                       # the findings' "set by" (the text report lists no passed clause)
            assert set_by.format(layer) in shown or f"| {layer} |" in shown
    if fmt == "text":
        assert f"{'规则集：' if lang == 'zh' else 'Rule set: '}{NAMED[lang]}\n" in shown     # a line of its own
    if lang == "zh":
        center = result.profile.center
        assert english_in_chinese(shown, center["id"]) == [], shown
    document = json.loads(compliance.render(result, "json", lang=lang))            # machines keep the ids
    assert document["ruleset"]["layers"] == list(LAYER_IDS)
    assert {f["threshold_from"] for f in document["findings"]} == set(LAYER_IDS)


@pytest.mark.parametrize("path", PROFILE_EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("rules", ["yinzhou", "nanxing", "beijing"])
def test_no_chinese_report_of_an_example_shows_an_id_or_an_english_word(path, rules):
    result = compliance.evaluate(compliance.load_profile(path), rules)
    center = result.profile.center
    for fmt in ("text", "md", "html"):
        report = compliance.render(result, fmt, lang="zh")
        shown = visible(report) if fmt == "html" else report.replace("<sub>", "").replace("</sub>", "")
        if result.audit.round:                  # the round's name as the profile gives it (2026-yinzhou) is a value
            shown = shown.replace(result.audit.round, " ")
        for item in result.evidence:            # and so is an evidence file's name (photos/hall.jpg)
            if item.file:
                shown = shown.replace(item.file, " ")
        assert [w for w in re.findall(r"[a-z]+", shown) if w in (rules, "national")] == [], fmt
        assert english_in_chinese(shown, center["id"]) == [], (fmt, shown)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_comparison_names_the_rule_set_by_its_title_in_text_and_html(lang):
    comparison = compliance.compare(compliance.load_profile(BEFORE), compliance.load_profile(AFTER), "yinzhou")
    for fmt in ("text", "html"):
        shown = compliance.render(comparison, fmt, lang=lang)
        shown = visible(shown) if fmt == "html" else shown
        assert NAMED[lang] in shown and ids_in(shown) == []
        if lang == "zh":
            assert english_in_chinese(shown, comparison.after.profile.id) == [], shown


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_district_report_names_the_rule_set_by_its_title_in_html_and_pdf(district, lang):
    page = visible((district[lang] / "district-report.html").read_text(encoding="utf-8"))
    printed = subprocess.run(["pdftotext", str(district[lang] / "district-report.pdf"), "-"], capture_output=True,
                             text=True, check=True).stdout
    for shown in (page, printed):
        assert re.sub(r"\s+", "", NAMED[lang]) in re.sub(r"\s+", "", shown)
        assert ids_in(re.sub(r"\S*yinzhou-district\S*", " ", shown)) == []      # but in the inputs' locations
    if lang == "zh":
        ids = [json.loads(line)["center"]["id"] for line in (district[lang] / "results.jsonl").open(encoding="utf-8")]
        before = [json.loads(line)["center"]["id"] for line in (DISTRICT / "2025-round" / "results.jsonl").open()]
        assert english_in_chinese(page, *ids, *before, "2025-round") == []


# --------------------------------------------------------------------------- the footer

LONG_VERSION = "0.2.0.dev1234+g1f71310ab.d20261101"          # a development build's version


@pytest.fixture
def long_names(tmp_path, monkeypatch) -> Path:
    """A layer with a title and a version as long as the rule-set schema lets them be, and a long library version."""
    layer = tmp_path / "long.yaml"
    layer.write_text(yaml.safe_dump({
        "ruleset": "long", "extends": "yinzhou", "version": "2026.1-征求意见稿-第二次修订（报区政府审定前的版本）" + "x" * 30,
        "title": {"zh": "浙江省宁波市鄞州区社区便民服务中心标准化建设地方规则" * 8,
                  "en": "Yinzhou district's own rules for the standard community service centre " * 8},
        "overrides": {"5.1": {"threshold": 45}}}, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(rendering, "__version__", LONG_VERSION)
    return layer


def _one_line_footers(pdf: Path, *expected: str) -> None:
    lines = footer_lines(pdf)
    assert lines
    for number, page in enumerate(lines, start=1):
        assert len(page) == 1, (pdf.name, number, page)
        assert page[0].endswith(f"{number}/{len(lines)}"), page
        for part in expected:
            assert part in page[0], (part, page)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_footer_is_one_line_on_every_page_with_the_versions_whatever_their_length(tmp_path, long_names, lang):
    rules = compliance.load_ruleset(long_names)
    software = {"zh": "规范审计软件", "en": "compliance"}[lang] + LONG_VERSION
    result = compliance.evaluate(compliance.load_profile(DANDINGHE), rules)
    compliance.render(result, "pdf", tmp_path / "centre.pdf", lang=lang)
    _one_line_footers(tmp_path / "centre.pdf", software, rules.title[lang][:10].replace(" ", ""), "2026.1-")
    comparison = compliance.compare(compliance.load_profile(BEFORE), compliance.load_profile(AFTER), rules)
    compliance.render(comparison, "pdf", tmp_path / "compare.pdf", lang=lang)
    _one_line_footers(tmp_path / "compare.pdf", software)
    out = run_round(tmp_path, lang, [DANDINGHE, EXAMPLES / "haiyue.yaml"], rules=long_names)
    _one_line_footers(out / "district-report.pdf", software)
    # The league table's page header keeps the rule set too, cut to fit, within a spreadsheet's 255 characters.
    for sheet in openpyxl.load_workbook(out / "summary.xlsx").worksheets:
        header = sheet.oddHeader.center.text or ""
        assert rules.version[:12] in header and "…" in header and len(header) <= 255, header


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_usual_footer_shows_everything_in_full_on_one_line(tmp_path, district, lang):
    result = compliance.evaluate(compliance.load_profile(DANDINGHE), "yinzhou")
    rules = result.ruleset
    software = {"zh": "规范审计软件", "en": "compliance"}[lang] + compliance.__version__
    named = NAMED[lang].split("（")[0].split(" (")[0].replace(" ", "")
    compliance.render(result, "pdf", tmp_path / "centre.pdf", lang=lang)
    _one_line_footers(tmp_path / "centre.pdf", software, named, rules.content_hash[:16],
                      result.profile.sha256[:16])
    comparison = compliance.compare(compliance.load_profile(BEFORE), compliance.load_profile(AFTER), "yinzhou")
    compliance.render(comparison, "pdf", tmp_path / "compare.pdf", lang=lang)
    _one_line_footers(tmp_path / "compare.pdf", software, named, comparison.before.profile.sha256[:16],
                      comparison.after.profile.sha256[:16])
    _one_line_footers(district[lang] / "district-report.pdf", software, named, rules.content_hash[:16])
    for pdf in (tmp_path / "centre.pdf", tmp_path / "compare.pdf", district[lang] / "district-report.pdf"):
        assert not any("…" in line for page in footer_lines(pdf) for line in page)      # nothing had to be cut


# --------------------------------------------------------------------------- rows and pages

def rows_by_page(page: str) -> list[tuple[str, list[int]]]:
    """Lay out an HTML report as its PDF is laid out and say, for every table (and the list of all clauses),
    the page each of its rows starts on. The rows are marked with ids, which change nothing in the layout."""
    import weasyprint
    from compliance import pdf as pdf_module

    heads: list[str] = []

    def mark(match: re.Match[str]) -> str:
        table = match.group(0)
        if "<tbody>" not in table:
            return table
        number, start = len(heads), table.index("<tbody>")
        head = re.search(r"(?s)<thead>(.*?)</thead>", table)
        heads.append(re.sub(r"\s+", "", visible(head.group(1))) if head else "")
        count = iter(range(100_000))
        return table[:start] + re.sub(r"<tr(?=[ >])", lambda _: f'<tr id="t{number}-{next(count)}"', table[start:])

    page = re.sub(r"(?s)<table.*?</table>", mark, page)
    findings = iter(range(100_000))
    page = re.sub(r'<div class="finding (?!legend)', lambda _: f'<div id="f-{next(findings)}" class="finding ', page)
    engine = pdf_module.engine()                 # the PDF's own style sheet, fonts and fetcher, not the inlined ones
    page = re.sub(r"(?s)<style>.*?</style>", "", page, count=1)
    document = weasyprint.HTML(string=page, base_url=engine.base_url, url_fetcher=engine.fetcher).render(
        stylesheets=[engine.css], font_config=engine.fonts)
    starts: dict[str, int] = {}
    for number, laid in enumerate(document.pages, start=1):
        for anchor in laid.anchors:
            starts[anchor] = number
    out = []
    for number, head in enumerate(heads):
        rows = sorted((int(a.split("-")[1]), p) for a, p in starts.items() if a.startswith(f"t{number}-"))
        out.append((head, [p for _, p in rows]))
    findings_pages = sorted((int(a.split("-")[1]), p) for a, p in starts.items() if a.startswith("f-"))
    out.append(("findings", [p for _, p in findings_pages]))
    return out


def lonely_rows(laid: list[tuple[str, list[int]]]) -> list[tuple[str, int]]:
    """(table, page) where a page holds a single row of a table that goes on over more than one page."""
    lonely = []
    for head, pages in laid:
        if len(set(pages)) > 1:
            lonely += [(head, p) for p in set(pages) if pages.count(p) == 1]
    return lonely


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_of_the_district_report_holds_one_row_alone_and_headers_repeat(district, lang):
    page = (district[lang] / "district-report.html").read_text(encoding="utf-8")
    laid = rows_by_page(page)
    assert sum(len(pages) for _, pages in laid) > 100            # every table of the report was found
    assert lonely_rows(laid) == []
    pdf = district[lang] / "district-report.pdf"
    for head, pages in laid:
        for number in sorted(set(pages))[1:]:                     # a table going on on the next page: its header too
            text = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"],
                                  capture_output=True, text=True, check=True).stdout
            assert head in re.sub(r"\s+", "", text), (head, number)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_of_a_centre_report_or_comparison_holds_one_clause_alone(lang):
    for path in PROFILE_EXAMPLES:
        result = compliance.evaluate(compliance.load_profile(path), "yinzhou")
        assert lonely_rows(rows_by_page(compliance.render(result, "html", lang=lang))) == [], path.name
    comparison = compliance.compare(compliance.load_profile(BEFORE), compliance.load_profile(AFTER), "yinzhou")
    assert lonely_rows(rows_by_page(compliance.render(comparison, "html", lang=lang))) == []


def test_no_page_holds_one_line_of_the_remediation_plan_alone(tmp_path):
    """The plan is one block of numbered lines: whatever the height of the header above it (a longer centre name
    moves it down), a page never ends on its first line or starts with its last alone."""
    import copy

    base = compliance.load_profile(DANDINGHE).data
    splits = set()
    for longer in range(0, 24, 2):
        doc = copy.deepcopy(base)
        doc["center"]["name"] += "附属服务站" * longer
        result = compliance.evaluate(doc, "yinzhou")
        target = tmp_path / f"plan-{longer}.pdf"
        compliance.render(result, "pdf", target, lang="zh")
        lines = []
        for page in range(1, 4):
            text = subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(target), "-"],
                                  capture_output=True, text=True).stdout
            lines.append(len(re.findall(r"(?m)^\s*\d+\. ", text)))
        assert sum(lines) == len(result.not_passed)
        pages = [n for n in lines if n]
        assert len(pages) == 1 or min(pages) >= 2, (longer, lines)
        splits.add(tuple(pages))
    assert any(len(s) > 1 for s in splits)            # the plan was split over two pages at least once


# --------------------------------------------------------------------------- names keep their width

def test_every_street_of_the_district_report_prints_on_one_line(district):
    streets = {json.loads(line)["center"]["region"]["street"]
               for line in (district["zh"] / "results.jsonl").open(encoding="utf-8")}
    for lang in ("zh", "en"):
        printed = {text for page in words(district[lang] / "district-report.pdf") for _, _, _, text in page}
        assert streets <= printed, streets - printed                # each one a single word: never wrapped


LINES_OF = """(cell) => {
    const range = document.createRange(); range.selectNodeContents(cell);
    return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
}"""


def _phone(browser: Any, path: Path) -> Any:
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    page.goto(path.as_uri())
    return page


def test_on_a_phone_the_district_report_keeps_streets_and_names_readable_and_fits_the_screen(district, browser):
    page = _phone(browser, district["zh"] / "district-report.html")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390       # wide tables scroll inside the page
    checked = 0
    for table in page.locator("table").all():
        heads = [h.inner_text().strip() for h in table.locator("thead th").all()]
        for column, head in enumerate(heads):
            if head not in ("街道", "中心"):
                continue
            for cell in table.locator(f"tbody tr td:nth-child({column + 1})").all():
                text, lines = cell.inner_text().strip(), cell.evaluate(LINES_OF)
                if head == "街道" and len(text) <= 6:
                    assert lines == 1, text                           # 钟公庙街道 on one line, not 钟/公/庙/街/道
                assert lines <= -(-len(text) // 5), text               # a name wraps at five characters or more
                checked += 1
    assert checked > 50
    page.close()


def test_on_a_phone_the_centre_report_keeps_its_chart_and_the_comparison_its_statuses(tmp_path, browser):
    result = compliance.evaluate(compliance.load_profile(DANDINGHE), "yinzhou")
    compliance.render(result, "html", tmp_path / "centre.html", lang="zh")
    page = _phone(browser, tmp_path / "centre.html")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    labels, bars, values = (page.locator(f".chart {s}").first.bounding_box()
                            for s in (".chart-text", "svg", ".chart-text.values"))
    assert labels["y"] == pytest.approx(bars["y"], abs=3) and bars["x"] > labels["x"] and values["x"] > bars["x"]
    page.close()
    comparison = compliance.compare(compliance.load_profile(BEFORE), compliance.load_profile(AFTER), "yinzhou")
    compliance.render(comparison, "html", tmp_path / "compare.html", lang="zh")
    page = _phone(browser, tmp_path / "compare.html")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    cells = page.locator("table.changes tbody td:nth-child(3), table.changes tbody td:nth-child(4)").all()
    assert len(cells) == 2 * len(comparison.changes)
    assert all(cell.evaluate(LINES_OF) == 1 for cell in cells)       # "◐ 部分符合", never "◐ 部/分/符/合"
    page.close()


@pytest.mark.parametrize("lang, words", [("zh", "：供其他系统读取的审计结果文件"), ("en", ": the audit result for other systems (JSON)")])
def test_an_archival_pdf_describes_its_attachment_in_the_reports_language(tmp_path, lang, words):
    import zlib

    result = compliance.evaluate(compliance.load_profile(DANDINGHE), "yinzhou")
    compliance.render(result, "pdf", tmp_path / "filed.pdf", lang=lang, archival=True)
    data = (tmp_path / "filed.pdf").read_bytes()
    found = []
    for match in re.finditer(rb"stream\r?\n", data):
        try:
            inflated = zlib.decompress(data[match.end(): data.find(b"endstream", match.end())])
        except zlib.error:
            continue
        found += [bytes.fromhex(h.decode()).decode("utf-16") for h in re.findall(rb"/Desc <([0-9a-f]+)>", inflated)]
    assert found == [result.profile.name + words]
