"""Actions, the live rectification ledger: what stored audits open, move and end, and the routes over them."""
from __future__ import annotations

import datetime
import html
import re
import sqlite3
import time
from typing import Any

import httpx
import orjson
import pytest

import compliance
from compliance.model import today_in_china
from compliance.service import actions as live
from compliance.service.common import load_bundled
from compliance.service.store import Store

from conftest import profile
from test_evidence_service import jpeg
from test_service import Service, add_user, assert_problem, client

CENTRE = "330212-SN-0103"
TODAY = today_in_china()
FORTY_DAYS_AGO = (TODAY - datetime.timedelta(days=40)).isoformat()
INSPECTORS = {"kind": "inspection", "inspectors": ["王敏", "李强"], "round": "2026-yinzhou"}


def inspection(**changes: Any) -> dict[str, Any]:
    """Haiyue found short by an inspector 40 days ago: 4.4 partial, 4.5 fail, 5.5 (veto) fail, 8.7 missing."""
    doc = short(**changes)
    doc.setdefault("audit", dict(INSPECTORS))
    return doc


def short(**changes: Any) -> dict[str, Any]:
    """Haiyue with the clauses above short (a self-check unless an audit block is added)."""
    doc = profile(space__service_hall_floor=2, center__assessed_on=FORTY_DAYS_AGO, **changes)
    doc["signage"] = [s for s in doc["signage"] if s not in ("staff_board", "complaint_hotline", "zone_signs")]
    del doc["services"]["satisfaction_rate"]
    return doc


def fixed(**changes: Any) -> dict[str, Any]:
    """Haiyue as it passes every clause, assessed today."""
    return profile(center__assessed_on=TODAY.isoformat(), **changes)


SHORT = {"4.4": "partial", "4.5": "fail", "5.5": "fail", "8.7": "missing"}


@pytest.fixture()
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'service.db'}")
    s.on_audits.append(live.record_audits)
    return s


def put(store: Store, doc: dict[str, Any], *, waivers: Any = None, by: str = "bureau1") -> str:
    """Store an audit as the service does (through the store, in one transaction); its id."""
    result = compliance.evaluate(doc, load_bundled("national"), waivers=waivers)
    done = store.submit_audit(result, result.to_json("en"), profile=orjson.dumps(doc),
                              profile_type="application/json", submitted_by=by)
    assert done.created
    return done.row.id


def ledger(store: Store) -> dict[str, Any]:
    """clause → the centre's action (the newest, where one clause has several), with its events."""
    rows, _ = live.list_actions(store, _bureau(), limit=1000)
    out: dict[str, Any] = {}
    for row in sorted(rows, key=lambda r: r.seq):
        out[row.clause] = live.action_document(*live.readable_action(store, _bureau(), row.id))
    return out


def _bureau() -> Any:
    from compliance.service.store import Account

    return Account(1, "bureau1", "bureau", None)


# --------------------------------------------------------------------------- what audits do to actions

def test_an_inspection_opens_one_action_per_failing_partial_or_missing_clause_and_none_for_the_rest(store):
    audit_id = put(store, inspection())
    actions = ledger(store)
    assert {c: a["found"] for c, a in actions.items()} == SHORT
    for clause, action in actions.items():
        assert action["opened_by"] == audit_id and action["round"] == "2026-yinzhou"
        assert action["centre"] == {"id": CENTRE, "name": "海悦社区便民服务中心", "street": "首南街道"}
        assert [(e["kind"], e["state"], e["audit"]) for e in action["events"]] == [("opened", "open", audit_id)]
    # The ledger's due dates: the assessment date plus 30 days for a veto clause, 90 for shall, 180 for should.
    opened = datetime.date.fromisoformat(FORTY_DAYS_AGO)
    assert actions["5.5"]["due"] == (opened + datetime.timedelta(days=30)).isoformat()
    assert actions["4.4"]["due"] == (opened + datetime.timedelta(days=90)).isoformat()
    assert actions["4.5"]["due"] == (opened + datetime.timedelta(days=180)).isoformat()
    assert actions["4.4"]["shortfall"] == {"amount": 2, "unit": "items", "missing": ["staff_board", "complaint_hotline"]}
    # 5.5 was due ten days ago: overdue, as of today in China; the others are open.
    assert {c: a["state"] for c, a in actions.items()} == {"4.4": "open", "4.5": "open", "5.5": "overdue",
                                                          "8.7": "open"}


def test_a_self_check_opens_nothing_and_a_waived_clause_opens_nothing(store):
    put(store, short())
    assert ledger(store) == {}
    waivers = {"waivers": [{"centre": CENTRE, "clause": "5.5", "reason": "历史保护建筑，服务大厅无法迁至一楼",
                            "approved_by": "鄞州区民政局", "approved_on": "2020-01-01", "expires_on": "2099-12-31"}]}
    put(store, inspection(), waivers=waivers)
    assert set(ledger(store)) == set(SHORT) - {"5.5"}


def test_an_action_is_not_opened_twice_and_a_later_inspection_still_short_is_an_event_on_it(store):
    first = put(store, inspection())
    second = put(store, inspection(audit={**INSPECTORS, "inspectors": ["赵六"]}))
    actions = ledger(store)
    rows, total = live.list_actions(store, _bureau())
    assert total == len(SHORT)
    for action in actions.values():
        assert action["opened_by"] == first
        assert [(e["kind"], e["audit"]) for e in action["events"]] == [("opened", first), ("found_again", second)]


def test_a_passing_self_check_sets_pending_review_and_only_a_passing_inspection_closes_naming_it(store):
    put(store, inspection())
    put(store, fixed())                                   # the community's self-check: all clauses pass
    assert {a["state"] for a in ledger(store).values()} == {"fixed_pending_review"}
    assert ledger(store)["4.4"]["events"][-1]["kind"] == "self_check_passed"
    closing = put(store, fixed(audit=INSPECTORS))
    actions = ledger(store)
    assert {a["state"] for a in actions.values()} == {"closed"}
    assert {a["ended_by"] for a in actions.values()} == {closing}
    assert actions["5.5"]["events"][-1] == {**actions["5.5"]["events"][-1], "kind": "closed", "audit": closing}


def test_a_self_check_short_again_sends_a_pending_action_back_to_open(store):
    put(store, inspection())
    put(store, fixed())
    put(store, short())
    assert {a["state"] for c, a in ledger(store).items() if c != "5.5"} == {"open"}
    assert ledger(store)["4.4"]["events"][-1]["kind"] == "self_check_short"


def test_a_clause_short_again_after_closing_opens_a_new_action_marked_recurred(store):
    put(store, inspection())
    put(store, fixed(audit=INSPECTORS))
    again = put(store, inspection(audit={**INSPECTORS, "round": "2027-yinzhou"}))
    rows, total = live.list_actions(store, _bureau(), limit=100)
    assert total == 2 * len(SHORT)
    reopened = [r for r in rows if r.opened_by == again]
    assert len(reopened) == len(SHORT) and all(r.recurred for r in reopened)
    assert {r.round for r in reopened} == {"2027-yinzhou"}


def test_a_later_inspection_that_applies_a_waiver_ends_the_action_waived(store):
    put(store, inspection())
    waivers = {"waivers": [{"centre": CENTRE, "clause": "5.5", "reason": "历史保护建筑，服务大厅无法迁至一楼",
                            "approved_by": "鄞州区民政局", "approved_on": "2020-01-01", "expires_on": "2099-12-31"}]}
    waiving = put(store, inspection(audit={**INSPECTORS, "inspectors": ["赵六"]}), waivers=waivers)
    action = ledger(store)["5.5"]
    assert (action["state"], action["ended_by"]) == ("waived", waiving)


def test_an_action_whose_clause_no_longer_applies_is_void(store):
    doc = inspection()
    doc["amenities"] = [a for a in doc["amenities"] if a != "self_service_terminal"]
    put(store, doc)                                       # 6.2: an urban centre has a self-service terminal
    assert ledger(store)["6.2"]["state"] == "open"
    # Counted again as a village centre, where 6.2 does not apply: the action is void, naming that inspection.
    village = fixed(center__setting="rural", audit=INSPECTORS)
    village["amenities"] = [a for a in village["amenities"] if a != "self_service_terminal"]
    voiding = put(store, village)
    action = ledger(store)["6.2"]
    assert (action["state"], action["ended_by"], action["events"][-1]["kind"]) == ("void", voiding, "void")


def test_a_batch_opens_actions_in_the_transaction_that_stores_its_audits(store):
    result = compliance.evaluate(inspection(), load_bundled("national"))
    added = store.add_round("batch1", "bureau1", [(result.to_json("en"), orjson.dumps(inspection()))])
    assert added == 1
    assert set(ledger(store)) == set(SHORT)


def test_nothing_is_half_stored_when_opening_an_action_fails(store, monkeypatch):
    def broken(db: Any, stored: Any) -> None:
        raise RuntimeError("the disk is full")

    store.on_audits[:] = [live.record_audits, broken]
    with pytest.raises(RuntimeError):
        put(store, inspection())
    assert store.history(CENTRE) == [] and ledger(store) == {}


def test_events_are_append_only_and_a_row_changes_only_with_its_event(store, tmp_path):
    put(store, inspection())
    db = sqlite3.connect(tmp_path / "service.db")
    for statement in ("UPDATE action_events SET note = 'x'", "DELETE FROM action_events", "DELETE FROM actions",
                      "UPDATE actions SET state = 'closed'", "UPDATE actions SET due = '2099-01-01'",
                      "UPDATE actions SET clause = '9.9', version = version + 1"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only|never removed|only with"):
            db.execute(statement)
    db.close()


# --------------------------------------------------------------------------- the routes

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A service of its own with a bureau, a system account, Haiyue's community and another centre's."""
    svc = Service(tmp_path_factory.mktemp("actions"))
    svc.tokens = {"bureau": add_user(svc.db, "bureau1", "bureau"), "system": add_user(svc.db, "integration", "system"),
                  "haiyue": add_user(svc.db, "haiyue", "community", CENTRE),
                  "other": add_user(svc.db, "elsewhere", "community", "330212-XX-9999")}
    svc.start()
    yield svc
    svc.stop()


def post(c: httpx.Client, doc: dict[str, Any]) -> dict[str, Any]:
    answer = c.post("/v1/audits?rules=national", content=orjson.dumps(doc), headers={"Content-Type": "application/json"})
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json())


def test_the_routes_list_and_show_actions_with_roles_and_filters(site):
    with client(site, "bureau") as bureau, client(site, "haiyue") as haiyue, \
            client(site, "other") as other, client(site, "system") as system:
        opened = post(bureau, inspection(center__name="海悦社区便民服务中心（路由）"))
        listed = haiyue.get("/v1/actions", params={"centre": CENTRE}).json()
        mine = [a for a in listed["actions"] if a["opened_by"] == opened["id"]]
        assert {a["clause"] for a in mine} == set(SHORT)
        # overdue first
        assert listed["actions"][0]["state"] == "overdue" and listed["actions"][0]["clause"] == "5.5"
        one = haiyue.get(f"/v1/actions/{mine[0]['id']}").json()
        assert one["events"][0]["kind"] == "opened" and one["events"][0]["audit"] == opened["id"]
        # Another centre's community sees none of them, and each of them is 404 to it.
        assert other.get("/v1/actions").json() == {"actions": [], "total": 0, "next": None}
        assert other.get("/v1/actions", params={"centre": CENTRE}).json()["total"] == 0
        assert_problem(other.get(f"/v1/actions/{mine[0]['id']}"), 404)
        assert_problem(other.post(f"/v1/actions/{mine[0]['id']}/events", json={"kind": "reported_fixed",
                                                                                "note": "x"}), 404)
        assert_problem(bureau.get("/v1/actions/nope"), 404)
        # Filters: state, street, round; paging with next.
        overdue = bureau.get("/v1/actions", params={"state": "overdue", "street": "首南街道"}).json()["actions"]
        assert overdue and {a["state"] for a in overdue} == {"overdue"}
        assert bureau.get("/v1/actions", params={"street": "别的街道"}).json()["total"] == 0
        assert bureau.get("/v1/actions", params={"round": "2026-yinzhou", "centre": CENTRE}).json()["total"] >= 4
        assert bureau.get("/v1/actions", params={"round": "no-such-round"}).json()["total"] == 0
        page = bureau.get("/v1/actions", params={"limit": 2}).json()
        assert len(page["actions"]) == 2 and page["next"]
        rest = bureau.get(page["next"]).json()
        assert {a["id"] for a in rest["actions"]}.isdisjoint({a["id"] for a in page["actions"]})
        assert system.get("/v1/actions").json()["total"] == page["total"]
        assert_problem(bureau.get("/v1/actions", params={"state": "finished"}), 422)
        assert_problem(bureau.get("/v1/actions", params={"limit": 0}), 422)


def test_only_the_centres_community_reports_a_fix_and_only_the_bureau_moves_a_due_date(site):
    with client(site, "bureau") as bureau, client(site, "haiyue") as haiyue, \
            client(site, "system") as system, client(site, "other") as elsewhere:
        sent = haiyue.post("/v1/evidence", files={"file": ("sign.jpg", jpeg(7), "image/jpeg")})
        assert sent.status_code == 201, sent.text
        photo = sent.json()["sha256"]
        theirs = elsewhere.post("/v1/evidence", files={"file": ("x.jpg", jpeg(8), "image/jpeg")}).json()["sha256"]
        post(bureau, inspection(center__name="海悦社区便民服务中心（整改）"))
        action = next(a for a in haiyue.get("/v1/actions", params={"state": "open"}).json()["actions"]
                      if a["clause"] == "4.4")
        where = f"/v1/actions/{action['id']}/events"
        # reported_fixed: the centre's community account only
        for other in (bureau, system):
            assert_problem(other.post(where, json={"kind": "reported_fixed", "note": "已补齐"}), 403)
        # a hash the service does not hold, one that is not a hash, and another centre's photo: each refused at its item
        bad = assert_problem(haiyue.post(where, json={"kind": "reported_fixed", "evidence": ["d" * 64, "zz", theirs]}),
                             422)
        assert [p["path"] for p in bad["problems"]] == ["$.evidence[0]", "$.evidence[1]", "$.evidence[2]"]
        assert_problem(bureau.get(f"/v1/evidence/{photo}"), 404)       # not yet named by anything the bureau reads
        assert_problem(haiyue.post(where, json={"kind": "reported_fixed"}), 422)
        assert_problem(haiyue.post(where, content=b"{", headers={"Content-Type": "application/json"}), 422)
        done = haiyue.post(where, json={"kind": "reported_fixed", "note": "已补齐公示牌", "evidence": [photo]})
        assert done.status_code == 201, done.text
        assert done.json()["state"] == "fixed_pending_review"
        assert done.json()["events"][-1] == {"kind": "reported_fixed", "state": "fixed_pending_review",
                                             "by": "haiyue", "audit": None, "note": "已补齐公示牌", "due": None,
                                             "evidence": [photo], "at": done.json()["events"][-1]["at"]}
        assert bureau.get(f"/v1/evidence/{photo}").content == jpeg(7)    # the bureau reviewing the fix sees the photo
        assert_problem(elsewhere.get(f"/v1/evidence/{photo}"), 404)      # another centre does not
        # due_changed: the bureau only, with a reason, not before the day it opened
        assert_problem(haiyue.post(where, json={"kind": "due_changed", "due": "2099-01-01", "note": "延期"}), 403)
        assert_problem(system.post(where, json={"kind": "due_changed", "due": "2099-01-01", "note": "延期"}), 403)
        bad = assert_problem(bureau.post(where, json={"kind": "due_changed", "due": "2000-01-01"}), 422)
        assert {p["path"] for p in bad["problems"]} == {"$.due", "$.note"}
        assert_problem(bureau.post(where, json={"kind": "due_changed", "due": "31/12/2027", "note": "延期"}), 422)
        moved = bureau.post(where, json={"kind": "due_changed", "due": "2099-01-01", "note": "施工期间延期"})
        assert moved.status_code == 201, moved.text
        assert (moved.json()["due"], moved.json()["state"]) == ("2099-01-01", "fixed_pending_review")
        # A passing inspection closes it; nothing more is added to a closed action.
        closing = post(bureau, fixed(center__name="海悦社区便民服务中心（整改）", audit=INSPECTORS))
        after = haiyue.get(f"/v1/actions/{action['id']}").json()
        assert (after["state"], after["ended_by"]) == ("closed", closing["id"])
        assert_problem(haiyue.post(where, json={"kind": "reported_fixed", "note": "again"}), 409)


def test_problems_are_chinese_by_default(site):
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.tokens['other']}"}) as c:
        doc = assert_problem(c.get("/v1/actions/nope"), 404)
    assert doc["title"] != "No such action" and not any(ch.isascii() and ch.isalpha() for ch in doc["title"])


# --------------------------------------------------------------------------- the 整改 page, in a browser

def test_on_a_phone_the_community_reports_a_fix_and_the_bureau_sees_overdue_first(site, browser):
    from test_web import log_in, new_page

    with client(site, "bureau") as bureau:              # in Chinese, as the bureau's pages and API speak
        bureau.headers.pop("Accept-Language")
        post(bureau, inspection(center__name="海悦社区便民服务中心（网页）"))
    community = new_page(browser)
    log_in(community, site, "haiyue", "haiyue")
    community.click("nav >> text=整改")
    assert community.url.endswith("/actions")
    assert community.locator("h1").inner_text() == "整改"
    card = community.locator("li.action-card", has_text="4.4 上墙公示").first
    assert card.locator(".badge").inner_text() == "未整改"
    card.locator("summary", has_text="报告已整改").click()
    card.locator("textarea[name=note]").fill("已补齐工作人员公示牌和投诉电话牌")
    card.locator("button", has_text="提交整改报告").click()
    community.wait_for_load_state()
    card = community.locator("li.action-card", has_text="4.4 上墙公示").first
    assert card.locator(".badge").inner_text() == "待复核"
    card.locator("summary", has_text="整改记录").click()
    assert "社区报告已整改" in card.inner_text() and "已补齐工作人员公示牌和投诉电话牌" in card.inner_text()
    # Nothing on the page is wider than the phone.
    assert community.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    office = new_page(browser, phone=False)
    log_in(office, site, "bureau1", "bureau")
    office.goto(site.url + "/actions")
    first = office.locator("li.action-card").first
    assert first.locator(".badge").inner_text() == "逾期" and "5.5" in first.locator("h2").inner_text()
    assert "English" not in office.locator("main").inner_text()
    office.goto(site.url + "/actions?state=fixed_pending_review")
    assert "已补齐工作人员公示牌和投诉电话牌" in office.locator("main").inner_text()
    # The bureau moves a due date, with a reason.
    card = office.locator("li.action-card").first
    card.locator("summary", has_text="调整整改时限").click()
    card.locator("input[name=due]").fill("2099-06-30")
    card.locator("input[name=note]").fill("一楼用房装修，延期")
    card.locator("button", has_text="确认调整").click()
    office.wait_for_load_state()
    assert "2099-06-30" in office.locator("main").inner_text()


def test_rows_are_named_in_the_order_they_are_written(store):
    """Audits and actions get names that sort as they were stored (time first, then random bits), so each new one
    goes in at the end of its name's index rather than on a random page of it."""
    from compliance.service.store import new_id

    names = [new_id() for _ in range(2000)]
    assert len(set(names)) == 2000 and all(len(n) == 32 and int(n, 16) >= 0 for n in names)
    assert names == sorted(names)
    first, second = put(store, inspection()), put(store, inspection(center__name="海悦社区（复查）"))
    assert first < second
    rows, _ = live.list_actions(store, _bureau(), limit=1000)
    by_seq = [r.id for r in sorted(rows, key=lambda r: r.seq)]
    assert len(by_seq) == len(SHORT) and by_seq == sorted(by_seq)


def test_the_service_copies_the_write_ahead_log_into_the_database_file_in_the_background(tmp_path):
    """With checkpoint_in_background, what is committed reaches the database file within a turn of the thread,
    without waiting for the log to pass SQLite's 1,000 pages (here it stays far below)."""
    path = tmp_path / "service.db"
    s = Store(f"sqlite:///{path}")
    s.on_audits.append(live.record_audits)
    put(s, inspection())
    with sqlite3.connect(path) as con:           # the file as it stands, the log folded in: the starting size
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = path.stat().st_size
    s.checkpoint_in_background(every=0.05)
    try:
        for n in range(5):
            put(s, inspection(center__name=f"海悦社区 {n}"))
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size < 1000 * 4096          # SQLite itself would not have checkpointed yet
        deadline = time.monotonic() + 10
        while path.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > before
    finally:
        s.stop_checkpoints()


def test_an_audit_assessed_before_an_action_was_opened_leaves_it_as_it_is(store):
    """A sheet uploaded late carries an older self-check (or inspection): it says nothing of what an inspection found
    after it, so it neither sends the action for review nor closes it; a later one still does."""
    put(store, inspection())                                            # assessed 40 days ago
    opened = {c: (a["state"], len(a["events"])) for c, a in ledger(store).items()}
    assert set(opened) == set(SHORT) and {s for s, _ in opened.values()} <= {"open", "overdue"}
    older = (TODAY - datetime.timedelta(days=60)).isoformat()
    put(store, profile(center__assessed_on=older))                      # a passing self-check from before
    put(store, profile(center__assessed_on=older, audit=dict(INSPECTORS)))   # and a passing inspection from before
    assert {c: (a["state"], len(a["events"])) for c, a in ledger(store).items()} == opened
    put(store, fixed())                                                 # today's self-check passes every clause
    assert {a["state"] for a in ledger(store).values()} == {"fixed_pending_review"}


def test_an_actions_remedy_reads_in_the_readers_language_whatever_the_inspection_was_sent_in(site):
    centre = "330212-SN-0199"
    with client(site, "bureau", lang="en") as english, client(site, "bureau", lang="zh") as chinese:
        post(english, inspection(center__id=centre, center__name="海悦社区（英文检查）"))
        zh = chinese.get("/v1/actions", params={"centre": centre}).json()["actions"]
        en = english.get("/v1/actions", params={"centre": centre}).json()["actions"]
        assert {a["clause"] for a in zh} == set(SHORT)
        cjk = re.compile(r"[\u4e00-\u9fff]")
        assert all(cjk.search(a["remedy"]) for a in zh), [a["remedy"] for a in zh]
        assert not any(cjk.search(a["remedy"]) for a in en), [a["remedy"] for a in en]
        page = session(site, "bureau1", "bureau", "zh").get("/actions", params={"centre": centre}).text
        for a in zh:
            assert html.escape(a["remedy"], quote=False) in page
        assert not any(html.escape(a["remedy"], quote=False) in page for a in en)


def session(site: Any, name: str, who: str, lang: str) -> httpx.Client:
    """A page session of ``name``, as a browser holds after logging in."""
    from test_web import csrf_of

    c = httpx.Client(base_url=site.url, timeout=60, headers={"Accept-Language": lang})
    c.post("/login", data={"name": name, "secret": site.tokens[who], "csrf": csrf_of(c.get("/login").text),
                           "next": "/"})
    return c


def test_too_many_photos_with_a_fix_are_refused_at_the_card_in_chinese_with_the_note_kept(site):
    from test_web import csrf_of

    with client(site, "bureau") as bureau:
        post(bureau, inspection(center__name="海悦社区（六张照片）"))
    haiyue = session(site, "haiyue", "haiyue", "zh")
    listed = haiyue.get("/actions")
    action = re.search(r'id="a-([0-9a-f]{32})"', listed.text).group(1)
    photos = [("photos", (f"p{n}.jpg", jpeg(n), "image/jpeg")) for n in range(6)]
    answer = haiyue.post(f"/actions/{action}/events", files=photos,
                         data={"csrf": csrf_of(listed.text), "kind": "reported_fixed", "note": "已更换门牌"})
    assert answer.status_code == 422
    assert "最多 5 张照片：这次选了 6 张" in answer.text and "已更换门牌</textarea>" in answer.text
    assert f'action="/actions/{action}/events#a-{action}"' in answer.text       # back at the card after sending
    assert haiyue.get(f"/v1/actions/{action}").status_code == 401                 # (the page session is not a token)


def test_the_state_counts_follow_the_centre_shown_and_keep_it_in_their_links(site):
    with client(site, "bureau") as bureau:
        post(bureau, inspection(center__id="330212-SN-0198", center__name="别的中心"))
    page = session(site, "bureau1", "bureau", "zh").get("/actions", params={"centre": "330212-SN-0198"})
    counts = dict(re.findall(r'<li class="st-(\w+)"><a href="([^"]+)"', page.text))
    assert counts and all("centre=330212-SN-0198" in href for href in counts.values())
    total = sum(int(n) for n in re.findall(r'<li class="st-\w+"><a [^>]+>[^<]*<strong>(\d+)</strong>', page.text))
    assert total == len(SHORT)
    assert session(site, "bureau1", "bureau", "zh").get("/actions", params={"page": "abc"}).status_code == 200


def test_the_action_cards_name_the_round_as_the_bureau_named_it(site):
    with client(site, "bureau") as bureau:
        opened = bureau.post("/v1/rounds", json={"id": "2026-卡片", "name": "2026年卡片考核", "rules": "national"})
        assert opened.status_code == 201, opened.text
        post(bureau, inspection(center__id="330212-SN-0197", audit={**INSPECTORS, "round": "2026-卡片"}))
    page = session(site, "bureau1", "bureau", "zh").get("/actions", params={"centre": "330212-SN-0197"}).text
    assert "2026年卡片考核" in page and "· 2026-卡片" not in page
