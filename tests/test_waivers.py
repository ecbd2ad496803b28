"""Waivers (豁免): the bureau's written, approved, time-limited exceptions, as workflow.md's "Waivers" says.

A waiver applies when centre and clause match and approved_on ≤ assessed_on ≤ expires_on (the day of the
audit without assessed_on), only to a clause that fails, is partly met or is not evidenced: that clause leaves
the score as a not-applicable one would, cannot veto, keeps its status and carries the waiver; the result
says what it would be without waivers. A waiver that does not cover the date changes nothing and is reported.
"""
from __future__ import annotations

import copy
import csv
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compliance
from compliance import Status, WaiverError

from conftest import BASE, DELETE, EXAMPLES, ROOT, profile, run_cli

sys.path.insert(0, str(ROOT / "tests" / "oracle"))
import generate  # noqa: E402
import reference_scorer  # noqa: E402

CENTRE = BASE["center"]["id"]                     # 330212-SN-0103, assessed on 2026-11-01
ASSESSED = BASE["center"]["assessed_on"]
DANDINGHE = EXAMPLES / "dandinghe-old-compound.yaml"
YINZHOU_WAIVERS = EXAMPLES / "yinzhou-district" / "waivers.yaml"


def waiver(clause: str = "5.5", centre: str = CENTRE, approved_on: str = "2026-03-01",
           expires_on: str = "2027-12-31", **more: str) -> dict[str, str]:
    return {"centre": centre, "clause": clause, "reason": "历史保护建筑，服务大厅无法迁至一楼",
            "approved_by": "鄞州区民政局", "approved_on": approved_on, "expires_on": expires_on, **more}


def waivers(*entries: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {"waivers": list(entries)}


UPSTAIRS = profile(space__service_hall_floor=2)   # 5.5 (veto) fails: the hall is on the first floor up


# --------------------------------------------------------------------------- applying

def test_a_waived_veto_clause_no_longer_vetoes_and_the_centre_conforms():
    plain = compliance.evaluate(UPSTAIRS)
    assert plain.verdict is compliance.Verdict.NON_CONFORMING and [f.clause.clause for f in plain.vetoed] == ["5.5"]
    waived = compliance.evaluate(UPSTAIRS, waivers=waivers(waiver("5.5")))
    assert waived.conforming and waived.vetoed == ()
    finding = waived.finding("5.5")
    assert finding.status is Status.FAIL                      # keeps what was found
    assert finding.waiver is not None and finding.waiver.approved_by == "鄞州区民政局"
    assert waived.unwaived is not None
    assert (waived.unwaived.score, waived.unwaived.grade, waived.unwaived.verdict) == \
        (plain.score, plain.grade, plain.verdict)
    doc = waived.to_dict()
    assert doc["unwaived"] == {"score": plain.score, "grade": plain.grade, "verdict": "non_conforming"}
    assert doc["vetoed"] == []
    f = next(f for f in doc["findings"] if f["clause"] == "5.5")
    assert f["status"] == "fail" and f["waiver"] == {"reason": "历史保护建筑，服务大厅无法迁至一楼",
                                                     "approved_by": "鄞州区民政局", "approved_on": "2026-03-01",
                                                     "expires_on": "2027-12-31"}


def test_a_waived_clause_leaves_the_score_as_a_not_applicable_one_would():
    # 8.3 (weekly opening hours) fails; waived, the score is what it would be if 8.3 weighed nothing
    doc = profile(services__weekly_opening_hours=20, signage=BASE["signage"][:-3])
    rules = compliance.load_ruleset("national")
    plain = compliance.evaluate(doc, rules)
    waived = compliance.evaluate(doc, rules, waivers=waivers(waiver("8.3")))
    assert plain.finding("8.3").status is Status.FAIL
    found = [(f.clause.weight, f.credit) for f in plain.findings
             if f.status is not Status.NOT_APPLICABLE and f.clause.clause != "8.3"]
    expected = 100 * sum(w * c for w, c in found) / sum(w for w, _ in found)
    assert waived.score == round(expected, 1) != plain.score
    service = next(c for c in waived.categories if c.id == "service")
    assert service.weight == next(c for c in plain.categories if c.id == "service").weight - rules.clause("8.3").weight


@pytest.mark.parametrize("approved_on, expires_on, applies", [
    (ASSESSED, "2027-12-31", True),                  # approved on the assessment day
    ("2026-01-01", ASSESSED, True),                  # expires on the assessment day
    ("2026-11-02", "2027-12-31", False),             # approved the day after
    ("2025-01-01", "2026-10-31", False),             # expired the day before
])
def test_a_waiver_covers_its_first_and_last_day_and_not_a_day_outside(approved_on, expires_on, applies):
    result = compliance.evaluate(UPSTAIRS, waivers=waivers(waiver("5.5", approved_on=approved_on,
                                                                  expires_on=expires_on)))
    finding = result.finding("5.5")
    assert result.conforming is applies
    assert (finding.waiver is not None) is applies
    assert (finding.waiver_expired is not None) is not applies
    assert (result.unwaived is not None) is applies
    if not applies:                                  # changes nothing, and says so
        plain = compliance.evaluate(UPSTAIRS)
        assert (result.score, result.grade, result.verdict) == (plain.score, plain.grade, plain.verdict)
        assert "unwaived" not in result.to_dict()
        assert next(f for f in result.to_dict()["findings"] if f["clause"] == "5.5")["waiver_expired"][
            "expires_on"] == expires_on


def china_today() -> datetime.date:
    """The day of an audit as a bureau in China counts it, whatever this machine's time zone."""
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()


def test_without_assessed_on_the_day_of_the_audit_decides():
    doc = profile(center__assessed_on=DELETE, space__service_hall_floor=2)
    today = china_today()
    current = waivers(waiver("5.5", approved_on=(today - datetime.timedelta(days=1)).isoformat(),
                             expires_on=today.isoformat()))
    ended = waivers(waiver("5.5", approved_on="2020-01-01",
                           expires_on=(today - datetime.timedelta(days=1)).isoformat()))
    assert compliance.evaluate(doc, waivers=current).conforming
    late = compliance.evaluate(doc, waivers=ended)
    assert not late.conforming and late.finding("5.5").waiver_expired is not None


def test_a_clause_that_passes_is_not_changed_by_its_waiver():
    plain = compliance.evaluate(BASE)
    result = compliance.evaluate(BASE, waivers=waivers(waiver("5.5"), waiver("4.1")))
    assert result.to_json() == plain.to_json()
    assert result.unwaived is None and result.waived == ()


@pytest.mark.parametrize("changes, clause, status", [
    ({"space__open_plan": DELETE}, "5.6", Status.MISSING),
    ({"signage": [c for c in BASE["signage"] if c not in ("staff_board", "opening_hours")]}, "4.4", Status.PARTIAL),
])
def test_a_missing_or_partly_met_clause_is_waived_too(changes, clause, status):
    doc = profile(**changes)
    result = compliance.evaluate(doc, waivers=waivers(waiver(clause)))
    assert result.finding(clause).status is status and result.finding(clause).waiver is not None
    assert result.score > compliance.evaluate(doc).score


def test_a_not_applicable_clause_is_not_waived():
    doc = profile(center__setting="rural")
    rules = compliance.load_ruleset("national")
    na = next(f.clause.clause for f in compliance.evaluate(doc, rules).findings if f.status is Status.NOT_APPLICABLE)
    result = compliance.evaluate(doc, rules, waivers=waivers(waiver(na)))
    assert result.finding(na).waiver is None and result.unwaived is None


def test_waivers_of_other_centres_and_clauses_change_nothing():
    result = compliance.evaluate(UPSTAIRS, waivers=waivers(waiver("5.5", centre="330212-XX-9999"), waiver("4.1")))
    assert not result.conforming and result.unwaived is None and result.waivers_expired == ()


def test_of_two_waivers_for_a_clause_the_one_covering_the_date_applies():
    result = compliance.evaluate(UPSTAIRS, waivers=waivers(
        waiver("5.5", approved_on="2024-01-01", expires_on="2025-12-31", reason="旧的"),
        waiver("5.5", approved_on="2026-01-01", expires_on="2026-12-31", reason="新的")))
    assert result.finding("5.5").waiver.reason == "新的" and result.finding("5.5").waiver_expired is None


def test_the_result_json_stays_the_bytes_of_its_dict_with_waivers():
    result = compliance.evaluate(UPSTAIRS, waivers=waivers(waiver("5.5"), waiver("5.6", approved_on="2020-01-01",
                                                                                  expires_on="2020-12-31")))
    for lang in ("zh", "en"):
        assert result.to_json(lang) == orjson.dumps(result.to_dict(lang))


def test_the_result_document_with_waivers_meets_the_published_schema():
    import jsonschema

    result = compliance.evaluate(UPSTAIRS, waivers=waivers(waiver("5.5"), waiver("5.6", approved_on="2020-01-01",
                                                                                  expires_on="2020-12-31")))
    jsonschema.Draft202012Validator(compliance.result_schema()).validate(result.to_dict())


def test_audit_many_and_compare_take_waivers():
    w = compliance.load_waivers(waivers(waiver("5.5")))
    results = list(compliance.audit_many([UPSTAIRS, BASE], waivers=w))
    assert [r.conforming for r in results] == [True, True] and results[0].unwaived is not None
    pooled = list(compliance.audit_many([UPSTAIRS, BASE], jobs=2, waivers=w))      # results cross processes
    assert [r.to_json() for r in pooled] == [r.to_json() for r in results]
    comparison = compliance.compare(UPSTAIRS, BASE, waivers=w)
    assert comparison.before.conforming and comparison.to_dict()["before"]["waived"] == ["5.5"]
    assert "unwaived" not in comparison.to_dict()["after"]


@pytest.mark.parametrize("call", [
    lambda w: compliance.evaluate(BASE, waivers=w),
    lambda w: compliance.audit_many([BASE], waivers=w),
    lambda w: compliance.compare(BASE, BASE, waivers=w),
    lambda w: compliance.load_waivers(w),
])
def test_waivers_of_a_wrong_type_are_a_type_error(call):
    with pytest.raises(TypeError):
        call(42)


def test_waivers_are_immutable_and_typed():
    w = compliance.load_waivers(waivers(waiver("5.5")), rules="yinzhou")
    assert isinstance(w, compliance.Waivers) and len(w) == 1
    item = next(iter(w))
    assert isinstance(item, compliance.Waiver) and item.approved_on == datetime.date(2026, 3, 1)
    with pytest.raises(AttributeError):
        item.clause = "5.6"        # type: ignore[misc]
    assert copy.deepcopy(w) is w


def test_a_mapping_with_dates_as_dates_is_read():
    entry = waiver("5.5")
    entry.update(approved_on=datetime.date(2026, 3, 1), expires_on=datetime.date(2027, 12, 31))
    assert compliance.evaluate(UPSTAIRS, waivers={"waivers": [entry]}).conforming


def test_waivers_checked_against_one_rule_set_are_checked_again_against_another():
    w = compliance.load_waivers(waivers(waiver("8.11")), rules="yinzhou")     # a Yinzhou clause
    with pytest.raises(WaiverError) as caught:
        compliance.evaluate(BASE, "national", waivers=w)
    assert caught.value.problems[0].json_path == "$.waivers[0].clause"


# --------------------------------------------------------------------------- the file

def _problems(tmp_path: Path, text: str, name: str = "waivers.yaml") -> list[compliance.Problem]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WaiverError) as caught:
        compliance.load_waivers(path)
    return list(caught.value.problems)


GOOD = """waivers:
  - centre: 330212-SN-0103
    clause: "5.5"
    reason: 历史保护建筑
    approved_by: 鄞州区民政局
    approved_on: 2026-03-01
    expires_on: 2027-12-31
"""


@pytest.mark.parametrize("line, replacement, path, words, line_no", [
    ("    reason: 历史保护建筑\n", "    reason: '  '\n", "$.waivers[0].reason", "blank", 4),
    ("    reason: 历史保护建筑\n", "", "$.waivers[0]", "required key 'reason' is missing", 2),
    ("    approved_on: 2026-03-01\n", "    approved_on: 2026-02-30\n", "$.waivers[0].approved_on", "calendar", 6),
    ("    expires_on: 2027-12-31\n", "    expires_on: 2025-12-31\n", "$.waivers[0].expires_on", "before it was approved", 7),
    ('    clause: "5.5"\n', '    clause: "9.9"\n', "$.waivers[0].clause", "no clause '9.9'", 3),
    ('    clause: "5.5"\n', '    clause: "5.55"\n', "$.waivers[0].clause", "did you mean '5.5'", 3),
    ('    clause: "5.5"\n', "    clause: 5.5\n", "$.waivers[0].clause", "in quotes", 3),
    ("  - centre: 330212-SN-0103\n", "  - centre: ''\n", "$.waivers[0].centre", "blank", 2),
    ("    expires_on: 2027-12-31\n", "    expires_on: 2027-12-31\n    expiry: 2028-01-01\n",
     "$.waivers[0].expiry", "unknown key 'expiry'", 8),
])
def test_each_rule_of_the_file_is_a_located_problem(tmp_path, line, replacement, path, words, line_no):
    problems = _problems(tmp_path, GOOD.replace(line, replacement))
    found = [p for p in problems if p.json_path == path]
    assert found, [str(p) for p in problems]
    assert words in found[0].message and found[0].line == line_no
    assert str(found[0]).startswith(f"{tmp_path / 'waivers.yaml'}:{line_no}")


def test_every_problem_of_a_file_is_told_at_once_with_its_place(tmp_path):
    bad = {"waivers": [waiver("5.5"), waiver("9.9", reason=""), {"centre": CENTRE}, "text",
                       waiver("5.5", approved_on="2026-01-01", expires_on="2025-01-01")]}
    path = tmp_path / "waivers.json"
    path.write_text(json.dumps(bad, ensure_ascii=False, indent=2), encoding="utf-8")
    with pytest.raises(WaiverError) as caught:
        compliance.load_waivers(path)
    paths = {p.json_path for p in caught.value.problems}
    assert {"$.waivers[1].reason", "$.waivers[1].clause", "$.waivers[2]", "$.waivers[3]",
            "$.waivers[4].expires_on"} <= paths
    assert all(p.line for p in caught.value.problems)


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("- a\n- b\n", "a waiver file is a mapping"),
    ("waiver: []\n", "unknown key 'waiver'"),
    ("waivers: {}\n", "is not a list"),
    ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
     "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "alias"),
    ("waivers: []\nwaivers: []\n", "written twice"),
    ("waivers: !!python/object:os.system []\n", "not allowed"),
])
def test_hostile_and_malformed_files_are_refused_with_words(tmp_path, text, words):
    problems = _problems(tmp_path, text)
    assert any(words in str(p) for p in problems), [str(p) for p in problems]


def test_a_file_with_more_waivers_than_the_limit_is_refused(tmp_path, monkeypatch):
    import compliance.waivers as module

    monkeypatch.setattr(module, "MAX_WAIVERS", 3)
    with pytest.raises(WaiverError) as caught:
        compliance.load_waivers(waivers(*[waiver("5.5")] * 4))
    assert caught.value.problems[0].json_path == "$.waivers" and "at most 3" in caught.value.problems[0].message


@pytest.mark.parametrize("make, words", [
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: p.write_bytes(b"waivers: []\n" + b"#" * (17 << 20)), "the limit is"),
    (lambda p: p.symlink_to(p.parent / "nowhere"), "no such file"),
])
def test_what_is_not_a_readable_waiver_file_is_refused_with_its_name(tmp_path, make, words):
    path = tmp_path / "waivers.yaml"
    make(path)
    with pytest.raises(WaiverError) as caught:
        compliance.load_waivers(path)
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_a_file_in_gbk_is_told_so(tmp_path):
    path = tmp_path / "waivers.yaml"
    path.write_bytes(GOOD.encode("gbk"))
    with pytest.raises(WaiverError) as caught:
        compliance.load_waivers(path)
    assert "GBK" in str(caught.value)


def test_an_empty_list_is_no_waiver():
    assert len(compliance.load_waivers({"waivers": []})) == 0


def test_the_published_schema_accepts_the_example_and_refuses_what_the_reader_refuses():
    import jsonschema
    import yaml

    schema = compliance.contract.waivers_schema()
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    assert schema["$id"].startswith(compliance.result_schema()["$id"].rsplit("/", 1)[0])
    example = yaml.load(YINZHOU_WAIVERS.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    validator.validate(example)
    for bad in (waivers(waiver(reason="")), waivers({**waiver(), "extra": "x"}), {"waivers": [waiver()], "x": 1}):
        assert not validator.is_valid(bad)
    out = run_cli("schema", "waivers")
    assert out.returncode == 0 and json.loads(out.stdout) == schema


# --------------------------------------------------------------------------- the oracle

def random_waivers(doc: dict, rules: str, picks) -> list[dict[str, str]]:
    """Waivers of ``doc``'s centre for clauses picked by index, each starting ``start`` days from its assessment
    date (today's without one) and running ``length`` days: some cover it, some end before or start after."""
    clauses = [c.clause for c in compliance.load_ruleset(rules).clauses]
    day = datetime.date.fromisoformat(doc["center"].get("assessed_on") or china_today().isoformat())
    return [waiver(clauses[i % len(clauses)], centre=doc["center"]["id"],
                   approved_on=(day + datetime.timedelta(days=start)).isoformat(),
                   expires_on=(day + datetime.timedelta(days=start + length)).isoformat())
            for i, start, length in picks]


def waived_differences(doc: dict, rules: str, entries: list[dict[str, str]]) -> list[str]:
    """Where the library and the independent scorer disagree on ``doc`` scored with ``entries``."""
    ours = compliance.evaluate(doc, rules, waivers=waivers(*entries)).to_dict()
    theirs = reference_scorer.score(doc, rules, waivers=entries, today=china_today())
    out = [f"{key}: ours {ours.get(key)}, reference {theirs.get(key)}" for key in ("score", "grade", "verdict",
                                                                                   "unwaived")
           if ours.get(key) != theirs.get(key)]
    cats = {c["id"]: c["score"] for c in ours["categories"]}
    if cats != theirs["categories"]:
        out.append(f"categories: ours {cats}, reference {theirs['categories']}")
    for f in ours["findings"]:
        ref = theirs["findings"][f["clause"]]
        for key in ("waiver", "waiver_expired"):
            if f.get(key) != ref.get(key):
                out.append(f"{f['clause']} {key}: ours {f.get(key)}, reference {ref.get(key)}")
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2 ** 32 - 1), st.sampled_from(["national", "yinzhou", "beijing"]),
       st.lists(st.tuples(st.integers(0, 40), st.integers(-400, 400), st.integers(0, 800)), max_size=6))
def test_a_waived_score_agrees_with_the_independent_scorer(seed, rules, picks):
    # benchmarks/differential.py --waivers runs the same comparison over as many profiles as you like.
    doc = generate.make(1, seed=seed, ruleset=rules)[0]
    assert not waived_differences(doc, rules, random_waivers(doc, rules, picks))


# --------------------------------------------------------------------------- reports

def test_every_report_shows_the_waivers_and_the_score_without_them():
    result = compliance.evaluate(UPSTAIRS, waivers=waivers(waiver("5.5"), waiver("5.6", approved_on="2020-01-01",
                                                                                  expires_on="2020-12-31")))
    for fmt in ("text", "md", "html"):
        zh = compliance.render(result, fmt, lang="zh")
        assert "豁免事项" in zh and "不计豁免得分" in zh and "历史保护建筑" in zh and "2027-12-31" in zh, fmt
        assert "未适用的豁免" in zh, fmt
        en = compliance.render(result, fmt, lang="en")
        assert "Waivers" in en and "Score without waivers" in en, fmt


def test_a_report_without_waivers_has_no_waiver_section():
    for fmt in ("text", "md", "html"):
        assert "豁免" not in compliance.render(compliance.evaluate(UPSTAIRS), fmt, lang="zh")


def test_the_pdf_report_shows_the_waivers(tmp_path):
    result = compliance.evaluate(UPSTAIRS, waivers=waivers(waiver("5.5")))
    target = tmp_path / "report.pdf"
    compliance.render(result, "pdf", target, lang="zh")
    words = re.sub(r"\s+", "", subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True,
                                              check=True).stdout)
    assert "豁免事项" in words and "鄞州区民政局" in words


# --------------------------------------------------------------------------- the command line

def _write(tmp_path: Path, data: dict, name: str = "waivers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_audit_applies_the_waivers_and_exits_by_the_waived_verdict(tmp_path):
    centre = tmp_path / "centre.json"
    centre.write_text(json.dumps(UPSTAIRS, ensure_ascii=False), encoding="utf-8")
    assert run_cli("audit", str(centre)).returncode == 1
    out = run_cli("audit", str(centre), "--waivers", str(_write(tmp_path, waivers(waiver("5.5")))),
                  "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["unwaived"]["verdict"] == "non_conforming"


def test_audit_tells_of_a_waiver_that_does_not_cover_the_date(tmp_path):
    out = run_cli("audit", str(DANDINGHE), "--rules", "yinzhou", "--waivers", str(YINZHOU_WAIVERS), "--format", "text",
                  lang=None)
    assert out.returncode == 1
    assert "条款 6.3 的豁免有效期为 2024-06-01 至 2025-12-31，不包含检查日期 2026-10-12，未予适用" in out.stderr
    assert "豁免事项" in out.stdout and "不计豁免得分" in out.stdout


@pytest.mark.parametrize("content, located, words", [
    ('waivers:\n  - centre: X\n    clause: "9.9"\n', "waivers.yaml:3: $.waivers[0].clause", "没有条款 '9.9'"),
    ("waivers: [", "waivers.yaml:2", "无法读取"),
])
def test_a_bad_waiver_file_is_exit_2_with_its_place_in_chinese(tmp_path, content, located, words):
    path = tmp_path / "waivers.yaml"
    path.write_text(content, encoding="utf-8")
    for args in (("audit", str(DANDINGHE)), ("compare", str(DANDINGHE), str(DANDINGHE)),
                 ("batch", str(DANDINGHE), "-o", str(tmp_path / "round"))):
        out = run_cli(*args, "--waivers", str(path), lang=None)
        assert out.returncode == 2, (args, out.stderr)
        assert located in out.stderr and words in out.stderr and "Traceback" not in out.stderr


def test_a_missing_waiver_file_is_exit_2(tmp_path):
    out = run_cli("audit", str(DANDINGHE), "--waivers", str(tmp_path / "nowhere.yaml"))
    assert out.returncode == 2 and "nowhere.yaml" in out.stderr and "no such file" in out.stderr


def test_compare_applies_waivers_to_both_sides(tmp_path):
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(UPSTAIRS), encoding="utf-8")
    after.write_text(json.dumps(profile(space__service_hall_floor=2, services__weekly_opening_hours=20)),
                     encoding="utf-8")
    out = run_cli("compare", str(before), str(after), "--waivers", str(_write(tmp_path, waivers(waiver("5.5")))),
                  "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["before"]["waived"] == ["5.5"] and doc["after"]["verdict"] == "conforming"
    assert doc["before"]["unwaived"]["verdict"] == "non_conforming"
    shown = run_cli("compare", str(before), str(after), "--waivers", str(tmp_path / "waivers.yaml"), "--format", "text",
                    lang=None).stdout
    assert "豁免事项（改造前）" in shown and "豁免事项（改造后）" in shown and "不计豁免得分" in shown


def test_a_round_with_waivers_counts_them_in_the_summary_and_the_district_report(tmp_path):
    folder = tmp_path / "centres"
    folder.mkdir()
    docs = {"a": UPSTAIRS, "b": profile(center__id="330212-SN-0104", space__service_hall_floor=2),
            "c": profile(center__id="330212-SN-0105")}
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    path = _write(tmp_path, waivers(waiver("5.5"), waiver("5.5", centre="330212-SN-0104", approved_on="2025-01-01",
                                                          expires_on="2025-12-31")))
    out = run_cli("batch", str(folder), "-o", str(tmp_path / "round"), "--waivers", str(path), "--jobs", "2",
                  lang=None)
    assert out.returncode == 1, out.stderr         # 0104's waiver has expired: it stays non-conforming
    with open(tmp_path / "round" / "summary.csv", encoding="utf-8-sig") as fh:
        rows = {r["center_id"]: r for r in csv.DictReader(fh)}
    assert rows[CENTRE]["waived"] == "5.5" and rows[CENTRE]["verdict"] == "conforming"
    assert float(rows[CENTRE]["unwaived_score"]) < float(rows[CENTRE]["score"])
    assert rows["330212-SN-0104"]["waived"] == "" and rows["330212-SN-0104"]["verdict"] == "non_conforming"
    assert rows["330212-SN-0105"]["unwaived_score"] == rows["330212-SN-0105"]["score"]
    with open(tmp_path / "round" / "errors.csv", encoding="utf-8-sig") as fh:
        errors = list(csv.DictReader(fh))
    assert any(e["center_id"] == "330212-SN-0104" and e["severity"] == "warning" and "2025-12-31" in e["problem"]
               for e in errors), errors
    book = openpyxl.load_workbook(tmp_path / "round" / "summary.xlsx", read_only=True)
    header = [c.value for c in next(book.worksheets[0].iter_rows(max_row=1))]
    assert "不计豁免得分" in header and "豁免条款" in header
    report = (tmp_path / "round" / "district-report.html").read_text(encoding="utf-8")
    assert "豁免事项" in report and "服务大厅设在一楼" in report and "未适用的豁免" in report


def test_a_round_without_waivers_keeps_its_columns(tmp_path):
    out = run_cli("batch", str(DANDINGHE), "-o", str(tmp_path / "round"))
    assert out.returncode == 1, out.stderr
    header = (tmp_path / "round" / "summary.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert "waived" not in header and "unwaived_score" not in header
    assert "豁免" not in (tmp_path / "round" / "district-report.html").read_text(encoding="utf-8")
