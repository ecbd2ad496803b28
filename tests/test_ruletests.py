"""The rule tests kept as data beside the rules (rules/tests/<rule set>/*.test.yaml), one pytest case each,
and the ``rules test`` runner itself."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from compliance import ruletest

from conftest import ROOT, run_cli

RULE_TESTS = ROOT / "rules" / "tests"
FILES = ruletest.find_test_files(RULE_TESTS)


@functools.lru_cache(maxsize=None)
def _results(path: Path) -> list[ruletest.CaseResult]:
    return ruletest.run_file(path)


def _cases() -> list[tuple[Path, int, str]]:
    out = []
    for path in FILES:
        for i, case in enumerate(_results(path)):
            out.append((path, i, f"{path.parent.name}/{path.name.removesuffix('.test.yaml')}: {case.name}"))
    return out


CASES = _cases()


def test_every_bundled_rule_set_has_rule_tests():
    from compliance.layers import bundled_names

    assert {p.parent.name for p in FILES} == set(bundled_names())


@pytest.mark.parametrize("path, index", [(p, i) for p, i, _ in CASES], ids=[name for _, _, name in CASES])
def test_bundled_rule_test(path, index):
    case = _results(path)[index]
    assert case.passed, "\n".join(case.failures)


def _district(tmp_path: Path, case_expect: str) -> Path:
    (tmp_path / "district.yaml").write_text(
        'ruleset: district\nextends: national\nversion: "1"\ntitle: {zh: 区, en: District}\n'
        'overrides: {"8.3": {threshold: 50}}\n', encoding="utf-8")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "hours.test.yaml").write_text(
        "rules: ../district.yaml\n"
        "profile: ../centre.yaml\n"
        "cases:\n"
        "  - name: 45 hours a week is short of the district's 50\n"
        f"    expect: {case_expect}\n", encoding="utf-8")
    (tmp_path / "centre.yaml").write_text((ROOT / "examples" / "haiyue.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    return tests


def test_rules_test_exits_0_when_every_expectation_holds(tmp_path):
    tests = _district(tmp_path, '{clauses: {"8.3": {status: fail, shortfall: {amount: 5, unit: hours}}}}')
    out = run_cli("rules", "test", str(tests))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok    " in out.stdout and "1 case, 1 passed, 0 failed" in out.stdout


def test_rules_test_exits_1_and_says_what_differs_when_an_expectation_fails(tmp_path):
    tests = _district(tmp_path, '{score: 100.0, clauses: {"8.3": pass}}')
    out = run_cli("rules", "test", str(tests))
    assert out.returncode == 1
    assert "FAIL" in out.stdout and "8.3 'status': expected 'pass', got 'fail'" in out.stdout
    assert "'score': expected 100.0, got 96.6" in out.stdout and "hours.test.yaml:4" in out.stdout


@pytest.mark.parametrize("text, words", [
    ("cases: []\n", "non-empty list of 'cases'"),
    ("rules: national\ncases: [{name: x, expect: {verdikt: conforming}}]\n", "unknown expectation 'verdikt'"),
    ("rules: national\nprofile: missing.yaml\ncases: [{name: x, expect: {}}]\n", "no such file"),
    ("rules: nosuchset\ncases: [{name: x, expect: {}}]\n", "no such rule set file"),
    ("cases: [{name: x, expect: {}}]\n", "which rule set?"),
    ("rules: national\ncases: [{name: x, expect: {clauses: {\"5.2\": {staus: fail}}}}]\nprofile: {}\n",
     "clause '5.2': expect a status or a mapping"),
    ("rules: national\ncases: [{name: x, expect: {clauses: {\"5.2\": fail}}}]\nprofile: {}\n",
     "the profile was refused"),
    ("rules: national\ncases: [{name: x, expect: {vetoed: \"5.2\"}}]\nprofile: {}\n", "'vetoed' is a list"),
])
def test_rules_test_exits_2_on_a_bad_test_file(tmp_path, text, words):
    folder = tmp_path / "tests"
    folder.mkdir()
    (folder / "bad.test.yaml").write_text(text, encoding="utf-8")
    out = run_cli("rules", "test", str(folder))
    if words == "the profile was refused":          # a case that cannot hold is a failure, not bad input
        assert out.returncode == 1 and words in out.stdout
        return
    assert out.returncode == 2, out.stdout + out.stderr
    assert words in out.stdout + out.stderr and "bad.test.yaml" in out.stdout + out.stderr


def test_rules_test_on_a_folder_without_tests_is_bad_input(tmp_path):
    out = run_cli("rules", "test", str(tmp_path))
    assert out.returncode == 2 and "holds no rule test files" in out.stderr


def test_rules_test_runs_the_bundled_tests_from_the_command_line():
    out = run_cli("rules", "test", str(RULE_TESTS))
    assert out.returncode == 0, out.stdout[-3000:]
    assert f"{len(CASES)} cases, {len(CASES)} passed, 0 failed" in out.stdout


def test_the_reference_rule_test_example_runs_as_documented(tmp_path):
    readme = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    layer = readme.split("# rules for 某某区, saved as district.yaml\n", 1)[1].split("```", 1)[0]
    example = readme.split("# district/tests/hours.test.yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "district.yaml").write_text(layer, encoding="utf-8")
    (tmp_path / "centre.yaml").write_text((ROOT / "examples" / "haiyue.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "hours.test.yaml").write_text(example, encoding="utf-8")
    out = run_cli("rules", "test", str(tmp_path / "tests"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 cases, 2 passed, 0 failed" in out.stdout


def test_a_files_own_rule_set_wins_over_the_runners(tmp_path):
    (tmp_path / "t.test.yaml").write_text(
        "rules: ningbo\nprofile: " + str(ROOT / "rules" / "tests" / "profiles" / "haiyue.yaml") + "\n"
        "cases:\n  - name: Ningbo's quota\n    set: {staff.community_workers: 10, staff.certified_social_workers: 7,"
        " staff.college_educated: 9}\n    expect: {clauses: {\"7.1\": fail}}\n", encoding="utf-8")
    out = run_cli("rules", "test", str(tmp_path), "--rules", "national")
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_message_expectation_matches_one_language_at_a_time(tmp_path):
    (tmp_path / "t.test.yaml").write_text(
        "rules: national\nprofile: " + str(ROOT / "rules" / "tests" / "profiles" / "haiyue.yaml") + "\n"
        "cases:\n  - name: joined languages do not count\n    set: {services.weekly_opening_hours: 37.5}\n"
        "    expect: {clauses: {\"8.3\": {message: \"开放时间Open\"}}}\n", encoding="utf-8")
    out = run_cli("rules", "test", str(tmp_path))
    assert out.returncode == 1 and "'message': expected it to contain" in out.stdout
