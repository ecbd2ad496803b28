"""Rounds opened in the service, over real HTTP: audits naming a round join it, its progress counts them, and its
files are the command line's own (`compliance batch`, `compliance ledger`) made from each centre's latest inspection
in the round (its latest self-check where it has none)."""
from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import openpyxl
import pytest
import yaml

from conftest import EXAMPLES, run_cli
from test_service import Service, add_user, assert_problem, client

DISTRICT = EXAMPLES / "yinzhou-district"
ROUND = "2026-鄞州-秋季"
DANDINGHE = "330212-BH-0007"
HALL = {"centre": DANDINGHE, "clause": "5.5", "reason": "中心位于文物保护建筑二楼，服务大厅无法迁至一楼",
        "approved_by": "鄞州区民政局", "approved_on": "2026-03-01", "expires_on": "2027-12-31"}
SELF_CHECKS = 12                   # the first centres of the district's file self-check in the round


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    svc = Service(tmp_path_factory.mktemp("rounds"))
    svc.tokens = {"bureau": add_user(svc.db, "bureau1", "bureau"), "system": add_user(svc.db, "integration", "system"),
                  "dandinghe": add_user(svc.db, "dandinghe", "community", DANDINGHE)}
    svc.args = ["--rules", "yinzhou"]
    svc.start()
    yield svc
    svc.stop()


def in_round(doc: dict[str, Any], kind: str = "self_check", round_id: str = ROUND) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    doc.pop("evidence", None)              # (the service names evidence by hash: another part's)
    doc["audit"] = {**doc.get("audit", {}), "kind": kind, "round": round_id}
    if kind == "inspection":
        doc["audit"].setdefault("inspectors", ["王敏"])
    return doc


def self_checks() -> list[dict[str, Any]]:
    lines = (DISTRICT / "centres.jsonl").read_text("utf-8").splitlines()
    return [in_round(json.loads(line)) for line in lines[:SELF_CHECKS]]


def inspections() -> list[dict[str, Any]]:
    """Two of the district's inspections, of centres that also self-checked."""
    ids = {d["center"]["id"] for d in self_checks()}
    found = []
    for path in sorted((DISTRICT / "2026-inspection").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        if doc["center"]["id"] in ids:
            doc["center"]["assessed_on"] = str(doc["center"]["assessed_on"])
            found.append(in_round(doc, "inspection"))
    assert len(found) >= 1, "the example's inspections are of centres in its first lines"
    return found[:2]


def wait_for_file(c: httpx.Client, url: str, seconds: float = 240) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = c.get(url)
        if r.status_code != 202:
            return r
        assert r.json()["status"] == "making" and r.headers["retry-after"]
        time.sleep(0.5)
    raise AssertionError(f"{url} was not made")


@pytest.fixture(scope="module")
def opened(service: Any) -> dict[str, Any]:
    """The round opened and joined: the district's first centres self-check in it, two are inspected, 丹顶鹤 has a
    waiver, and one audit names the round under another rule set (it does not join)."""
    with client(service, "bureau") as c:
        assert c.post("/v1/waivers", json=HALL).status_code == 201
        r = c.post("/v1/rounds", json={"id": ROUND, "name": "2026年鄞州区秋季考核", "rules": "yinzhou",
                                       "region": {"district": "鄞州区"}, "self_check_due": "2026-10-31",
                                       "inspection_due": "2026-12-15"})
        assert r.status_code == 201, r.text
        for doc in self_checks():
            assert c.post("/v1/audits?rules=yinzhou", json=doc).status_code == 201
        for doc in inspections():
            assert c.post("/v1/audits?rules=yinzhou", json=doc).status_code == 201, doc["center"]["id"]
        other = self_checks()[0]
        other["center"]["id"] = "330212-ZZ-0001"
        assert c.post("/v1/audits?rules=national", json=other).status_code == 201
    return r.json()


def test_a_bureau_opens_a_round_once(service, opened):
    assert opened["id"] == ROUND and opened["rules"] == "yinzhou" and opened["region"] == {"district": "鄞州区"}
    assert opened["self_check_due"] == "2026-10-31" and opened["opened_by"] == "bureau1"
    with client(service, "bureau") as c:
        again = assert_problem(c.post("/v1/rounds", json={"id": ROUND, "name": "x"}), 409)
        assert ROUND in again["detail"]
        listed = c.get("/v1/rounds").json()["rounds"]
        assert ROUND in [r["id"] for r in listed]
        assert_problem(c.get("/v1/rounds/nope"), 404)
    for who in ("system", "dandinghe"):
        with client(service, who) as c:
            assert_problem(c.post("/v1/rounds", json={"id": "x", "name": "x"}), 403)


@pytest.mark.parametrize("body, path", [
    ({"name": "x"}, "$"),
    ({"id": "a/b", "name": "x"}, "$.id"),
    ({"id": "x" * 65, "name": "x"}, "$.id"),
    ({"id": "x", "name": " "}, "$.name"),
    ({"id": "x", "name": "x", "rules": "atlantis"}, "$.rules"),
    ({"id": "x", "name": "x", "region": {"distrct": "鄞州区"}}, "$.region.distrct"),
    ({"id": "x", "name": "x", "self_check_due": "2026-02-30"}, "$.self_check_due"),
    ({"id": "x", "name": "x", "self_check_due": "2026-11-01", "inspection_due": "2026-10-01"}, "$.inspection_due"),
    ({"id": "x", "name": "x", "nmae": "y"}, "$.nmae"),
    ([1, 2], "$"),
])
def test_a_bad_round_is_422_located(service, body, path):
    with client(service, "bureau") as c:
        doc = assert_problem(c.post("/v1/rounds", json=body), 422)
    assert path in [p["path"] for p in doc["problems"]], doc


def test_the_rounds_progress_counts_its_centres(service, opened):
    with client(service, "bureau") as c:
        doc = c.get(f"/v1/rounds/{ROUND}").json()
        listed = c.get("/v1/actions", params={"round": ROUND, "limit": 1000}).json()["actions"]
    assert doc["progress"]["centres"] == SELF_CHECKS                       # not the one under another rule set
    assert doc["progress"]["self_checked"] == SELF_CHECKS
    assert doc["progress"]["inspected"] == len(inspections())
    # the round's actions as the live ledger lists them: open (or waiting for review) and overdue
    states = [a["state"] for a in listed]
    assert listed and doc["progress"]["overdue_actions"] == states.count("overdue")
    assert doc["progress"]["open_actions"] == states.count("open") + states.count("fixed_pending_review")
    assert set(doc["files"]) == {"summary.xlsx", "summary.csv", "district-report.pdf", "ledger.xlsx"}


def test_a_community_sees_its_own_progress_and_not_the_files(service, opened):
    with client(service, "dandinghe") as c:
        doc = c.get(f"/v1/rounds/{ROUND}").json()
        assert doc["progress"]["centres"] == 1 and doc["progress"]["open_actions"] is None
        assert "files" not in doc
        assert ROUND in [r["id"] for r in c.get("/v1/rounds").json()["rounds"]]
        for name in ("summary.csv", "ledger.xlsx"):
            assert_problem(c.get(f"/v1/rounds/{ROUND}/files/{name}"), 403)


def test_the_round_files_are_the_command_lines(service, opened, tmp_path):
    with client(service, "bureau", lang=None) as c:                # in Chinese, as a bureau officer reads them
        first = c.get(f"/v1/rounds/{ROUND}/files/summary.csv")
        assert first.status_code in (200, 202)
        got = {name: wait_for_file(c, f"/v1/rounds/{ROUND}/files/{name}")
               for name in ("summary.csv", "summary.xlsx", "district-report.pdf", "ledger.xlsx")}
        assert_problem(c.get(f"/v1/rounds/{ROUND}/files/results.jsonl"), 404)
        assert_problem(c.get(f"/v1/rounds/{ROUND}/files/..%2Fservice.db"), 404)
    for name, r in got.items():
        assert r.status_code == 200, (name, r.text)
        disposition = r.headers["content-disposition"]
        assert "filename*=UTF-8''2026" in disposition and name in disposition
    # The command line on the same profiles: each centre's inspection where it has one, else its self-check.
    chosen = {d["center"]["id"]: d for d in self_checks()}
    chosen.update({d["center"]["id"]: d for d in inspections()})
    (tmp_path / "centres.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n"
                                                    for d in chosen.values()), "utf-8")
    (tmp_path / "waivers.yaml").write_text(yaml.safe_dump({"waivers": [HALL]}, allow_unicode=True), "utf-8")
    out = run_cli("batch", "centres.jsonl", "--rules", "yinzhou", "-o", "out", "--waivers", "waivers.yaml",
                  cwd=tmp_path)
    assert out.returncode in (0, 1), out.stderr
    expected = list(csv.DictReader(io.StringIO((tmp_path / "out" / "summary.csv").read_text("utf-8-sig"))))
    found = list(csv.DictReader(io.StringIO(got["summary.csv"].content.decode("utf-8-sig"))))
    assert found == expected and len(found) == SELF_CHECKS
    assert "unwaived_score" in found[0]                                    # 丹顶鹤's waiver, as stored
    summary = openpyxl.load_workbook(io.BytesIO(got["summary.xlsx"].content))
    assert summary.worksheets[0].max_row > SELF_CHECKS
    ledger = openpyxl.load_workbook(io.BytesIO(got["ledger.xlsx"].content)).worksheets[0]
    cells = [str(c.value) for row in ledger.iter_rows() for c in row if c.value is not None]
    assert "整改时限" in cells and any(ROUND in v for v in cells)           # the round names its items
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(got["district-report.pdf"].content)
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert int(pages.split("Pages:")[1].split()[0]) >= 1
    words = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "鄞州区" in words and "合格" in words


def test_the_files_are_kept_until_a_new_audit_joins(service):
    lines = (DISTRICT / "centres.jsonl").read_text("utf-8").splitlines()[-3:]
    with client(service, "bureau") as c:
        assert c.post("/v1/rounds", json={"id": "kept", "name": "缓存的轮次", "rules": "yinzhou"}).status_code == 201
        for line in lines[:2]:
            assert c.post("/v1/audits?rules=yinzhou", json=in_round(json.loads(line), round_id="kept")).status_code == 201
        url = "/v1/rounds/kept/files/summary.csv"
        first = wait_for_file(c, url)
        assert first.status_code == 200 and len(first.text.strip().splitlines()) == 1 + 2
        assert c.get(url).status_code == 200                                        # kept
        assert c.post("/v1/audits?rules=yinzhou", json=in_round(json.loads(lines[2]), round_id="kept")).status_code == 201
        assert c.get(url).status_code == 202                                        # made again
        again = wait_for_file(c, url)
        assert again.status_code == 200 and len(again.text.strip().splitlines()) == 1 + 3


def test_a_round_with_no_audit_has_no_files_yet(service):
    with client(service, "bureau") as c:
        assert c.post("/v1/rounds", json={"id": "empty", "name": "空的轮次"}).status_code == 201
        assert c.get("/v1/rounds/empty").json()["progress"]["centres"] == 0
        assert_problem(c.get("/v1/rounds/empty/files/summary.csv"), 409)


def test_round_records_are_append_only_in_the_database(service, opened):
    db = sqlite3.connect(service.db_path)
    try:
        for statement in ("update rounds set name = 'x'", "delete from round_audits"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
    finally:
        db.close()




# --------------------------------------------------------------------------- several processes on one round's files
# Two RoundFiles on one database and one data folder stand for two service processes: what decides which of them
# makes a round's files is the lease in the database, as between processes.

CENTRES = 4


def _stored_round(folder: Path) -> tuple[Any, Any]:
    """An SQLite store with a round the district's first CENTRES centres self-checked in (stored as the API stores
    them), and the round's row."""
    from compliance.service import rounds
    from compliance.service.common import load_bundled, profile_from, submit_audit
    from compliance.service.store import Store

    store = Store(f"sqlite:///{folder / 'service.db'}")
    store.on_audits.append(rounds.joined)
    account = store.add_account("bureau1", "bureau", None, "0" * 64)
    with store.engine.begin() as db:
        db.execute(rounds.rounds.insert(), {"id": ROUND, "name": "两个进程", "rules": "yinzhou", "created_by": "bureau1",
                                            "created_at": datetime.datetime.now(datetime.timezone.utc)})
    ruleset = load_bundled("yinzhou")
    for doc in self_checks()[:CENTRES]:
        raw = json.dumps(doc, ensure_ascii=False).encode()
        submit_audit(store, account, profile_from(raw, "application/json", ruleset, "request"), ruleset, raw,
                     "application/json")
    return store, rounds.get_round(store, ROUND)


class Commands:
    """The command lines the round files run (``batch``, ``ledger``), counted across every RoundFiles of the test;
    with ``hang``, the first ledger is a process that sleeps instead (its holder stops there, as if it died)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, hang: bool = False) -> None:
        self.runs: list[str] = []
        self.hang = hang
        real = subprocess.Popen

        def popen(command: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(command, list) and command[1:3] == ["-m", "compliance"]:
                self.runs.append(command[3])
                if self.hang and command[3] == "ledger":
                    self.hang = False
                    command = [sys.executable, "-c", "import time; time.sleep(120)"]
            return real(command, *args, **kwargs)

        monkeypatch.setattr(subprocess, "Popen", popen)


def _until_done(files: Any, round_row: Any, seconds: float = 120) -> tuple[str, Path, dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = files.state(round_row, "en")
        if state[0] != "making":
            return state
        time.sleep(0.1)
    raise AssertionError("the round's files were not made")


def _job(store: Any, round_row: Any) -> tuple[str, int, str]:
    from compliance.service.rounds import RoundFiles, members

    return ROUND, RoundFiles.stamp(members(store, round_row)), "en"


def test_two_processes_asked_at_once_make_a_rounds_files_once(tmp_path, monkeypatch):
    from compliance.service.rounds import JOB, RoundFiles

    store, round_row = _stored_round(tmp_path)
    commands = Commands(monkeypatch)
    a, b = (RoundFiles(store, tmp_path / "data", owner=f"host-{n}:{n}:x") for n in "ab")
    for files in (a, b):
        files.start()
    try:
        answers: list[str] = []
        threads = [threading.Thread(target=lambda f=f: answers.append(f.state(round_row, "en")[0]))
                   for f in (a, b, a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == ["making"] * 6
        for files in (b, a):                 # both read the progress from the shared folder, and then the files
            state, home, _ = _until_done(files, round_row)
            assert state == "done" and files.file(home, "summary.csv") is not None
    finally:
        for files in (a, b):
            files.stop()
    assert commands.runs == ["batch", "ledger"]                   # made once, by one of them
    job = _job(store, round_row)
    owner, _, claims = a.leases.held(JOB, a.job_id(*job)) or ("?", None, 0)
    assert owner is None and claims == 1                            # claimed once, and given back
    assert [p.name for p in a.home(*job).parent.iterdir()] == [a.home(*job).name]   # no work folder left beside it
    lines = (a.home(*job) / "out" / "summary.csv").read_text("utf-8-sig").strip().splitlines()
    assert len(lines) == 1 + CENTRES


def test_a_holder_that_stopped_renewing_is_taken_over_and_its_round_resumed(tmp_path, monkeypatch):
    """The first holder made the batch and stopped in the ledger (it hangs, its lease not renewed): asked for the files
    once its deadline has passed, the other takes the job over and makes the ledger only, in the same work folder."""
    from compliance.service.processes import leases
    from compliance.service.rounds import JOB, RoundFiles

    store, round_row = _stored_round(tmp_path)
    commands = Commands(monkeypatch, hang=True)
    first = RoundFiles(store, tmp_path / "data", owner="gone:1:x")
    other = RoundFiles(store, tmp_path / "data", owner="live:2:y")
    other.poll = 3600                                # taken over because it is asked, not by its look for such work
    job = _job(store, round_row)
    work, home = first.work(*job), first.home(*job)
    first.start()
    other.start()
    try:
        assert first.state(round_row, "en")[0] == "making"
        deadline = time.monotonic() + 60
        while commands.runs != ["batch", "ledger"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert commands.runs == ["batch", "ledger"] and (work / "batch.json").is_file()
        state, _, progress = other.state(round_row, "en")
        # Half made: never served as the files, and the other process leaves it to its holder while it holds it.
        assert state == "making" and progress["total"] == CENTRES and not home.exists()
        time.sleep(0.5)
        assert commands.runs == ["batch", "ledger"]

        def unreachable(*_: Any) -> bool:
            raise OSError("the database cannot be reached")

        # From here its renewals fail (else one could land just after the deadline is moved, and hold on to it).
        monkeypatch.setattr(first.leases, "renew", unreachable)
        with store.engine.begin() as db:             # 30 s without a renewal: its deadline passes
            db.execute(leases.update().where(leases.c.owner == "gone:1:x").values(
                expires_at=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)))
        state, home, _ = _until_done(other, round_row)
        assert state == "done" and other.file(home, "ledger.xlsx") is not None
        assert commands.runs == ["batch", "ledger", "ledger"]      # resumed: the batch was not run again
        deadline = time.monotonic() + 10                # the holder gives the job back just after it writes done
        while (held := other.leases.held(JOB, other.job_id(*job)) or ("?", None, 0))[0] is not None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        owner, _, claims = held
        assert owner is None and claims == 2
    finally:
        first.stop()                                 # its sleeping ledger ends; it must not touch what was made
        other.stop()
    assert not work.exists() and (home / "done.json").is_file() and other.file(home, "summary.xlsx") is not None
    assert other.leases.held(JOB, other.job_id(*job)) == (None, None, 2)


def test_a_job_left_by_a_dead_process_is_found_by_the_scan_and_made(tmp_path, monkeypatch):
    from compliance.service.processes import Leases
    from compliance.service.rounds import JOB, RoundFiles

    store, round_row = _stored_round(tmp_path)
    commands = Commands(monkeypatch)
    files = RoundFiles(store, tmp_path / "data", owner="live:2:y")
    files.poll = 0.2
    job = _job(store, round_row)
    dead = Leases(store, "gone:1:x", seconds=1.5)
    assert dead.claim(JOB, files.job_id(*job))
    files.start()
    try:
        # Its holder's deadline not yet passed: reported as being made, and nothing started here.
        state, _, progress = files.state(round_row, "en")
        assert state == "making" and progress == {"done": 0, "total": CENTRES}
        time.sleep(0.5)
        assert commands.runs == [] and files.leases.held(JOB, files.job_id(*job))[0] == "gone:1:x"
        # Then nobody asks again: the worker's look for abandoned work finds it.
        deadline = time.monotonic() + 90
        while not (files.home(*job) / "done.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        files.stop()
    assert commands.runs == ["batch", "ledger"]
    assert files.state(round_row, "en")[0] == "done"
    assert files.leases.held(JOB, files.job_id(*job))[::2] == (None, 2)


def test_a_job_taken_up_too_many_times_fails_saying_so_in_chinese(tmp_path, monkeypatch):
    from compliance.service.batches import MAX_CLAIMS
    from compliance.service.processes import Leases
    from compliance.service.rounds import JOB, RoundFiles

    store, round_row = _stored_round(tmp_path)
    commands = Commands(monkeypatch)
    files = RoundFiles(store, tmp_path / "data", owner="live:2:y")
    job = _job(store, round_row)
    for n in range(MAX_CLAIMS):                      # each claimed and left part-way
        holder = Leases(store, f"gone:{n}:x")
        assert holder.claim(JOB, files.job_id(*job))
        holder.leave(JOB, files.job_id(*job))
    files.start()
    try:
        state, home, _ = _until_done(files, round_row, 30)
    finally:
        files.stop()
    assert state == "failed" and commands.runs == []
    assert "中断次数过多" in files.failure(home).text("zh")
    assert "interrupted too many times" in files.failure(home).text("en")


# --------------------------------------------------------------------------- the bureau's rounds page

@contextlib.contextmanager
def web_session(service: Any, name: str, who: str) -> Iterator[httpx.Client]:
    """A browser-like client logged in to the pages (session cookie, CSRF), reading Chinese."""
    from test_web import csrf_of

    with httpx.Client(base_url=service.url, follow_redirects=False, timeout=60) as c:
        csrf = csrf_of(c.get("/login").text)
        assert c.post("/login", data={"csrf": csrf, "name": name, "secret": service.tokens[who]}).status_code == 303
        yield c


def round_card(html: str, name: str) -> str:
    """The page's card of the round called ``name``."""
    start = html.index(f"<h2>{name}</h2>")
    return html[start:html.index("</li>", start)]


def test_the_rounds_page_lists_a_round_with_its_name_and_progress(service, opened):
    from urllib.parse import quote as percent

    with web_session(service, "bureau1", "bureau") as c:
        r = c.get("/rounds")
        assert r.status_code == 200, r.text
        assert '<a href="/rounds">考核轮次</a>' in c.get("/dashboard").text          # the header's link
        english = c.get("/rounds", params={"lang": "en"}).text
    card = round_card(r.text, "2026年鄞州区秋季考核")
    assert ROUND in card and "宁波市鄞州区" in card and "2026-10-31" in card and "2026-12-15" in card
    assert f"{SELF_CHECKS} / {SELF_CHECKS} 个中心" in card                        # self-checked
    assert f"{len(inspections())} / {SELF_CHECKS} 个中心" in card                  # inspected
    with client(service, "bureau") as api:
        progress = api.get(f"/v1/rounds/{ROUND}").json()["progress"]
    assert f"未整改 {progress['open_actions']} 项" in card and f"逾期 {progress['overdue_actions']} 项" in card
    for name in ("summary.xlsx", "summary.csv", "district-report.pdf", "ledger.xlsx"):
        assert f'href="/rounds/{percent(ROUND, safe="")}/files/{name}"' in card
    assert "整改台账（Excel）" in card and "区级报告（PDF）" in card
    en = round_card(english, "2026年鄞州区秋季考核")
    assert f"{len(inspections())} of {SELF_CHECKS} centres" in en and "rectification ledger (Excel)" in en
    assert "Open a round" in english and "考核轮次" not in english.split("<main>")[1]


def test_opening_a_round_on_the_page_and_a_bad_one_in_chinese_at_its_field(service, opened):
    with web_session(service, "bureau1", "bureau") as c:
        from test_web import csrf_of

        csrf = csrf_of(c.get("/rounds").text)
        done = c.post("/rounds", data={"csrf": csrf, "id": "2026-网页-冬季", "name": "2026年冬季考核（网页）",
                                       "rules": "yinzhou", "self_check_due": "2026-12-01",
                                       "inspection_due": "2026-12-20"})
        assert done.status_code == 303 and done.headers["location"].startswith("/rounds?opened=")
        page = c.get(done.headers["location"]).text
        assert "已开启考核轮次 2026-网页-冬季" in page
        card = round_card(page, "2026年冬季考核（网页）")
        assert "2026-12-20" in card and "尚无自评或检查计入该轮次" in card
        assert page.index("2026年冬季考核（网页）") < page.index("2026年鄞州区秋季考核")         # newest first
        bad = c.post("/rounds", data={"csrf": csrf, "id": "2026-网页-坏", "name": " ", "rules": "yinzhou",
                                      "self_check_due": "2026-12-01", "inspection_due": "2026-11-01"})
        assert bad.status_code == 422
        at_name = bad.text.split('id="round-name-error"')[1].split("</p>")[0]
        assert "必填项，请填写" in at_name and "name" not in at_name          # at the field, not by the key
        at_due = bad.text.split('id="round-inspection_due-error"')[1].split("</p>")[0]
        assert "考核截止日期 2026-11-01 早于自评截止日期 2026-12-01" in at_due
        assert 'value="2026-网页-坏"' in bad.text                                   # what was typed is kept
        again = c.post("/rounds", data={"csrf": csrf, "id": "2026-网页-冬季", "name": "又一次", "rules": "yinzhou"})
        assert again.status_code == 422
        at_id = again.text.split('id="round-id-error"')[1].split("</p>")[0]
        assert "2026-网页-冬季" in at_id and "已经设立" in at_id
        forged = c.post("/rounds", data={"id": "x", "name": "x", "rules": "yinzhou"})
        assert forged.status_code == 403 and "表单已过期" in forged.text
    with client(service, "bureau") as api:
        ids = [r["id"] for r in api.get("/v1/rounds").json()["rounds"]]
    assert "2026-网页-冬季" in ids and "2026-网页-坏" not in ids and "x" not in ids


def test_a_community_account_has_no_rounds_page(service, opened):
    from test_web import csrf_of

    with web_session(service, "dandinghe", "dandinghe") as c:
        assert 'href="/rounds"' not in c.get(f"/centres/{DANDINGHE}").text
        assert c.get("/rounds").status_code == 403
        assert c.get(f"/rounds/{ROUND}/files/ledger.xlsx").status_code == 403
        csrf = csrf_of(c.get(f"/centres/{DANDINGHE}").text)
        assert c.post("/rounds", data={"csrf": csrf, "id": "c", "name": "c", "rules": "yinzhou"}).status_code == 403
    with client(service, "bureau") as api:
        assert "c" not in [r["id"] for r in api.get("/v1/rounds").json()["rounds"]]


def test_the_ledger_downloads_from_the_page_under_a_chinese_name(service, opened):
    from urllib.parse import quote as percent

    url = f"/rounds/{percent(ROUND, safe='')}/files/ledger.xlsx"
    deadline = time.monotonic() + 240
    with web_session(service, "bureau1", "bureau") as c:
        r = c.get(url)
        while r.status_code == 202 and time.monotonic() < deadline:
            assert "text/html" in r.headers["content-type"]
            assert '<meta http-equiv="refresh" content="3">' in r.text and "正在生成…（已完成 " in r.text
            time.sleep(1)
            r = c.get(url)
        assert c.get(f"/rounds/{percent(ROUND, safe='')}/files/results.jsonl").status_code == 404
        assert c.get("/rounds/nope/files/ledger.xlsx").status_code == 404
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].endswith(percent("2026年鄞州区秋季考核-整改台账.xlsx", safe=""))
    ledger = openpyxl.load_workbook(io.BytesIO(r.content)).worksheets[0]
    cells = [str(v) for row in ledger.iter_rows(values_only=True) for v in row if v is not None]
    assert "整改时限" in cells


def test_the_making_page_counts_and_refreshes(service):
    """A round whose files are not made yet: the page says how far they are and asks again by itself."""
    lines = (DISTRICT / "centres.jsonl").read_text("utf-8").splitlines()[20:26]
    with client(service, "bureau") as api:
        assert api.post("/v1/rounds", json={"id": "making", "name": "正在生成的轮次", "rules": "yinzhou"}).status_code \
            == 201
        for line in lines:
            assert api.post("/v1/audits?rules=yinzhou", json=in_round(json.loads(line), round_id="making")) \
                .status_code == 201
    with web_session(service, "bureau1", "bureau") as c:
        r = c.get("/rounds/making/files/summary.csv")
    if r.status_code == 200:
        pytest.skip("the files were made before the page was asked")
    assert r.status_code == 202 and r.headers["retry-after"] == "3"
    assert "正在生成…（已完成 " in r.text and f" / 共 {len(lines)}）" in r.text and "正在生成的轮次" in r.text


def test_on_a_phone_the_bureau_opens_rounds_and_downloads_the_ledger(service, opened, browser, tmp_path):
    from test_web import log_in, new_page

    page = new_page(browser)
    log_in(page, service, "bureau1", "bureau")
    page.click("nav >> text=考核轮次")
    page.wait_for_url("**/rounds")
    assert page.locator("h1").inner_text() == "考核轮次"
    card = page.locator("li.round-card", has_text="2026年鄞州区秋季考核")
    assert f"{SELF_CHECKS} / {SELF_CHECKS} 个中心" in card.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")     # nothing wider than the phone
    page.screenshot(path=str(tmp_path / "rounds-phone.png"), full_page=True)
    with page.expect_download(timeout=240_000) as waiting:
        card.locator("a[data-file='ledger.xlsx']").click()
    download = waiting.value
    assert download.suggested_filename == "2026年鄞州区秋季考核-整改台账.xlsx"
    saved = tmp_path / "ledger.xlsx"
    download.save_as(saved)
    assert openpyxl.load_workbook(saved).worksheets[0].max_row > 1
