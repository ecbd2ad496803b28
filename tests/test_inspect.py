"""The whole year through the browser, on a phone: a community self-checks, a bureau inspector inspects with photos,
the actions appear, the community reports one fixed with a photo, a later inspection closes it, and the round's
ledger downloads. In Debian's Chromium, over real HTTP."""
from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page

import compliance

from test_actions import CENTRE, fixed, short
from test_evidence_service import jpeg
from test_rounds import wait_for_file
from test_service import Service, add_user
from test_web import fill_profile, log_in, new_page, no_sideways_scroll

ROUND = "2026-海曙-考核"
SHOTS = Path(__file__).parent.parent / "build" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    svc = Service(tmp_path_factory.mktemp("inspect"))
    svc.tokens = {"bureau": add_user(svc.db, "wangmin", "bureau"),
                  "haiyue": add_user(svc.db, "haiyue", "community", CENTRE),
                  "other": add_user(svc.db, "elsewhere", "community", "330212-XX-9999")}
    svc.photos = tmp_path_factory.mktemp("photos")
    svc.start()
    yield svc
    svc.stop()


def api(site: Any, who: str) -> httpx.Client:
    return httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.tokens[who]}"}, timeout=60)


def photo(site: Any, name: str, seed: int) -> str:
    path = site.photos / name
    path.write_bytes(jpeg(seed, (320, 240)))
    return str(path)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"inspect-{name}.png"), full_page=True)


def card(page: Page, clause: str) -> Any:
    return page.locator("li.action-card", has=page.locator("h2", has_text=clause)).first


def test_the_year_on_a_phone_from_self_check_to_a_closed_action_and_the_rounds_ledger(site, browser):
    rules = compliance.load_ruleset("national")
    with api(site, "bureau") as bureau:
        opened = bureau.post("/v1/rounds", json={"id": ROUND, "name": "2026年考核", "rules": "national"})
        assert opened.status_code == 201, opened.text

    # A community self-checks, claiming every clause met.
    community = new_page(browser)
    log_in(community, site, "haiyue", "haiyue")
    community.wait_for_url("**/check")
    fill_profile(community, fixed(), rules)
    community.click("#send")
    community.wait_for_url("**/audits/*")
    assert "/inspect" not in community.content()                   # a community is never offered an inspection
    assert community.request.get(site.url + f"/inspect?centre={CENTRE}").status == 403

    # The bureau's inspector opens the centre and inspects it: the form starts from the self-check.
    inspector = new_page(browser)
    log_in(inspector, site, "wangmin", "bureau")
    inspector.goto(site.url + f"/centres/{CENTRE}")
    inspector.click(f'a[href="/inspect?centre={CENTRE}"]')
    inspector.wait_for_url("**/inspect?centre=*")
    assert inspector.input_value('[name="center.name"]') == fixed()["center"]["name"]
    assert inspector.input_value('[name="audit.inspectors"]') == "wangmin"
    assert inspector.get_attribute("#photo-5\\.5", "accept") == "image/*"
    assert inspector.get_attribute("#photo-5\\.5", "capture") == "environment"
    assert no_sideways_scroll(inspector)
    shot(inspector, "form-phone")
    found = short()                                            # the hall upstairs, signs and satisfaction missing
    fill_profile(inspector, found, rules)
    inspector.fill('[name="services.satisfaction_rate"]', "")     # not measured at the visit: left blank
    inspector.fill('[name="audit.inspectors"]', "王敏，李强")
    inspector.fill('[name="audit.responsible"]', "陈芳")
    inspector.fill('[name="audit.round"]', ROUND)
    inspector.set_input_files("#photo-5\\.5", photo(site, "hall.jpg", 1))
    inspector.set_input_files("#photo-4\\.4", photo(site, "board.jpg", 2))
    assert inspector.locator(".photo-clause", has=inspector.locator("#photo-5\\.5")).locator(".photo-count") \
        .inner_text() == "已选 1 张"
    inspector.click("#send")
    inspector.wait_for_url("**/audits/*")
    shot(inspector, "result-phone")
    # The result sets the self-check beside the inspection, as the library reconciles them.
    against = inspector.locator("#against")
    assert against.locator("h2").inner_text() == "自评与考核对照"
    overstated = against.locator("tr.f-overstated td:first-child .clause").all_inner_texts()
    expected = compliance.reconcile(compliance.evaluate(fixed(), rules), compliance.evaluate(found, rules))
    assert overstated == [c.clause for c in expected.overstated] and "5.5" in overstated
    links = inspector.locator("table.findings a.photo")
    assert links.count() == 2
    assert no_sideways_scroll(inspector)
    assert inspector.locator("main").inner_text().count("English") == 0

    # The actions appear on 整改, for the community, and it reports one fixed with a photo.
    community.click("nav >> text=整改")
    for clause in ("4.4", "4.5", "5.5", "8.7"):
        assert card(community, clause).count() == 1, clause
    board = card(community, "4.4")
    board.locator("summary", has_text="报告已整改").click()
    board.locator("textarea[name=note]").fill("已补齐工作人员公示牌")
    board.locator("input[type=file]").set_input_files(photo(site, "fixed.jpg", 3))
    board.locator("button", has_text="提交整改报告").click()
    community.wait_for_load_state()
    board = card(community, "4.4")
    assert board.locator(".badge").inner_text() == "待复核"
    board.locator("summary").first.click()
    shot(community, "actions-phone")
    href = board.locator("a.photo").first.get_attribute("href")
    assert href is not None and href.startswith("/evidence/")
    mine = community.request.get(site.url + href)
    assert mine.status == 200 and mine.body() == jpeg(3, (320, 240))
    assert mine.headers["content-disposition"].startswith("attachment")
    assert mine.headers["x-content-type-options"] == "nosniff"
    # Another centre's community does not open it, nor the inspection's photos.
    elsewhere = new_page(browser)
    log_in(elsewhere, site, "elsewhere", "other")
    elsewhere.wait_for_url("**/check")
    assert elsewhere.request.get(site.url + href).status == 404
    inspection_photo = links.first.get_attribute("href")
    assert inspection_photo is not None
    assert elsewhere.request.get(site.url + inspection_photo).status == 404
    assert community.request.get(site.url + inspection_photo).status == 200   # its own centre's inspection

    # A later inspection that finds the centre put right closes the action.
    inspector.goto(site.url + f"/inspect?centre={CENTRE}")
    fill_profile(inspector, fixed(), rules)
    inspector.fill('[name="audit.round"]', ROUND)
    inspector.click("#send")
    inspector.wait_for_url("**/audits/*")
    inspector.goto(site.url + "/actions?state=closed")
    assert card(inspector, "4.4").locator(".badge").inner_text() == "已销号"

    # The round counts the inspections named in it, and its ledger downloads as a workbook.
    with api(site, "bureau") as bureau:
        progress = bureau.get(f"/v1/rounds/{ROUND}").json()["progress"]
        assert progress["inspected"] == 1
        ledger = wait_for_file(bureau, f"/v1/rounds/{ROUND}/files/ledger.xlsx")
    assert ledger.status_code == 200 and ledger.headers["content-disposition"].startswith("attachment")
    assert load_workbook(io.BytesIO(ledger.content)).worksheets


def test_only_a_bureau_opens_the_inspection_form_and_a_refused_form_keeps_its_photos(site, browser):
    with api(site, "haiyue") as c:
        assert c.get(f"/inspect?centre={CENTRE}", follow_redirects=False).status_code in (303, 307)   # no session
    inspector = new_page(browser)
    log_in(inspector, site, "wangmin", "bureau")
    inspector.goto(site.url + f"/inspect?centre={CENTRE}")
    inspector.fill('[name="audit.inspectors"]', "")
    inspector.set_input_files("#photo-5\\.5", photo(site, "again.jpg", 7))
    Path(site.photos / "drawing.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")   # not a photo
    inspector.set_input_files("#photo-4\\.4", str(site.photos / "drawing.svg"))
    inspector.click("#send")
    assert "/inspect" in inspector.url
    summary = inspector.locator("#problems").inner_text()
    assert "检查人员" in summary and "4.4" in summary
    kept = inspector.locator('input[name="kept-5.5"]')
    assert kept.count() == 1 and len(kept.get_attribute("value") or "") == 64
    shot(inspector, "refused-phone")
    laptop = new_page(browser, phone=False)
    log_in(laptop, site, "wangmin", "bureau")
    laptop.goto(site.url + f"/inspect?centre={CENTRE}")
    assert no_sideways_scroll(laptop) and laptop.locator(".photo-pick").count() == len(
        compliance.load_ruleset("national").clauses)
    shot(laptop, "form-laptop")


# --------------------------------------------------------------------------- the same pages without a browser

@contextmanager
def logged_in(url: str, name: str, token: str) -> Iterator[httpx.Client]:
    """A client holding a page session of ``name``, as a browser does after logging in."""
    from test_web import csrf_of

    with httpx.Client(base_url=url, timeout=60, headers={"Accept-Language": "en"}) as c:
        c.post("/login", data={"name": name, "secret": token, "csrf": csrf_of(c.get("/login").text), "next": "/"})
        yield c


def inspection_form(c: httpx.Client, document: dict[str, Any], **block: str) -> dict[str, list[str]]:
    """The fields the inspection form sends for ``document``, as a person fills them in."""
    from test_web import csrf_of
    from compliance.batch import table
    from compliance.service.web import values_of

    rules = compliance.load_ruleset("national")
    values, zones = values_of(compliance.load_profile(document).data, rules)
    fields = [("csrf", csrf_of(c.get(f"/inspect?centre={document['center']['id']}").text)), ("rules", "national")]
    boxes = {col.key for col in table.columns(rules.vocabulary) if col.kind == "code"}     # sent only when ticked
    fields += [(k, v) for k, v in values.items() if v != "" and (k not in boxes or v == "是")]
    for z in zones:
        fields += [("zone-kind", z["kind"]), ("zone-area", z["area_m2"]), ("zone-name", z.get("name", ""))]
    fields += [(f"audit.{k}", v) for k, v in block.items()]
    out: dict[str, list[str]] = {}
    for k, v in fields:
        out.setdefault(k, []).append(v)
    return out


def inspect_over_http(url: str, tokens: dict[str, str]) -> None:
    """A bureau inspects over the pages with a photo; the community opens that photo through the page route, another
    centre's does not; a community is refused the form. ``tokens``: bureau, haiyue, other."""
    with logged_in(url, "wangmin", tokens["bureau"]) as bureau, logged_in(url, "haiyue", tokens["haiyue"]) as haiyue, \
            logged_in(url, "elsewhere", tokens["other"]) as other:
        fields = inspection_form(bureau, short(), inspectors="王敏，李强", round="r1")
        picture = jpeg(41, (200, 150))
        sent = bureau.post("/inspect", data=fields, files=[("photo-5.5", ("hall.jpg", picture, "image/jpeg")),
                                                            ("photo-4.4", ("", b"", "application/octet-stream"))])
        assert sent.status_code == 303, sent.text
        audit = sent.headers["location"]
        stored = httpx.get(url + "/v1" + audit, headers={"Authorization": f"Bearer {tokens['bureau']}"}).json()
        assert stored["audit"]["inspectors"] == ["王敏", "李强"] and stored["audit"]["round"] == "r1"
        page = bureau.get(audit).text
        href = page.split('class="photo" href="')[1].split('"')[0]
        seen = haiyue.get(href)
        assert seen.status_code == 200 and seen.content == picture
        assert seen.headers["content-disposition"].startswith("attachment")
        assert seen.headers["x-content-type-options"] == "nosniff"
        assert other.get(href).status_code == 404
        assert other.get("/evidence/not-a-hash").status_code == 404
        assert haiyue.get(f"/inspect?centre={CENTRE}").status_code == 403
        refused = haiyue.post("/inspect", data=fields)
        assert refused.status_code == 403
        actions = httpx.get(url + "/v1/actions", params={"centre": CENTRE},
                            headers={"Authorization": f"Bearer {tokens['haiyue']}"}).json()["actions"]
        live = {a["clause"] for a in actions if a["state"] in ("open", "overdue", "fixed_pending_review")}
        assert {"4.4", "4.5", "5.5", "8.7"} <= live            # opened by it, or found short again by it


def test_the_inspection_and_photo_pages_hold_their_roles_over_http(site):
    inspect_over_http(site.url, site.tokens)


def test_the_inspection_form_starts_from_the_newest_audit_of_either_kind_or_says_it_starts_empty(site):
    from compliance.model import today_in_china

    centre = "330212-WP-0001"
    with logged_in(site.url, "wangmin", site.tokens["bureau"]) as bureau:
        unknown = bureau.get(f"/inspect?centre={centre}&lang=zh").text
        assert "未找到该中心以前的自查或检查记录，表单为空" in unknown and "最近一次自评预填" not in unknown
        assert 'name="audit.round" value=""' in unknown
        english = bureau.get(f"/inspect?centre={centre}&lang=en").text
        assert "No earlier self-check or inspection of this centre was found: the form starts empty" in english
        assert "latest self-check" not in english
        mine = api(site, "bureau").post("/v1/audits?rules=national", content=orjson.dumps(short(center__id=centre)),
                                        headers={"Content-Type": "application/json"})
        assert mine.status_code in (200, 201), mine.text
        assert "表单已按该中心最近一次自评预填" in bureau.get(f"/inspect?centre={centre}&lang=zh").text
        # An inspection after that self-check, with what the inspector found changed: the next visit starts from it.
        fields = inspection_form(bureau, short(center__id=centre, staff__grid_workers=17), inspectors="李强",
                                 responsible="陈主任", round="2026-WP-一")
        sent = bureau.post("/inspect", data=fields)
        assert sent.status_code == 303, sent.text
        again = bureau.get(f"/inspect?centre={centre}&lang=zh").text
        assert "表单已按该中心最近一次检查预填" in again and "最近一次自评预填" not in again
        assert 'name="staff.grid_workers" inputmode="numeric" value="17"' in again
        assert 'name="audit.round" value="2026-WP-一"' in again and 'name="audit.responsible" value="陈主任"' in again
        assert 'name="audit.inspectors" value="wangmin"' in again              # this account, today
        assert f'name="center.assessed_on" type="date" value="{today_in_china().isoformat()}"' in again


def overlapping(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_on_a_phone_the_centres_chart_keeps_its_scores_clear_of_the_axis_labels(site, browser):
    centre = "330212-WP-0002"
    with api(site, "bureau") as c:
        for day, hall in (("2026-01-05", 1), ("2026-02-05", 2), ("2026-03-05", 1)):
            doc = fixed(center__id=centre, space__service_hall_floor=hall)
            doc["center"]["assessed_on"] = day
            r = c.post("/v1/audits?rules=national", content=orjson.dumps(doc), headers={"Content-Type": "application/json"})
            assert r.status_code in (200, 201), r.text
    for viewport in ({"width": 390, "height": 844}, {"width": 1366, "height": 768}):
        page = new_page(browser) if viewport["width"] == 390 else new_page(browser, phone=False)
        log_in(page, site, "wangmin", "bureau")
        page.wait_for_url("**/dashboard*")
        page.goto(site.url + f"/centres/{centre}")
        axis = [page.locator("svg.chart > text").nth(i).bounding_box() for i in range(4)]      # 0, 60, 80, 100
        values = page.locator("svg.chart text.value")
        assert values.count() == 3
        for i in range(values.count()):
            box = values.nth(i).bounding_box()
            assert box is not None and all(a is not None and not overlapping(box, a) for a in axis), \
                (values.nth(i).text_content(), box, axis)
            chart = page.locator("svg.chart").bounding_box()
            assert chart is not None and box["y"] >= chart["y"], "a score cut off above the chart"
        if viewport["width"] == 390:
            assert no_sideways_scroll(page)
            shot(page, "centre-chart-phone")
        page.context.close()


def test_on_a_phone_links_are_a_fingers_height_and_a_laptops_header_stays_one_line(site, browser):
    centre = "330212-WP-0003"
    with logged_in(site.url, "wangmin", site.tokens["bureau"]) as bureau:
        fields = inspection_form(bureau, short(center__id=centre), inspectors="王敏")
        sent = bureau.post("/inspect", data=fields, files=[("photo-5.5", ("hall.jpg", jpeg(43, (200, 150)), "image/jpeg"))])
        assert sent.status_code == 303, sent.text
        audit = sent.headers["location"]

    def heights(page: Page, selector: str) -> list[float]:
        boxes = [page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())]
        return [b["height"] for b in boxes if b is not None]

    phone = new_page(browser)
    log_in(phone, site, "wangmin", "bureau")
    phone.wait_for_url("**/dashboard*")
    for path, selectors in (("/dashboard", (".bar nav a", ".bar nav button.link", "a.tap")),
                            (f"/centres/{centre}", ("a.tap",)), (audit, (".bar nav a", "a.photo"))):
        phone.goto(site.url + path)
        for selector in selectors:
            found = heights(phone, selector)
            assert found and min(found) >= 44, (path, selector, found)
        assert no_sideways_scroll(phone)
    shot(phone, "tap-targets-result-phone")
    phone.goto(site.url + "/dashboard")
    shot(phone, "tap-targets-dashboard-phone")
    community = new_page(browser)
    log_in(community, site, "haiyue", "haiyue")
    community.wait_for_url("**/check")
    found = heights(community, ".bar nav a") + heights(community, ".bar nav button.link")
    assert len(found) == 5 and min(found) >= 44, found           # 自查, 历史, 整改, 退出, English
    shot(community, "tap-targets-check-phone")
    laptop = new_page(browser, phone=False)
    log_in(laptop, site, "wangmin", "bureau")
    laptop.wait_for_url("**/dashboard*")
    header = laptop.locator("header.bar").bounding_box()
    assert header is not None and header["height"] < 70, header
    assert max(heights(laptop, "a.tap")) < 30                     # a table's row keeps a laptop's line height
    for p in (phone, community, laptop):
        p.context.close()


def test_an_inspections_result_says_it_is_one_who_made_it_and_dates_the_self_check_as_the_centre_did(site, browser):
    from test_actions import FORTY_DAYS_AGO

    centre = "330212-WP-0004"
    with api(site, "bureau") as c:
        mine = c.post("/v1/audits?rules=national", content=orjson.dumps(short(center__id=centre)),
                      headers={"Content-Type": "application/json"})
        assert mine.status_code in (200, 201), mine.text
    with logged_in(site.url, "wangmin", site.tokens["bureau"]) as bureau:
        fields = inspection_form(bureau, fixed(center__id=centre), inspectors="王敏，李强", responsible="陈主任",
                                 round="2026-WP-二")
        sent = bureau.post("/inspect", data=fields)
        assert sent.status_code == 303, sent.text
        audit = sent.headers["location"]
        html = bureau.get(audit + "?lang=zh").text
        top = html[:html.index("整改清单")]                          # before what to fix: near the top
        assert '<span class="tag">检查</span>' in top
        assert "<dt>检查人员</dt><dd>王敏、李强</dd>" in top and "<dd>陈主任</dd>" in top and "<dd>2026-WP-二</dd>" in top
        assert f"最近一次自评（{FORTY_DAYS_AGO}）" in html                 # the self-check's date, not the day it was sent
        english = bureau.get(audit + "?lang=en").text
        assert '<span class="tag">inspection</span>' in english and "<dt>Inspectors</dt><dd>王敏, 李强</dd>" in english
        assert f"self-check under the same rule set, of {FORTY_DAYS_AGO}" in english
        selfcheck = bureau.get("/audits/" + mine.json()["id"] + "?lang=zh").text
        assert "inspection-facts" not in selfcheck and '<span class="tag">检查</span>' not in selfcheck
    phone = new_page(browser)
    log_in(phone, site, "wangmin", "bureau")
    phone.wait_for_url("**/dashboard*")
    phone.goto(site.url + audit + "?lang=zh")
    assert phone.locator("dl.inspection-facts").is_visible() and no_sideways_scroll(phone)
    shot(phone, "inspection-result-phone")
    phone.context.close()


def test_the_inspection_form_offers_the_rounds_opened_for_its_round_field(site):
    with api(site, "bureau") as bureau:
        opened = bureau.post("/v1/rounds", json={"id": "2026-表单-轮次", "name": "2026年表单考核", "rules": "national"})
        assert opened.status_code in (201, 409), opened.text
    with logged_in(site.url, "wangmin", site.tokens["bureau"]) as c:
        form = c.get(f"/inspect?centre={CENTRE}").text
    field = form.split('id="audit.round"')[1].split(">")[0]
    assert 'list="rounds-opened"' in field
    offered = form.split('<datalist id="rounds-opened">')[1].split("</datalist>")[0]
    assert '<option value="2026-表单-轮次">2026年表单考核</option>' in offered
