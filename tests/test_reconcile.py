"""Self-check against inspection (自评 vs 考核): what a community claimed beside what the inspectors found."""
from __future__ import annotations

import dataclasses
import json
import subprocess

import jsonschema
import pytest

import compliance
from compliance import Flag, MismatchError

from conftest import BASE, DELETE, EXAMPLES, profile, run_cli, without

SIG = BASE["signage"]
AMENITIES = BASE["amenities"]
SELF = str(EXAMPLES / "reconcile" / "self-check.yaml")
INSPECTION = str(EXAMPLES / "reconcile" / "inspection.yaml")


def flag_of(self_check: dict, inspection: dict, clause: str) -> compliance.ClauseReconciliation:
    found = compliance.reconcile(self_check, inspection)
    return next(c for c in found.clauses if c.clause == clause)


@pytest.mark.parametrize("self_check, inspection, clause, flag", [
    # the same finding on both sides
    ({}, {}, "8.3", Flag.AGREES),
    ({"services__weekly_opening_hours": 35}, {"services__weekly_opening_hours": 30}, "8.3", Flag.AGREES),
    # partial against pass, both ways
    ({}, {"signage": without(SIG, "staff_board", "opening_hours")}, "4.4", Flag.OVERSTATED),
    ({"signage": without(SIG, "staff_board", "opening_hours")}, {}, "4.4", Flag.UNDERSTATED),
    # two partial findings: more items claimed than found is overstated; as many (other ones) agrees
    ({"signage": without(SIG, "staff_board")}, {"signage": without(SIG, "staff_board", "opening_hours")}, "4.4",
     Flag.OVERSTATED),
    ({"signage": without(SIG, "staff_board")}, {"signage": without(SIG, "opening_hours")}, "4.4", Flag.AGREES),
    # partial against fail
    ({"signage": without(SIG, "staff_board")},
     {"signage": without(SIG, "staff_board", "opening_hours", "complaint_hotline", "procedure_guide",
                         "service_commitment", "service_catalogue")}, "4.4", Flag.OVERSTATED),
    # a missing self-check claims no credit: it agrees with a fail and understates a pass
    ({"services__weekly_opening_hours": DELETE}, {"services__weekly_opening_hours": 35}, "8.3", Flag.AGREES),
    ({"services__weekly_opening_hours": 35}, {"services__weekly_opening_hours": DELETE}, "8.3", Flag.AGREES),
    ({"services__weekly_opening_hours": DELETE}, {}, "8.3", Flag.UNDERSTATED),
    # a clause the inspectors could not find evidenced was claimed met: overstated
    ({}, {"services__weekly_opening_hours": DELETE}, "8.3", Flag.OVERSTATED),
    # not applicable on both sides agrees
    ({"center__setting": "rural"}, {"center__setting": "rural"}, "6.2", Flag.AGREES),
    # not applicable on one side only is never "agrees"
    ({"center__setting": "rural"}, {}, "6.2", Flag.DIFFERS),
    ({}, {"center__setting": "rural"}, "6.2", Flag.DIFFERS),
    ({"center__setting": "rural"}, {"amenities": without(AMENITIES, "self_service_terminal")}, "6.2",
     Flag.OVERSTATED),
    ({"amenities": without(AMENITIES, "self_service_terminal")}, {"center__setting": "rural"}, "6.2",
     Flag.UNDERSTATED),
])
def test_each_clause_is_flagged_by_the_credit_each_side_gives_it(self_check, inspection, clause, flag):
    found = flag_of(profile(**self_check), profile(**inspection), clause)
    assert found.flag is flag
    assert (found.self_check.clause.clause, found.inspection.clause.clause) == (clause, clause)


def test_the_bundled_pair_shows_what_the_self_check_overstated():
    found = compliance.reconcile(SELF, INSPECTION, "yinzhou")
    assert (found.self_check.score, found.inspection.score, found.gap) == (94.2, 85.5, 8.7)
    assert [c.clause for c in found.overstated] == ["4.4", "8.3", "5.6", "8.7", "8.11"]   # shall before should
    assert [c.clause for c in found.understated] == ["7.8"]
    assert len(found.clauses) == 37 and found.differs == ()


def test_the_gap_is_the_self_check_less_the_inspection_to_one_decimal():
    found = compliance.reconcile(profile(services__satisfaction_rate=0.5), profile())
    assert found.gap == round(found.self_check.score - found.inspection.score, 1) < 0
    assert found.overstated == () and [c.clause for c in found.understated] == ["8.7"]


def test_a_reconciliation_is_immutable():
    found = compliance.reconcile(profile(), profile())
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.clauses = ()          # type: ignore[misc]
    assert isinstance(found.clauses, tuple)


def test_audits_of_two_centres_are_refused_at_the_inspections_centre_id():
    with pytest.raises(MismatchError) as caught:
        compliance.reconcile(profile(), profile(center__id="330212-SN-9999"))
    assert isinstance(caught.value, compliance.ComplianceError)
    problem = caught.value.problems[0]
    assert problem.json_path == "$.center.id"
    assert "330212-SN-9999" in problem.message and "330212-SN-0103" in problem.message


def test_two_results_under_different_rule_sets_are_refused_unless_a_rule_set_is_named():
    mine = compliance.evaluate(compliance.load_profile(SELF), "national")
    theirs = compliance.evaluate(compliance.load_profile(INSPECTION), "yinzhou")
    with pytest.raises(MismatchError) as caught:
        compliance.reconcile(mine, theirs)
    assert caught.value.problems[0].json_path == "$.ruleset"
    assert "national" in str(caught.value) and "yinzhou" in str(caught.value)
    found = compliance.reconcile(mine, theirs, "yinzhou")       # both audited again under the one named
    assert found.self_check.ruleset.id == found.inspection.ruleset.id == "yinzhou"
    assert compliance.reconcile(mine, compliance.evaluate(theirs.profile, "national")).inspection.ruleset.id == "national"


def test_results_given_are_used_as_they_are():
    mine = compliance.evaluate(compliance.load_profile(SELF), "yinzhou")
    theirs = compliance.evaluate(compliance.load_profile(INSPECTION), "yinzhou")
    found = compliance.reconcile(mine, theirs)
    assert found.self_check is mine and found.inspection is theirs


@pytest.mark.parametrize("bad", [3, None, b"centre.yaml", ["centre.yaml"]])
def test_wrong_argument_types_are_type_errors(bad):
    with pytest.raises(TypeError):
        compliance.reconcile(bad, profile())
    with pytest.raises(TypeError):
        compliance.reconcile(profile(), bad)


def test_compare_and_reconcile_pair_the_same_findings():
    before, after = profile(signage=without(SIG, "staff_board")), profile()
    comparison = compliance.compare(before, after)
    found = compliance.reconcile(before, after)
    assert [(c.before.clause.clause, c.before.status, c.after.status) for c in comparison.changes] == \
        [(c.clause, c.self_check.status, c.inspection.status) for c in found.clauses]


def test_the_document_has_the_contracts_shape_and_passes_its_schema():
    doc = compliance.reconcile(SELF, INSPECTION, "yinzhou").to_dict("en")
    jsonschema.Draft202012Validator(compliance.reconciliation_schema()).validate(doc)
    assert {"center", "self", "inspection", "gap", "clauses"} <= set(doc)
    assert doc["center"]["id"] == "330212-SN-0103"
    for side in ("self", "inspection"):
        assert {"score", "grade", "verdict"} <= set(doc[side])
    assert (doc["self"]["score"], doc["inspection"]["score"], doc["gap"]) == (94.2, 85.5, 8.7)
    assert doc["self"]["grade"] == "excellent" and doc["inspection"]["verdict"] == "conforming"
    by_clause = {c["clause"]: c for c in doc["clauses"]}
    assert {"clause", "self_status", "self_credit", "inspection_status", "inspection_credit", "flag"} <= \
        set(by_clause["4.4"])
    assert by_clause["4.4"]["self_status"] == "pass" and by_clause["4.4"]["self_credit"] == 1.0
    assert by_clause["4.4"]["inspection_status"] == "partial" and 0 < by_clause["4.4"]["inspection_credit"] < 1
    assert by_clause["7.8"]["self_status"] == "missing" and by_clause["7.8"]["self_credit"] == 0.0
    assert by_clause["7.8"]["flag"] == "understated"
    assert doc["overstated"] == ["4.4", "8.3", "5.6", "8.7", "8.11"]
    na = compliance.reconcile(profile(center__setting="rural"), profile()).to_dict()
    row = next(c for c in na["clauses"] if c["clause"] == "6.2")
    assert (row["self_status"], row["self_credit"], row["flag"]) == ("not_applicable", None, "differs")
    jsonschema.Draft202012Validator(compliance.reconciliation_schema()).validate(na)


def test_the_schema_is_printed_and_shares_the_others_address():
    out = run_cli("schema", "reconciliation")
    assert out.returncode == 0
    schema = json.loads(out.stdout)
    assert schema["$id"].rsplit("/", 1)[0] == compliance.result_schema()["$id"].rsplit("/", 1)[0]


def test_on_the_command_line_exit_1_when_something_is_overstated_0_when_not():
    out = run_cli("reconcile", SELF, INSPECTION, "--rules", "yinzhou", "--format", "text", lang=None)   # Chinese
    assert out.returncode == 1, out.stderr
    assert "自评与考核对照" in out.stdout and "自评虚高的条款" in out.stdout and "+8.7" in out.stdout
    assert "社区自评：符合，实测 每周 45 小时" in out.stdout
    assert "考核发现：不符合，实测 每周 38 小时，要求 ≥ 每周 40 小时" in out.stdout
    assert out.stdout.index("8.3") < out.stdout.index("4.1 ")          # the overstated first
    agreeing = run_cli("reconcile", INSPECTION, INSPECTION, "--rules", "yinzhou", "--format", "json")
    assert agreeing.returncode == 0, agreeing.stderr
    assert json.loads(agreeing.stdout)["gap"] == 0 and json.loads(agreeing.stdout)["overstated"] == []


def test_on_the_command_line_bad_input_exits_2_naming_the_file_and_place(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(json.dumps(profile(center__id="330212-SN-9999")), encoding="utf-8")
    out = run_cli("reconcile", SELF, str(other), lang=None)
    assert out.returncode == 2 and out.stdout == ""
    assert str(other) in out.stderr and "$.center.id" in out.stderr and "330212-SN-9999" in out.stderr
    assert "自评" in out.stderr and "考核" in out.stderr
    assert run_cli("reconcile", SELF, str(tmp_path / "absent.yaml")).returncode == 2
    assert run_cli("reconcile", SELF, INSPECTION, "--rules", "no-such-rules").returncode == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("center: [", encoding="utf-8")
    out = run_cli("reconcile", str(broken), INSPECTION)
    assert out.returncode == 2 and str(broken) in out.stderr
    assert run_cli("reconcile", SELF).returncode == 2
    assert run_cli("reconcile", SELF, INSPECTION, "--format", "pdf").returncode == 2     # a PDF needs -o


@pytest.mark.parametrize("fmt", ["text", "json", "md", "html", "pdf"])
def test_every_format_in_chinese_by_default_and_in_english_on_request(fmt, tmp_path):
    found = compliance.reconcile(SELF, INSPECTION, "yinzhou")
    for lang, words in (("zh", ("自评虚高的条款", "考核发现", "分差")), ("en", ("Overstated in the self-check",
                                                                           "The inspectors found", "Gap"))):
        target = tmp_path / f"reconcile-{lang}.{fmt}"
        out = run_cli("reconcile", SELF, INSPECTION, "--rules", "yinzhou", "--format", fmt, "-o", str(target),
                      "--lang", lang)
        assert out.returncode == 1, out.stderr
        if fmt == "pdf":
            assert target.read_bytes().startswith(b"%PDF")
            shown = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True).stdout
        else:
            shown = target.read_text(encoding="utf-8")
            assert shown == compliance.render(found, fmt, lang=lang)
        if fmt == "json":
            assert json.loads(shown)["overstated"] == ["4.4", "8.3", "5.6", "8.7", "8.11"]
            continue
        for word in words:
            assert word in shown.replace("\n", "")
        assert "94.2" in shown and "85.5" in shown and "8.7" in shown
        if lang == "zh" and fmt != "html":      # the page's words: the test below (its stylesheet names classes)
            assert "Overstated" not in shown and "agrees" not in shown


def test_the_html_report_reads_on_a_phone_without_an_english_word():
    html = compliance.render(compliance.reconcile(SELF, INSPECTION, "yinzhou"), "html", lang="zh")
    assert '<html lang="zh-CN">' in html and "<style>" in html
    assert "自评偏低" in html and "一致" in html
    for english in ("overstated", "understated", "agrees", "differs", "Self-check", "Inspection"):
        assert f">{english}" not in html


def test_an_archival_pdf_carries_the_reconciliation(tmp_path):
    target = tmp_path / "r.pdf"
    out = run_cli("reconcile", SELF, INSPECTION, "--rules", "yinzhou", "--format", "pdf", "--archival", "-o",
                  str(target))
    assert out.returncode == 1, out.stderr
    assert b"reconciliation_version" in target.read_bytes() or b"/EmbeddedFile" in target.read_bytes()


def test_the_output_never_replaces_an_input(tmp_path):
    copy = tmp_path / "inspection.yaml"
    copy.write_bytes(open(INSPECTION, "rb").read())
    out = run_cli("reconcile", SELF, str(copy), "--rules", "yinzhou", "-o", str(copy))
    assert out.returncode == 2 and copy.read_bytes() == open(INSPECTION, "rb").read()


# --------------------------------------------------------------------------- a round: batch --self

def _cli(*args: object) -> tuple[int, str, str]:
    import contextlib
    import io

    from compliance.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        words = [str(a) for a in args]
        status = main(words if "--lang" in words else [*words, "--lang", "en"])
    return status, out.getvalue(), err.getvalue()


def _district_docs(count: int) -> list[dict]:
    docs = []
    for line in (EXAMPLES / "yinzhou-district" / "centres.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc["population"]["households"], int):
            docs.append(doc)
    return docs[:count]


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    """A self-check round of 24 centres, and an inspection round of 22 of them (plus one without a self-check) in
    which the inspectors found less here and there, and more elsewhere."""
    import copy

    folder = tmp_path_factory.mktemp("rounds")
    mine = _district_docs(25)
    theirs = copy.deepcopy(mine)
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if i % 3 == 0:
            b["services"]["satisfaction_rate"] = 0.5                      # a pass claimed, a fail found
        if i % 4 == 1:
            b["signage"] = b["signage"][:-2]                               # fewer notices than claimed: partial
        if i % 4 == 2:
            a["signage"], b["signage"] = a["signage"][:-1], b["signage"][:-3]   # partial against less partial
        if i % 5 == 3:
            a["services"].pop("weekly_opening_hours", None)                 # missing in the self-check: understated
        if i % 7 == 4:
            a["center"]["setting"] = "rural"                               # not applicable on one side only
    (folder / "self.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in mine[:24]) + "\n",
                                       encoding="utf-8")
    (folder / "inspections.jsonl").write_text(
        "\n".join(json.dumps(d, ensure_ascii=False) for d in theirs[2:]) + "\n", encoding="utf-8")
    status, _, err = _cli("batch", folder / "self.jsonl", "--rules", "yinzhou", "-o", folder / "self-round",
                          "--jobs", "1")
    assert status in (0, 1), err
    status, out, err = _cli("batch", folder / "inspections.jsonl", "--rules", "yinzhou", "-o", folder / "round",
                            "--jobs", "1", "--self", folder / "self-round", "--lang", "zh")
    assert status in (0, 1), err
    return folder, mine, theirs


def test_batch_self_adds_each_centres_self_check_to_the_summary_as_reconcile_finds_it(rounds):
    import csv

    folder, mine, theirs = rounds
    with open(folder / "round" / "summary.csv", encoding="utf-8-sig") as fh:
        rows = {r["center_id"]: r for r in csv.DictReader(fh)}
    header = list(next(iter(rows.values())))
    assert header.index("self_score") < header.index("self_gap") < header.index("overstated")
    rules = compliance.load_ruleset("yinzhou")
    by_id = {d["center"]["id"]: d for d in mine[:24]}
    overstating = 0
    for doc in theirs[2:]:
        row = rows[doc["center"]["id"]]
        own = by_id.get(doc["center"]["id"])
        if own is None:                                     # no self-check: the columns stay empty
            assert (row["self_score"], row["self_gap"], row["overstated"]) == ("", "", "")
            continue
        expected = compliance.reconcile(own, doc, rules)
        assert float(row["self_score"]) == expected.self_check.score
        assert float(row["self_gap"]) == expected.gap
        listed = row["overstated"].split(";") if row["overstated"] else []
        assert listed == [c.clause for c in expected.clauses if c.flag is Flag.OVERSTATED]   # in the rule set's order
        overstating += bool(expected.overstated)
    assert overstating >= 8
    flags = {c.flag for d in theirs[2:24] for c in compliance.reconcile(by_id[d["center"]["id"]], d, rules).clauses}
    assert flags == set(Flag)              # the round holds every flag, so the rows' credits were all put to use


def test_batch_self_workbook_names_the_overstated_clauses_under_chinese_headings(rounds):
    import openpyxl

    folder, _, _ = rounds
    sheet = openpyxl.load_workbook(folder / "round" / "summary.xlsx").worksheets[0]
    header = [c.value for c in sheet[1]]
    assert {"自评分", "自评与考核分差", "自评虚高的条款"} <= set(header)
    column = header.index("自评虚高的条款")
    cells = [r[column] for r in sheet.iter_rows(min_row=2, values_only=True) if r[column]]
    assert cells and all("居民满意度" in c or "上墙公示" in c or "标识" in c or "开放" in c or "终端" in c
                         for c in cells)


def test_batch_self_district_report_lists_the_largest_overstated_gaps(rounds):
    folder, mine, theirs = rounds
    html = (folder / "round" / "district-report.html").read_text(encoding="utf-8")
    assert "<h2>自评虚高</h2>" in html and "自评虚高最多的中心" in html and "最常自评虚高的条款" in html
    rules = compliance.load_ruleset("yinzhou")
    by_id = {d["center"]["id"]: d for d in mine[:24]}
    found = [compliance.reconcile(by_id[d["center"]["id"]], d, rules) for d in theirs[2:24]]
    largest = max((r for r in found if r.overstated), key=lambda r: r.gap)
    section = html[html.index("<h2>自评虚高</h2>"):]
    assert largest.inspection.profile.id in section
    assert f"{largest.gap:+.1f}" in section
    shown = subprocess.run(["pdftotext", str(folder / "round" / "district-report.pdf"), "-"], capture_output=True,
                           text=True).stdout
    assert "自评虚高" in shown and "Self-check" not in shown


def test_batch_self_refuses_a_folder_without_a_round_another_rule_set_and_its_own_folder(rounds, tmp_path):
    folder, _, _ = rounds
    status, _, err = _cli("batch", folder / "inspections.jsonl", "--rules", "yinzhou", "-o", tmp_path / "out",
                          "--self", tmp_path)
    assert status == 2 and "results.jsonl" in err and "--self" in err
    status, _, err = _cli("batch", folder / "inspections.jsonl", "--rules", "national", "-o", tmp_path / "out",
                          "--self", folder / "self-round")
    assert status == 2 and "--self" in err and "yinzhou" in err
    status, _, err = _cli("batch", folder / "inspections.jsonl", "--rules", "yinzhou", "-o", folder / "self-round",
                          "--self", folder / "self-round")
    assert status == 2 and "--self" in err
    assert (folder / "self-round" / "results.jsonl").is_file()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.jsonl").write_text('{"center": 1}\n', encoding="utf-8")
    status, _, err = _cli("batch", folder / "inspections.jsonl", "--rules", "yinzhou", "-o", tmp_path / "out2",
                          "--self", broken)
    assert status == 2 and "results.jsonl:1" in err


def test_the_reports_name_who_did_each_audit_when_its_audit_block_says():
    mine, theirs = profile(), profile(services__weekly_opening_hours=30)
    mine["audit"] = {"kind": "self_check", "responsible": "陈芳"}
    theirs["audit"] = {"kind": "inspection", "inspectors": ["王敏", "李强"], "responsible": "陈芳",
                       "round": "2026-yinzhou"}
    found = compliance.reconcile(mine, theirs)
    shown = compliance.render(found, "text", lang="zh")
    assert "考核：考核人员：王敏、李强 · 被检查单位负责人：陈芳 · 轮次：2026-yinzhou" in shown
    assert "自评：被检查单位负责人：陈芳" in shown
    html = compliance.render(found, "html", lang="zh")
    assert "考核人员：王敏、李强" in html
    assert "考核人员" not in compliance.render(compliance.reconcile(profile(), profile()), "html", lang="zh")
