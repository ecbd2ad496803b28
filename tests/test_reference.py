"""The compiled evaluator agrees with a straightforward scorer written separately from standard.md."""
from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compliance

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from profiles import make  # noqa: E402
from reference_scorer import score as reference  # noqa: E402

DOCS = make(1500, seed=7)


def _ours(doc):
    result = compliance.evaluate(doc, "national")
    return {"score": result.score, "grade": result.grade, "verdict": result.verdict.value,
            "statuses": {f.clause.clause: f.status.value for f in result.findings}}


@pytest.mark.parametrize("chunk", range(3))
def test_generated_centres_score_the_same_both_ways(chunk):
    for doc in DOCS[chunk::3]:
        assert _ours(doc) == reference(doc), doc["center"]["id"]


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2 ** 32 - 1))
def test_random_centres_score_the_same_both_ways(seed):
    doc = make(1, seed=seed)[0]
    assert _ours(doc) == reference(doc)
