"""The command line as scripts and auditors use it: exit codes, outputs, messages."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import EXAMPLES, ROOT, run_cli

HAIYUE = str(EXAMPLES / "haiyue.yaml")
DANDINGHE = str(EXAMPLES / "dandinghe-old-compound.yaml")


def test_a_conforming_centre_exits_0_with_the_json_result():
    out = run_cli("audit", HAIYUE, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["verdict"], doc["score"], doc["grade"]) == ("conforming", 100.0, "excellent")
    assert len(doc["findings"]) == 30


def test_json_is_the_default_when_output_is_not_a_terminal():
    out = run_cli("audit", HAIYUE)
    assert json.loads(out.stdout)["center"]["id"] == "330212-SN-0103"


def test_a_non_conforming_centre_exits_1_and_the_text_view_says_what_to_fix():
    out = run_cli("audit", DANDINGHE, "--format", "text", lang=None)       # Chinese, the default
    assert out.returncode == 1
    text = out.stdout
    assert "不合格" in text and "45.2" in text
    assert "将 40.0 m² 办公用房改为服务用房" in text
    assert "增加 69.0 m² 用房面积" in text
    assert text.index("5.2") < text.index("4.3") < text.index("4.5")   # veto, then shall, then should


def test_english_text_view():
    out = run_cli("audit", DANDINGHE, "--format", "text", "--lang", "en")
    assert "Non-conforming" in out.stdout and "Convert 40.0 m² of office space to service use" in out.stdout


def test_markdown_report_to_a_file(tmp_path):
    target = tmp_path / "r.md"
    out = run_cli("audit", DANDINGHE, "--format", "md", "-o", str(target), "--rules", "yinzhou", lang=None)
    assert out.returncode == 1 and out.stdout == ""
    md = target.read_text(encoding="utf-8")
    assert md.startswith("# 丹顶鹤社区便民服务中心")
    assert "| 5.1 每百户用房面积 | 应 | 不符合 | 每百户 24.4 m² | ≥ 每百户 40 m² | 宁波市鄞州区 |" in md   # the layer by its title


def test_the_haichuang_shortfalls_read_in_plain_words():
    out = run_cli("audit", str(EXAMPLES / "haichuang-large-community.yaml"), "--format", "text", lang=None)
    assert "增配 7 名社区工作者" in out.stdout and "再有 1 名社工取得职业资格证书" in out.stdout


@pytest.mark.parametrize("args, words", [
    (["audit", "missing.yaml"], "missing.yaml: no such file"),
    (["audit", HAIYUE, "--rules", "ningpo"], "did you mean 'ningbo'"),
    (["audit", HAIYUE, "--rules", "/nonexistent/rules.yaml"], "no such rule set file"),
    (["audit", HAIYUE, "--format", "pdfx"], "invalid choice"),
    (["audit", HAIYUE, "-o", "/nonexistent/dir/out.json"], "cannot write the report"),
    (["frobnicate"], "invalid choice"),
    (["rules", "show", "9.9"], "the rule set 'national' has no clause '9.9'"),
    (["rules", "lint", "/nonexistent.yaml"], "no such rule set file"),
    (["validate", "/dev/zero"], "not a regular file"),
    (["audit", "/"], "is a folder, not a file"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(args, words):
    out = run_cli(*args)
    assert out.returncode == 2
    err = out.stderr
    assert words in err
    assert "Traceback" not in err


def test_an_invalid_profile_lists_every_problem_with_its_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\ncenter: {id: a, name: b, setting: urban}\npopulation: {households: 1}\n"
                   "space: {total_area_m2: 10, zones: [{kind: ofice, area_m2: 20}]}\n", encoding="utf-8")
    out = run_cli("audit", str(bad))
    err = out.stderr
    assert out.returncode == 2 and out.stdout == ""
    assert f"{bad}:3: $.population: required key 'residents' is missing" in err
    assert f"{bad}:4: $.space.zones[0].kind: 'ofice' is not a zone type; did you mean 'office'?" in err
    assert "$.space.zones: the zones' areas add up to 20.0 m², more than the total floor area (10 m²)" in err


def test_a_bad_centre_in_a_batch_does_not_stop_the_others(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("x: [\n", encoding="utf-8")
    out = run_cli("audit", HAIYUE, str(bad), DANDINGHE, "--format", "json")
    assert out.returncode == 2
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["center"]["id"] for d in lines] == ["330212-SN-0103", "330212-BH-0007"]
    assert "bad.yaml" in out.stderr


def test_a_batch_to_a_folder_writes_one_report_per_centre(tmp_path):
    out = run_cli("audit", HAIYUE, DANDINGHE, "--format", "md", "-o", str(tmp_path / "reports"))
    assert out.returncode == 1
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["dandinghe-old-compound.md", "haiyue.md"]


def test_profile_from_standard_input():
    out = run_cli("audit", "-", "--format", "json", input=(EXAMPLES / "haiyue.yaml").read_bytes())
    assert out.returncode == 0 and json.loads(out.stdout)["score"] == 100.0


def test_validate_reports_each_file():
    ok = run_cli("validate", HAIYUE, DANDINGHE)
    assert ok.returncode == 0 and ok.stdout.count("valid") == 2


def test_schema_prints_the_published_draft_2020_12_schema():
    out = run_cli("schema")
    schema = json.loads(out.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"schema_version", "center", "population", "space"}


def test_rules_list_show_and_lint(tmp_path):
    listing = run_cli("rules", "list").stdout
    for name in ("national", "ningbo", "yinzhou", "beijing"):
        assert name in listing
    show = run_cli("rules", "show", "7.1", "--rules", "yinzhou").stdout
    assert "threshold '22' (≥ 22 per 10,000 residents), set by 'ningbo'" in show
    assert "阈值 '22'（≥ 每万人 22 名），由 'ningbo' 设定" in run_cli("rules", "show", "7.1", "--rules", "yinzhou",
                                                               lang=None).stdout
    assert run_cli("rules", "lint", str(ROOT / "rules" / "yinzhou.yaml")).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text('ruleset: bad\nextends: national\nversion: "1"\ntitle: {zh: a, en: a}\n'
                   'overrides: {"5.2": {threshold: 0.5}}\n', encoding="utf-8")
    out = run_cli("rules", "lint", str(bad))
    assert out.returncode == 2 and "loosens the clause '5.2'" in out.stderr
    assert f"{bad}:5:" in out.stderr


def test_pdf_and_html_reports_from_the_command_line(tmp_path):
    pdf = tmp_path / "report.pdf"
    out = run_cli("audit", DANDINGHE, "--format", "pdf", "-o", str(pdf), "--rules", "yinzhou")
    assert out.returncode == 1 and out.stderr == ""
    assert pdf.read_bytes().startswith(b"%PDF-")
    html = run_cli("audit", HAIYUE, "--format", "html", "--lang", "en")
    assert html.returncode == 0 and html.stdout.startswith("<!DOCTYPE html>")
    archival = tmp_path / "filed.pdf"
    assert run_cli("audit", HAIYUE, "--format", "pdf", "--archival", "-o", str(archival)).returncode == 0
    listing = subprocess.run(["pdfdetach", "-list", str(archival)], capture_output=True, text=True).stdout
    assert "audit-result.json" in listing


@pytest.mark.parametrize("args, words", [
    (["audit", HAIYUE, "--format", "pdf"], "give '-o OUT'"),
    (["audit", HAIYUE, "--format", "md", "--archival"], "'--archival' is an option of the PDF format"),
])
def test_pdf_options_are_checked(args, words):
    out = run_cli(*args)
    assert out.returncode == 2 and words in out.stderr


def test_a_report_that_cannot_be_written_names_its_target(tmp_path):
    out = run_cli("audit", HAIYUE, "--format", "md", "-o", str(tmp_path))
    assert out.returncode == 2 and f"{tmp_path}: cannot write the report" in out.stderr
