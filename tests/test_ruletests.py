"""The rule tests kept as data beside the rules (rules/tests/<rule set>/*.test.yaml), one pytest case each,
and the ``rules test`` runner itself."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from compliance import ruletest

from conftest import ROOT

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
