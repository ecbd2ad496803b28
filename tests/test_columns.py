"""One answer, two engines: the columnar round engine gives the scalar evaluator's result documents, byte for byte.

The profiles are the differential generator's (``tests/oracle/generate.py``: values at and one step around every
threshold, zero denominators, absent sections, rounding ties) and the benchmark's varied centres, under all five
bundled rule sets and a district layer that adds a clause of each remaining shape (a rate with a minimum whose
zero denominator fails, an area over three classes, bands below a maximum, a numeric condition). The independent
scorer in ``tests/oracle/`` agrees with both.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

import compliance
from compliance import reading
from compliance.batch import columns, sources
from compliance.batch.columns import Chunk, fast_profile, score_chunk
from compliance.batch.run import Plain, audit_chunk, audit_chunk_columns, rules_source
from compliance.checks import CHECK_TYPES, S_NA, remedy_columns, smallest_remedy
from compliance.model import TOL
from compliance.model import Verdict, facts_of

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "oracle"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import generate  # noqa: E402
import reference_scorer  # noqa: E402
from profiles import make as varied  # noqa: E402

FIVE = ("national", "ningbo", "yinzhou", "beijing", "nanxing")

DISTRICT = """\
ruleset: testcolumns
extends: yinzhou
version: "2027.1"
title: {zh: 测试区, en: Test district}

overrides:
  "8.3": {threshold: 50}

clauses:
  - clause: "9.1"
    category: staffing
    level: should
    weight: 1.5
    title: {zh: 志愿者比例, en: Volunteers per resident}
    requirement: {zh: 每百名居民志愿者不少于3名。, en: At least 3 volunteers per 100 residents.}
    check: {type: rate, numerator: services.volunteers, denominator: population.residents, per: 100, min: 3,
            partial: [{min: 2, credit: 0.5}], zero_denominator: fail}
    shortfall: {adjust: numerator, unit: persons, text: {zh: "再招募 {amount} 名志愿者", en: "Recruit {amount} more volunteers"}}
  - clause: "9.2"
    category: zoning
    level: should
    weight: 2
    title: {zh: 服务用房占比, en: Service share of all zones}
    requirement: {zh: 服务用房不少于各类用房的60%。, en: Service zones are at least 60% of all zones.}
    check: {type: area_ratio, numerator: [service], denominator: [service, office, support], min: 0.6}
    shortfall: {unit: m2, text: {zh: "调整 {amount} m²", en: "Turn over {amount} m²"}}
    not_applicable_when: [{field: space.service_hall_floor, equals: -1}]
  - clause: "9.3"
    category: service
    level: should
    weight: 1
    title: {zh: 清单外事项, en: Tasks outside the list}
    requirement: {zh: 清单外事项不超过1项。, en: At most 1 task outside the list.}
    check: {type: compare, field: services.tasks_outside_list, op: "<=", value: 1, partial: [{max: 3, credit: 0.25}]}
    shortfall: {unit: tasks, text: {zh: "减少 {amount} 项", en: "Drop {amount} tasks"}}
"""


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    folder = tmp_path_factory.mktemp("columns")
    (folder / "district.yaml").write_text(DISTRICT, encoding="utf-8")
    return compliance.load_ruleset(folder / "district.yaml")


def _profiles(rules_name: str) -> list[dict]:
    return copy.deepcopy(_made(rules_name))


@functools.lru_cache(maxsize=None)
def _made(rules_name: str) -> list[dict]:
    docs = generate.make(300, seed=11, ruleset=rules_name) + varied(300, seed=5)
    docs.append(generate.tie_56_25())
    for i, d in enumerate(docs):
        d["center"]["id"] = f"C{i:05d}"
        d.pop("audit", None)         # an inspection's block and evidence go the scalar way (the worker task's test)
        d.pop("evidence", None)
    return docs


def _both(rules, docs: list[dict]) -> tuple[list[bytes], list[bytes]]:
    """Every document scored by the scalar evaluator and by the columnar engine (one chunk)."""
    scalar, profiles = [], []
    for d in docs:
        profile = compliance.load_profile(d, rules=rules)
        profiles.append(profile)
        scalar.append(compliance.evaluate(profile, rules).to_json("en"))
    chunk = score_chunk(rules, [facts_of(p) for p in profiles])
    columnar = [chunk.result(i, p).to_json("en") for i, p in enumerate(profiles)]
    return scalar, columnar


@pytest.mark.parametrize("name", [*FIVE, "district"])
def test_both_engines_give_the_same_result_documents(name, district):
    rules = district if name == "district" else compliance.load_ruleset(name)
    docs = _profiles("yinzhou" if name == "district" else name)
    scalar, columnar = _both(rules, docs)
    for d, a, b in zip(docs, scalar, columnar):
        assert a == b, (d["center"]["id"], _first_difference(a, b))


def test_a_category_whose_weights_are_all_far_below_a_billionth_scores_alike_in_both_engines(tmp_path):
    """A layer may weigh clauses 10⁻¹² (the schema allows any weight from 0): the exact rational of such a weight
    is itself, not the nearest fraction of denominator up to 10⁹ (0, which made the category's exact score 0/0 and
    the evaluator fail near every tie, a third of these centres)."""
    from fractions import Fraction

    from compliance.result import exact

    assert exact(1e-12) == Fraction(1, 10 ** 12) and exact(2 / 3) == Fraction(2, 3) and exact(0.1) == Fraction(1, 10)
    layer = tmp_path / "tiny.yaml"
    layer.write_text("ruleset: tiny\nextends: national\nversion: '2027.1'\ntitle: {zh: 微权, en: Tiny}\noverrides:\n"
                     + "".join(f"  '{c}': {{weight: 1.0e-12, reason: test}}\n" for c in ("6.1", "6.2", "6.3", "6.4")),
                     encoding="utf-8")
    rules = compliance.load_ruleset(layer)
    docs = _profiles("national")
    scalar, columnar = _both(rules, docs)
    assert scalar == columnar
    amenities = [orjson.loads(a)["categories"][2] for a in scalar]
    assert {c["id"] for c in amenities} == {"amenities"} and len({c["score"] for c in amenities}) > 3


def _first_difference(a: bytes, b: bytes) -> str:
    x, y = orjson.loads(a), orjson.loads(b)
    for key in x:
        if key != "findings" and x[key] != y[key]:
            return f"{key}: {x[key]} / {y[key]}"
    for f, g in zip(x["findings"], y["findings"]):
        if f != g:
            return f"{f['clause']}: {f} / {g}"
    return "?"


@pytest.mark.parametrize("name", FIVE)
def test_the_independent_scorer_agrees_with_the_columnar_engine(name):
    rules = compliance.load_ruleset(name)
    docs = generate.make(150, seed=23, ruleset=name)
    profiles = [compliance.load_profile(d, rules=rules) for d in docs]
    chunk = score_chunk(rules, [facts_of(p) for p in profiles])
    for i, d in enumerate(docs):
        theirs = reference_scorer.score(d, name)
        assert chunk.score[i] == theirs["score"] or i in chunk.exact, d["center"]["id"]
        assert rules.grades[chunk.grade[i]].id == theirs["grade"] or i in chunk.exact
        ours = chunk.result(i, profiles[i]).to_dict("en")
        assert (ours["score"], ours["grade"], ours["verdict"]) == (theirs["score"], theirs["grade"], theirs["verdict"])
        for f in ours["findings"]:
            ref = theirs["findings"][f["clause"]]
            assert f["status"] == ref["status"], (d["center"]["id"], f["clause"])
            if ref["credit"] is not None:
                assert math.isclose(f["credit"], ref["credit"], rel_tol=1e-12), (d["center"]["id"], f["clause"])


@pytest.mark.parametrize("total, zones, clause, amount", [
    (0.15, [("service_hall", 0.05)], "5.3", 0.1),                    # T − S in floats: 0.09999999999999999
    (0.03, [("activity", 0.01)], "5.3", 0.02),                        # 0.019999999999999997
    (0.11, [("service_hall", 0.01), ("activity", 0.05)], "5.3", 0.05),  # S added in floats: 0.049999999999999996
    (0.2, [("office", 0.01), ("archive", 0.06)], "5.2", 0.07),          # O added in floats: 0.06999999999999999
])
def test_a_capped_remedy_is_the_area_as_written_in_both_engines(total, zones, clause, amount):
    """5.2's remedy never exceeds the office area, 5.3's the area not yet in resident use (spec): where the cap
    binds, it is that area as the profile writes it, not the float a subtraction or a sum leaves."""
    from conftest import profile

    rules = compliance.load_ruleset("national")
    doc = profile()
    doc["space"]["total_area_m2"] = total
    doc["space"]["zones"] = [{"kind": k, "area_m2": a} for k, a in zones]
    scalar, columnar = _both(rules, [doc])
    assert scalar == columnar
    finding = next(f for f in orjson.loads(scalar[0])["findings"] if f["clause"] == clause)
    assert finding["status"] == "fail" and finding["shortfall"]["amount"] == amount   # exactly
    assert reference_scorer.score(doc, "national")["findings"][clause]["shortfall"]["amount"] == amount


def test_a_ratio_of_a_class_to_itself_does_not_hide_the_total_area(tmp_path):
    """A district's ratio whose denominator is its numerator asks the chunk for the area of no other class, ``()``,
    which shared its cache with the total area: 5.3 after it then found no area in any centre (no_zones)."""
    layer = tmp_path / "degen.yaml"
    layer.write_text("""ruleset: degen
extends: national
version: "1"
title: {zh: 区, en: D}
clauses:
  - clause: "4.9"
    category: zoning
    level: should
    weight: 1
    title: {zh: 办公, en: office of office}
    requirement: {zh: 办公, en: office of office}
    source: ["NP"]
    check: {type: area_ratio, numerator: [office], denominator: [office], min: 0.5}
    shortfall: {unit: m2, text: {zh: "x {amount}", en: "x {amount}"}}
""", encoding="utf-8")
    rules = compliance.load_ruleset(layer)
    assert [c.clause for c in rules.clauses].index("4.9") < [c.clause for c in rules.clauses].index("5.3")
    docs = generate.make(40, seed=1)
    for d in docs:
        d.pop("evidence", None)         # evidence and an audit block are read the scalar way
        d.pop("audit", None)
    scalar, columnar = _both(rules, docs)
    assert scalar == columnar


def test_rows_near_a_tie_or_beyond_a_closed_form_are_settled_exactly():
    rules = compliance.load_ruleset("national")
    tie = compliance.load_profile(generate.tie_56_25(), rules=rules)
    chunk = score_chunk(rules, [facts_of(tie)])
    assert chunk.score[0] == 56.2                                  # 56.25 exactly: to the even digit
    assert chunk.result(0, tie).to_json("en") == compliance.evaluate(tie, rules).to_json("en")


@pytest.mark.parametrize("limit", [columns.EXACT_LIMIT, 1])
@pytest.mark.parametrize("name", FIVE)
def test_scores_near_a_tie_are_settled_in_integers_as_the_evaluator_settles_them(monkeypatch, name, limit):
    """Under Yinzhou two centres in five have a category score at a true tie (100 × 1/16 = 6.25): the chunk settles
    them in integers over a common denominator, as ``rescore``'s fractions do, score and every category; where
    that denominator would overflow (a limit of 1 forces it) the rows go to ``rescore`` itself."""
    from compliance.evaluation import rescore

    monkeypatch.setattr(columns, "EXACT_LIMIT", limit)
    rules = compliance.load_ruleset(name)
    docs = generate.make(400, seed=5, ruleset=name) + _profiles(name)[:200]
    profiles = [compliance.load_profile(d, rules=rules) for d in docs]
    chunk = score_chunk(rules, [facts_of(p) for p in profiles])
    ties = 0
    for i in range(chunk.n):
        findings = chunk.findings(i)
        score, grade, verdict, categories = rescore(rules, findings)
        ties += any(_true_tie(findings, c.id) for c in rules.categories)
        assert (chunk.score[i], rules.grades[chunk.grade[i]].id, bool(chunk.conforming[i])) == (
            score, grade, verdict is Verdict.CONFORMING), docs[i]["center"]["id"]
        assert [None if c != c else c for c in chunk.categories[:, i].tolist()] == [c.score for c in categories]
    assert bool(chunk.exact) == (limit == 1)
    if name == "yinzhou":
        assert ties > chunk.n // 5


def _true_tie(findings, category: str) -> bool:
    """Whether a category's exact score lies half-way between two tenths."""
    from fractions import Fraction

    from compliance.result import exact

    counted = [(exact(f.clause.weight), exact(f.credit)) for f in findings
               if f.status.value != "not_applicable" and f.clause.category == category]
    total = sum((w for w, _ in counted), Fraction(0))
    if not total:
        return False
    tenths = 1000 * sum((w * c for w, c in counted), Fraction(0)) / total
    return tenths - math.floor(tenths) == Fraction(1, 2)


def test_a_remedy_the_closed_form_does_not_bracket_is_left_to_the_closure():
    value = np.array([37.0, 37.0, 40.0])
    need = np.array([True, True, False])
    good = 40 - value
    low = good - np.array([0.0, 2e-6, 0.0])           # the second row's estimate two steps short
    amount, settle = remedy_columns(need, low, lambda a: value + a >= 40 - TOL, "hours")
    assert settle.tolist() == [False, True, False]
    assert amount[0] == smallest_remedy(lambda a: 37.0 + a >= 40 - TOL, 3.0, "hours") == 3.0
    assert math.isnan(amount[2])


def test_rows_left_to_the_closures_are_scored_by_them(monkeypatch):
    # every row of every clause marked unsettled: the findings all come from the compiled closures
    rules = compliance.load_ruleset("yinzhou")

    def unsure(form):
        def column(cols):
            found = form.column(cols)
            return dataclasses.replace(found, settle=np.ones(cols.n, bool), finding=None)
        return dataclasses.replace(form, column=column)

    monkeypatch.setitem(columns._COMPILED, id(rules), (rules, tuple(unsure(f) for f in columns.compiled(rules)), columns._compiled(rules)[2]))
    docs = _profiles("yinzhou")[:200]
    scalar, columnar = _both(rules, docs)
    assert scalar == columnar


def _wide_layer(folder) -> compliance.RuleSet:
    """A layer with 70 more signage codes: clauses over more codes than an int64 has bits, and chunks whose rows
    hold more different codes than that."""
    import random

    import yaml

    extra = [f"w{k:02d}" for k in range(70)]
    layer = {
        "ruleset": "wide", "extends": "national", "version": "2027.1", "title": {"zh": "宽", "en": "Wide"},
        "vocabularies": {"signage": {c: {"zh": f"标识{c}", "en": f"sign {c}"} for c in extra}},
        "clauses": [
            {"clause": "9.4", "category": "signage", "level": "should", "weight": 1, "title": {"zh": "甲", "en": "A"},
             "requirement": {"zh": "甲。", "en": "A."}, "check": {"type": "has_all", "list": "signage", "codes": extra[:65]},
             "shortfall": {"unit": "items", "text": {"zh": "补充：{items}", "en": "Add: {items}"}}},
            {"clause": "9.5", "category": "signage", "level": "should", "weight": 1, "title": {"zh": "乙", "en": "B"},
             "requirement": {"zh": "乙。", "en": "B."},
             "check": {"type": "at_least", "list": "signage", "codes": extra[2:68], "min": 40},
             "shortfall": {"unit": "items", "text": {"zh": "再设 {amount} 项（{items}）", "en": "{amount} more ({items})"}}},
            {"clause": "9.6", "category": "signage", "level": "should", "weight": 1, "title": {"zh": "丙", "en": "C"},
             "requirement": {"zh": "丙。", "en": "C."},
             "check": {"type": "has_all", "list": "signage", "codes": [extra[69], "staff_board", extra[3]]},
             "shortfall": {"unit": "items", "text": {"zh": "补充：{items}", "en": "Add: {items}"}}},
        ],
    }
    (folder / "wide.yaml").write_text(yaml.safe_dump(layer, allow_unicode=True), encoding="utf-8")
    rules = compliance.load_ruleset(folder / "wide.yaml")
    rng = random.Random(7)
    docs = _profiles("national")[:150]
    for k, d in enumerate(docs):
        if k % 10 == 1:
            d.pop("signage", None)
        elif k % 10 == 2:
            d["signage"] = list(extra)
        elif k % 10 != 3:
            d["signage"] = sorted(set(d.get("signage") or []) | set(rng.sample(extra, rng.randint(0, 70))))
    return rules, docs


def test_list_clauses_over_more_codes_than_an_int64_holds_score_as_the_scalar_engine(tmp_path):
    rules, docs = _wide_layer(tmp_path)
    scalar, columnar = _both(rules, docs)
    assert scalar == columnar
    profiles = [compliance.load_profile(d, rules=rules) for d in docs]
    chunk = score_chunk(rules, [facts_of(p) for p in profiles])
    assert chunk.scored[[c.clause for c in rules.clauses].index("9.4")].alike.dtype == object
    # the rows of results.parquet name each row's missing codes as the result documents do
    results = [orjson.loads(line) for line in scalar]
    for j, clause in enumerate(rules.clauses):
        if clause.check_type not in ("has_code", "has_all", "at_least"):
            continue
        arrays = columns._missing_layout("m", chunk, j)
        offsets, valid = arrays["m:offsets"], arrays["m:valid"]
        ends, data = arrays["m:items:offsets"], arrays["m:items:data"].tobytes()
        for i, result in enumerate(results):
            shortfall = result["findings"][j]["shortfall"]
            codes = [data[ends[k]:ends[k + 1]].decode() for k in range(offsets[i], offsets[i + 1])]
            assert (codes if valid[i] else None) == (None if shortfall is None else shortfall["missing"]), (
                clause.clause, i)


def test_every_check_type_has_a_columnar_form():
    for record in CHECK_TYPES.values():
        assert type(record).compile_columns is not type(record).__mro__[-2].compile_columns, record.name


def test_a_condition_makes_rows_not_applicable_in_the_columns(district):
    docs = _profiles("yinzhou")[:40]
    for d in docs[:20]:
        d["space"]["service_hall_floor"] = -1
    profiles = [compliance.load_profile(d, rules=district) for d in docs]
    chunk = score_chunk(district, [facts_of(p) for p in profiles])
    j = [c.clause for c in district.clauses].index("9.2")
    assert (chunk.status[j][:20] == S_NA).all() and not (chunk.status[j][20:] == S_NA).all()


def test_the_chunk_reads_each_column_once_and_keeps_absent_values_apart():
    docs = varied(8, seed=2)
    del docs[3]["staff"]["community_workers"]
    rules = compliance.load_ruleset("national")
    facts = [facts_of(compliance.load_profile(d, rules=rules)) for d in docs]
    cols = Chunk(facts)
    values, given = cols.number("staff.community_workers")
    assert not given[3] and given[[0, 1, 2, 4, 5, 6, 7]].all() and values[3] == 0.0
    assert cols.number("staff.community_workers")[0] is values
    assert np.array_equal(cols.total(), [d["space"]["total_area_m2"] for d in docs])


def test_a_chunk_finds_a_lists_codes_alike_through_the_vocabulary_or_without_it():
    from compliance.model import Vocabulary

    rules = compliance.load_ruleset("national")
    docs = varied(64, seed=3)
    del docs[5]["signage"]
    facts = [facts_of(compliance.load_profile(d, rules=rules)) for d in docs]
    codes = ("staff_board", "opening_hours", "no_such_code", "service_catalogue")
    narrow = {name: dict(entries) for name, entries in rules.vocabulary.entries.items()}
    del narrow["signage"]["staff_board"]          # rows hold a code this vocabulary lacks: the chunk finds its own
    expected = [sum(1 << k for k, c in enumerate(codes) if c in f.lists["signage"]) if f.lists["signage"] is not None
                else 0 for f in facts]
    assert any(expected) and len(set(expected)) > 2
    for vocabulary in (None, rules.vocabulary, Vocabulary.of(narrow)):
        bits, given = Chunk(facts, vocabulary=vocabulary).present("signage", codes)
        assert bits.tolist() == expected
        assert given.tolist() == [f.lists["signage"] is not None for f in facts] and not given[5]


def test_the_worker_task_gives_the_scalar_workers_outcomes(district):
    docs = _profiles("yinzhou")[:120]
    items = [(f"in.jsonl:{i + 1}", orjson.dumps(d), None) for i, d in enumerate(docs)]
    items.append(("in.jsonl:200", b'{"center": {"id": "broken"', None))            # cut short
    bad = dict(docs[0], center={**docs[0]["center"], "id": "X1"}, staf={})           # an unknown key: a warning
    items.append(("in.jsonl:201", orjson.dumps(bad), None))
    items.append(("row 5", None, docs[1]))                                           # a table's row
    source = rules_source(district)
    scalar = audit_chunk(source, items, "zh")
    columnar = audit_chunk_columns(source, items, "zh")
    assert len(scalar) == len(columnar) == len(items)
    for a, b in zip(scalar, columnar):
        assert type(a) is type(b)
        assert a.__dict__ == b.__dict__
    assert fast_profile("in.jsonl:201", orjson.dumps(bad), None, district) is None
    # nested deeper than orjson writes back (254 levels) but not than it reads: the careful reader refuses it alone
    deep = b'{"schema_version":1,"center":' + b"[" * 300 + b"]" * 300 + b"}"
    assert fast_profile("in.jsonl:202", deep, None, district) is None
    outcomes = audit_chunk_columns(source, [*items[:3], ("in.jsonl:202", deep, None)], "zh")
    assert [type(o).__name__ for o in outcomes] == ["Audited"] * 3 + ["Refused"]
    assert not outcomes[3].internal and "64" in str(outcomes[3].problems[0][1])
    plain = audit_chunk_columns(source, items[:120], "zh")        # every centre plain: the chunk comes as one
    assert isinstance(plain, Plain)
    assert [o.__dict__ for o in plain.outcomes()] == [o.__dict__ for o in scalar[:120]]


def _careful(raw):
    """The careful reader's document of a JSON line, if it loads as a profile without a problem or warning: what the
    scalar path makes of it (``reading.parse`` without its orjson shortcut)."""
    try:
        data = reading.parse(raw, "line.jsonl", compliance.ProfileError, json_only=True)
        profile = compliance.load_profile(data, rules=compliance.load_ruleset("national"))
    except compliance.ProfileError:
        return None
    return None if profile.warnings else data


def test_the_engine_takes_a_json_line_only_when_the_careful_reader_reads_the_same_profile(monkeypatch):
    """The engine's own reading of a line (orjson, the closed schema, a count of keys) against the careful reader:
    keys written twice at every depth, a twice-written key hidden behind a space or an escape, and ``":`` and
    backslashes inside strings (counted as keys if the count were naive)."""
    monkeypatch.setattr(reading, "fast_json", lambda raw: None)
    rules = compliance.load_ruleset("national")
    doc = varied(1, seed=5)[0]
    doc["center"]["region"] = {"province": "浙江省", "city": "宁波市"}
    doc.setdefault("staff", {})["ab_backup"] = True
    doc.setdefault("services", {})["single_window"] = True
    plain = orjson.dumps(doc)
    area = b'"total_area_m2":' + orjson.dumps(doc["space"]["total_area_m2"])
    taken = [plain,
             orjson.dumps(dict(doc, center=dict(doc["center"], name='海悦":中心'))),       # "\":" in a string
             orjson.dumps(dict(doc, center=dict(doc["center"], name='海悦\\'))),           # ends in a backslash
             orjson.dumps(dict(doc, center=dict(doc["center"], name='a\\":\\\\":b'))),
             plain.replace(area, area + (b"" if b"." in area else b".") + b"0000000000000000000001", 1),  # 22 digits
             json.dumps(doc, ensure_ascii=False).encode(),           # spaces after every colon and comma
             orjson.dumps(dict(doc, center=dict(doc["center"], name=" 海悦")))]   # a text begun by a space
    twice = [(b'{"schema_version":1,', b'{"schema_version":1,"schema_version":1,'),
             (b'"center":{', b'"center":{"setting":"rural",'),
             (b'"region":{', b'"region":{"city":"x",'),
             (b'"population":{', b'"population":{"households":1,'),
             (b'"zones":[{', b'"zones":[{"kind":"office",'),
             (b'"staff":{', b'"staff":{"ab_backup":false,'),
             (b'"services":{', b'"services":{"single_window":false,')]
    refused = [plain.replace(a, b, 1) for a, b in twice]
    for a, b in twice[1:]:      # the twice-written key beside a string with "\":" in it: still one key too many
        refused.append(orjson.dumps(dict(doc, center=dict(doc["center"], name='a":b'))).replace(a, b, 1))
    refused += [
        plain.replace(b'"population":{', b'"population" :{"residents":1,', 1),       # a space before a colon
        plain.replace(b'"population":{', b'"population"\t:{"residents":1,', 1),      # a tab, the only white space
        plain.replace(b'"population":{', b'"population"\r\n:{"residents":1,', 1),    # a line end inside the line
        json.dumps(doc, ensure_ascii=False).replace('"population": {', '"population" : {"residents": 1, ', 1).encode(),
        plain.replace(b'"population":{', b'"population":{"resid\\u0065nts":1,', 1),   # an escaped key
        plain.replace(b'"households":' + str(doc["population"]["households"]).encode(),
                      b'"households":12345678901234567890', 1),                      # beyond 64 bits
        b"\xef\xbb\xbf" + plain,
    ]
    assert len(set(taken + refused)) == len(taken + refused)
    for raw in taken + refused:
        profile = fast_profile("in.jsonl:1", raw, None, rules)
        careful = _careful(raw)
        if raw in taken:
            assert profile is not None, raw
        elif raw in refused[:len(twice) * 2 - 1]:
            assert profile is None and careful is None, raw         # a key twice: the careful reader refuses it
        else:
            assert profile is None, raw
        if profile is not None:
            assert careful is not None and orjson.dumps(profile.data) == orjson.dumps(careful), raw


# --------------------------------------------------------------------------- rounds on both engines

def _round_input(folder, district_rules_dir=None):
    docs = _profiles("yinzhou")[:400]
    lines = [orjson.dumps(d) for d in docs]
    lines.insert(50, b'{"schema_version": 1, "center": ')                 # cut short
    lines.insert(120, orjson.dumps(docs[7]))                              # a repeated id
    inspected = dict(docs[9], center={**docs[9]["center"], "id": "INSPECTED"},
                     audit={"kind": "inspection", "inspectors": ["王敏"]})
    lines.insert(200, orjson.dumps(inspected))                            # the scalar path, inside a chunk
    warned = dict(docs[11], center={**docs[11]["center"], "id": "WARNED"}, staf={})
    lines.insert(300, orjson.dumps(warned))
    source = folder / "centres.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    return source


def _cli(*args):
    import contextlib
    import io

    from compliance.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    """One round three ways: the scalar engine, the columnar engine (default), and --results parquet."""
    from compliance.batch import round as round_module

    folder = tmp_path_factory.mktemp("rounds")
    source = _round_input(folder)
    outs = {}
    for name, extra in (("columnar", []), ("parquet", ["--results", "parquet"])):
        status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", folder / name, "--jobs", "1", *extra)
        assert status == 2, err
        outs[name] = folder / name
    real = round_module.run_batches
    mp = pytest.MonkeyPatch()
    mp.setattr(round_module, "run_batches", lambda *a, **k: real(*a, **{**k, "columns": False}))
    try:
        status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", folder / "scalar", "--jobs", "1")
    finally:
        mp.undo()
    assert status == 2, err
    outs["scalar"] = folder / "scalar"
    return outs


def test_a_round_on_the_columnar_engine_writes_the_scalar_engines_files_byte_for_byte(rounds):
    for name in ("results.jsonl", "summary.csv", "errors.csv", "district-report.html"):
        assert (rounds["columnar"] / name).read_bytes() == (rounds["scalar"] / name).read_bytes(), name


def test_results_parquet_holds_what_the_result_documents_say(rounds):
    pl = pytest.importorskip("polars", reason="polars is a test dependency (setup.cfg [test])")
    table = pl.read_parquet(rounds["parquet"] / "results.parquet")
    docs = [orjson.loads(line) for line in (rounds["scalar"] / "results.jsonl").read_bytes().splitlines()]
    assert not (rounds["parquet"] / "results.jsonl").exists()
    assert table.height == len(docs) and table["center_id"].to_list() == [d["center"]["id"] for d in docs]
    kinds = dict(zip(table["center_id"].to_list(), table["audit_kind"].to_list()))
    assert kinds["INSPECTED"] == "inspection" and kinds["WARNED"] == "self_check"
    for row, doc in zip(table.iter_rows(named=True), docs):
        assert (row["score"], row["grade"], row["verdict"], row["vetoed"]) == (
            doc["score"], doc["grade"], doc["verdict"], doc["vetoed"])
        assert row["source"] == doc["profile"]["source"] and row["sha256"] == doc["profile"]["sha256"]
        for c in doc["categories"]:
            assert row[f"category:{c['id']}"] == c["score"]
        for f in doc["findings"]:
            key, short, measured = f["clause"], f["shortfall"], f["measured"]
            assert row[f"{key}:status"] == f["status"] and row[f"{key}:credit"] == f["credit"], key
            assert row[f"{key}:measured"] == (None if measured is None else float(measured)), key
            assert row[f"{key}:amount"] == (None if short is None else float(short["amount"])), key
            if f"{key}:missing" in row:
                assert row[f"{key}:missing"] == (None if short is None else short["missing"]), key
    for name in ("summary.csv", "errors.csv"):
        assert (rounds["parquet"] / name).read_bytes() == (rounds["scalar"] / name).read_bytes(), name


def test_summary_csv_written_beside_results_parquet_in_many_passes_is_the_same_table(rounds, tmp_path, monkeypatch):
    """A parquet round writes summary.csv in a thread beside results.parquet, a few ranks a pass (here 7)."""
    from compliance.batch import outputs

    passes = []
    real = outputs._league_lines
    monkeypatch.setattr(outputs, "LEAGUE_PASS_BESIDE", 7)
    monkeypatch.setattr(outputs, "_league_lines", lambda t, path, per_pass=None: (passes.append(per_pass),
                                                                                   real(t, path, per_pass))[1])
    source = next(rounds["parquet"].parent.glob("*.jsonl"))
    status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "out", "--jobs", "1",
                          "--results", "parquet")
    assert status == 2, err
    assert passes == [7]
    assert (tmp_path / "out" / "summary.csv").read_bytes() == (rounds["scalar"] / "summary.csv").read_bytes()
    import pyarrow.parquet as pq
    assert pq.read_table(tmp_path / "out" / "results.parquet").equals(pq.read_table(rounds["parquet"] / "results.parquet"))


def test_with_workers_summary_csv_is_ranked_in_a_process_of_its_own_beside_results_parquet(rounds, tmp_path,
                                                                                              monkeypatch):
    """With --jobs 2, summary.csv's lines are ranked in a process of their own (its Python no longer shares this
    process's interpreter lock with reading results.parquet's parts): the same two tables."""
    from compliance.batch import round as round_module

    ran = []
    real = round_module.apart
    monkeypatch.setattr(round_module, "apart", lambda work, *args: (ran.append(work.__name__), real(work, *args))[1])
    source = next(rounds["parquet"].parent.glob("*.jsonl"))
    status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "out", "--jobs", "2",
                          "--results", "parquet")
    assert status == 2, err
    assert ran == ["write_league_csv"]
    assert (tmp_path / "out" / "summary.csv").read_bytes() == (rounds["scalar"] / "summary.csv").read_bytes()
    import pyarrow.parquet as pq
    assert pq.read_table(tmp_path / "out" / "results.parquet").equals(pq.read_table(rounds["parquet"] / "results.parquet"))


def test_summary_csv_failing_in_its_own_process_leaves_the_earlier_tables(rounds, tmp_path, monkeypatch):
    """The process that ranks summary.csv fails (here its rows file is gone): its error reaches the round, which
    says summary.csv could not be written and stops, and the folder keeps the earlier round's tables, nothing half
    made."""
    import shutil

    from compliance.batch import round as round_module

    out = tmp_path / "out"
    shutil.copytree(rounds["parquet"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real = round_module.apart
    gone = tmp_path / "gone.jsonl"
    monkeypatch.setattr(round_module, "apart", lambda work, target, header, league, rows, per_pass:
                        real(work, target, header, league, gone, per_pass))
    source = next(rounds["parquet"].parent.glob("*.jsonl"))
    status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "2", "--results", "parquet")
    assert status == 2 and "summary.csv" in err and "无法写入" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not list((out / ".round" / "outputs").glob("summary.csv*"))


def test_the_summary_csv_process_killed_is_said_of_summary_csv_and_leaves_the_earlier_tables(rounds, tmp_path,
                                                                                              monkeypatch):
    """The process ranking summary.csv dies (killed, or out of memory): not a defect of ours (exit 2, not 3), the
    message names summary.csv and says to run the command again, and the earlier round's tables stay."""
    import shutil

    from compliance.batch import round as round_module

    out = tmp_path / "out"
    shutil.copytree(rounds["parquet"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real = round_module.apart
    monkeypatch.setattr(round_module, "apart", lambda work, *args: real(os._exit, 9))
    source = next(rounds["parquet"].parent.glob("*.jsonl"))
    status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "2", "--results", "parquet")
    assert status == 2 and "summary.csv" in err and "未完成工作便已停止" in err and "再次运行同一命令" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "2", "--results", "parquet",
                          "--lang", "en")
    assert status == 2 and "run the same command again" in err, err


def test_a_worker_gone_during_a_round_is_not_called_a_defect(tmp_path, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from compliance.batch import round as round_module

    def broken(*args, **kwargs):
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")
        yield

    monkeypatch.setattr(round_module, "run_batches", broken)
    source = tmp_path / "c.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(d) for d in _profiles("national")[:3]) + b"\n")
    status, _, err = _cli("batch", source, "-o", tmp_path / "out", "--jobs", "2", "--lang", "en")
    assert status == 2 and "a process of the round stopped" in err and "internal" not in err, err


def test_writing_results_parquet_puts_arrows_allocator_back_after_every_writer(tmp_path):
    """results.parquet is written with the C library's allocator; Arrow's default is put back when the last writer
    of a process is done, whether it failed or not, and overlapping writers do not leave the wrong one behind."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow is a test dependency (setup.cfg [test])")
    before = pa.default_memory_pool()
    with pytest.raises(OSError):
        columns.write_parquet(tmp_path / "no parts", tmp_path / "results.parquet", compliance.load_ruleset("national"))
    assert pa.default_memory_pool().backend_name == before.backend_name
    with columns._system_pool(pa):
        assert pa.default_memory_pool().backend_name == "system"
        with columns._system_pool(pa):
            pass
        assert pa.default_memory_pool().backend_name == "system"
    assert pa.default_memory_pool().backend_name == before.backend_name
    assert not (tmp_path / "results.parquet").exists() and not list(tmp_path.iterdir())


def test_apart_gives_the_answer_or_the_error_of_work_done_in_another_process(tmp_path):
    import os

    from compliance.batch.run import apart

    assert apart(os.getpid) != os.getpid()
    with pytest.raises(FileNotFoundError):
        apart(os.stat, tmp_path / "nothing here")


def test_a_round_holds_each_region_name_once():
    """A national round counts some 60,000 streets: their province, city and district names are held once, not
    once a street (47 MB against 24 MB)."""
    from compliance.batch import outputs

    t = outputs.Tally(compliance.load_ruleset("national"))
    for street in ("街道01", "街道02"):
        outputs._count_region(t, ("".join(["浙江", "省"]), "宁波市", "鄞州区", street), 80.0, "good", "conforming")
    first, second = t.regions
    assert first[:3] == second[:3] and all(a is b for a, b in zip(first[:3], second[:3]))
    assert [g.centres for g in t.regions.values()] == [1, 1]


@pytest.mark.parametrize("failing", ["summary.csv", "results.parquet"])
def test_a_table_that_fails_beside_the_other_changes_neither(rounds, tmp_path, monkeypatch, failing):
    """The two tables are written side by side and put in place together: when either cannot be written (here the
    disk fills), the folder keeps the earlier round's results.parquet and summary.csv, and nothing half made."""
    import shutil

    from compliance.batch import columns, outputs

    out = tmp_path / "out"
    shutil.copytree(rounds["parquet"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    module, name = (outputs, "write_summary_csv") if failing == "summary.csv" else (columns, "write_parquet")
    real = getattr(module, name)

    def full(target, *args, **kwargs):
        real(target, *args, **kwargs) if module is outputs else None
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, name, full)
    source = next(rounds["parquet"].parent.glob("*.jsonl"))
    status, _, err = _cli("batch", source, "--rules", "beijing", "-o", out, "--jobs", "1", "--results", "parquet")
    assert status not in (0, 1, 2) and "No space left on device" in err
    assert sorted(p.name for p in out.iterdir() if p.name != ".round") == sorted(before)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_results_parquet_reads_back_in_duckdb_polars_and_pandas(rounds):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is a test dependency (setup.cfg [test])")
    pd = pytest.importorskip("pandas", reason="pandas is a test dependency (setup.cfg [test])")
    pl = pytest.importorskip("polars", reason="polars is a test dependency (setup.cfg [test])")
    path = rounds["parquet"] / "results.parquet"
    docs = [orjson.loads(line) for line in (rounds["scalar"] / "results.jsonl").read_bytes().splitlines()]
    failing = sum(1 for d in docs for f in d["findings"] if f["clause"] == "5.2" and f["status"] == "fail")
    mean = sum(d["score"] for d in docs) / len(docs)
    sql = duckdb.connect().execute(f"""SELECT count(*), avg(score), count(*) FILTER (WHERE "5.2:status" = 'fail')
                                        FROM read_parquet('{path}')""").fetchall()[0]
    assert sql[0] == len(docs) and math.isclose(sql[1], mean) and sql[2] == failing
    frame = pd.read_parquet(path)
    assert len(frame) == len(docs) and (frame["5.2:status"] == "fail").sum() == failing
    assert math.isclose(frame["score"].mean(), mean)
    lazy = pl.scan_parquet(path).filter(pl.col("verdict") == "non_conforming").select(pl.len()).collect().item()
    assert lazy == sum(1 for d in docs if d["verdict"] == "non_conforming")
    import pyarrow.parquet as pq

    meta = orjson.loads(pq.read_schema(path).metadata[b"compliance"])
    assert meta["ruleset"]["id"] == "yinzhou" and [c["clause"] for c in meta["clauses"]] == [
        f["clause"] for f in docs[0]["findings"]]


def test_an_interrupted_parquet_round_resumes_to_the_uninterrupted_table(rounds, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from compliance.batch import round as round_module

    source = next(rounds["parquet"].parent.glob("*.jsonl"))
    out = tmp_path / "resumed"
    real = round_module.run_batches
    monkeypatch.setattr(round_module, "SAVE_EVERY", 100)
    monkeypatch.setattr(round_module, "SAVE_GAP", 0)

    def interrupted(*args, **kwargs):
        for item in real(*args, **{**kwargs, "size": 50}):
            if item[0][0].location.endswith(":251"):
                raise KeyboardInterrupt           # killed mid-way, after the checkpoint at 200 records
            yield item

    monkeypatch.setattr(round_module, "run_batches", interrupted)
    status, _, _ = _cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "1", "--results", "parquet")
    assert status not in (0, 1, 2)                    # interrupted
    state = orjson.loads((out / ".round" / "state.json").read_bytes())
    assert state["done"] == 200 and not (out / "results.parquet").exists()
    fed = []

    def counting(records, *args, **kwargs):
        def stream():
            for record in records:          # a record, or a block of JSON Lines: its records
                fed.extend(record.records if isinstance(record, sources.Lines) else [record])
                yield record
        return real(stream(), *args, **kwargs)

    monkeypatch.setattr(round_module, "run_batches", counting)
    status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "1", "--results", "parquet")
    assert status == 2, err
    assert len(fed) == 404 - 200                      # the records done were not redone
    assert pq.read_table(out / "results.parquet").equals(pq.read_table(rounds["parquet"] / "results.parquet"))
    assert (out / "summary.csv").read_bytes() == (rounds["parquet"] / "summary.csv").read_bytes()


@pytest.mark.parametrize("gap", [0, 3600])
def test_a_fast_round_saves_its_checkpoint_at_most_once_a_gap(rounds, tmp_path, monkeypatch, gap):
    """A checkpoint each time a chunk passes a multiple of SAVE_EVERY, but not more often than SAVE_GAP: a national
    round passes 1,024 centres every 50 ms, and each save flushes its files and renames a state file."""
    from compliance.batch import round as round_module

    source = next(rounds["parquet"].parent.glob("*.jsonl"))
    saved = []
    real_save, real = round_module._save, round_module.run_batches
    monkeypatch.setattr(round_module, "_save", lambda *a: (saved.append(a[2]), real_save(*a))[1])
    monkeypatch.setattr(round_module, "run_batches", lambda *a, **k: real(*a, **{**k, "size": 50}))
    monkeypatch.setattr(round_module, "SAVE_EVERY", 100)
    monkeypatch.setattr(round_module, "SAVE_GAP", gap)
    monkeypatch.setattr(round_module, "SAVE_WITHIN", 3600)             # a slow machine adds no save of its own
    status, _, err = _cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "out", "--jobs", "1")
    assert status == 2, err
    if gap:     # within the hour: only the save when the round is done
        assert saved == [404]
    else:
        assert saved == [100, 200, 300, 400, 404]
    assert (tmp_path / "out" / "summary.csv").read_bytes() == (rounds["columnar"] / "summary.csv").read_bytes()


def test_the_tally_counts_the_same_when_it_folds_its_patterns_and_amounts_early(monkeypatch):
    from compliance.batch import outputs
    from compliance.batch.columns import chunk_rows

    rules = compliance.load_ruleset("yinzhou")
    profiles = [compliance.load_profile(d, rules=rules) for d in _profiles("yinzhou")[:150]]
    lines, figures = chunk_rows(score_chunk(rules, [facts_of(p) for p in profiles]), profiles)
    rows = [orjson.loads(r) for r in lines]

    def statuses():
        counting = outputs.Counting(rules, None)
        for offset, row in enumerate(rows):
            counting.add(offset, dict(row))
        t = counting.done()
        return t.statuses, t.remedies

    whole = statuses()
    monkeypatch.setattr(outputs, "PATTERNS_HELD", 3)        # a national round's many patterns, in small
    monkeypatch.setattr(outputs, "AMOUNTS_HELD", 3)         # and its many amounts
    assert statuses() == whole
    assert sum(whole[0][0].values()) == len(rows) and whole[1]


def test_a_chunk_counted_by_its_figures_gives_the_tally_of_its_rows():
    from compliance.batch import outputs
    from compliance.batch.columns import chunk_rows

    rules = compliance.load_ruleset("yinzhou")
    docs = _profiles("yinzhou")[:300]
    for k, d in enumerate(docs[:40]):              # dates out of order, missing regions and dates
        d["center"]["assessed_on"] = f"2026-{1 + k % 12:02d}-{1 + k % 28:02d}"
        if k % 7 == 0:
            d["center"].pop("region", None)
            d["center"].pop("assessed_on", None)
    profiles = [compliance.load_profile(d, rules=rules) for d in docs]
    by_row, by_figures = outputs.Counting(rules, None), outputs.Counting(rules, None)
    offsets = list(range(0, 3000, 10))
    for start in (0, 100, 200):                     # three chunks, as a round takes them
        part = profiles[start:start + 100]
        lines, figures = chunk_rows(score_chunk(rules, [facts_of(p) for p in part]), part)
        for offset, line in zip(offsets[start:start + 100], lines):
            by_row.add(offset, orjson.loads(line))
        by_figures.add_figures(offsets[start:start + 100], lines, figures)
    a, b = by_row.done(), by_figures.done()
    assert a.audited == b.audited == 300 and a.nonconforming
    for name in ("verdicts", "grades", "score_sum", "category_sums", "category_counts", "statuses", "regions",
                 "nonconforming", "remedies", "dates", "scores", "offsets"):
        assert getattr(a, name) == getattr(b, name), name
    assert list(a.regions) == list(b.regions) and list(a.grades) == list(b.grades)


def test_results_parquet_without_pyarrow_is_refused_in_chinese_before_the_round(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)            # as if it were not installed
    source = tmp_path / "c.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(d) for d in _profiles("national")[:3]) + b"\n")
    status, _, err = _cli("batch", source, "-o", tmp_path / "out", "--results", "parquet", "--lang", "zh")
    assert status == 2
    assert "需要安装列式数据组件" in err and "pip install 'community-compliance[parquet]'" in err
    assert not (tmp_path / "out").exists()


def test_workers_make_the_rows_of_results_parquet_without_loading_arrow():
    """Arrow costs each process that loads it about 50 MB: only the round's own process does, at the end."""
    import subprocess

    docs = _profiles("yinzhou")[:40]
    inspected = dict(docs[3], audit={"kind": "inspection", "inspectors": ["王敏"]})
    script = (
        "import sys, orjson\n"
        "from compliance import load_ruleset\n"
        "from compliance.batch.run import audit_chunk_columns, rules_source\n"
        "docs = orjson.loads(sys.stdin.buffer.read())\n"
        "items = [(f'c.jsonl:{i}', orjson.dumps(d), None) for i, d in enumerate(docs)]\n"
        "whole = audit_chunk_columns('yinzhou', items[:30], results='parquet')\n"
        "mixed = audit_chunk_columns('yinzhou', items[30:], results='parquet')\n"
        "assert whole.table.rows == 30 and mixed[0].table.rows == len(mixed)\n"
        "print('pyarrow' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], input=orjson.dumps([*docs, inspected]),
                          capture_output=True, check=True, env={**os.environ, "PYTHONPATH": str(Path(compliance.__file__).parent.parent)})
    assert done.stdout.strip() == b"False", done.stderr


@pytest.mark.parametrize("per_pass, block", [(1 << 16, 1 << 20), (7, 2000), (5, 300)])
def test_summary_csv_from_the_lines_made_with_the_rows_is_the_csv_of_their_figures(tmp_path, monkeypatch, per_pass,
                                                                                    block):
    """summary.csv puts the lines the workers made in rank order: the same bytes as writing each row's figures, in
    one pass over the rows or in many, a block of the file at a time or a row longer than a block."""
    import csv
    import io

    from compliance.batch import outputs

    monkeypatch.setattr(outputs, "LEAGUE_PASS", per_pass)
    monkeypatch.setattr(outputs, "ROWS_BLOCK", block)
    from compliance.batch.columns import chunk_rows

    rules = compliance.load_ruleset("yinzhou")
    docs = _profiles("yinzhou")[:120]
    docs[0]["center"]["name"] = "=HYPERLINK(\"x\")"                   # text that would run as a formula
    docs[1]["center"]["name"] = "新桥社区\n便民服务中心, \"东区\""         # a line break, a comma and quotes
    docs[2]["center"]["region"] = {"province": "浙江省", "street": "-1"}        # a number: left as it is
    docs[3]["center"]["name"] = "C:\\中心\t甲"                                # a backslash and a tab
    profiles = [compliance.load_profile(d, rules=rules) for d in docs]
    lines, _ = chunk_rows(score_chunk(rules, [facts_of(p) for p in profiles]), profiles)
    lines[5] = orjson.dumps({**orjson.loads(lines[5]), "warnings": [["c.jsonl:6", "$.x", "未知字段", ""]]})
    lines[7:7] = [orjson.dumps({"loc": "c.jsonl:8", "id": "x", "refused": [["c.jsonl:8", "", "不是 JSON", ""]]})]
    rows_path = tmp_path / "rows.jsonl"
    rows_path.write_bytes(b"".join(line + b"\n" for line in lines))
    counting = outputs.Counting(rules, None)
    for offset, row in outputs.read_rows(rows_path):
        counting.add(offset, row)
    tally = counting.done()
    outputs.write_summary_csv(tmp_path / "summary.csv", tally, rows_path, None)

    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow(outputs.summary_header(tally, None))
    for line in outputs.summary_rows(tally, rows_path, None):
        writer.writerow([outputs.csv_cell(v) if k in (1, 2, 3, 4, 5, 6, len(line) - 1) else v
                         for k, v in enumerate(line)])
    written = (tmp_path / "summary.csv").read_bytes()
    assert written == outputs.BOM.encode("utf-8") + expected.getvalue().encode("utf-8")
    assert "'=HYPERLINK".encode("utf-8") in written and b",-1," in written


def _parts_file(path, rules_name="yinzhou", chunks=(150, 150, 101)):
    """A round's parts file as the round writes it: each chunk's rows of results.parquet as a worker made them."""
    from compliance.batch.columns import write_frame

    docs = _profiles(rules_name)
    items = [(f"d.jsonl:{i + 1}", orjson.dumps(d), None) for i, d in enumerate(docs)]
    start = 0
    with open(path, "wb") as out:
        for size in chunks:
            plain = audit_chunk_columns(rules_name, items[start:start + size], "zh", results="parquet")
            assert isinstance(plain, Plain)
            write_frame(out, plain.table, range(size))
            start += size
    return start


def test_a_chunks_rows_of_results_parquet_carry_credits_and_remedies_sparse_and_read_back_dense(tmp_path):
    """Workers send a partial credit and a remedy only where there is one; the table is the same as from the dense
    matrices a round begun by an earlier version left in its parts file."""
    from compliance.batch.columns import chunk_part, decode_part, encode_part

    rules = compliance.load_ruleset("yinzhou")
    profiles = [compliance.load_profile(d, rules=rules) for d in _profiles("yinzhou")[:300]]
    chunk = score_chunk(rules, [facts_of(p) for p in profiles])
    arrays = chunk_part(chunk, profiles)
    assert "credit" not in arrays and "amount" not in arrays
    assert 0 < len(arrays["amount:at"]) < chunk.amount.size / 2
    assert len(arrays["credit:at"]) == np.count_nonzero(chunk.status == columns.S_PARTIAL)
    dense = {**arrays, "credit": chunk.credit, "amount": chunk.amount}
    sparse_table = decode_part(rules, encode_part(len(profiles), arrays).data)
    dense_table = decode_part(rules, encode_part(len(profiles), dense).data)
    assert sparse_table.equals(dense_table)
    for j, clause in enumerate(rules.clauses):
        got = sparse_table[f"{clause.clause}:amount"].to_numpy(zero_copy_only=False)
        assert np.array_equal(got, chunk.amount[j], equal_nan=True), clause.clause
        credits = sparse_table[f"{clause.clause}:credit"].to_pylist()
        assert credits == [None if s == S_NA else c for s, c in zip(chunk.status[j], chunk.credit[j].tolist())]


def test_a_line_of_summary_csv_is_what_the_csv_module_writes_for_its_cells():
    """summary.csv's lines are joined by hand when no cell needs quoting, a row at a time (``summary_tail``) or a
    chunk's rows at a time (``summary_lines``): text with commas, quotes, line ends and formula starts, whole
    tenths and other numbers, and absent scores give what the csv module writes."""
    import csv
    import io
    import random

    from compliance.batch.lines import FORMULA_START, csv_cell, summary_lines, summary_tail

    rnd = random.Random(7)
    awkward = ["a", "中", ",", '"', "\r", "\n", "=", "+", "-", "@", " ", "'", "1", ".", "\t", ";", "\u2028"]
    plain = [p for p in awkward if p not in ',"\r\n']
    numbers = [None, 0.0, 0.1, 57.8, 100.0, 33.33333, 1e-7, 250.5, 3, 0]
    for _ in range(4_000):                   # a chunk: its rows have as many categories, all plain text or not
        pieces = rnd.choice([awkward, plain, plain])
        categories = rnd.randint(0, 6)

        def text():
            return "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 5)))

        rows, expected = [], []
        for _ in range(rnd.randint(1, 8)):
            cells = [text() or "x", text(), *(text() for _ in range(4)), rnd.choice(numbers), "good",
                     rnd.choice(["conforming", "non_conforming"]), *(rnd.choice(numbers) for _ in range(categories)),
                     [text() for _ in range(rnd.randint(0, 2))], rnd.randint(0, 40), text()]
            *head, veto, actions, loc = cells
            written = io.StringIO()
            csv.writer(written, lineterminator="\r\n").writerow(
                [csv_cell(c) if i in (0, 1, 2, 3, 4, 5) and c[:1] in FORMULA_START else c for i, c in enumerate(head)]
                + [";".join(veto), actions, csv_cell(loc)])
            rows.append((head[0], head[1], tuple(head[2:6]), head[6], head[7], head[8], head[9:], veto, actions, loc))
            expected.append(written.getvalue())
            assert summary_tail(*rows[-1]) == expected[-1], cells
        assert summary_lines(*(list(column) for column in zip(*rows))) == expected, rows
    assert summary_lines([], [], [], [], [], [], [], [], [], []) == []


def test_results_parquet_is_written_in_row_groups_while_the_next_is_made(tmp_path):
    import pyarrow.parquet as pq

    from compliance.batch.columns import write_parquet

    rules = compliance.load_ruleset("yinzhou")
    count = _parts_file(tmp_path / "parts")
    write_parquet(tmp_path / "parts", tmp_path / "whole.parquet", rules)
    write_parquet(tmp_path / "parts", tmp_path / "groups.parquet", rules, row_group=100)
    whole, groups = pq.ParquetFile(tmp_path / "whole.parquet"), pq.ParquetFile(tmp_path / "groups.parquet")
    assert whole.metadata.num_rows == groups.metadata.num_rows == count
    assert whole.metadata.num_row_groups == 1
    assert groups.metadata.num_row_groups == 3                # a group once 100 rows are made: each chunk's
    assert groups.read().equals(whole.read())
    assert whole.read().column("center_id").to_pylist() == [f"C{i:05d}" for i in range(count)]


def test_results_parquet_keeps_row_group_bounds_for_the_centre_and_its_score_not_for_each_clause(tmp_path):
    """Each row group's smallest and largest values (what lets DuckDB or Polars skip it) for the columns a query
    filters a round by: the centre's id and region, score, grade, verdict and categories; none for the clauses'
    columns, nor the centre's name, source and hash; the four columns unique to each centre are not
    dictionary-encoded, every other column is, lists included."""
    import pyarrow.parquet as pq

    from compliance.batch.columns import UNIQUE_COLUMNS, write_parquet

    rules = compliance.load_ruleset("yinzhou")
    _parts_file(tmp_path / "parts")
    write_parquet(tmp_path / "parts", tmp_path / "results.parquet", rules, row_group=100)
    meta = pq.ParquetFile(tmp_path / "results.parquet").metadata
    group = meta.row_group(1)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    for name in ("center_id", "province", "street", "score", "grade", "verdict", f"category:{rules.categories[0].id}",
                 "vetoed.list.element"):
        assert columns[name].is_stats_set, name
    for name in ("score", "grade", "verdict"):         # the region's names are not in these parts
        assert columns[name].statistics.has_min_max, name
    assert columns["score"].statistics.min <= columns["score"].statistics.max
    clause = rules.clauses[0].clause
    listed = next(f"{c.clause}:missing.list.element" for c in rules.clauses if f"{c.clause}:missing.list.element" in columns)
    for name in (f"{clause}:status", f"{clause}:credit", f"{clause}:measured", listed, "name", "source", "sha256"):
        assert not columns[name].is_stats_set, name     # the clause's findings: not one row group could be skipped
    for name in UNIQUE_COLUMNS:
        assert not any("DICTIONARY" in e for e in columns[name].encodings), name
    for name in ("street", f"{clause}:status", "vetoed.list.element", listed):     # a list's values named as Arrow does
        assert any("DICTIONARY" in e for e in columns[name].encodings), name


def test_parts_joined_as_arrays_before_arrow_give_the_table_each_part_gives_alone(tmp_path):
    """Plain parts are joined as NumPy arrays into one record batch a row group (their texts' and lists' offsets
    moved on); a part with a row left out goes the way of a part on its own. The table is the one each part makes
    alone, joined, whatever the row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from compliance.batch.columns import decode_part, write_frame, write_parquet

    rules = compliance.load_ruleset("yinzhou")
    docs = _profiles("yinzhou")
    items = [(f"d.jsonl:{i + 1}", orjson.dumps(d), None) for i, d in enumerate(docs)]
    expected, start = [], 0
    with open(tmp_path / "parts", "wb") as out:
        for size, kept in ((37, None), (80, None), (5, None), (200, [0, 3, 4, 150, 199]), (79, None), (1, None)):
            plain = audit_chunk_columns("yinzhou", items[start:start + size], "zh", results="parquet")
            assert isinstance(plain, Plain)
            write_frame(out, plain.table, range(size) if kept is None else kept)
            table = decode_part(rules, plain.table.data)
            expected.append(table if kept is None else table.take(pa.array(kept, pa.int64())))
            start += size
    whole = pa.concat_tables(expected).unify_dictionaries().combine_chunks()
    for row_group in (8_192, 120, 50, 1):
        write_parquet(tmp_path / "parts", tmp_path / f"{row_group}.parquet", rules, row_group=row_group)
        got = pq.read_table(tmp_path / f"{row_group}.parquet")
        assert got.num_rows == 37 + 80 + 5 + 5 + 79 + 1
        assert got.equals(pq.read_table(tmp_path / "8192.parquet")) and got.to_pylist() == whole.to_pylist(), row_group


@pytest.mark.parametrize("where", ["writing", "reading"])
def test_a_results_parquet_that_cannot_be_written_leaves_nothing_and_says_why(tmp_path, monkeypatch, where):
    import pyarrow.parquet as pq

    from compliance.batch import columns

    rules = compliance.load_ruleset("yinzhou")
    _parts_file(tmp_path / "parts")
    if where == "writing":                     # the disk fills while the second row group is written
        real, calls = pq.ParquetWriter.write_table, []

        def failing(self, table, *args, **kwargs):
            calls.append(table.num_rows)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
            return real(self, table, *args, **kwargs)

        monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    else:                                      # the parts file cut short in its last frame
        data = (tmp_path / "parts").read_bytes()
        (tmp_path / "parts").write_bytes(data[:-5000])
    with pytest.raises(Exception) as caught:
        columns.write_parquet(tmp_path / "parts", tmp_path / "results.parquet", rules, row_group=100)
    if where == "writing":
        assert isinstance(caught.value, OSError) and caught.value.errno == 28
        assert len(calls) == 2                 # nothing more written after the failure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]      # no results.parquet, no .part left


def test_summary_lines_are_cut_from_the_rows_file_as_each_row_gives_its_own(tmp_path, monkeypatch):
    """summary.csv's lines are cut straight from the rows file's blocks; each is the line its row gives
    (``lines.tail_of``): common rows, a line with quotes and backslashes escaped in the row, a row whose warnings
    follow its line, a line of one cell, a row longer than a block, rows left out between them."""
    from compliance.batch import outputs
    from compliance.batch.lines import tail_of

    monkeypatch.setattr(outputs, "ROWS_BLOCK", 4096)
    lines = ["C1,海悦,浙江省\r\n", 'C2,"海悦 ""新"" 中心",a\\b\r\n', "C3,x\r\n", "\r\n", "C5," + "长" * 3000 + "\r\n",
             "C6,y\r\n"]
    rows = [orjson.dumps({"loc": f"in.jsonl:{i}", "id": f"C{i}", "csv": line}) for i, line in enumerate(lines)]
    rows[2] = orjson.dumps({"loc": "in.jsonl:2", "id": "C3", "csv": lines[2], "warnings": [["a", "$.b", "c", "d"]]})
    refused = orjson.dumps({"loc": "in.jsonl:9", "id": "X", "refused": [["in.jsonl:9", "$", "bad", ""]]})
    written, offsets = b"", []
    for row in rows:
        written += refused + b"\n"
        offsets.append(len(written))
        written += row + b"\n"
    (tmp_path / "rows.jsonl").write_bytes(written)
    assert len(rows[4]) > 4096
    with open(tmp_path / "rows.jsonl", "rb") as fh:
        cut = list(outputs._tails_at(fh.fileno(), offsets))
    assert cut == [tail_of(row) for row in rows] == [line.encode("utf-8") for line in lines]
