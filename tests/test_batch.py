"""District and national rounds: `compliance template`, `export`, `batch` and the library's
`read_profiles` / `audit_many`.

Every expectation is recomputed from the inputs or from another output (results.jsonl is the
reference for the tables), never copied from a run.
"""
from __future__ import annotations

import codecs
import contextlib
import copy
import csv
import datetime
import functools
import html
import io
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import orjson
import pytest
from conftest import EXAMPLES, ROOT, profile
from openpyxl.utils import get_column_letter

import compliance
from compliance.batch import round as round_module, sources
from compliance.batch.round import report_name
from compliance.cli import main

DISTRICT = EXAMPLES / "yinzhou-district"
XLSX = DISTRICT / "centres.xlsx"
JSONL = DISTRICT / "centres.jsonl"
PREVIOUS = DISTRICT / "2025-round"
BOM = codecs.BOM_UTF8

# The bundled single profiles with distinct centre ids (the two Mantoushan files share one).
DISTINCT = ["beijing-open-plan", "dandinghe-old-compound", "haichuang-large-community", "haiyue",
            "mantoushan-neighbourhood-centre", "rural-village-centre"]


# --------------------------------------------------------------------------- helpers

def cli(*args: Any) -> tuple[int, str, str]:
    """`compliance ARGS` in this process: (exit status, standard output, standard error)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        words = [str(a) for a in args]
        status = main(words if "--lang" in words else [*words, "--lang", "en"])   # the tests read English (conftest)
    return status, out.getvalue(), err.getvalue()


def result_lines(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.decode("utf-8").splitlines()]


def canonical(doc: dict[str, Any], drop_profile: bool = True) -> bytes:
    """A result document as type-preserving bytes (150 and 150.0 differ), without profile.source/sha256."""
    doc = copy.deepcopy(doc)
    if drop_profile:
        doc.pop("profile", None)
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def read_csv(path: Path) -> tuple[bytes, list[str], list[dict[str, str]]]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return raw, rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def row_keys(sheet: Any) -> list[str]:
    return [c.value for c in sheet[2] if c.value is not None]


def fill_workbook(path: Path, docs: list[dict[str, Any]], edit: Any = None) -> None:
    """Fill a template the way a community does: one centre a row from row 3 (keys from row 2),
    是/否 for booleans and code lists, zones one a row on the zones sheet; then ``edit(book)``."""
    book = openpyxl.load_workbook(path)
    centres, zones = book["centres"], book["zones"]
    keys = row_keys(centres)
    zkeys = row_keys(zones)
    zr = 3
    for r, doc in enumerate(docs, start=3):
        for c, key in enumerate(keys, start=1):
            node: Any = doc
            value: Any = None
            parts = key.split(".")
            for i, part in enumerate(parts):
                if isinstance(node, list):            # a code list's yes/no column: list.code
                    value = "是" if part in node else "否"
                    break
                if not isinstance(node, dict) or part not in node:
                    value = None
                    break
                node = node[part]
            else:
                value = None if isinstance(node, list) else node
            if isinstance(value, bool):
                value = "是" if value else "否"
            if value is not None:
                centres.cell(r, c, value)
        for zone in doc["space"]["zones"]:
            for c, key in enumerate(zkeys, start=1):
                value = doc["center"]["id"] if key == "center.id" else zone.get(key)
                if value is not None:
                    zones.cell(zr, c, value)
            zr += 1
    if edit is not None:
        edit(book)
    book.save(path)


@functools.cache
def _conforming_ids() -> frozenset[str]:
    rules = compliance.load_ruleset("yinzhou")
    return frozenset(doc["center"]["id"] for doc in good_district_docs()
                     if compliance.evaluate(compliance.load_profile(doc, rules=rules), rules).conforming)


def good_district_docs() -> list[dict[str, Any]]:
    """The example district's valid centres (as JSON documents)."""
    docs = []
    for line in JSONL.read_bytes().splitlines():
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc["population"]["households"], int):
            docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def yinzhou() -> compliance.RuleSet:
    return compliance.load_ruleset("yinzhou")


@pytest.fixture(scope="module")
def xlsx_round(tmp_path_factory):
    """The example workbook audited against last year's round (4 bad rows in it)."""
    out = tmp_path_factory.mktemp("xlsx-round") / "round-2026"
    status, stdout, stderr = cli("batch", XLSX, "--rules", "yinzhou", "-o", out, "--jobs", "1",
                                 "--previous", PREVIOUS)
    return SimpleNamespace(out=out, status=status, stdout=stdout, stderr=stderr)


@pytest.fixture(scope="module")
def jsonl_round(tmp_path_factory):
    """The example JSON Lines (2 bad lines), no previous round."""
    out = tmp_path_factory.mktemp("jsonl-round") / "out"
    status, stdout, stderr = cli("batch", JSONL, "--rules", "yinzhou", "-o", out, "--jobs", "1")
    return SimpleNamespace(out=out, status=status, stdout=stdout, stderr=stderr)


EVIL_ID = "../../evil\\x\x07"


@pytest.fixture(scope="module")
def small_round(tmp_path_factory):
    """Three bundled centres, one with a hostile id, one broken file; with --reports."""
    folder = tmp_path_factory.mktemp("small")
    evil = write_json(folder / "evil.json", profile(center__id=EVIL_ID))
    broken = folder / "broken.json"
    broken.write_text('{"schema_version": 1, "center": {"id": "BROKEN"', encoding="utf-8")
    inputs = [EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml", broken,
              EXAMPLES / "rural-village-centre.yaml", evil]
    out = folder / "out"
    status, stdout, stderr = cli("batch", *inputs, "-o", out, "--jobs", "1", "--reports")
    return SimpleNamespace(out=out, status=status, stdout=stdout, stderr=stderr, inputs=inputs, evil=evil,
                           broken=broken)


def test_with_workers_the_district_reports_pdf_is_rendered_by_a_worker(tmp_path, monkeypatch):
    """A round that makes reports with workers hands the district report's PDF to a worker whose renderer is
    already warm: this process never loads it (here it would fail), and the PDF is the same report."""
    from compliance import pdf

    def not_here(*args, **kwargs):
        raise AssertionError("the round's own process rendered a PDF")

    monkeypatch.setattr(pdf, "html_to_pdf", not_here)
    out = tmp_path / "out"
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", EXAMPLES / "rural-village-centre.yaml", "-o", out,
                         "--jobs", "2", "--reports")
    assert status in (0, 1), err
    district = (out / "district-report.pdf").read_bytes()
    assert district.startswith(b"%PDF-") and district.rstrip().endswith(b"%%EOF")
    reports = list((out / "reports").iterdir())
    assert len(reports) == 2 and all(p.read_bytes().startswith(b"%PDF-") for p in reports)


# --------------------------------------------------------------------------- 1. locations

def test_the_example_workbooks_bad_rows_are_named_by_sheet_and_cell(xlsx_round):
    assert xlsx_round.status == 2
    raw, header, rows = read_csv(xlsx_round.out / "errors.csv")
    assert raw.startswith(BOM)
    assert header == ["location", "center_id", "path", "field", "problem", "severity"]
    assert {r["severity"] for r in rows} == {"error"}
    by_location = {r["location"]: r for r in rows}
    book = str(XLSX)
    assert set(by_location) == {f"{book}!centres!M10", f"{book}!zones!B517", f"{book}!zones!C1246",
                                f"{book}!centres!A144"}
    area = by_location[f"{book}!centres!M10"]
    assert (area["center_id"], area["path"]) == ("330212-BH-0033", "$.space.total_area_m2")
    assert "约500" in area["problem"]
    kind = by_location[f"{book}!zones!B517"]
    assert kind["center_id"] == "330212-PH-0059"
    assert re.fullmatch(r"\$\.space\.zones\[\d+\]\.kind", kind["path"]) and "fitness_room" in kind["problem"]
    negative = by_location[f"{book}!zones!C1246"]
    assert negative["center_id"] == "330212-DJ-0041"
    assert re.fullmatch(r"\$\.space\.zones\[\d+\]\.area_m2", negative["path"])
    repeat = by_location[f"{book}!centres!A144"]
    assert (repeat["center_id"], repeat["path"]) == ("330212-DS-0197", "$.center.id")
    assert f"{book}!centres!A82" in repeat["problem"]
    # the messages on standard error carry the same locations
    for location in by_location:
        assert location in xlsx_round.stderr


def test_read_profiles_locates_the_example_workbooks_problems_in_their_cells():
    files = set()
    for where, item in compliance.read_profiles(XLSX, compliance.load_ruleset("yinzhou")):
        if isinstance(item, compliance.ProfileError):
            files |= {p.file for p in item.problems}
    book = str(XLSX)
    assert files == {f"{book}!centres!M10", f"{book}!zones!B517", f"{book}!zones!C1246", f"{book}!centres!A144"}


def test_the_example_json_lines_bad_lines_are_named_by_line(jsonl_round):
    assert jsonl_round.status == 2
    _, _, rows = read_csv(jsonl_round.out / "errors.csv")
    assert [r["location"] for r in rows] == [f"{JSONL}:55", f"{JSONL}:73"]
    assert rows[1]["center_id"] == "330212-ML-0158" and rows[1]["path"] == "$.population.households"
    bad = [(where, item) for where, item in compliance.read_profiles(JSONL)
           if isinstance(item, compliance.ProfileError)]
    assert [where for where, _ in bad] == [f"{JSONL}:55", f"{JSONL}:73"]
    assert {p.file for _, e in bad for p in e.problems} == {f"{JSONL}:55", f"{JSONL}:73"}


@pytest.fixture(scope="module")
def empty_template(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("template") / "centres.xlsx"
    status, out, err = cli("template", target)
    assert status == 0, err
    assert out.strip() == f"wrote {target}"
    return target


@pytest.fixture
def template(tmp_path, empty_template) -> Path:
    target = tmp_path / "centres.xlsx"
    shutil.copy(empty_template, target)
    return target


def test_a_filled_template_reads_back_as_the_profiles_and_names_bad_cells(template, yinzhou):
    second = profile(center__id="330212-SN-0999", center__name="第二中心")
    fill_workbook(template, [profile(), second])
    # Valid as filled: both centres read back as the profiles they were written from.
    items = list(compliance.read_profiles(template, yinzhou))
    assert [type(i) for _, i in items] == [compliance.Profile, compliance.Profile]
    assert items[0][1].data == profile() and items[1][1].data == second
    assert [w for w, _ in items] == [f"{template}!centres!A3", f"{template}!centres!A4"]

    book = openpyxl.load_workbook(template)
    keys = row_keys(book["centres"])
    zones = book["zones"]
    first_zones = len(profile()["space"]["zones"])
    assert first_zones >= 5                            # C7 is the first centre's fifth zone
    assert zones["A7"].value == profile()["center"]["id"]
    zones["C7"] = "about 20"
    residents = get_column_letter(keys.index("population.residents") + 1)
    book["centres"][f"{residents}4"] = "lots"
    book.save(template)

    items = list(compliance.read_profiles(template, yinzhou))
    (_, e1), (_, e2) = items
    assert isinstance(e1, compliance.ProfileError) and isinstance(e2, compliance.ProfileError)
    assert [(p.file, p.json_path) for p in e1.problems] == [(f"{template}!zones!C7", "$.space.zones[4].area_m2")]
    assert [(p.file, p.json_path) for p in e2.problems] == [(f"{template}!centres!{residents}4",
                                                             "$.population.residents")]


def test_a_bad_yes_no_answer_in_a_code_list_column_names_that_cell(template, empty_template, yinzhou):
    keys = row_keys(openpyxl.load_workbook(empty_template, read_only=True)["centres"])
    column = get_column_letter(keys.index("signage.grid_map") + 1)

    def edit(book):
        book["centres"][f"{column}3"] = "maybe"

    fill_workbook(template, [profile()], edit)
    [(_, error)] = list(compliance.read_profiles(template, yinzhou))
    assert isinstance(error, compliance.ProfileError)
    assert [p.file for p in error.problems] == [f"{template}!centres!{column}3"]


def test_json_lines_locations_are_physical_lines_counting_blank_ones(tmp_path):
    docs = [profile(center__id="J1"), profile(center__id="J4"),
            profile(center__id="J5", population__households="many"), profile(center__id="J6")]
    lines = [orjson.dumps(docs[0]), b"", b"   \t", orjson.dumps(docs[1]) + b"\r", orjson.dumps(docs[2]),
             orjson.dumps(docs[3])]
    source = tmp_path / "d.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    items = list(compliance.read_profiles(source))
    assert [w for w, _ in items] == [f"{source}:1", f"{source}:4", f"{source}:5", f"{source}:6"]
    assert [getattr(i, "id", None) for _, i in items] == ["J1", "J4", None, "J6"]
    error = items[2][1]
    assert [(p.file, p.json_path) for p in error.problems] == [(f"{source}:5", "$.population.households")]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_lines_no_reader_may_take_are_refused_by_line_and_the_others_audited(tmp_path, jobs):
    """A line nested 200,000 deep (orjson before 3.9.15 crashed the process on it) and texts holding half of a
    character (an escape such as \\udfff: JSON allows it, UTF-8 cannot hold it) are refused where they are; the
    centres around them are audited."""
    good = [orjson.dumps(profile(center__id=f"G{i}")) for i in range(4)]
    lone_id = good[0].replace(b'"id":"G0"', b'"id":"G\\udfff"')
    lone_name = good[1].replace(b'"id":"G1"', b'"id":"H1"').replace(b'"name":"', b'"name":"\\ud800', 1)
    deep = b"[" * 200_000 + b"]" * 200_000
    source = tmp_path / "d.jsonl"
    source.write_bytes(b"\n".join([good[0], lone_id, good[1], deep, lone_name, good[2], good[3]]) + b"\n")
    status, _, err = cli("batch", source, "--rules", "national", "-o", tmp_path / "out", "--jobs", jobs)
    assert status == 2, err
    assert [d["center"]["id"] for d in result_lines(tmp_path / "out" / "results.jsonl")] == \
        ["G0", "G1", "G2", "G3"]
    _, _, errors = read_csv(tmp_path / "out" / "errors.csv")
    assert [(e["location"], e["path"]) for e in errors] == [
        (f"{source}:2", "$.center.id"), (f"{source}:4", ""), (f"{source}:5", "$.center.name")]
    assert "a lone surrogate" in errors[0]["problem"] and "nested too deeply" in errors[1]["problem"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_round_reads_json_lines_in_blocks_as_it_reads_them_line_by_line(tmp_path, monkeypatch, jobs):
    """The round hands a JSON Lines file to its workers a block of bytes at a time (here 4,000, the limit of a line
    too): lines across blocks, a line longer than the limit (refused with its size, never held), blank and CRLF
    lines and a last line without its end give the files a round of records one by one gives, line for line."""
    monkeypatch.setattr(sources, "MAX_LINE", 4000)
    monkeypatch.setattr(sources, "BLOCK", 4000)
    lines = []
    for i in range(40):
        doc = profile(center__id=f"B{i:02d}")
        if i % 7 == 3:
            doc["center"]["name"] = "长" * (600 + 40 * i)               # 1,800 to 5,600 more bytes
        lines.append(orjson.dumps(doc) + (b"\r" if i % 5 == 0 else b""))
        if i % 9 == 4:
            lines.append(b"  ")
    lines.append(b"x" * 9000)                                            # too long, and not JSON either
    lines.append(orjson.dumps(profile(center__id="LAST")))
    source = tmp_path / "d.jsonl"
    source.write_bytes(b"\n".join(lines))                              # the last line without its end
    too_long = [i + 1 for i, line in enumerate(lines) if len(line) + 1 > 4000]
    assert len(too_long) >= 3

    status, _, err = cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "blocks", "--jobs", jobs)
    assert status == 2, err
    real = round_module.run_batches
    monkeypatch.setattr(round_module, "run_batches", lambda *a, **k: real(*a, **{**k, "size": 3}))
    status, _, err = cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "records", "--jobs", "1")
    assert status == 2, err
    _same_outputs(tmp_path / "blocks", tmp_path / "records")
    docs = result_lines(tmp_path / "blocks" / "results.jsonl")
    assert docs[-1]["center"]["id"] == "LAST" and docs[-1]["profile"]["source"] == f"{source}:{len(lines)}"
    _, _, errors = read_csv(tmp_path / "blocks" / "errors.csv")
    refused = {int(e["location"].rsplit(":", 1)[1]): e["problem"] for e in errors}
    assert sorted(k for k, problem in refused.items() if problem.startswith("the line is ")) == too_long
    assert refused[len(lines) - 1] == "the line is 9,001 bytes; the limit is 4,000"
    assert len(docs) + len(refused) == 42               # 40, the line too long, the last


def _lines_as_read_one_by_one(path: Path, limit: int) -> list[tuple[str, bytes | None, int | None]]:
    """What a JSON Lines file holds, line by line: (location, the line without its end, None), or (location, None,
    size) for a line longer than ``limit`` bytes with its end; a blank line is no record."""
    pieces = path.read_bytes().split(b"\n")
    ended = [True] * (len(pieces) - 1) + [False]
    if pieces[-1] == b"":                       # what follows the last line end
        pieces.pop()
        ended.pop()
    found: list[tuple[str, bytes | None, int | None]] = []
    for number, (line, end) in enumerate(zip(pieces, ended), start=1):
        if len(line) + end > limit:
            found.append((f"{path}:{number}", None, len(line) + end))
        elif line and not line.isspace():
            found.append((f"{path}:{number}", line.rstrip(b"\r"), None))
    return found


def _piped(path: Path) -> Path:
    """A named pipe beside ``path`` that gives its bytes once, to the next reader: a file that cannot be read twice."""
    import threading

    pipe = path.with_name("piped-" + path.name)
    if not pipe.exists():
        os.mkfifo(pipe)
    data = path.read_bytes()

    def feed() -> None:
        with open(pipe, "wb") as out:
            out.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return pipe


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_round_over_a_named_pipe_audits_every_line_it_gives(tmp_path, jobs):
    """A pipe gives its lines once: the round reads them all (the checkpoint's hash of the inputs, made while the
    round reads, took some from it), the next round over the same pipe too."""
    source = tmp_path / "d.jsonl"
    source.write_bytes(b"".join(orjson.dumps(profile(center__id=f"P{i}")) + b"\n" for i in range(700)))
    expected = [f"P{i}" for i in range(700)]
    for _ in range(2):
        status, _, err = cli("batch", _piped(source), "--rules", "national", "-o", tmp_path / "out", "--jobs", jobs)
        assert status in (0, 1), err
        assert [d["center"]["id"] for d in result_lines(tmp_path / "out" / "results.jsonl")] == expected


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_round_reads_json_lines_from_standard_input(tmp_path, jobs):
    """``-`` is a pipeline's centres, one a line, as a .jsonl file's: each named by its line (``-:3``), a bad one
    refused where it is, and the round never takes up a checkpoint of an earlier run over ``-``."""
    lines = b"".join(orjson.dumps(profile(center__id=f"S{i}")) + b"\n" for i in range(300))
    lines += b'{"schema_version": 1, "population": {"households": 1e400}}\n'
    out = tmp_path / "out"
    command = [sys.executable, "-m", "compliance", "batch", "-", "-o", str(out), "--jobs", jobs, "--lang", "en"]
    for _ in range(2):
        done = subprocess.run(command, input=lines, capture_output=True, timeout=300)
        assert done.returncode == 2, done.stderr          # the last line refused
        assert [d["center"]["id"] for d in result_lines(out / "results.jsonl")] == [f"S{i}" for i in range(300)]
        errors = list(csv.reader(io.StringIO((out / "errors.csv").read_text(encoding="utf-8-sig"))))
        assert [row[:3] for row in errors[1:]] == [["'-:301", "", "$.population.households"]]
    job = round_module.Round(inputs=["-"], rules=compliance.load_ruleset("national"), outdir=out)
    assert job.fingerprint() != job.fingerprint()         # read once: no checkpoint of it is ever taken up
    (tmp_path / "-").mkdir()                              # even beside a folder named "-"
    (tmp_path / "-" / "a.jsonl").write_bytes(lines[:100])
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert job.fingerprint() != job.fingerprint()
    finally:
        os.chdir(here)
    exported = tmp_path / "centres.jsonl"
    done = subprocess.run([sys.executable, "-m", "compliance", "export", "-", "-o", str(exported)], input=lines[:2000],
                          capture_output=True, timeout=120)
    assert exported.read_bytes().count(b"\n") == lines[:2000].count(b"\n")


def test_reports_are_refused_for_an_input_that_can_be_read_only_once(tmp_path):
    """--reports reads the centres again after the round: standard input or a pipe would give nothing the second
    time, and the reports would be missing without a word."""
    source = tmp_path / "d.jsonl"
    source.write_bytes(orjson.dumps(profile()) + b"\n")
    for given in ("-", _piped(source)):
        status, _, err = cli("batch", given, "-o", tmp_path / "out", "--reports")
        assert status == 2 and "'--reports' reads the centres a second time" in err and f"'{given}'" in err
        assert not (tmp_path / "out").exists()
    _piped(source).read_bytes()         # the pipe's writer is done


@pytest.mark.parametrize("kind", ["file", "pipe"])
@pytest.mark.parametrize("seed", range(6))
def test_json_lines_read_in_blocks_are_the_lines_one_by_one_at_every_boundary(tmp_path, monkeypatch, seed, kind):
    """Lines of every length about the limit (which is also the block read at a time), wherever they fall: from a
    file (each block where its lines are) and from a pipe (each block's bytes, read once)."""
    limit = 64
    monkeypatch.setattr(sources, "MAX_LINE", limit)
    monkeypatch.setattr(sources, "BLOCK", limit)
    rnd = random.Random(seed)
    lines = [rnd.choice(b"x {\r") .to_bytes(1, "big") * rnd.choice([0, 1, 2, 30, 62, 63, 64, 65, 66, 127, 128, 200, 400])
             for _ in range(60)]
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join(lines) + rnd.choice([b"", b"\n", b"\r\n"]))
    expected = _lines_as_read_one_by_one(path, limit)
    assert sum(1 for _, line, _ in expected if line is None) >= 5
    source = (lambda: path) if kind == "file" else (lambda: _piped(path))
    where = str(source())
    expected = [(location.replace(str(path), where), line, size) for location, line, size in expected]
    read = [(r.location, r.raw, dict(r.problems[0].text.params)["size"] if r.problems else None)
            for r in sources.records([where])]
    assert read == expected
    for skip in (0, 1, 17, len(expected)):      # a resumed round leaves out the records done
        given = []
        for item in sources.blocks([source()], skip=skip):
            if isinstance(item, sources.Lines):
                assert (item.given is None) == (kind == "file") and len(item.data) <= 2 * limit
                given += item.records
            else:
                given.append(item)
        assert [(r.location, r.raw) for r in given] == [(where, line) for where, line, _ in expected[skip:]]


@pytest.mark.parametrize("kind", ["file", "pipe"])
@pytest.mark.parametrize("last", [63, 64, 65, 128, 129])
@pytest.mark.parametrize("end", [b"", b"\n"])
def test_the_last_json_line_at_the_limit_with_or_without_its_end(tmp_path, monkeypatch, kind, last, end):
    """A last line of exactly the limit is a line when it has no end (the end is what takes it over)."""
    monkeypatch.setattr(sources, "MAX_LINE", 64)
    monkeypatch.setattr(sources, "BLOCK", 64)
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"{}\n" + b"x" * last + end)
    expected = _lines_as_read_one_by_one(path, 64)
    where = path if kind == "file" else _piped(path)
    read = [(r.location.replace(str(where), str(path)), r.raw,
             dict(r.problems[0].text.params)["size"] if r.problems else None) for r in sources.records([where])]
    assert read == expected and len(expected) == 2


def test_a_round_sends_its_workers_where_the_lines_are_and_they_check_the_lines_are_still_there(tmp_path):
    """A national round's JSON Lines are 860 MB: the round's process reads them once, to count their lines, and
    sends each worker where a block is (a Dask worker, which may not see this machine's files, gets the bytes). A
    file edited while the round reads it is refused, in words, rather than read as other lines."""
    from compliance.batch import run

    docs = [profile(center__id=f"W{i}") for i in range(30)]
    source = tmp_path / "d.jsonl"
    source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    sent = []

    class Watching(run._Inline):
        def submit(self, fn, /, *args, **kwargs):
            sent.append(args[4])
            return super().submit(fn, *args, **kwargs)

    rules = compliance.load_ruleset("national")
    outcomes = [o for _, got in run.run_batches(sources.blocks([source]), rules, Watching())
                for o in (got.outcomes() if isinstance(got, run.Plain) else got)]
    assert [o.center_id for o in outcomes] == [f"W{i}" for i in range(30)]
    st = source.stat()
    assert sent == [(0, st.st_size, 30, str(source), st.st_dev, st.st_ino)]
    changed = f"本轮审计读取 '{source}' 期间，该文件被改动了"

    def read_again(block):
        with pytest.raises(compliance.ComplianceError) as caught:
            run.audit_lines(run.audit_chunk_columns, run.rules_source(rules), block.name, block.first, block.where)
        return caught.value.text.text("zh")

    original = source.read_bytes()
    (block,) = sources.blocks([source])
    source.write_bytes(original.replace(b"\n", b" ", 1) + b"\n")      # same size, one line end fewer
    assert read_again(block) == changed
    source.write_bytes(original)
    assert run.audit_lines(run.audit_chunk_columns, run.rules_source(rules), block.name, block.first, block.where)
    other = tmp_path / "other.jsonl"                                     # the same lines, another file put in place
    other.write_bytes(original)
    other.replace(source)
    assert read_again(block) == changed
    source.unlink()                                                      # gone: said in words, not a crash
    assert read_again(block) == changed + "：文件或文件夹不存在"


@pytest.mark.parametrize("cut", ["at a line end", "inside a line"])
def test_a_json_lines_file_cut_short_while_the_round_reads_it_is_refused(tmp_path, monkeypatch, cut):
    """The lines after the cut were there when the round began: refused in words, never a shorter round."""
    monkeypatch.setattr(sources, "MAX_LINE", 4000)
    monkeypatch.setattr(sources, "BLOCK", 4000)
    source = tmp_path / "d.jsonl"
    source.write_bytes(b"".join(orjson.dumps(profile(center__id=f"C{i}")) + b"\n" for i in range(40)))
    blocks = sources.blocks([source])
    first = next(blocks)
    at = first.at + first.size + (0 if cut == "at a line end" else 100)
    with open(source, "r+b") as fh:
        fh.truncate(at)
    with pytest.raises(compliance.ComplianceError) as caught:
        list(blocks)
    assert caught.value.text.text("zh") == f"本轮审计读取 '{source}' 期间，该文件被改动了"


@pytest.mark.parametrize("most", [1, 7, 100])
def test_json_lines_read_a_few_bytes_at_a_time_are_the_same_lines(tmp_path, monkeypatch, most):
    """A read may give fewer bytes than asked before the end of a file (a network or FUSE file system): the round
    reads on, and neither loses the rest of the file nor takes a block for a changed one."""
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"".join(orjson.dumps(profile(center__id=f"S{i}")) + b"\n" for i in range(12)) + b'{"x": 1}')
    expected = [(r.location, r.raw) for r in sources.records([path])]
    real, real_pread = os.preadv, os.pread

    def short(fd, buffers, at):
        (view,) = buffers
        return real(fd, [memoryview(view)[:most]], at)

    monkeypatch.setattr(sources.os, "preadv", short)
    monkeypatch.setattr(sources.os, "pread", lambda fd, size, at: real_pread(fd, min(size, most), at))
    assert [(r.location, r.raw) for r in sources.records([path])] == expected and len(expected) == 13


def _exported_csv(tmp_path: Path, *docs: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The CSV layout's header and rows for these profiles, as `compliance export` writes them."""
    folder = tmp_path / "src"
    folder.mkdir()
    for i, doc in enumerate(docs):
        write_json(folder / f"{i:02d}.json", doc)
    target = tmp_path / "export.csv"
    status, _, err = cli("export", folder, "-o", target)
    assert status == 0, err
    rows = list(csv.reader(io.StringIO(target.read_bytes().decode("utf-8-sig"), newline="")))
    return rows[0], rows[1:]


def test_csv_locations_count_the_header_as_line_1_and_a_record_from_its_first_line(tmp_path):
    docs = [profile(center__id=f"C{i}") for i in range(4)]
    header, rows = _exported_csv(tmp_path, *docs)
    name, households = header.index("center.name"), header.index("population.households")
    rows[0][name] = "多行\n名称\n第三行"          # a quoted field over three physical lines
    rows[2][households] = "many"
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)          # line 1
    writer.writerow(rows[0])         # lines 2-4
    writer.writerow(rows[1])         # line 5
    out.write("\r\n")                # line 6: blank
    writer.writerow(rows[2])         # line 7 (bad)
    writer.writerow(rows[3])         # line 8
    source = tmp_path / "c.csv"
    source.write_bytes(out.getvalue().encode("utf-8"))
    items = list(compliance.read_profiles(source))
    assert [w for w, _ in items] == [f"{source}:2", f"{source}:5", f"{source}:7", f"{source}:8"]
    assert items[0][1].data["center"]["name"] == "多行\n名称\n第三行"
    error = items[2][1]
    assert isinstance(error, compliance.ProfileError)
    assert [(p.file, p.json_path) for p in error.problems] == [(f"{source}:7", "$.population.households")]


# --------------------------------------------------------------------------- 2. CSV encodings

@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_gbk_and_gb18030_reads_the_same(tmp_path, encoding):
    name = "海悦社区便民服务中心" + ("𠮷" if encoding == "gb18030" else "")   # 𠮷 is outside GBK
    docs = [profile(center__id="E1", center__name=name), profile(center__id="E2", center__community="鄞州·首南")]
    header, rows = _exported_csv(tmp_path, *docs)
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    source = tmp_path / f"{encoding}.csv"
    source.write_bytes(out.getvalue().encode(encoding))
    if encoding == "utf-8-sig":
        assert source.read_bytes().startswith(BOM)
    else:
        assert not source.read_bytes().startswith(BOM)
    items = list(compliance.read_profiles(source))
    assert all(isinstance(i, compliance.Profile) for _, i in items), items
    assert [i.data for _, i in items] == docs


def test_csv_in_another_encoding_is_refused_naming_the_file(tmp_path):
    header, rows = _exported_csv(tmp_path, profile(center__id="U1"))
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    source = tmp_path / "utf16.csv"
    source.write_bytes(out.getvalue().encode("utf-16"))
    [(where, error)] = list(compliance.read_profiles(source))
    assert isinstance(error, compliance.ProfileError)
    assert where == str(source) and all(p.file == str(source) for p in error.problems)
    assert re.search(r"UTF-8|GBK|GB18030|encoding", str(error))
    status, _, err = cli("batch", source, "-o", tmp_path / "out", "--jobs", "1")
    assert status == 2
    assert str(source) in err and "Traceback" not in err
    _, _, errors = read_csv(tmp_path / "out" / "errors.csv")
    assert [r["location"] for r in errors] == [str(source)]


# --------------------------------------------------------------------------- 3. export without loss

@pytest.fixture(scope="module")
def distinct_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("profiles")
    for name in DISTINCT:
        shutil.copy(EXAMPLES / f"{name}.yaml", folder / f"{name}.yaml")
    return folder


def _audited(source: Path, rules: compliance.RuleSet) -> list[bytes]:
    out = []
    for where, item in compliance.read_profiles(source, rules):
        assert isinstance(item, compliance.Profile), (where, item)
        out.append(canonical(compliance.evaluate(item, rules).to_dict()))
    return out


@pytest.mark.parametrize("suffix", [".xlsx", ".csv", ".jsonl"])
def test_export_then_audit_gives_the_same_result_documents(tmp_path, distinct_folder, yinzhou, suffix):
    target = tmp_path / f"round{suffix}"
    status, out, err = cli("export", distinct_folder, "-o", target, "--rules", "yinzhou")
    assert status == 0, err
    assert str(len(DISTINCT)) in out
    original = _audited(distinct_folder, yinzhou)
    exported = _audited(target, yinzhou)
    assert len(original) == len(DISTINCT)
    assert exported == original
    # the profiles themselves, with their types
    before = [orjson.dumps(i.data, option=orjson.OPT_SORT_KEYS) for _, i in compliance.read_profiles(distinct_folder)]
    after = [orjson.dumps(i.data, option=orjson.OPT_SORT_KEYS) for _, i in compliance.read_profiles(target)]
    assert after == before
    if suffix == ".csv":
        assert target.read_bytes().startswith(BOM)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv", ".jsonl"])
def test_export_keeps_leading_zeros_number_types_and_absent_lists(tmp_path, suffix):
    doc = profile(center__id="000123", space__total_area_m2=560.0, services__grid_coverage=1,
                  services__satisfaction_rate=0.9, population__households=1800)
    doc["space"]["zones"][0]["area_m2"] = 150.0       # a whole float stays a float
    doc["space"]["zones"][1]["area_m2"] = 40          # an int stays an int
    doc["space"]["zones"][2]["area_m2"] = 40.5
    del doc["amenities"]                              # absent: missing, not "none"
    doc["signage"] = []                               # present and empty: every sign lacking
    source = write_json(tmp_path / "a.json", doc)
    target = tmp_path / f"out{suffix}"
    status, _, err = cli("export", source, "-o", target)
    assert status == 0, err
    [(_, item)] = list(compliance.read_profiles(target))
    assert isinstance(item, compliance.Profile), item
    data = item.data
    assert data["center"]["id"] == "000123"
    assert type(data["space"]["total_area_m2"]) is float and data["space"]["total_area_m2"] == 560.0
    assert type(data["services"]["grid_coverage"]) is int
    assert type(data["population"]["households"]) is int
    assert [type(z["area_m2"]) for z in data["space"]["zones"][:3]] == [float, int, float]
    assert "amenities" not in data
    assert list(data["signage"]) == []
    assert orjson.dumps(data, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        compliance.load_profile(source).data, option=orjson.OPT_SORT_KEYS)
    rules = compliance.load_ruleset("national")
    assert canonical(compliance.evaluate(item, rules).to_dict()) == canonical(
        compliance.evaluate(compliance.load_profile(source), rules).to_dict())


def test_export_to_xlsx_keeps_text_that_starts_with_an_equals_sign(tmp_path):
    """A community name typed as "=…" is text in a profile; written into a cell as a formula it is lost
    (and would run in Excel)."""
    source = write_json(tmp_path / "f.json", profile(center__id="F1", center__community="=1+2"))
    target = tmp_path / "out.xlsx"
    status, _, err = cli("export", source, "-o", target)
    assert status == 0, err
    [(_, item)] = list(compliance.read_profiles(target))
    assert isinstance(item, compliance.Profile), item
    assert item.data["center"].get("community") == "=1+2"


def _list_presence_docs() -> list[dict[str, Any]]:
    return [profile(center__id="L-blank"), profile(center__id="L-one-yes"), profile(center__id="L-one-no")]


def _check_list_presence(items: list[tuple[str, Any]]) -> None:
    rules = compliance.load_ruleset("national")
    assert all(isinstance(i, compliance.Profile) for _, i in items), items
    blank, one_yes, one_no = (i for _, i in items)
    assert "signage" not in blank.data
    assert list(one_yes.data["signage"]) == ["grid_map"]
    assert list(one_no.data["signage"]) == []
    signage_clauses = lambda p: {f["clause"]: f["status"] for f in compliance.evaluate(p, rules).to_dict()["findings"]
                                 if f["category"] == "signage"}
    assert set(signage_clauses(blank).values()) == {"missing"}
    assert "missing" not in signage_clauses(one_no).values()
    assert "fail" in signage_clauses(one_no).values()


def test_workbook_list_all_blank_is_absent_any_answer_makes_it_present(template):
    def edit(book):
        sheet = book["centres"]
        keys = row_keys(sheet)
        signage = [i + 1 for i, k in enumerate(keys) if k.startswith("signage.")]
        grid_map = keys.index("signage.grid_map") + 1
        for r, answer in ((3, None), (4, "是"), (5, "否")):
            for c in signage:
                sheet.cell(r, c).value = None
            if answer:
                sheet.cell(r, grid_map, answer)

    fill_workbook(template, _list_presence_docs(), edit)
    _check_list_presence(list(compliance.read_profiles(template)))


def test_csv_list_all_blank_is_absent_any_answer_makes_it_present(tmp_path):
    header, rows = _exported_csv(tmp_path, *_list_presence_docs())
    signage = [i for i, h in enumerate(header) if h.startswith("signage.")]
    grid_map = header.index("signage.grid_map")
    for row, answer in zip(rows, (None, "是", "否")):
        for i in signage:
            row[i] = ""
        if answer:
            row[grid_map] = answer
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    source = tmp_path / "lists.csv"
    source.write_bytes(out.getvalue().encode("utf-8-sig"))
    _check_list_presence(list(compliance.read_profiles(source)))


def test_workbook_cells_typed_as_dates_and_numbers_read_as_profile_text(template):
    def edit(book):
        sheet = book["centres"]
        keys = row_keys(sheet)
        sheet.cell(3, keys.index("center.assessed_on") + 1).value = datetime.date(2026, 11, 1)
        sheet.cell(3, keys.index("population.households") + 1).value = 1800.0

    fill_workbook(template, [profile(center__id="T1")], edit)
    [(_, item)] = list(compliance.read_profiles(template))
    assert isinstance(item, compliance.Profile), item
    assert item.data["center"]["assessed_on"] == "2026-11-01"
    assert item.data["population"]["households"] == 1800
    assert type(item.data["population"]["households"]) is int


# --------------------------------------------------------------------------- 4. repeated ids

def test_a_repeated_id_is_refused_in_batch_naming_the_first_occurrence(tmp_path):
    lines = [orjson.dumps(profile(center__id="R-1")), orjson.dumps(profile(center__id="R-2")),
             orjson.dumps(profile(center__id="R-1", center__name="重复一")), b"",
             orjson.dumps(profile(center__id="R-1", center__name="重复二"))]
    source = tmp_path / "r.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    status, _, err = cli("batch", source, "-o", tmp_path / "out", "--jobs", "1")
    assert status == 2, err
    _, _, errors = read_csv(tmp_path / "out" / "errors.csv")
    assert [(e["location"], e["center_id"], e["path"]) for e in errors] == [
        (f"{source}:3", "R-1", "$.center.id"), (f"{source}:5", "R-1", "$.center.id")]
    assert all(f"first at {source}:1" in e["problem"] for e in errors)
    docs = result_lines(tmp_path / "out" / "results.jsonl")
    assert [d["center"]["id"] for d in docs] == ["R-1", "R-2"]
    assert docs[0]["center"]["name"] == profile()["center"]["name"]     # the first one is kept


def test_read_profiles_refuses_a_repeated_id_naming_the_first(tmp_path):
    first = EXAMPLES / "mantoushan-before-2019.yaml"
    again = EXAMPLES / "mantoushan-neighbourhood-centre.yaml"
    items = list(compliance.read_profiles([first, EXAMPLES / "haiyue.yaml", again]))
    assert [type(i) for _, i in items] == [compliance.Profile, compliance.Profile, compliance.ProfileError]
    error = items[2][1]
    [problem] = error.problems
    assert problem.json_path == "$.center.id"
    assert str(first) in problem.message and items[0][1].id in problem.message
    assert items[2][0] == str(again)


def test_read_profiles_refuses_the_same_file_given_twice(tmp_path):
    source = EXAMPLES / "haiyue.yaml"
    items = list(compliance.read_profiles([source, source]))
    assert isinstance(items[0][1], compliance.Profile)
    assert isinstance(items[1][1], compliance.ProfileError), "the same centre twice in one round"
    (problem,) = items[1][1].problems
    assert problem.json_path == "$.center.id" and problem.text.text("zh") == (
        f"中心编码 '{items[0][1].id}' 重复：这条记录已经在 {source} 读过（是否重复给出了同一个输入？）")


def test_a_round_over_an_empty_input_names_the_input(tmp_path):
    source = tmp_path / "empty.jsonl"
    source.write_bytes(b"")
    status, _, err = cli("batch", source, "--rules", "national", "-o", tmp_path / "out", "--lang", "zh")
    assert status == 2 and err.strip() == f"{source}: 没有一个中心能够审计：输入中没有中心"


def test_a_round_given_one_file_twice_names_where_each_repeat_was_first_read(tmp_path):
    source = tmp_path / "d.jsonl"
    source.write_bytes(b"".join(orjson.dumps(profile(center__id=f"T{i}")) + b"\n" for i in range(3)))
    status, _, err = cli("batch", source, source, "--rules", "national", "-o", tmp_path / "out", "--jobs", "1")
    assert status == 2, err
    _, _, errors = read_csv(tmp_path / "out" / "errors.csv")
    assert [(e["location"], e["center_id"]) for e in errors] == [(f"{source}:{i}", f"T{i - 1}") for i in (1, 2, 3)]
    assert [e["problem"] for e in errors] == [
        f"the centre id 'T{i - 1}' is repeated: this record was read before, at {source}:{i} (is an input given twice?)"
        for i in (1, 2, 3)]


# --------------------------------------------------------------------------- 5. batch outputs

def test_results_jsonl_has_each_audited_centre_as_audit_json_in_input_order(small_round):
    docs = result_lines(small_round.out / "results.jsonl")
    good = [p for p in small_round.inputs if p != small_round.broken]
    assert len(docs) == len(good)
    for doc, source in zip(docs, good):
        status, out, err = cli("audit", source, "--format", "json")
        assert status in (0, 1), err
        assert canonical(doc) == canonical(json.loads(out))
        assert doc["profile"]["source"] == str(source)
    assert docs[-1]["center"]["id"] == EVIL_ID


def test_batch_exit_status_and_refused_input_does_not_stop_the_rest(small_round, tmp_path):
    assert small_round.status == 2
    assert str(small_round.broken) in small_round.stderr and "Traceback" not in small_round.stderr
    _, _, errors = read_csv(small_round.out / "errors.csv")
    assert [e["location"] for e in errors] == [str(small_round.broken)]
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", "-o", tmp_path / "ok", "--jobs", "1")
    assert status == 0, err
    assert {d["verdict"] for d in result_lines(tmp_path / "ok" / "results.jsonl")} == {"conforming"}
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml",
                         "-o", tmp_path / "mixed", "--jobs", "1")
    assert status == 1, err
    assert sorted(d["verdict"] for d in result_lines(tmp_path / "mixed" / "results.jsonl")) == [
        "conforming", "non_conforming"]
    assert not (tmp_path / "mixed" / "errors.csv").exists()


def _check_summary(summary: Path, results: Path, previous: bool) -> list[dict[str, str]]:
    raw, header, rows = read_csv(summary)
    assert raw.startswith(BOM)
    docs = result_lines(results)
    categories = [c["id"] for c in docs[0]["categories"]]
    assert header == ["rank", "center_id", "name", "province", "city", "district", "street", "score", "grade",
                      "verdict", *categories,
                      *(["previous_score", "score_change", "previous_grade", "trend"] if previous else []),
                      "veto_failed", "actions", "source"]
    by_id = {d["center"]["id"]: (i, d) for i, d in enumerate(docs)}
    assert len(rows) == len(docs) and {r["center_id"] for r in rows} == set(by_id)
    scores = [float(r["score"]) for r in rows]
    for a, b in itertools.pairwise(rows):
        sa, sb = float(a["score"]), float(b["score"])
        assert sa > sb or (sa == sb and by_id[a["center_id"]][0] < by_id[b["center_id"]][0])
    for r in rows:
        _, doc = by_id[r["center_id"]]
        assert int(r["rank"]) == 1 + sum(s > float(r["score"]) for s in scores)
        assert float(r["score"]) == doc["score"]
        assert (r["grade"], r["verdict"], r["name"]) == (doc["grade"], doc["verdict"], doc["center"]["name"])
        region = doc["center"].get("region", {})
        assert [r[k] for k in ("province", "city", "district", "street")] == [
            region.get(k, "") for k in ("province", "city", "district", "street")]
        assert [float(r[c["id"]]) for c in doc["categories"]] == [c["score"] for c in doc["categories"]]
        assert r["veto_failed"] == ";".join(doc["vetoed"])
        assert int(r["actions"]) == sum(f["status"] in ("fail", "partial") for f in doc["findings"])   # to remedy
        assert r["source"] == doc["profile"]["source"]
    return rows


def test_summary_csv_is_the_league_table_of_results_jsonl(jsonl_round):
    rows = _check_summary(jsonl_round.out / "summary.csv", jsonl_round.out / "results.jsonl", previous=False)
    assert len({r["score"] for r in rows}) < len(rows)          # the example has ties: their order is checked


def test_summary_xlsx_has_an_autofiltered_formatted_league_table_and_clause_pass_rates(xlsx_round):
    _, header, rows = read_csv(xlsx_round.out / "summary.csv")
    docs = result_lines(xlsx_round.out / "results.jsonl")
    n = len(docs)
    book = openpyxl.load_workbook(xlsx_round.out / "summary.xlsx")
    league = book.worksheets[0]
    assert league.max_column == len(header)
    assert league.auto_filter.ref == f"A1:{get_column_letter(len(header))}{n + 1}"
    ids = [league.cell(r, header.index("center_id") + 1).value for r in range(2, n + 2)]
    assert ids == [r["center_id"] for r in rows]
    assert all(isinstance(i, str) for i in ids)
    score = get_column_letter(header.index("score") + 1)
    formatted = {str(cf.sqref): [rule.type for rule in cf.rules] for cf in league.conditional_formatting}
    assert "colorScale" in formatted.get(f"{score}2:{score}{n + 1}", [])
    verdict = get_column_letter(header.index("verdict") + 1)
    whole_rows = [cf for cf in league.conditional_formatting
                  if str(cf.sqref) == f"A2:{get_column_letter(len(header))}{n + 1}"]
    assert any(rule.type == "expression" and f"${verdict}2" in rule.formula[0] for cf in whole_rows for rule in cf.rules)
    # the clause sheet's pass rates, recomputed from the result documents
    counts: dict[str, Counter] = {}
    for doc in docs:
        for f in doc["findings"]:
            counts.setdefault(f["clause"], Counter())[f["status"]] += 1
    sheet = next(ws for ws in book.worksheets[1:] if ws.cell(2, 1).value == docs[0]["findings"][0]["clause"])
    seen = {}
    for r in range(2, sheet.max_row + 1):
        clause = sheet.cell(r, 1).value
        if clause is None:
            continue
        applicable = n - counts[clause]["not_applicable"]
        expected = counts[clause]["pass"] / applicable if applicable else None
        rate = sheet.cell(r, sheet.max_column).value
        seen[clause] = rate
        if expected is None:
            assert rate is None
        else:
            assert rate == pytest.approx(expected, abs=5e-5), clause
        row = [sheet.cell(r, c).value for c in range(1, sheet.max_column + 1)]
        for status in ("pass", "fail", "missing"):
            assert counts[clause][status] in row
    assert list(seen) == [f["clause"] for f in docs[0]["findings"]]
    assert sheet.auto_filter.ref


def test_errors_csv_only_when_input_was_refused_and_a_clean_round_removes_it(tmp_path):
    bad = write_json(tmp_path / "bad.json", profile(center__id="B1", population__households=-5))
    out = tmp_path / "out"
    status, _, _ = cli("batch", EXAMPLES / "haiyue.yaml", bad, "-o", out, "--jobs", "1")
    assert status == 2
    raw, _, errors = read_csv(out / "errors.csv")
    assert raw.startswith(BOM)
    assert [(e["location"], e["path"]) for e in errors] == [(str(bad), "$.population.households")]
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", "-o", out, "--jobs", "1")
    assert status == 0, err
    assert not (out / "errors.csv").exists()
    assert [d["center"]["id"] for d in result_lines(out / "results.jsonl")] == ["330212-SN-0103"]


def test_errors_csv_names_the_centre_of_a_refused_profile_file(tmp_path):
    """errors.csv has a center_id column ("whose row it is"); a YAML or JSON profile's id can be read."""
    bad_json = write_json(tmp_path / "bad.json", profile(center__id="B-JSON", population__households=-5))
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text(
        (EXAMPLES / "haiyue.yaml").read_text(encoding="utf-8").replace('"330212-SN-0103"', '"B-YAML"', 1)
        .replace("households: 1800", "households: -5", 1), encoding="utf-8")
    bad_line = tmp_path / "bad.jsonl"
    bad_line.write_bytes(orjson.dumps(profile(center__id="B-JSONL", population__households=-5)) + b"\n")
    status, _, _ = cli("batch", bad_json, bad_yaml, bad_line, "-o", tmp_path / "out", "--jobs", "1")
    assert status == 2
    _, _, errors = read_csv(tmp_path / "out" / "errors.csv")
    assert [(e["center_id"], e["path"]) for e in errors] == [
        ("B-JSON", "$.population.households"), ("B-YAML", "$.population.households"),
        ("B-JSONL", "$.population.households")]


def test_the_district_report_names_every_nonconforming_centre(small_round):
    docs = result_lines(small_round.out / "results.jsonl")
    nonconforming = [d["center"]["id"] for d in docs if d["verdict"] == "non_conforming"]
    assert nonconforming                         # dandinghe
    page = (small_round.out / "district-report.html").read_text(encoding="utf-8")
    for cid in nonconforming:
        assert html.escape(cid, quote=False) in page or html.escape(cid) in page
    assert (small_round.out / "district-report.pdf").read_bytes().startswith(b"%PDF-")


def test_summary_csv_and_errors_csv_start_with_a_bom(small_round, xlsx_round):
    for path in (small_round.out / "summary.csv", small_round.out / "errors.csv", xlsx_round.out / "summary.csv",
                 xlsx_round.out / "errors.csv"):
        raw = path.read_bytes()
        assert raw.startswith(BOM) and not raw.startswith(BOM + BOM)
        raw.decode("utf-8")


# --------------------------------------------------------------------------- 6/7. jobs, resume

BIG_COUNT = 2500


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A few thousand centres (the district's, ids varied), a few bad lines and repeats among them;
    and an uninterrupted --jobs 1 round over them, the reference."""
    folder = tmp_path_factory.mktemp("big")
    # Mostly conforming centres, so the district report (which lists the non-conforming) stays short.
    docs = [d for d in good_district_docs() if d["center"]["id"] in _conforming_ids()]
    failing = [d for d in good_district_docs() if d["center"]["id"] not in _conforming_ids()]
    lines = []
    for i in range(BIG_COUNT):
        doc = copy.deepcopy(failing[i // 500] if i % 500 == 123 else docs[i % len(docs)])
        doc["center"]["id"] = f"{doc['center']['id']}-{i:05d}"
        lines.append(orjson.dumps(doc))
        if i % 500 == 250:
            lines.append(b'{"schema_version": 1, "center": ')                  # cut short
        if i % 500 == 400:
            lines.append(orjson.dumps(doc))                                   # a repeat across chunks
    source = folder / "national.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    reference = folder / "reference"
    status, _, err = cli("batch", source, "--rules", "yinzhou", "-o", reference, "--jobs", "1")
    assert status == 2, err
    return SimpleNamespace(source=source, reference=reference, records=len(lines), folder=folder)


def _same_outputs(a: Path, b: Path) -> None:
    for name in ("results.jsonl", "summary.csv", "errors.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_jobs_1_and_jobs_2_give_byte_identical_outputs(big):
    out = big.folder / "jobs2"
    status, _, err = cli("batch", big.source, "--rules", "yinzhou", "-o", out, "--jobs", "2")
    assert status == 2, err
    _same_outputs(out, big.reference)
    docs = result_lines(out / "results.jsonl")
    assert len(docs) == BIG_COUNT
    assert [d["profile"]["source"] for d in docs] == sorted((d["profile"]["source"] for d in docs),
                                                            key=lambda s: int(s.rsplit(":", 1)[1]))


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` now (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = set(), [pid]
    while todo:
        here = todo.pop()
        for child, parent in parents.items():
            if parent == here and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def test_the_workers_go_when_the_rounds_process_is_killed_alone(big):
    """A supervisor or the kernel's out-of-memory killer stops the round's process alone (no clean-up runs): its
    workers, each holding tens of megabytes, go too rather than wait on their queue for ever."""
    command = [sys.executable, "-m", "compliance", "batch", str(big.source), "--rules", "yinzhou", "-o",
               str(big.folder / "alone"), "--jobs", "2"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline, below = time.monotonic() + 60, set()
        while time.monotonic() < deadline and process.poll() is None and len(below) < 4:
            below = _descendants(process.pid)       # the resource tracker, the fork server and two workers
            time.sleep(0.05)
        assert len(below) >= 4, f"the workers did not start ({below})"
        process.kill()
        process.wait(timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(map(_alive, below)):
            time.sleep(0.1)
        assert not [pid for pid in below if _alive(pid)]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_a_killed_round_resumes_to_the_uninterrupted_outputs(big, monkeypatch):
    out = big.folder / "killed"
    command = [sys.executable, "-m", "compliance", "batch", str(big.source), "--rules", "yinzhou", "-o", str(out),
               "--jobs", "2", "--lang", "en"]              # resumed below in English: the same round
    state = out / ".round" / "state.json"
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    done = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                done = orjson.loads(state.read_bytes())["done"]
            except (OSError, orjson.JSONDecodeError, KeyError):
                done = 0
            if done > 0:
                break
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert 0 < done < big.records, f"the round was not caught mid-way (done {done})"
    assert not (out / "results.jsonl").exists()
    checkpoint = orjson.loads(state.read_bytes())["done"]

    fed: list[str] = []
    real = round_module.run_batches

    def counting(records, *args, **kwargs):
        def stream():
            for record in records:          # a record, or a block of JSON Lines: its records
                fed.extend(r.location for r in (record.records if isinstance(record, sources.Lines) else [record]))
                yield record
        return real(stream(), *args, **kwargs)

    monkeypatch.setattr(round_module, "run_batches", counting)
    status, _, err = cli("batch", big.source, "--rules", "yinzhou", "-o", out, "--jobs", "2")
    assert status == 2, err
    assert len(fed) == big.records - checkpoint          # it resumed: the records done were not redone
    _same_outputs(out, big.reference)
    ids = [d["center"]["id"] for d in result_lines(out / "results.jsonl")]
    assert len(ids) == len(set(ids)) == BIG_COUNT
    assert not (out / ".round").exists()


def _crash_in_finish(monkeypatch) -> None:
    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(round_module.Round, "finish", crash)


def _small_district(path: Path, count: int = 30, hours: int | None = None) -> Path:
    docs = good_district_docs()[:count]
    if hours is not None:
        docs[0]["services"]["weekly_opening_hours"] = hours
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return path


START_EARLY = """
import os, sys, time
from pathlib import Path
import compliance.cli as cli

def command(pid):
    # a child just started is this process's copy until it runs its own program: wait for it (5 s at most)
    mine = Path("/proc/self/cmdline").read_bytes()
    for _ in range(500):
        line = Path(f"/proc/{pid}/cmdline").read_bytes()
        if line and line != mine:           # (empty while the new program is loaded)
            return line
        time.sleep(0.01)
    return line

def children():
    found = set()
    for task in Path("/proc/self/task").iterdir():
        found.update((task / "children").read_text().split())
    return [pid for pid in found if b"forkserver" in command(pid)]

real = cli.load_ruleset
seen = []
cli.load_ruleset = lambda *a, **k: (seen.append(len(children())), real(*a, **k))[1]
code = cli.main(sys.argv[1:])
print("fork servers when the rule set was read:", seen[0])
sys.exit(code)
"""


@pytest.mark.skipif(not Path(f"/proc/self/task/{os.getpid()}/children").exists(),
                    reason="reads a process's children from Linux's /proc (a kernel with CONFIG_PROC_CHILDREN)")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_round_with_workers_starts_their_fork_server_before_it_reads_the_rule_set(tmp_path, jobs):
    """The fork server's start and imports run while the command reads the rule set and opens its inputs, not after
    (a fifth of a second at the start of a national round, while the workers had nothing to do); with one process,
    nothing is started."""
    source = _small_district(tmp_path / "d.jsonl")
    done = subprocess.run([sys.executable, "-c", START_EARLY, "batch", str(source), "--rules", "yinzhou", "-o",
                           str(tmp_path / "out"), "--jobs", jobs], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert done.returncode in (0, 1), done.stderr
    assert f"fork servers when the rule set was read: {1 if jobs == '2' else 0}" in done.stdout, done.stdout
    assert len(result_lines(tmp_path / "out" / "results.jsonl")) == 30


def test_workers_hand_back_large_chunks_in_files_of_memory_and_the_round_leaves_none(tmp_path, monkeypatch):
    """Local workers leave a chunk's answer in a file of the round's spool folder (in /dev/shm) rather than send it
    through the pool's pipe; the round reads and removes each (a chunk whose file is gone is audited again), removes
    its folder when done, and removes the folders of rounds whose process was killed (whatever their name), not
    those of a round still running (its lock held). The tables are those of one process."""
    from compliance.batch import run as runner

    root = tmp_path / "shm"
    stale, running = root / f"{runner.SPOOL_PREFIX}1-x", root / f"{runner.SPOOL_PREFIX}2-y"
    for folder in (stale, running, root / f"{runner.SPOOL_PREFIX}²-z"):
        folder.mkdir(parents=True)
        (folder / "left").write_bytes(b"x")
    loaded = []
    real_load = runner.Spooled.load

    def load(self):
        loaded.append(self.path)
        if len(loaded) == 2:            # a file removed by someone else: the chunk is audited again
            os.unlink(self.path)
        return real_load(self)

    monkeypatch.setattr(runner, "SPOOL_ROOT", str(root))
    monkeypatch.setattr(runner, "SPOOL_LEAST", 1)
    monkeypatch.setattr(runner.Spooled, "load", load)
    real_batches = round_module.run_batches
    monkeypatch.setattr(round_module, "run_batches", lambda *a, **k: real_batches(*a, **{**k, "size": 5}))
    source = _small_district(tmp_path / "d.jsonl")
    with runner._held(str(running)) as held:    # a round still running holds its folder
        assert held
        assert cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "two", "--jobs", "2")[0] in (0, 1)
    assert len(loaded) > 2 and all(Path(path).parent.parent == root and not Path(path).exists() for path in loaded)
    assert sorted(p.name for p in root.iterdir()) == [running.name]       # its own folder gone, and the stale ones
    assert cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "one", "--jobs", "1")[0] in (0, 1)
    for name in ("results.jsonl", "summary.csv"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def test_a_chunk_that_cannot_be_left_in_a_file_comes_through_the_pipe(tmp_path):
    from compliance.batch.run import Spooled, spooled

    answer = list(range(1000))
    assert spooled(str(tmp_path / "gone"), 1, lambda n: answer[:n], 1000) == answer      # the folder is gone
    assert spooled(str(tmp_path), 1 << 20, lambda n: answer[:n], 1000) == answer         # small: as it is
    left = spooled(str(tmp_path), 1, lambda n: answer[:n], 1000)
    assert isinstance(left, Spooled) and Path(left.path).parent == tmp_path
    assert left.load() == answer and not Path(left.path).exists()


def test_a_changed_input_invalidates_the_checkpoint(tmp_path, monkeypatch):
    source = _small_district(tmp_path / "d.jsonl", hours=45)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        _crash_in_finish(m)
        assert cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "1")[0] == 130
    assert orjson.loads((out / ".round" / "state.json").read_bytes())["done"] == 30
    _small_district(source, count=31, hours=8)                       # one more centre, one changed
    status, _, err = cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "1")
    assert status in (0, 1), err
    fresh = tmp_path / "fresh"
    assert cli("batch", source, "--rules", "yinzhou", "-o", fresh, "--jobs", "1")[0] == status
    _same_files(out, fresh)
    docs = result_lines(out / "results.jsonl")
    assert len(docs) == 31
    assert next(f for f in docs[0]["findings"] if f["clause"] == "8.3")["measured"] == 8


def _same_files(a: Path, b: Path) -> None:
    for name in ("results.jsonl", "summary.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_an_input_changed_in_place_with_the_same_size_and_time_invalidates_the_checkpoint(tmp_path, monkeypatch):
    """rsync -t, cp -p and restores keep a file's modification time; the checkpoint must not trust it."""
    source = _small_district(tmp_path / "d.jsonl", hours=45)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        _crash_in_finish(m)
        assert cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "1")[0] == 130
    before = source.stat()
    _small_district(source, hours=15)                                # same length: 45 → 15
    assert source.stat().st_size == before.st_size
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "1")
    docs = result_lines(out / "results.jsonl")
    assert next(f for f in docs[0]["findings"] if f["clause"] == "8.3")["measured"] == 15


def test_a_fresh_round_hashes_its_inputs_while_it_runs_and_saves_their_fingerprint(tmp_path, monkeypatch):
    """Hashing a national round's 860 MB of input takes 0.75 s: a round begun afresh audits while it hashes, and
    each checkpoint still carries the fingerprint (the resume tests above check a resumed round against it)."""
    import threading

    source = _small_district(tmp_path / "d.jsonl", hours=45)
    first_chunk = threading.Event()
    hashed: list[tuple[bool, bytes]] = []
    saved: list[bytes] = []
    real_fingerprint, real_batches, real_save = (round_module.Round.fingerprint, round_module.run_batches,
                                                 round_module._save)

    def fingerprint(self, *args):
        waited = first_chunk.wait(20)               # the round's first chunk is audited before the hash is done
        hashed.append((waited, real_fingerprint(self, *args)))
        return hashed[-1][1]

    def batches(*args, **kwargs):
        for item in real_batches(*args, **kwargs):
            first_chunk.set()
            yield item

    monkeypatch.setattr(round_module.Round, "fingerprint", fingerprint)
    monkeypatch.setattr(round_module, "run_batches", batches)
    monkeypatch.setattr(round_module, "_save", lambda state, fp, *a: (saved.append(fp), real_save(state, fp, *a)))
    _crash_in_finish(monkeypatch)
    assert cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "out", "--jobs", "1")[0] == 130
    assert [waited for waited, _ in hashed] == [True] and saved and set(saved) == {hashed[0][1]}
    state = orjson.loads((tmp_path / "out" / ".round" / "state.json").read_bytes())
    assert state["fingerprint"] == hashed[0][1].decode("utf-8")



def test_no_checkpoint_waits_for_the_hash_of_the_inputs(tmp_path, monkeypatch):
    """Until the inputs' hash is done, a chunk passing a checkpoint's mark takes none: waiting for the hash there,
    the round would hand the workers no chunk for the second a national round's takes. Here the hash is done only
    once every chunk is audited; the round's one checkpoint is then its last."""
    import threading

    source = _small_district(tmp_path / "d.jsonl", hours=45)
    every_chunk = threading.Event()
    hashed: list[bool] = []
    saved: list[int] = []
    real_fingerprint, real_batches, real_save = (round_module.Round.fingerprint, round_module.run_batches,
                                                 round_module._save)

    def fingerprint(self, *args):
        hashed.append(every_chunk.wait(20))
        return real_fingerprint(self, *args)

    def batches(*args, **kwargs):
        yield from real_batches(*args, **{**kwargs, "size": 5})
        every_chunk.set()

    monkeypatch.setattr(round_module.Round, "fingerprint", fingerprint)
    monkeypatch.setattr(round_module, "run_batches", batches)
    monkeypatch.setattr(round_module, "_save", lambda state, fp, done, *a: (saved.append(done),
                                                                            real_save(state, fp, done, *a)))
    monkeypatch.setattr(round_module, "SAVE_EVERY", 5)
    monkeypatch.setattr(round_module, "SAVE_GAP", 0)
    _crash_in_finish(monkeypatch)
    assert cli("batch", source, "--rules", "yinzhou", "-o", tmp_path / "out", "--jobs", "1")[0] == 130
    assert hashed == [True]
    assert saved == [30]
    assert orjson.loads((tmp_path / "out" / ".round" / "state.json").read_bytes())["done"] == 30


def test_an_input_edited_while_its_hash_is_taken_is_not_resumed(tmp_path, monkeypatch):
    """The hash is taken while the round runs: an edit in that while (here the same size, after the first chunk
    was audited) changes the file's time, which the checkpoint took when the round began, so the round starts
    afresh rather than keep the centres it audited from the file before the edit."""
    import threading

    source = _small_district(tmp_path / "d.jsonl", hours=45)
    out = tmp_path / "out"
    real, real_batches = round_module.Round.fingerprint, round_module.run_batches
    first_chunk = threading.Event()

    def edited_first(self, *args):
        assert first_chunk.wait(20)
        before = source.stat()
        _small_district(source, hours=15)                            # same length: 45 → 15, a new time
        assert source.stat().st_size == before.st_size
        return real(self, *args)

    def batches(*args, **kwargs):
        for item in real_batches(*args, **kwargs):
            first_chunk.set()
            yield item

    with monkeypatch.context() as m:
        m.setattr(round_module.Round, "fingerprint", edited_first)
        m.setattr(round_module, "run_batches", batches)
        _crash_in_finish(m)
        assert cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "1")[0] == 130
    assert orjson.loads((out / ".round" / "state.json").read_bytes())["done"] == 30
    assert cli("batch", source, "--rules", "yinzhou", "-o", out, "--jobs", "1")[0] in (0, 1, 2)
    docs = result_lines(out / "results.jsonl")
    assert next(f for f in docs[0]["findings"] if f["clause"] == "8.3")["measured"] == 15


def test_a_round_interrupted_after_moving_results_jsonl_resumes_cleanly(tmp_path, monkeypatch):
    """Ctrl-C between the final rename of results.jsonl and the removal of the work folder."""
    inputs = [EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml"]
    out = tmp_path / "out"
    real = shutil.rmtree
    interrupted: list[str] = []

    def rmtree(path, *args, **kwargs):
        if Path(path).name == ".round" and (Path(path) / "state.json").exists() and not interrupted:
            interrupted.append(str(path))
            raise KeyboardInterrupt
        return real(path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(shutil, "rmtree", rmtree)
        assert cli("batch", *inputs, "-o", out, "--jobs", "1")[0] == 130
    assert interrupted and (out / "results.jsonl").exists()
    status, _, err = cli("batch", *inputs, "-o", out, "--jobs", "1")
    assert status == 1, err
    fresh = tmp_path / "fresh"
    assert cli("batch", *inputs, "-o", fresh, "--jobs", "1")[0] == 1
    assert b"\x00" not in (out / "results.jsonl").read_bytes()
    _same_files(out, fresh)


def test_the_console_lists_the_first_100_refused_centres_then_a_count(tmp_path):
    """Every problem list gives up to 100, then a count; the district report, read at a meeting, the first 20."""
    lines = [orjson.dumps(profile(center__id=f"R{i}", population__households="many")) for i in range(150)]
    lines.append(orjson.dumps(profile(center__id="OK")))
    source = tmp_path / "d.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    status, _, err = cli("batch", source, "--rules", "national", "-o", tmp_path / "out", "--jobs", "1")
    assert status == 2
    listed = [line for line in err.splitlines() if "$.population.households" in line]
    assert [line.split(": ", 1)[0] for line in listed] == [f"{source}:{i}" for i in range(1, 101)]
    assert "… and 50 more refused centres: see 'errors.csv'" in err
    report = (tmp_path / "out" / "district-report.html").read_text("utf-8")
    assert f"{source}:20<" in report and f"{source}:21<" not in report


@pytest.mark.parametrize("results", ["jsonl", "parquet"])
def test_a_round_stopped_while_it_writes_its_outputs_leaves_the_earlier_ones_whole(tmp_path, monkeypatch, results):
    """The outputs are put in place together at the end: a round stopped while making the district report (the last
    of them) leaves the earlier round's set as it was, never its new tables beside the old report; run again, it
    gives the whole new set."""
    out = tmp_path / "out"
    first = [EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml"]
    assert cli("batch", *first, "-o", out, "--jobs", "1")[0] == 1
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    second = [EXAMPLES / "haiyue.yaml", EXAMPLES / "rural-village-centre.yaml"]

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(round_module.outputs, "write_district_report", stopped)
        assert cli("batch", *second, "-o", out, "--jobs", "1", "--results", results)[0] == 130
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert cli("batch", *second, "-o", out, "--jobs", "1", "--results", results)[0] in (0, 1)
    fresh = tmp_path / "fresh"
    assert cli("batch", *second, "-o", fresh, "--jobs", "1", "--results", results)[0] in (0, 1)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in fresh.iterdir())
    assert (out / "summary.csv").read_bytes() == (fresh / "summary.csv").read_bytes()


def test_a_round_killed_while_it_puts_its_outputs_in_place_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """The results go in place last: a kill between two renames leaves the round's results and checkpoint in its
    work folder, and the next run resumes (auditing nothing again) to the outputs of an uninterrupted round."""
    inputs = [EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml"]
    out = tmp_path / "out"
    real = round_module.put_in_place
    placed: list[str] = []

    def killed(made, target):
        if placed:
            raise KeyboardInterrupt
        placed.append(target.name)
        return real(made, target)

    with monkeypatch.context() as m:
        m.setattr(round_module, "put_in_place", killed)
        assert cli("batch", *inputs, "-o", out, "--jobs", "1")[0] == 130
    assert placed == ["summary.csv"] and (out / ".round" / "results.jsonl").is_file()
    audited: list[Any] = []
    real_batches = round_module.run_batches
    monkeypatch.setattr(round_module, "run_batches", lambda records, *a, **k: real_batches(
        (audited.append(r) or r for r in records), *a, **k))
    assert cli("batch", *inputs, "-o", out, "--jobs", "1")[0] == 1
    assert audited == []
    fresh = tmp_path / "fresh"
    assert cli("batch", *inputs, "-o", fresh, "--jobs", "1")[0] == 1
    _same_files(out, fresh)


def test_a_round_writes_into_an_output_that_is_a_device_and_drops_a_workbook_it_cannot_write(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").symlink_to("/dev/null")
    (out / "summary.xlsx").write_bytes(b"an earlier round's workbook")
    monkeypatch.setattr(round_module.outputs, "XLSX_MAX_ROWS", 1)
    inputs = [EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml"]
    assert cli("batch", *inputs, "-o", out, "--jobs", "1")[0] == 1
    assert (out / "summary.csv").is_symlink() and os.readlink(out / "summary.csv") == "/dev/null"
    assert not (out / "summary.xlsx").exists() and (out / "results.jsonl").is_file()


def test_a_round_takes_away_the_half_written_outputs_a_killed_round_left(tmp_path):
    """A kill while an output is written leaves its temporary file (``kill -9`` runs no clean-up): the next round
    in the folder takes it away, but not one written since it began (another writer's)."""
    inputs = [EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml"]
    out = tmp_path / "out"
    out.mkdir()
    left = out / ".compliance-x1y2z3.part"
    left.write_bytes(b"half a workbook")
    os.utime(left, (time.time() - 60, time.time() - 60))
    other = out / ".compliance-a1b2c3.part"
    real = round_module.Round.finish

    def finish(self, *args):
        other.write_bytes(b"being written")
        return real(self, *args)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(round_module.Round, "finish", finish)
        assert cli("batch", *inputs, "-o", out, "--jobs", "1")[0] == 1
    assert not left.exists() and other.exists()


# --------------------------------------------------------------------------- 8. --previous

def test_previous_round_trends_are_counted_from_both_results(xlsx_round, yinzhou):
    now = result_lines(xlsx_round.out / "results.jsonl")
    before = {d["center"]["id"]: d for d in result_lines(PREVIOUS / "results.jsonl")}
    _, _, errors = read_csv(xlsx_round.out / "errors.csv")
    refused = {e["center_id"] for e in errors if e["center_id"]}
    rank = {g: -i for i, g in enumerate(["excellent", "good", "qualified", "unqualified"])}
    expected = {}
    for doc in now:
        cid = doc["center"]["id"]
        old = before.get(cid)
        if old is None:
            expected[cid] = ("new", "", "", "")
            continue
        change = round(doc["score"] - old["score"], 1)
        trend = ("improved" if change > 0 or (change == 0 and rank[doc["grade"]] > rank[old["grade"]])
                 else "worsened" if change < 0 or rank[doc["grade"]] < rank[old["grade"]] else "unchanged")
        expected[cid] = (trend, old["score"], change, old["grade"])
    gone = set(before) - {d["center"]["id"] for d in now} - refused

    rows = _check_summary(xlsx_round.out / "summary.csv", xlsx_round.out / "results.jsonl", previous=True)
    for r in rows:
        trend, score, change, grade = expected[r["center_id"]]
        assert r["trend"] == trend
        if trend == "new":
            assert (r["previous_score"], r["score_change"], r["previous_grade"]) == ("", "", "")
        else:
            assert (float(r["previous_score"]), float(r["score_change"]), r["previous_grade"]) == (score, change, grade)
    counts = Counter(t for t, *_ in expected.values())
    counts["gone"] = len(gone)
    assert counts["new"] == 5 and counts["gone"] == 4          # the README: 5 new communities, 4 merged
    assert counts["improved"] and counts["worsened"]
    page = (xlsx_round.out / "district-report.html").read_text(encoding="utf-8")
    for key, label in (("improved", "Improved"), ("worsened", "Worsened"), ("unchanged", "Unchanged"), ("new", "New"),
                       ("gone", "Not in this round")):
        shown = re.findall(rf"<td>{label}</td><td class=\"num[^\"]*\">(\d+)</td>", page)
        assert shown == [str(counts[key])], key
    for cid in gone:
        assert cid in page


def test_a_previous_folder_without_results_is_exit_2_naming_it(tmp_path):
    empty = tmp_path / "last-year"
    empty.mkdir()
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", "-o", tmp_path / "out", "--previous", empty)
    assert status == 2
    assert str(empty) in err and "results.jsonl" in err and "Traceback" not in err
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", "-o", tmp_path / "out", "--previous", tmp_path / "nope")
    assert status == 2 and str(tmp_path / "nope") in err


# --------------------------------------------------------------------------- 9. --reports

def test_reports_one_pdf_per_audited_centre_inside_reports(small_round):
    docs = result_lines(small_round.out / "results.jsonl")
    reports = small_round.out / "reports"
    expected = {report_name(d["center"]["id"]) for d in docs}
    assert len(expected) == len(docs)
    assert {p.name for p in reports.iterdir()} == expected
    for name in expected:
        assert (reports / name).read_bytes().startswith(b"%PDF-")
    # the hostile id left nothing outside the output folder
    root = small_round.out.parent
    assert sorted(p.name for p in root.iterdir()) == sorted(["out", "evil.json", "broken.json"])
    assert {p.name for p in small_round.out.iterdir()} <= {"results.jsonl", "summary.csv", "summary.xlsx", "errors.csv",
                                                           "district-report.html", "district-report.pdf", "reports"}


HOSTILE_IDS = ["a/b", "a_b", "..", ".", "../../etc/passwd", "..\\..\\x", "a\\b", "a\x00b", "tab\there", "\x1b[31mred",
               "line\nbreak", "CON", " . ", "x" * 64, "中心/编码", "中心_编码", "a:b", "a*b?", "ok-id"]


def test_report_names_stay_inside_reports_and_are_distinct(tmp_path):
    reports = tmp_path / "reports"
    names = {}
    for cid in HOSTILE_IDS:
        name = report_name(cid)
        assert name.endswith(".pdf")
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
        assert name not in (".pdf", "..pdf") and not name.startswith(".")
        assert (reports / name).resolve().parent == reports.resolve()
        assert len(name.encode("utf-8")) <= 255
        names[name] = cid
    assert len(names) == len(HOSTILE_IDS)
    assert report_name("ok-id") == "ok-id.pdf"          # a safe id is its own name


@pytest.mark.parametrize("cid", ["CON", "con", "Nul", "aux.2026", "COM1", "lpt9.x", "PRN ", "COM0", "CON .x", "COM¹",
                                 "conin$"])
def test_a_report_is_never_named_as_a_windows_device(cid):
    """A bureau copies reports/ to Windows, where CON.pdf (or aux.2026.pdf: Windows reads a name to its first dot,
    and trims the spaces before it) names a device and cannot be made."""
    name = report_name(cid)
    stem = name.split(".")[0]
    assert re.fullmatch(r"[^. ]+-[0-9a-f]{8}", stem), name
    assert stem[:-9].upper() == cid.split(".")[0].strip().upper()
    assert report_name("CONSOLE") == "CONSOLE.pdf" and report_name("COM10") == "COM10.pdf"
    assert len({report_name(c) for c in ("aux.2026", "aux.2027", "AUX.2026")}) == 3


def test_report_names_never_contain_dot_dot():
    """interfaces.md: report file names have no path separators and no `..`."""
    for cid in ("..", "../x", "a..b", "x/../y"):
        assert ".." not in report_name(cid), cid


def test_report_names_fit_a_file_name_for_long_non_bmp_ids():
    cid = "𠮷" * 64                                    # a valid id: 64 characters, 256 bytes in UTF-8
    compliance.load_profile(profile(center__id=cid))
    assert len(report_name(cid).encode("utf-8")) <= 255


def test_a_round_with_a_long_non_bmp_id_still_writes_its_report(tmp_path):
    cid = "𠮷" * 64
    source = write_json(tmp_path / "long.json", profile(center__id=cid))
    out = tmp_path / "out"
    status, _, err = cli("batch", source, "-o", out, "--jobs", "1", "--reports")
    assert status == 0, err
    assert [d["center"]["id"] for d in result_lines(out / "results.jsonl")] == [cid]
    [report] = list((out / "reports").iterdir())
    assert report.read_bytes().startswith(b"%PDF-")


def test_report_names_of_distinct_ids_never_collide():
    """A cleaned id gets a hash suffix; an id that is literally that cleaned name must not share it."""
    dirty = "a/b"
    lookalike = report_name(dirty)[: -len(".pdf")]
    assert report_name(lookalike) != report_name(dirty)


# --------------------------------------------------------------------------- 10. template

def test_template_layout(template, yinzhou):
    book = openpyxl.load_workbook(template)
    assert {"centres", "zones", "说明"} <= set(book.sheetnames)
    centres, zones = book["centres"], book["zones"]
    keys = row_keys(centres)
    assert len(keys) == len(set(keys))
    required = ["center.id", "center.name", "center.setting", "population.households", "population.residents",
                "space.total_area_m2"]
    assert set(required) <= set(keys)
    for code in yinzhou.vocabulary.entries["signage"]:
        assert f"signage.{code}" in keys
    assert all(centres.cell(1, c).value for c in range(1, len(keys) + 1))       # a label above every key
    assert row_keys(zones)[:3] == ["center.id", "kind", "area_m2"]
    assert centres.freeze_panes == "B3" and zones.freeze_panes

    def validation(sheet, column_key, keys_row):
        letter = get_column_letter(keys_row.index(column_key) + 1)
        for dv in sheet.data_validations.dataValidation:
            if f"{letter}3" in dv.sqref:
                return dv
        return None

    def choices(dv) -> set[str]:
        sheet_name, cells = dv.formula1.lstrip("=").split("!")
        ref = book[sheet_name][cells.replace("$", "")]
        return {c.value for row in ref for c in row}

    setting = validation(centres, "center.setting", keys)
    assert setting is not None and setting.type == "list" and choices(setting) == {"城市", "农村"}
    for key in ("signage.grid_map", "staff.ab_backup"):
        dv = validation(centres, key, keys)
        assert dv is not None and dv.type == "list" and choices(dv) == {"是", "否"}
    kind = validation(zones, "kind", row_keys(zones))
    # the zone kinds offered by their Chinese names, one per code of the vocabulary
    names = {yinzhou.vocabulary.label("zone_kinds", code, "zh") for code in yinzhou.vocabulary.entries["zone_kinds"]}
    assert kind is not None and choices(kind) == names and len(names) == len(yinzhou.vocabulary.entries["zone_kinds"])
    # an empty template is an empty round
    assert list(compliance.read_profiles(template)) == []


def test_template_refuses_to_replace_a_file_without_force(tmp_path):
    template = tmp_path / "centres.xlsx"
    template.write_bytes(b"collected data, not to be lost")
    before = template.read_bytes()
    status, _, err = cli("template", template)
    assert status == 2
    assert str(template) in err and "--force" in err
    assert template.read_bytes() == before
    status, _, err = cli("template", template, "--force")
    assert status == 0, err
    assert list(compliance.read_profiles(template)) == []
    status, _, err = cli("template", tmp_path / "centres.csv")
    assert status == 2 and not (tmp_path / "centres.csv").exists()


# --------------------------------------------------------------------------- 11. library

def test_read_profiles_is_lazy(tmp_path):
    first = tmp_path / "a.jsonl"
    later = tmp_path / "b.jsonl"
    first.write_bytes(orjson.dumps(profile(center__id="A1")) + b"\n")
    items = compliance.read_profiles([first, later])        # b.jsonl does not exist yet
    where, item = next(items)
    assert (where, item.id) == (f"{first}:1", "A1")
    later.write_bytes(orjson.dumps(profile(center__id="B1")) + b"\n" + b"not json\n")
    rest = list(items)
    assert [w for w, _ in rest] == [f"{later}:1", f"{later}:2"]
    assert rest[0][1].id == "B1" and isinstance(rest[1][1], compliance.ProfileError)
    # nothing is read before iteration: a missing file is an item, not an exception at the call
    missing = compliance.read_profiles(tmp_path / "missing.jsonl")
    [(where, error)] = list(missing)
    assert isinstance(error, compliance.ProfileError) and "missing.jsonl" in where


def test_audit_many_yields_in_input_order_with_errors_in_place():
    rules = compliance.load_ruleset("yinzhou")
    district = good_district_docs()
    items: list[Any] = []
    for i in range(150):
        doc = copy.deepcopy(district[i % len(district)])
        doc["center"]["id"] = f"M-{i:03d}"
        if i in (7, 131):
            doc["population"]["households"] = "many"          # invalid: a ProfileError in its place
            items.append(doc)
        else:                                                 # validated profiles and plain mappings, mixed
            items.append(compliance.load_profile(doc, rules=rules) if i % 3 == 0 else doc)
    serial = list(compliance.audit_many(items, rules, jobs=1))
    parallel = list(compliance.audit_many(iter(items), rules, jobs=2))
    assert len(parallel) == len(items)
    for i, (a, b) in enumerate(zip(serial, parallel)):
        if i in (7, 131):
            assert isinstance(b, compliance.ProfileError)
            assert [p.json_path for p in b.problems] == ["$.population.households"]
        else:
            assert isinstance(b, compliance.AuditResult)
            assert b.to_dict()["center"]["id"] == f"M-{i:03d}"
            assert canonical(b.to_dict()) == canonical(a.to_dict())
    by_name = list(compliance.audit_many(items[:3], "yinzhou", jobs=2))
    assert [r.to_dict()["ruleset"]["id"] for r in by_name] == ["yinzhou"] * 3


# --------------------------------------------------------------------------- what a community worker types

def test_zone_kinds_typed_by_their_chinese_names_read_as_codes(template, yinzhou):
    doc = profile()
    codes = [z["kind"] for z in doc["space"]["zones"]]
    names = [yinzhou.vocabulary.label("zone_kinds", code, "zh") for code in codes]
    assert names != codes                               # the names really differ from the codes

    def chinese(book: Any) -> None:
        for r, name in enumerate(names, start=3):
            book["zones"].cell(r, 2, name)
    fill_workbook(template, [doc], chinese)
    [(_, read)] = list(compliance.read_profiles(template, yinzhou))
    assert isinstance(read, compliance.Profile)
    assert [z["kind"] for z in read.data["space"]["zones"]] == codes


def test_a_blank_required_cell_is_named_not_the_id_cell(template, yinzhou):
    doc = profile()
    del doc["population"]["residents"]
    fill_workbook(template, [doc])
    [(_, error)] = list(compliance.read_profiles(template, yinzhou))
    keys = row_keys(openpyxl.load_workbook(template)["centres"])
    cell = f"{get_column_letter(keys.index('population.residents') + 1)}3"
    assert isinstance(error, compliance.ProfileError)
    assert [p.file for p in error.problems] == [f"{template}!centres!{cell}"]


def test_a_centre_without_zone_rows_is_read_without_zones_and_a_warning_naming_its_row(template, yinzhou):
    doc = profile()
    fill_workbook(template, [doc], lambda book: book["zones"].delete_rows(3, 50))
    [(_, item)] = list(compliance.read_profiles(template, yinzhou))
    assert isinstance(item, compliance.Profile) and list(item.data["space"]["zones"]) == []
    [warning] = item.warnings
    assert warning.file == f"{template}!centres!A3" and "has no row on the sheet 'zones'" in warning.message


def test_a_round_that_audits_nothing_leaves_an_earlier_round_as_it_was(tmp_path):
    out = tmp_path / "round"
    status, _, _ = cli("batch", EXAMPLES / "haiyue.yaml", "-o", out)
    assert status in (0, 1)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    status, _, err = cli("batch", tmp_path / "mistyped.yaml", "-o", out)
    assert status == 2 and "no centre could be audited" in err and "mistyped.yaml" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not (out / ".round").exists()
    empty = tmp_path / "empty.csv"
    empty.write_text("center.id,center.name\n", encoding="utf-8")
    assert cli("batch", empty, "-o", tmp_path / "other")[0] == 2


def test_previous_round_under_another_rule_set_is_refused(tmp_path):
    last = tmp_path / "last"
    assert cli("batch", EXAMPLES / "haiyue.yaml", "--rules", "national", "-o", last)[0] in (0, 1)
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", "--rules", "yinzhou", "-o", tmp_path / "now",
                         "--previous", last)
    assert status == 2 and "'national'" in err and "'yinzhou'" in err
    assert not (tmp_path / "now").exists()
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", "--rules", "national", "-o", last, "--previous", last)
    assert status == 2 and "--previous" in err


def test_an_output_folder_inside_an_input_folder_is_not_read_as_input(tmp_path):
    folder = tmp_path / "audits"
    folder.mkdir()
    (folder / "haiyue.yaml").write_bytes((EXAMPLES / "haiyue.yaml").read_bytes())
    for _ in range(2):
        status, out, _ = cli("batch", folder, "-o", folder / "round")
        assert status in (0, 1) and "audited 1 centre" in out


def test_an_output_folder_that_cannot_be_made_is_bad_input(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    status, _, err = cli("batch", EXAMPLES / "haiyue.yaml", "-o", blocker / "sub")
    assert status == 2 and "afile" in err


def test_summary_xlsx_is_the_same_bytes_for_the_same_round(tmp_path):
    for name in ("a", "b"):
        assert cli("batch", EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml",
                   "-o", tmp_path / name)[0] in (0, 1)
    assert (tmp_path / "a" / "summary.xlsx").read_bytes() == (tmp_path / "b" / "summary.xlsx").read_bytes()


def test_validate_checks_a_workbook_and_json_lines_centre_by_centre():
    status, out, err = cli("validate", XLSX, JSONL, "--rules", "yinzhou")
    assert status == 2
    assert f"{XLSX}: 138 valid, 4 refused" in out and f"{JSONL}: 139 valid, 2 refused" in out
    for cell in ("centres!M10", "zones!B517", "zones!C1246", "centres!A144"):
        assert f"{XLSX}!{cell}: " in err
    assert f"{JSONL}:55: cannot be read (column 774): a value was expected here" in err
    assert f"{JSONL}:73: $.population.households" in err


def test_a_round_written_inside_its_input_folder_never_reads_its_work_files(tmp_path):
    # Enough records that the work files under OUTDIR/.round exist before the folder's last file is read.
    folder = tmp_path / "inputs"
    folder.mkdir()
    out = []
    for i in range(12):
        for doc in good_district_docs():
            doc["center"]["id"] = f"{doc['center']['id']}-{i}"
            out.append(orjson.dumps(doc))
    (folder / "a.jsonl").write_bytes(b"\n".join(out[:800]) + b"\n")
    (folder / "z.jsonl").write_bytes(b"\n".join(out[800:1600]) + b"\n")
    status, stdout, err = cli("batch", folder, "-o", folder / "round", "--jobs", "1")
    assert status in (0, 1), err
    assert f"audited {len(out[:1600])} centres" in stdout
    assert not (folder / "round" / ".round").exists()


def test_a_blank_required_cell_is_named_in_errors_csv_too(template, tmp_path):
    doc = profile()
    del doc["center"]["name"]
    fill_workbook(template, [doc])
    keys = row_keys(openpyxl.load_workbook(template)["centres"])
    cell = f"{get_column_letter(keys.index('center.name') + 1)}3"
    status, _, _ = cli("batch", template, "-o", tmp_path / "round")
    assert status == 2
    _, _, rows = read_csv(tmp_path / "round" / "errors.csv")
    assert [(r["location"], r["field"]) for r in rows] == [(f"{template}!centres!{cell}", "centre name")]


def test_a_centre_that_hits_a_defect_is_refused_and_the_round_exits_3(tmp_path, monkeypatch):
    import compliance.batch.run as runner

    real = runner.evaluate

    def broken(profile, rules, **options):
        if profile.id == "330212-SN-0103":
            raise RuntimeError("a defect")
        return real(profile, rules, **options)

    monkeypatch.setattr(runner, "evaluate", broken)
    status, out, err = cli("batch", EXAMPLES / "haiyue.yaml", EXAMPLES / "dandinghe-old-compound.yaml",
                           "-o", tmp_path / "round", "--jobs", "1")
    assert status == 3 and "audited 1 centre" in out and "internal error" in err
    _, _, rows = read_csv(tmp_path / "round" / "errors.csv")
    assert [r["center_id"] for r in rows] == ["330212-SN-0103"] and "RuntimeError" in rows[0]["problem"]
