"""The service's rule set, chosen once, and submissions that are stored once: over real HTTP against `compliance
serve` in its own process, as an integration, a bureau and its administrator use them."""
from __future__ import annotations

import json
import re
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote

import httpx
import pytest
import yaml

import compliance

from conftest import EXAMPLES, profile, run_cli
from test_service import DISTRICT, Service, add_user, assert_problem, wait_for_batch
from test_web import csrf_of

HAIYUE = EXAMPLES / "haiyue.yaml"
DANDINGHE = EXAMPLES / "dandinghe-old-compound.yaml"
YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    service = Service(tmp_path_factory.mktemp("idempotent"))
    service.tokens = {"system": add_user(service.db, "records", "system"),
                      "other": add_user(service.db, "archive", "system"),
                      "bureau": add_user(service.db, "zhang", "bureau"),
                      "haiyue": add_user(service.db, "haiyue", "community", "330212-SN-0103")}
    service.start()
    yield service
    service.stop()


def api(service: Any, who: str = "system") -> httpx.Client:
    return httpx.Client(base_url=service.url, timeout=120, headers={
        "Authorization": f"Bearer {service.tokens[who]}", "Accept-Language": "en"})


def history(c: httpx.Client, centre: str, rules: str | None = None) -> list[dict[str, Any]]:
    r = c.get(f"/v1/centres/{centre}/audits", params={"rules": rules} if rules else {})
    assert r.status_code == 200, r.text
    return list(r.json()["audits"])


def as_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, default=str, ensure_ascii=False).encode()


def variant(n: int, **changes: Any) -> dict[str, Any]:
    """Haiyue's profile as inspected on another occasion: a distinct profile of the same centre."""
    return profile(center__name=f"海悦社区便民服务中心（第 {n} 次检查）", **changes)


# --------------------------------------------------------------------------- an identical audit is stored once

def test_a_double_submission_stores_one_audit_and_answers_200_with_it(svc):
    body = as_json(variant(1))
    with api(svc) as c:
        before = len(history(c, "330212-SN-0103"))
        first = c.post("/v1/audits?rules=ningbo", content=body, headers=JSON)
        again = c.post("/v1/audits?rules=ningbo", content=body, headers=JSON)
        assert first.status_code == 201 and again.status_code == 200, again.text
        assert again.headers["location"] == first.headers["location"] == f"/v1/audits/{first.json()['id']}"
        assert again.json() == first.json()                   # the audit as stored: its id and when
        assert c.get(again.headers["location"]).json() == first.json()
        assert len(history(c, "330212-SN-0103")) == before + 1


def test_the_same_profile_written_otherwise_is_the_same_audit(svc):
    """Identical means the same profile as parsed: YAML or JSON, keys in another order, comments and spaces."""
    document = variant(2)
    reordered = dict(reversed(list(document.items())))
    as_yaml = ("# the same centre, typed again\n" + yaml.safe_dump(document, allow_unicode=True)).encode()
    with api(svc) as c:
        first = c.post("/v1/audits?rules=ningbo", content=as_json(document), headers=JSON)
        assert first.status_code == 201
        for body, headers in ((as_json(reordered), JSON), (as_yaml, YAML)):
            r = c.post("/v1/audits?rules=ningbo", content=body, headers=headers)
            assert r.status_code == 200 and r.json()["id"] == first.json()["id"], r.text


def test_another_rule_set_or_a_changed_profile_is_a_new_audit(svc):
    body = as_json(variant(3))
    changed = as_json(variant(3, staff__community_workers=BASE_WORKERS + 1))
    with api(svc) as c:
        ningbo = c.post("/v1/audits?rules=ningbo", content=body, headers=JSON)
        beijing = c.post("/v1/audits?rules=beijing", content=body, headers=JSON)
        assert ningbo.status_code == 201 and beijing.status_code == 201
        assert beijing.json()["ruleset"]["id"] == "beijing" and beijing.json()["id"] != ningbo.json()["id"]
        assert c.post("/v1/audits?rules=ningbo", content=changed, headers=JSON).status_code == 201
        back = c.post("/v1/audits?rules=ningbo", content=body, headers=JSON)   # changed back: a new state again
        assert back.status_code == 201 and back.json()["id"] != ningbo.json()["id"]
        # An identical audit under one rule set is recognised across audits under others in between.
        assert c.post("/v1/audits?rules=beijing", content=body, headers=JSON).json()["id"] == beijing.json()["id"]


BASE_WORKERS = int(profile()["staff"]["community_workers"])


def test_an_inspection_is_not_taken_for_the_self_check_it_repeats(svc):
    """The kind is part of identity: a bureau's inspection with the same figures as a self-check is stored."""
    inspection = variant(4)
    inspection["audit"] = {"kind": "inspection", "inspectors": ["王敏"]}
    with api(svc, "bureau") as c:                  # only a bureau account submits an inspection
        r = c.post("/v1/audits?rules=ningbo", content=as_json(inspection), headers=JSON)
        assert r.status_code == 201
        kinds = {a["id"]: a["kind"] for a in history(c, "330212-SN-0103")}
        assert kinds[r.json()["id"]] == "inspection"
        assert c.post("/v1/audits?rules=ningbo", content=as_json(inspection), headers=JSON).status_code == 200


def test_a_double_tap_stores_one_audit_even_when_both_arrive_at_once(svc):
    body = as_json(variant(5))
    answers: list[httpx.Response] = []
    start = threading.Barrier(8)

    def tap() -> None:
        with api(svc) as c:
            start.wait()
            answers.append(c.post("/v1/audits?rules=ningbo", content=body, headers=JSON))

    threads = [threading.Thread(target=tap) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    with api(svc) as c:
        names = [c.get(f"/v1/audits/{a['id']}").json()["center"]["name"] for a in history(c, "330212-SN-0103")]
    assert names.count("海悦社区便民服务中心（第 5 次检查）") == 1


# --------------------------------------------------------------------------- Idempotency-Key

def test_an_idempotency_key_repeats_the_first_answer_and_refuses_another_body(svc):
    body = as_json(variant(6))
    with api(svc) as c:
        first = c.post("/v1/audits?rules=ningbo", content=body, headers={**JSON, "Idempotency-Key": "order-6"})
        assert first.status_code == 201 and "idempotent-replayed" not in first.headers
        # Meanwhile the centre changes: a retry with the key still gets the first answer, and stores nothing.
        assert c.post("/v1/audits?rules=ningbo", content=as_json(variant(7)), headers=JSON).status_code == 201
        count = len(history(c, "330212-SN-0103"))
        again = c.post("/v1/audits?rules=ningbo", content=body, headers={**JSON, "Idempotency-Key": "order-6"})
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content and again.headers["location"] == first.headers["location"]
        assert len(history(c, "330212-SN-0103")) == count
        other = c.post("/v1/audits?rules=ningbo", content=as_json(variant(8)), headers={**JSON, "Idempotency-Key": "order-6"})
        doc = assert_problem(other, 422)
        assert doc["problems"] == [{"path": "Idempotency-Key", "message": "was used for another request"}]
        assert "order-6" in doc["detail"]
        # The same body under another rule set is another request too.
        assert_problem(c.post("/v1/audits?rules=beijing", content=body, headers={**JSON, "Idempotency-Key": "order-6"}), 422)
        assert len(history(c, "330212-SN-0103")) == count
    with api(svc, "other") as c:             # keys are per account: another system's order-6 is its own
        r = c.post("/v1/audits?rules=ningbo", content=as_json(variant(9)), headers={**JSON, "Idempotency-Key": "order-6"})
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers


def test_a_key_whose_request_failed_keeps_nothing_and_may_be_sent_again(svc):
    bad = variant(10, space__total_area_m2=-5)
    with api(svc) as c:
        assert_problem(c.post("/v1/audits", content=as_json(bad), headers={**JSON, "Idempotency-Key": "retry-10"}), 422)
        fixed = c.post("/v1/audits?rules=ningbo", content=as_json(variant(10)), headers={**JSON, "Idempotency-Key": "retry-10"})
        assert fixed.status_code == 201


def test_a_key_for_an_audit_identical_to_the_latest_repeats_its_200(svc):
    body = as_json(variant(11))
    with api(svc) as c:
        stored = c.post("/v1/audits?rules=ningbo", content=body, headers=JSON)
        first = c.post("/v1/audits?rules=ningbo", content=body, headers={**JSON, "Idempotency-Key": "k-11"})
        again = c.post("/v1/audits?rules=ningbo", content=body, headers={**JSON, "Idempotency-Key": "k-11"})
    assert (stored.status_code, first.status_code, again.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == stored.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "键"])
def test_a_malformed_key_is_a_problem_naming_the_header(svc, key):
    with api(svc) as c:
        r = c.post("/v1/audits", content=as_json(variant(12)), headers={**JSON, "Idempotency-Key": key.encode("utf-8")})
    assert r.status_code in (400, 422), r.text
    if r.status_code == 422:
        assert assert_problem(r, 422)["problems"][0]["path"] == "Idempotency-Key"


def test_keys_are_kept_in_the_database_for_24_hours(svc):
    body = as_json(variant(13))
    with api(svc) as c:
        first = c.post("/v1/audits?rules=ningbo", content=body, headers={**JSON, "Idempotency-Key": "day-13"})
        assert first.status_code == 201
    db = sqlite3.connect(svc.db_path)
    kept = db.execute("select status, audit_id from idempotency_keys where key = 'day-13'").fetchall()
    assert kept == [(201, first.json()["id"])]
    # A day and an hour later the key is free again: another body is a new request, not a reused key.
    old = (datetime.now(timezone.utc) - timedelta(hours=25)).isoformat(sep=" ")
    db.execute("update idempotency_keys set created_at = ? where key = 'day-13'", (old,))
    db.commit()
    db.close()
    with api(svc) as c:
        r = c.post("/v1/audits?rules=ningbo", content=as_json(variant(14)), headers={**JSON, "Idempotency-Key": "day-13"})
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers


def test_a_key_outlives_a_restart(tmp_path):
    service = Service(tmp_path)
    service.tokens = {"system": add_user(service.db, "records", "system")}
    service.start()
    try:
        with api(service) as c:
            first = c.post("/v1/audits", content=HAIYUE.read_bytes(), headers={**YAML, "Idempotency-Key": "boot-1"})
            assert first.status_code == 201
    finally:
        service.stop()
    service.start()
    try:
        with api(service) as c:
            again = c.post("/v1/audits", content=HAIYUE.read_bytes(), headers={**YAML, "Idempotency-Key": "boot-1"})
            assert again.status_code == 201 and again.content == first.content
            assert again.headers["idempotent-replayed"] == "true"
            assert_problem(c.post("/v1/audits", content=DANDINGHE.read_bytes(),
                                  headers={**YAML, "Idempotency-Key": "boot-1"}), 422)
    finally:
        service.stop()


def test_the_openapi_document_tells_a_strict_client_about_200_and_the_key(svc):
    doc = httpx.get(svc.url + "/openapi.json").json()
    post = doc["paths"]["/v1/audits"]["post"]
    assert {"200", "201"} <= set(post["responses"])
    for status in ("200", "201"):
        assert post["responses"][status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/StoredAudit"}
        assert "Location" in post["responses"][status]["headers"]
    assert "identical" in post["description"] and "200" in post["description"]
    key = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header" and not key.get("required") and "24 hours" in key["description"]
    rules = next(p for p in post["parameters"] if p["name"] == "rules")
    assert "default" not in rules["schema"] and "service's rule set" in rules["description"]
    history = doc["components"]["schemas"]["History"]["properties"]["audits"]["items"]
    assert "kind" in history["required"]


# --------------------------------------------------------------------------- the service's rule set

def rules_of(service: Any) -> str:
    with api(service) as c:
        listed = c.get("/v1/rulesets").json()
    return next(r["id"] for r in listed if r["default"])


def log_in(c: httpx.Client, name: str, token: str) -> None:
    csrf = csrf_of(c.get("/login").text)
    assert c.post("/login", data={"csrf": csrf, "name": name, "secret": token}).status_code == 303


def test_serve_rules_sets_the_default_at_the_first_start_and_the_stored_choice_wins_after(tmp_path):
    service = Service(tmp_path)
    service.tokens = {"system": add_user(service.db, "records", "system"),
                      "bureau": add_user(service.db, "zhang", "bureau")}
    service.args = ["--rules", "yinzhou"]
    service.start()
    try:
        assert rules_of(service) == "yinzhou"
        with api(service) as c:                      # the default of ?rules= (and so of compare)
            r = c.post("/v1/audits", content=HAIYUE.read_bytes(), headers=YAML)
            assert r.status_code == 201 and r.json()["ruleset"]["id"] == "yinzhou"
    finally:
        log = service.stop()
    assert "yinzhou" in log
    service.args = []                                # restarted without the option: still yinzhou
    service.start()
    assert rules_of(service) == "yinzhou"
    service.stop()
    service.args = ["--rules", "beijing"]            # a later option is not applied, and says so
    service.start()
    try:
        assert rules_of(service) == "yinzhou"
        with httpx.Client(base_url=service.url, follow_redirects=False) as page:
            log_in(page, "zhang", service.tokens["bureau"])
            settings = page.get("/settings")
            assert "宁波市鄞州区" in settings.text and "--rules yinzhou" in settings.text
            # A bureau account chooses another.
            changed = page.post("/settings", data={"csrf": csrf_of(settings.text), "rules": "ningbo"})
            assert changed.status_code == 303
            assert "由 zhang 于" in page.get("/settings").text
        assert rules_of(service) == "ningbo"
        with api(service) as c:
            assert c.post("/v1/audits", content=DANDINGHE.read_bytes(), headers=YAML).json()["ruleset"]["id"] == "ningbo"
    finally:
        log = service.stop()
    assert "'--rules beijing'" in log and "not applied" not in log     # the log speaks Chinese, the default
    assert "未采用 '--rules beijing'" in log
    service.args = ["--rules", "yinzhou"]           # the bureau's choice wins over the option of later starts
    service.start()
    try:
        assert rules_of(service) == "ningbo"
    finally:
        service.stop()


def test_without_the_option_the_service_audits_under_the_national_baseline(tmp_path):
    service = Service(tmp_path)
    service.tokens = {"system": add_user(service.db, "records", "system")}
    service.start()
    try:
        assert rules_of(service) == "national"
        with api(service) as c:
            assert c.post("/v1/audits", content=HAIYUE.read_bytes(), headers=YAML).json()["ruleset"]["id"] == "national"
    finally:
        service.stop()
    service.args = ["--rules", "nanxing"]            # nothing was chosen yet: the option is taken now
    service.start()
    try:
        assert rules_of(service) == "nanxing"
    finally:
        service.stop()


@pytest.mark.parametrize("name", ["atlantis", "rules/yinzhou.yaml"])
def test_serve_refuses_a_rule_set_it_does_not_have(tmp_path, name):
    out = run_cli("serve", "--db", f"sqlite:///{tmp_path / 's.db'}", "--rules", name, "--port", "1")
    assert out.returncode == 2 and "national" in out.stderr and name in out.stderr and "Traceback" not in out.stderr


def test_only_a_bureau_account_changes_the_rule_set(svc):
    with httpx.Client(base_url=svc.url, follow_redirects=False) as page:
        log_in(page, "haiyue", svc.tokens["haiyue"])
        r = page.get("/settings")
        assert r.status_code == 403 and "text/html" in r.headers["content-type"]
        csrf = csrf_of(page.get("/check").text)
        assert page.post("/settings", data={"csrf": csrf, "rules": "beijing"}).status_code == 403
    with httpx.Client(base_url=svc.url, follow_redirects=False) as page:
        log_in(page, "zhang", svc.tokens["bureau"])
        settings = page.get("/settings")
        bad = page.post("/settings", data={"csrf": csrf_of(settings.text), "rules": "atlantis"})
        assert bad.status_code == 422 and "yinzhou" in bad.text        # the rule sets there are
        assert page.post("/settings", data={"rules": "beijing"}).status_code == 403        # no CSRF token
    assert rules_of(svc) == "national"


# --------------------------------------------------------------------------- batches

def test_a_reuploaded_round_adds_nothing_to_the_histories(tmp_path):
    service = Service(tmp_path)
    service.tokens = {"bureau": add_user(service.db, "zhang", "bureau")}
    service.args = ["--rules", "yinzhou"]
    service.start()
    try:
        with api(service, "bureau") as c:
            docs = []
            for _ in range(2):
                r = c.post("/v1/batches", files={"file": ("centres.jsonl", (DISTRICT / "centres.jsonl").read_bytes())})
                assert r.status_code == 202 and r.json()["rules"] == "yinzhou"      # the service's rule set
                docs.append(wait_for_batch(c, r.json()["id"]))
            assert docs[0]["added"] == docs[0]["audited"] == 139
            assert docs[1]["audited"] == 139 and docs[1]["added"] == 0
            centre = json.loads((DISTRICT / "centres.jsonl").read_text("utf-8").splitlines()[0])["center"]["id"]
            assert len(history(c, centre)) == 1
            # Under another rule set the same round is new audits, each on a line of its own.
            r = c.post("/v1/batches?rules=national", files={"file": ("centres.jsonl", (DISTRICT / "centres.jsonl").read_bytes())})
            assert wait_for_batch(c, r.json()["id"])["added"] == 139
            assert [a["ruleset"]["id"] for a in history(c, centre)] == ["national", "yinzhou"]
            assert len(history(c, centre, "yinzhou")) == 1
    finally:
        service.stop()
    db = sqlite3.connect(service.db_path)
    assert db.execute("select count(*) from audits").fetchone()[0] == 2 * 139
    db.close()


def test_a_rounds_downloads_say_which_round_they_are(svc):
    with api(svc, "bureau") as c:
        r = c.post("/v1/batches?rules=yinzhou",
                   files={"file": ("鄞州区2026采集表.jsonl", (DISTRICT / "centres.jsonl").read_bytes())})
        doc = wait_for_batch(c, r.json()["id"])
        day = datetime.fromisoformat(doc["submitted_at"]).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d")
        for name, url in doc["files"].items():
            assert url.endswith("/" + name)                   # the documented names stay the links
            header = c.get(url).headers["content-disposition"]
            assert header.isascii() and header.startswith("attachment; ")
            plain = re.search(r'; filename="([^"\\]*)"', header)
            star = re.search(r"; filename\*=UTF-8''([A-Za-z0-9!#$&+.^_`|~%-]+)$", header)   # RFC 5987 attr-chars
            assert plain and star, header
            assert unquote(star.group(1), errors="strict") == f"鄞州区2026采集表-{day}-{name}"
            assert plain.group(1).endswith(f"{day}-{name}")                 # for clients without filename*
    with api(svc, "bureau") as c:                            # an ASCII name needs no filename*
        r = c.post("/v1/batches?rules=yinzhou", files={"file": ("round-b.jsonl", (DISTRICT / "centres.jsonl").read_bytes())})
        doc = wait_for_batch(c, r.json()["id"])
        header = c.get(doc["files"]["summary.csv"]).headers["content-disposition"]
    assert header == f'attachment; filename="round-b-{day}-summary.csv"'


# --------------------------------------------------------------------------- a database from before

def test_audits_stored_before_the_upgrade_are_recognised(tmp_path):
    """An audit stored before digests were kept (migration 0006) is still the latest a repeat is compared with."""
    from alembic import command
    from alembic.config import Config

    from compliance.service import store as store_module
    from compliance.service.store import Store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url, migrate=False)
    config = Config()
    config.set_main_option("script_location", str(Path(store_module.__file__).with_name("migrations")))
    with old.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    raw = HAIYUE.read_bytes()
    result = compliance.evaluate(compliance.load_profile(HAIYUE), "yinzhou")
    with old.engine.begin() as db:
        db.exec_driver_sql(
            "insert into audits (id, centre_id, centre_name, street, ruleset_id, ruleset_version, ruleset_hash, "
            "profile_sha256, profile, profile_type, result, score, grade, verdict, submitted_by, submitted_at) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("0" * 32, "330212-SN-0103", "海悦社区便民服务中心", "首南街道", "yinzhou", result.ruleset.version,
             result.ruleset.content_hash, "x", raw, "application/yaml", result.to_json(), result.score, result.grade,
             result.verdict.value, "old", datetime.now(timezone.utc)))
    service = Service(tmp_path)
    service.db = url
    service.tokens = {"system": add_user(url, "records", "system")}          # opening it upgrades it
    service.start()
    try:
        with api(service) as c:
            again = c.post("/v1/audits?rules=yinzhou", content=raw, headers=YAML)
            assert again.status_code == 200 and again.json()["id"] == "0" * 32
            assert c.post("/v1/audits?rules=yinzhou", content=as_json(variant(20)), headers=JSON).status_code == 201
    finally:
        service.stop()


def test_a_database_given_as_a_file_path_is_an_sqlite_file_there(tmp_path):
    """`--db 审计.db` (a path, as a bureau writes one) opens an SQLite database in that file, relative paths from
    the folder the command runs in."""
    made = run_cli("users", "add", "zhang", "--role", "bureau", "--db", "审计.db", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(tmp_path / "审计.db") as db:
        assert db.execute("SELECT name, role FROM accounts").fetchall() == [("zhang", "bureau")]
    listed = run_cli("users", "list", "--db", str(tmp_path / "审计.db"))
    assert listed.returncode == 0 and "zhang" in listed.stdout
