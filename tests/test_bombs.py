"""Workbooks that are decompression bombs or zip tricks: refused before the reader inflates them, by every door."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

import compliance
from compliance.batch import archive, workbook
from compliance.batch.sources import SourceError

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
    assert message.startswith("inflates to 3,073 MiB by its own account (the cap for a workbook is 512 MiB)")
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
    check(bomb)                                         # the stream is whole and its size true
    monkeypatch.setattr(archive, "MAX_INFLATED", 16 << 20)
    assert refusal(bomb).startswith("inflates to 25 MiB by its own account (the cap for a workbook is 16 MiB)")


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


def test_a_sheet_whose_dimension_claims_a_huge_area_is_refused(template, tmp_path):
    path = tmp_path / "claimed.xlsx"
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b"<dimension ref=\"", b"<dimension ref=\"A1:ZZ999999\" x=\"", 1)
            out.writestr(item, data)
    assert "'ZZ999999'" in refusal(path)


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
