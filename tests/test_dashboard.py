"""The bureau's dashboard at a province's size: pages of 50 centres, its filters in the address, a centre's history by
rule set; on SQLite and on PostgreSQL, over real HTTP and in Chromium."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import yaml

from conftest import EXAMPLES
from test_postgres import postgres  # noqa: F401 - the PostgreSQL server, for the PostgreSQL run
from test_service import Service, add_user

SELF_CHECK = yaml.safe_load((EXAMPLES / "reconcile" / "self-check.yaml").read_text("utf-8"))     # conforming
INSPECTION = yaml.safe_load((EXAMPLES / "reconcile" / "inspection.yaml").read_text("utf-8"))
FAILING = yaml.safe_load((EXAMPLES / "dandinghe-old-compound.yaml").read_text("utf-8"))      # non-conforming
ROUND = "2026-yinzhou"


def centre(n: int) -> str:
    return f"330212-T-{n:03d}"


def profile(base: dict[str, Any], n: int, street: str, round_id: str | None = None) -> bytes:
    doc = yaml.safe_load(yaml.safe_dump(base, allow_unicode=True))
    doc["center"].update(id=centre(n), name=f"测试第{n}社区便民服务中心")
    doc["center"]["region"]["street"] = street
    doc.pop("evidence", None)
    if round_id is None:
        doc.pop("audit", None)
    else:
        doc.setdefault("audit", {})["round"] = round_id
    return yaml.safe_dump(doc, allow_unicode=True).encode()


def post(c: httpx.Client, body: bytes, rules: str = "yinzhou") -> dict[str, Any]:
    r = c.post(f"/v1/audits?rules={rules}", content=body, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def province(svc: Service) -> None:
    """51 centres under Yinzhou's rules: 1–40 conforming in 东街道 (1–30 self-checked in the round, 1–5 also
    inspected in it), 41–51 non-conforming in 西街道; centre 1 also audited under the national baseline, and centre
    52 only under it."""
    with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {svc.tokens['system']}"},
                      timeout=60) as system, \
            httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {svc.tokens['bureau']}"},
                         timeout=60) as bureau:
        for n in range(1, 52):
            if n <= 40:
                post(system, profile(SELF_CHECK, n, "东街道", ROUND if n <= 30 else None))
            else:
                post(system, profile(FAILING, n, "西街道"))
        for n in range(1, 6):
            post(bureau, profile(INSPECTION, n, "东街道", ROUND))
        post(system, profile(SELF_CHECK, 1, "东街道"), rules="national")
        post(system, profile(SELF_CHECK, 52, "东街道"), rules="national")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("dashboard"))
    if request.param == "postgresql":
        svc.db = request.getfixturevalue("postgres")
    svc.tokens = {"bureau": add_user(svc.db, "inspector", "bureau"), "system": add_user(svc.db, "feed", "system"),
                  "community": add_user(svc.db, "t001", "community", centre(1))}
    svc.args = ["--rules", "yinzhou"]
    svc.start()
    try:
        province(svc)
        yield svc
    finally:
        print(svc.stop())                   # the service's log, shown with a failure


def logged_in(svc: Service, who: str, name: str) -> httpx.Client:
    c = httpx.Client(base_url=svc.url, timeout=60, headers={"Accept-Language": "en"})
    csrf = c.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
    r = c.post("/login", data={"name": name, "secret": svc.tokens[who], "csrf": csrf})
    assert r.status_code == 303, r.text
    return c


@pytest.fixture(scope="module")
def bureau(site: Service) -> Iterator[httpx.Client]:
    c = logged_in(site, "bureau", "inspector")
    yield c
    c.close()


def centres_on(html: str) -> list[str]:
    """The centre ids of the dashboard's rows, in order."""
    body = html.split('<table class="league">')[1].split("</table>")[0]
    return re.findall(r'<span class="muted">(330212-T-\d{3})</span>', body)


def pager_links(html: str) -> list[str]:
    """The links of the page's pagers (above and below the table)."""
    navs = re.findall(r'<nav class="pager[^"]*".*?</nav>', html, flags=re.S)
    return [a.replace("&amp;", "&") for nav in navs for a in re.findall(r'href="([^"]+)"', nav)]


def test_fifty_one_centres_make_two_pages_and_the_second_shows_the_fifty_first(bureau):
    first = bureau.get("/dashboard")
    assert first.status_code == 200
    assert centres_on(first.text) == [centre(n) for n in range(1, 51)]
    assert "Centres 1–50 of 51" in first.text and "Page 1 of 2" in first.text
    assert "/dashboard?page=2" in pager_links(first.text)
    second = bureau.get("/dashboard?page=2")
    assert centres_on(second.text) == [centre(51)]
    assert "Centre 51 of 51:" in second.text and "Page 2 of 2" in second.text
    assert "/dashboard" in pager_links(second.text)                 # back to the first page, by its plain address
    assert "1 more centre has audits only under other rule sets." in first.text      # centre 52


@pytest.mark.parametrize("asked, lands", [("3", "/dashboard?page=2"), ("999999999999", "/dashboard"),
                                          ("0", "/dashboard"), ("-1", "/dashboard"), ("two", "/dashboard"),
                                          ("1.5", "/dashboard"), ("", None), ("%00", "/dashboard")])
def test_a_page_number_past_the_last_or_not_a_number_leads_to_a_page_there_is(bureau, asked, lands):
    r = bureau.get(f"/dashboard?page={asked}")
    if lands is None:
        assert r.status_code == 200
    else:
        assert r.status_code == 303 and r.headers["location"] == lands


def test_the_filters_are_in_the_address_and_in_the_page_links(bureau):
    r = bureau.get("/dashboard", params={"street": "西街道"})
    assert centres_on(r.text) == [centre(n) for n in range(41, 52)]
    assert "Centres 1–11 of 11 (51 without the filters)" in r.text
    assert '<option selected>西街道</option>' in r.text

    r = bureau.get("/dashboard", params={"verdict": "non_conforming"})
    assert centres_on(r.text) == [centre(n) for n in range(41, 52)]
    r = bureau.get("/dashboard", params={"verdict": "conforming", "street": "东街道"})
    assert centres_on(r.text) == [centre(n) for n in range(1, 41)]

    grades = set(re.findall(r'<option value="(\w+)" >', r.text.split('name="grade"')[1].split("</select>")[0]))
    assert grades, r.text
    by_grade = {grade: centres_on(bureau.get("/dashboard", params={"grade": grade}).text) for grade in grades}
    assert all(by_grade.values()) and sorted(sum(by_grade.values(), [])) == [centre(n) for n in range(1, 52)]
    assert len(grades) >= 2                           # each grade's centres apart, together every centre

    r = bureau.get("/dashboard", params={"kind": "inspection"})
    assert centres_on(r.text) == [centre(n) for n in range(1, 6)]
    assert r.text.count('<span class="tag">inspection</span>') == 5

    r = bureau.get("/dashboard", params={"kind": "self_check", "street": "东街道", "verdict": "conforming"})
    assert len(centres_on(r.text)) == 40 and '<span class="tag">inspection</span>' not in r.text

    r = bureau.get("/dashboard", params={"round": ROUND})
    assert centres_on(r.text) == [centre(n) for n in range(1, 31)]
    assert f"<option selected>{ROUND}</option>" in r.text
    assert "each centre's latest result in round 2026-yinzhou" in r.text
    rows = r.text.split('<table class="league">')[1].split("</table>")[0]
    assert rows.count('<span class="tag">inspection</span>') == 5       # in the round, 1–5's latest are inspections

    r = bureau.get("/dashboard", params={"round": ROUND, "kind": "self_check"})
    assert len(centres_on(r.text)) == 30 and '<span class="tag">inspection</span>' not in r.text
    assert centres_on(bureau.get("/dashboard", params={"round": "2025-none"}).text) == []
    assert "No centre matches these filters." in bureau.get("/dashboard", params={"round": "2025-none"}).text

    r = bureau.get("/dashboard", params={"q": "330212-T-04"})
    assert centres_on(r.text) == [centre(n) for n in range(40, 50)]
    r = bureau.get("/dashboard", params={"q": "第7社区"})
    assert centres_on(r.text) == [centre(7)]
    assert centres_on(bureau.get("/dashboard", params={"q": "100%_"}).text) == []      # wildcards are letters

    # Two pages of self-checks: the link to the second keeps the filter, and the second page shows the 51st.
    r = bureau.get("/dashboard", params={"kind": "self_check"})
    assert "/dashboard?kind=self_check&page=2" in pager_links(r.text)
    assert centres_on(bureau.get("/dashboard?kind=self_check&page=2").text) == [centre(51)]
    r = bureau.get("/dashboard", params={"rules": "national"})
    assert centres_on(r.text) == [centre(1), centre(52)]


def test_a_centres_history_keeps_each_rule_set_apart(bureau):
    r = bureau.get(f"/centres/{centre(1)}")
    assert r.status_code == 200
    sections = re.findall(r'<section class="ruleset-history" id="rules-(\w+)"', r.text)
    assert sections == ["yinzhou", "national"]                      # the service's rule set first
    yinzhou = r.text.split('id="rules-yinzhou"')[1].split("</section>")[0]
    national = r.text.split('id="rules-national"')[1].split("</section>")[0]
    assert yinzhou.count("<tr class=") == 2 and national.count("<tr class=") == 1     # self-check + inspection
    assert "not comparable" in r.text
    single = bureau.get(f"/centres/{centre(41)}").text
    assert re.findall(r'<section class="ruleset-history" id="rules-(\w+)"', single) == ["yinzhou"]
    assert '<nav class="card jump"' not in single


def test_only_centres_with_open_actions_when_asked(site, bureau):
    """The filter reads the live ledger: the centres whose inspections opened actions not yet closed (open, overdue,
    or reported fixed and waiting for review), as the API lists them."""
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.tokens['bureau']}"},
                      timeout=60) as api:
        listed = api.get("/v1/actions", params={"state": ["open", "overdue", "fixed_pending_review"],
                                                "limit": 1000}).json()["actions"]
    open_by_centre: dict[str, int] = {}
    for action in listed:
        open_by_centre[action["centre"]["id"]] = open_by_centre.get(action["centre"]["id"], 0) + 1
    assert open_by_centre, "the province's inspections opened actions"
    page = bureau.get("/dashboard")
    assert '<option value="open" >with open actions</option>' in page.text
    r = bureau.get("/dashboard", params={"actions": "open"})
    assert centres_on(r.text) == sorted(open_by_centre)
    first = sorted(open_by_centre)[0]
    count = open_by_centre[first]
    assert (f"{count} open action" + ("s" if count > 1 else "")) in r.text
    assert centres_on(bureau.get("/dashboard", params={"actions": "open", "street": "东街道"}).text) == \
        sorted(c for c in open_by_centre if int(c[-3:]) <= 40)


def test_a_community_sees_no_dashboard_and_no_other_centre(site):
    c = logged_in(site, "community", "t001")
    try:
        for path in ("/dashboard", "/dashboard?page=2&street=西街道", "/dashboard?actions=open"):
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/check"
        assert c.get(f"/centres/{centre(2)}").status_code == 404
        own = c.get(f"/centres/{centre(1)}")
        assert own.status_code == 200 and centre(2) not in own.text
    finally:
        c.close()
    with httpx.Client(base_url=site.url, timeout=30) as anonymous:
        assert anonymous.get("/dashboard?page=2").headers["location"].startswith("/login")


def test_the_dashboard_is_chinese_by_default(site):
    c = logged_in(site, "bureau", "inspector")
    r = c.get("/dashboard", params={"street": "东街道", "kind": "self_check"}, headers={"Accept-Language": "zh-CN"})
    c.close()
    assert r.status_code == 200
    html = r.text
    assert "第 1–40 个中心，共 40 个（不加筛选共 51 个）" in html
    assert "<span class=\"tag\">自查</span>" in html and "自查或检查" in html
    main = html.split("<main>")[1].split("</main>")[0]
    # Quoted input values, and the rounds' ids to choose from, may be in any language.
    main = re.sub(r"'[^']*'|<script.*?</script>|<select name=\"round\">.*?</select>", "", main, flags=re.S)
    words = {w for w in re.findall(r">([^<>]*[A-Za-z]{2,}[^<>]*)<", main) if not re.search(r"330212|zhang", w)}
    assert not words, words


def test_audits_stored_before_the_dashboard_table_fill_it_when_the_database_is_upgraded(tmp_path):
    """A bureau's database from before: its audits (one naming a round) are in the dashboard after the upgrade,
    each centre's newest shown, and the audits themselves unchanged."""
    from alembic import command
    from alembic.config import Config

    import compliance
    from compliance.service import dashboard as board
    from compliance.service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    rules = compliance.load_ruleset("yinzhou")
    stored = []
    for n, (base, round_id) in enumerate([(SELF_CHECK, None), (FAILING, None), (SELF_CHECK, ROUND)], start=1):
        body = profile(base, 1 if n == 3 else n, "东街道", round_id)
        result = compliance.evaluate(compliance.load_profile(yaml.safe_load(body)), rules)
        stored.append(store.add_audit(result, result.to_json(), profile=body, profile_type="application/yaml",
                                      submitted_by="t"))
    config = Config()
    config.set_main_option("script_location", str(Path(board.__file__).with_name("migrations")))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")              # as it was before: no dashboard table
    store.engine.dispose()

    upgraded = Store(f"sqlite:///{tmp_path / 'old.db'}")
    shown = board.page(upgraded, board.Filters("yinzhou"), 1)
    assert [r.id for r in shown.rows] == [stored[2].id, stored[1].id]          # centre 1's newest, centre 2's
    in_round = board.page(upgraded, board.Filters("yinzhou", round=ROUND), 1)
    assert [r.id for r in in_round.rows] == [stored[2].id]
    assert board.choices(upgraded, "yinzhou")["rounds"] == [ROUND]
