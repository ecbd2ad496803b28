"""The ``audit`` block and evidence: in profiles, in the workbook and CSV, in results; evidence files as hostile input.

What workflow.md promises: an inspection names its inspectors; evidence is keyed by clauses of the rule set used,
each item a file beside the profile or a hash; a file is JPEG, PNG or PDF by its bytes, at most 10 MiB, 200 items
a profile, never read outside the profile's folder; the result carries the audit block and every item's SHA-256.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from PIL import Image

import compliance
from compliance.i18n import use_language

from conftest import BASE, run_cli

SECRET = "TOP-SECRET-8d1f5e"          # in files outside the profile's folder: it must never be shown


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (180, 120, 60)).save(out, "JPEG")
    return out.getvalue()


def png(size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def bomb_png(width: int = 60_000, height: int = 60_000, idat: bytes | None = None) -> bytes:
    """A PNG of a few hundred bytes that claims width × height pixels (its pixel data ``idat``, checksums right)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000) if idat is None else idat)
            + chunk(b"IEND", b""))


def inspection(evidence: dict[str, Any] | None = None, **audit: Any) -> dict[str, Any]:
    doc = copy.deepcopy(dict(BASE))
    doc["audit"] = {"kind": "inspection", "inspectors": ["王敏", "李强"], "responsible": "陈芳",
                    "round": "2026-yinzhou", **audit}
    if evidence is not None:
        doc["evidence"] = evidence
    return doc


def write(folder: Path, doc: dict[str, Any], name: str = "centre.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def problems_of(exc: pytest.ExceptionInfo[compliance.ProfileError]) -> dict[str, str]:
    return {p.json_path: p.message for p in exc.value.problems}


# --------------------------------------------------------------------------- the audit block

def test_a_profile_without_an_audit_block_is_a_self_check_in_its_result():
    result = compliance.evaluate(BASE)
    assert result.audit == compliance.AuditInfo() and result.audit.kind == "self_check"
    # the block is not there, and the result says so: a ledger counts such a result as the bureau's own, as it
    # counts an earlier round's, while a stated self-check opens no item
    assert result.to_dict()["audit"] == {"kind": "self_check", "declared": False}
    assert not result.audit.declared
    stated = compliance.evaluate(dict(copy.deepcopy(BASE), audit={"kind": "self_check"}))
    assert stated.audit.declared and stated.to_dict()["audit"] == {"kind": "self_check"}
    assert not any("evidence" in f for f in result.to_dict()["findings"])


def test_an_inspection_carries_its_audit_block_as_given_into_the_result():
    result = compliance.evaluate(inspection())
    assert result.audit.is_inspection and result.audit.inspectors == ("王敏", "李强")
    assert result.audit.responsible == "陈芳" and result.audit.round == "2026-yinzhou"
    assert result.to_dict()["audit"] == {"kind": "inspection", "inspectors": ["王敏", "李强"],
                                         "responsible": "陈芳", "round": "2026-yinzhou"}
    # a block without kind is a self-check, as given otherwise
    doc = dict(BASE, audit={"round": "2026-yinzhou"})
    assert compliance.evaluate(doc).to_dict()["audit"] == {"kind": "self_check", "round": "2026-yinzhou"}


@pytest.mark.parametrize("audit, where, words", [
    ({"kind": "inspection"}, "$.audit", "inspectors"),
    ({"kind": "inspection", "inspectors": []}, "$.audit.inspectors", "at least 1"),
    ({"kind": "inspection", "inspectors": ["  "]}, "$.audit.inspectors[0]", "blank"),
    ({"kind": "audit"}, "$.audit.kind", "not one of"),
    ({"round": "r" * 65}, "$.audit.round", "at most 64"),
    ({"responsible": 7}, "$.audit.responsible", "not text"),
])
def test_a_bad_audit_block_is_a_located_problem(audit, where, words):
    with pytest.raises(compliance.ProfileError) as exc:
        compliance.load_profile(dict(BASE, audit=audit))
    found = problems_of(exc)
    assert where in found and words in found[where], found


# --------------------------------------------------------------------------- evidence as written

SHA = hashlib.sha256(b"stored by the service").hexdigest()


@pytest.mark.parametrize("item, where, words", [
    ({}, "$.evidence['5.5'][0]", "names its file"),
    ({"file": "a.jpg", "sha256": SHA}, "$.evidence['5.5'][0]", "not both"),
    ({"sha256": "9f86d0"}, "$.evidence['5.5'][0].sha256", "not a SHA-256"),
    ({"file": "a.jpg", "note": "x" * 501}, "$.evidence['5.5'][0].note", "at most 500"),
    ({"file": "a.jpg", "taken_on": "2026-02-30"}, "$.evidence['5.5'][0].taken_on", "not a date in the calendar"),
    ({"file": "a.jpg", "taken_on": "1 Nov"}, "$.evidence['5.5'][0].taken_on", "2026-11-01"),
    ({"file": "/etc/passwd"}, "$.evidence['5.5'][0].file", "absolute path"),
    ({"file": "C:\\photos\\a.jpg"}, "$.evidence['5.5'][0].file", "absolute path"),
    ({"file": "photos/../../secret.jpg"}, "$.evidence['5.5'][0].file", "out of the profile's folder"),
    ({"file": "a\x07b.jpg"}, "$.evidence['5.5'][0].file", "control character"),
    ({"file": "photos/"}, "$.evidence['5.5'][0].file", "folder"),
])
def test_a_bad_evidence_item_is_a_located_problem_before_any_file_is_read(item, where, words):
    with pytest.raises(compliance.ProfileError) as exc:
        compliance.load_profile(inspection({"5.5": [item]}))
    found = problems_of(exc)
    assert where in found and words in found[where], found


def test_evidence_for_a_clause_the_rule_set_does_not_have_names_the_nearest_clause(national):
    with pytest.raises(compliance.ProfileError) as exc:
        compliance.load_profile(inspection({"9.9": [{"sha256": SHA}], "5.55": [{"sha256": SHA}]}), rules=national)
    found = problems_of(exc)
    assert "'9.9' is not a clause of the rule set 'national'; the nearest clause is '8.7'" in found["$.evidence['9.9']"]
    assert "the nearest clause is '5.5'" in found["$.evidence['5.55']"]
    # without the rule set, load_profile cannot know; evaluating against it refuses the same way
    profile = compliance.load_profile(inspection({"9.9": [{"sha256": SHA}]}))
    with pytest.raises(compliance.ProfileError) as exc:
        compliance.evaluate(profile, national)
    assert "$.evidence['9.9']" in problems_of(exc)


def test_more_than_200_evidence_items_are_refused():
    items = {"5.5": [{"sha256": SHA}] * 150, "4.1": [{"sha256": SHA}] * 51}
    with pytest.raises(compliance.ProfileError) as exc:
        compliance.load_profile(inspection(items))
    assert "201 evidence items; a profile may have at most 200" in problems_of(exc)["$.evidence"]
    items["4.1"] = items["4.1"][:50]
    assert compliance.load_profile(inspection(items))


def test_load_profile_reads_no_evidence_file_and_a_hash_needs_none(tmp_path):
    path = write(tmp_path, inspection({"5.5": [{"file": "photos/missing.jpg"}], "4.1": [{"sha256": SHA, "note": "已上传"}]}))
    profile = compliance.load_profile(path)           # pure: the missing photo is not looked for
    result = compliance.evaluate(profile)
    assert result.finding("4.1").evidence == (compliance.EvidenceItem("4.1", SHA, note="已上传"),)
    assert result.finding("5.5").evidence[0].sha256 is None      # not read: read_evidence reads it
    with pytest.raises(compliance.ProfileError) as exc:
        compliance.read_evidence(profile)
    assert "not in the profile's folder" in problems_of(exc)["$.evidence['5.5'][0].file"]


# --------------------------------------------------------------------------- evidence files, read

def test_evidence_files_are_read_from_the_profiles_folder_hashed_and_listed_in_the_result(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "hall.jpg").write_bytes(hall := jpeg())
    (tmp_path / "照片").mkdir()
    (tmp_path / "照片" / "门牌.png").write_bytes(plate := png())
    (tmp_path / "plan.pdf").write_bytes(PDF)
    doc = inspection({"5.5": [{"file": "photos/hall.jpg", "note": "服务大厅位于一楼", "taken_on": "2026-11-01"}],
                      "4.1": [{"file": "照片/门牌.png"}, {"sha256": SHA, "note": "已上传至服务"}],
                      "5.1": [{"file": "./plan.pdf"}]})
    path = write(tmp_path, doc)
    result = compliance.evaluate(compliance.read_evidence(compliance.load_profile(path)))
    (item,) = result.finding("5.5").evidence
    assert item.sha256 == hashlib.sha256(hall).hexdigest() and item.media_type == "image/jpeg"
    assert item.path == str(tmp_path / "photos" / "hall.jpg") and item.size == len(hall)
    assert [e.media_type for e in result.evidence] == ["image/png", None, "image/jpeg", "application/pdf"] or \
        sorted(str(e.media_type) for e in result.evidence) == ["None", "application/pdf", "image/jpeg", "image/png"]
    doc_out = result.to_dict()
    by_clause = {f["clause"]: f.get("evidence") for f in doc_out["findings"]}
    assert by_clause["5.5"] == [{"file": "photos/hall.jpg", "sha256": item.sha256, "note": "服务大厅位于一楼",
                                 "taken_on": "2026-11-01"}]
    assert by_clause["4.1"] == [{"file": "照片/门牌.png", "sha256": hashlib.sha256(plate).hexdigest(), "note": None},
                                {"sha256": SHA, "note": "已上传至服务"}]
    assert by_clause["4.2"] is None                       # no evidence: no key, as before
    assert result.to_json() == orjson.dumps(doc_out)      # the fast document is the same document
    jsonschema.Draft202012Validator(compliance.result_schema()).validate(doc_out)
    # the command line reads them the same way
    out = run_cli("audit", str(path), "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    assert json.loads(out.stdout)["findings"] == doc_out["findings"]


def hostile_folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A profile whose every evidence item is hostile, and the problem each must get (by its JSON path)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(jpeg())
    (outside / "secret.txt").write_text(SECRET)
    home = tmp_path / "centre"
    (home / "photos").mkdir(parents=True)
    photos = home / "photos"
    (photos / "link.jpg").symlink_to(outside / "secret.jpg")
    (home / "linked").symlink_to(outside, target_is_directory=True)
    (photos / "loop.jpg").symlink_to(photos / "loop.jpg")
    (photos / "folder.jpg").mkdir()
    os.mkfifo(photos / "fifo.jpg")
    (photos / "png.pdf").write_bytes(png())
    (photos / "pdf.png").write_bytes(PDF)
    (photos / "page.jpg").write_text(f"<html><body>{SECRET}</body></html>")
    (photos / "drawing.jpg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><text>{SECRET}</text></svg>')
    (photos / "cut.jpg").write_bytes(jpeg((400, 300))[:900])
    (photos / "bomb.png").write_bytes(bomb_png())
    (photos / "garbled.png").write_bytes(bomb_png(10, 10, idat=b"not zlib data"))   # checksums right, pixels not
    with open(photos / "huge.jpg", "wb") as fh:
        fh.write(jpeg())
        fh.truncate((10 << 20) + 1)
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "plain").write_bytes(png())
    (photos / "cut.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<")
    (photos / "good.jpg").write_bytes(jpeg())
    cases = {
        "photos/link.jpg": "symbolic link",
        "linked/secret.jpg": "symbolic link",
        "photos/loop.jpg": "symbolic link",
        "photos/folder.jpg": "is a folder",
        "photos/fifo.jpg": "not a regular file",
        "photos/png.pdf": "is a PNG image, but its name ends in '.pdf'; name it 'png.png'",
        "photos/pdf.png": "is a PDF document, but its name ends in '.png'",
        "photos/page.jpg": "not a JPEG, PNG or PDF file",
        "photos/drawing.jpg": "not a JPEG, PNG or PDF file",
        "photos/cut.jpg": "damaged or cut short",
        "photos/bomb.png": "pixels",
        "photos/garbled.png": "damaged or cut short",
        "photos/huge.jpg": "at most 10 MiB",
        "photos/empty.jpg": "is empty",
        "photos/plain": "has no extension; name it 'plain.png'",
        "photos/cut.pdf": "cut short",
        "photos/missing.jpg": "no such file",
        "photos/good.jpg/x.jpg": "is not a folder",
    }
    items = [{"file": name} for name in cases]
    doc = inspection({"5.5": items, "4.1": [{"file": "photos/good.jpg"}]})
    write(home, doc)
    return home / "centre.yaml", {f"$.evidence['5.5'][{i}].file": words for i, words in enumerate(cases.values())}


def test_hostile_evidence_files_are_each_a_located_problem_and_nothing_of_another_file_is_shown(tmp_path):
    path, expected = hostile_folder(tmp_path)
    profile = compliance.load_profile(path)
    with pytest.raises(compliance.ProfileError) as exc:
        compliance.read_evidence(profile)
    found = problems_of(exc)
    assert set(found) == set(expected), set(found) ^ set(expected)
    for where, words in expected.items():
        assert words in found[where], (where, found[where])
    lines = {p.json_path: p.line for p in exc.value.problems}
    assert all(isinstance(line, int) and line > 1 for line in lines.values()), lines
    for verb in ("audit", "validate"):
        out = run_cli(verb, str(path))
        assert out.returncode == 2, (verb, out.stdout, out.stderr)
        assert SECRET not in out.stdout + out.stderr
        for where in expected:
            assert f"{where}:" in out.stderr
        assert "Traceback" not in out.stderr
    chinese = run_cli("audit", str(path), lang=None)
    assert chinese.returncode == 2 and "符号链接" in chinese.stderr and SECRET not in chinese.stderr


def test_a_round_refuses_the_centre_with_hostile_evidence_and_audits_the_others(tmp_path):
    path, expected = hostile_folder(tmp_path)
    good = tmp_path / "centre" / "good"
    good.mkdir()
    (good / "hall.jpg").write_bytes(hall := jpeg())
    doc = inspection({"5.5": [{"file": "hall.jpg"}]})
    doc["center"] = dict(doc["center"], id="GOOD-1")
    write(good, doc, "good.yaml")
    out = run_cli("batch", str(tmp_path / "centre"), "-o", str(tmp_path / "out"))
    assert out.returncode == 2, out.stderr
    assert SECRET not in out.stdout + out.stderr
    results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["center"]["id"] for r in results] == ["GOOD-1"]
    (finding,) = [f for f in results[0]["findings"] if f["clause"] == "5.5"]
    assert finding["evidence"] == [{"file": "hall.jpg", "sha256": hashlib.sha256(hall).hexdigest(), "note": None}]
    assert results[0]["audit"]["kind"] == "inspection"
    errors = (tmp_path / "out" / "errors.csv").read_text(encoding="utf-8-sig")
    assert SECRET not in errors
    for where in expected:
        assert where in errors


def test_a_profile_on_standard_input_cannot_name_evidence_files(tmp_path):
    doc = inspection({"5.5": [{"file": "hall.jpg"}]})
    out = run_cli("audit", "-", input=yaml.safe_dump(doc, allow_unicode=True).encode())
    assert out.returncode == 2 and "$.evidence['5.5'][0].file" in out.stderr and "not a file" in out.stderr


def test_the_problems_are_chinese_by_default(tmp_path):
    path = write(tmp_path, inspection({"5.5": [{"file": "照片/大厅.jpg"}], "9.9": [{"sha256": SHA}]}))
    out = run_cli("audit", str(path), lang=None)
    assert out.returncode == 2
    assert "'9.9' 不是规则集 'national' 中的条款；最接近的条款是 '8.7'" in out.stderr
    (tmp_path / "centre.yaml").write_text(
        yaml.safe_dump(inspection({"5.5": [{"file": "照片/大厅.jpg"}]}), allow_unicode=True), encoding="utf-8")
    out = run_cli("audit", str(path), lang=None)
    assert out.returncode == 2 and "档案所在文件夹中没有 '照片/大厅.jpg'" in out.stderr
    with use_language("zh"):
        with pytest.raises(compliance.ProfileError) as exc:
            compliance.load_profile(dict(BASE, audit={"kind": "inspection"}))
        assert "检查人员" in str(exc.value)


# --------------------------------------------------------------------------- tables

def test_an_inspections_people_are_columns_of_the_csv_and_workbook_and_come_back_unchanged(tmp_path):
    (tmp_path / "hall.jpg").write_bytes(jpeg())
    path = write(tmp_path, inspection({"5.5": [{"file": "hall.jpg"}]}))
    want = compliance.evaluate(compliance.load_profile(path)).to_dict()["audit"]
    for name in ("centres.csv", "centres.xlsx", "centres.jsonl"):
        out = run_cli("export", str(path), "-o", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
        if name != "centres.jsonl":
            assert "evidence" in out.stderr and ".jsonl" in out.stderr       # told that the table cannot hold it
        ((_, back),) = list(compliance.read_profiles(tmp_path / name))
        assert isinstance(back, compliance.Profile), back
        assert compliance.evaluate(back).to_dict()["audit"] == want
    header = (tmp_path / "centres.csv").read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert {"audit.kind", "audit.inspectors", "audit.responsible", "audit.round"} <= set(header)
    assert "王敏、李强" in (tmp_path / "centres.csv").read_text(encoding="utf-8-sig")
    # a JSON Lines export keeps the evidence, read from the export's folder
    line = json.loads((tmp_path / "centres.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert line["evidence"] == {"5.5": [{"file": "hall.jpg"}]}


def test_inspectors_typed_in_one_cell_are_split_at_any_usual_separator(tmp_path):
    from compliance.batch import table

    cols = table.columns(compliance.load_ruleset("national").vocabulary)
    reader = table.RowReader(cols)
    for typed in ("王敏、李强", "王敏; 李强", "王敏，李强", "王敏,李强", " 王敏 ；李强 "):
        doc, problems = reader.read({"audit.inspectors": typed, "audit.kind": "检查"}, [])
        assert not problems and doc["audit"] == {"inspectors": ["王敏", "李强"], "kind": "inspection"}, typed


def test_evidence_read_once_stays_read_when_the_profile_is_scored_under_another_rule_set(tmp_path):
    (tmp_path / "hall.jpg").write_bytes(hall := jpeg())
    path = write(tmp_path, inspection({"5.5": [{"file": "hall.jpg"}]}))
    profile = compliance.read_evidence(compliance.load_profile(path))          # checked against national codes
    result = compliance.evaluate(profile, "yinzhou")
    assert result.finding("5.5").evidence[0].sha256 == hashlib.sha256(hall).hexdigest()
    assert [r.finding("5.5").evidence[0].sha256 for r in compliance.audit_many([path], "ningbo")] == \
        [hashlib.sha256(hall).hexdigest()]


def test_the_fast_result_document_is_the_result_document_with_and_without_audit_and_evidence(tmp_path):
    (tmp_path / "hall.jpg").write_bytes(jpeg())
    plain = copy.deepcopy(BASE)
    docs = [plain, dict(plain, audit={"round": "r1"}), inspection(), inspection({"5.5": [{"sha256": SHA}]}),
            inspection({"5.5": [{"file": "hall.jpg"}], "8.7": [{"sha256": SHA, "note": "说明"}]})]
    for i, doc in enumerate(docs):
        profile = compliance.load_profile(write(tmp_path, doc, f"c{i}.yaml"))
        result = compliance.evaluate(compliance.read_evidence(profile))
        for lang in ("zh", "en"):
            assert result.to_json(lang) == orjson.dumps(result.to_dict(lang))
            jsonschema.Draft202012Validator(compliance.result_schema()).validate(result.to_dict(lang))


def test_a_cut_photo_is_refused_even_after_a_report_was_made_in_the_same_process(tmp_path):
    """WeasyPrint turns on Pillow's global switch for truncated images when a report is made; evidence checks
    must not follow it."""
    import weasyprint  # noqa: F401 - importing it is what turns the switch on
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES
    path, expected = hostile_folder(tmp_path)
    with pytest.raises(compliance.ProfileError) as exc:
        compliance.read_evidence(compliance.load_profile(path))
    found = problems_of(exc)
    assert set(found) == set(expected), set(found) ^ set(expected)
    assert ImageFile.LOAD_TRUNCATED_IMAGES                   # left as it was, for the reports
