"""The filed report: titled by who audited, an inspection's sign-off block, and the evidence appendix.

What workflow.md promises ("Sign-off on the filed report"): an inspection's PDF and HTML end with a sign-off block
(the inspectors' names, the responsible person, the assessment date and the round, each with a line to sign, and a
box for the bureau's seal); a self-check is titled as a self-check; a report with evidence has an appendix listing
every item by clause (file name, SHA-256, note) with image thumbnails; an archival PDF/A-3b keeps the JSON result
attached as before, evidence by hash.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import html as html_lib
import importlib
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

import compliance
from compliance.i18n import use_language

from conftest import BASE, run_cli
from test_evidence import PDF, SECRET, bomb_png, jpeg, png
from test_language import english_words

thumbnails = importlib.import_module("compliance.thumbnails")
pdf_module = importlib.import_module("compliance.pdf")

INSPECTORS = ["王敏", "李强"]
HASH_ONLY = "ab" * 32


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pages_of(path: Path) -> list[str]:
    """The text of each page of a PDF, read back with poppler."""
    count = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                                                            check=True).stdout).group(1))
    return [subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(path), "-"], capture_output=True, text=True,
                           check=True).stdout for n in range(1, count + 1)]


def photo(size: tuple[int, int], colour: tuple[int, int, int] = (180, 120, 60), orientation: int = 1) -> bytes:
    """A JPEG photo with a camera's EXIF: its maker, a GPS block and an orientation."""
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (29.0, 49.0, 12.0)}
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def inspection_folder(tmp_path: Path, photos: int = 3, **audit: Any) -> tuple[Path, dict[str, Any]]:
    """An inspection with ``photos`` photos (the first one turned by its EXIF), a PDF and an item named by hash."""
    (tmp_path / "photos").mkdir(exist_ok=True)
    evidence: dict[str, list[dict[str, Any]]] = {}
    clauses = ["4.1", "4.4", "5.5", "5.6", "8.3", "8.7", "6.1", "7.1", "7.2", "8.1"]
    for i in range(photos):
        size = (1200, 900) if i % 2 == 0 else (900, 1200)
        (tmp_path / "photos" / f"p{i}.jpg").write_bytes(photo(size, (40 * i % 255, 120, 60), 6 if i == 0 else 1))
        evidence.setdefault(clauses[i % len(clauses)], []).append(
            {"file": f"photos/p{i}.jpg", "note": f"现场照片{i + 1}", "taken_on": "2026-11-20"})
    (tmp_path / "photos" / "plan.pdf").write_bytes(PDF)
    evidence.setdefault("5.5", []).append({"file": "photos/plan.pdf", "note": "服务大厅平面图"})
    evidence.setdefault("8.3", []).append({"sha256": HASH_ONLY, "note": "区平台已存档的开放时间公示"})
    doc = copy.deepcopy(dict(BASE))
    doc["center"]["assessed_on"] = "2026-11-20"
    doc["audit"] = {"kind": "inspection", "inspectors": INSPECTORS, "responsible": "陈芳", "round": "2026-yinzhou",
                    **audit}
    doc["evidence"] = evidence
    path = tmp_path / "inspection.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, doc


def evaluate(path: Path) -> compliance.AuditResult:
    return compliance.evaluate(compliance.read_evidence(compliance.load_profile(path)))


def with_audit(audit: dict[str, Any] | None) -> compliance.AuditResult:
    doc = copy.deepcopy(dict(BASE))
    doc.pop("audit", None)
    if audit is not None:
        doc["audit"] = audit
    return compliance.evaluate(doc)


# --------------------------------------------------------------------------- titles


@pytest.mark.parametrize("audit, zh, en", [
    ({"kind": "inspection", "inspectors": ["王敏"], "responsible": "陈芳", "round": "2026-yinzhou"},
     "社区便民服务中心检查报告", "Community service centre inspection report"),
    ({"kind": "self_check", "responsible": "陈芳"}, "社区便民服务中心自查报告", "Community service centre self-check report"),
    (None, "社区便民服务中心规范审计报告", "Community service centre audit report"),
])
def test_a_report_is_titled_by_who_audited_and_a_profile_without_an_audit_block_keeps_the_old_title(audit, zh, en):
    result = with_audit(audit)
    page = compliance.render(result, "html", lang="zh")
    assert f"<title>{result.profile.name} · {zh}</title>" in page and f'<div class="doc-title">{zh}</div>' in page
    assert f'<div class="doc-title">{en}</div>' in compliance.render(result, "html", lang="en")
    text, md = compliance.render(result, "text", lang="zh"), compliance.render(result, "md", lang="zh")
    if audit is None:       # the text and Markdown reports had no title line, and a plain profile's still have none
        assert zh not in text and zh not in md
    else:
        assert text.splitlines()[0] == zh and zh in md.splitlines()[:4]


def test_the_pdf_carries_the_title_of_a_self_check(tmp_path):
    target = tmp_path / "self.pdf"
    compliance.render(with_audit({"kind": "self_check", "responsible": "陈芳"}), "pdf", target, lang="zh")
    first = squash(pages_of(target)[0])
    assert "社区便民服务中心自查报告" in first and "签字确认" not in squash("".join(pages_of(target)))


# --------------------------------------------------------------------------- the sign-off block


def test_an_inspection_pdf_ends_with_the_whole_sign_off_block_on_one_page(tmp_path):
    path, _ = inspection_folder(tmp_path, photos=6)
    target = tmp_path / "filed.pdf"
    compliance.render(evaluate(path), "pdf", target, lang="zh")
    pages = [squash(p) for p in pages_of(target)]
    last = pages[-1]
    for words in ("签字确认", *INSPECTORS, "陈芳", "被检查单位负责人", "2026-11-20", "2026-yinzhou", "签字", "日期",
                  "民政部门盖章", "（此处盖章）"):
        assert words in last, words
    assert last.index("签字确认") < last.index("王敏") < last.index("陈芳")
    assert all("签字确认" not in p for p in pages[:-1])
    assert "民政部门盖章" not in "".join(pages[:-1])


@pytest.mark.parametrize("inspectors", [1, 5])
def test_the_sign_off_block_never_splits_across_pages_however_much_comes_before_it(tmp_path, inspectors):
    names = [f"考核员{i}" for i in range(inspectors)]
    for photos in (4, 7):
        folder = tmp_path / f"{inspectors}-{photos}"
        folder.mkdir()
        path, _ = inspection_folder(folder, photos=photos, inspectors=names)
        target = folder / "filed.pdf"
        compliance.render(evaluate(path), "pdf", target, lang="zh")
        pages = [squash(p) for p in pages_of(target)]
        holding = [i for i, p in enumerate(pages) if "签字确认" in p or "民政部门盖章" in p or "考核员" in p]
        assert holding == [len(pages) - 1], (photos, holding)
        assert all(n in pages[-1] for n in names)


def test_the_html_report_has_a_line_to_sign_for_every_inspector_and_the_responsible_person_and_a_seal_box(tmp_path):
    path, _ = inspection_folder(tmp_path, photos=1)
    page = compliance.render(evaluate(path), "html", lang="zh")
    block = page[page.index('<section class="signoff">'):]
    assert block.index("</section>") > block.index("民政部门盖章")
    rows = re.findall(r'<div class="sign-row"><span class="role">(.*?)</span><span class="who">(.*?)</span>'
                      r'<span class="line"></span><span class="line date"></span></div>', block)
    assert rows == [("考核人员", "王敏"), ("考核人员", "李强"), ("被检查单位负责人", "陈芳")]
    assert '<div class="seal">' in block and "2026-11-20" in block and "2026-yinzhou" in block
    # the sign-off is the last thing of the page
    assert page.index('<section class="signoff">') > page.index('<section class="evidence">')


@pytest.mark.parametrize("fmt", ["text", "md"])
def test_text_and_markdown_give_the_same_facts_with_lines_to_sign(tmp_path, fmt):
    path, _ = inspection_folder(tmp_path, photos=1)
    out = compliance.render(evaluate(path), fmt, lang="zh")
    block = out[out.index("签字确认"):]
    for words in (*INSPECTORS, "陈芳", "2026-11-20", "2026-yinzhou", "民政部门盖章"):
        assert words in block, words
    line = "________" if fmt == "text" else r"\_\_\_\_"
    signing = [row for row in block.splitlines() if any(n in row for n in (*INSPECTORS, "陈芳"))]
    assert len(signing) == 3 and all(row.count(line) >= 2 for row in signing)


def test_a_self_check_and_a_plain_profile_have_no_sign_off_block():
    for audit in ({"kind": "self_check", "responsible": "陈芳"}, None):
        result = with_audit(audit)
        assert '<section class="signoff">' not in compliance.render(result, "html", lang="zh")
        for fmt in ("text", "md"):
            assert "签字确认" not in compliance.render(result, fmt, lang="zh")


# --------------------------------------------------------------------------- the evidence appendix


def pictures(page: str) -> list[Image.Image]:
    found = re.findall(r'<img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_the_appendix_lists_every_item_by_clause_with_its_hash_note_and_date(tmp_path):
    path, doc = inspection_folder(tmp_path, photos=3)
    result = evaluate(path)
    page = compliance.render(result, "html", lang="zh")
    appendix = html_lib.unescape(page[page.index('<section class="evidence">'):page.index('<section class="signoff">')])
    items = result.evidence
    assert len(items) == 5
    for item in items:
        title = result.ruleset.clause(item.clause).title["zh"]
        assert f"{item.clause} {title}" in appendix
        assert f'title="校验值：{item.sha256}"' in appendix and f"校验值：{item.sha256[:16]}\n" in appendix.replace(
            "&#10;", "\n")                                                          # whole in the tooltip
        assert item.note in appendix
    assert "photos/plan.pdf" in appendix and "文档（无缩略图）" in appendix
    assert "已存档（以校验值标识）" in appendix and HASH_ONLY[:16] in appendix
    assert appendix.count("拍摄日期：2026-11-20") == 3
    # by clause, in the rule set's order
    order = [c.clause for c in result.ruleset.clauses]
    shown = re.findall(r'<p>(\S+) ', appendix)
    assert len(shown) == 5 and shown == sorted(shown, key=order.index)
    target = tmp_path / "filed.pdf"
    compliance.render(result, "pdf", target, lang="zh")
    text = squash("".join(pages_of(target)))
    for item in items:
        assert item.sha256[:16] in text and item.sha256 not in text and squash(item.note) in text
    md = compliance.render(result, "md", lang="zh")
    assert all(f"`{item.sha256[:16]}`" in md for item in items)


def test_thumbnails_are_bounded_jpegs_turned_upright_without_the_cameras_metadata(tmp_path):
    path, _ = inspection_folder(tmp_path, photos=3)
    page = compliance.render(evaluate(path), "html", lang="zh")
    found = pictures(page)
    assert len(found) == 3
    for image in found:
        assert image.format == "JPEG" and max(image.size) <= thumbnails.EDGE
        assert not image.getexif() and "exif" not in image.info
    # the first photo is 1200 × 900 with EXIF orientation 6: shown upright, portrait; the second is portrait already
    assert found[0].size == (360, 480) and found[1].size == (360, 480) and found[2].size == (480, 360)
    assert "file:" not in page and str(tmp_path) not in page


def test_a_photo_changed_broken_or_swapped_after_scoring_is_listed_without_a_picture_and_never_crashes(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.jpg").write_bytes(jpeg())
    home = tmp_path / "home"
    home.mkdir()
    path, _ = inspection_folder(home, photos=6)
    result = evaluate(path)
    photos = home / "photos"
    (photos / "p0.jpg").write_bytes(bomb_png())                          # now a bomb, under the same name
    (photos / "p1.jpg").write_bytes(photo((640, 480))[:700])            # cut short
    (photos / "p2.jpg").unlink()                                         # gone
    (photos / "p3.jpg").unlink()
    (photos / "p3.jpg").symlink_to(tmp_path / "outside" / "secret.jpg")  # a link out of the folder
    (photos / "p4.jpg").write_bytes(jpeg((50, 50)))                      # another photo: not the one hashed
    thumbnails._cache.clear()
    page = compliance.render(result, "html", lang="zh")
    assert len(pictures(page)) == 1                                      # p5 only, as it was
    assert page.count("无图片") == 6
    target = tmp_path / "filed.pdf"
    compliance.render(result, "pdf", target, lang="zh")
    assert SECRET not in "".join(pages_of(target))


def test_a_hostile_image_made_into_an_item_by_hand_gives_no_thumbnail(tmp_path):
    cases = {"bomb.png": (bomb_png(), "image/png"), "garbled.png": (bomb_png(10, 10, idat=b"not zlib"), "image/png"),
             "text.jpg": (b"\xff\xd8\xff" + b"A" * 5000, "image/jpeg"), "page.pdf": (PDF, "application/pdf")}
    for name, (data, kind) in cases.items():
        (tmp_path / name).write_bytes(data)
        item = compliance.EvidenceItem("5.5", hashlib.sha256(data).hexdigest(), name, None, None, kind, len(data),
                                       str(tmp_path / name))
        assert thumbnails.thumbnail(item) is None, name
    (tmp_path / "wide.png").write_bytes(wide := png((5000, 4000)))       # 20 M pixels: decoded whole, too much memory
    item = compliance.EvidenceItem("5.5", hashlib.sha256(wide).hexdigest(), "wide.png", None, None, "image/png",
                                   len(wide), str(tmp_path / "wide.png"))
    assert thumbnails.thumbnail(item) is None
    (tmp_path / "ok.png").write_bytes(ok := png((900, 300)))
    item = compliance.EvidenceItem("5.5", hashlib.sha256(ok).hexdigest(), "ok.png", None, None, "image/png", len(ok),
                                   str(tmp_path / "ok.png"))
    uri = thumbnails.thumbnail(item)
    assert uri is not None and Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size == (480, 160)


def test_a_photo_is_made_into_a_thumbnail_once_in_a_process(tmp_path, monkeypatch):
    path, _ = inspection_folder(tmp_path, photos=2)
    result = evaluate(path)
    thumbnails._cache.clear()
    made: list[str] = []
    real = thumbnails._make
    monkeypatch.setattr(thumbnails, "_make", lambda *a: (made.append(a[0]), real(*a))[1])
    compliance.render(result, "html", lang="zh")
    compliance.render(result, "html", lang="en")
    compliance.render(result, "pdf", lang="zh")
    assert sorted(made) == sorted(str(tmp_path / "photos" / f"p{i}.jpg") for i in range(2))


def test_the_pdf_engine_takes_only_the_thumbnails_this_process_made():
    fetcher = pdf_module.asset_fetcher_class()(pdf_module.assets_dir())
    foreign = base64.b64encode(jpeg()).decode()
    with pytest.raises(ValueError, match="report assets only"):
        fetcher.fetch("data:image/jpeg;base64," + foreign)
    with pytest.raises(ValueError, match="report assets only"):
        fetcher.fetch("data:image/jpeg;base64,@@not base64@@")


def test_an_archival_pdf_keeps_the_json_result_attached_with_evidence_by_hash(tmp_path):
    path, _ = inspection_folder(tmp_path, photos=2)
    result = evaluate(path)
    target = tmp_path / "filed.pdf"
    compliance.render(result, "pdf", target, archival=True, lang="zh")
    meta = subprocess.run(["pdfinfo", "-meta", str(target)], capture_output=True, text=True).stdout
    assert 'pdfaid:part="3"' in meta and 'pdfaid:conformance="B"' in meta
    listed = subprocess.run(["pdfdetach", "-list", str(target)], capture_output=True, text=True).stdout
    assert "audit-result.json" in listed and ".jpg" not in listed
    subprocess.run(["pdfdetach", "-saveall", "-o", str(tmp_path), str(target)], check=True)
    attached = json.loads((tmp_path / "audit-result.json").read_text(encoding="utf-8"))
    assert attached == json.loads(json.dumps(result.to_dict("zh")))
    hashes = [e["sha256"] for f in attached["findings"] for e in f.get("evidence", [])]
    assert sorted(hashes) == sorted(e.sha256 for e in result.evidence)


# --------------------------------------------------------------------------- languages and the command line


def test_english_on_request(tmp_path):
    path, _ = inspection_folder(tmp_path, photos=1)
    result = evaluate(path)
    page = html_lib.unescape(compliance.render(result, "html", lang="en"))
    for words in ("Sign-off", "Inspector", "Responsible person", "Bureau's seal", "Evidence", "Taken on",
                  "stored (named by its hash)", "Community service centre inspection report"):
        assert words in page, words
    assert "<h2>签字确认</h2>" not in page and "<h2>佐证材料</h2>" not in page
    with use_language("en"):
        assert "Sign-off" in compliance.render(result, "text")


def test_the_chinese_report_has_no_english_word_outside_the_values_it_shows(tmp_path):
    path, doc = inspection_folder(tmp_path, photos=2)
    result = evaluate(path)
    typed = set(re.findall(r"[A-Za-z]{2,}", json.dumps(doc, ensure_ascii=False)))
    typed |= {w for e in result.evidence for h in (e.sha256 or "", (e.sha256 or "")[:16])
              for w in re.findall(r"[A-Za-z]{2,}", h)}
    typed |= set(re.findall(r"[A-Za-z]{2,}", result.ruleset.content_hash + result.profile.sha256))
    target = tmp_path / "filed.pdf"
    compliance.render(result, "pdf", target, lang="zh")
    assert english_words("".join(pages_of(target)), sorted(typed)) == []
    for fmt in ("text", "md"):
        out = compliance.render(result, fmt, lang="zh")
        out = re.sub(r"</?sub>", " ", out)                              # Markdown's own markup
        assert english_words(out, sorted(typed)) == [], fmt


def test_the_command_line_files_an_inspection_with_its_photos_and_sign_off(tmp_path):
    path, _ = inspection_folder(tmp_path, photos=2)
    out = run_cli("audit", str(path), "--format", "html", "-o", str(tmp_path / "filed.html"), lang=None)
    assert out.returncode in (0, 1), out.stderr
    page = (tmp_path / "filed.html").read_text(encoding="utf-8")
    assert len(pictures(page)) == 2 and "<h2>签字确认</h2>" in page and "社区便民服务中心检查报告" in page
