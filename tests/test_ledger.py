"""The rectification ledger (整改台账): `compliance ledger ROUND_DIR… -o ledger.(xlsx|csv)` and `compliance.ledger`.

Three rounds of four hand-made centres are audited with `compliance batch` once; each test copies them and, where
it needs one, stamps an `audit` block or a finding's `waiver` on the result lines as the evidence and waiver parts of
the library write them. Every expectation is worked out from the rules of the ledger (clause levels, due days,
dates), not copied from a run.
"""
from __future__ import annotations

import codecs
import copy
import csv
import datetime
import io
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest
from conftest import BASE, run_cli

import compliance
from compliance.batch.rectification import DEFAULT_DAYS
from compliance.model import thaw

A, B, C, D = "330212-LG-0001", "330212-LG-0002", "330212-LG-0003", "330212-LG-0004"
INSPECTION = {"kind": "inspection", "inspectors": ["王敏", "李强"], "responsible": "陈芳"}
SELF_CHECK = {"kind": "self_check"}


def centre(cid: str, assessed_on: str | None, *, hall_guidance: bool = True, floor: int = 1, terminal: bool = True,
           rural: bool = False, satisfaction: float | None = 0.93, zone_signs: bool = True) -> dict[str, Any]:
    """The all-passing example centre with the shortfalls asked for."""
    doc: dict[str, Any] = thaw(copy.deepcopy(BASE))
    doc["center"]["id"] = cid
    doc["center"]["name"] = f"测试社区{cid[-1]}便民服务中心"
    doc["center"]["region"]["street"] = "首南街道" if cid != B else "中河街道"
    if assessed_on is None:
        doc["center"].pop("assessed_on", None)
    else:
        doc["center"]["assessed_on"] = assessed_on
    doc["center"]["setting"] = "rural" if rural else "urban"
    drop = {"hall_guidance"} if not hall_guidance else set()
    drop |= {"zone_signs"} if not zone_signs else set()
    doc["signage"] = [s for s in doc["signage"] if s not in drop]
    if not terminal:
        doc["amenities"] = [a for a in doc["amenities"] if a != "self_service_terminal"]
    doc["space"]["service_hall_floor"] = floor
    if satisfaction is None:
        del doc["services"]["satisfaction_rate"]
    else:
        doc["services"]["satisfaction_rate"] = satisfaction
    return doc


# The three rounds, as a district's bureau inspects them:
#   4.3 (shall) hall guidance sign, 5.5 (shall, veto) hall on the ground floor, 6.2 (shall) self-service terminal
#   (not applicable to a rural centre), 4.5 (should) zone signs, 8.7 (should) satisfaction ≥ 90 %.
ROUNDS: dict[str, list[dict[str, Any]]] = {
    "2026-spring": [
        centre(A, "2026-03-01", hall_guidance=False, floor=2, zone_signs=False, satisfaction=0.5),
        centre(B, None, hall_guidance=False),                        # no date: the round's latest, 2026-03-05
        centre(C, "2026-03-05", terminal=False),
        centre(D, "2026-03-02"),
    ],
    "2026-autumn": [
        centre(A, "2026-09-01", floor=2, zone_signs=False, satisfaction=None),   # 4.3 fixed; 8.7 now not evidenced
        centre(C, "2026-09-03", terminal=False, rural=True),        # B absent; C's 6.2 no longer applies
        centre(D, "2026-09-02"),
    ],
    "2027-spring": [
        centre(A, "2027-03-01", hall_guidance=False, zone_signs=False),   # 4.3 fails again; 5.5 fixed; 8.7 fixed
        centre(C, "2027-03-03", terminal=False),                    # urban again: 6.2 fails anew
        centre(D, "2027-03-02"),
    ],
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rounds audited by `compliance batch`, plus one round under another rule set."""
    root = tmp_path_factory.mktemp("rounds")
    for name, centres in [*ROUNDS.items(), ("yinzhou-2027", ROUNDS["2027-spring"])]:
        src = root / f"{name}-profiles"
        src.mkdir()
        for doc in centres:
            (src / f"{doc['center']['id']}.json").write_bytes(orjson.dumps(doc))
        rules = ["--rules", "yinzhou"] if name.startswith("yinzhou") else []
        out = run_cli("batch", str(src), "-o", str(root / name), "--jobs", "1", *rules, lang=None)   # as a bureau runs it
        assert out.returncode in (0, 1), out.stderr
    return root


@pytest.fixture
def rounds(made: Path, tmp_path: Path) -> dict[str, Path]:
    copied = {}
    for name in [*ROUNDS, "yinzhou-2027"]:
        shutil.copytree(made / name, tmp_path / name)
        copied[name] = tmp_path / name
    return copied


def stamp(folder: Path, *, audit: dict[str, Any] | None = None, audits: dict[str, dict[str, Any]] | None = None,
          waivers: dict[tuple[str, str], dict[str, Any]] | None = None) -> Path:
    """Give a round's result lines the `audit` block (every centre, or by id) and findings the `waiver` that the
    profile's audit block and a waiver file give them."""
    path = folder / "results.jsonl"
    lines = []
    for line in path.read_bytes().splitlines():
        doc = orjson.loads(line)
        cid = doc["center"]["id"]
        given = (audits or {}).get(cid, audit)
        if given is not None:
            doc["audit"] = given
        for finding in doc["findings"]:
            waiver = (waivers or {}).get((cid, finding["clause"]))
            if waiver is not None:
                finding["waiver"] = waiver
        lines.append(orjson.dumps(doc))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return folder


def inspected(rounds: dict[str, Path]) -> list[Path]:
    return [stamp(rounds[name], audit=INSPECTION) for name in ROUNDS]


def items_of(book: compliance.Ledger) -> dict[tuple[str, str, str], compliance.LedgerItem]:
    return {(i.centre_id, i.clause, i.opened_in): i for i in book}


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


# --------------------------------------------------------------------------- the items and their states

def test_three_inspection_rounds_open_close_keep_void_and_reopen_items_as_the_rules_say(rounds):
    with compliance.ledger(inspected(rounds), as_of="2026-12-31") as book:
        items = items_of(book)
    assert set(items) == {
        (A, "4.3", "2026-spring"), (A, "5.5", "2026-spring"), (A, "4.5", "2026-spring"), (A, "8.7", "2026-spring"),
        (B, "4.3", "2026-spring"), (C, "6.2", "2026-spring"),
        (A, "4.3", "2027-spring"), (C, "6.2", "2027-spring"),
    }
    # closed (销号) by a later inspection that finds the clause met, naming that round
    assert (items[A, "4.3", "2026-spring"].state, items[A, "4.3", "2026-spring"].closed_in) == ("closed", "2026-autumn")
    assert (items[A, "5.5", "2026-spring"].state, items[A, "5.5", "2026-spring"].closed_in) == ("closed", "2027-spring")
    # 8.7 failed, was not evidenced in the autumn (still the same open item), then met
    assert items[A, "8.7", "2026-spring"].closed_in == "2027-spring"
    # failing in every round: one item, from the round it opened in
    assert items[A, "4.5", "2026-spring"].state == "overdue" and items[A, "4.5", "2026-spring"].closed_in is None
    # a centre absent from later rounds keeps its item as it was
    assert items[B, "4.3", "2026-spring"].state == "overdue"
    # void where the clause no longer applies; failing again later is a new item, not a recurrence
    assert (items[C, "6.2", "2026-spring"].state, items[C, "6.2", "2026-spring"].void_in) == ("void", "2026-autumn")
    assert not items[C, "6.2", "2027-spring"].recurred
    # failing again after being closed: a new item, marked recurred
    assert items[A, "4.3", "2027-spring"].recurred and items[A, "4.3", "2027-spring"].state == "open"
    assert not items[A, "4.3", "2026-spring"].recurred
    assert book.counts == {"overdue": 2, "open": 2, "closed": 3, "void": 1}


def test_an_item_keeps_what_was_found_when_it_opened(rounds):
    with compliance.ledger(inspected(rounds), as_of="2026-12-31") as book:
        items = items_of(book)
    hall = items[A, "5.5", "2026-spring"]
    assert (hall.level, hall.veto, hall.found, hall.title) == ("shall", True, "fail", "服务大厅设在一楼")
    assert hall.remedy == "将服务大厅迁至一楼" and hall.amount is None
    sign = items[A, "4.3", "2026-spring"]
    assert (sign.amount, sign.unit, sign.missing) == (1, "items", ("hall_guidance",))
    assert (sign.name, sign.street) == ("测试社区1便民服务中心", "首南街道")
    satisfaction = items[A, "8.7", "2026-spring"]
    assert (satisfaction.found, satisfaction.level, satisfaction.unit) == ("fail", "should", "ratio")
    assert satisfaction.amount == pytest.approx(0.4)


def test_due_dates_count_the_days_for_the_clauses_level_from_the_opening_assessment(rounds):
    with compliance.ledger(inspected(rounds), as_of="2026-12-31") as book:
        items = items_of(book)
    assert DEFAULT_DAYS == {"veto": 30, "shall": 90, "should": 180}
    opened = day("2026-03-01")
    assert items[A, "5.5", "2026-spring"].due == opened + datetime.timedelta(days=30)      # veto
    assert items[A, "4.3", "2026-spring"].due == opened + datetime.timedelta(days=90)      # shall
    assert items[A, "4.5", "2026-spring"].due == opened + datetime.timedelta(days=180)     # should
    assert items[A, "4.3", "2027-spring"].due == day("2027-03-01") + datetime.timedelta(days=90)
    # B gave no date: the round's latest assessment date
    assert items[B, "4.3", "2026-spring"].opened_on == day("2026-03-05")
    assert items[B, "4.3", "2026-spring"].due == day("2026-03-05") + datetime.timedelta(days=90)


def test_days_per_level_and_one_due_date_replace_the_defaults(rounds):
    folders = inspected(rounds)
    with compliance.ledger(folders, as_of="2026-12-31", days={"veto": 10, "should": 5}) as book:
        items = items_of(book)
    assert items[A, "5.5", "2026-spring"].due == day("2026-03-11")
    assert items[A, "4.5", "2026-spring"].due == day("2026-03-06")
    assert items[A, "4.3", "2026-spring"].due == day("2026-05-30")          # shall keeps its 90 days
    with compliance.ledger(folders, as_of="2026-12-31", due=datetime.date(2027, 6, 30)) as book:
        assert {i.due for i in book} == {day("2027-06-30")}
        assert book.counts["overdue"] == 0


def test_overdue_is_judged_on_the_as_of_day_past_the_due_date(rounds):
    folders = inspected(rounds)
    due = day("2026-03-01") + datetime.timedelta(days=180)      # A's 4.5, open through every round
    with compliance.ledger(folders, as_of=due) as book:
        assert items_of(book)[A, "4.5", "2026-spring"].state == "open"          # due today: not yet overdue
    with compliance.ledger(folders, as_of=due + datetime.timedelta(days=1)) as book:
        assert items_of(book)[A, "4.5", "2026-spring"].state == "overdue"


def test_as_of_defaults_to_today_in_china(rounds, monkeypatch):
    from compliance.batch import rectification

    with compliance.ledger(inspected(rounds)) as book:
        assert book.as_of == datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()
    assert rectification.today_in_china() == book.as_of


def test_a_self_checks_pass_does_not_close_an_item_only_an_inspections_does(rounds):
    spring, autumn, spring27 = (rounds[n] for n in ROUNDS)
    stamp(spring, audit=INSPECTION)
    stamp(autumn, audit=SELF_CHECK)            # A's 4.3 passes in a self-check, C's 6.2 no longer applies
    stamp(spring27, audit=INSPECTION)
    with compliance.ledger([spring, autumn], as_of="2026-12-31") as book:
        items = items_of(book)
    assert items[A, "4.3", "2026-spring"].state == "overdue" and items[A, "4.3", "2026-spring"].closed_in is None
    assert items[C, "6.2", "2026-spring"].state == "overdue"
    with compliance.ledger([spring, autumn, spring27], as_of="2026-12-31") as book:
        items = items_of(book)
    # still open when it fails in the next inspection: the same item, not a new one nor a recurrence
    assert (A, "4.3", "2027-spring") not in items and items[A, "4.3", "2026-spring"].state == "overdue"
    assert items[A, "5.5", "2026-spring"].closed_in == "2027-spring"


def test_self_check_rounds_open_no_item(rounds):
    folders = [stamp(rounds[n], audit=SELF_CHECK) for n in ROUNDS]
    with compliance.ledger(folders, as_of="2026-12-31") as book:
        assert len(book) == 0 and list(book) == []
        assert book.counts == {"overdue": 0, "open": 0, "closed": 0, "void": 0}


def test_only_the_inspected_centres_of_a_mixed_round_open_items(rounds):
    spring = stamp(rounds["2026-spring"], audits={A: INSPECTION, B: SELF_CHECK, C: SELF_CHECK})
    with compliance.ledger([spring], as_of="2026-12-31") as book:
        assert {i.centre_id for i in book} == {A}


def test_results_without_an_audit_block_open_items_as_an_inspection_does(rounds):
    folders = [rounds[n] for n in ROUNDS]           # a district's plain round: its profiles say nothing of the audit
    first = orjson.loads((folders[0] / "results.jsonl").read_bytes().splitlines()[0])
    assert first["audit"] == {"kind": "self_check", "declared": False}
    with compliance.ledger(folders, as_of="2026-12-31") as plain, \
            compliance.ledger(inspected(rounds), as_of="2026-12-31") as stamped:
        assert len(plain) > 0 and list(plain) == list(stamped)
    for folder in folders:                         # results written before audits had a kind: the same
        lines = [orjson.loads(line) for line in (folder / "results.jsonl").read_bytes().splitlines()]
        (folder / "results.jsonl").write_bytes(b"\n".join(orjson.dumps({k: v for k, v in d.items() if k != "audit"})
                                                          for d in lines) + b"\n")
    with compliance.ledger(folders, as_of="2026-12-31") as older, \
            compliance.ledger(inspected(rounds), as_of="2026-12-31") as stamped:
        assert list(older) == list(stamped)


def test_the_audit_block_profiles_declare_decides_through_a_real_round(tmp_path):
    """No stamping: profiles that say they are a self-check open nothing, the same said to be an inspection do."""
    folders = {}
    for kind in ("self_check", "inspection"):
        src = tmp_path / f"{kind}-profiles"
        src.mkdir()
        for doc in ROUNDS["2026-spring"]:
            block = {"kind": kind, **({"inspectors": ["王敏"], "responsible": "陈芳"} if kind == "inspection" else {})}
            (src / f"{doc['center']['id']}.json").write_bytes(orjson.dumps({**doc, "audit": block}))
        out = run_cli("batch", str(src), "-o", str(tmp_path / kind), "--jobs", "1")
        assert out.returncode in (0, 1), out.stderr
        folders[kind] = tmp_path / kind
    with compliance.ledger([folders["self_check"]], as_of="2026-12-31") as declared:
        assert len(declared) == 0
    with compliance.ledger([folders["inspection"]], as_of="2026-12-31") as inspection, \
            compliance.ledger([stamp(rounds_copy(folders, tmp_path), audit=INSPECTION)], as_of="2026-12-31") as same:
        assert len(inspection) > 0 and [i.clause for i in inspection] == [i.clause for i in same]


def rounds_copy(folders: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(folders["self_check"], target)
    return target


def test_a_waived_finding_opens_no_item_and_an_expired_waiver_changes_nothing(rounds):
    waiver = {"reason": "历史保护建筑，服务大厅无法迁至一楼", "approved_by": "鄞州区民政局",
              "approved_on": "2026-01-01", "expires_on": "2027-12-31"}
    spring = rounds["2026-spring"]
    stamp(spring, audit=INSPECTION, waivers={(A, "5.5"): waiver})
    lines = [orjson.loads(x) for x in (spring / "results.jsonl").read_bytes().splitlines()]
    for doc in lines:                       # an expired waiver is reported on the finding and changes nothing
        for finding in doc["findings"]:
            if (doc["center"]["id"], finding["clause"]) == (B, "4.3"):
                finding["waiver_expired"] = {**waiver, "expires_on": "2025-12-31"}
    (spring / "results.jsonl").write_bytes(b"\n".join(orjson.dumps(d) for d in lines) + b"\n")
    with compliance.ledger([spring], as_of="2026-12-31") as book:
        keys = {(i.centre_id, i.clause) for i in book}
    assert (A, "5.5") not in keys and (A, "4.3") in keys and (B, "4.3") in keys


def test_round_names_come_from_the_audits_round_where_given(rounds):
    spring = stamp(rounds["2026-spring"], audit={**INSPECTION, "round": "2026年春季考核"})
    autumn = stamp(rounds["2026-autumn"], audit=INSPECTION)
    with compliance.ledger([spring, autumn], as_of="2026-12-31") as book:
        items = items_of(book)
    assert items[A, "4.3", "2026年春季考核"].closed_in == "2026-autumn"


def test_the_ledger_is_ordered_overdue_open_closed_void_then_due_centre_and_clause(rounds):
    with compliance.ledger(inspected(rounds), as_of="2026-12-31") as book:
        items = list(book)
        assert len(book) == len(items) == 8
        assert book[0] == items[0] and book[-1] == items[-1] and list(book[2:4]) == items[2:4]
    rank = {"overdue": 0, "open": 1, "closed": 2, "void": 3}
    order = [c.clause for c in compliance.load_ruleset("national").clauses]
    keys = [(rank[i.state], i.due, i.centre_id, order.index(i.clause)) for i in items]
    assert keys == sorted(keys)
    assert [i.state for i in items] == ["overdue"] * 2 + ["open"] * 2 + ["closed"] * 3 + ["void"]


def test_items_are_immutable_and_the_library_refuses_wrong_argument_types(rounds):
    folders = inspected(rounds)
    with compliance.ledger(folders, as_of="2026-12-31") as book:
        item = book[0]
    with pytest.raises(AttributeError):
        item.state = "closed"      # type: ignore[misc]
    for bad in ({"as_of": 20261231}, {"due": datetime.datetime(2027, 1, 1)}, {"days": [30, 90, 180]},
                {"days": {"shall": "90"}}):
        with pytest.raises(TypeError):
            compliance.ledger(folders, **bad)
    with pytest.raises(TypeError):
        compliance.ledger(42)                          # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compliance.ledger([folders[0], 7])             # type: ignore[list-item]
    with pytest.raises(ValueError):
        compliance.ledger(folders, days={"must": 3})
    with pytest.raises(ValueError):
        compliance.ledger(folders, due="2027-01-01", days={"shall": 3})


def test_two_rule_sets_are_refused_naming_the_line(rounds):
    with pytest.raises(compliance.ComplianceError) as caught:
        compliance.ledger([rounds["2026-spring"], rounds["yinzhou-2027"]])
    assert str(rounds["yinzhou-2027"] / "results.jsonl") + ":1" in str(caught.value)
    assert "'yinzhou'" in str(caught.value) and "'national'" in str(caught.value)


def test_a_folder_that_is_not_a_round_and_a_line_that_is_not_a_result_are_located(rounds, tmp_path):
    with pytest.raises(compliance.ComplianceError, match="nowhere: is not a folder"):
        compliance.ledger([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(compliance.ComplianceError, match="results.jsonl"):
        compliance.ledger([tmp_path / "empty"])
    spring = rounds["2026-spring"]
    with open(spring / "results.jsonl", "ab") as fh:
        fh.write(b'{"center": {"id": "x"}}\n')
    with pytest.raises(compliance.ComplianceError) as caught:
        compliance.ledger([spring])
    assert str(caught.value).startswith(f"{spring / 'results.jsonl'}:5: ")
    with pytest.raises(compliance.ComplianceError, match="twice"):
        compliance.ledger([rounds["2026-autumn"], rounds["2026-autumn"]])


def test_the_temporary_file_is_removed_when_the_ledger_is_closed(rounds):
    book = compliance.ledger(inspected(rounds), as_of="2026-12-31")
    folder = Path(book._db.execute("PRAGMA database_list").fetchone()[2]).parent
    assert folder.is_dir()
    book.close()
    assert not folder.exists()
    with pytest.raises(ValueError):
        list(book)


# --------------------------------------------------------------------------- ledger.csv and ledger.xlsx

def test_ledger_csv_is_utf8_with_a_bom_a_header_of_keys_and_one_row_per_item(rounds, tmp_path):
    out = run_cli("ledger", *map(str, inspected(rounds)), "-o", str(tmp_path / "ledger.csv"), "--as-of", "2026-12-31")
    assert out.returncode == 0, out.stderr
    data = (tmp_path / "ledger.csv").read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    header = data.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:17] == ["centre_id", "name", "street", "clause", "title", "level", "veto", "found", "amount",
                           "unit", "missing", "remedy", "opened_in", "opened_on", "due", "state", "closed_in"]
    assert "recurred" in header
    assert [r["state"] for r in rows] == ["overdue"] * 2 + ["open"] * 2 + ["closed"] * 3 + ["void"]
    hall = next(r for r in rows if (r["centre_id"], r["clause"]) == (A, "5.5"))
    assert (hall["veto"], hall["level"], hall["due"], hall["closed_in"], hall["recurred"]) == \
        ("true", "shall", "2026-03-31", "2027-spring", "false")
    again = next(r for r in rows if (r["centre_id"], r["clause"], r["opened_in"]) == (A, "4.3", "2027-spring"))
    assert again["recurred"] == "true"
    sign = next(r for r in rows if (r["centre_id"], r["clause"], r["opened_in"]) == (A, "4.3", "2026-spring"))
    assert (sign["amount"], sign["unit"], sign["missing"]) == ("1", "items", "hall_guidance")


def test_ledger_xlsx_has_the_chinese_headings_prints_on_a4_landscape_and_colours_overdue_rows(rounds, tmp_path):
    target = tmp_path / "整改台账.xlsx"
    out = run_cli("ledger", *map(str, inspected(rounds)), "-o", str(target), "--as-of", "2026-12-31", lang=None)
    assert out.returncode == 0, out.stderr
    book = openpyxl.load_workbook(target)
    sheet = book.worksheets[0]
    assert sheet.title == "整改台账"
    heads = [c.value for c in sheet[1]]
    for heading in ("序号", "中心编码", "中心名称", "街道", "条款", "问题", "整改要求", "整改时限", "状态", "发现轮次",
                    "销号轮次"):
        assert heading in heads
    col = {h: i for i, h in enumerate(heads)}
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert [r[col["序号"]] for r in rows] == list(range(1, 9))
    assert [r[col["状态"]] for r in rows] == ["逾期"] * 2 + ["未整改·复发", "未整改"] + ["已销号"] * 3 + ["不再适用"]
    hall = next(r for r in rows if (r[col["中心编码"]], r[col["条款"]]) == (A, "5.5"))
    assert hall[col["整改时限"]].date() == day("2026-03-31") and hall[col["销号轮次"]] == "2027-spring"
    assert "否决项" in hall[col["级别"]] and hall[col["问题"]].startswith("服务大厅设在一楼")
    # printing: A4 landscape, the header row on every page, page numbers in the footer, ≥ 8 pt on paper
    assert sheet.page_setup.paperSize == 9 and sheet.page_setup.orientation == "landscape"
    assert sheet.print_title_rows == "$1:$1"
    assert "第 &P 页 共 &N 页" in sheet.oddFooter.center.text
    assert "整改台账" in sheet.oddHeader.center.text
    assert sheet.page_setup.scale * 10 / 100 >= 8
    # overdue rows are coloured, the others are not
    fills = {r: sheet.cell(row=r, column=1).fill.fgColor.rgb for r in range(2, 10)}
    assert fills[2] == fills[3] != fills[4]
    assert all(sheet.cell(row=2, column=c).fill.fgColor.rgb == fills[2] for c in range(1, len(heads) + 1))
    assert sheet.cell(row=2, column=col["整改要求"] + 1).alignment.wrap_text


def test_an_empty_ledger_still_writes_its_headings(rounds, tmp_path):
    folders = [stamp(rounds[n], audit=SELF_CHECK) for n in ROUNDS]
    compliance.write_ledger(compliance.ledger(folders), tmp_path / "ledger.xlsx", lang="zh")
    assert openpyxl.load_workbook(tmp_path / "ledger.xlsx").worksheets[0].max_row == 1
    compliance.write_ledger(compliance.ledger(folders), tmp_path / "ledger.csv")
    assert (tmp_path / "ledger.csv").read_bytes().decode("utf-8-sig").count("\n") == 1


def test_text_from_the_results_never_runs_as_a_formula_in_the_csv(rounds, tmp_path):
    spring = rounds["2026-spring"]
    lines = [orjson.loads(x) for x in (spring / "results.jsonl").read_bytes().splitlines()]
    lines[0]["center"]["name"] = "=HYPERLINK(\"http://x\")"
    (spring / "results.jsonl").write_bytes(b"\n".join(orjson.dumps(d) for d in lines) + b"\n")
    compliance.write_ledger(compliance.ledger([spring], as_of="2026-12-31"), tmp_path / "ledger.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "ledger.csv").read_text("utf-8-sig"))))
    assert {r["name"] for r in rows if r["centre_id"] == A} == {"'=HYPERLINK(\"http://x\")"}


# --------------------------------------------------------------------------- the command line

def test_the_command_says_what_it_wrote_in_chinese_by_default(rounds, tmp_path):
    out = run_cli("ledger", *map(str, inspected(rounds)), "-o", str(tmp_path / "ledger.csv"), "--as-of", "2026-12-31",
                  lang=None)
    assert out.returncode == 0, out.stderr
    assert "整改台账共 8 项：逾期 2 项，未整改 2 项，已销号 3 项，不再适用 1 项" in out.stdout
    assert f"已写入 {tmp_path / 'ledger.csv'}" in out.stdout


def test_rounds_under_two_rule_sets_exit_2_with_a_chinese_problem_naming_the_line(rounds, tmp_path):
    out = run_cli("ledger", str(rounds["2026-spring"]), str(rounds["yinzhou-2027"]), "-o", str(tmp_path / "l.xlsx"),
                  lang=None)
    assert out.returncode == 2
    assert f"{rounds['yinzhou-2027'] / 'results.jsonl'}:1:" in out.stderr
    assert "规则集" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "l.xlsx").exists()


@pytest.mark.parametrize("args, said", [
    (["-o", "ledger.pdf"], "ledger.pdf: 整改台账只能写成"),
    (["-o", "ledger.csv", "--as-of", "2026-02-30"], "'2026-02-30' 不是日期"),
    (["-o", "ledger.csv", "--days", "must=3"], "'must=3' 不是 'LEVEL=DAYS' 的形式"),
    (["-o", "ledger.csv", "--days", "shall=三十"], "'三十' 不是整数天数"),
    (["-o", "ledger.csv", "--due", "2027-01-01", "--days", "shall=3"], "--days"),
])
def test_bad_options_exit_2_with_a_chinese_message(rounds, tmp_path, args, said):
    out = run_cli("ledger", str(rounds["2026-spring"]), *args, cwd=tmp_path, lang=None)
    assert out.returncode == 2
    assert said in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_folder_that_is_not_a_round_exits_2_naming_it(tmp_path):
    out = run_cli("ledger", str(tmp_path), "-o", str(tmp_path / "ledger.csv"), lang=None)
    assert out.returncode == 2
    assert f"{tmp_path}: 其中没有 'results.jsonl'" in out.stderr


def test_a_failed_write_leaves_the_earlier_ledger_whole(rounds, tmp_path):
    target = tmp_path / "ledger.xlsx"
    target.write_bytes(b"last month's ledger")
    out = run_cli("ledger", str(rounds["2026-spring"]), str(tmp_path / "missing-round"), "-o", str(target))
    assert out.returncode == 2
    assert target.read_bytes() == b"last month's ledger"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-autumn", "2026-spring", "2027-spring", "ledger.xlsx",
                                                          "yinzhou-2027"]


def test_the_english_command_speaks_english(rounds, tmp_path):
    out = run_cli("ledger", *map(str, inspected(rounds)), "-o", str(tmp_path / "ledger.xlsx"), "--as-of",
                  "2026-12-31")
    assert out.returncode == 0
    assert "8 items in the ledger: 2 overdue, 2 open, 3 closed, 1 no longer apply" in out.stdout
    heads = [c.value for c in openpyxl.load_workbook(tmp_path / "ledger.xlsx").worksheets[0][1]]
    assert heads[:3] == ["No.", "Centre id", "Name"]



def test_rounds_given_newest_first_are_read_as_given_with_a_warning(rounds, tmp_path):
    spring, autumn = rounds["2026-spring"], rounds["2026-autumn"]
    with compliance.ledger([autumn, spring], as_of="2026-12-31") as book:
        assert [(w.file, w.is_warning) for w in book.warnings] == [(str(spring), True)]
        assert "2026-03-05" in book.warnings[0].message and "2026-09-03" in book.warnings[0].message
    with compliance.ledger([spring, autumn], as_of="2026-12-31") as book:
        assert book.warnings == ()
    out = run_cli("ledger", str(autumn), str(spring), "-o", str(tmp_path / "ledger.csv"), lang=None)
    assert out.returncode == 0
    assert f"{spring}: 警告: 检查日期截至 2026-03-05，早于 '{autumn}'（截至 2026-09-03）" in out.stderr


def test_a_ledger_longer_than_a_sheet_is_refused_as_xlsx_and_written_as_csv(rounds, tmp_path, monkeypatch):
    from compliance.batch import rectification

    monkeypatch.setattr(rectification, "XLSX_MAX_ROWS", 3)
    with compliance.ledger(inspected(rounds), as_of="2026-12-31") as book:
        with pytest.raises(compliance.ComplianceError, match="'.csv'"):
            compliance.write_ledger(book, tmp_path / "ledger.xlsx")
        compliance.write_ledger(book, tmp_path / "ledger.csv")
    assert not (tmp_path / "ledger.xlsx").exists()
    assert len((tmp_path / "ledger.csv").read_text("utf-8-sig").splitlines()) == 9


@pytest.mark.parametrize("line", [b"\x00\xff not json", b"[1, 2]", b'{"center": {"id": 7}, "findings": []}',
                                  b'{"center": {"id": "x"}, "findings": [], "ruleset": "national"}',
                                  b'{"center": {"id": "x"}, "ruleset": {"id": "national"}, "findings": [{"status": "fail"}]}'])
def test_a_damaged_results_line_exits_2_naming_its_line_and_nothing_of_its_bytes(rounds, tmp_path, line):
    spring = rounds["2026-spring"]
    with open(spring / "results.jsonl", "ab") as fh:
        fh.write(b"\n" + line + b"\n")
    out = run_cli("ledger", str(spring), "-o", str(tmp_path / "ledger.csv"), lang=None)
    assert out.returncode == 2
    assert out.stderr.startswith(f"{spring / 'results.jsonl'}:6: 不是审计结果（"), out.stderr
    assert "not json" not in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "ledger.csv").exists()


def test_the_csv_of_a_ledger_equals_the_csv_of_its_items(rounds, tmp_path):
    with compliance.ledger(inspected(rounds), as_of="2026-12-31") as book:
        compliance.write_ledger(book, tmp_path / "from-ledger.csv")
        compliance.write_ledger(list(book), tmp_path / "from-items.csv")
    assert (tmp_path / "from-ledger.csv").read_bytes() == (tmp_path / "from-items.csv").read_bytes()


def test_a_rounds_results_file_may_be_given_for_its_folder(rounds):
    folders = inspected(rounds)
    with compliance.ledger(folders, as_of="2026-12-31") as by_folder, \
            compliance.ledger([f / "results.jsonl" for f in folders], as_of="2026-12-31") as by_file:
        assert list(by_file) == list(by_folder)


def test_the_page_header_stays_inside_what_a_spreadsheet_keeps_with_many_long_round_names(rounds, tmp_path):
    folders = []
    for n, name in enumerate(ROUNDS):
        longer = tmp_path / (f"{n}-鄞州区社区便民服务中心年度规范化建设考核第{n}轮" + "检查" * 30)
        rounds[name].rename(longer)
        folders.append(longer)
    target = tmp_path / "ledger.xlsx"
    compliance.write_ledger(compliance.ledger(folders, as_of="2026-12-31"), target, lang="zh")
    header = openpyxl.load_workbook(target).worksheets[0].oddHeader.center.text
    assert len(header) < 255 and "整改台账" in header and "截至 2026-12-31" in header
    assert "0-鄞州区" in header and "2-鄞州区" in header and "1-鄞州区" not in header


def test_the_workbooks_columns_fit_an_a4_landscape_page_across_at_its_print_scale():
    from compliance.batch.outputs import PRINTABLE_PX, column_px, print_scale
    from compliance.batch.rectification import WIDTHS

    scale = print_scale(WIDTHS)
    assert scale >= 80
    assert sum(column_px(w) for w in WIDTHS) * scale / 100 <= PRINTABLE_PX


def test_the_workbooks_title_names_the_rounds_as_its_rows_do(rounds, tmp_path):
    spring = stamp(rounds["2026-spring"], audit={**INSPECTION, "round": "2026年春季考核"})
    autumn = rounds["2026-autumn"]
    with compliance.ledger([spring, autumn], as_of="2026-12-31") as book:
        assert book.names == ("2026年春季考核", "2026-autumn")
        assert {i.opened_in for i in book} <= set(book.names)
        compliance.write_ledger(book, tmp_path / "ledger.xlsx")
    import openpyxl
    header = openpyxl.load_workbook(tmp_path / "ledger.xlsx").worksheets[0].oddHeader.center.text
    assert "2026年春季考核 → 2026-autumn" in header
