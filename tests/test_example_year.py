"""The Yinzhou example's audit year: the inspection round with its photos, the waivers, the ledger of three rounds,
the README's commands as a bureau runs them, and the set-up script's demo."""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISTRICT = ROOT / "examples" / "yinzhou-district"
INSPECTIONS = DISTRICT / "2026-inspection"
README = DISTRICT / "README.md"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def content(path: Path) -> object:
    """What a file says, as its reader sees it: text files byte for byte; a workbook's cell values, a PDF's text and
    an image's size, which do not change with the version of the library that encodes them (a newer Pillow, zlib or
    PDF writer would change bytes, not what a bureau reads)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        return {sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}
    if suffix == ".pdf":
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
    if suffix in (".jpg", ".jpeg", ".png"):
        from PIL import Image

        with Image.open(path) as image:
            return image.format, image.size, image.mode
    return path.read_bytes()


def compliance(*args: str, cwd: Path, lang: str | None = "en") -> subprocess.CompletedProcess[str]:
    tail = ["--lang", lang] if lang else []             # None: as a bureau types it, in Chinese
    return subprocess.run([sys.executable, "-m", "compliance", *args, *tail], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=900)


def copy_of_examples(where: Path) -> Path:
    """A folder holding a copy of examples/ (the commands' paths are relative to the repository's root)."""
    shutil.copytree(ROOT / "examples", where / "examples")
    return where


def readme_steps() -> list[tuple[str, int]]:
    """Each command of the README's audit year (Chinese part) with the exit status the README gives for it."""
    text = README.read_text(encoding="utf-8")
    part = text[text.index("**一年的检查"):text.index("**故意写错的行。**")]
    steps = []
    for match in re.finditer(r"^ {7}(compliance .+)$", part, re.M):
        status = re.search(r"退出码 (\d)", part[match.end():])
        assert status, match.group(1)
        steps.append((match.group(1), int(status.group(1))))
    return steps


def ledger_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """The README's commands run one after the other, as written, in a folder holding the examples."""
    cwd = copy_of_examples(tmp_path_factory.mktemp("audit-year"))
    runs = []
    for command, expected in readme_steps():
        args = command.split()[1:]
        runs.append((command, expected, compliance(*args, cwd=cwd, lang=None)))
    return cwd, runs


def test_the_readme_gives_the_five_steps_of_the_year_in_order():
    commands = [c.split()[1] for c, _ in readme_steps()]
    assert commands == ["batch", "batch", "reconcile", "ledger"]


def test_every_command_of_the_readme_runs_as_written_with_the_exit_status_it_states(year):
    _, runs = year
    for command, expected, done in runs:
        assert "Traceback" not in done.stderr, command
        assert done.returncode == expected, (command, done.stderr[-2000:])


def test_the_ledger_of_the_bundled_rounds_has_open_overdue_closed_and_recurred_items(year):
    cwd, _ = year
    done = compliance("ledger", "examples/yinzhou-district/2025-round", "2026-round", "2026-inspection-round",
                      "-o", "ledger.csv", "--as-of", "2027-01-15", cwd=cwd)
    assert done.returncode == 0, done.stderr
    rows = ledger_rows(cwd / "ledger.csv")
    states = {r["state"] for r in rows}
    assert {"open", "overdue", "closed"} <= states
    assert any(r["recurred"] == "true" for r in rows)
    inspection_round = "2026年考核"           # the inspections' audit.round names their round
    assert any(r["closed_in"] == inspection_round for r in rows), "an inspection closes an item (销号)"
    assert any(r["opened_in"] == inspection_round and r["state"] == "open" for r in rows)
    for row in rows:                                        # overdue exactly when past due on the --as-of day
        if row["state"] in ("open", "overdue"):
            assert (row["due"] < "2027-01-15") == (row["state"] == "overdue"), row
    assert (cwd / "ledger.xlsx").stat().st_size > 0


def test_the_heritage_waiver_takes_the_hall_clause_out_of_the_inspected_score(year):
    cwd, _ = year
    rows = ledger_rows(cwd / "2026-inspection-round" / "summary.csv")
    dandinghe = next(r for r in rows if r["center_id"] == "330212-BH-0007")
    assert dandinghe["waived"] == "5.5"
    assert float(dandinghe["unwaived_score"]) < float(dandinghe["score"])
    errors = (cwd / "2026-inspection-round" / "errors.csv").read_text(encoding="utf-8-sig")
    assert "6.3" in errors and "2025-12-31" in errors          # the expired waiver is reported, not applied


def test_the_inspections_overstate_understate_and_agree_with_the_self_checks(year):
    cwd, _ = year
    rows = ledger_rows(cwd / "2026-inspection-round" / "summary.csv")
    gaps = [float(r["self_gap"]) for r in rows]
    assert 12 <= len(rows) <= 20
    assert len({r["street"] for r in rows}) == len(rows)
    assert any(g > 0 for g in gaps) and any(g < 0 for g in gaps) and any(g == 0 for g in gaps)
    assert sum(1 for r in rows if r["overstated"]) >= 3


def test_the_readme_counts_the_inspections_as_the_round_found_them(year):
    cwd, _ = year
    gaps = [float(r["self_gap"]) for r in ledger_rows(cwd / "2026-inspection-round" / "summary.csv")]
    text = README.read_text(encoding="utf-8")
    said = re.search(r"(\d+) 个中心考核不如自评（自评虚高），(\d+) 个好于自评（自评后已整改），(\d+) 个一致", text)
    assert said, "the README counts the inspections"
    assert [int(n) for n in said.groups()] == [sum(g > 0 for g in gaps), sum(g < 0 for g in gaps),
                                               sum(g == 0 for g in gaps)]
    ledger = re.search(r"整改台账共 (\d+) 项：逾期 (\d+) 项，未整改 (\d+) 项，已销号 (\d+) 项", text)
    rows = ledger_rows(DISTRICT / "ledger.csv")             # the committed ledger, which the script is checked to write
    assert [int(n) for n in ledger.groups()] == [len(rows)] + [sum(r["state"] == s for r in rows)
                                                               for s in ("overdue", "open", "closed")]


def test_the_committed_inspection_round_is_what_the_readme_commands_write(year):
    cwd, _ = year
    for name in sorted(os.listdir(DISTRICT / "2026-inspection-round")):
        made = content(cwd / "2026-inspection-round" / name)
        assert made == content(DISTRICT / "2026-inspection-round" / name), name


def test_every_evidence_file_of_the_example_is_accepted_by_validate():
    profiles = sorted(INSPECTIONS.glob("*.yaml"))
    named = set()
    for profile in profiles:
        text = profile.read_text(encoding="utf-8")
        assert "kind: inspection" in text
        named |= set(re.findall(r"file: (photos/\S+)", text))
        done = compliance("validate", str(profile), "--rules", "yinzhou", cwd=ROOT)
        assert done.returncode == 0, (profile.name, done.stderr)
    files = {f"photos/{p.name}" for p in (INSPECTIONS / "photos").iterdir()}
    assert named == files                                   # every photo is named by a profile, and every name exists
    assert {p.rsplit(".", 1)[1] for p in files} == {"jpg", "png", "pdf"}
    assert sum((INSPECTIONS / f).stat().st_size for f in files) < 1024 * 1024


def test_validate_reads_the_example_photos_so_a_spoilt_photo_is_refused(tmp_path):
    """The acceptance above means something: the same profile with its photo cut short is refused."""
    folder = tmp_path / "2026-inspection"
    shutil.copytree(INSPECTIONS, folder)
    profile = folder / "330212-BH-0007.yaml"
    photo = re.search(r"file: (photos/\S+\.jpg)", profile.read_text(encoding="utf-8")).group(1)
    (folder / photo).write_bytes((folder / photo).read_bytes()[:200])
    done = compliance("validate", str(profile), "--rules", "yinzhou", cwd=tmp_path)
    assert done.returncode == 2
    assert Path(photo).name in done.stderr


def test_the_committed_example_is_exactly_what_make_district_writes(tmp_path):
    """Regenerating in a copy of the repository's examples and script gives the committed files (their content, as
    :func:`content` reads it)."""
    where = copy_of_examples(tmp_path)
    (where / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "make_district.py", where / "scripts")
    done = subprocess.run([sys.executable, str(where / "scripts" / "make_district.py")], cwd=where, env=ENV,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    made = where / "examples" / "yinzhou-district"
    committed = sorted(p.relative_to(DISTRICT) for p in DISTRICT.rglob("*") if p.is_file())
    written = sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file())
    assert written == committed
    different = [str(p) for p in committed if content(made / p) != content(DISTRICT / p)]
    assert different == []


def test_the_set_up_demo_runs_the_inspections_and_the_ledger_and_says_where_it_is(tmp_path):
    script = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    demo = script[script.index('if [ "${1:-}" != "--no-demo" ]; then'):]
    demo = demo[demo.index("\n") + 1:demo.rindex("fi")]
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "compliance").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m compliance "$@"\n', encoding="utf-8")
    (shim / "compliance").chmod(0o755)
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + demo], cwd=ROOT, capture_output=True, text=True,
                          env={**ENV, "TMPDIR": str(tmp_path), "PATH": f"{shim}:{os.environ['PATH']}"},
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    ledger = tmp_path / "compliance-demo" / "ledger.xlsx"
    assert ledger.stat().st_size > 0
    assert str(ledger) in done.stdout
    assert "2026-inspection" in done.stdout
