"""The web pages in a real browser: headless Chromium from Debian's packages, driven by Playwright."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import yaml
from playwright.sync_api import Page

import compliance
from compliance.service.web import values_of

from conftest import EXAMPLES
from test_service import Service, add_user

DANDINGHE = EXAMPLES / "dandinghe-old-compound.yaml"          # non-conforming: a plan to show


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    svc = Service(tmp_path_factory.mktemp("web"))
    doc = yaml.safe_load(DANDINGHE.read_text("utf-8"))
    svc.centre = doc["center"]["id"]
    svc.tokens = {"community": add_user(svc.db, "dandinghe", "community", svc.centre),
                  "bureau": add_user(svc.db, "zhang", "bureau")}
    svc.args = ["--rules", "yinzhou"]                  # a Yinzhou bureau's service
    svc.start()
    yield svc
    svc.stop()


def new_page(browser: Any, phone: bool = True) -> Page:
    viewport = {"width": 390, "height": 844} if phone else {"width": 1366, "height": 768}
    return browser.new_context(viewport=viewport, accept_downloads=True, locale="zh-CN").new_page()   # a Chinese browser


def log_in(page: Page, site: Any, name: str, who: str) -> None:
    page.goto(site.url + "/")
    assert "/login" in page.url
    page.fill("#name", name)
    page.fill("#secret", site.tokens[who])
    page.click("button.primary")


def fill_profile(page: Page, document: dict[str, Any], rules: compliance.RuleSet) -> None:
    """Type a profile into the self-check form as a person would: fields, check boxes, zone rows."""
    values, zones = values_of(compliance.load_profile(document).data, rules)
    page.select_option("#rules", rules.id)
    for box in page.locator("input[type=checkbox]").all():
        box.uncheck()
    for key, value in values.items():
        field = page.locator(f'[name="{key}"]').first
        kind = field.evaluate("e => e.tagName + ':' + e.type")
        if kind == "INPUT:checkbox":
            field.set_checked(value == "是")
        elif kind.startswith("SELECT"):
            field.select_option(value)
        elif field.get_attribute("readonly") is None:
            field.fill(value)
    while page.locator(".zone-row").count() < len(zones):
        page.click("#add-zone")
    while page.locator(".zone-row").count() > max(1, len(zones)):
        page.locator(".zone-row button.remove").last.click()
    for i, zone in enumerate(zones):
        row = page.locator(".zone-row").nth(i)
        row.locator("[name=zone-kind]").select_option(zone["kind"])
        row.locator("[name=zone-area]").fill(zone["area_m2"])
        row.locator("[name=zone-name]").fill(zone.get("name", ""))


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    return html.split('name="csrf" value="')[1].split('"')[0]


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_community_self_checks_in_the_browser_and_the_bureau_sees_it(site, browser):
    rules = compliance.load_ruleset("yinzhou")
    document = yaml.safe_load(DANDINGHE.read_text("utf-8"))
    expected = compliance.evaluate(compliance.load_profile(document), rules)

    page = new_page(browser)
    log_in(page, site, "dandinghe", "community")
    page.wait_for_url("**/check")
    assert page.input_value('[name="center.id"]') == site.centre           # a community checks its own centre
    assert no_sideways_scroll(page)
    fill_profile(page, document, rules)
    page.click("button.primary")
    page.wait_for_url("**/audits/*")
    assert page.locator(".big").first.inner_text() == f"{expected.score}"
    assert "不符合规范" in page.inner_text(".verdict")
    plan = page.locator("ol.plan li").all_inner_texts()
    assert len(plan) == len(expected.not_passed) + len(expected.not_evidenced) and plan
    assert no_sideways_scroll(page)
    with page.expect_download() as download:
        page.click("text=下载报告")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")
    audit_url = page.url

    # The renovation what-if: from this audit, convert office space to service space.
    page.click("text=整改方案推演")
    page.wait_for_url("**/whatif/*")
    office = [i for i, z in enumerate(document["space"]["zones"]) if z["kind"] == "office"]
    if office:
        page.locator(".zone-row").nth(office[0]).locator("[name=zone-kind]").select_option("service_hall")
    page.click("button.primary")
    assert "整改方案推演" in page.inner_text("h1")
    assert page.locator("text=能解决").count() == 1 and page.locator("text=会破坏").count() == 1

    bureau = new_page(browser, phone=False)
    log_in(bureau, site, "zhang", "bureau")
    bureau.wait_for_url("**/dashboard")
    row = bureau.locator("table.league tbody tr", has_text=site.centre)
    assert row.count() == 1 and f"{expected.score}" in row.inner_text()
    bureau.select_option('select[name="verdict"]', "conforming")
    bureau.click("text=筛选")
    assert bureau.locator("table.league tbody tr", has_text=site.centre).count() == 0
    bureau.goto(site.url + f"/centres/{site.centre}")
    assert bureau.locator("svg.chart circle").count() >= 1
    bureau.goto(audit_url)
    assert f"{expected.score}" in bureau.inner_text(".big")


def test_problems_show_beside_their_field_and_drafts_are_kept(site, browser):
    page = new_page(browser)
    log_in(page, site, "dandinghe", "community")
    page.wait_for_url("**/check")
    page.fill('[name="space.total_area_m2"]', "约500")
    page.fill('[name="population.households"]', "")
    page.click("button.primary")
    field = page.locator(".field.has-error", has=page.locator('[name="space.total_area_m2"]'))
    assert field.count() == 1 and "'约500' 不是数字" in field.inner_text()
    assert page.locator('[role=alert]').count() == 1
    assert page.input_value('[name="space.total_area_m2"]') == "约500"           # nothing typed is lost

    page.fill('[name="center.name"]', "草稿里的名字")
    page.goto(site.url + "/check")                                           # leave and come back
    assert page.input_value('[name="center.name"]') == "草稿里的名字"
    assert page.locator("text=已恢复本机保存的草稿").count() == 1


def test_login_cookie_csrf_and_readable_errors(site):
    with httpx.Client(base_url=site.url, follow_redirects=False) as c:
        form = c.get("/login").text
        csrf = csrf_of(form)
        bad = c.post("/login", data={"csrf": csrf, "name": "zhang", "secret": "wrong"})
        assert bad.status_code == 401 and "账户名或口令不正确" in bad.text and "wrong" not in bad.text
        ok = c.post("/login", data={"csrf": csrf, "name": "zhang", "secret": site.tokens["bureau"]})
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        forged = c.post("/check", data={"center.id": "x"})                  # no CSRF token
        assert forged.status_code == 403 and "text/html" in forged.headers["content-type"]
        assert "表单已过期" in forged.text and "Traceback" not in forged.text
        missing = c.get("/audits/0123456789abcdef0123456789abcdef")
        assert missing.status_code == 404 and "没有找到" in missing.text
        outside = c.get("/login", params={"next": "//evil.example/"})
        assert 'value="/"' in outside.text
    with httpx.Client(base_url=site.url, follow_redirects=False) as c:
        assert c.get("/dashboard").headers["location"].startswith("/login")


def test_a_copied_session_cookie_stops_working_at_logout(site):
    with httpx.Client(base_url=site.url, follow_redirects=False) as c:
        csrf = csrf_of(c.get("/login").text)
        assert c.post("/login", data={"csrf": csrf, "name": "zhang", "secret": site.tokens["bureau"]}).status_code == 303
        page_csrf = csrf_of(c.get("/dashboard").text)
        copied = dict(c.cookies)
        assert c.post("/logout", data={"csrf": page_csrf}).status_code == 303
    with httpx.Client(base_url=site.url, follow_redirects=False, cookies=copied) as thief:
        r = thief.get("/dashboard")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    page = httpx.get(site.url + "/login")
    assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_every_problem_of_the_form_shows_at_once_and_drafts_stay_with_their_account(site, browser):
    page = new_page(browser)
    log_in(page, site, "dandinghe", "community")
    page.wait_for_url("**/check")
    page.fill('[name="population.households"]', "x")
    page.fill('[name="space.total_area_m2"]', "abc")
    page.locator(".zone-row").first.locator("[name=zone-area]").fill("-5")
    page.click("button.primary")
    assert page.locator(".field.has-error").count() >= 2
    assert page.locator(".zone-error").count() >= 1                   # the zone's −5 too, not after a second try
    page.fill('[name="center.name"]', "只属于丹顶鹤的草稿")
    page.click("text=退出")
    page.wait_for_url("**/login")
    page.fill("#name", "zhang")
    page.fill("#secret", site.tokens["bureau"])
    page.click("button.primary")
    page.wait_for_url("**/dashboard")
    page.goto(site.url + "/check")
    assert page.input_value('[name="center.name"]') != "只属于丹顶鹤的草稿"
    assert page.locator("text=已恢复本机保存的草稿").count() == 0


# --------------------------------------------------------------------------- the bureau's dashboard and rounds

DISTRICT_BOOK = EXAMPLES / "yinzhou-district" / "centres.xlsx"
QIANHE = "330212-SN-0050"                 # 前河社区: 88.6 良好 under Yinzhou's rules, 95.0 优秀 under the national ones


@pytest.fixture(scope="module")
def bureau_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    svc = Service(tmp_path_factory.mktemp("bureau"))
    svc.tokens = {"bureau": add_user(svc.db, "zhang", "bureau")}
    svc.args = ["--rules", "yinzhou"]
    svc.start()
    yield svc
    svc.stop()


def wait_until_idle(page: Page, seconds: float = 300) -> None:
    """Until no round on the dashboard is queued or running, as the page itself shows it (no reload)."""
    deadline = time.monotonic() + seconds
    while page.locator("li.batch[data-active='1']").count():
        assert time.monotonic() < deadline, page.inner_text("#batch-list")
        time.sleep(0.25)


def upload(page: Page, book: Path, rules: str | None = None) -> None:
    if rules:
        page.select_option("#batch-rules", rules)
    page.set_input_files("#batch-file", str(book))
    page.click("#batch-form button.primary")


def league_row(page: Page, centre: str) -> str:
    """A centre's row on the dashboard: on the page shown, or else looked up by its id, as a bureau officer would
    among more centres than a page holds."""
    row = page.locator("table.league tbody tr", has_text=centre)
    if row.count() == 0:
        page.fill('form.filters input[name="q"]', centre)
        with page.expect_navigation():
            page.click("form.filters button")
    return row.inner_text()


def test_a_round_is_watched_to_its_end_and_uploading_it_again_adds_nothing(bureau_site, browser):
    page = new_page(browser, phone=False)
    log_in(page, bureau_site, "zhang", "bureau")
    page.wait_for_url("**/dashboard")
    form = page.locator("#batch-form")
    assert page.locator("#batch-form").bounding_box()["y"] < page.locator("table.league").bounding_box()["y"]
    assert page.locator("#batch-rules option:checked").inner_text() == "宁波市鄞州区（本服务的规则集）"
    assert form.locator("#other-rules").is_hidden()
    upload(page, DISTRICT_BOOK)                      # the service's rule set: no question asked
    page.wait_for_url("**/dashboard*")
    page.evaluate("window.stayed = true")            # gone if the page reloads
    batch = page.locator("li.batch").first
    assert "宁波市鄞州区" in batch.inner_text()
    seen = set()
    deadline = time.monotonic() + 300
    while batch.get_attribute("data-active") == "1":
        seen.add(batch.locator(".batch-state").inner_text())
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert page.evaluate("window.stayed === true")   # the page followed the round without a reload
    assert any("审计中" in s or "排队中" in s for s in seen), seen
    done = batch.inner_text()
    assert "已完成" in done and "已审计 138 个中心" in done and "138 条审计计入各中心的历次结果" in done, done
    assert page.locator("#reload-note").is_visible()
    page.click("#reload-note a")
    row = league_row(page, QIANHE)
    assert "88.6" in row and "良好" in row

    upload(page, DISTRICT_BOOK)                      # the same workbook again
    page.wait_for_url("**/dashboard*")
    wait_until_idle(page)
    again = page.locator("li.batch").first.inner_text()
    assert "0 条审计计入" in again and "138 个中心与其最新一次审计完全相同，未重复计入" in again, again
    page.goto(bureau_site.url + f"/centres/{QIANHE}")
    assert "共 1 次审计" in page.inner_text("main")

    page.goto(bureau_site.url + "/dashboard")
    with page.expect_download() as download:
        page.locator("li.batch").first.locator(".downloads a", has_text="summary.xlsx").click()
    assert download.value.suggested_filename.startswith("centres-") and \
        download.value.suggested_filename.endswith("-summary.xlsx")


def test_a_round_under_another_rule_set_is_confirmed_first_and_leaves_the_latest_results_alone(bureau_site, browser):
    page = new_page(browser, phone=False)
    log_in(page, bureau_site, "zhang", "bureau")
    page.wait_for_url("**/dashboard")
    if page.locator("table.league tbody tr", has_text=QIANHE).count() == 0:     # run alone: the Yinzhou round first
        upload(page, DISTRICT_BOOK)
        page.wait_for_url("**/dashboard*")
        wait_until_idle(page)
        page.goto(bureau_site.url + "/dashboard")
    page.select_option("#batch-rules", "national")
    assert page.locator("#other-rules").is_visible()                 # said before it is sent
    upload(page, DISTRICT_BOOK)
    page.wait_for_url("**/batches")
    assert "按全国基线审计这一轮？" in page.inner_text("h1")
    assert "本服务的规则集是宁波市鄞州区" in page.inner_text("main")
    before = bureau_site_batches(page, bureau_site)
    page.click("#run-asked")
    page.wait_for_url("**/dashboard*")
    wait_until_idle(page)
    assert "全国基线" in page.locator("li.batch").first.inner_text()
    assert bureau_site_batches(page, bureau_site) == before + 1
    page.goto(bureau_site.url + "/dashboard")
    row = league_row(page, QIANHE)
    assert "88.6" in row and "良好" in row                           # still the latest under Yinzhou's rules
    assert "按宁波市鄞州区（本服务的规则集）" in page.inner_text("main")
    page.select_option('form.filters select[name="rules"]', "national")
    with page.expect_navigation():
        page.click("form.filters button")
    row = league_row(page, QIANHE)
    assert "95.0" in row and "优秀" in row
    assert "不是本服务的规则集" in page.inner_text("main")

    # Cancelled: nothing runs.
    page.goto(bureau_site.url + "/dashboard")
    upload(page, DISTRICT_BOOK, "beijing")
    page.wait_for_url("**/batches")
    page.click("#cancel")
    page.wait_for_url("**/dashboard")
    assert bureau_site_batches(page, bureau_site) == before + 1

    # Asked under another, audited under the service's after all.
    upload(page, DISTRICT_BOOK, "ningbo")
    page.wait_for_url("**/batches")
    page.click("#run-default")
    page.wait_for_url("**/dashboard*")
    wait_until_idle(page)
    assert "宁波市鄞州区" in page.locator("li.batch").first.locator(".batch-head").inner_text()

    # A centre's history keeps one line per rule set, named by title.
    page.goto(bureau_site.url + f"/centres/{QIANHE}")
    assert page.locator("svg.chart g.series").count() == 2
    assert page.locator("ul.legend li").all_inner_texts() == ["宁波市鄞州区 本服务的规则集", "全国基线"]
    text = page.inner_text("main")
    assert "national" not in text and "yinzhou" not in text


def bureau_site_batches(page: Page, site: Any) -> int:
    import sqlite3

    db = sqlite3.connect(site.db_path)
    try:
        return int(db.execute("select count(*) from batches").fetchone()[0])
    finally:
        db.close()


def test_the_dashboard_says_why_a_centre_fails_and_fits_a_phone(bureau_site, browser):
    page = new_page(browser)
    log_in(page, bureau_site, "zhang", "bureau")
    page.wait_for_url("**/dashboard")
    if page.locator("table.league tbody tr").count() < 100:
        upload(page, DISTRICT_BOOK)
        page.wait_for_url("**/dashboard*")
        wait_until_idle(page)
        page.goto(bureau_site.url + "/dashboard")
    assert no_sideways_scroll(page)
    row = page.locator("table.league tbody tr", has_text="330212-BH-0007")        # 丹顶鹤: three veto clauses
    reasons = row.locator(".why-inline .reason").all_inner_texts()
    assert reasons == ["5.2 服务空间最大化（8:2）", "5.5 服务大厅设在一楼", "8.1 一窗受理、一网通办"]
    assert row.locator(".why-inline").is_visible()          # under the name, on a phone
    assert row.locator("td.why").is_hidden()
    laptop = new_page(browser, phone=False)
    log_in(laptop, bureau_site, "zhang", "bureau")
    laptop.wait_for_url("**/dashboard")
    row = laptop.locator("table.league tbody tr", has_text="330212-BH-0007")
    assert row.locator("td.why").is_visible() and "5.2 服务空间最大化（8:2）" in row.locator("td.why").inner_text()
    conforming = laptop.locator("table.league tbody tr.conforming").first
    assert conforming.locator("td.why").inner_text().strip() == ""
    for path in ("/settings", f"/centres/{QIANHE}", "/centres/330212-BH-0007"):
        page.goto(bureau_site.url + path)
        assert no_sideways_scroll(page), path


def test_the_bureau_changes_the_services_rule_set_and_every_default_follows(tmp_path, browser):
    svc = Service(tmp_path)
    svc.tokens = {"bureau": add_user(svc.db, "zhang", "bureau")}
    svc.args = ["--rules", "yinzhou"]
    svc.start()
    try:
        page = new_page(browser)
        log_in(page, svc, "zhang", "bureau")
        page.wait_for_url("**/dashboard")
        page.click("nav >> text=设置")
        page.wait_for_url("**/settings")
        assert page.inner_text("#rules-setting .big-line") == "宁波市鄞州区"
        assert "首次启动服务时设定（--rules yinzhou）" in page.inner_text("#rules-source")
        assert no_sideways_scroll(page)
        page.select_option("#rules", "ningbo")
        page.click("#rules-setting button.primary")
        page.wait_for_url("**/settings?saved=1")
        assert "已保存：本服务的规则集现在是宁波市" in page.inner_text("main")
        assert "由 zhang 于" in page.inner_text("#rules-source")
        page.goto(svc.url + "/dashboard")
        assert "按宁波市（本服务的规则集）" in page.inner_text("main")
        assert page.locator("#batch-rules option:checked").inner_text() == "宁波市（本服务的规则集）"
        page.goto(svc.url + "/check")
        assert page.locator("#rules option:checked").inner_text() == "宁波市"
    finally:
        svc.stop()
    svc.args = ["--rules", "beijing"]                 # a restart with another option: the bureau's choice stays
    svc.start()
    try:
        with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {svc.tokens['bureau']}"}) as c:
            assert [r["id"] for r in c.get("/v1/rulesets").json() if r["default"]] == ["ningbo"]
    finally:
        svc.stop()
