"""HTML and PDF reports: content read back with poppler, fonts, archival output, and safety."""
from __future__ import annotations

import copy
import importlib
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import compliance
from compliance import ReportError

from conftest import BASE, EXAMPLES, PROFILE_EXAMPLES

pdf_module = importlib.import_module("compliance.pdf")
render_module = importlib.import_module("compliance.rendering")
EXAMPLE_FILES = PROFILE_EXAMPLES


def squash(text: str) -> str:
    """pdftotext wraps lines wherever the layout did; compare without whitespace."""
    return re.sub(r"\s+", "", text)


def pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def pdffonts(path: Path) -> list[list[str]]:
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines()[2:]]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every example in both languages, rendered once for the tests below."""
    out = {}
    folder = tmp_path_factory.mktemp("pdf")
    for path in EXAMPLE_FILES:
        result = compliance.evaluate(compliance.load_profile(path), "yinzhou")
        for lang in ("zh", "en"):
            target = folder / f"{path.parent.name}-{path.stem}-{lang}.pdf"
            compliance.render(result, "pdf", target, lang=lang)
            out[(path, lang)] = (result, target)
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_example_report_names_the_centre_the_failures_and_their_remedies(rendered, path, lang):
    result, pdf = rendered[(path, lang)]
    text = squash(pdftotext(pdf))
    assert squash(result.profile.name) in text
    assert squash(result.profile.id) in text
    for finding in result.not_passed:
        assert finding.clause.clause in text
        assert squash(finding.action(lang) or finding.message(lang)) in text
    for finding in result.not_evidenced:
        assert squash(finding.message(lang)) in text
    verdict = {"zh": {"conforming": "符合规范", "non_conforming": "不符合规范"},
               "en": {"conforming": "Conforming", "non_conforming": "Non-conforming"}}[lang][result.verdict.value]
    assert verdict in text and f"{result.score:.1f}" in text


@pytest.mark.parametrize("path", EXAMPLE_FILES[:3], ids=lambda p: p.stem)
def test_every_page_carries_the_reproducibility_footer(rendered, path):
    result, pdf = rendered[(path, "zh")]
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True,
                                                               text=True).stdout).group(1))
    for page in range(1, pages + 1):
        one = squash(subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                                    capture_output=True, text=True).stdout)
        assert f"{page}/{pages}" in one
        assert result.profile.sha256[:16] in one                      # the JSON result has all 64 digits
        assert result.ruleset.content_hash[:16] in one and result.ruleset.version in one
        assert f"规范审计软件{compliance.__version__}" in one


def test_fonts_are_the_bundled_cut_embedded_and_subset(rendered):
    for (path, lang), (result, pdf) in rendered.items():
        fonts = pdffonts(pdf)
        assert fonts, pdf
        for row in fonts:
            name, emb, sub = row[0], row[-5], row[-4]
            assert (emb, sub) == ("yes", "yes"), row
            assert "Report-Sans-CJK" in name, f"{pdf.name} fell back to {name}"


def test_reports_stay_under_200_kb(rendered):
    sizes = {pdf.name: pdf.stat().st_size for _, pdf in rendered.values()}
    assert max(sizes.values()) <= 200 * 1024, sizes


@pytest.mark.parametrize("name, family", [
    ("海悦社区便民服务中心", None),
    ("堃喆玥镕社区䶮服务中心", "Report-Sans-CJK-Ext"),
    ("𠮷𬌗社区服务中心", "Noto-Sans-CJK"),
])
def test_rare_characters_print_through_the_font_fallbacks(tmp_path, name, family):
    doc = copy.deepcopy(BASE)
    doc["center"]["name"] = name
    target = tmp_path / "rare.pdf"
    compliance.render(compliance.evaluate(doc), "pdf", target)
    assert name in squash(pdftotext(target))          # every glyph maps back: none is missing
    names = [row[0] for row in pdffonts(target)]
    if family:
        assert any(family in n for n in names), names


def test_archival_pdf_is_pdf_a_3b_with_the_json_result_inside(tmp_path):
    result = compliance.evaluate(compliance.load_profile(EXAMPLES / "dandinghe-old-compound.yaml"), "yinzhou")
    target = tmp_path / "filed.pdf"
    compliance.render(result, "pdf", target, archival=True)
    meta = subprocess.run(["pdfinfo", "-meta", str(target)], capture_output=True, text=True).stdout
    assert 'pdfaid:part="3"' in meta and 'pdfaid:conformance="B"' in meta
    assert "audit-result.json" in subprocess.run(["pdfdetach", "-list", str(target)], capture_output=True, text=True).stdout
    subprocess.run(["pdfdetach", "-saveall", "-o", str(tmp_path), str(target)], check=True)
    attached = json.loads((tmp_path / "audit-result.json").read_text(encoding="utf-8"))
    assert attached == json.loads(json.dumps(result.to_dict()))


def test_html_report_is_one_self_contained_file_with_an_svg_chart():
    result = compliance.evaluate(compliance.load_profile(EXAMPLES / "dandinghe-old-compound.yaml"))
    html = compliance.render(result, "html", lang="zh")
    assert '<link rel="stylesheet"' not in html and "@font-face" in html
    chart = html[html.index('<div class="chart">'): html.index("</svg>") + 200]
    svg = chart[chart.index("<svg"): chart.index("</svg>")]
    assert svg.count("<rect") == 2 * len(result.categories)
    labels, values = re.findall(r'<div class="chart-text[^"]*">(.*?)</div>', chart)
    assert values.split("&#10;") == [f"{c.score:.1f}" for c in result.categories]
    assert labels.split("&#10;") == [result.ruleset.category(c.id).title["zh"] for c in result.categories]


HOSTILE = [
    '<img src="file:///etc/passwd">',
    '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">',
    '<style>@import url("http://127.0.0.1:9/a.css");</style>',
    '<svg><image href="file:///etc/hostname"/></svg>',
    '"><script>alert(1)</script>',
    "{{ 7*7 }}{% raw %}",
    "url(file:///etc/shadow)",
]


def _hostile_profile() -> dict:
    doc = copy.deepcopy(BASE)
    doc["center"].update(id=HOSTILE[4][:60], name=HOSTILE[0], community=HOSTILE[1],
                         region={"province": HOSTILE[2][:100], "city": HOSTILE[3], "district": HOSTILE[5],
                                 "street": HOSTILE[6]}, assessed_on="2026-11-01")
    for zone, payload in zip(doc["space"]["zones"], HOSTILE):
        zone["name"] = payload
    return doc


def test_markup_in_every_string_renders_as_text_and_fetches_nothing(tmp_path, monkeypatch):
    result = compliance.evaluate(_hostile_profile())
    engine = pdf_module.engine()
    seen: list[str] = []
    real_fetch = engine.fetcher.fetch
    monkeypatch.setattr(engine.fetcher, "fetch", lambda url, headers=None: (seen.append(url), real_fetch(url, headers))[1])
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("the report opened a network connection"))
    html = compliance.render(result, "html")
    for payload in (HOSTILE[0], HOSTILE[1], HOSTILE[4]):
        assert payload not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert "{{ 7*7 }}" in html and ">49<" not in html
    target = tmp_path / "hostile.pdf"
    compliance.render(result, "pdf", target)
    text = squash(pdftotext(target))
    assert squash(HOSTILE[0]) in text and squash(HOSTILE[3]) in text
    root = pdf_module.assets_dir()
    assert all(Path(url.removeprefix("file://")).resolve().is_relative_to(root) for url in seen)
    md = compliance.render(result, "md")
    assert not re.search(r"(?<!\\)<(img|link|style|svg|script)", md) and "\\<img" in md


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "http://127.0.0.1:9/x.css",
    "https://example.org/font.ttf",
    "data:text/css,body{}",
    "ftp://127.0.0.1/x",
])
def test_the_url_fetcher_refuses_anything_but_report_assets(url):
    fetcher = pdf_module.asset_fetcher_class()(pdf_module.assets_dir())
    with pytest.raises(ValueError, match="report assets only"):
        fetcher.fetch(url)
    assert fetcher.refused == [url]


def test_the_url_fetcher_refuses_a_path_that_climbs_out_of_the_assets():
    root = pdf_module.assets_dir()
    fetcher = pdf_module.asset_fetcher_class()(root)
    with pytest.raises(ValueError):
        fetcher.fetch((root / ".." / "compliance" / "__init__.py").as_uri())
    assert fetcher.fetch((root / "report.css").as_uri()).url.endswith("report.css")


def test_html_templates_autoescape_and_the_others_do_not():
    assert render_module.environment("html").autoescape is True
    assert render_module.environment("text").autoescape is False
    assert render_module.environment("md").autoescape is False


def test_report_options_are_checked():
    result = compliance.evaluate(BASE)
    with pytest.raises(ReportError, match="unknown report format"):
        compliance.render(result, "docx")
    with pytest.raises(ReportError, match="an option of the PDF format"):
        compliance.render(result, "html", archival=True)
    with pytest.raises(ReportError, match="not supported"):
        compliance.render(result, "pdf", lang="fr")


# WeasyPrint's import, in a fresh interpreter each time: which system libraries it opens and how.
DLOPEN_SPY = """
import subprocess, sys, cffi
spawned, real_popen, real_dlopen = [], subprocess.Popen, cffi.FFI.dlopen
class Popen(real_popen):
    def __init__(self, args, *rest, **options):
        spawned.append(args if isinstance(args, str) else args[0])
        super().__init__(args, *rest, **options)
subprocess.Popen = Popen
missing = sys.argv[1].split(",")      # names the loader is made not to know
def dlopen(self, name, flags=0):
    if name in missing:
        raise OSError(f"cannot open shared object file {name}")
    if name == "libpango-1.0-0" and missing == ["libpango-1.0.so.0"]:
        return real_dlopen(self, "libpango-1.0.so.0", flags)     # found by the search, as a system might
    return real_dlopen(self, name, flags)
cffi.FFI.dlopen = dlopen
"""


def _import_weasyprint(code: str, missing: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", DLOPEN_SPY + code, missing], capture_output=True, text=True,
                          timeout=60)


def test_weasyprint_is_imported_without_running_a_library_search():
    done = _import_weasyprint("import compliance.weasy\nprint(len(spawned))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"          # no ldconfig, gcc or ld: the libraries open by their sonames
    done = _import_weasyprint("import weasyprint\nprint(len(spawned))")
    assert int(done.stdout) > 0                # WeasyPrint on its own searches (what the module above avoids)


def test_a_library_known_only_by_another_name_is_still_found_and_stdout_stays_clean():
    done = _import_weasyprint("from compliance.weasy import weasyprint\nprint('imported', weasyprint.__name__)",
                              missing="libpango-1.0.so.0")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "imported weasyprint\n"     # WeasyPrint's installation advice went to standard error


def test_a_missing_system_library_is_a_report_error_that_names_it():
    pango = ["libpango-1.0-0", "pango-1.0-0", "pango-1.0", "libpango-1.0.so.0", "libpango-1.0.dylib",
             "libpango-1.0-0.dll"]
    done = _import_weasyprint(
        "import compliance\nfrom compliance.pdf import html_to_pdf\n"
        "try:\n    html_to_pdf('<p>a</p>')\nexcept compliance.ReportError as exc:\n"
        "    from compliance.i18n import text\n    print(text(exc.text, 'zh'))", missing=",".join(pango))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("生成报告文件需要 'WeasyPrint' 及其系统库："), done.stdout
    assert "libpango-1.0-0" in done.stdout and done.stdout.count("\n") == 1      # the library, by name
    assert "WeasyPrint could not import some external libraries" in done.stderr
