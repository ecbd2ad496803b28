"""Columnar scoring, the design step of a vectorised round engine: which library scores a chunk fastest.

    python benchmarks/bench_columns.py                  # 65,536 centres, best of 3
    python benchmarks/bench_columns.py --rows 16384 --repeat 1

A chunk of centres is gathered by the library's own scalar code (``load_profile`` under ``yinzhou``, so
every row's ``Facts`` is what a round scores today), from ``profiles.make`` repeated with varied numbers
and a share of rows put exactly on a threshold or a partial-credit bound. Yinzhou's Rate, AreaRatio and
Compare clauses (16) — and, as Yinzhou has none, Nanxing's one AtLeast clause (5.7) — are then scored
three ways, each giving a status and a credit per row, the smallest remedy where one is due, and the rows
the vector pass cannot settle (the closed-form remedy, checked with the clause's own comparison at k and
k − 1 steps, does not bracket the answer; or it is beyond 10¹⁵ steps), which the scalar closure settles:

(a) the compiled scalar closures (``check(facts) -> Finding``), the baseline;
(b) NumPy arrays; (c) Polars expressions (one lazy ``select`` over the chunk).

(b) and (c) must give the same status, credit, measured value and remedy as (a) on every row (asserted).
Times are wall and CPU (all threads) per centre for the whole clause set; building the columns from the
facts is timed apart, as the engine would build them from the parsed lines instead. Standalone: the
package never imports it, and numpy and polars are not dependencies of the package.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compliance  # noqa: E402
from compliance.checks import _SCALE, _bands, remedy_columns  # noqa: E402
from compliance.compile import load_ruleset  # noqa: E402
from compliance.model import TOL, Status, facts_of  # noqa: E402

try:
    import polars as pl
except ImportError:          # (c) is then left out, and the output says so
    pl = None

PASS, PARTIAL, FAIL, MISSING, NA = 0, 1, 2, 3, 4
CODE = {Status.PASS: PASS, Status.PARTIAL: PARTIAL, Status.FAIL: FAIL, Status.MISSING: MISSING,
        Status.NOT_APPLICABLE: NA}
TYPES = ("rate", "area_ratio", "at_least", "compare")


# --------------------------------------------------------------------------- the chunk

def chunk(rows: int, seed: int) -> tuple[Any, list[Any], int]:
    """``rows`` Facts gathered under yinzhou from varied profiles, a share of them on a boundary."""
    from profiles import make

    rules = load_ruleset("yinzhou")
    kinds = sorted(rules.vocabulary.codes["zone_kinds"])
    base = [orjson.dumps(p) for p in make(min(rows, 4096), seed)]
    rng = random.Random(seed)
    out, refused = [], 0
    for i in range(rows):
        p = orjson.loads(base[i % len(base)])
        vary(p, rng, kinds, i)
        try:
            out.append(facts_of(compliance.load_profile(p, rules=rules)))
        except compliance.ProfileError:
            refused += 1
    return rules, out, refused


def vary(p: dict, rng: random.Random, kinds: list[str], i: int) -> None:
    pop, staff, sv, space = p["population"], p["staff"], p["services"], p["space"]
    w = staff["community_workers"]
    staff["grid_workers"] = rng.randint(0, 12)
    sv["grids"] = rng.choice([0, rng.randint(1, 12)]) if rng.random() < 0.05 else rng.randint(1, 12)
    sv["volunteers"] = rng.randint(0, max(pop["residents"] // 3, 1))
    sv["tasks_outside_list"] = rng.choice([0, 0, 0, 1, 3])
    sv["deliberation_sessions_12m"] = rng.randint(6, 14)
    sv["legal_service_days_12m"] = rng.randint(6, 14)
    if rng.random() < 0.3:
        sv["weekly_opening_hours"] = round(rng.uniform(30, 50), rng.choice([0, 2, 6]))
    if rng.random() < 0.3:
        sv["satisfaction_rate"] = round(rng.uniform(0.8, 1.0), rng.choice([3, 7]))
    if rng.random() < 0.03:
        del sv["volunteers"]
    if rng.random() < 0.03:
        del staff["grid_workers"]
    if rng.random() < 0.4:           # zone kinds from the whole vocabulary (health, canteen, social_org …)
        for zone in space["zones"]:
            if rng.random() < 0.5:
                zone["kind"] = rng.choice(kinds)
    if i % 16 == 0:                  # on a boundary: ties must come out as the scalar code says
        k = rng.randint(1, 5)
        staff.update(community_workers=11 * k, certified_social_workers=min(11 * k, round(0.7 * 11 * k)),
                     college_educated=11 * k, grid_workers=k)
        pop["residents"] = 5000 * k                        # 22 per 10,000 exactly
        pop["households"] = rng.choice([250, 300, 301, 249]) * 11 * k   # 7.2's max and its band
        sv["grids"] = k
        sv["volunteers"] = round(0.18 * pop["residents"])
        sv["satisfaction_rate"], sv["grid_coverage"], sv["weekly_opening_hours"] = 0.9, 1.0, 40
        space["zones"] = [{"kind": "service_hall", "area_m2": 80.0 * k}, {"kind": "office", "area_m2": 20.0 * k},
                          {"kind": rng.choice(kinds), "area_m2": 10.0}]
        space["total_area_m2"] = max(pop["households"] * 0.4, 110.0 * k)
    elif w and rng.random() < 0.05:
        pop["households"] = 250 * w + rng.choice([-1, 0, 1])


def clause_set(rules: Any) -> list[tuple[Any, Callable[[Any], Any]]]:
    """Yinzhou's rate, area-ratio and compare clauses with their compiled closures, and Nanxing's at-least one."""
    out = [(c, check) for c, check in zip(rules.clauses, rules.checks) if c.check["type"] in TYPES]
    nanxing = load_ruleset("nanxing")
    out += [(c, check) for c, check in zip(nanxing.clauses, nanxing.checks) if c.check["type"] == "at_least"]
    return out


# --------------------------------------------------------------------------- columns

def columns(facts: list[Any], clauses: list[Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each field, zone class and code the clauses read: (values as float64, present) per row."""
    from compliance.checks import getter

    cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def add(name: str, values: list[Any]) -> None:
        present = np.fromiter((v is not None for v in values), bool, len(values))
        cols[name] = (np.fromiter((0.0 if v is None else v for v in values), np.float64, len(values)), present)

    for clause in clauses:
        p = clause.check
        kind = p["type"]
        fields = ([p["numerator"], p["denominator"]] if kind == "rate" else [p["field"]] if kind == "compare" else [])
        for f in fields:
            if f not in cols:
                read = getter(f)
                add(f, [read(x.data) for x in facts])
        if kind == "area_ratio":
            den = p["denominator"]
            for cls in [*p["numerator"], *([] if den == "total" else den)]:
                if "class:" + cls not in cols:
                    add("class:" + cls, [x.class_area.get(cls, 0.0) for x in facts])
            if den == "total" and "total" not in cols:
                add("total", [x.total_area for x in facts])
        if kind == "at_least":
            lst = p["list"]
            if "list:" + lst not in cols:
                add("list:" + lst, [None if x.lists[lst] is None else 0.0 for x in facts])
            for code in p["codes"]:
                if f"code:{lst}:{code}" not in cols:
                    add(f"code:{lst}:{code}", [float(code in (x.lists[lst] or ())) for x in facts])
    return cols


def area_np(cols: dict[str, Any], classes: tuple[str, ...]) -> np.ndarray:
    if len(classes) > 2:
        raise NotImplementedError("more than two classes: the column would be an fsum made when gathering")
    out = cols["class:" + classes[0]][0]
    return out if len(classes) == 1 else out + cols["class:" + classes[1]][0]


# --------------------------------------------------------------------------- (b) NumPy

def remedy_np(need: np.ndarray, estimate: np.ndarray, passes: Callable[[np.ndarray], np.ndarray], unit: str,
              cap: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """smallest_remedy over a column: the package's own form (compliance.checks.remedy_columns)."""
    return remedy_columns(need, estimate, passes, unit, cap)


def rate_np(clause: Any, cols: dict[str, Any]) -> tuple[np.ndarray, ...]:
    p = clause.check
    num, nok = cols[p["numerator"]]
    den, dok = cols[p["denominator"]]
    per, higher = p["per"], "min" in p
    thr = p["min"] if higher else p["max"]
    zero_fails = p.get("zero_denominator", "not_applicable") == "fail"
    unit = clause.shortfall_unit
    with np.errstate(all="ignore"):
        measured = num / den * per
        ok = (measured >= thr - TOL) if higher else (measured <= thr + TOL)
    status = np.where(ok, PASS, FAIL).astype(np.int8)
    credit = ok.astype(np.float64)
    for bound, c in reversed(_bands(p, higher)):       # the first band that holds wins, as in banded()
        hit = ~ok & ((measured >= bound - TOL) if higher else (measured <= bound + TOL))
        status[hit], credit[hit] = PARTIAL, c
    zero = dok & (den == 0)
    if zero_fails:
        status[zero] = FAIL
        status[zero & (num == 0)] = NA
        credit[zero] = 0.0
    status[~nok] = MISSING
    if not zero_fails:
        status[zero] = NA
    status[~dok] = MISSING
    bad = (status == FAIL) | (status == PARTIAL)
    credit[~bad & (status != PASS)] = 0.0
    measured = np.where(bad | (status == PASS), measured, np.nan)
    measured[~np.isfinite(measured)] = np.nan
    if unit is None:
        return status, credit, measured, np.full(len(num), np.nan), np.zeros(len(num), bool)
    need = bad & ~(zero & higher)
    with np.errstate(all="ignore"):
        if higher:
            amount, settle = remedy_np(need, thr * den / per - num, lambda a: (num + a) / den * per >= thr - TOL, unit)
        else:
            amount, settle = remedy_np(need, num * per / thr - den, lambda a: num / (den + a) * per <= thr + TOL, unit)
    return status, credit, measured, amount, settle


def area_ratio_np(clause: Any, cols: dict[str, Any]) -> tuple[np.ndarray, ...]:
    p = clause.check
    num_classes = tuple(p["numerator"])
    den = p["denominator"]
    den_classes = None if den == "total" else tuple(den)
    thr, unit = p["min"], clause.shortfall_unit or "m2"
    num = area_np(cols, num_classes)
    total = cols["total"][0] if den_classes is None else area_np(cols, den_classes)
    empty = total <= 0
    with np.errstate(all="ignore"):
        ratio = num / total
    ok = ~empty & (ratio >= thr - TOL)
    status = np.where(ok, PASS, FAIL).astype(np.int8)
    credit = ok.astype(np.float64)
    measured = np.where(empty | ~np.isfinite(ratio), np.nan, ratio)
    rest = None if den_classes is None else tuple(c for c in den_classes if c not in num_classes)
    cap = total - num if rest is None else area_np(cols, rest)
    need = ~ok & ~empty
    with np.errstate(all="ignore"):
        amount, settle = remedy_np(need, thr * total - num, lambda a: (num + a) / total >= thr - TOL, unit, cap)
    return status, credit, measured, amount, settle


def compare_np(clause: Any, cols: dict[str, Any]) -> tuple[np.ndarray, ...]:
    p = clause.check
    value, present = cols[p["field"]]
    op, thr, unit = p["op"], p["value"], clause.shortfall_unit
    n = len(value)
    measured = np.where(present, value, np.nan)
    if op == "==":
        ok = np.abs(value - thr) <= TOL
        status = np.where(present, np.where(ok, PASS, FAIL), MISSING).astype(np.int8)
        return status, (present & ok).astype(np.float64), measured, np.full(n, np.nan), np.zeros(n, bool)
    higher = op == ">="
    ok = (value >= thr - TOL) if higher else (value <= thr + TOL)
    status = np.where(ok, PASS, FAIL).astype(np.int8)
    credit = ok.astype(np.float64)
    for bound, c in reversed(_bands(p, higher)):
        hit = ~ok & ((value >= bound - TOL) if higher else (value <= bound + TOL))
        status[hit], credit[hit] = PARTIAL, c
    status[~present] = MISSING
    credit[~present] = 0.0
    if unit is None:
        return status, credit, measured, np.full(n, np.nan), np.zeros(n, bool)
    need = present & ~ok
    if higher:
        amount, settle = remedy_np(need, thr - value, lambda a: value + a >= thr - TOL, unit)
    else:
        amount, settle = remedy_np(need, value - thr, lambda a: value - a <= thr + TOL, unit)
    return status, credit, measured, amount, settle


def at_least_np(clause: Any, cols: dict[str, Any]) -> tuple[np.ndarray, ...]:
    p = clause.check
    lst, need = p["list"], p["min"]
    present = cols["list:" + lst][1]
    count = sum(cols[f"code:{lst}:{code}"][0] for code in p["codes"])
    ok = count >= need
    status = np.where(present, np.where(ok, PASS, np.where(count > 0, PARTIAL, FAIL)), MISSING).astype(np.int8)
    credit = np.where(present, np.where(ok, 1.0, count / need), 0.0)
    amount = np.where(present & ~ok, need - count, np.nan)
    return status, credit, np.where(present, count, np.nan), amount, np.zeros(len(count), bool)


NUMPY = {"rate": rate_np, "area_ratio": area_ratio_np, "compare": compare_np, "at_least": at_least_np}


# --------------------------------------------------------------------------- (c) Polars

# Polars divides a column by a constant as a multiplication by its reciprocal, which is a step off
# IEEE division (and Python's) in about a third of cases: 16976 / 10 comes out 1697.6000000000001.
# A divisor is therefore a column of its own, materialised with the frame (a literal column is folded
# back into a constant); column by column, division is exact.
DIVISORS: set[float] = set()


def div(expr: Any, divisor: float) -> Any:
    DIVISORS.add(float(divisor))
    return expr / pl.col(f"divisor:{float(divisor)!r}")


def polars_frame(cols: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    n = len(next(iter(cols.values()))[0])
    return pl.DataFrame([pl.Series(f"divisor:{d!r}", np.full(n, d)) for d in sorted(DIVISORS)] + [pl.Series(name, values).scatter(np.flatnonzero(~present), None) if not present.all()
                         else pl.Series(name, values) for name, (values, present) in cols.items()])


def when_chain(cases: list[tuple[Any, int, float]], status: int, credit: float) -> tuple[Any, Any]:
    """Status and credit of the first case that holds, as the scalar code's if-chain decides."""
    s = c = None
    for cond, st, cr in cases:
        s = pl.when(cond).then(st) if s is None else s.when(cond).then(st)
        c = pl.when(cond).then(cr) if c is None else c.when(cond).then(cr)
    return s.otherwise(status).cast(pl.Int8), c.otherwise(credit)


def remedy_pl(need: Any, estimate: Any, passes: Callable[[Any], Any], unit: str, cap: Any = None) -> tuple[Any, Any]:
    scale = _SCALE.get(unit, 1_000_000)
    guess = estimate * scale
    k = pl.when((guess > 0) & (guess < 1e15)).then((guess - 1e-6).ceil()).otherwise(1.0)
    k = pl.when(k < 1).then(1.0).otherwise(k)
    a = k if scale == 1 else div(k, scale)
    below = (k - 1) if scale == 1 else div(k - 1, scale)
    good = (~(guess >= 1e15)).fill_null(True) & passes(a) & ((k == 1) | ~passes(below))
    amount = a if cap is None else pl.when(a > cap).then(cap).otherwise(a)
    return pl.when(need & good).then(amount).otherwise(None), (need & ~good).fill_null(False)


def rate_pl(clause: Any) -> list[Any]:
    p = clause.check
    num, den = pl.col(p["numerator"]), pl.col(p["denominator"])
    per, higher = p["per"], "min" in p
    thr = p["min"] if higher else p["max"]
    zero_fails = p.get("zero_denominator", "not_applicable") == "fail"
    unit = clause.shortfall_unit
    measured = num / den * per
    ok = (measured >= thr - TOL) if higher else (measured <= thr + TOL)
    cases = [(den.is_null(), MISSING, 0.0)]
    if not zero_fails:
        cases.append((den == 0, NA, 0.0))
    cases += [(num.is_null(), MISSING, 0.0), ((den == 0) & (num == 0), NA, 0.0), (den == 0, FAIL, 0.0),
              (ok, PASS, 1.0)]
    cases += [((measured >= bound - TOL) if higher else (measured <= bound + TOL), PARTIAL, c)
              for bound, c in _bands(p, higher)]
    status, credit = when_chain(cases, FAIL, 0.0)
    shown = pl.when(status.is_in([PASS, PARTIAL, FAIL]) & measured.is_finite()).then(measured).otherwise(None)
    if unit is None:
        return [status, credit, shown, pl.lit(None, pl.Float64), pl.lit(False)]
    need = status.is_in([PARTIAL, FAIL]) & ~((den == 0) & higher)
    if higher:
        amount, settle = remedy_pl(need, thr * den / per - num, lambda a: (num + a) / den * per >= thr - TOL, unit)
    else:
        amount, settle = remedy_pl(need, num * per / thr - den, lambda a: num / (den + a) * per <= thr + TOL, unit)
    return [status, credit, shown, amount, settle]


def area_pl(classes: tuple[str, ...]) -> Any:
    if len(classes) > 2:
        raise NotImplementedError
    out = pl.col("class:" + classes[0])
    return out if len(classes) == 1 else out + pl.col("class:" + classes[1])


def area_ratio_pl(clause: Any) -> list[Any]:
    p = clause.check
    num_classes = tuple(p["numerator"])
    den = p["denominator"]
    den_classes = None if den == "total" else tuple(den)
    thr, unit = p["min"], clause.shortfall_unit or "m2"
    num = area_pl(num_classes)
    total = pl.col("total") if den_classes is None else area_pl(den_classes)
    ratio = num / total
    ok = (total > 0) & (ratio >= thr - TOL)
    status = pl.when(ok).then(PASS).otherwise(FAIL).cast(pl.Int8)
    credit = pl.when(ok).then(1.0).otherwise(0.0)
    shown = pl.when((total > 0) & ratio.is_finite()).then(ratio).otherwise(None)
    rest = None if den_classes is None else tuple(c for c in den_classes if c not in num_classes)
    cap = total - num if rest is None else area_pl(rest)
    amount, settle = remedy_pl(~ok & (total > 0), thr * total - num, lambda a: (num + a) / total >= thr - TOL,
                               unit, cap)
    return [status, credit, shown, amount, settle]


def compare_pl(clause: Any) -> list[Any]:
    p = clause.check
    value = pl.col(p["field"])
    op, thr, unit = p["op"], p["value"], clause.shortfall_unit
    if op == "==":
        ok = (value - thr).abs() <= TOL
        status = pl.when(value.is_null()).then(MISSING).when(ok).then(PASS).otherwise(FAIL).cast(pl.Int8)
        credit = pl.when(ok).then(1.0).otherwise(0.0).fill_null(0.0)
        return [status, credit, value, pl.lit(None, pl.Float64), pl.lit(False)]
    higher = op == ">="
    ok = (value >= thr - TOL) if higher else (value <= thr + TOL)
    cases = [(value.is_null(), MISSING, 0.0), (ok, PASS, 1.0)]
    cases += [((value >= bound - TOL) if higher else (value <= bound + TOL), PARTIAL, c)
              for bound, c in _bands(p, higher)]
    status, credit = when_chain(cases, FAIL, 0.0)
    if unit is None:
        return [status, credit, value, pl.lit(None, pl.Float64), pl.lit(False)]
    need = value.is_not_null() & ~ok
    if higher:
        amount, settle = remedy_pl(need, thr - value, lambda a: value + a >= thr - TOL, unit)
    else:
        amount, settle = remedy_pl(need, value - thr, lambda a: value - a <= thr + TOL, unit)
    return [status, credit, value, amount, settle]


def at_least_pl(clause: Any) -> list[Any]:
    p = clause.check
    lst, need = p["list"], p["min"]
    count = pl.sum_horizontal([pl.col(f"code:{lst}:{code}") for code in p["codes"]])
    present = pl.col("list:" + lst).is_not_null()
    status = (pl.when(~present).then(MISSING).when(count >= need).then(PASS).when(count > 0).then(PARTIAL)
              .otherwise(FAIL).cast(pl.Int8))
    credit = pl.when(~present).then(0.0).when(count >= need).then(1.0).otherwise(div(count, need))
    amount = pl.when(present & (count < need)).then(need - count).otherwise(None)
    return [status, credit, pl.when(present).then(count).otherwise(None), amount, pl.lit(False)]


POLARS = {"rate": rate_pl, "area_ratio": area_ratio_pl, "compare": compare_pl, "at_least": at_least_pl}
PARTS = ("status", "credit", "measured", "amount", "settle")


def polars_plan(clauses: list[Any]) -> list[Any]:
    exprs = []
    for i, clause in enumerate(clauses):
        for part, expr in zip(PARTS, POLARS[clause.check["type"]](clause)):
            exprs.append(expr.alias(f"{i}:{part}"))
    return exprs


# --------------------------------------------------------------------------- running and checking

def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall and best CPU time (all threads) of ``repeat`` runs, and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - w)
    return min(walls), min(cpus), out


def settle(facts: list[Any], check: Callable[[Any], Any], rows: np.ndarray) -> list[Any]:
    return [check(facts[i]) for i in np.flatnonzero(rows)]


def verify(label: str, clause: Any, findings: list[Any], status: np.ndarray, credit: np.ndarray,
           measured: np.ndarray, amount: np.ndarray, settled: np.ndarray) -> None:
    """The vector pass agrees with the scalar closure on every row (settled rows: on status and credit)."""
    want_status = np.fromiter((CODE[f.status] for f in findings), np.int8, len(findings))
    want_credit = np.fromiter((f.credit for f in findings), np.float64, len(findings))
    bad = np.flatnonzero((want_status != status) | (want_credit != credit))
    assert not len(bad), (label, clause.clause, bad[:5], [findings[i] for i in bad[:2]], status[bad[:5]], credit[bad[:5]])
    for i, f in enumerate(findings):
        m = f.measured
        got = measured[i]
        if m is None or isinstance(m, bool):
            assert np.isnan(got) or clause.check["type"] == "compare", (label, clause.clause, i, f, got)
        else:
            assert got == m, (label, clause.clause, i, f, got)
        if settled[i]:
            continue
        want = None if f.shortfall is None else f.shortfall.amount
        assert (want is None and np.isnan(amount[i])) or want == amount[i], (label, clause.clause, i, f, amount[i])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=65_536)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()

    start = time.perf_counter()
    rules, facts, refused = chunk(args.rows, args.seed)
    n = len(facts)
    pairs = clause_set(rules)
    clauses = [c for c, _ in pairs]
    print(f"chunk: {n:,} centres gathered by load_profile under yinzhou in {time.perf_counter() - start:.1f} s "
          f"({refused} varied profiles refused and left out)")
    print(f"clauses: {len(clauses)} — " + ", ".join(f"{t} {sum(c.check['type'] == t for c in clauses)}" for t in TYPES)
          + " (at_least: Nanxing's 5.7, Yinzhou has none)")
    print(f"numpy {np.__version__}, " + (f"polars {pl.__version__} ({pl.thread_pool_size()} threads)"
                                         if pl else "polars: not installed, (c) left out"))

    groups = {t: [i for i, c in enumerate(clauses) if c.check["type"] == t] for t in TYPES}
    per = 1e6 / n

    # (a) scalar closures, one clause type at a time
    scalar: dict[int, list[Any]] = {}
    a_wall = {}
    for t, idx in groups.items():
        def run_scalar(idx: list[int] = idx) -> dict[int, list[Any]]:
            return {i: [pairs[i][1](f) for f in facts] for i in idx}
        a_wall[t], _, found = timed(run_scalar, args.repeat)
        scalar.update(found)

    checks = [check for _, check in pairs]
    a_rows, _, _ = timed(lambda: [[check(f) for check in checks] for f in facts], args.repeat)

    # columns from the facts (what the engine would build from the parsed lines instead)
    b_build, _, cols = timed(lambda: columns(facts, clauses), 1)
    col_bytes = sum(v.nbytes + m.nbytes for v, m in cols.values())

    # (b) NumPy
    b_wall, b_cpu, settle_rows = {}, {}, {}
    for t, idx in groups.items():
        def run_numpy(idx: list[int] = idx) -> dict[int, tuple[Any, ...]]:
            out = {}
            for i in idx:
                res = NUMPY[t](clauses[i], cols)
                out[i] = (*res, settle(facts, pairs[i][1], res[4]))
            return out
        b_wall[t], b_cpu[t], res_b = timed(run_numpy, args.repeat)
        for i, r in res_b.items():
            verify("numpy", clauses[i], scalar[i], *r[:5])
            settle_rows[i] = int(r[4].sum())
            assert [f.shortfall for f in r[5]] == [scalar[i][j].shortfall for j in np.flatnonzero(r[4])]
    out_bytes = sum(a.nbytes for a in res_b[groups["compare"][0]][:5]) * len(clauses)

    # (c) Polars
    c_wall: dict[str, float] = {}
    c_cpu: dict[str, float] = {}
    if pl is not None:
        plans = {t: polars_plan([clauses[i] for i in idx]) for t, idx in groups.items()}
        whole = polars_plan(clauses)
        c_build, _, frame = timed(lambda: polars_frame(cols), 1)
        for t, idx in groups.items():
            plan = plans[t]

            def run_polars(idx: list[int] = idx, plan: list[Any] = plan) -> Any:
                out = frame.lazy().select(plan).collect()
                return out, [settle(facts, pairs[i][1], out[f"{j}:settle"].to_numpy()) for j, i in enumerate(idx)]
            c_wall[t], c_cpu[t], (res_c, _) = timed(run_polars, args.repeat)
            for j, i in enumerate(idx):
                parts = [res_c[f"{j}:{part}"] for part in PARTS]
                verify("polars", clauses[i], scalar[i], parts[0].to_numpy(), parts[1].to_numpy(),
                       parts[2].cast(pl.Float64).fill_null(np.nan).to_numpy(),
                       parts[3].cast(pl.Float64).fill_null(np.nan).to_numpy(), parts[4].to_numpy())
                assert int(parts[4].sum()) == settle_rows[i]
        c_all_wall, c_all_cpu, res_all = timed(lambda: frame.lazy().select(whole).collect(), args.repeat)

    print("\nall rows agree with the scalar closures (status, credit, measured value, remedy); "
          f"rows left to the scalar settle: {sum(settle_rows.values())} of {n * len(clauses):,} clause-rows "
          + str({clauses[i].clause: k for i, k in settle_rows.items() if k}))
    print(f"\nµs per centre, best of {args.repeat} ({n:,} rows; wall / CPU of all threads):")
    head = f"  {'clause type':<12} {'clauses':>7} {'(a) scalar':>11} {'(b) numpy':>15}"
    print(head + (f" {'(c) polars':>15}" if pl else ""))
    for t, idx in groups.items():
        line = f"  {t:<12} {len(idx):>7} {a_wall[t] * per:>11.2f} {b_wall[t] * per:>7.3f} / {b_cpu[t] * per:<5.3f}"
        if pl:
            line += f" {c_wall[t] * per:>7.3f} / {c_cpu[t] * per:<5.3f}"
        print(line)
    ta, tb, tbc = sum(a_wall.values()), sum(b_wall.values()), sum(b_cpu.values())
    line = f"  {'all':<12} {len(clauses):>7} {ta * per:>11.2f} {tb * per:>7.3f} / {tbc * per:<5.3f}"
    if pl:
        line += f" {sum(c_wall.values()) * per:>7.3f} / {sum(c_cpu.values()) * per:<5.3f}"
    print(line)
    print(f"  (a) row by row, every clause of a centre in turn as the round scores: {a_rows * per:.2f}")
    if pl:
        print(f"  polars, the whole set in one select: {c_all_wall * per:.3f} / {c_all_cpu * per:.3f}")
    print(f"\nbuilding the columns from the facts (Python, once a chunk): {b_build * per:.2f} µs a centre"
          + (f"; numpy → polars frame {c_build * per:.3f}" if pl else ""))
    print(f"memory of the chunk's columns: numpy {col_bytes / 2**20:.1f} MiB in ({len(cols)} columns with their "
          f"presence masks), about {out_bytes / 2**20:.1f} MiB out (5 arrays a clause)"
          + (f"; polars {frame.estimated_size() / 2**20:.1f} MiB in, {res_all.estimated_size() / 2**20:.1f} MiB out"
             if pl else ""))

    best_b = tbc
    choice = "numpy"
    why = ("the least CPU a centre, exact IEEE division as Python's, and the lighter import "
           "(about 14 MB of resident memory a worker against polars' 34 MB)")
    if pl and sum(c_cpu.values()) < 0.8 * best_b:
        choice, why = "polars", "clearly less CPU a centre than numpy"
    print(f"\nrecommendation: {choice} — {why}; speed-up of the scoring over the scalar closures "
          f"{min(ta, a_rows) / (sum(c_cpu.values()) if choice == 'polars' else tbc):.0f}× in CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
