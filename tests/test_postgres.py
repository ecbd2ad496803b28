"""The service on PostgreSQL, the database of a bureau's server: a real server, started for these tests."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from conftest import EXAMPLES
from test_service import _free_port, serving

HAIYUE = EXAMPLES / "haiyue.yaml"


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    assert found, f"PostgreSQL's {name} is not installed (scripts/setup.sh installs the postgresql package)"
    return found


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the postgres account the package made."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    home = Path(tempfile.mkdtemp(prefix="compliance-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    data, port = home / "data", _free_port()
    subprocess.run(_as_postgres([_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(home / "log"), "-o",
                                 f"-p {port} -k {home} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _head() -> str:
    """The newest migration the package ships."""
    from alembic.script import ScriptDirectory

    import compliance.service.store as store

    return str(ScriptDirectory(str(Path(store.__file__).with_name("migrations"))).get_current_head())


def test_the_service_runs_on_postgresql_with_its_migrations_and_append_only_history(postgres, tmp_path):
    import psycopg

    with serving(tmp_path, postgres) as (svc, token):      # a plain postgresql:// URL, as a bureau writes it
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=svc.url, headers=headers, timeout=60) as c:
            first = c.post("/v1/audits?rules=yinzhou", content=HAIYUE.read_bytes(),
                           headers={"Content-Type": "application/yaml"})
            assert first.status_code == 201, first.text
            second = c.post("/v1/audits", content=HAIYUE.read_bytes(), headers={"Content-Type": "application/yaml"})
            assert c.get(f"/v1/audits/{first.json()['id']}").json() == first.json()
            history = c.get("/v1/centres/330212-SN-0103/audits").json()["audits"]
            assert [a["id"] for a in history] == [second.json()["id"], first.json()["id"]]
            assert c.get(f"/v1/audits/{first.json()['id']}/report.pdf").content.startswith(b"%PDF-")
    from compliance.service.store import Store

    latest = list(Store(postgres).latest(street="首南街道"))          # the dashboard's query
    assert [r.id for r in latest] == [second.json()["id"]]
    with psycopg.connect(postgres) as db:
        assert db.execute("select version_num from alembic_version").fetchone()[0] == _head()
        for statement in ("update audits set score = 100", "delete from audits"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                db.execute(statement)
            db.rollback()
        assert db.execute("select count(*) from audits").fetchone()[0] == 2


def test_evidence_is_kept_read_and_guarded_on_postgresql_as_on_sqlite(postgres, tmp_path):
    """The evidence routes on PostgreSQL: an upload kept once, read back by its uploader and by the accounts reading
    an audit naming it, refused to another centre; an inspection only from the bureau; an unknown hash 422 at its
    item; and the evidence tables append-only."""
    import hashlib

    import psycopg

    from conftest import profile
    from test_evidence_service import jpeg
    from test_service import add_user

    with psycopg.connect(postgres, autocommit=True) as db:          # a database of its own (ops is taken above)
        db.execute("create database evidence")
    url = postgres.rsplit("/", 1)[0] + "/evidence"
    tokens = {"haiyue": add_user(url, "haiyue", "community", "330212-SN-0103"),
              "other": add_user(url, "elsewhere", "community", "330212-XX-9999"),
              "bureau": add_user(url, "bureau1", "bureau")}
    photo = jpeg(21)
    digest = hashlib.sha256(photo).hexdigest()
    with serving(tmp_path, url) as (svc, _):
        def as_(who: str) -> httpx.Client:
            return httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=60)

        with as_("haiyue") as haiyue, as_("other") as other, as_("bureau") as bureau:
            first = haiyue.post("/v1/evidence", files={"file": ("hall.jpg", photo, "image/jpeg")})
            assert first.status_code == 201, first.text
            assert first.json() == {"sha256": digest, "media_type": "image/jpeg", "size": len(photo)}
            assert bureau.post("/v1/evidence", files={"file": ("x.jpg", photo, "image/jpeg")}).status_code == 200
            assert haiyue.get(f"/v1/evidence/{digest}").content == photo
            assert other.get(f"/v1/evidence/{digest}").status_code == 404
            doc = profile()
            doc["evidence"] = {"5.5": [{"sha256": digest}]}
            assert haiyue.post("/v1/audits?rules=national", json=doc).status_code == 201
            doc["audit"] = {"kind": "inspection", "inspectors": ["王敏"]}
            assert haiyue.post("/v1/audits?rules=national", json=doc).status_code == 403
            assert bureau.post("/v1/audits?rules=national", json=doc).status_code == 201
            assert bureau.get(f"/v1/evidence/{digest}").content == photo
            assert other.get(f"/v1/evidence/{digest}").status_code == 404
            doc["evidence"]["5.5"].append({"sha256": "0" * 64})
            refused = bureau.post("/v1/audits?rules=national", json=doc)
            assert refused.status_code == 422
            assert [p["path"] for p in refused.json()["problems"]] == ["$.evidence['5.5'][1].sha256"]
    with psycopg.connect(url) as db:
        assert db.execute("select count(*) from evidence_uses").fetchone()[0] == 1
        for table in ("evidence", "evidence_uploads", "evidence_uses"):
            for statement in (f"update {table} set sha256 = 'x'", f"delete from {table}"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    db.execute(statement)
                db.rollback()
def test_waivers_and_rounds_run_on_postgresql(postgres, tmp_path):
    import psycopg

    from test_rounds import HALL, ROUND, inspections, self_checks, wait_for_file
    from test_service import add_user

    with psycopg.connect(postgres, autocommit=True) as db:          # a database of its own, beside the other test's
        db.execute("create database rounds")
    postgres = postgres.rsplit("/", 1)[0] + "/rounds"
    bureau = add_user(postgres, "pg-bureau", "bureau")
    with serving(tmp_path, postgres) as (svc, _):
        with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {bureau}", "Accept-Language": "en"},
                          timeout=60) as c:
            granted = c.post("/v1/waivers?rules=yinzhou", json=HALL)
            assert granted.status_code == 201, granted.text
            assert c.post("/v1/waivers?rules=yinzhou", json=HALL).json()["id"] == granted.json()["id"]
            opened = c.post("/v1/rounds", json={"id": ROUND, "name": "2026年鄞州区秋季考核", "rules": "yinzhou",
                                                "region": {"district": "鄞州区"}})
            assert opened.status_code == 201, opened.text
            assert c.post("/v1/rounds", json={"id": ROUND, "name": "again"}).status_code == 409
            for doc in self_checks()[:4] + inspections()[:1]:
                assert c.post("/v1/audits?rules=yinzhou", json=doc).status_code == 201
            waived = c.get(f"/v1/centres/{HALL['centre']}/audits").json()["audits"][0]
            stored = c.get(f"/v1/audits/{waived['id']}").json()
            assert next(f for f in stored["findings"] if f["clause"] == "5.5")["waiver"]["reason"] == HALL["reason"]
            progress = c.get(f"/v1/rounds/{ROUND}").json()["progress"]
            assert (progress["centres"], progress["self_checked"]) == (4, 4) and progress["inspected"] >= 1
            assert [r["id"] for r in c.get("/v1/rounds").json()["rounds"]] == [ROUND]
            summary = wait_for_file(c, f"/v1/rounds/{ROUND}/files/summary.csv")
            assert summary.status_code == 200 and len(summary.text.strip().splitlines()) == 1 + 4
            assert wait_for_file(c, f"/v1/rounds/{ROUND}/files/ledger.xlsx").content.startswith(b"PK")
            revoked = c.post(f"/v1/waivers/{granted.json()['id']}/revoke")
            assert revoked.status_code == 200 and revoked.json()["revoked"]["by"] == "pg-bureau"
            assert c.post(f"/v1/waivers/{granted.json()['id']}/revoke").status_code == 409
            assert c.get("/v1/waivers", params={"centre": HALL["centre"]}).json()["waivers"][0]["revoked"]
    with psycopg.connect(postgres) as db:
        for statement in ("update waivers set reason = 'x'", "delete from waiver_revocations",
                          "update rounds set name = 'x'", "delete from round_audits"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                db.execute(statement)
            db.rollback()


def test_actions_open_move_and_stay_append_only_on_postgresql(postgres, tmp_path):
    """The live ledger on PostgreSQL: an inspection opens its actions in its own transaction, a self-check sets them
    awaiting review, the routes filter and guard them, and the database refuses to change an event or an action
    without one."""
    import orjson
    import psycopg

    from test_actions import SHORT, fixed, inspection
    from test_service import add_user

    with psycopg.connect(postgres, autocommit=True) as db:          # a database of its own on the same server
        db.execute("CREATE DATABASE actions")
    postgres = postgres.rsplit("/", 1)[0] + "/actions"
    bureau_token = add_user(postgres, "pg-bureau", "bureau")
    haiyue_token = add_user(postgres, "pg-haiyue", "community", "330212-SN-0103")
    other_token = add_user(postgres, "pg-other", "community", "330212-XX-9999")
    with serving(tmp_path, postgres) as (svc, _):
        def as_(token: str) -> httpx.Client:
            return httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {token}",
                                                           "Accept-Language": "en"}, timeout=60)

        with as_(bureau_token) as bureau, as_(haiyue_token) as haiyue, as_(other_token) as other:
            doc = inspection(center__name="海悦社区（PostgreSQL）")
            opened = bureau.post("/v1/audits?rules=national", content=orjson.dumps(doc),
                                 headers={"Content-Type": "application/json"})
            assert opened.status_code == 201, opened.text
            mine = haiyue.get("/v1/actions", params={"centre": "330212-SN-0103", "round": "2026-yinzhou"}).json()
            ours = [a for a in mine["actions"] if a["opened_by"] == opened.json()["id"]]
            assert {a["clause"] for a in ours} == set(SHORT) and mine["actions"][0]["state"] == "overdue"
            assert bureau.get("/v1/actions", params={"state": "overdue", "street": "首南街道"}).json()["total"] >= 1
            assert other.get("/v1/actions").json()["total"] == 0
            assert other.get(f"/v1/actions/{ours[0]['id']}").status_code == 404
            four = next(a for a in ours if a["clause"] == "4.4")
            where = f"/v1/actions/{four['id']}/events"
            assert bureau.post(where, json={"kind": "reported_fixed", "note": "x"}).status_code == 403
            assert haiyue.post(where, json={"kind": "due_changed", "due": "2099-01-01", "note": "x"}).status_code == 403
            moved = bureau.post(where, json={"kind": "due_changed", "due": "2099-01-01", "note": "施工期间延期"})
            assert moved.status_code == 201 and moved.json()["due"] == "2099-01-01", moved.text
            reported = haiyue.post(where, json={"kind": "reported_fixed", "note": "已补齐"})
            assert reported.json()["state"] == "fixed_pending_review"
            passing = fixed(center__name="海悦社区（PostgreSQL）", audit=doc["audit"])
            closing = bureau.post("/v1/audits?rules=national", content=orjson.dumps(passing),
                                  headers={"Content-Type": "application/json"})
            after = haiyue.get(f"/v1/actions/{four['id']}").json()
            assert (after["state"], after["ended_by"]) == ("closed", closing.json()["id"])
            assert [e["kind"] for e in after["events"]] == ["opened", "due_changed", "reported_fixed", "closed"]
    with psycopg.connect(postgres) as db:
        for statement, says in (("update action_events set note = 'x'", "append-only"),
                                ("delete from action_events", "append-only"),
                                ("delete from actions", "never removed"),
                                ("update actions set state = 'closed'", "only with an event"),
                                ("update actions set due = '2099-12-31', version = version + 1", "only with an event")):
            with pytest.raises(psycopg.errors.RaiseException, match=says):
                db.execute(statement)
            db.rollback()


def test_the_inspection_and_photo_pages_run_on_postgresql(postgres, tmp_path):
    """The inspection form and the pages' photo route on PostgreSQL: a bureau inspects with a photo, its centre's
    community opens it, another centre's does not, and a community is refused the form."""
    import psycopg

    from test_inspect import inspect_over_http
    from test_service import add_user

    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute("create database inspect")
    url = postgres.rsplit("/", 1)[0] + "/inspect"
    tokens = {"bureau": add_user(url, "wangmin", "bureau"),
              "haiyue": add_user(url, "haiyue", "community", "330212-SN-0103"),
              "other": add_user(url, "elsewhere", "community", "330212-XX-9999")}
    with serving(tmp_path, url) as (svc, _):
        inspect_over_http(svc.url, tokens)


def test_on_postgresql_one_centre_being_written_holds_up_only_its_own_audits(postgres):
    """Audits are locked per centre on PostgreSQL: while a transaction holds one centre's lock, another centre's
    audit is stored at once while the held centre's waits, and the store's whole lock (a batch's chunk of centres,
    an action's event) waits too; identical submissions of one centre at once still store one audit."""
    import threading

    import orjson
    import psycopg

    import compliance
    from compliance.service.common import load_bundled
    from compliance.service.store import Store
    from test_actions import short

    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute("CREATE DATABASE centre_locks")
    url = postgres.rsplit("/", 1)[0] + "/centre_locks"
    store = Store(url)
    held, other = "330212-SN-0103", "330212-SN-0104"
    done: dict[str, tuple[str, bool]] = {}

    def submit(name: str, centre: str) -> None:
        doc = short(center__id=centre)
        result = compliance.evaluate(doc, load_bundled("national"))
        answer = store.submit_audit(result, result.to_json("en"), profile=orjson.dumps(doc),
                                    profile_type="application/json", submitted_by="bureau1")
        done[name] = (answer.row.id, answer.created)

    def whole_lock() -> None:
        with store.writing():
            done["whole"] = ("", True)

    with psycopg.connect(url) as holder:              # a writer of the first centre, mid-transaction
        holder.execute("SELECT pg_advisory_xact_lock_shared(7301786201), "
                       "pg_advisory_xact_lock(730178, hashtext(%s))", (held,))
        waiting = [threading.Thread(target=submit, args=("held", held))]
        waiting[0].start()
        beside = threading.Thread(target=submit, args=("other", other))
        beside.start()
        beside.join(10)                                  # stored while the first centre is held
        assert "other" in done, "another centre's audit waited for the centre being written"
        # (started after it: once the whole lock is asked for, later audits of any centre queue behind it)
        waiting.append(threading.Thread(target=whole_lock))
        waiting[1].start()
        for t in waiting:
            t.join(0.5)
        assert done["other"][1] and "held" not in done and "whole" not in done
        assert all(t.is_alive() for t in waiting)
    for t in waiting:                                    # the holder's transaction ended with its connection
        t.join(30)
    assert done["held"][1] and "whole" in done

    twins = [threading.Thread(target=submit, args=(f"twin{n}", "330212-SN-0105")) for n in range(4)]
    for t in twins:
        t.start()
    for t in twins:
        t.join(30)
    answers = [done[f"twin{n}"] for n in range(4)]
    assert len({a for a, _ in answers}) == 1 and sum(created for _, created in answers) == 1
    store.engine.dispose()
