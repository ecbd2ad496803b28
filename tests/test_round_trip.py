"""Every valid profile makes the round trip: profile → export (xlsx, CSV, JSON Lines) → read or batch → the same
result document, but for profile.source and profile.sha256. Generated centres cover what a district really
sends and what a spreadsheet finds hard: no zones, sections left out, zeros, whole floats, leading zeros,
text that looks like a number or a formula, lists present but empty."""
from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compliance
from compliance.batch import workbook

from conftest import BASE, run_cli

RULES = compliance.load_ruleset("national")
VOCAB = RULES.vocabulary
FORMATS = (".xlsx", ".csv", ".jsonl")
LISTS = {("signage",): "signage", ("amenities",): "amenities", ("services", "feedback_loop"): "feedback_stages",
         ("services", "key_group_register"): "key_groups"}

# Text as people type it, and as a spreadsheet would misread it: digits with leading zeros, "1.0", "=1+2",
# Chinese, and any text a valid profile may hold: spaces around it or only spaces, control characters (a workbook
# escapes them), text that reads like a workbook's own escape (_x0041_), a formula or a number.
_text = st.one_of(
    st.from_regex(r"[0-9A-Za-z一-龥=+.·-]([0-9A-Za-z一-龥 =+.·()-]{0,20}[0-9A-Za-z一-龥.·)])?", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
    st.sampled_from([" ", "  海悦 ", "a\x01b", "_x0041_", "tab\tand\nline\r\nend", "=1+2", "007"]))
_count = st.one_of(st.just(0), st.integers(0, 50), st.integers(0, 10_000_000))
_area = st.one_of(st.integers(0, 400), st.floats(0, 400, allow_nan=False).map(lambda x: round(x, 2)),
                  st.sampled_from([0.0, 150.0, 0.1, 1e-3, 33.333333333333336]))
_name = st.from_regex(r"[A-Za-z一-龥·0-9-]{1,12}", fullmatch=True)     # a person's name or a round's id
_rate = st.one_of(st.sampled_from([0, 1, 0.0, 1.0, 0.5]), st.floats(0, 1, allow_nan=False))


@st.composite
def profiles(draw: Any, index: int = 0) -> dict[str, Any]:
    """A valid profile: the bundled example with its parts drawn, dropped or emptied."""
    doc = copy.deepcopy(BASE)
    center = doc["center"]
    center["id"] = f"{draw(st.sampled_from(['', '000', '330212-']))}{index:03d}{draw(_text)}"[:64]
    center["name"] = draw(_text)
    for key in ("community", "housing", "assessed_on", "region"):
        if draw(st.booleans()):
            del center[key]
    if "assessed_on" in center:
        center["assessed_on"] = (datetime.date(2024, 1, 1) + datetime.timedelta(days=draw(st.integers(0, 1000)))).isoformat()
    if "region" in center:
        center["region"] = {k: v for k, v in center["region"].items() if draw(st.booleans())} or {"province": "浙江省"}
    center["setting"] = draw(st.sampled_from(["urban", "rural"]))
    doc["population"] = {"households": draw(_count), "residents": draw(_count)}
    zones = draw(st.lists(st.fixed_dictionaries({"kind": st.sampled_from(list(VOCAB.entries["zone_kinds"])),
                                                 "area_m2": _area}, optional={"name": _text}), max_size=6))
    space = doc["space"]
    space["zones"] = zones
    space["total_area_m2"] = draw(st.sampled_from([0, 1, 0.5])) + sum(z["area_m2"] for z in zones) \
        + draw(st.sampled_from([0, 7, 120.5]))
    for key in ("service_hall_floor", "open_plan"):
        if draw(st.booleans()):
            del space[key]
    for path, vocabulary in LISTS.items():
        parent = doc if len(path) == 1 else doc.get(path[0])
        if parent is None:
            continue
        choice = draw(st.sampled_from(["absent", "empty", "some", "all"]))
        if choice == "absent":
            parent.pop(path[-1], None)
        else:
            codes = list(VOCAB.entries[vocabulary])
            parent[path[-1]] = [] if choice == "empty" else codes if choice == "all" else \
                [c for c in codes if draw(st.booleans())]
    for section in ("staff", "services"):
        if draw(st.integers(0, 3)) == 0:
            doc.pop(section)
            continue
        for key in list(doc[section]):
            if key not in ("feedback_loop", "key_group_register") and draw(st.integers(0, 3)) == 0:
                del doc[section][key]
    if "staff" in doc:
        for key in ("community_workers", "certified_social_workers", "college_educated", "grid_workers"):
            if key in doc["staff"]:
                doc["staff"][key] = draw(_count)
    if "services" in doc:
        for key in ("grid_coverage", "satisfaction_rate"):
            if key in doc["services"]:
                doc["services"][key] = draw(_rate)
        if "weekly_opening_hours" in doc["services"]:
            doc["services"]["weekly_opening_hours"] = draw(st.sampled_from([0, 40, 44.5, 45.0, 168]))
    if draw(st.integers(0, 2)) == 0:        # an inspection (or a self-check that says so), its people in columns
        kind = draw(st.sampled_from(["inspection", "self_check", None]))
        audit: dict[str, Any] = {} if kind is None else {"kind": kind}
        if kind == "inspection" or draw(st.booleans()):
            audit["inspectors"] = draw(st.lists(_name, min_size=1, max_size=3))
        for key in ("responsible", "round"):
            if draw(st.booleans()):
                audit[key] = draw(_name)
        doc["audit"] = audit
    return doc


def _valid(doc: dict[str, Any]) -> bool:
    try:
        compliance.load_profile(doc, rules=RULES)
    except compliance.ProfileError:
        return False
    return True


def results(source: Path | list[dict[str, Any]]) -> list[bytes]:
    """Each centre's result document, without profile.source and .sha256 (where it was read from)."""
    if isinstance(source, list):
        items = [compliance.load_profile(doc, rules=RULES) for doc in source]
    else:
        items = []
        for where, item in compliance.read_profiles(source, RULES):
            assert isinstance(item, compliance.Profile), (where, item)
            items.append(item)
    out = []
    for item in items:
        doc = compliance.evaluate(item, RULES).to_dict()
        doc.pop("profile")
        out.append(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return out


def _centres(draw: Any) -> list[dict[str, Any]]:
    docs = [draw(profiles(i)) for i in range(draw(st.integers(1, 4)))]
    return [d for d in docs if _valid(d)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_any_valid_centres_read_back_from_every_export_format_with_the_same_results(tmp_path_factory, data):
    docs = _centres(data.draw)
    if not docs:
        return
    expected = results(docs)
    folder = tmp_path_factory.mktemp("round-trip")
    for suffix in FORMATS:
        target = folder / f"centres{suffix}"
        workbook.export(docs, target, VOCAB)
        assert results(target) == expected, suffix


def test_a_centre_without_zones_reads_back_without_zones_and_a_warning_naming_its_row(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["space"]["zones"] = []
    others = copy.deepcopy(BASE)
    others["center"]["id"] = "330212-SN-0104"
    source = tmp_path / "p.yaml"
    source.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    for suffix, where in ((".xlsx", "centres.xlsx!centres!A3"), (".csv", "centres.csv:2"), (".jsonl", None)):
        target = tmp_path / f"centres{suffix}"
        workbook.export([doc, others], target, VOCAB)
        read = list(compliance.read_profiles(target, RULES))
        assert [item.data["space"]["zones"] for _, item in read] == [[], others["space"]["zones"]]
        found = [w for _, item in read for w in item.warnings]
        assert [(w.file, w.severity) for w in found] == ([(str(tmp_path / where), "warning")] if where else [])
        out = run_cli("validate", str(target))
        assert out.returncode == 0, out.stderr
        assert "2 valid, 0 refused" in out.stdout
        if where:
            assert out.stderr.splitlines() == [
                f"{tmp_path / where}: $.space.zones: warning: " + (
                    "the centre '330212-SN-0103' has no row on the sheet 'zones'" if suffix == ".xlsx"
                    else "no 'zone_N_…' column of this line is filled")
                + ": read as a centre without zones; add its zones if it has any"]
        else:
            assert out.stderr == ""


def edge_cases() -> list[dict[str, Any]]:
    """Centres a spreadsheet finds hard, each valid, with varied ones of the benchmarks' generator."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from profiles import make

    docs = make(12, seed=7)                                  # some of them without zones
    bare = copy.deepcopy(BASE)                               # only what a profile must have
    for key in ("signage", "amenities", "staff", "services"):
        del bare[key]
    for key in ("community", "region", "housing", "assessed_on"):
        del bare["center"][key]
    del bare["space"]["service_hall_floor"], bare["space"]["open_plan"]
    bare["space"]["zones"] = []
    zero = copy.deepcopy(BASE)
    zero["population"] = {"households": 0, "residents": 0}
    zero["space"]["zones"] = [{"kind": "office", "area_m2": 0}, {"kind": "service_hall", "area_m2": 0.0}]
    zero["space"]["total_area_m2"] = 1.0           # (a centre has some area)
    zero["staff"] = {"community_workers": 0}
    empty_lists = copy.deepcopy(BASE)
    empty_lists["signage"] = []
    empty_lists["services"]["feedback_loop"] = []
    del empty_lists["amenities"]
    texts = copy.deepcopy(BASE)
    texts["center"]["name"] = "=1+2"
    texts["center"]["community"] = "007"
    texts["space"]["zones"][0]["name"] = "1.0"
    texts["space"]["total_area_m2"] = 560.0
    inspected = copy.deepcopy(BASE)
    inspected["audit"] = {"kind": "inspection", "inspectors": ["王敏", "李强"], "responsible": "陈芳",
                          "round": "2026-yinzhou"}
    declared = copy.deepcopy(BASE)
    declared["audit"] = {}                        # a declared self-check with nothing more said
    for i, doc in enumerate([bare, zero, empty_lists, texts, inspected, declared]):
        doc["center"]["id"] = f"00{i}"
        docs.append(doc)
    assert all(_valid(d) for d in docs)
    return docs


@pytest.mark.parametrize("suffix", FORMATS)
def test_export_then_batch_gives_the_results_jsonl_of_the_profiles(tmp_path, suffix):
    folder = tmp_path / "profiles"
    folder.mkdir()
    for i, doc in enumerate(edge_cases()):
        (folder / f"{i:02d}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    target = tmp_path / f"centres{suffix}"
    out = run_cli("export", str(folder), "-o", str(target))
    assert out.returncode == 0, out.stderr
    before = run_cli("batch", str(folder), "-o", str(tmp_path / "before"), "--jobs", "1")
    after = run_cli("batch", str(target), "-o", str(tmp_path / "after"), "--jobs", "1")
    assert after.returncode == before.returncode, after.stderr
    assert "refused" not in after.stdout

    def lines(out: Path) -> list[bytes]:
        docs = [orjson.loads(line) for line in (out / "results.jsonl").read_bytes().splitlines()]
        for doc in docs:
            doc.pop("profile")
        return [orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) for doc in docs]

    assert lines(tmp_path / "after") == lines(tmp_path / "before")
    warned = [line for line in after.stderr.splitlines() if ": warning: " in line]
    assert len(warned) == (0 if suffix == ".jsonl" else sum(not d["space"]["zones"] for d in edge_cases()))
