"""Chinese first: every message a person reads comes from one catalogue, in Chinese by default and in English
when asked, and Chinese messages hold no English words outside the values they quote, paths and locations."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from typing import Sequence
from pathlib import Path

import httpx
import pytest

import compliance
from compliance.i18n import msg, negotiate, plural, use_language

from conftest import BASE, ROOT, profile, run_cli

# What a Chinese message may hold besides Chinese: values it quotes ('约500', "…"), JSON paths ($.space.zones[1]),
# locations (centres.xlsx!zones!C7, file.jsonl:3, /tmp/x.yaml), numbers, units (m²) and the term AB岗.
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|“[^”\n]*”")
_PATH = re.compile(r"\$[\w.\[\]'\"-]*")
_LOCATION = re.compile(r"(?:\w+://\S*|[\w./~-]*[/\\][\w./\\~-]*|[\w.-]+\.(?:ya?ml|json|jsonl|csv|xlsx|html|pdf|txt|md))"
                       r"(?:![\w\u4e00-\u9fff]+(?:![A-Z]+\d+)?)?(?::\d+)?")
_ALLOWED = {"AB", "m²"}


def english_words(text: str, typed: Sequence[str] = ()) -> list[str]:
    """The English words of a message outside what it quotes, its paths and its locations, and the words the
    user typed (a rule set's name is where its problem is, as a file's path is)."""
    rest = _LOCATION.sub(" ", _PATH.sub(" ", _QUOTED.sub(" ", text)))
    return [w for w in re.findall(r"[A-Za-z]{2,}", rest) if w not in _ALLOWED and w not in typed]


def test_the_rule_itself_finds_english_and_leaves_quotes_paths_and_locations_alone():
    assert english_words("centres.xlsx!centres!M10: $.space.total_area_m2: '约500' 不是数字") == []
    assert english_words("/tmp/x.yaml:3: $.population.residents: required key is missing") == [
        "required", "key", "is", "missing"]


# --------------------------------------------------------------------------- the catalogue

def test_every_text_of_the_code_and_pages_is_in_the_catalogue_translated_and_compiled():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "messages.py"), "--check"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def _catalogue() -> list[tuple[str, str, str | None]]:
    from babel.messages.pofile import read_po

    with open(ROOT / "compliance" / "locale" / "zh" / "LC_MESSAGES" / "compliance.po", "rb") as fh:
        catalog = read_po(fh)
    out = []
    for m in catalog:
        if m.id:
            ids = m.id if isinstance(m.id, (list, tuple)) else [m.id]
            strings = m.string if isinstance(m.string, (list, tuple)) else [m.string]
            out += [(ids[0], s, m.context) for s in strings]
    return out


def test_every_chinese_text_keeps_the_values_of_its_english_and_holds_no_english_word():
    for english, chinese, context in _catalogue():
        names = lambda s: set(re.findall(r"\{(\w+)[^}]*\}|%\((\w+)\)", s))   # noqa: E731
        if context is None:             # a text with a context may word values its English leaves out (a field)
            assert names(chinese) <= names(english), (english, chinese)
        bare = re.sub(r"\{[^}]*\}|%\(\w+\)[sdr]|%[sdr]", " ", chinese)
        assert english_words(bare) == [], (english, chinese)


def test_a_message_is_worded_when_shown_in_the_language_in_force():
    m = msg("{value} is not a number", value="'约500'")
    assert str(m) == "'约500' is not a number"                     # the tests' language (conftest)
    with use_language("zh"):
        assert str(m) == "'约500' 不是数字"
    assert m.text("zh") == "'约500' 不是数字" and m.text("en") == "'约500' is not a number"
    p = plural("{count} problem in {what}", "{count} problems in {what}", 3, what=msg("the profile"))
    assert p.text("en") == "3 problems in the profile" and p.text("zh") == "档案有 3 处问题"
    import pickle
    assert pickle.loads(pickle.dumps(m)) == m                      # worded in the process that shows it


def test_accept_language_is_negotiated_as_rfc_9110_says():
    assert negotiate("en-GB,en;q=0.8") == "en"
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.5") == "zh"
    assert negotiate("fr, en;q=0.1") == "en"
    assert negotiate("en;q=0, fr") == "zh"           # refused, and nothing else of ours: the default
    assert negotiate(None) == "zh" and negotiate("q=x;;,,") == "zh"


def test_the_library_speaks_chinese_by_default_in_a_new_process():
    code = ("import compliance\n"
            "try:\n    compliance.load_profile({'schema_version': 1})\n"
            "except compliance.ProfileError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "缺少必填项" in out.stdout and "required" not in out.stdout
    assert english_words(out.stdout) == []


# --------------------------------------------------------------------------- bad profiles, every kind

def _write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def _yaml(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False)


BAD_PROFILES = {
    "types": _yaml(profile(population__residents="约500", space__open_plan="yes", space__total_area_m2=[1])),
    "required": _yaml({"schema_version": 1, "center": {"id": "X"}, "space": {}}),
    "ranges": _yaml(profile(population__households=-40, services__satisfaction_rate=95, services__grids=1.5,
                            services__weekly_opening_hours=200)),
    "choices": _yaml(profile(center__setting="urbn", center__housing="新小区", schema_version=2)),
    "codes": _yaml(profile(signage=["facade_nameplate", "facade_nameplate", "grid_mapp"],
                           space__zones=[{"kind": "fitness_room", "area_m2": 10}])),
    "semantics": _yaml(profile(staff__certified_social_workers=99, center__assessed_on="2026-02-30",
                               space__zones=[{"kind": "office", "area_m2": 9999}])),
    "lengths": _yaml(profile(center__name="", center__id="x" * 100)),
    "not a mapping": "[1, 2, 3]",
    "empty": "",
    "yaml colon": "center: a: b\n",
    "yaml indent": "a:\n  - b\n c: d\n",
    "yaml tab": "\ta: 1\n",
    "yaml quote": "a: 'abc\n",
    "yaml tag": "a: !!python/object x\n",
    "yaml bool": "schema_version: 1\ncenter: {open: yes}\n",
    "yaml duplicate": "a: 1\na: 2\n",
}


@pytest.mark.parametrize("kind", sorted(BAD_PROFILES))
@pytest.mark.parametrize("verb", ["validate", "audit"])
def test_a_bad_profile_is_refused_in_chinese_by_default_and_in_english_on_request(tmp_path, kind, verb):
    path = _write(tmp_path, "centre.yaml", BAD_PROFILES[kind])
    chinese = run_cli(verb, path, lang=None)
    assert chinese.returncode == 2, chinese.stderr
    assert chinese.stderr.strip() and english_words(chinese.stderr) == [], chinese.stderr
    assert re.search(r"[\u4e00-\u9fff]", chinese.stderr)
    english = run_cli(verb, path, lang="en")
    assert english.returncode == 2 and re.search(r"[a-z]{3,}", english.stderr)
    assert not re.search(r"[\u4e00-\u9fff]", _QUOTED.sub("", english.stderr)), english.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_lang_is_a_global_option_before_or_after_the_verb(tmp_path, where):
    path = _write(tmp_path, "centre.yaml", BAD_PROFILES["types"])
    args = ["--lang", "en", "validate", path] if where == "before" else ["validate", path, "--lang", "en"]
    out = run_cli(*args, lang=None)
    assert "is not a number" in out.stderr


def test_files_that_cannot_be_read_are_told_in_chinese(tmp_path):
    gbk = _write(tmp_path, "gbk.yaml", "center: {name: 海悦社区}\n".encode("gbk"))
    huge = _write(tmp_path, "huge.yaml", "a: " + "x" * (2 << 20))
    for path in (gbk, huge, str(tmp_path / "missing.yaml"), str(tmp_path)):
        out = run_cli("validate", path, lang=None)
        assert out.returncode == 2 and english_words(out.stderr) == [], out.stderr
    assert "'GBK'" in run_cli("validate", gbk, lang=None).stderr


# --------------------------------------------------------------------------- bad rows and bad commands

def _workbook(tmp_path: Path) -> str:
    from compliance.batch import workbook

    rules = compliance.load_ruleset("national")
    row = copy.deepcopy(BASE)
    path = tmp_path / "centres.xlsx"
    workbook.export([row], path, rules.vocabulary)
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheet = book["centres"]
    keys = [c.value for c in sheet[2]]
    sheet.cell(3, keys.index("space.total_area_m2") + 1, "约500")
    sheet.cell(3, keys.index("center.assessed_on") + 1, "2026-13-40")
    sheet.cell(3, keys.index("staff.uniform_badges") + 1, "maybe")
    book["zones"].cell(3, 3, -40)
    book.save(path)
    return str(path)


def test_bad_rows_of_a_workbook_a_csv_and_json_lines_are_told_in_chinese(tmp_path):
    book = _workbook(tmp_path)
    csv_path = _write(tmp_path, "centres.csv", "center.id,center.name,bogus\nA,甲,1\n")
    jsonl = _write(tmp_path, "centres.jsonl", '{"schema_version": 1,\n' + BAD_PROFILES["ranges"] + "\nnot json\n"
                   + _yaml(profile(center__id="J4")) + "\n")
    for path in (book, csv_path, jsonl):
        out = run_cli("validate", path, lang=None)
        assert out.returncode == 2 and english_words(out.stderr) == [], out.stderr
        batch = run_cli("batch", path, "-o", str(tmp_path / f"out-{Path(path).suffix[1:]}"), "--jobs", "1", lang=None)
        assert batch.returncode == 2 and english_words(batch.stderr + batch.stdout) == [], batch.stderr
    assert "'约500' 不是数字" in (tmp_path / "out-xlsx" / "errors.csv").read_text(encoding="utf-8-sig")
    errors = (tmp_path / "out-jsonl" / "errors.csv").read_text(encoding="utf-8-sig")
    assert "数值 -40 超出范围，应不小于 0" in errors
    assert "'-40" not in errors and ",'" not in errors    # no stray quote: no message starts like a formula
    report = (tmp_path / "out-jsonl" / "district-report.html").read_text(encoding="utf-8")
    refused = report[report.index("未能审计的输入"):]
    assert "无法读取" in refused and "cannot" not in refused


@pytest.mark.parametrize("args", [
    ["audit"], ["audit", "x.yaml", "--format", "pdff"], ["batch", "x.csv"], ["bogus"], ["audit", "x.yaml", "--nope"],
    ["batch", "x.csv", "-o", "out", "--jobs", "0"], ["batch", "x.csv", "-o", "out", "--jobs", "many"],
    ["serve", "--port", "99999"], ["template", "centres.csv"], ["export", "x.yaml", "-o", "out.txt"],
    ["audit", "x.yaml", "--rules", "yinzou"], ["rules", "show", "9.9"], ["users", "add", "x y", "--role", "bureau",
                                                                         "--db", "sqlite:////nonexistent/x.db"],
    ["audit", "examples/haiyue.yaml", "--format", "pdf"], ["rules", "lint", "nowhere.yaml"],
])
def test_a_bad_command_is_told_in_chinese(args):
    out = run_cli(*args, lang=None)
    assert out.returncode == 2, out.stderr
    assert english_words(out.stderr, typed=args[1:]) == [], out.stderr


def test_help_is_chinese_by_default():
    out = run_cli("audit", "--help", lang=None)
    assert out.returncode == 0 and "用法" in out.stdout and "显示本帮助并退出" in out.stdout
    assert "usage" in run_cli("audit", "--help").stdout


def test_a_bad_rule_layer_is_told_in_chinese(tmp_path):
    layer = _write(tmp_path, "district.yaml", "ruleset: district\nversion: '1'\ntitle: {zh: 区, en: D}\n"
                                             "extends: national\noverrides:\n  '5.2': {threshold: 0.5, wieght: 3}\n"
                                             "  '9.9': {weight: 1}\n")
    out = run_cli("rules", "lint", layer, lang=None)
    assert out.returncode == 2 and english_words(out.stderr) == [], out.stderr


# --------------------------------------------------------------------------- amounts in words

def test_an_amount_in_words_is_rounded_for_people_never_to_zero_and_the_result_keeps_it_exact():
    doc = profile()                 # a facility smaller than one step: 5.3's shortfall is the area not in resident use
    doc["space"]["total_area_m2"] = 0.0254
    doc["space"]["zones"] = [{"kind": "service_hall", "area_m2": 0.0152325307990473}]
    result = compliance.evaluate(doc)
    finding = result.finding("5.3")
    assert finding.status.value == "fail" and 0.0101 < finding.shortfall.amount < 0.0102
    assert result.to_dict()["findings"][[f["clause"] for f in result.to_dict()["findings"]].index("5.3")][
        "shortfall"]["amount"] == finding.shortfall.amount
    for fmt in ("text", "md", "html"):
        shown = compliance.render(result, fmt, lang="zh")
        assert "0.01 m²" in shown and str(finding.shortfall.amount) not in shown
    from compliance.wording import fmt_amount, fmt_amount_pct
    assert fmt_amount(0.0042) == "0.0042" and fmt_amount(29.994) == "29.99" and fmt_amount(40.0) == "40.0"
    assert fmt_amount_pct(0.00001234) == "0.0012%" and fmt_amount_pct(0.05) == "5%"


# --------------------------------------------------------------------------- unknown keys: warned, not refused

def _misspelt() -> dict:
    doc = profile()
    doc["staf"] = doc.pop("staff")
    return doc


def test_an_unknown_key_is_a_warning_naming_the_nearest_key_and_the_centre_is_still_audited():
    p = compliance.load_profile(_misspelt())
    assert [(w.json_path, w.severity) for w in p.warnings] == [("$.staf", "warning")]
    with use_language("zh"):
        assert p.warnings[0].message == "未知的字段 'staf'；是否应为 'staff'？"
    with pytest.raises(compliance.ProfileError) as caught:
        compliance.load_profile(_misspelt(), strict=True)
    assert caught.value.problems[0].json_path == "$.staf"


def test_validate_and_audit_print_a_warning_line_and_strict_refuses(tmp_path):
    path = _write(tmp_path, "centre.yaml", "# a profile\n" + _yaml(_misspelt()))
    out = run_cli("validate", path, lang=None)
    assert out.returncode == 0 and f"{path}:2: $.staf: 警告: 未知的字段 'staf'；是否应为 'staff'？" in out.stderr
    audit = run_cli("audit", path, "--format", "json", lang=None)
    assert audit.returncode in (0, 1) and "警告" in audit.stderr and json.loads(audit.stdout)["score"]
    strict = run_cli("validate", path, "--strict", lang=None)
    assert strict.returncode == 2 and "未知的字段 'staf'" in strict.stderr and "警告" not in strict.stderr


def test_a_round_lists_warnings_in_errors_csv_with_their_severity_and_audits_the_centre(tmp_path):
    path = _write(tmp_path, "centres.jsonl", _yaml(_misspelt()) + "\n")
    out = run_cli("batch", path, "-o", str(tmp_path / "out"), "--jobs", "1", lang=None)
    assert out.returncode in (0, 1), out.stderr
    lines = (tmp_path / "out" / "errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "location,center_id,path,field,problem,severity"
    assert lines[1].startswith(f"{path}:1,330212-SN-0103,$.staf,") and lines[1].endswith(",warning")
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 1
    strict = run_cli("batch", path, "-o", str(tmp_path / "strict"), "--jobs", "1", "--strict", lang=None)
    assert strict.returncode == 2


# --------------------------------------------------------------------------- the service

@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from test_service import serving

    with serving(tmp_path_factory.mktemp("language")) as (svc, token):
        svc.token = token
        yield svc


def _post(service, body: str, *, lang: str | None = None, header: str | None = None,
          rules: str = "national") -> httpx.Response:
    headers = {"Authorization": f"Bearer {service.token}", "Content-Type": "application/json"}
    if header:
        headers["Accept-Language"] = header
    query = f"?rules={rules}" + (f"&lang={lang}" if lang else "")
    return httpx.post(f"{service.url}/v1/audits{query}", content=body.encode("utf-8"), headers=headers, timeout=60)


def test_the_apis_problem_documents_are_chinese_by_default_and_english_when_asked(service):
    bad = BAD_PROFILES["ranges"]
    chinese = _post(service, bad)
    assert chinese.status_code == 422 and chinese.headers["content-language"] == "zh"
    doc = chinese.json()
    text = " ".join([doc["title"], doc["detail"], *(p["message"] for p in doc["problems"])])
    assert english_words(text) == [] and "超出范围" in text
    for english in (_post(service, bad, header="en-GB,en;q=0.9"), _post(service, bad, lang="en")):
        assert english.headers["content-language"] == "en"
        assert "out of range" in " ".join(p["message"] for p in english.json()["problems"])
    unknown = _post(service, _yaml(BASE), rules="yinzou")
    assert unknown.status_code == 422 and english_words(json.dumps(unknown.json(), ensure_ascii=False)) == []
    missing = httpx.get(f"{service.url}/v1/audits/nope", headers={"Authorization": f"Bearer {service.token}"})
    assert missing.status_code == 404 and missing.json()["title"] == "没有这次审计"
    anonymous = httpx.get(f"{service.url}/v1/rulesets", headers={"Accept-Language": "en"})
    assert anonymous.status_code == 401 and anonymous.json()["title"] == "Authentication required"


def test_the_api_answers_an_unknown_key_with_its_warning(service):
    answer = _post(service, _yaml(_misspelt()))
    assert answer.status_code == 201
    assert answer.json()["warnings"] == [{"path": "$.staf", "message": "未知的字段 'staf'；是否应为 'staff'？"}]
    clean = _post(service, _yaml(profile(center__id="330212-SN-0199")))
    assert "warnings" not in clean.json()


def test_the_web_pages_follow_the_language_switch(service):
    with httpx.Client(base_url=service.url, timeout=30) as c:
        chinese = c.get("/login")
        assert "登录" in chinese.text and 'lang="zh-CN"' in chinese.text
        english = c.get("/login?lang=en")
        assert "Log in" in english.text and 'lang="en"' in english.text and "登录" not in english.text
        assert "Log in" in c.get("/login").text                  # the choice is remembered
        assert "登录" in c.get("/login?lang=zh").text


def test_the_form_says_which_keys_of_the_last_audit_it_cannot_show(service):
    from test_web import csrf_of

    assert _post(service, _yaml(_misspelt())).status_code in (200, 201)
    with httpx.Client(base_url=service.url, timeout=30, headers={"Accept-Language": "zh-CN"}) as c:
        login = c.get("/login")
        c.post("/login", data={"name": "ops", "secret": service.token, "csrf": csrf_of(login.text), "next": "/"})
        form = c.get("/check?centre=330212-SN-0103")
        assert form.status_code == 200
        assert "本中心上次审计的档案中有表单不认识的字段" in form.text
        assert "$.staf：未知的字段 &#39;staf&#39;；是否应为 &#39;staff&#39;？" in form.text
