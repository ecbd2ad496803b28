"""Input nobody here wrote: every class of bad input exits 2 naming the file, a bug exits 3, and no error ever exits 1."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import compliance
from compliance import ProfileError, ReportError, RuleSetError

from conftest import BASE, EXAMPLES, ROOT, run_cli

HAIYUE = str(EXAMPLES / "haiyue.yaml")


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def as_json(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False)


# ---------------------------------------------------------------- 1. exit status and errors

def test_a_zone_area_of_ten_to_the_400_is_bad_input_naming_the_path(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["space"]["zones"][0]["area_m2"] = 10 ** 400
    path = write(tmp_path / "big.json", as_json(doc))
    out = run_cli("audit", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{path}:1: $.space.zones[0].area_m2: a number of 401 digits is too large" in out.stderr


def test_a_lone_surrogate_in_a_json_name_is_bad_input(tmp_path):
    text = as_json(BASE).replace('"海悦社区便民服务中心"', '"\\ud800"')
    path = write(tmp_path / "surrogate.json", text)
    out = run_cli("audit", str(path), "--format", "text")
    assert out.returncode == 2
    assert "$.center.name: holds '\\ud800', a lone surrogate, which is not text" in out.stderr


LAYER_HEAD = 'ruleset: district\nextends: national\nversion: "1"\ntitle: {zh: 区, en: District}\n'


@pytest.mark.parametrize("body, words", [
    ('overrides: {"5.2": {threshold: "eighty"}}', "'eighty' is not a number"),
    ('overrides: {"5.2": {threshold: null}}', "null is not a number"),
    ('overrides: {"5.2": {threshold: [0.8]}}', "a list is not a number"),
    ('overrides: {"5.2": {threshold: {min: 0.8}}}', "a mapping is not a number"),
    ('overrides: {"5.2": {threshold: true}}', "true is not a number"),
    ('overrides: {"8.3": {threshold: 1e308}}', "1e+308 is out of range; it must be at most 1000000000"),
    ('overrides: {"7.1": {threshold: 1e308}}', "1e+308 is out of range; it must be at most 1000000"),
    ('overrides: {"8.3": {weight: .nan}}', "'.nan' is not a finite number"),
    ("pass_score: .nan", "'.nan' is not a finite number"),
    ("pass_score: .inf", "'.inf' is not a finite number"),
    ('overrides: {"8.3": {shortfall: {unit: hours, text: {zh: "{amount:>999999999}", en: x}}}}',
     "placeholders take no format specification"),
    ('overrides: {"8.3": {shortfall: {unit: hours, text: {zh: "{amount!r}", en: x}}}}',
     "placeholders take no format specification"),
    ('overrides: {"8.3": {shortfall: {unit: hours, text: {zh: "{0}", en: x}}}}', "'{0}' is not a placeholder here"),
    ('overrides: {"8.3": {shortfall: {unit: hours, text: {zh: "{items[0]}", en: x}}}}',
     "placeholders take no format specification"),
    ('overrides: {"8.3": {shortfall: {unit: hours, text: {zh: "还差 { 小时", en: x}}}}', "a lone '{'"),
    ('overrides: {"5.1": {measure: {zh: "{value:,}", en: "{amount}"}}}', "allowed: '{value}'"),
])
def test_a_bad_rule_layer_exits_2_naming_the_file_and_clause(tmp_path, body, words):
    layer = write(tmp_path / "district.yaml", LAYER_HEAD + body + "\n")
    for args in (["rules", "lint", str(layer)], ["audit", HAIYUE, "--rules", str(layer)]):
        out = run_cli(*args)
        assert out.returncode == 2, out.stdout + out.stderr
        assert str(layer) in out.stderr and words in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""


def test_literal_braces_and_the_allowed_placeholders_are_fine(tmp_path):
    layer = write(tmp_path / "district.yaml", LAYER_HEAD + (
        'overrides: {"8.3": {shortfall: {unit: hours, text: {zh: "每周增加 {amount} 小时 {{按周}}", '
        'en: "Open {amount} more hours {{weekly}}"}}}}\n'))
    rules = compliance.load_ruleset(layer)
    finding = compliance.evaluate(compliance.load_profile(
        {**copy.deepcopy(BASE), "services": {**BASE["services"], "weekly_opening_hours": 37.5}}), rules).finding("8.3")
    assert finding.message("zh") == "每周增加 2.5 小时 {按周}"
    assert finding.message("en") == "Open 2.5 more hours {weekly}"


def test_standard_output_on_a_full_device_is_exit_2_with_a_message():
    with open("/dev/full", "wb") as full:
        out = subprocess.run([sys.executable, "-m", "compliance", "audit", HAIYUE, "--format", "json", "--lang", "en"],
                             stdout=full, stderr=subprocess.PIPE, cwd=ROOT, timeout=120)
    err = out.stderr.decode()
    assert out.returncode == 2, err
    assert "cannot write to standard output" in err and "Traceback" not in err and "Exception ignored" not in err


_CRASH = """
import sys
import compliance.cli as cli
def boom(*args, **kwargs):
    raise RuntimeError("simulated defect")
cli.evaluate = boom
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("debug", [False, True])
def test_an_internal_error_exits_3_with_one_line_and_the_traceback_only_with_debug(debug):
    args = ["audit", HAIYUE, str(EXAMPLES / "dandinghe-old-compound.yaml"), "--lang", "en"] + (["--debug"] if debug else [])
    out = subprocess.run([sys.executable, "-c", _CRASH, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 3
    lines = [line for line in out.stderr.splitlines() if "internal error" in line]
    assert len(lines) == 2 and HAIYUE in lines[0] and "dandinghe" in lines[1]   # the other file was still tried
    assert "'RuntimeError: simulated defect'" in lines[0] and "please report" in lines[0]
    assert ("Traceback" in out.stderr) is debug


def test_debug_is_accepted_before_the_verb_too():
    out = subprocess.run([sys.executable, "-c", _CRASH, "--debug", "audit", HAIYUE], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 3 and "Traceback" in out.stderr


@pytest.mark.parametrize("call, error", [
    (lambda: compliance.evaluate({"schema_version": 1}), ProfileError),
    (lambda: compliance.evaluate({**copy.deepcopy(BASE), "signage": ["grid_mapp"]}), ProfileError),
    (lambda: compliance.load_profile("a\0b"), ProfileError),
    (lambda: compliance.load_ruleset("a\0b"), RuleSetError),
    (lambda: compliance.load_ruleset("/nonexistent/rules.yaml"), RuleSetError),
    (lambda: compliance.render(compliance.evaluate(BASE), "text", "/nonexistent/dir/r.txt"), ReportError),
])
def test_every_library_error_on_bad_input_is_a_compliance_error(call, error):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, compliance.ComplianceError) and str(info.value)


@pytest.mark.parametrize("call", [
    lambda: compliance.load_profile(42),
    lambda: compliance.evaluate(42),
    lambda: compliance.load_ruleset(3.5),
    lambda: compliance.render(None, "text"),
    lambda: compliance.render("a result", "pdf"),
    lambda: compliance.render(compliance.load_profile(HAIYUE), "md"),       # a profile not yet evaluated
    lambda: compliance.render(compliance.evaluate(BASE), 5),
    lambda: compliance.render(compliance.evaluate(BASE), "md", 5),
    lambda: compliance.audit_many({"330212-SN-0103": BASE}),                 # a mapping: its keys are no profiles
    lambda: compliance.audit_many(HAIYUE),                                   # one path: its characters neither
    lambda: compliance.audit_many([BASE], jobs="2"),
    lambda: compliance.compare(BASE, 42),
    lambda: compliance.read_profiles(42),
], ids=["profile-number", "evaluate-number", "ruleset-float", "render-none", "render-str", "render-profile",
        "render-format-number", "render-target-number", "audit-many-mapping", "audit-many-path", "audit-many-jobs",
        "compare-number", "read-profiles-number"])
def test_a_wrong_type_of_argument_is_a_type_error_at_the_call(call):
    with pytest.raises(TypeError):
        call()                       # at the call itself, even where the answer is an iterator


@pytest.mark.parametrize("rules", ["yinzhou", ROOT / "rules" / "yinzhou.yaml", str(ROOT / "rules" / "yinzhou.yaml")])
def test_every_function_that_takes_a_rule_set_takes_its_name_or_path_too(rules):
    yinzhou = compliance.load_ruleset("yinzhou")
    expected = compliance.evaluate(BASE, yinzhou).to_dict()
    assert compliance.evaluate(BASE, rules).to_dict() == expected
    assert [r.to_dict() for r in compliance.audit_many([BASE], rules)] == [expected]
    assert compliance.compare(BASE, BASE, rules).after.to_dict() == expected
    assert compliance.load_profile(BASE, rules=rules).vocabulary is yinzhou.vocabulary
    (where, profile), = compliance.read_profiles(HAIYUE, rules)
    assert compliance.evaluate(profile, yinzhou).ruleset.id == "yinzhou"


@pytest.mark.parametrize("call", [
    lambda: compliance.load_profile("/nonexistent/centre.yaml"),
    lambda: compliance.load_profile({"schema_version": 1}),
    lambda: compliance.load_ruleset("nosuch"),
    lambda: compliance.load_ruleset(""),
    lambda: compliance.load_ruleset("/nonexistent/rules.yaml"),
    lambda: compliance.load_profile("a\0b"),
    lambda: compliance.evaluate(BASE, "yinzhuo"),
], ids=["no-file", "invalid", "unknown-rules", "empty-rules", "no-rules-file", "nul", "misspelt-rules"])
def test_every_profile_and_rule_set_error_carries_a_located_problem(call):
    with pytest.raises((ProfileError, RuleSetError)) as info:
        call()
    assert info.value.problems and all(p.file for p in info.value.problems)


def test_problem_lists_are_capped_and_a_huge_hostile_profile_is_refused_at_once(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["space"]["zones"] = [{}] * 340_000
    path = write(tmp_path / "zones.json", json.dumps(doc, separators=(",", ":")))
    assert path.stat().st_size < 1 << 20
    start = time.perf_counter()
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(path)
    assert time.perf_counter() - start < 5.0          # a bound on a hang, not a speed target
    assert info.value.problems[0].json_path == "$.space.zones"
    out = run_cli("audit", str(path))
    assert out.returncode == 2 and len(out.stderr) < 2000
    doc["space"]["zones"] = [{}] * 900                 # within limits: 1,800 problems, 100 listed
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(doc)
    assert len(info.value.problems) == 100 and info.value.total >= 1000 and not info.value.complete
    assert "at least 1,000 problems in the profile (the first 100 are listed)" in str(info.value)
    assert "and at least 900 more problems" in str(info.value)


def test_a_large_yaml_file_without_aliases_is_not_called_alias_expansion(tmp_path):
    path = write(tmp_path / "big.yaml", "zones:\n" + "- {}\n" * 120_000)
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(path)
    assert "more than 100,000 values" in str(info.value) and "alias" not in str(info.value)


@pytest.mark.parametrize("encoding, words", [
    ("gbk", "is not in the 'UTF-8' encoding (it looks like 'GBK'): save it as 'UTF-8'"),
    ("gb18030", "is not in the 'UTF-8' encoding (it looks like 'GBK'): save it as 'UTF-8'"),
    ("utf-16", "is not in the 'UTF-8' encoding (it looks like 'UTF-16'): save it as 'UTF-8'"),
    ("utf-16-le", "is not in the 'UTF-8' encoding (it looks like 'UTF-16'): save it as 'UTF-8'"),
    ("big5", "is not in the 'UTF-8' encoding (it looks like 'Big5'): save it as 'UTF-8'"),
])
def test_a_file_in_another_encoding_is_told_what_it_looks_like(tmp_path, encoding, words):
    text = Path(HAIYUE).read_text(encoding="utf-8")
    if encoding == "big5":
        text = text.replace("海悦社区便民服务中心", "海悅社區便民服務中心")   # traditional characters Big5 can hold
        text = "".join(ch for ch in text if ch.encode("big5", "ignore") or ch in "\n")
    path = write(tmp_path / f"{encoding}.yaml", text.encode(encoding, "ignore"))
    out = run_cli("validate", str(path))
    assert out.returncode == 2 and words in out.stderr


# ---------------------------------------------------------------- 2. rule layers are untrusted

def test_extends_outside_the_layers_folder_is_refused_and_never_echoed(tmp_path):
    secret = write(tmp_path / "secret.yaml", "password: hunter2-SECRET\n")
    folder = tmp_path / "district"
    folder.mkdir()
    for ref in ("/etc/passwd", str(secret), "../secret.yaml", "../secret", "file:///etc/passwd",
                "http://127.0.0.1:9/x.yaml", "~/x.yaml", "sub/../../secret.yaml"):
        layer = write(folder / "d.yaml", f'ruleset: d\nextends: "{ref}"\nversion: "1"\ntitle: {{zh: 区, en: D}}\n')
        out = run_cli("rules", "lint", str(layer))
        assert out.returncode == 2, (ref, out.stderr)
        assert "root:" not in out.stderr and "hunter2" not in out.stderr
        assert str(layer) in out.stderr and ("outside" in out.stderr or "must name a bundled" in out.stderr), out.stderr


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside / "base.yaml", 'ruleset: base\nextends: national\nversion: "1"\ntitle: {zh: 基, en: Base}\n')
    folder = tmp_path / "district"
    folder.mkdir()
    (folder / "base.yaml").symlink_to(outside / "base.yaml")
    layer = write(folder / "d.yaml", 'ruleset: d\nextends: base\nversion: "1"\ntitle: {zh: 区, en: D}\n')
    with pytest.raises(RuleSetError, match="outside the layer's folder"):
        compliance.load_ruleset(layer)


def test_a_sibling_layer_in_the_same_folder_is_allowed(tmp_path):
    write(tmp_path / "city.yaml", 'ruleset: city\nextends: ningbo\nversion: "1"\ntitle: {zh: 市, en: City}\n'
                                  'overrides: {"8.3": {threshold: 42}}\n')
    layer = write(tmp_path / "street.yaml", 'ruleset: street\nextends: city\nversion: "1"\ntitle: {zh: 街, en: St}\n')
    rules = compliance.load_ruleset(layer)
    assert rules.layers == ("national", "ningbo", "city", "street")


def test_a_layer_cannot_take_a_bundled_rule_sets_name(tmp_path):
    fake = write(tmp_path / "national.yaml", 'ruleset: national\nversion: "9"\ntitle: {zh: 假, en: Fake}\n'
                                             'categories: [{id: x, title: {zh: x, en: x}}]\n'
                                             'grades: [{id: a, min: 0, title: {zh: a, en: a}}]\n'
                                             'clauses: [{clause: "1.1", category: x, level: shall, weight: 1, '
                                             'title: {zh: a, en: a}, requirement: {zh: a, en: a}, '
                                             'check: {type: flag, field: space.open_plan}}]\n')
    with pytest.raises(RuleSetError, match="name of a bundled rule set"):
        compliance.load_ruleset(fake)
    layer = write(tmp_path / "d.yaml", 'ruleset: d\nextends: national\nversion: "1"\ntitle: {zh: 区, en: D}\n')
    rules = compliance.load_ruleset(layer)             # extends the bundled national, not the sibling
    assert len(rules.clauses) == len(compliance.load_ruleset("national").clauses)
    with pytest.raises(RuleSetError, match="name of a bundled rule set"):
        compliance.load_ruleset(tmp_path)              # a folder holding the impostor is refused


@pytest.mark.parametrize("body, words", [
    ("pass_score: 50", "lowers the pass score ('pass_score') from 60 to 50 without a reason"),
    ("grades: [{id: excellent, min: 85, title: {zh: 优, en: E}}, {id: good, min: 75, title: {zh: 良, en: G}},"
     " {id: qualified, min: 60, title: {zh: 合格, en: Q}}, {id: unqualified, min: 0, title: {zh: 不, en: U}}]",
     "lowers the grade bands ('excellent' from 90 to 85; 'good' from 80 to 75) without a reason"),
    ('overrides: {"5.2": {weight: 1}}', "its weight from 3 to 1"),
    ('overrides: {"5.2": {weight: 0}}', "its weight from 3 to 0"),
    ('overrides: {"7.1": {check: {zero_denominator: not_applicable, per: 1000}}}', "its 'per' from 10000 to 1000"),
    ('overrides: {"7.2": {check: {zero_denominator: not_applicable}}}', "'zero_denominator' from 'fail'"),
    ('overrides: {"7.2": {check: {partial: [{max: 400, credit: 0.8}]}}}', "its 'partial' from"),
    ('overrides: {"5.4": {check: {codes: [service_hall]}}}', "its threshold from"),
    ('overrides: {"5.2": {check: {denominator: total}}}', "its 'denominator' from"),
])
def test_every_kind_of_loosening_needs_a_reason(tmp_path, body, words):
    layer = write(tmp_path / "loose.yaml", LAYER_HEAD + body + "\n")
    with pytest.raises(RuleSetError) as info:
        compliance.load_ruleset(layer)
    assert any(words in p.message and "without a reason" in p.message for p in info.value.problems), \
        info.value.problems


@pytest.mark.parametrize("body", [
    "pass_score: 50\ngrades: [{id: excellent, min: 90, title: {zh: 优, en: E}}, {id: good, min: 80, title: {zh: 良, en: G}},"
    " {id: qualified, min: 50, title: {zh: 合格, en: Q}}, {id: unqualified, min: 0, title: {zh: 不, en: U}}]\n"
    "reasons: {pass_score: 试点期间, grades: 试点期间}",
    "grades: [{id: excellent, min: 85, title: {zh: 优, en: E}}, {id: qualified, min: 60, title: {zh: 合格, en: Q}},"
    " {id: unqualified, min: 0, title: {zh: 不, en: U}}]\nreasons: {grades: 本区三档}",
    'overrides: {"5.2": {weight: 1, reason: 老旧小区用房受限}}',
    'overrides: {"5.2": {weight: 5}}',
    'overrides: {"7.2": {check: {partial: []}}}',
    'overrides: {"5.4": {threshold: [service_hall, deliberation, activity, display, rest_station]}}',
])
def test_tightening_or_stating_a_reason_is_accepted(tmp_path, body):
    layer = write(tmp_path / "ok.yaml", LAYER_HEAD + body + "\n")
    assert compliance.load_ruleset(layer).id == "district"


@pytest.mark.parametrize("body, words", [
    ('overrides: {"8.3": {weight: -1}}', "it must be at least 0"),
    ("grades: [{id: a, min: 50, title: {zh: a, en: a}}]\nreasons: {grades: x}", "one grade must start at 0"),
    ("grades: [{id: top, min: 75, title: {zh: 优, en: E}}, {id: unqualified, min: 0, title: {zh: 不, en: U}}]\n"
     "reasons: {grades: x}", "the lowest passing grade must start at or below the pass score"),
    ("grades: [{id: top, min: 10, title: {zh: 优, en: E}}, {id: unqualified, min: 0, title: {zh: 不, en: U}}]",
     "replaces the grades ('excellent', 'good', 'qualified', 'unqualified' → 'top', 'unqualified') without a reason"),
    ("".join(f'  "{c}": {{weight: 0, reason: x}}\n' for c in (
        "4.1 4.2 4.3 4.4 4.5 4.6 4.7 5.1 5.2 5.3 5.4 5.5 5.6 6.1 6.2 6.3 6.4 7.1 7.2 7.3 7.4 7.5 7.6 "
        "8.1 8.2 8.3 8.4 8.5 8.6 8.7").split()).join(["overrides:\n", ""]), "every clause has weight 0"),
])
def test_weights_and_grades_that_make_no_score_are_refused(tmp_path, body, words):
    layer = write(tmp_path / "bad.yaml", LAYER_HEAD + body + "\n")
    with pytest.raises(RuleSetError) as info:
        compliance.load_ruleset(layer)
    assert words in str(info.value)


def test_rules_lint_lists_every_problem_of_a_layer_at_once(tmp_path):
    layer = write(tmp_path / "bad.yaml", LAYER_HEAD + (
        "pass_score: 40\n"
        'overrides:\n'
        '  "5.2": {threshold: 0.5}\n'
        '  "8.3": {shortfall: {unit: hours, text: {zh: "{amount:>99}", en: x}}}\n'
        '  "9.9": {weight: 1}\n'))
    out = run_cli("rules", "lint", str(layer))
    assert out.returncode == 2
    for words in ("lowers the pass score", "loosens the clause '5.2'", "format specification",
                  "cannot override the clause '9.9'"):
        assert words in out.stderr, out.stderr


# ---------------------------------------------------------------- 3. outputs never lose data

def test_a_failed_write_leaves_the_previous_report_intact(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("previous report\n", encoding="utf-8")
    result = compliance.evaluate(BASE)

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ReportError, match="No space left on device"):
        compliance.render(result, "md", target)
    assert target.read_text(encoding="utf-8") == "previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]          # no temporary file left behind


def test_an_interrupted_pdf_render_leaves_the_previous_pdf_intact(tmp_path, monkeypatch):
    import importlib
    pdf_module = importlib.import_module("compliance.pdf")
    target = tmp_path / "report.pdf"
    target.write_bytes(b"%PDF-previous")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pdf_module, "html_to_pdf", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compliance.render(compliance.evaluate(BASE), "pdf", target)
    assert target.read_bytes() == b"%PDF-previous" and len(list(tmp_path.iterdir())) == 1


def test_two_profiles_with_one_name_from_two_folders_both_survive(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write(tmp_path / folder / "centre.yaml", Path(HAIYUE).read_text(encoding="utf-8"))
    out = run_cli("audit", str(tmp_path / "a" / "centre.yaml"), str(tmp_path / "b" / "centre.yaml"),
                  "--format", "md", "-o", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["centre-2.md", "centre.md"]
    assert "centre-2.md" in out.stderr and "already taken" in out.stderr


def test_an_output_folder_equal_to_the_input_folder_never_replaces_an_input(tmp_path):
    original = as_json(BASE)
    write(tmp_path / "a.json", original)
    write(tmp_path / "b.json", original)
    out = run_cli("audit", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--format", "json", "-o", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == original
    assert json.loads((tmp_path / "a-2.json").read_text(encoding="utf-8"))["result_version"] == 1
    assert "is an input" in out.stderr or "an input file" in out.stderr


def test_a_single_output_onto_its_own_input_is_refused(tmp_path):
    path = write(tmp_path / "a.json", as_json(BASE))
    out = run_cli("audit", str(path), "--format", "json", "-o", str(path))
    assert out.returncode == 2 and "would replace it" in out.stderr
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(as_json(BASE))


def test_an_output_that_is_a_symbolic_link_is_replaced_not_written_through(tmp_path):
    precious = write(tmp_path / "precious.txt", "do not overwrite\n")
    link = tmp_path / "report.md"
    link.symlink_to(precious)
    out = run_cli("audit", HAIYUE, "--format", "md", "-o", str(link))
    assert out.returncode == 0, out.stderr
    assert precious.read_text(encoding="utf-8") == "do not overwrite\n"
    assert not link.is_symlink() and link.read_text(encoding="utf-8").startswith("# 海悦社区便民服务中心")


def test_dash_as_output_means_standard_output():
    out = run_cli("audit", HAIYUE, "--format", "md", "-o", "-")
    assert out.returncode == 0 and out.stdout.startswith("# 海悦社区便民服务中心")
    pdf = subprocess.run([sys.executable, "-m", "compliance", "audit", HAIYUE, "--format", "pdf", "-o", "-"],
                         capture_output=True, cwd=ROOT, timeout=120)
    assert pdf.returncode == 0 and pdf.stdout.startswith(b"%PDF-")


HOSTILE_NAME = "\x1b[2J\x1b[H✔ 符合规范\r\n结论：✔ 符合规范 \u202e假\x9b31m"


def test_the_terminal_view_strips_control_characters_from_profile_text():
    doc = copy.deepcopy(BASE)
    doc["center"]["name"] = HOSTILE_NAME
    doc["space"]["zones"][0]["name"] = "\x07bell"
    text = compliance.render(compliance.evaluate(doc), "text")
    assert not any(ch in text for ch in "\x1b\r\x07\u202e\x9b")
    assert text.splitlines()[0].startswith(" [2J [H✔ 符合规范  结论：✔ 符合规范 假 31m")   # one line, inert


def test_the_command_line_strips_control_characters_too(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["center"]["name"] = HOSTILE_NAME
    doc["center"]["id"] = "\x1b[31mRED"
    path = write(tmp_path / "esc.json", as_json(doc))
    out = run_cli("audit", str(path), "--format", "text")
    valid = run_cli("validate", str(path))
    assert "\x1b" not in out.stdout + out.stderr + valid.stdout + valid.stderr


def test_markdown_escapes_every_field_from_profiles_and_rule_layers(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["center"]["name"] = "**bold** <img src=x> [link](http://x) | pipe # `code`"
    doc["center"]["region"] = {"province": "_under_", "city": "![i](x)", "district": "www.example.org", "street": "a@b"}
    layer = write(tmp_path / "district.yaml", LAYER_HEAD + (
        'overrides: {"5.2": {title: {zh: "*八比二* | <b>", en: x}, threshold: 0.9}}\n'))
    md = compliance.render(compliance.evaluate(doc, compliance.load_ruleset(layer)), "md", lang="zh")
    assert "\\*\\*bold\\*\\* \\<img src=x\\> \\[link\\]\\(http:\\//x\\) \\| pipe \\# \\`code\\`" in md
    assert "\\_under\\_" in md and "\\!\\[i\\]\\(x\\)" in md
    assert "w\\ww.example.org" in md and "a\\@b" in md        # bare addresses are not turned into links
    assert "\\*八比二\\* \\| \\<b\\>" in md
    import re
    assert not re.search(r"(?<!\\)[<\[]", md.replace("<sub>", "").replace("</sub>", ""))


# ---------------------------------------------------------------- 4. values as bureaus and databases write them

def test_yaml_numbers_are_read_as_yaml_1_2(tmp_path):
    text = Path(HAIYUE).read_text(encoding="utf-8")
    text = text.replace('id: "330212-SN-0103"', "id: 1:05").replace("total_area_m2: 560", "total_area_m2: 1e3")
    text = text.replace("households: 1800", "households: 01800")
    profile = compliance.load_profile(write(tmp_path / "p.yaml", text))
    assert profile.data["center"]["id"] == "1:05"                 # not 65 (base 60)
    assert profile.data["space"]["total_area_m2"] == 1000.0       # not the string "1e3"
    assert profile.data["population"]["households"] == 1800       # not octal


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "是", "否", "Y"])
def test_yes_no_and_friends_are_refused_with_a_hint(tmp_path, word):
    text = Path(HAIYUE).read_text(encoding="utf-8").replace("open_plan: true", f"open_plan: {word}")
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(write(tmp_path / "p.yaml", text))
    problem = info.value.problems[0]
    assert problem.json_path == "$.space.open_plan" and "write true or false" in problem.message


@pytest.mark.parametrize("date", ["2026-02-31", "2025-02-29", "2026-04-31"])
def test_a_date_that_is_not_in_the_calendar_is_refused(date):
    with pytest.raises(ProfileError) as info:
        compliance.load_profile({**copy.deepcopy(BASE), "center": {**BASE["center"], "assessed_on": date}})
    assert info.value.problems[0].json_path == "$.center.assessed_on"
    assert "not a date in the calendar" in info.value.problems[0].message


def test_a_leap_day_is_a_date():
    assert compliance.load_profile({**copy.deepcopy(BASE), "center": {**BASE["center"], "assessed_on": "2028-02-29"}})


def test_a_profile_built_from_database_rows_scores_like_the_file():
    import datetime
    from decimal import Decimal
    doc = copy.deepcopy(BASE)
    doc["center"]["assessed_on"] = datetime.date(2026, 11, 1)
    doc["population"]["households"] = Decimal("1800")
    doc["space"]["total_area_m2"] = Decimal("560.00")
    doc["space"]["zones"] = tuple({**z, "area_m2": Decimal(str(z["area_m2"]))} for z in doc["space"]["zones"])
    doc["signage"] = tuple(doc["signage"])
    doc["services"]["satisfaction_rate"] = Decimal("0.93")
    from_rows = compliance.evaluate(doc).to_dict()
    from_file = compliance.evaluate(compliance.load_profile(HAIYUE)).to_dict()
    for key in ("score", "grade", "verdict", "findings", "categories", "center"):
        assert from_rows[key] == from_file[key]
    assert compliance.load_profile(doc).data["population"]["households"] == 1800
    assert type(compliance.load_profile(doc).data["population"]["households"]) is int


def test_a_date_and_time_is_refused_with_a_hint():
    import datetime
    with pytest.raises(ProfileError, match="give the date only"):
        compliance.load_profile({**copy.deepcopy(BASE),
                                 "center": {**BASE["center"], "assessed_on": datetime.datetime(2026, 11, 1, 9, 30)}})


def test_changing_the_input_after_loading_changes_nothing():
    doc = copy.deepcopy(BASE)
    profile = compliance.load_profile(doc)
    result = compliance.evaluate(profile)
    doc["center"]["name"] = "changed"
    doc["services"]["single_window"] = False
    doc["space"]["zones"].clear()
    assert profile.name == "海悦社区便民服务中心" and compliance.evaluate(profile).score == result.score == 100.0
    assert result.to_dict()["center"]["name"] == "海悦社区便民服务中心"


def test_results_and_rule_sets_are_immutable_all_the_way_down():
    rules = compliance.load_ruleset("national")
    result = compliance.evaluate(BASE, rules)
    attempts = [
        lambda: rules.title.__setitem__("zh", "改"),
        lambda: rules.clause("5.2").title.__setitem__("zh", "改"),
        lambda: rules.clause("5.2").check.__setitem__("min", 0.1),
        lambda: rules.vocabulary.entries["zone_kinds"].pop("office"),
        lambda: result.findings[0].clause.title.update(zh="改"),
        lambda: result.profile.data["center"].__setitem__("name", "改"),
        lambda: result.profile.data["space"]["zones"].append({"kind": "office", "area_m2": 1}),
        lambda: result.profile.data["signage"].clear(),
    ]
    for attempt in attempts:
        with pytest.raises(TypeError, match="read-only"):
            attempt()
    assert compliance.load_ruleset("national").title["zh"] == "全国基线"
    editable = copy.deepcopy(result.profile.data)           # a plain, editable copy when one is wanted
    editable["center"]["name"] = "副本"
    assert result.profile.name == "海悦社区便民服务中心"


def test_evaluate_is_pure_a_float_seen_earlier_never_changes_a_later_integer():
    floor_float = {**copy.deepcopy(BASE), "space": {**BASE["space"], "service_hall_floor": 2.0}}
    floor_int = {**copy.deepcopy(BASE), "space": {**BASE["space"], "service_hall_floor": 2}}
    first = compliance.evaluate(floor_float).finding("5.5").measured
    second = compliance.evaluate(floor_int).finding("5.5").measured
    assert (first, type(first)) == (2.0, float) and (second, type(second)) == (2, int)
    assert json.dumps(compliance.evaluate(floor_int).to_dict()["findings"][11]["measured"]) == "2"


# ---------------------------------------------------------------- found by trying it as an attacker would

def test_a_device_or_a_link_to_one_is_written_into_never_replaced(tmp_path):
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    for target in ("/dev/null", str(link)):
        out = run_cli("audit", HAIYUE, "--format", "md", "-o", target)
        assert out.returncode == 0, out.stderr
    assert Path("/dev/null").is_char_device() and link.is_symlink()
    full = run_cli("audit", HAIYUE, "--format", "md", "-o", "/dev/full")
    assert full.returncode == 2 and "/dev/full: cannot write the report: No space left on device" in full.stderr
    assert Path("/dev/full").is_char_device()


def test_closed_standard_output_and_a_full_one_for_version_and_help_are_exit_2():
    closed = subprocess.run(f"{sys.executable} -m compliance audit {HAIYUE} --format json --lang en >&-", shell=True,
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert closed.returncode == 2 and "cannot write to standard output: it is closed" in closed.stderr
    assert "Traceback" not in closed.stderr
    for args in (["--version"], ["--help"], ["rules", "list"]):
        with open("/dev/full", "wb") as full:
            out = subprocess.run([sys.executable, "-m", "compliance", *args, "--lang", "en"], stdout=full,
                                 stderr=subprocess.PIPE, cwd=ROOT, timeout=120)
        assert out.returncode == 2 and b"cannot write to standard output" in out.stderr, args


def test_the_same_profile_twice_gives_two_reports(tmp_path):
    out = run_cli("audit", HAIYUE, HAIYUE, "--format", "md", "-o", str(tmp_path / "out"))
    assert out.returncode == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["haiyue-2.md", "haiyue.md"]


def test_a_long_profile_name_still_gets_its_report(tmp_path):
    long = tmp_path / ("社" * 80 + ".yaml")           # 240 bytes: the report's name fits, a longer prefix would not
    long.write_bytes(Path(HAIYUE).read_bytes())
    out = run_cli("audit", str(long), HAIYUE, "--format", "md", "-o", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "out").iterdir())) == 2


@pytest.mark.parametrize("call, words", [
    (lambda: compliance.load_ruleset(""), "no rule set was named"),
    (lambda: compliance.render(compliance.evaluate(BASE), "md", ""), "no output file name was given"),
])
def test_empty_names_are_refused_plainly(call, words):
    with pytest.raises(compliance.ComplianceError, match=words):
        call()


def test_a_date_with_a_trailing_newline_is_not_a_date(tmp_path):
    text = Path(HAIYUE).read_text(encoding="utf-8").replace("assessed_on: 2026-11-01", 'assessed_on: "2026-11-01\\n"')
    path = write(tmp_path / "d.yaml", text)
    for verb in ("validate", "audit"):
        out = run_cli(verb, str(path))
        assert out.returncode == 2 and "$.center.assessed_on" in out.stderr and "not a date" in out.stderr


@pytest.mark.parametrize("value, expected", [
    ("!!bool maybe", "'maybe' is not true or false; write true or false"),
    ('!!bool ""', "'' is not true or false; write true or false"),
    ("!!bool yes", "'yes' is not true or false; write true or false"),
    ("!!int 'abc'", "'abc' is not a whole number"),
    ("!!float 'x'", "'x' is not a number"),
])
def test_explicit_yaml_tags_with_bad_values_are_refused_with_the_line(tmp_path, value, expected):
    text = Path(HAIYUE).read_text(encoding="utf-8").replace("open_plan: true", f"open_plan: {value}")
    path = write(tmp_path / "t.yaml", text)
    out = run_cli("audit", str(path))
    assert out.returncode == 2 and f"{path}:17: {expected}" in out.stderr, out.stderr


def test_an_explicit_negative_hexadecimal_keeps_its_sign(tmp_path):
    from compliance import reading
    assert reading.parse(b"a: !!int '-0x10'\n", "t.yaml", ProfileError) == {"a": -16}


def test_a_symbolic_link_loop_in_a_layers_folder_is_bad_input(tmp_path):
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    layer = write(tmp_path / "d.yaml", 'ruleset: d\nextends: loop\nversion: "1"\ntitle: {zh: 区, en: D}\n')
    for target in (layer, tmp_path / "loop.yaml"):
        out = run_cli("rules", "lint", str(target))
        assert out.returncode == 2 and "leads nowhere" in out.stderr, out.stderr


@pytest.mark.parametrize("value", [10 ** 5000, 2 ** 70], ids=["5001 digits", "two to the 70"])
def test_integers_beyond_64_bits_from_a_dict_are_refused(value):
    doc = copy.deepcopy(BASE)
    doc["population"]["households"] = value
    with pytest.raises(ProfileError, match="digits is too large"):
        compliance.evaluate(doc)


def test_a_decimal_with_a_huge_exponent_is_refused_at_once():
    from decimal import Decimal
    doc = copy.deepcopy(BASE)
    doc["population"]["households"] = Decimal("1e999999")
    start = time.perf_counter()
    with pytest.raises(ProfileError, match="too large a number"):
        compliance.load_profile(doc)
    assert time.perf_counter() - start < 5.0


def test_huge_lists_of_unknown_codes_are_refused_quickly_with_a_capped_list():
    doc = copy.deepcopy(BASE)
    doc["signage"] = [f"code{i}" for i in range(40_000)]
    start = time.perf_counter()
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(doc)
    assert time.perf_counter() - start < 5.0
    assert info.value.problems[0].message == "a list of more than 200 items; it must have at most 200"
    assert len(info.value.problems) == 100 and not info.value.complete


def test_a_layer_with_hundreds_of_bad_clauses_is_linted_quickly(tmp_path):
    body = "".join(f'  - {{clause: "9.{i}", category: nope, level: shall, weight: 1, title: {{zh: a, en: a}}, '
                   f'requirement: {{zh: a, en: a}}, check: {{type: flag, field: space.open_plan}}}}\n'
                   for i in range(500))
    layer = write(tmp_path / "big.yaml", LAYER_HEAD + "clauses:\n" + body)
    start = time.perf_counter()
    with pytest.raises(RuleSetError) as info:
        compliance.load_ruleset(layer)
    assert time.perf_counter() - start < 5.0
    assert info.value.total == 500 and info.value.problems[99].line == 105


def test_missing_evidence_is_never_reported_as_all_clear():
    doc = copy.deepcopy(BASE)
    del doc["services"]
    result = compliance.evaluate(doc)
    assert not result.conforming and not result.not_passed
    for fmt, lang, words in (("text", "zh", "没有不符合的条款，但下列条款资料缺失"), ("md", "en", "No clause fails, but")):
        text = compliance.render(result, fmt, lang=lang)
        assert words in text and "全部条款均符合" not in text and "Every clause is met" not in text


@pytest.mark.parametrize("changes, clause, measured, action", [
    ({"grid_coverage": 0.9999}, "8.6", "99.99%", "网格覆盖率还差 0.01%"),
    ({"satisfaction_rate": 0.8999}, "8.7", "89.99%", "满意度还差 0.01%"),
    ({"weekly_opening_hours": 39.96}, "8.3", "每周 39.96 小时", "每周增加 0.04 小时开放时间"),
])
def test_a_failing_value_never_reads_as_the_threshold_it_misses(changes, clause, measured, action):
    doc = copy.deepcopy(BASE)
    doc["services"].update(changes)
    result = compliance.evaluate(doc)
    text = compliance.render(result, "text", lang="zh")
    finding = result.finding(clause)
    assert finding.status.value == "fail" and finding.action("zh") == action
    assert f"实测 {measured}" in text


def test_a_failing_clause_without_a_remedy_text_says_it_is_not_met(tmp_path):
    layer = write(tmp_path / "d.yaml", LAYER_HEAD + (
        "clauses:\n  - {clause: '9.1', category: service, level: should, weight: 1, title: {zh: 夜间服务, en: Night}, "
        "requirement: {zh: 宜提供夜间服务。, en: Night service.}, check: {type: flag, field: services.after_hours_service}}\n"))
    doc = copy.deepcopy(BASE)
    doc["services"]["after_hours_service"] = False
    finding = compliance.evaluate(doc, compliance.load_ruleset(layer)).finding("9.1")
    assert (finding.message("zh"), finding.message("en")) == ("未达到要求", "not met")


def test_an_amount_in_the_text_of_a_clause_without_one_is_refused(tmp_path):
    layer = write(tmp_path / "d.yaml", LAYER_HEAD + (
        'overrides: {"5.5": {shortfall: {text: {zh: "迁 {amount} 楼", en: x}}}}\n'))
    with pytest.raises(RuleSetError, match="this clause has no amount to show"):
        compliance.load_ruleset(layer)


def test_a_vanishing_denominator_never_puts_infinity_in_the_json(tmp_path):
    layer = write(tmp_path / "d.yaml", LAYER_HEAD + (
        "clauses:\n  - {clause: '9.1', category: service, level: should, weight: 1, title: {zh: 户均, en: x}, "
        "requirement: {zh: x, en: x}, check: {type: rate, numerator: population.households, "
        "denominator: services.grid_coverage, per: 1, min: 1}}\n"))
    doc = copy.deepcopy(BASE)
    doc["services"]["grid_coverage"] = 5e-324
    text = compliance.render(compliance.evaluate(doc, compliance.load_ruleset(layer)), "json")
    finding = next(f for f in json.loads(text)["findings"] if f["clause"] == "9.1")
    assert "Infinity" not in text and finding["status"] == "pass" and finding["measured"] is None


def test_messages_name_each_missing_key_and_speak_json():
    with pytest.raises(ProfileError) as info:
        compliance.load_profile({"schema_version": 1, "center": None})
    messages = [p.message for p in info.value.problems]
    assert "required key 'population' is missing" in messages and "required key 'space' is missing" in messages
    assert "null is not a mapping" in messages


@pytest.mark.parametrize("text, line", [
    ('{"a": 1,\n "b": 2,\n "a": 3}', 3),
    ('{"a": 1,\n "b": NaN}', 2),
    ('{"a": 1,\n "b": 1e999}', 2),
])
def test_json_refusals_carry_their_line(tmp_path, text, line):
    path = write(tmp_path / "bad.json", text)
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(path)
    assert info.value.problems[0].line == line


# ---------------------------------------------------------------- found by a second pass

def _layer_with(tmp_path: Path, clause: str) -> compliance.RuleSet:
    return compliance.load_ruleset(write(tmp_path / "d.yaml", LAYER_HEAD + "clauses:\n  - " + clause + "\n"))


def test_a_rate_of_nothing_that_must_fail_fails_without_a_crash_or_an_amount(tmp_path):
    rules = _layer_with(tmp_path, (
        "{clause: '9.1', category: zoning, level: shall, weight: 2, title: {zh: 人均面积, en: Area per resident}, "
        "requirement: {zh: x, en: x}, check: {type: rate, numerator: space.total_area_m2, "
        "denominator: population.residents, per: 1, min: 0.1, zero_denominator: fail}, "
        "shortfall: {adjust: numerator, unit: m2, text: {zh: '增加 {amount} m²', en: 'Add {amount} m²'}}}"))
    doc = copy.deepcopy(BASE)
    doc["population"]["residents"] = 0
    finding = compliance.evaluate(doc, rules).finding("9.1")
    assert (finding.status.value, finding.shortfall, finding.message("zh")) == ("fail", None, "未达到要求")


def test_an_output_never_replaces_the_rule_layer_in_use(tmp_path):
    layer = write(tmp_path / "district.yaml", LAYER_HEAD)
    before = layer.read_bytes()
    out = run_cli("audit", HAIYUE, "--rules", str(layer), "--format", "md", "-o", str(layer))
    assert out.returncode == 2 and "would replace it" in out.stderr
    cmp = run_cli("compare", HAIYUE, HAIYUE, "--rules", str(layer), "--format", "md", "-o", str(layer))
    assert cmp.returncode == 2 and layer.read_bytes() == before
    write(tmp_path / "district.md", "")                                  # not ours: may be replaced
    copy_ = write(tmp_path / "district.yaml.yaml", Path(HAIYUE).read_text(encoding="utf-8"))
    run_cli("audit", str(copy_), HAIYUE, "--rules", str(layer), "--format", "json", "-o", str(tmp_path))
    assert layer.read_bytes() == before


@pytest.mark.parametrize("services, text", [
    ({"weekly_opening_hours": 10.006}, "每周增加 29.99 小时开放时间"),       # 29.994 in the result document
    ({"satisfaction_rate": 0.89877}, "满意度还差 0.12%"),
    ({"grid_coverage": 0.87654321}, "网格覆盖率还差 12.35%"),         # 0.123457: the smallest step that passes
])
def test_a_remedy_in_words_shows_its_amount_as_people_write_it(services, text):
    doc = copy.deepcopy(BASE)
    doc["services"].update(services)
    result = compliance.evaluate(doc)
    assert text in compliance.render(result, "text", lang="zh") and text in compliance.render(result, "md", lang="zh")


@pytest.mark.parametrize("zones", [[], [{"kind": "restroom", "area_m2": 30}]])
def test_no_service_or_office_zones_fail_8_to_2_without_asking_to_convert_0_m2(zones):
    doc = copy.deepcopy(BASE)
    doc["space"]["zones"] = zones
    finding = compliance.evaluate(doc).finding("5.2")
    assert finding.status.value == "fail" and finding.shortfall is None
    import re
    assert finding.message("zh") == "未登记服务或办公分区面积"
    assert not re.search(r"(?<![\d.])0 m²", compliance.render(compliance.evaluate(doc), "text"))


def test_the_8_to_2_cap_is_the_office_area_exactly():
    doc = copy.deepcopy(BASE)
    doc["space"]["zones"] = [{"kind": "service_hall", "area_m2": 0.1}, {"kind": "office", "area_m2": 0.05}]
    assert compliance.evaluate(doc).to_dict()["findings"][8]["shortfall"]["amount"] == 0.05


@pytest.mark.parametrize("check, words", [
    ("{type: area_ratio, numerator: [office], denominator: [service], min: 0.5}", "must be part of the denominator"),
    ("{type: area_ratio, numerator: [service], denominator: total, min: 0.5}, shortfall: {unit: persons}",
     "an area ratio's shortfall is in 'm2'"),
])
def test_an_area_ratio_that_is_not_a_share_of_a_whole_is_refused(tmp_path, check, words):
    with pytest.raises(RuleSetError, match=words):
        _layer_with(tmp_path, "{clause: '9.1', category: zoning, level: shall, weight: 1, title: {zh: a, en: a}, "
                              f"requirement: {{zh: a, en: a}}, check: {check}}}")


@pytest.mark.parametrize("condition, words", [
    ("{field: center.setting, in: [rurall]}", "'rurall' can never be the value of 'center.setting'"),
    ('{field: space.open_plan, equals: "true"}', "'true' can never be the value of 'space.open_plan' (of the type 'boolean')"),
    ('{field: population.households, equals: "0"}', "'0' can never be the value of 'population.households' (of the type 'integer')"),
])
def test_a_not_applicable_condition_that_can_never_hold_is_refused(tmp_path, condition, words):
    layer = write(tmp_path / "d.yaml", LAYER_HEAD + f'overrides: {{"6.3": {{not_applicable_when: [{condition}], '
                                                    "reason: 试点}}\n")
    with pytest.raises(RuleSetError) as info:
        compliance.load_ruleset(layer)
    assert any(words in p.message for p in info.value.problems), info.value.problems


def test_enum_members_and_uuids_from_an_orm_read_the_same_however_the_rest_looks():
    import decimal
    import enum
    import uuid

    class Setting(str, enum.Enum):
        URBAN = "urban"

    for households in (1800, decimal.Decimal("1800")):
        doc = copy.deepcopy(BASE)
        doc["center"].update(setting=Setting.URBAN, id=uuid.UUID(int=7))
        doc["population"]["households"] = households
        profile = compliance.load_profile(doc)
        assert profile.data["center"]["setting"] == "urban" and profile.id == str(uuid.UUID(int=7))


def test_a_dataclass_is_refused_whatever_the_rest_looks_like():
    import dataclasses
    import decimal

    @dataclasses.dataclass
    class Population:
        households: int
        residents: int

    for households in (1800, decimal.Decimal("1800")):
        doc = copy.deepcopy(BASE)
        doc["population"] = Population(households, 5200)
        with pytest.raises(ProfileError, match="a value of type .Population. is not text"):
            compliance.load_profile(doc)


def test_results_cross_process_boundaries_and_copies_are_the_objects_themselves():
    import pickle
    result = compliance.evaluate(compliance.load_profile(HAIYUE), "yinzhou")
    again = pickle.loads(pickle.dumps(result))
    assert again.to_dict() == result.to_dict() and again.ruleset is compliance.load_ruleset("yinzhou")
    result.profile.data                                        # the frozen view exists
    assert copy.deepcopy(result.profile) is result.profile and copy.deepcopy(result) is result
    assert copy.deepcopy(result.ruleset) is result.ruleset


def test_a_district_layer_unpickles_only_if_its_file_is_unchanged(tmp_path):
    import pickle
    layer = write(tmp_path / "d.yaml", LAYER_HEAD + 'overrides: {"8.3": {threshold: 42}}\n')
    data = pickle.dumps(compliance.load_ruleset(layer))
    assert pickle.loads(data).clause("8.3").threshold == 42
    layer.write_text(LAYER_HEAD + 'overrides: {"8.3": {threshold: 44}}\n', encoding="utf-8")
    with pytest.raises(RuleSetError, match="content hash differs"):
        pickle.loads(data)


def test_a_rate_shows_as_a_percentage_only_when_the_rule_says_so(tmp_path):
    rules = _layer_with(tmp_path, (
        "{clause: '9.1', category: zoning, level: should, weight: 1, title: {zh: 人均, en: x}, requirement: {zh: x, en: x}, "
        "check: {type: rate, numerator: space.total_area_m2, denominator: population.residents, per: 1, min: 0.2}}"))
    view = compliance.render(compliance.evaluate(BASE, rules), "text", lang="zh")
    assert "要求值 ≥ 0.2" in view and "要求值 ≥ 20%" not in view
    assert "要求值 ≥ 60%" in compliance.render(compliance.evaluate({**copy.deepcopy(BASE), "staff": {
        **BASE["staff"], "certified_social_workers": 10}}), "text", lang="zh")           # 7.3 says percent: true


def test_a_folder_of_layers_may_also_hold_profiles_and_tests(tmp_path):
    write(tmp_path / "base.yaml", 'ruleset: base\nextends: national\nversion: "1"\ntitle: {zh: 基, en: Base}\n')
    write(tmp_path / "district.yaml", 'ruleset: district\nextends: ./base.yaml\nversion: "1"\ntitle: {zh: 区, en: D}\n')
    write(tmp_path / "centre.yaml", Path(HAIYUE).read_text(encoding="utf-8"))
    (tmp_path / "tests").mkdir()
    write(tmp_path / "x.test.yaml", "cases: []\n")
    assert compliance.load_ruleset(tmp_path).layers == ("national", "base", "district")


def test_a_full_width_code_is_matched_to_its_plain_spelling():
    doc = copy.deepcopy(BASE)
    doc["space"]["zones"][0]["kind"] = "ｏｆｆｉｃｅ"
    with pytest.raises(ProfileError, match="did you mean 'office'"):
        compliance.load_profile(doc)


def test_a_comparison_of_two_centres_names_both():
    text = compliance.render(compliance.compare(BASE, {**copy.deepcopy(BASE), "center": {
        **BASE["center"], "id": "OTHER-1", "name": "别的中心"}}), "text")
    assert "330212-SN-0103" in text and "OTHER-1" in text and "别的中心" in text
