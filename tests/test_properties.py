"""Property-based tests: whatever the document, the loader raises only the project's own error."""
from __future__ import annotations

import copy
import json

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compliance
from compliance import ProfileError

from conftest import BASE

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_docs = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5)
                         | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=30)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load_or_refuse(source):
    try:
        return compliance.load_profile(source)
    except ProfileError as exc:
        assert str(exc)
        return None


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@SETTINGS
@given(data=st.binary(max_size=400))
def test_any_bytes_as_a_file(tmp_path, suffix, data):
    path = tmp_path / f"p{suffix}"
    path.write_bytes(data)
    _load_or_refuse(path)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("ab: -[]{}&*!#'\"\n\t|>?%@`,.0123456789")), max_size=200))
def test_any_yaml_like_text(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    _load_or_refuse(path)


@SETTINGS
@given(json_docs)
def test_any_json_document_as_a_dict(doc):
    _load_or_refuse(doc if isinstance(doc, dict) else {"x": doc})


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


ALL_PATHS = [p for p in _paths(BASE) if p]


def mutated(mutations) -> dict:
    """A copy of BASE with each (path, value) applied where the path still exists."""
    doc = copy.deepcopy(BASE)
    for path, value in mutations:
        node = doc
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    return doc


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), json_scalars | json_docs), min_size=1, max_size=4))
def test_a_mutated_profile_is_refused_or_scored(mutations):
    doc = mutated(mutations)
    profile = _load_or_refuse(doc)
    if profile is not None:
        result = compliance.evaluate(profile, "yinzhou")
        assert 0.0 <= result.score <= 100.0
        json.dumps(result.to_dict())      # the result document is always serialisable
        compliance.render(result, "text")


CODES = ["facade_nameplate", "grid_map", "wifi", "ofice", "office", "collect", "review", "rest_station", "seating"]
realistic = (st.integers(0, 3000) | st.floats(0, 2000, allow_nan=False)
             | st.lists(st.sampled_from(CODES), max_size=5)
             | st.lists(st.fixed_dictionaries({"kind": st.sampled_from(CODES), "area_m2": st.floats(0, 400)}), max_size=5))


code_lists = st.lists(st.sampled_from(CODES), max_size=5)
zone_lists = st.lists(st.fixed_dictionaries({"kind": st.sampled_from(CODES), "area_m2": st.floats(0, 400)}), max_size=6)
semantic_mutations = st.one_of(
    st.tuples(st.sampled_from([("signage",), ("amenities",), ("services", "feedback_loop")]), code_lists),
    st.tuples(st.just(("space", "zones")), zone_lists),
    st.tuples(st.just(("space", "total_area_m2")), st.floats(0.1, 2000)),
    st.tuples(st.sampled_from([("staff", "community_workers"), ("staff", "certified_social_workers"),
                               ("staff", "college_educated")]), st.integers(0, 40)),
    st.tuples(st.sampled_from(ALL_PATHS), realistic | json_scalars),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(semantic_mutations, min_size=1, max_size=4))
def test_the_fast_semantic_check_agrees_with_the_detailed_one(mutations):
    """The batch path's yes/no check and the problem list must never disagree on a schema-valid document."""
    from compliance import checks, contract, profile as profile_module

    doc = mutated(mutations)
    if not contract.profile_validator().is_valid(doc):
        return
    vocabulary = compliance.load_ruleset("national").vocabulary
    facts = checks.Facts(doc, vocabulary.zone_class)
    fast = profile_module._passes_semantics(facts, vocabulary.codes)
    detailed = profile_module.semantic_problems(doc, vocabulary.codes, "<dict>")
    assert fast == (detailed == []), detailed
