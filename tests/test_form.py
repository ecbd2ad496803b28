"""The self-check form as a community worker uses it on a phone, and as a laptop shows it: Chromium from Debian's
packages, driven by Playwright, against a started service."""
from __future__ import annotations

import copy
import re
import sqlite3
from typing import Any, Iterator

import httpx
import pytest
import yaml
from playwright.sync_api import Page

import compliance

from conftest import EXAMPLES
from test_service import Service, add_user
from test_web import csrf_of, fill_profile, no_sideways_scroll

DANDINGHE = EXAMPLES / "dandinghe-old-compound.yaml"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    svc = Service(tmp_path_factory.mktemp("form"))
    svc.document = yaml.safe_load(DANDINGHE.read_text("utf-8"))
    svc.centre = svc.document["center"]["id"]
    svc.tokens = {"community": add_user(svc.db, "dandinghe", "community", svc.centre),
                  "bureau": add_user(svc.db, "zhang", "bureau")}
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture()
def page(site: Any, browser: Any) -> Iterator[Page]:
    """A community worker's phone, logged in on the self-check form with no draft."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    p = context.new_page()
    log_in(p, site)
    yield p
    context.close()


def log_in(page: Page, site: Any, name: str = "dandinghe", who: str = "community") -> None:
    page.goto(site.url + "/login")
    page.fill("#name", name)
    page.fill("#secret", site.tokens[who])
    page.click("button.primary")
    page.wait_for_url("**/check" if who == "community" else "**/dashboard")
    page.evaluate("localStorage.clear()")
    if who == "community":
        page.reload()


def rules() -> compliance.RuleSet:
    return compliance.load_ruleset("yinzhou")


def submit(page: Page) -> None:
    with page.expect_navigation():
        page.click("#send")


def summary_items(page: Page) -> list[str]:
    return page.locator("#problems li").all_inner_texts()


def invalid_fields(page: Page) -> list[str]:
    """The ids of the fields marked invalid (check boxes of a list count as their list, once)."""
    ids = page.eval_on_selector_all(
        "#profile-form [aria-invalid=true]",
        "els => els.map(e => e.type === 'checkbox' ? e.closest('.codes').id : e.id)")
    return sorted(set(ids))


def described(page: Page, field_id: str) -> str:
    """The words a screen reader reads with a field: the element its aria-describedby names."""
    ref = page.get_attribute(f"[id='{field_id}']", "aria-describedby")
    assert ref, f"{field_id} has no aria-describedby"
    return page.inner_text(f"[id='{ref}']")


def history(site: Any) -> list[dict[str, Any]]:
    r = httpx.get(f"{site.url}/v1/centres/{site.centre}/audits",
                  headers={"Authorization": f"Bearer {site.tokens['community']}"})
    assert r.status_code == 200
    return list(r.json()["audits"])


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_blank_required_fields_are_marked_at_their_fields_and_the_summary_links_to_each(site, browser, viewport):
    page = browser.new_context(viewport=viewport, locale="zh-CN").new_page()
    log_in(page, site)
    fill_profile(page, site.document, rules())
    page.fill('[name="center.name"]', "")
    page.fill('[name="population.households"]', "")
    page.select_option('[name="center.setting"]', "")
    submit(page)

    heading = page.inner_text("#problems p")
    assert "有 3 处需要修改" in heading
    items = summary_items(page)
    assert len(items) == 3
    assert invalid_fields(page) == ["center.name", "center.setting", "population.households"]
    for field_id, name in (("center.name", "中心名称"), ("population.households", "户数"),
                           ("center.setting", "城市/农村")):
        assert "必填" in described(page, field_id)
        assert any(item.startswith(name) for item in items)
        box = page.locator(".field.has-error", has=page.locator(f"[id='{field_id}']"))
        assert box.count() == 1
    # The summary is at the top of a form seven screens tall: each link takes the worker to its field.
    page.locator("#problems a", has_text="户数").click()
    assert page.evaluate("document.activeElement.id") == "population.households"
    assert page.locator("[id='population.households']").is_visible()
    top = page.evaluate("document.getElementById('population.households').getBoundingClientRect().top")
    assert 0 <= top <= viewport["height"]
    # Filled in, the same page is accepted.
    page.fill('[name="center.name"]', "丹顶鹤社区便民服务中心")
    page.fill('[name="population.households"]', "1350")
    page.select_option('[name="center.setting"]', "urban")
    submit(page)
    assert "/audits/" in page.url
    page.context.close()


def test_one_mistake_is_one_problem_at_its_own_field(site, page):
    fill_profile(page, site.document, rules())
    row = page.locator(".zone-row").first
    row.locator("[name=zone-area]").fill("约35")
    submit(page)

    assert len(summary_items(page)) == 1 and "有 1 处需要修改" in page.inner_text("#problems")
    assert invalid_fields(page) == ["zone-0-area_m2"]
    assert "'约35' 不是数字" in described(page, "zone-0-area_m2")
    assert page.get_attribute("#zone-0-kind", "aria-invalid") is None           # the zone's type is right
    assert "缺少" not in page.inner_text("main")                                 # no "required key missing" too
    assert page.input_value("#zone-0-area_m2") == "约35"


def test_several_mistakes_at_once_each_at_its_field_and_counted_as_shown(site, page):
    fill_profile(page, site.document, rules())
    page.fill('[name="population.households"]', "x")
    page.fill('[name="space.total_area_m2"]', "")
    page.locator(".zone-row").nth(1).locator("[name=zone-area]").fill("-5")
    page.locator(".zone-row").nth(2).locator("[name=zone-kind]").select_option("")
    page.fill('[name="services.satisfaction_rate"]', "120")
    page.fill('[name="staff.certified_social_workers"]', "99")
    submit(page)

    shown = invalid_fields(page)
    assert shown == ["population.households", "services.satisfaction_rate", "space.total_area_m2",
                     "staff.certified_social_workers", "zone-1-area_m2", "zone-2-kind"]
    items = summary_items(page)
    assert len(items) == len(shown) == page.locator("#problems a").count()
    assert f"有 {len(shown)} 处需要修改" in page.inner_text("#problems")
    for field_id in shown:
        assert described(page, field_id)
        assert page.locator(f"#problems a[href='#{field_id}']").count() == 1
    assert no_sideways_scroll(page)


def test_rates_are_asked_for_and_stored_as_percentages(site, page):
    label = page.inner_text("label[for='services.satisfaction_rate']")
    assert "（%）" in label and "0–1" not in label
    fill_profile(page, site.document, rules())
    page.fill('[name="services.satisfaction_rate"]', "95 %")
    page.fill('[name="services.grid_coverage"]', "87.5")
    submit(page)
    assert "/audits/" in page.url

    audit = history(site)[0]
    doc = httpx.get(f"{site.url}/v1/audits/{audit['id']}",
                    headers={"Authorization": f"Bearer {site.tokens['community']}"}).json()
    measured = {f["clause"]: f["measured"] for f in doc["findings"]}
    assert measured["8.7"] == 0.95 and measured["8.6"] == 0.875
    page.goto(site.url + "/check")                              # the next self-check starts from this one
    assert page.input_value('[name="services.satisfaction_rate"]') == "95"
    assert page.input_value('[name="services.grid_coverage"]') == "87.5"

    page.fill('[name="services.satisfaction_rate"]', "150")
    page.fill('[name="services.grid_coverage"]', "九成")
    submit(page)
    assert "'150' 超出范围，百分数应在 0 到 100 之间" in described(page, "services.satisfaction_rate")
    assert "不是百分数" in described(page, "services.grid_coverage")
    assert "至多 1" not in page.inner_text("main")


def test_dates_are_bounded_and_checked(site, page):
    date = page.locator("[name='center.assessed_on']")
    assert date.get_attribute("min") == "2000-01-01" and date.get_attribute("max").endswith("-12-31")
    fill_profile(page, site.document, rules())
    # Typed over the calendar, a five-digit year is a value the input still sends.
    date.evaluate("e => e.value = '52026-02-02'")
    assert date.input_value() == "52026-02-02"
    submit(page)
    assert "'52026-02-02' 不在 2000-01-01 至" in described(page, "center.assessed_on")
    assert len(summary_items(page)) == 1
    # A date left half typed reaches the server as nothing: the page says so instead of sending it.
    date.evaluate("e => e.value = ''")
    date.focus()
    page.keyboard.type("12")                                    # a month, and nothing more
    assert date.evaluate("e => e.validity.badInput")
    page.click("#send")
    assert "/check" in page.url and "日期不完整" in described(page, "center.assessed_on")
    assert page.evaluate("document.activeElement.name") == "center.assessed_on"


def test_the_form_takes_dates_and_percentages_as_people_write_them_without_a_browser(site):
    with httpx.Client(base_url=site.url, follow_redirects=False) as c:
        csrf = csrf_of(c.get("/login").text)
        assert c.post("/login", data={"csrf": csrf, "name": "zhang", "secret": site.tokens["bureau"]}).status_code == 303
        form = c.get("/check").text
        base = form_data(site.document, csrf_of(form))
        for written, stored in (("2026/3/9", "2026-03-09"), ("2026年3月9日", "2026-03-09")):
            r = c.post("/check", data={**base, "center.assessed_on": written})
            assert r.status_code == 303, r.text
            audit = c.get(r.headers["location"]).text
            assert "丹顶鹤" in audit
            kept = httpx.get(site.url + "/v1" + r.headers["location"],
                             headers={"Authorization": f"Bearer {site.tokens['bureau']}"}).json()
            assert kept["center"]["assessed_on"] == stored
        # Numbers with the unit their label names, as people write them.
        zones = base["zone-area"]
        with_units = {**base, "space.total_area_m2": f"{base['space.total_area_m2']} 平方米",
                      "population.households": "1,350户", "staff.community_workers": "8人",
                      "zone-area": [f"{zones[0]}㎡"] + [f"{a} m²" for a in zones[1:]]}
        r = c.post("/check", data=with_units)
        assert r.status_code == 303, r.text
        prefilled = c.get(f"/check?centre={site.centre}").text
        assert 'name="population.households" inputmode="numeric" value="1350"' in prefilled
        for bad in ("2026-02-30", "1999-12-31", "09/03/2026"):
            r = c.post("/check", data={**base, "center.assessed_on": bad})
            assert r.status_code == 422 and 'aria-invalid="true" aria-describedby="center.assessed_on-error"' in r.text


def form_data(document: dict[str, Any], csrf: str) -> dict[str, Any]:
    """A profile as the self-check form posts it: a field each, a box for each item of a list that is ticked,
    and the zones as rows."""
    from compliance.batch import table
    from compliance.service.web import values_of

    values, zones = values_of(compliance.load_profile(document).data, rules())
    boxes = {c.key for c in table.columns(rules().vocabulary) if c.kind == "code"}
    data: dict[str, Any] = {"csrf": csrf, "rules": "yinzhou"}
    data.update({k: v for k, v in values.items() if k not in boxes or v == "是"})
    data["zone-kind"] = [z["kind"] for z in zones]
    data["zone-area"] = [z["area_m2"] for z in zones]
    data["zone-name"] = [z.get("name", "") for z in zones]
    return data


def test_zone_rows_are_labelled_on_a_phone_and_headed_on_a_laptop(site, browser, page):
    rows = page.locator(".zone-row").count()
    page.click("#add-zone")
    for row in page.locator(".zone-row").all():
        for name in ("zone-kind", "zone-area", "zone-name"):
            field = row.locator(f"[name={name}]")
            label = page.locator(f"label[for='{field.get_attribute('id')}']")
            assert label.count() == 1 and label.is_visible() and label.inner_text().strip()
    assert page.locator(".zone-row").count() == rows + 1
    ids = page.eval_on_selector_all(".zone-row select", "els => els.map(e => e.id)")
    assert len(set(ids)) == len(ids)
    assert no_sideways_scroll(page)

    laptop = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
    log_in(laptop, site)
    assert laptop.locator(".zone-head").is_visible()
    label = laptop.locator(".zone-row .zone-label").first.bounding_box()        # read aloud, not shown twice
    assert label is not None and label["width"] <= 1 and label["height"] <= 1
    laptop.context.close()


def test_clearing_the_draft_asks_first_and_sits_away_from_submit(site, page):
    page.fill('[name="center.community"]', "草稿里的社区")
    clear = page.locator("#clear-draft")
    assert clear.is_visible()
    assert page.locator(".actions #clear-draft").count() == 0
    send_top = page.locator("#send").bounding_box()["y"]
    assert send_top - clear.bounding_box()["y"] > PHONE["height"]            # screens apart, not side by side

    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    clear.click()
    assert asked and "草稿" in asked[0]
    assert page.input_value('[name="center.community"]') == "草稿里的社区"    # declined: nothing lost
    page.reload()
    assert page.input_value('[name="center.community"]') == "草稿里的社区"
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        clear.click()
    assert page.input_value('[name="center.community"]') != "草稿里的社区"


def test_a_double_tap_on_submit_stores_one_audit(site, page):
    fill_profile(page, site.document, rules())
    page.fill('[name="center.community"]', "双击测试社区")
    before = len(history(site))
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    with page.expect_navigation(url="**/audits/*"):
        page.dblclick("#send")
    assert "/audits/" in page.url
    assert len(posts) == 1
    assert len(history(site)) == before + 1


def test_the_same_self_check_sent_twice_is_stored_once(site):
    with httpx.Client(base_url=site.url, follow_redirects=False) as c:
        csrf = csrf_of(c.get("/login").text)
        assert c.post("/login", data={"csrf": csrf, "name": "dandinghe", "secret": site.tokens["community"]}).status_code == 303
        data = form_data(site.document, csrf_of(c.get("/check").text))
        before = len(history(site))
        first = c.post("/check", data=data)
        again = c.post("/check", data=data)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        assert len(history(site)) == before + 1
        # The same self-check from a page opened afresh (another tab, a reload) is still the audit stored.
        reopened = {**data, "csrf": csrf_of(c.get("/check").text)}
        assert c.post("/check", data=reopened).headers["location"] == first.headers["location"]
        assert len(history(site)) == before + 1
        # A changed self-check is a new audit, not the old one.
        changed = c.post("/check", data={**data, "staff.grid_workers": "9"})
        assert changed.status_code == 303 and changed.headers["location"] != first.headers["location"]
        assert len(history(site)) == before + 2


def test_the_what_if_says_what_the_plan_breaks_and_changing_it_returns_to_the_plan(site, page):
    on_the_ground = copy.deepcopy(site.document)
    on_the_ground["space"]["service_hall_floor"] = 1        # 5.5 met today
    fill_profile(page, on_the_ground, rules())
    submit(page)
    page.click("a[href^='/whatif/']")
    page.wait_for_url("**/whatif/*")
    office = next(i for i, z in enumerate(on_the_ground["space"]["zones"]) if z["kind"] == "office")
    page.locator(".zone-row").nth(office).locator("[name=zone-kind]").select_option("service_hall")
    page.fill('[name="space.service_hall_floor"]', "3")
    submit(page)

    top = page.inner_text("section.card >> nth=0")
    assert "方案将破坏否决项 5.5" in top
    assert "仍未通过否决项 5.5" not in top and "5.5 仍未达标" not in top
    assert "方案可解决否决项 5.2" in top
    broken = page.locator("section.card.warn")
    assert "5.5" in broken.inner_text() and "符合 → 不符合" in broken.inner_text()

    # In English, the same plan's what-if (not the audit it started from), worded as the comparison has it.
    with page.expect_navigation():
        page.click("header .lang")
    top = page.inner_text("section.card >> nth=0")
    assert "The plan breaks the veto clause 5.5, which is met today." in top
    assert "The plan fixes the veto clause 5.2." in top
    with page.expect_navigation():
        page.click("header .lang")
    assert "方案将破坏否决项 5.5" in page.inner_text("section.card >> nth=0")

    page.click("text=修改方案")
    page.wait_for_load_state()
    assert page.input_value('[name="space.service_hall_floor"]') == "3"       # the plan, not today's audit
    assert page.locator(".zone-row").nth(office).locator("[name=zone-kind]").input_value() == "service_hall"
    assert page.get_attribute("#profile-form", "action").startswith("/whatif/")
    page.fill('[name="space.service_hall_floor"]', "1")
    submit(page)
    assert "方案将破坏否决项" not in page.inner_text("section.card >> nth=0")


def test_on_a_phone_nothing_splits_and_wide_tables_scroll_in_their_frame(site, page):
    fill_profile(page, site.document, rules())
    submit(page)
    assert no_sideways_scroll(page)
    # A badge (不符合, 否决项) or a score and its unit is one piece, never two lines.
    assert page.locator(".tag").count() > 0 and page.locator(".keep").count() > 0
    assert split_pieces(page) == []
    page.click("a[href^='/whatif/']")
    submit(page)
    assert page.locator(".keep .big").count() == 1                    # "46.2 分（不合格）"
    assert split_pieces(page) == []
    assert no_sideways_scroll(page)

    page.goto(site.url + f"/centres/{site.centre}")                   # the history: a table wider than a phone
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("e => e.scrollWidth > e.clientWidth")
    assert page.locator(".scroll-hint").first.is_visible()
    wrap.evaluate("e => e.scrollLeft = 200")
    assert wrap.evaluate("e => e.scrollLeft") > 0
    assert no_sideways_scroll(page)
    assert page.evaluate("window.scrollX") == 0


def split_pieces(page: Page) -> list[str]:
    """The badges and figures-with-units laid out on more than one line: pieces of text that do not share a
    line (their boxes do not overlap from top to bottom)."""
    return list(page.eval_on_selector_all(".tag, .keep", """els => els.filter(e => {
        const range = document.createRange();
        range.selectNodeContents(e);
        const rects = [...range.getClientRects()].filter(r => r.width > 0);
        return rects.some(a => rects.some(b => a.bottom <= b.top || b.bottom <= a.top));
    }).map(e => e.textContent)"""))


def test_error_pages_keep_the_navigation(site, page):
    def has_navigation() -> bool:
        nav = page.locator("header nav")
        return nav.locator("a[href='/check']").count() == 1 and nav.locator("text=退出").count() == 1

    page.goto(site.url + "/audits/0123456789abcdef0123456789abcdef")
    assert "没有找到" in page.inner_text("main") and has_navigation()
    page.goto(site.url + "/no/such/page")
    assert has_navigation()
    page.goto(site.url + "/check")
    page.evaluate("document.querySelector('#profile-form [name=csrf]').value = 'stale'")
    submit(page)
    assert "表单已过期" in page.inner_text("main") and has_navigation()
    response = page.goto(site.url + "/check?rules=nowhere")
    assert response is not None and response.status == 422 and has_navigation()

    # An audit whose stored rules changed is a problem page (409); one the service cannot read is a 500.
    # (the module's other tests store audits, but they may run in another worker: this test stores its own)
    stored = httpx.post(f"{site.url}/v1/audits", content=DANDINGHE.read_bytes(),
                        headers={"Authorization": f"Bearer {site.tokens['community']}",
                                 "Content-Type": "application/yaml"})
    assert stored.status_code in (200, 201), stored.text
    audits = history(site)
    assert audits and audits[0]["id"] == stored.json()["id"]
    changed, unreadable = stored_copy(site, audits[0]["id"], ruleset_hash="0" * 64), \
        stored_copy(site, audits[0]["id"], result=b"{not json")
    response = page.goto(site.url + f"/audits/{changed}")
    assert response is not None and response.status == 409
    assert "规则集已变更" in page.inner_text("main") and has_navigation()
    response = page.goto(site.url + f"/audits/{unreadable}")
    assert response is not None and response.status == 500
    assert "Traceback" not in page.content() and has_navigation()


def stored_copy(site: Any, audit_id: str, **changes: Any) -> str:
    """A copy of a stored audit with some columns changed, put in the database as the service would find it (audits
    are append-only: a new row, never an edit). Its id."""
    import secrets

    with sqlite3.connect(site.db_path) as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM audits WHERE id = ?", (audit_id,)).fetchone())
        row.pop("seq", None)
        row.update(changes, id=secrets.token_hex(16))
        db.execute(f"INSERT INTO audits ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    return str(row["id"])


def test_the_form_is_english_with_the_language_switch(site, page):
    page.click("header a.lang")
    assert page.inner_text("h1") == "Self-check"
    page.fill('[name="center.name"]', "")
    page.fill('[name="services.satisfaction_rate"]', "120")
    submit(page)
    assert "Satisfaction (%)" in page.inner_text("label[for='services.satisfaction_rate']")
    assert "things to correct" in page.inner_text("#problems") or "thing to correct" in page.inner_text("#problems")
    assert "required: fill this in" in described(page, "center.name")
    words = page.evaluate("""() => {
        const skip = new Set(['SCRIPT', 'STYLE', 'OPTION', 'TEXTAREA']);
        const out = [];
        const walk = n => { if (n.nodeType === 3) out.push(n.textContent);
                            else if (!skip.has(n.nodeName)) n.childNodes.forEach(walk); };
        walk(document.body);
        return out.join(' ');
    }""")
    # No Chinese in the English page but the way back to Chinese and what the centre itself is called.
    chinese = set(re.findall(r"[\u4e00-\u9fff]+", words)) - {"中文"}
    assert chinese <= set(re.findall(r"[\u4e00-\u9fff]+", yaml.safe_dump(site.document, allow_unicode=True))), chinese
    page.click("header a.lang")
    assert page.inner_text("h1") == "自查"


def test_a_self_check_prefilled_from_the_last_one_is_dated_today_and_says_so(site):
    from compliance.model import today_in_china

    today = today_in_china().isoformat()
    with httpx.Client(base_url=site.url, follow_redirects=False) as c:
        csrf = csrf_of(c.get("/login").text)
        assert c.post("/login", data={"csrf": csrf, "name": "dandinghe", "secret": site.tokens["community"]}).status_code == 303
        sent = c.post("/check", data={**form_data(site.document, csrf_of(c.get("/check").text)),
                                      "center.assessed_on": "2025-03-09"})
        assert sent.status_code == 303
        form = c.get("/check").text                   # prefilled from that self-check, but dated today
        assert f'name="center.assessed_on" type="date" value="{today}"' in form
        assert 'value="2025-03-09"' not in form
        assert '<label for="center.assessed_on">自查日期' in form and "检查日期" not in form
        english = c.get("/check?lang=en").text
        assert '<label for="center.assessed_on">Date of the self-check' in english
        c.post("/login", data={"csrf": csrf_of(c.get("/login").text), "name": "zhang", "secret": site.tokens["bureau"]})
        assert '<label for="center.assessed_on">自查日期' in c.get(f"/check?centre={site.centre}&lang=zh").text
