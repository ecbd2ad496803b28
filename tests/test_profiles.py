"""Profile loading and validation: every bad-input class gets a ProfileError with its path."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import compliance
from compliance import ProfileError

from conftest import BASE, DELETE, EXAMPLES, PROFILE_EXAMPLES, profile


def problems_of(source, **kw) -> list[compliance.Problem]:
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(source, **kw)
    return list(info.value.problems)


def paths(problems) -> list[str]:
    return [p.json_path for p in problems]


def test_all_examples_are_valid():
    files = PROFILE_EXAMPLES
    assert len(files) >= 7
    for f in files:
        assert compliance.load_profile(f).id


def test_yaml_and_json_give_the_same_profile(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps(BASE, ensure_ascii=False), encoding="utf-8")
    assert compliance.load_profile(tmp_path / "c.json").data == BASE


def test_dates_stay_iso_strings():
    p = compliance.load_profile(EXAMPLES / "haiyue.yaml")
    assert p.data["center"]["assessed_on"] == "2026-11-01"


def test_every_problem_of_a_file_is_reported_at_once_with_its_path_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "schema_version: 1\n"
        "center: {id: X1, name: 坏中心, setting: urbn}\n"
        "population: {households: -5, residents: 100}\n"
        "space:\n"
        "  total_area_m2: 100\n"
        "  zones:\n"
        "    - {kind: ofice, area_m2: 80}\n"
        "    - {kind: service_hall, area_m2: 40}\n"
        "signage: [facade_nameplate, facade_nameplate, grid_mapp]\n"
        "staff: {community_workers: 3, certified_social_workers: 4}\n"
        "services: {grid_coverage: 1.2, weekly_opening_hours: 200}\n",
        encoding="utf-8")
    found = {p.json_path: p for p in problems_of(path)}
    assert set(found) == {
        "$.center.setting", "$.population.households", "$.space.zones[0].kind", "$.space.zones",
        "$.signage[1]", "$.signage[2]", "$.staff.certified_social_workers", "$.services.grid_coverage",
        "$.services.weekly_opening_hours",
    }
    assert "did you mean 'urban'?" in found["$.center.setting"].message
    assert found["$.space.zones[0].kind"].message == "'ofice' is not a zone type; did you mean 'office'?"
    assert "did you mean 'grid_map'?" in found["$.signage[2]"].message
    assert "listed twice" in found["$.signage[1]"].message
    assert "120.0 m²" in found["$.space.zones"].message
    assert found["$.space.zones[0].kind"].line == 7
    assert found["$.services.grid_coverage"].line == 11
    assert all(p.file == str(path) for p in found.values())


@pytest.mark.parametrize("changes, path, words", [
    ({"schema_version": 2}, "$.schema_version", "is not a supported profile format version"),
    ({"center__id": DELETE}, "$.center", "required key 'id'"),
    ({"center__name": ""}, "$.center.name", "is empty; leave the key out, or write a value"),
    ({"center__setting": "town"}, "$.center.setting", "is not one of"),
    ({"center__assessed_on": "2026-13-01"}, "$.center.assessed_on", "is not a date written as 2026-11-01"),
    ({"population__households": 12.5}, "$.population.households", "12.5 is not a whole number"),
    ({"population__households": True}, "$.population.households", "true is not a whole number"),
    ({"population__residents": "5200"}, "$.population.residents", "'5200' is not a number"),
    ({"population__residents": 10 ** 400}, "$.population.residents", "a number of 401 digits is too large"),
    ({"space__total_area_m2": 0}, "$.space.total_area_m2", "more than 0"),
    ({"space__total_area_m2": float("inf")}, "$.space.total_area_m2", "inf is not a finite number"),
    ({"space__total_area_m2": float("nan")}, "$.space.total_area_m2", "nan is not a finite number"),
    ({"space__zones": DELETE}, "$.space", "required key 'zones'"),
    ({"space__zones": [{"kind": "office"}]}, "$.space.zones[0]", "required key 'area_m2'"),
    ({"space__zones": [{"kind": "office", "area_m2": -1}]}, "$.space.zones[0].area_m2", "at least 0"),
    ({"space__open_plan": "yes"}, "$.space.open_plan", "is not true or false; write true or false"),
    ({"space__zones": [{"kind": "office", "area_m2": 561}]}, "$.space.zones", "more than the total floor area"),
    ({"amenities": ["wi_fi"]}, "$.amenities[0]", "did you mean 'wifi'?"),
    ({"amenities": "wifi"}, "$.amenities", "'wifi' is not a list"),
    ({"staff__college_educated": 19}, "$.staff.college_educated", "more than the 18"),
    ({"services__feedback_loop": ["collect", "analyze"]}, "$.services.feedback_loop[1]", "did you mean 'analyse'?"),
    ({"services__feedback_loop": ["collect", "collect"]}, "$.services.feedback_loop[1]", "listed twice"),
    ({"services__satisfaction_rate": 93}, "$.services.satisfaction_rate", "at most 1"),
    ({"services__weekly_opening_hours": -1}, "$.services.weekly_opening_hours", "at least 0"),
])
def test_each_kind_of_invalid_profile_is_reported_at_its_path(changes, path, words):
    found = problems_of(profile(**changes))
    assert path in paths(found)
    assert words in next(p.message for p in found if p.json_path == path)


def test_zone_areas_within_half_a_square_metre_of_the_total_are_accepted():
    zones = [{"kind": "service_hall", "area_m2": 500}, {"kind": "office", "area_m2": 60.5}]
    assert compliance.load_profile(profile(space__zones=zones))


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


@pytest.mark.parametrize("name, content, words", [
    ("broken.yaml", "schema_version: 1\ncenter: {id: x\n", "line 3"),
    ("tab.yaml", "center:\n\t- id\n", "line 2"),
    ("python.yaml", "x: !!python/object/apply:os.system ['echo hi']\n", "plain values only"),
    ("pyname.yaml", "x: !!python/name:os.system\n", "plain values only"),
    ("binary-tag.yaml", "x: !!binary aGVsbG8=\n", "plain values only"),
    ("set.yaml", "x: !!set {a, b}\n", "plain values only"),
    ("dupe.yaml", "schema_version: 1\nschema_version: 1\n", "the key 'schema_version' is written twice"),
    ("intkey.yaml", "1: a\n", "is not text (put it in quotes)"),
    ("twodocs.yaml", "a: 1\n---\nb: 2\n", "the file holds more than one document"),
    ("empty.yaml", "", "is empty"),
    ("blank.yaml", "  \n\n", "is empty"),
    ("list.yaml", "- a\n- b\n", "not a mapping"),
    ("scalar.yaml", "hello\n", "not a mapping"),
    ("latin1.yaml", b"name: \xe9t\xe9\n", "is not in the 'UTF-8' encoding"),
    ("nul.yaml", b"a: \x00\n", "is not allowed in a text file"),
    ("bad.json", '{"a": 1,}', "cannot be read (line 1, column 9)"),
    ("nan.json", '{"a": NaN}', "'NaN' is not a number"),
    ("dupe.json", '{"a": 1, "a": 2}', "is written twice"),
    ("deep.json", "[" * 100000 + "]" * 100000, "nested too deeply"),
    ("deeper.json", "[" * 200000 + "]" * 200000, "nested too deeply"),     # orjson before 3.9.15 crashed on it
    ("half.json", '{"a": 1,\n "b": "x\\udfff"}', "holds '\\udfff', a lone surrogate"),
    ("half-key.json", '{"\\ud800": 1}', "holds '\\ud800', a lone surrogate"),
    ("deep.yaml", "[" * 100000 + "]" * 100000, "nested more than 64 levels"),
    ("loop.yaml", "# C:\\Users\\li\nx: &a [*a]\n", "nested more than 64 levels"),   # a list holding itself
    ("deep-block.yaml", "- " * 100000 + "x\n", "nested more than 64 levels"),
    ("bigint.yaml", "a: " + "9" * 5000 + "\n", "a number of 5,000 digits is too long"),
])
def test_broken_and_hostile_files_are_refused_with_a_clear_error(tmp_path, name, content, words):
    path = _write(tmp_path, name, content)
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(path)
    text = str(info.value)
    assert str(path) in text
    assert words in text
    assert "Traceback" not in text


@pytest.mark.parametrize("written, path", [
    ('"households": 1e400', ("population", "households")),
    ('"households": NaN', ("population", "households")),
    ('"households": ' + "9" * 1001, ("population", "households")),
    ('"households": 1800, "households": 1800', ("population", "households")),
    ('"households": 1800, "households": NaN', ("population", "households")),    # refused before the repeat is
])
def test_a_value_or_key_the_json_reader_refuses_is_named_by_its_json_path(tmp_path, written, path):
    """NaN, a number beyond a float or of a thousand digits, a key written twice: the reader refuses them before
    the schema sees the document, and still says where (a district's table names the field by its label)."""
    import shutil
    import subprocess
    import sys

    doc = json.dumps(profile(), ensure_ascii=False)
    assert '"households": 1800' in doc
    text = doc.replace('"households": 1800', written)
    with pytest.raises(ProfileError) as info:
        compliance.load_profile(_write(tmp_path, "centre.json", text))
    assert [p.path for p in info.value.problems] == [path]
    lines = tmp_path / "district.jsonl"
    lines.write_text(doc + "\n" + text + "\n", encoding="utf-8")
    out = tmp_path / "round"
    subprocess.run([sys.executable, "-m", "compliance", "batch", str(lines), "-o", str(out), "--jobs", "1"],
                   capture_output=True, check=False)
    errors = (out / "errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(errors) == 2 and errors[1].startswith(f"{lines}:2,") and ",$.population.households,户数," in errors[1]
    shutil.rmtree(out)


def test_a_billion_laughs_file_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = _write(tmp_path, "lol.yaml", "\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ProfileError, match="aliases"):
        compliance.load_profile(path)
    assert time.perf_counter() - start < 2.0   # generous: a bound on a hang, not a speed target


def test_a_few_aliases_are_fine(tmp_path):
    text = Path(EXAMPLES / "haiyue.yaml").read_text(encoding="utf-8")
    text = text.replace("  open_plan: true", "  open_plan: &yes true").replace("  ab_backup: true", "  ab_backup: *yes")
    assert compliance.load_profile(_write(tmp_path, "alias.yaml", text)).data["staff"]["ab_backup"] is True


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    path = _write(tmp_path, "huge.yaml", b"# " + b"x" * (2 << 20) + b"\n")
    with pytest.raises(ProfileError, match="limit"):
        compliance.load_profile(path)


def test_missing_file_directory_and_device_are_refused(tmp_path):
    with pytest.raises(ProfileError, match="no such file"):
        compliance.load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match="directory"):
        compliance.load_profile(tmp_path)
    with pytest.raises(ProfileError, match="not a regular file"):
        compliance.load_profile("/dev/zero")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ProfileError, match="not a regular file"):
        compliance.load_profile(fifo)


def test_a_dict_is_validated_like_a_file():
    with pytest.raises(ProfileError) as info:
        compliance.load_profile({"schema_version": 1})
    assert {"$"} == set(paths(info.value.problems))
    assert len(info.value.problems) == 3     # center, population, space
    assert info.value.file == "<dict>"


def test_odd_python_objects_in_a_dict_are_refused_not_crashed():
    found = problems_of(profile(center__name={"a", "b"}, signage=frozenset({"grid_map"})))
    assert {"$.center.name", "$.signage"} <= set(paths(found))
    assert "a value of type 'set' is not text" in next(p.message for p in found if p.json_path == "$.center.name")
    found = problems_of({1: "x", "schema_version": 1})
    assert found[0].message == "key 1 is not text"


def test_a_bom_is_accepted(tmp_path):
    raw = (EXAMPLES / "haiyue.yaml").read_bytes()
    assert compliance.load_profile(_write(tmp_path, "bom.yaml", b"\xef\xbb\xbf" + raw)).id == "330212-SN-0103"


def test_profile_sha256_is_of_the_file_bytes(tmp_path):
    import hashlib
    raw = (EXAMPLES / "haiyue.yaml").read_bytes()
    assert compliance.load_profile(EXAMPLES / "haiyue.yaml").sha256 == hashlib.sha256(raw).hexdigest()
    assert len(compliance.load_profile(BASE).sha256) == 64
