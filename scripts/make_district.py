"""Write examples/yinzhou-district/: a synthetic but plausible round of Yinzhou's (鄞州区) centres.

    python scripts/make_district.py

About 140 community and village centres of 宁波市鄞州区 (region code 330212) in
the streets' and towns' real names, with invented figures: this year's round
(autumn 2026) as ``centres.xlsx`` (the collection workbook) and ``centres.jsonl``,
and last year's round (autumn 2025) as ``2025/centres.jsonl``: mostly the same
centre ids, most a little worse last year, some better, some renovated since;
four centres merged into neighbours this year and five new ones. 海悦, 丹顶鹤,
海创 and 走马塘村 are the bundled examples themselves (examples/*.yaml).

Everything comes from one seeded ``random.Random`` and the repository: the same
files on every run. The figures of each centre follow one hidden "quality" (better
in new commercial estates, worse in old compounds), so the audit under
``--rules yinzhou`` spreads from excellent to vetoed; the script prints the grades.

Six rows are broken on purpose, as districts really send them (see the README):
in centres.xlsx a total area written "约500" (about 500), a zone kind that is not a code, a
negative zone area and a centre submitted twice (a second row with the same id);
in centres.jsonl a line cut short (not JSON) and a household count written as text.
"""
from __future__ import annotations

import datetime
import io
import json
import random
import re
import shutil
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

import compliance  # noqa: E402
from compliance.batch.workbook import export  # noqa: E402

SEED = 330212
OUT = ROOT / "examples" / "yinzhou-district"
REGION = {"province": "浙江省", "city": "宁波市", "district": "鄞州区"}

# Street or town, id letters, its usual housing (old / commercial / resettlement / mixed), communities.
STREETS = [
    ("白鹤街道", "BH", "ooom", "丹顶鹤 白鹤 惊驾 划船 四眼碶 黄鹂 孔雀 曙光 七塔 华光城"),
    ("下应街道", "XY", "ccrr", "海创 海晨 河东 东兴 柏悦 江陆 天高巷 湾底 永乐 长丰"),
    ("钟公庙街道", "ZG", "ccrm", "天童 钟公庙 金家漕 鄞奉 前殷 高楼 陈婆渡 泰和 铜盆浦"),
    ("首南街道", "SN", "cccr", "海悦 日月 鄞南 学府 泰悦 宁南 首府 汇英 南裕 前河"),
    ("潘火街道", "PH", "ccrm", "潘火 德培 金桥 嵩江 四明 蓝海 宝华 滨湖 东湖 桑田"),
    ("中河街道", "ZH", "ccmr", "中河 丰城 彩虹 宋诏桥 城南 中央 芝兰 凯润 长春"),
    ("福明街道", "FM", "ocmr", "福明 新城 江南 宁东 朱雀 万嘉 新都 明辉 宁舟"),
    ("明楼街道", "ML", "oocm", "明楼 和丰 庆丰 常青藤 东海 晓园 东昌 新河"),
    ("东胜街道", "DS", "oocm", "东胜 史家 锦苑 樱花 王家 通途 中山 中兴"),
    ("百丈街道", "BZ", "ooom", "百丈 王隘 华严 潜龙 戎家 紫鹃 朝晖 园丁"),
    ("东柳街道", "DL", "oocm", "东柳坊 太古城 徐家 安居 华侨城 月季 方家 南都 幸福苑"),
    ("东郊街道", "DJ", "crrm", "东郊 江澄 海晏 东城 天宫 永达 宁穿 联丰"),
    ("梅墟街道", "MX", "rrcm", "梅墟 里洋 万新 兴宁 新潮 梅园 洋江"),
    ("新明街道", "XM", "ccrr", "新明 世纪东方 兴园 明湖 丽园 会展"),
    ("宝幢街道", "BC", "rrmo", "宝幢 太白 育王 鄮山 同谷"),
    ("姜山镇", "JS", "", "走马塘村 陈家团村 东光村 上张村 茅山村"),
    ("五乡镇", "WX", "", "宝同村 联合村 石山弄村 明伦村 仁久村"),
]
NEW_2026 = [("首南街道", "云栖"), ("潘火街道", "金茂"), ("下应街道", "海源"), ("东郊街道", "悦城"), ("梅墟街道", "创智")]
MERGED = {"百合": ("白鹤街道", "黄鹂"), "桑园": ("中河街道", "宋诏桥"), "新典": ("明楼街道", "和丰"),
          "江厦": ("东胜街道", "史家")}             # merged in 2026 into the second community
ANCHORS = {"海悦": "haiyue.yaml", "丹顶鹤": "dandinghe-old-compound.yaml",
           "海创": "haichuang-large-community.yaml", "走马塘村": "rural-village-centre.yaml"}
HOUSING = {"o": "old", "c": "commercial", "r": "resettlement", "m": "mixed"}
QUALITY = {"old": 0.40, "commercial": 0.66, "resettlement": 0.52, "mixed": 0.50}

SIGNAGE = ["facade_nameplate", "party_emblem", "hall_guidance", "service_catalogue", "procedure_guide",
           "service_commitment", "staff_board", "complaint_hotline", "opening_hours", "zone_signs",
           "accessibility_signs", "grid_map"]
# Amenity, and a + b·q: how likely a centre run at quality q has it (in the vocabulary's order, as a workbook
# reads a list back).
AMENITIES = [("writing_materials", 0.97, 0), ("reading_glasses", 0.7, 0.3), ("drinking_water", 0.97, 0),
             ("seating", 0.97, 0), ("self_service_terminal", 0.45, 0.6), ("accessible_entrance", 0.6, 0.4),
             ("wifi", 0.2, 0.6), ("charging", 0.2, 0.6), ("first_aid_kit", 0.2, 0.6), ("baby_care", 0, 0.4)]
# Zone kind → (weight of its share of its class's area, names a centre may give it).
SERVICE = {"service_hall": (3.0, "综合服务大厅 一站式服务大厅 便民服务大厅"), "deliberation": (1.0, "议事协商室 小巷公议厅 邻里议事坊"),
           "activity": (3.0, "居民活动室 老年活动室 共享客厅"), "display": (0.7, "党建展示区 宣传展示廊"),
           "rest_station": (0.5, "暖心驿站 红领驿站"), "reading": (1.2, "红色书房 社区书屋"),
           "children": (1.5, "四点半课堂 婴幼儿照护服务站"), "elderly_care": (1.5, "居家养老服务站 颐乐园"),
           "health": (1.2, "社区卫生服务站"), "canteen": (1.5, "幸福食堂 老年食堂"),
           "social_org": (1.0, "社会组织孵化室"), "multipurpose": (2.0, "多功能厅"), "consultation": (0.6, "法律咨询室 心理咨询室")}
OFFICE = {"office": (3.0, "社区办公室"), "archive": (0.6, "档案室"), "staff_meeting": (0.8, "内部会议室")}
SUPPORT = {"restroom": (1.0, ""), "storage": (0.6, ""), "equipment": (0.3, ""), "circulation": (1.0, "")}
EXTRAS = ["reading", "children", "elderly_care", "health", "canteen", "social_org", "multipurpose", "consultation"]


def clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


def round_to(x: float, step: int) -> int:
    return max(step, int(round(x / step)) * step)


def covering(zones: list[dict]) -> int:
    """The smallest whole ten of m² that holds every zone."""
    return -(-sum(z["area_m2"] for z in zones) // 10) * 10


def autumn_dates(year: int) -> dict[str, datetime.date]:
    """Each street's first inspection day: the district team visits street by street from September."""
    start = datetime.date(year, 9, 1)
    return {street: start + datetime.timedelta(days=5 * i) for i, (street, *_rest) in enumerate(STREETS)}


def visit(rng: random.Random, first: datetime.date) -> str:
    """A working day in the week from the street's first inspection day."""
    days = [first + datetime.timedelta(days=i) for i in range(7)]
    return rng.choice([d for d in days if d.weekday() < 5]).isoformat()


def zones_for(rng: random.Random, total: float, share: float, q: float, rural: bool, floor: int) -> list[dict]:
    """Zones filling most of ``total`` m², ``share`` of service against service plus office."""
    kinds = ["service_hall"] + [k for k, p in (("deliberation", 0.75 + 0.3 * q), ("activity", 0.97),
                                               ("display", 0.55 + 0.45 * q), ("rest_station", 0.25 + 0.7 * q))
                                if rng.random() < p]
    kinds += rng.sample(EXTRAS, min(len(EXTRAS), int(q * 5 + rng.random() * 2)))
    if rural and "canteen" not in kinds and rng.random() < 0.6:
        kinds.append("canteen")
    offices = ["office"] + [k for k in ("archive", "staff_meeting") if rng.random() < 0.5 + 0.3 * q]
    supports = ["restroom"] + [k for k in ("storage", "equipment", "circulation") if rng.random() < 0.4]
    support = total * rng.uniform(0.06, 0.13)
    usable = total - support - total * rng.uniform(0.0, 0.04)
    zones = []
    for table, chosen, amount in ((SERVICE, kinds, usable * share), (OFFICE, offices, usable * (1 - share)),
                                  (SUPPORT, supports, support)):
        weight = sum(table[k][0] for k in chosen)
        for kind in chosen:
            area = max(10, round_to(amount * table[kind][0] / weight * rng.uniform(0.85, 1.15), 5))
            zone = {"kind": kind, "area_m2": area}
            names = table[kind][1].split()
            if kind == "service_hall" and floor != 1:
                zone["name"] = "二楼办事大厅"
            elif names and rng.random() < 0.4:
                zone["name"] = rng.choice(names)
            zones.append(zone)
    return zones


def centre(rng: random.Random, street: str, cid: str, community: str, housing: str, date: datetime.date,
           q: float | None = None) -> dict:
    """One centre's profile; ``q`` (0–1) is how well it is run, drawn from its housing when not given."""
    rural = community.endswith("村")
    q = q if q is not None else clamp(QUALITY[housing] + rng.gauss(0, 0.2))
    low, high = {"old": (700, 3000), "commercial": (1200, 6000), "resettlement": (1500, 5000),
                 "mixed": (800, 3500)}[housing]
    households = int(round(rng.uniform(low, high) if not rural else rng.uniform(600, 1500), -1))
    residents = int(households * rng.uniform(2.3, 3.0))
    total = round_to(max(200.0, households * (24 + 34 * q + rng.gauss(0, 5)) / 100), 10)
    floor = 2 if rng.random() < (0.3 if housing == "old" else 0.08) * (1 - q) else 1
    zones = zones_for(rng, total, clamp(0.76 + 0.2 * q + rng.gauss(0, 0.025), 0.5, 0.95), q, rural, floor)
    total = max(total, covering(zones))
    workers = max(3, round(22 * residents / 10000 * (0.7 + 0.55 * q + rng.gauss(0, 0.08))))
    grids = max(1, round(households / rng.uniform(260, 420)))
    pick = lambda codes, p: [c for c in codes if rng.random() < p]  # noqa: E731
    doc = {
        "schema_version": 1,
        "center": {"id": cid, "name": f"{community}{'' if rural else '社区'}"
                                      f"{'党群' if rng.random() < 0.3 else '便民'}服务中心",
                   "community": community if rural else f"{community}社区", "region": {**REGION, "street": street},
                   "setting": "rural" if rural else "urban", "housing": housing,
                   "assessed_on": visit(rng, date)},
        "population": {"households": households, "residents": residents},
        "space": {"total_area_m2": total, "service_hall_floor": floor, "open_plan": rng.random() < 0.35 + 0.6 * q,
                  "zones": zones},
        "signage": [c for c in SIGNAGE if rng.random() < (0.985 if c == "facade_nameplate" else
                                                          0.97 if c == "party_emblem" else
                                                          0.3 + 0.65 * q if c in SIGNAGE[9:] else 0.78 + 0.3 * q)],
        "amenities": [c for c, a, b in AMENITIES if rng.random() < a + b * q],
        "staff": {"community_workers": workers,
                  "certified_social_workers": min(workers, round(workers * clamp(0.5 + 0.35 * q + rng.gauss(0, 0.06)))),
                  "college_educated": min(workers, round(workers * clamp(0.8 + 0.22 * q + rng.gauss(0, 0.04)))),
                  "uniform_badges": rng.random() < 0.93 + 0.1 * q, "ab_backup": rng.random() < 0.45 + 0.6 * q,
                  "grid_workers": grids if rng.random() < 0.35 + 0.65 * q
                  else max(0, grids - rng.randint(1, 1 + grids // 3))},
        "services": {
            "single_window": rng.random() < 0.9 + 0.2 * q,
            "first_inquiry_responsibility": rng.random() < 0.9 + 0.15 * q,
            "weekly_opening_hours": rng.choice([38, 40, 40, 40, 40, 44, 45, 48, 52, 56][int(q * 6):int(q * 6) + 5]),
            "after_hours_service": rng.random() < 0.4 + 0.6 * q,
            "feedback_loop": ["collect", "analyse", "handle", "respond", "review"] if rng.random() < 0.3 + 0.7 * q
            else ["collect", "handle", "respond"] + (["review"] if rng.random() < 0.5 else []),
            "grid_coverage": 1.0 if rng.random() < 0.45 + 0.55 * q else round(rng.uniform(0.85, 0.99), 2),
            "satisfaction_rate": round(clamp(0.8 + 0.15 * q + rng.gauss(0, 0.025), 0.7, 0.99), 2),
            "grids": grids, "task_list_posted": rng.random() < 0.72 + 0.35 * q,
            "tasks_outside_list": 0 if rng.random() < 0.2 + 0.8 * q else rng.randint(1, 5),
            "key_group_register": ["elderly"] + pick(["disabled"], 0.85 + 0.2 * q) + pick(["unemployed"], 0.5 + 0.5 * q)
            + pick(["low_income"], 0.5) + pick(["left_behind_children"], 0.8 if rural else 0.1),
            "deliberation_sessions_12m": 12 if rng.random() < 0.4 + 0.6 * q else rng.randint(5, 11),
            "legal_service_days_12m": 12 if rng.random() < 0.3 + 0.7 * q else rng.randint(3, 11),
            "volunteers": int(round(residents * clamp(0.09 + 0.15 * q + rng.gauss(0, 0.03), 0.03, 0.4), -1)),
        },
    }
    if rng.random() < 0.16:         # figures the street did not collect: their clauses are "not evidenced"
        for key in rng.sample(["volunteers", "legal_service_days_12m", "deliberation_sessions_12m",
                               "key_group_register", "tasks_outside_list", "grids"], rng.randint(1, 3)):
            doc["services"].pop(key)
            if key == "grids":
                doc["staff"].pop("grid_workers")
    if rng.random() < 0.03:
        del doc["staff"]
    return doc


def last_year(rng: random.Random, doc: dict, date: datetime.date) -> dict:
    """The same centre a year earlier: usually a little worse, sometimes better, sometimes before a renovation."""
    old = json.loads(json.dumps(doc))
    old["center"]["assessed_on"] = visit(rng, date)
    if rng.random() < 0.2:
        old["center"]["name"] = old["center"]["name"].replace("党群", "便民")   # renamed this year
    pop, space, staff, services = old["population"], old["space"], old.get("staff", {}), old["services"]
    growth = rng.uniform(0.95, 1.0)
    pop["households"], pop["residents"] = int(pop["households"] * growth), int(pop["residents"] * growth)
    fate = rng.random()
    if fate < 0.08:                 # renovated since: last year smaller, office-heavy, maybe upstairs
        space["total_area_m2"] = round_to(space["total_area_m2"] * rng.uniform(0.55, 0.8), 10)
        space["service_hall_floor"] = rng.choice([1, 2, 2])
        space["open_plan"] = False
        space["zones"] = zones_for(rng, space["total_area_m2"], rng.uniform(0.55, 0.74), 0.15,
                                   old["center"]["setting"] == "rural", space["service_hall_floor"])
        space["total_area_m2"] = max(space["total_area_m2"], covering(space["zones"]))
        old["signage"] = [c for c in old["signage"] if c not in ("zone_signs", "accessibility_signs")]
    sign = 1 if fate < 0.85 else -1      # -1: better last year (staff since left, standards slipped)
    if staff:
        staff["community_workers"] = max(3, staff["community_workers"] - sign * rng.randint(0, 2))
        for key in ("certified_social_workers", "college_educated"):
            staff[key] = max(0, min(staff["community_workers"], staff[key] - sign * rng.randint(0, 2)))
    if "satisfaction_rate" in services:
        services["satisfaction_rate"] = round(clamp(services["satisfaction_rate"] - sign * rng.uniform(0, 0.04),
                                                    0.7, 0.99), 2)
    if sign > 0:
        for _ in range(rng.randint(0, 2)):
            if len(old["signage"]) > 4:
                old["signage"].remove(rng.choice(old["signage"][1:]))
        for key, lowest in (("deliberation_sessions_12m", 4), ("legal_service_days_12m", 2)):
            if key in services:
                services[key] = max(lowest, services[key] - rng.randint(0, 4))
        if "volunteers" in services:
            services["volunteers"] = int(round(services["volunteers"] * rng.uniform(0.75, 0.97), -1))
        if rng.random() < 0.12:
            services["task_list_posted"] = False
    else:
        old["signage"] = [c for c in SIGNAGE if c in old["signage"] or rng.random() < 0.5]
    return old


def generate(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """This year's centres and last year's, in street order."""
    now, before = autumn_dates(2026), autumn_dates(2025)
    this_year, last = [], []
    for street, letters, mix, names in STREETS:
        used = {103, 7, 21, 115}                 # the numbers of the bundled examples

        def new_id() -> str:
            n = rng.choice([i for i in range(1, 200) if i not in used])
            used.add(n)
            return f"330212-{letters}-{n:04d}"
        merged_here = [m for m, (s, _) in MERGED.items() if s == street]
        for name in names.split() + [n for s, n in NEW_2026 if s == street] + merged_here:
            housing = "mixed" if not mix else HOUSING[rng.choice(mix)]
            if name in ANCHORS:
                doc = yaml.safe_load((ROOT / "examples" / ANCHORS[name]).read_text(encoding="utf-8"))
                doc["center"]["assessed_on"] = str(doc["center"]["assessed_on"])
                if doc["center"]["assessed_on"] < "2026-09-01":      # this round is the autumn's
                    doc["center"]["assessed_on"] = visit(rng, now[street])
            else:
                new = (street, name) in NEW_2026
                q = rng.uniform(0.55, 0.9) if new else None      # new estates, a new centre
                doc = centre(rng, street, new_id(), name, housing, now[street], q)
                if new:             # a first inspection: the local figures were not collected yet
                    for key in ("volunteers", "legal_service_days_12m", "deliberation_sessions_12m"):
                        doc["services"].pop(key, None)
            previous = last_year(rng, doc, before[street])
            if name in merged_here:
                last.append(previous)
                continue
            if (street, name) not in NEW_2026:
                last.append(previous)
            this_year.append(doc)
    # A merged community's households joined its neighbour this year.
    by_name = {d["center"]["community"]: d for d in last}
    for merged, (_, into) in MERGED.items():
        gone, kept = by_name[f"{merged}社区"]["population"], by_name[f"{into}社区"]["population"]
        share = rng.uniform(0.25, 0.4)
        gone["households"], gone["residents"] = int(kept["households"] * share), int(kept["residents"] * share)
        kept["households"] -= gone["households"]
        kept["residents"] -= gone["residents"]
    return this_year, last


def spread(docs: list[dict], rules: compliance.RuleSet, title: str) -> None:
    """Audit every centre and print the grades, verdicts and the clauses most often not met."""
    grades, verdicts, unmet, missing = Counter(), Counter(), Counter(), Counter()
    for doc in docs:
        result = compliance.evaluate(compliance.load_profile(doc, rules=rules), rules)
        grades[result.grade] += 1
        verdicts[result.verdict.value] += 1
        unmet.update(f.clause.clause for f in result.findings if f.status.value in ("fail", "partial"))
        missing.update(f.clause.clause for f in result.findings if f.status.value == "missing")
    print(f"{title}: {len(docs)} centres")
    for grade in (g.id for g in rules.grades):
        print(f"  {grade:<12} {grades[grade]:>4}  {'#' * grades[grade]}")
    print(f"  verdicts: {dict(verdicts)}")
    print(f"  most often not met: {', '.join(f'{c} ×{n}' for c, n in unmet.most_common(8))}")
    print(f"  not evidenced: {', '.join(f'{c} ×{n}' for c, n in missing.most_common(8))}")


def spoil_workbook(path: Path, ids: dict[str, str]) -> None:
    """Break four rows of the exported workbook, as a careless street office would."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    centres, zones = book["centres"], book["zones"]
    col = {centres.cell(2, c).value: c for c in range(1, centres.max_column + 1)}
    row = {centres.cell(r, col["center.id"]).value: r for r in range(3, centres.max_row + 1)
           if centres.cell(r, col["center.id"]).value}
    area = centres.cell(row[ids["text_number"]], col["space.total_area_m2"])
    area.value = f"约{round(area.value, -2)}"                                      # 1. text in a number cell
    zone_rows = {}
    for r in range(3, zones.max_row + 1):
        zone_rows.setdefault(zones.cell(r, 1).value, []).append(r)
    rules = compliance.load_ruleset("yinzhou")
    activity = {rules.vocabulary.label("zone_kinds", k, "zh") for k in ("multipurpose", "activity")}
    gym = next(r for r in zone_rows[ids["unknown_kind"]] if zones.cell(r, 2).value in activity)   # 居民活动区
    zones.cell(gym, 2, "fitness_room")                                            # 2. not a zone kind
    zones.cell(zone_rows[ids["negative_area"]][1], 3, -40)                       # 3. a negative area
    last = max(row.values()) + 1                                                  # 4. the same centre twice
    for c in range(1, centres.max_column + 1):
        centres.cell(last, c, centres.cell(row[ids["twice"]], c).value).number_format = \
            centres.cell(row[ids["twice"]], c).number_format
    centres.cell(last, col["center.assessed_on"], datetime.date(2026, 11, 20))
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(steady_zip(buffer.getvalue()))


def steady_zip(data: bytes) -> bytes:
    """The workbook with fixed timestamps, so that a rerun writes the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-12-01T00:00:00Z", body)
            dst.writestr(zipfile.ZipInfo(info.filename, (2026, 12, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def spoil_jsonl(path: Path, ids: dict[str, str]) -> None:
    """Break two lines of the JSON Lines: one cut short, one with a count written as text."""
    lines = path.read_bytes().splitlines(keepends=True)
    for i, line in enumerate(lines):
        doc = json.loads(line)
        cid = doc["center"]["id"]
        if cid == ids["cut_short"]:
            lines[i] = line[: len(line) // 2] + b"\n"                          # 5. not JSON
        elif cid == ids["text_count"]:
            doc["population"]["households"] = f"{doc['population']['households']}户"   # 6. a wrong type
            lines[i] = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(lines))


def main() -> None:
    rng = random.Random(SEED)
    rules = compliance.load_ruleset("yinzhou")
    this_year, last = generate(rng)
    for doc in this_year + last:
        compliance.load_profile(doc, rules=rules)          # every good centre validates (raises otherwise)
    (OUT / "2025").mkdir(parents=True, exist_ok=True)
    export(this_year, OUT / "centres.xlsx", rules.vocabulary, rules="yinzhou")      # its 说明 names the round's rule set
    export(this_year, OUT / "centres.jsonl", rules.vocabulary)
    export(last, OUT / "2025" / "centres.jsonl", rules.vocabulary)
    by_name = {d["center"]["community"]: d["center"]["id"] for d in this_year}
    ids = {"text_number": by_name["曙光社区"], "unknown_kind": by_name["金桥社区"],
           "negative_area": by_name["东城社区"], "twice": by_name["史家社区"],
           "cut_short": by_name["彩虹社区"], "text_count": by_name["庆丰社区"]}
    spoil_workbook(OUT / "centres.xlsx", ids)
    spoil_jsonl(OUT / "centres.jsonl", ids)
    spread(this_year, rules, "2026 round (before the deliberate bad rows)")
    spread(last, rules, "2025 round")
    print("bad rows:", ", ".join(f"{k}={v}" for k, v in ids.items()))
    kept = {d["center"]["id"] for d in this_year} & {d["center"]["id"] for d in last}
    print(f"{len(kept)} centres in both rounds, {len(last) - len(kept)} only in 2025, "
          f"{len(this_year) - len(kept)} only in 2026")
    last_round(rules)
    sampled = inspection_round(random.Random(SEED + 1), this_year, rules)
    print(f"2026 inspections: {len(sampled)} centres -> {OUT.relative_to(ROOT)}/2026-inspection/")
    audit_year()


def last_round(rules: compliance.RuleSet) -> None:
    """Audit the 2025 returns into 2025-round/, the folder --previous takes (paths relative to the root)."""
    import os

    from compliance.batch.round import Round

    os.chdir(ROOT)
    source = (OUT / "2025" / "centres.jsonl").relative_to(ROOT)
    waivers = compliance.load_waivers(str((OUT / "waivers.yaml").relative_to(ROOT)), rules=rules)   # 6.3's ran to 2025
    tally = Round(inputs=[str(source)], rules=rules, outdir=(OUT / "2025-round").relative_to(ROOT),
                  waivers=waivers).run()
    (OUT / "2025-round" / "district-report.html").unlink()   # the PDF is kept; the HTML, which carries the whole
    # stylesheet, would change with every change of the report's style
    print(f"2025 round: {tally.audited} audited, {tally.refused} refused -> {OUT.relative_to(ROOT)}/2025-round/")


# --------------------------------------------------------------------------- the inspection round

INSPECTION_ROUND = "2026年考核"         # audit.round of every inspection of the round
INSPECTORS = [["王敏", "李强"], ["张丽", "周涛"], ["陈静", "吴斌"], ["刘洋", "孙悦"]]
RESPONSIBLE = "赵 钱 孙 李 周 吴 郑 冯 陈 褚 卫 蒋 沈 韩 杨 朱 秦".split()
GIVEN = "建华 秀英 丽华 志强 海燕 明 芳 敏 静 伟 磊 娟 洁 勇 艳 军 霞".split()
# Clause → the colour of its photos.
PHOTO = {"4.1": (176, 48, 48), "4.3": (48, 96, 160), "4.4": (96, 64, 144), "4.5": (48, 128, 96), "4.6": (32, 112, 144),
         "5.5": (144, 96, 32), "5.6": (128, 112, 48), "6.2": (64, 64, 64), "6.3": (96, 128, 32), "7.5": (160, 64, 96),
         "8.8": (112, 48, 48)}
SAMPLE_SKIP = {"曙光社区", "金桥社区", "东城社区", "史家社区", "彩虹社区", "庆丰社区"}   # the broken rows


def clause_key(clause: str) -> list[int]:
    return [int(p) for p in clause.split(".")]


def inspected(rng: random.Random, doc: dict, kind: str) -> tuple[dict, set[str], str]:
    """What the inspectors found at a centre whose self-check is ``doc``: ``worse`` (the self-check overstated
    it), ``better`` (fixed since, or under-declared) or ``same``; the clauses they photographed for it; and which
    of the three it came to (``same`` where the changes drawn touched nothing)."""
    new = json.loads(json.dumps(doc))
    signage, amenities, staff, services = new["signage"], new["amenities"], new.get("staff", {}), new["services"]
    changes: list[tuple[str, Any]] = []
    if kind == "worse":
        changes = [("4.4", lambda: [signage.remove(c) for c in ("service_commitment", "staff_board")
                                    if c in signage]),
                   ("4.5", lambda: "zone_signs" in signage and signage.remove("zone_signs")),
                   ("6.2", lambda: "self_service_terminal" in amenities and amenities.remove("self_service_terminal")),
                   ("5.6", lambda: new["space"].__setitem__("open_plan", False)),
                   ("7.5", lambda: staff and staff.__setitem__("uniform_badges", False)),
                   ("8.8", lambda: services.__setitem__("task_list_posted", False))]
    elif kind == "better":
        changes = [("4.5", lambda: "zone_signs" not in signage and signage.insert(
                        next((i for i, c in enumerate(signage) if SIGNAGE.index(c) > 9), len(signage)), "zone_signs")),
                   ("4.6", lambda: "accessibility_signs" not in signage and signage.insert(
                        next((i for i, c in enumerate(signage) if SIGNAGE.index(c) > 10), len(signage)),
                        "accessibility_signs")),
                   ("6.3", lambda: "accessible_entrance" not in amenities and amenities.append("accessible_entrance")),
                   ("8.8", lambda: services.__setitem__("task_list_posted", True))]
    photographed = {"4.1"}
    for clause, change in rng.sample(changes, min(len(changes), rng.randint(2, 3))) if changes else []:
        change()
        photographed.add(clause)
    amenities.sort(key=[c for c, _, _ in AMENITIES].index)
    if new == doc:
        kind = "same"                       # nothing the inspectors looked at differed from the self-check
    if new["space"]["service_hall_floor"] != 1:
        photographed.add("5.5")
    return new, photographed, kind


def photo(path: Path, clause: str, cid: str, n: int) -> None:
    """A small plain image standing for a photo: the clause, the centre id and its number drawn in (fixed
    size, no metadata: the same bytes every run). JPEG for most, PNG for every third."""
    from PIL import Image, ImageDraw

    colour = PHOTO.get(clause, (80, 80, 80))
    image = Image.new("RGB", (240, 160), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 231, 151), outline=(255, 255, 255), width=2)
    for i, line in enumerate((clause, cid, f"#{n}")):      # no words: the example's photos speak no language
        draw.text((20, 22 + 30 * i), line, fill=(255, 255, 255))
    draw.rectangle((150, 90, 216, 136), outline=(255, 255, 255), width=2)   # the thing photographed, as a box
    buffer = io.BytesIO()
    if path.suffix == ".png":
        image.save(buffer, "PNG", optimize=True)
    else:
        image.save(buffer, "JPEG", quality=70)
    path.write_bytes(buffer.getvalue())


def register_scan(cid: str, title: str) -> bytes:
    """A one-page PDF standing for a scanned register: written byte by byte (no dates), so it never changes."""
    text = f"BT /F1 16 Tf 60 760 Td ({title}) Tj 0 -28 Td ({cid}) Tj 0 -28 Td (2026-12) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
               b"/Contents 5 0 R >>", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def inspection_round(rng: random.Random, this_year: list[dict], rules: compliance.RuleSet) -> list[str]:
    """Write 2026-inspection/: the district team's inspections of one centre a street (丹顶鹤 for 白鹤), early
    December, each a YAML profile with an ``audit`` block and photos by clause; the ids, in order."""
    folder = OUT / "2026-inspection"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "photos").mkdir(parents=True)
    kinds = ["worse"] * 7 + ["better"] * 5 + ["same"] * 5
    rng.shuffle(kinds)
    day = datetime.date(2026, 12, 1)
    written = []
    for i, (street, *_rest) in enumerate(STREETS):
        here = [d for d in this_year if d["center"]["region"]["street"] == street
                and d["center"]["community"] not in SAMPLE_SKIP]
        doc = next((d for d in here if d["center"]["id"] == "330212-BH-0007"), None) or rng.choice(here)
        kind = "worse" if doc["center"]["id"] == "330212-BH-0007" else kinds[i]
        found, photographed, kind = inspected(rng, doc, kind)
        cid = found["center"]["id"]
        while day.weekday() >= 5:
            day += datetime.timedelta(days=1)
        found["center"]["assessed_on"] = day.isoformat()
        if i % 2:
            day += datetime.timedelta(days=1)
        found["audit"] = {"kind": "inspection", "inspectors": INSPECTORS[i % len(INSPECTORS)],
                          "responsible": RESPONSIBLE[i] + GIVEN[i], "round": INSPECTION_ROUND}
        evidence: dict[str, list[dict]] = {}
        for n, clause in enumerate(sorted(photographed, key=clause_key), 1):
            name = f"photos/{cid}-{clause}.{'png' if n % 3 == 0 else 'jpg'}"
            photo(folder / name, clause, cid, n)
            evidence[clause] = [{"file": name, "taken_on": found["center"]["assessed_on"]}]
        if cid == "330212-BH-0007":
            evidence["5.5"][0]["note"] = "服务大厅在文物建筑二楼，一楼设代办窗口（已豁免）"
            scan = "photos/330212-BH-0007-8.10.pdf"
            (folder / scan).write_bytes(register_scan(cid, "Key group register (scan)"))
            evidence["8.10"] = [{"file": scan, "note": "重点人群台账扫描件"}]
        found["evidence"] = {c: evidence[c] for c in sorted(evidence, key=clause_key)}
        body = yaml.safe_dump(found, allow_unicode=True, sort_keys=False, width=120)
        comment = {"worse": "检查发现不如自评", "better": "检查发现好于自评（自评后已整改）", "same": "检查与自评一致"}[kind]
        (folder / f"{cid}.yaml").write_text(f"# {found['center']['name']}：{comment}\n" + body, encoding="utf-8")
        written.append(cid)
    return written


AS_OF = "2027-01-15"        # the day the README's ledger is drawn up: fixed, so that it reads the same every year


def audit_year() -> None:
    """Run the year's commands as a bureau would (paths relative to the root): this year's returns audited into a
    temporary 2026-round/ (not kept: 1.5 MB of results), the inspections against it into 2026-inspection-round/,
    and the ledger of the three rounds into ledger.xlsx and ledger.csv."""
    import os
    import subprocess
    import tempfile

    os.chdir(ROOT)
    district = OUT.relative_to(ROOT)
    waivers = str(district / "waivers.yaml")
    library = str(Path(compliance.__file__).resolve().parent.parent)     # the commands run the library imported here

    def run(*args: str) -> int:
        done = subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": library})
        if done.returncode not in (0, 1, 2) or "Traceback" in done.stderr:
            raise SystemExit(f"compliance {' '.join(args)} failed:\n{done.stderr}")
        return done.returncode

    with tempfile.TemporaryDirectory() as tmp:
        this_round = os.path.join(tmp, "2026-round")
        status = run("batch", str(district / "centres.xlsx"), "--rules", "yinzhou", "-o", this_round,
                     "--jobs", "1", "--waivers", waivers, "--previous", str(district / "2025-round"))
        print(f"2026 round: exit {status} (4 rows refused on purpose)")
        inspections = district / "2026-inspection-round"
        if inspections.exists():
            shutil.rmtree(inspections)
        status = run("batch", str(district / "2026-inspection"), "--rules", "yinzhou", "-o", str(inspections),
                     "--jobs", "1", "--waivers", waivers, "--self", this_round)
        (inspections / "district-report.html").unlink()     # the PDF is kept, as for 2025-round/
        print(f"2026 inspection round: exit {status} -> {inspections}/")
        for name in ("ledger.xlsx", "ledger.csv"):
            status = run("ledger", str(district / "2025-round"), this_round, str(inspections), "-o",
                         str(district / name), "--as-of", AS_OF)
        print(f"ledger as of {AS_OF}: exit {status} -> {district}/ledger.xlsx, ledger.csv")


if __name__ == "__main__":
    main()
