"""The compiled evaluator agrees exactly with a scorer written separately from the specification.

``tests/oracle/reference_scorer.py`` works in exact fractions, one plain function per clause;
``tests/oracle/generate.py`` makes valid profiles that sit on the specification's edges (values at
and one step around every threshold, zero denominators, absent sections, rounding ties).
"""
from __future__ import annotations

import math
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compliance

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "oracle"))
import generate  # noqa: E402
import reference_scorer  # noqa: E402

FULL = ("national", "ningbo", "yinzhou", "beijing", "nanxing")    # every clause is in both scorers


def _close(a, b) -> bool:
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        return a is b or (a == b and type(a) is type(b))
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def differences(doc: dict, rules: str) -> list[str]:
    ours = compliance.evaluate(doc, rules).to_dict()
    theirs = reference_scorer.score(doc, rules)
    out = []
    if rules in FULL:
        for key in ("score", "grade", "verdict"):
            if ours[key] != theirs[key]:
                out.append(f"{key}: ours {ours[key]}, reference {theirs[key]}")
        cats = {c["id"]: c["score"] for c in ours["categories"]}
        if cats != theirs["categories"]:
            out.append(f"categories: ours {cats}, reference {theirs['categories']}")
    for f in ours["findings"]:
        ref = theirs["findings"][f["clause"]]
        for key in ("status", "credit", "measured"):
            if not _close(f[key], ref[key]):
                out.append(f"{f['clause']} {key}: ours {f[key]!r}, reference {ref[key]!r}")
        a, b = f["shortfall"], ref["shortfall"]
        if (a is None) != (b is None):
            out.append(f"{f['clause']} shortfall: ours {a}, reference {b}")
        elif a is not None:
            if a["unit"] != b["unit"] or list(a["missing"]) != list(b["missing"]) or not _close(a["amount"], b["amount"]):
                out.append(f"{f['clause']} shortfall: ours {a}, reference {b}")
    return out


@pytest.mark.parametrize("rules", ["national", "ningbo", "yinzhou", "beijing", "nanxing"])
def test_five_hundred_edge_profiles_per_rule_set_score_the_same_both_ways(rules):
    # benchmarks/differential.py runs the same comparison over as many profiles as you like.
    for doc in generate.make(500, seed=7, ruleset=rules):
        assert not differences(doc, rules), (doc["center"]["id"], differences(doc, rules))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2 ** 32 - 1), st.sampled_from(["national", "beijing", "yinzhou", "nanxing"]))
def test_random_edge_profiles_score_the_same_both_ways(seed, rules):
    doc = generate.make(1, seed=seed, ruleset=rules)[0]
    assert not differences(doc, rules)
