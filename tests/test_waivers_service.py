"""Waivers granted in the service, over real HTTP: one record of a waiver file, checked by the same code, kept as
granted and revoked once; audits stored while one is in force (one by one, or in a batch) apply it, and the centre's
page lists them."""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterator

import httpx
import pytest
import yaml

from conftest import EXAMPLES, run_cli
from test_service import Service, add_user, assert_problem, client, wait_for_batch

DISTRICT = EXAMPLES / "yinzhou-district"
DANDINGHE = "330212-BH-0007"            # 丹顶鹤: its hall is on the first floor of a protected building
HALL = {"centre": DANDINGHE, "clause": "5.5", "reason": "中心位于文物保护建筑二楼，服务大厅无法迁至一楼",
        "approved_by": "鄞州区民政局", "approved_on": "2026-03-01", "expires_on": "2027-12-31"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    svc = Service(tmp_path_factory.mktemp("waivers"))
    svc.tokens = {"bureau": add_user(svc.db, "bureau1", "bureau"), "system": add_user(svc.db, "integration", "system"),
                  "dandinghe": add_user(svc.db, "dandinghe", "community", DANDINGHE),
                  "other": add_user(svc.db, "elsewhere", "community", "330212-XX-9999")}
    svc.args = ["--rules", "yinzhou"]
    svc.start()
    yield svc
    svc.stop()


def dandinghe(**changes: Any) -> dict[str, Any]:
    """丹顶鹤's self-check as the district's file has it (its hall on the second floor: clause 5.5 fails)."""
    for line in (DISTRICT / "centres.jsonl").read_text("utf-8").splitlines():
        doc = json.loads(line)
        if doc["center"]["id"] == DANDINGHE:
            doc["center"].update(changes)
            return doc
    raise AssertionError("no 丹顶鹤 in the example")


def finding(result: dict[str, Any], clause: str) -> dict[str, Any]:
    return next(f for f in result["findings"] if f["clause"] == clause)


def test_a_bureau_grants_a_waiver_once_and_others_may_not(service):
    with client(service, "bureau") as c:
        r = c.post("/v1/waivers", json=HALL)
        assert r.status_code == 201, r.text
        granted = r.json()
        assert granted["id"] and granted["centre"] == DANDINGHE and granted["clause"] == "5.5"
        assert granted["granted_by"] == "bureau1" and granted["revoked"] is None and granted["in_force"] is True
        assert granted["rules"] == "yinzhou"             # checked against the service's rule set
        again = c.post("/v1/waivers", content=yaml.safe_dump(HALL, allow_unicode=True).encode(),
                       headers={"Content-Type": "application/yaml"})
        assert again.status_code == 200 and again.json()["id"] == granted["id"]     # sent twice, granted once
    for who in ("system", "dandinghe"):
        with client(service, who) as c:
            assert_problem(c.post("/v1/waivers", json=HALL), 403)


@pytest.mark.parametrize("record, path, says", [
    ({**HALL, "clause": "5.55"}, "$.clause", "no clause"),
    ({**HALL, "expires_on": "2025-01-01"}, "$.expires_on", "before it was approved"),
    ({**HALL, "approved_on": "2026-02-30"}, "$.approved_on", "not a date in the calendar"),
    ({**HALL, "reason": "  "}, "$.reason", "blank"),
    ({**HALL, "clause": 5.5}, "$.clause", "quotes"),
    ({**HALL, "aproved_by": "x"}, "$.aproved_by", "approved_by"),
    ({k: v for k, v in HALL.items() if k != "centre"}, "$", "centre"),
    (["not", "a", "mapping"], "$", "mapping"),
])
def test_a_bad_record_is_422_located_as_in_a_waiver_file(service, record, path, says):
    with client(service, "bureau") as c:
        doc = assert_problem(c.post("/v1/waivers", json=record), 422)
    assert any(p["path"] == path and says in p["message"] for p in doc["problems"]), doc


def test_problems_are_chinese_by_default(service):
    with client(service, "bureau", lang=None) as c:
        doc = assert_problem(c.post("/v1/waivers", json={**HALL, "expires_on": "2025-01-01"}), 422)
        assert_problem(c.post("/v1/waivers", content=b"x", headers={"Content-Type": "text/plain"}), 415)
    assert doc["title"] == "豁免事项无效" and "早于" in doc["problems"][0]["message"], doc


def test_a_community_lists_only_its_own_centres_waivers(service):
    with client(service, "bureau") as c:
        c.post("/v1/waivers", json=HALL)
        everyone = c.get("/v1/waivers").json()["waivers"]
        assert {w["centre"] for w in everyone} == {DANDINGHE}
        assert c.get("/v1/waivers", params={"centre": "330212-XX-9999"}).json()["waivers"] == []
    with client(service, "dandinghe") as c:
        mine = c.get("/v1/waivers").json()
        assert mine["centre"] == DANDINGHE and {w["clause"] for w in mine["waivers"]} == {"5.5"}
        assert c.get("/v1/waivers", params={"centre": DANDINGHE}).json() == mine
    with client(service, "other") as c:
        assert c.get("/v1/waivers").json()["waivers"] == []
        assert_problem(c.get("/v1/waivers", params={"centre": DANDINGHE}), 404)    # as another centre's audits
        waiver_id = everyone[0]["id"]
        assert_problem(c.post(f"/v1/waivers/{waiver_id}/revoke"), 404)
    with client(service, "dandinghe") as c:
        assert_problem(c.post(f"/v1/waivers/{waiver_id}/revoke"), 403)


def test_audits_stored_while_a_waiver_is_in_force_apply_it_and_revoking_ends_it(service, tmp_path):
    with client(service, "bureau") as c:
        granted = c.post("/v1/waivers", json=HALL).json()
        r = c.post("/v1/audits?rules=yinzhou", json=dandinghe(assessed_on="2026-10-14"))
        assert r.status_code == 201, r.text
        waived = r.json()
        assert finding(waived, "5.5")["status"] in ("fail", "partial", "missing")
        assert finding(waived, "5.5")["waiver"]["reason"] == HALL["reason"]
        assert waived["unwaived"]["score"] <= waived["score"]
        # the command line gives the same result with the same record in a waiver file
        revoked = c.post(f"/v1/waivers/{granted['id']}/revoke", json={"note": "已迁至一楼"})
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked"]["by"] == "bureau1" and revoked.json()["revoked"]["note"] == "已迁至一楼"
        assert revoked.json()["in_force"] is False
        twice = assert_problem(c.post(f"/v1/waivers/{granted['id']}/revoke"), 409)
        assert "bureau1" in twice["detail"]
        assert_problem(c.post("/v1/waivers/nope/revoke"), 404)
        # the record stays, marked revoked
        kept = [w for w in c.get("/v1/waivers", params={"centre": DANDINGHE}).json()["waivers"]
                if w["id"] == granted["id"]]
        assert kept and kept[0]["revoked"]["by"] == "bureau1"
        after = c.post("/v1/audits?rules=yinzhou", json=dandinghe(assessed_on="2026-10-15"))
        assert after.status_code == 201
        assert "waiver" not in finding(after.json(), "5.5") and "unwaived" not in after.json()
        # the audit stored while it was in force keeps it
        assert finding(c.get(f"/v1/audits/{waived['id']}").json(), "5.5")["waiver"]
    # the command line, given the same record in a waiver file, gives the same result
    (tmp_path / "profile.json").write_text(json.dumps(dandinghe(assessed_on="2026-10-14"), ensure_ascii=False), "utf-8")
    (tmp_path / "waivers.yaml").write_text(yaml.safe_dump({"waivers": [HALL]}, allow_unicode=True), "utf-8")
    out = run_cli("audit", "profile.json", "--rules", "yinzhou", "--waivers", "waivers.yaml", "--format", "json",
                  cwd=tmp_path)
    cli = json.loads(out.stdout)
    assert (cli["score"], cli["unwaived"], cli["findings"]) == (waived["score"], waived["unwaived"], waived["findings"])


def test_waivers_are_append_only_in_the_database(service):
    db = sqlite3.connect(service.db_path)
    try:
        for statement in ("update waivers set reason = 'x'", "delete from waivers",
                          "delete from waiver_revocations"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
    finally:
        db.close()


def test_a_batch_applies_the_waivers_in_force_as_it_starts(service, tmp_path):
    with client(service, "bureau") as c:
        # running longer than the others, so it is the one applied (then revoked: the other tests do not see it)
        batch_waiver = c.post("/v1/waivers", json={**HALL, "reason": "批次也适用", "expires_on": "2028-12-31"}).json()
        lines = [line for line in (DISTRICT / "centres.jsonl").read_text("utf-8").splitlines()[:5]]
        assert any(DANDINGHE in line for line in lines)
        r = c.post("/v1/batches?rules=yinzhou", files={"file": ("centres.jsonl", ("\n".join(lines) + "\n").encode())})
        assert r.status_code == 202, r.text
        doc = wait_for_batch(c, r.json()["id"])
        assert doc["status"] == "done", doc
        results = [json.loads(line) for line in c.get(doc["files"]["results.jsonl"]).content.splitlines()]
        summary = c.get(doc["files"]["summary.csv"]).text
        assert c.post(f"/v1/waivers/{batch_waiver['id']}/revoke").status_code == 200
    mine = next(r for r in results if r["center"]["id"] == DANDINGHE)
    assert finding(mine, "5.5")["waiver"]["reason"] == "批次也适用"
    assert "unwaived_score" in summary.splitlines()[0]


def test_the_centres_page_lists_its_waivers_in_chinese(service):
    with client(service, "bureau") as c:
        assert c.post("/v1/waivers", json=HALL).status_code in (200, 201)
        ended = c.post("/v1/waivers", json={**HALL, "reason": "服务大厅已迁至一楼"}).json()
        assert c.post(f"/v1/waivers/{ended['id']}/revoke").status_code == 200
        assert c.post("/v1/audits?rules=yinzhou", json=dandinghe(assessed_on="2026-10-20")).status_code in (200, 201)
    with httpx.Client(base_url=service.url, timeout=60) as c:
        csrf = c.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
        assert c.post("/login", data={"csrf": csrf, "name": "dandinghe",
                                      "secret": service.tokens["dandinghe"]}).status_code == 303
        html = c.get(f"/centres/{DANDINGHE}").text
    assert "豁免事项" in html and HALL["reason"] in html and "已撤销" in html and "生效中" in html
    assert "鄞州区民政局" in html and "2027-12-31" in html
