"""Workbooks that are decompression bombs or zip tricks: refused before the reader inflates them, by every door."""
from __future__ import annotations

import contextlib
import random
import re
import string
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import openpyxl
import pytest

import compliance
from compliance.batch import archive, workbook
from compliance.batch.sources import SourceError, column_letter, read_profiles

from bombs import CENTRES_PART, GiB, deflated_part, write_archive, write_bomb
from conftest import ROOT, run_cli

BOMB = "refused as a decompression bomb"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "centres.xlsx"
    workbook.build(path, compliance.load_ruleset("national").vocabulary)
    return path


@pytest.fixture(scope="module")
def bombs(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 3 GiB sheet in about 10 MB: one that says so, one whose headers claim 5,000 bytes."""
    folder = tmp_path_factory.mktemp("bombs")
    return {"honest": write_bomb(folder / "book.xlsx", template),
            "lying": write_bomb(folder / "lying.xlsx", template, lie=5000)}


def check(path: Path) -> None:
    archive.check_workbook(path.read_bytes(), str(path), SourceError)


def refusal(path: Path) -> str:
    with pytest.raises(SourceError) as caught:
        check(path)
    assert caught.value.file == str(path)
    return caught.value.message


# --------------------------------------------------------------------------- the check itself

def test_real_workbooks_pass(template, tmp_path):
    check(template)
    check(ROOT / "examples" / "yinzhou-district" / "centres.xlsx")
    exported = tmp_path / "exported.xlsx"
    workbook.export([compliance.load_profile(ROOT / "examples" / "haiyue.yaml").data] * 3, exported,
                    compliance.load_ruleset("national").vocabulary)
    check(exported)


def test_a_bomb_that_admits_its_size_is_refused_without_inflating_it(bombs):
    assert bombs["honest"].stat().st_size < 16 << 20
    start = time.perf_counter()
    message = refusal(bombs["honest"])
    assert time.perf_counter() - start < 1
    assert message.startswith("inflates to 3,072 MiB by its own account (the cap for a workbook is 512 MiB)")
    assert message.endswith(BOMB)


def test_a_part_that_inflates_past_what_its_header_says_is_refused_at_once(bombs):
    start = time.perf_counter()
    message = refusal(bombs["lying"])
    assert time.perf_counter() - start < 1
    assert message == f"the part '{CENTRES_PART}' inflates past the 5,000 bytes it declares; {BOMB}"


def test_a_part_whose_claim_is_within_the_caps_is_refused_by_what_it_inflates_to(template, tmp_path):
    # It claims 100 MiB (20 times its 5 MB): only inflating it shows it is past 100 to 1.
    bomb = write_bomb(tmp_path / "book.xlsx", template, inflated=GiB // 2, lie=100 << 20)
    message = refusal(bomb)
    assert message == (f"the part '{CENTRES_PART}' inflates to more than 100 times its compressed size (the cap for a "
                       f"part past 1 MiB); {BOMB}")


def test_the_caps_are_counted_on_what_inflates(template, tmp_path, monkeypatch):
    bomb = write_bomb(tmp_path / "book.xlsx", template, inflated=24 << 20)
    assert "100 times" in refusal(bomb)                 # 24 MiB at about 330 to 1
    monkeypatch.setattr(archive, "MAX_RATIO", 10_000)
    # its rows, counted (after the two header rows), and the template's columns, however many the layout has
    columns = openpyxl.load_workbook(template, read_only=True)["centres"].max_column
    assert f"'{column_letter(columns - 1)}513578': {513578 * columns:,} cells" in refusal(bomb)
    monkeypatch.setattr(archive, "MAX_CELLS", 10 ** 9)
    check(bomb)                                         # the stream is whole and its size true
    monkeypatch.setattr(archive, "MAX_INFLATED", 16 << 20)
    assert refusal(bomb).startswith("inflates to 24 MiB by its own account (the cap for a workbook is 16 MiB)")


def test_a_small_part_may_compress_better_than_a_large_one(tmp_path):
    parts = [deflated_part(name, b"<x/>" * 200_000) for name in ("[Content_Types].xml", "xl/styles.xml")]
    check(write_archive(tmp_path / "small.xlsx", parts))           # 800 KB each at about 400 to 1


def _zip(path: Path, names: list[str], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression) as zf:
        warnings.simplefilter("ignore")                 # (zipfile warns of a repeated name; a hostile file repeats)
        for name in names:
            zf.writestr(name, b"<x/>")
    return path


@pytest.mark.parametrize("make, words", [
    (lambda p: _zip(p, [f"xl/media/{i}.xml" for i in range(1001)]), "has 1,001 parts in a directory of"),
    (lambda p: _zip(p, ["xl/workbook.xml", "xl/workbook.xml"]), "holds the part 'xl/workbook.xml' twice"),
    (lambda p: _zip(p, ["xl/workbook.xml"], zipfile.ZIP_BZIP2), "is compressed with the method 12"),
    (lambda p: write_archive(p, [deflated_part("xl/workbook.xml", b"<x/>")], flags=1), "is encrypted"),
    (lambda p: write_archive(p, [deflated_part("a.xml", b"<a/>" * 100), deflated_part("b.xml", b"<b/>")],
                             offsets={1: 0}), "overlaps the part before it"),
    (lambda p: write_archive(p, [("a.xml", iter([b"<a/>"]), 4, 40, 0)], method=0), "is stored as 4 bytes but "
                                                                                  "declares 40"),
    (lambda p: p.write_bytes(b"MZ" + _zip(p, ["a.xml"]).read_bytes()) and p, "has bytes before or inside"),
    (lambda p: p.write_bytes(_zip(p, ["a.xml"]).read_bytes() + b"\0" * 100) and p, "has bytes after"),
    (lambda p: p.write_bytes(b"not a zip at all") and p, "is not a workbook that can be read"),
])
def test_zip_tricks_are_refused(tmp_path, make, words):
    path = tmp_path / "book.xlsx"
    make(path)
    assert words in refusal(path)


def test_a_sheet_that_names_a_cell_far_away_is_refused_before_the_reader_allocates_its_rectangle(tmp_path):
    """The reader holds a value for every cell up to the farthest one a sheet names: one cell at XFD1048576 in a
    workbook of a few kilobytes would ask it for 17 billion, and abort the process."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "centres"
    sheet["A1"], sheet["XFD1048576"] = "center.id", "x"
    path = tmp_path / "far.xlsx"
    book.save(path)
    message = refusal(path)
    assert "'XFD1048576'" in message and BOMB in message
    out = run_cli("batch", str(path), "-o", str(tmp_path / "out"), "--jobs", "1")
    assert out.returncode == 2 and "XFD1048576" in out.stderr and "panicked" not in out.stderr


def _with_sheet(template: Path, target: Path, change: Any) -> Path:
    """A copy of the template whose centres sheet's XML is ``change(xml)``."""
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            out.writestr(item, change(data) if item.filename == CENTRES_PART else data)
    return target


def _before_the_end(rows: str) -> Any:
    return lambda xml: xml.replace(b"</sheetData>", rows.encode() + b"</sheetData>")


def _after_the_first_row(rows: str) -> Any:
    return lambda xml: xml.replace(b"</row>", b"</row>" + rows.encode(), 1)


_CELL = '<c {} t="inlineStr"><is><t>x</t></is></c>'
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_READ_UNCHECKED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from python_calamine import CalamineWorkbook
CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_name("centres")
"""


@pytest.mark.parametrize("change, corner", [
    (_before_the_end('<row r="1000000">' + _CELL.format('r="ZZZ1000000"') + "</row>"), "ZZZ1000000"),
    (_after_the_first_row('<row r="1000000">' + _CELL.format('r="ZZZ1000000"') + "</row>"), "ZZZ1000000"),
    (_before_the_end("<row r = '1000000'><c r = 'ZZZ1000000' t='inlineStr'><is><t>x</t></is></c></row>"),
     "ZZZ1000000"),
    (_before_the_end('<row r="1000000">' + _CELL.format('r="zzz1000000"') + "</row>"), "ZZZ1000000"),
    (_before_the_end('<row r="1000000">' + _CELL.format('r="ZZZ0001000000"') + "</row>"), "ZZZ1000000"),
    (_before_the_end('<row\tr="1000000"><c\nr="ZZZ1000000" t="inlineStr"><is><t>x</t></is></c></row>'),
     "ZZZ1000000"),
    (_before_the_end('<row r="1000000"><c t="inlineStr" r="ZZZ1000000"><is><t>x</t></is></c></row>'),
     "ZZZ1000000"),
    (_before_the_end('<row r="1000000"><c r="A1000000" r="ZZZ1000000" t="inlineStr"><is><t>x</t></is></c></row>'),
     "ZZZ1000000"),
    (_before_the_end(f'<x:row xmlns:x="{MAIN}" r="1000000"><x:c r="ZZZ1000000" t="inlineStr"><x:is><x:t>x</x:t>'
                     "</x:is></x:c></x:row>"), "ZZZ1000000"),
    (_before_the_end('<row r="4000000">' + _CELL.format("") * 100 + "</row>"), "CV4000000"),
    (_before_the_end('<row r="1000000">' + _CELL.format('r="ZZ1000000"') + "</row><row>" + _CELL.format("")
                     + "</row>"), "ZZ1000001"),
], ids=["far", "far-in-the-middle", "quotes-and-spaces", "small-letters", "leading-zeros", "tab-and-newline",
        "r-after-t", "r-twice", "prefixed", "counted-cells", "counted-rows"])
def test_every_way_of_naming_a_far_cell_is_refused_before_the_reader_aborts(template, tmp_path, change, corner):
    """Each of these sheets makes python-calamine ask for gigabytes and abort the process (checked below under a
    2 GiB limit): cells are placed by their r attribute however it is written, or counted on from the one before."""
    path = _with_sheet(template, tmp_path / "far.xlsx", change)
    unchecked = subprocess.run([sys.executable, "-c", _READ_UNCHECKED, str(path)], capture_output=True, timeout=60)
    assert unchecked.returncode != 0 and b"memory allocation" in unchecked.stderr
    message = refusal(path)
    assert f"'{corner}'" in message and BOMB in message


def test_what_does_not_move_the_readers_rectangle_is_let_through(template, tmp_path):
    """A dimension that claims a huge area, a reference in another namespace, and cells written without r (the
    format allows it; the reader counts them) cost nothing: the workbook passes and reads as before."""
    claimed = _with_sheet(template, tmp_path / "claimed.xlsx",
                          lambda xml: xml.replace(b'<dimension ref="', b'<dimension ref="A1:XFD1048576" x="', 1))
    check(claimed)
    foreign = _with_sheet(template, tmp_path / "foreign.xlsx", _before_the_end(
        '<row r="3"><c xmlns:y="urn:y" y:r="ZZZ1000000" t="inlineStr"><is><t>x</t></is></c></row>'))
    check(foreign)
    rows = [compliance.load_profile(ROOT / "examples" / name).data for name in ("haiyue.yaml", "dandinghe-old-compound.yaml")]
    written = tmp_path / "written.xlsx"
    workbook.export(rows, written, compliance.load_ruleset("national").vocabulary)
    counted = _with_sheet(written, tmp_path / "counted.xlsx", lambda xml: re.sub(rb'<c r="[A-Z]+[0-9]+"', b"<c", xml))
    check(counted)
    before = [item.data for _, item in read_profiles(written, "national")]
    after = [item.data for _, item in read_profiles(counted, "national")]
    assert after == before == rows


def test_a_tag_cut_between_pieces_is_held_only_up_to_64_kib(template, tmp_path):
    """A tag is measured whole, so the part of one that ends a piece waits for the next: a tag longer than any
    spreadsheet writes (here 2 MiB of attribute, which no piece holds whole) is refused instead of held."""
    noise = "".join(random.Random(7).choices(string.ascii_letters, k=2 << 20))
    path = _with_sheet(template, tmp_path / "long.xlsx", _before_the_end(f'<row r="3"><c t="{noise}" r="A3"/></row>'))
    assert "has a tag longer than 65,536 bytes" in refusal(path)


def test_the_area_check_costs_a_real_sheet_a_few_searches(template, tmp_path):
    """Every piece of a written sheet takes the plain path (no tag walked), so 25,000 centres cost about a second,
    not the four a tag-by-tag walk costs."""
    rows = [compliance.load_profile(ROOT / "examples" / "haiyue.yaml").data] * 300
    written = tmp_path / "written.xlsx"
    workbook.export(rows, written, compliance.load_ruleset("national").vocabulary)
    walked: list[int] = []
    original = archive._Area._walk

    def walk(self: Any, text: bytes) -> None:
        walked.append(len(text))
        original(self, text)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(archive._Area, "_walk", walk)
        check(written)
    assert walked == []


# --------------------------------------------------------------------------- every door

@pytest.mark.parametrize("kind", ["honest", "lying"])
@pytest.mark.parametrize("command", ["batch", "validate", "export"])
def test_each_command_refuses_a_bomb_with_exit_2_naming_the_file(bombs, tmp_path, kind, command):
    book = bombs[kind]
    extra = {"batch": ["-o", str(tmp_path / "out"), "--jobs", "1"], "validate": [],
             "export": ["-o", str(tmp_path / "out.csv")]}[command]
    start = time.perf_counter()
    out = run_cli(command, str(book), *extra)
    assert time.perf_counter() - start < 20
    assert out.returncode == 2, out.stderr
    assert f"{book}: " in out.stderr and BOMB in out.stderr
    assert "internal error" not in out.stderr and "panicked" not in out.stderr


_MEASURED = """
import resource, subprocess, sys
limit = int(sys.argv[1])
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out = subprocess.run(sys.argv[2:], capture_output=True, preexec_fn=cap)
sys.stdout.write(str(out.returncode) + " " + str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + "\\n")
sys.stdout.write(out.stderr.decode("utf-8", "replace"))
"""


@pytest.mark.parametrize("kind", ["honest", "lying"])
def test_a_bomb_is_refused_within_500_mb_and_seconds_even_under_a_memory_limit(bombs, tmp_path, kind):
    """Under a 1 GiB address-space limit the reader itself would abort the process on a 3 GiB sheet (exit -6);
    the command refuses it in well under 500 MB of memory."""
    command = [sys.executable, "-m", "compliance", "batch", str(bombs[kind]), "-o", str(tmp_path / "out"), "--jobs", "1",
               "--lang", "en"]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _MEASURED, str(GiB), *command], capture_output=True, cwd=ROOT,
                         timeout=120, text=True)
    elapsed = time.perf_counter() - start
    status, peak_kib = (int(x) for x in out.stdout.splitlines()[0].split())
    assert status == 2, out.stdout
    assert BOMB in out.stdout
    assert peak_kib < 500 * 1024, f"{peak_kib / 1024:.0f} MB"
    assert elapsed < 10


# --------------------------------------------------------------------------- the service

@contextlib.contextmanager
def _bureau_service(folder: Path) -> Iterator[tuple[Any, str]]:
    from test_service import Service, add_user

    svc = Service(folder)
    token = add_user(svc.db, "bureau1", "bureau")
    svc.start()
    try:
        yield svc, token
    finally:
        svc.stop()


def test_the_service_refuses_a_bomb_upload_with_a_422_problem_and_queues_nothing(bombs, tmp_path):
    with _bureau_service(tmp_path) as (svc, token):
        with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
                          timeout=60) as c:
            for kind in ("honest", "lying"):
                start = time.perf_counter()
                r = c.post("/v1/batches", files={"file": ("区里的 book.xlsx", bombs[kind].read_bytes())})
                assert time.perf_counter() - start < 10
                assert r.status_code == 422, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                doc = r.json()
                assert doc["title"] == "The workbook is refused" and doc["status"] == 422
                assert doc["detail"].startswith("区里的_book.xlsx: ") and doc["detail"].endswith(BOMB)
                assert doc["problems"][0]["path"] == "file" and BOMB in doc["problems"][0]["message"]
            r = c.post("/v1/batches", files={"file": ("book.xlsx", b"PK not a workbook")})
            assert r.status_code == 422 and "is not a workbook that can be read" in r.json()["detail"]
            # A real workbook still goes through.
            r = c.post("/v1/batches?rules=yinzhou", files={
                "file": ("centres.xlsx", (ROOT / "examples" / "yinzhou-district" / "centres.xlsx").read_bytes())})
            assert r.status_code == 202, r.text
    data = tmp_path / "compliance-batches"
    assert not list(data.glob(".upload-*"))                       # a refused upload leaves nothing behind
    assert len([p for p in data.iterdir() if p.is_dir()]) == 1    # only the real workbook's batch
