"""Write docs/clauses.md, the clause reference, from the bundled rule sets.

    python scripts/make_docs.py           # rewrite docs/clauses.md
    python scripts/make_docs.py --check   # exit 1 if it is out of date (the test suite checks this too)

Every clause of every bundled rule set, its requirement in both languages, its
threshold, level, weight and veto under each rule set with the layer that set
the threshold, and its sources; then the check types of the rule language.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import compliance  # noqa: E402
from compliance.checks import CHECK_TYPES  # noqa: E402
from compliance.layers import bundled_names  # noqa: E402
from compliance.model import clause_key  # noqa: E402
from compliance.wording import LEVEL_LABELS  # noqa: E402

TARGET = ROOT / "docs" / "clauses.md"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def build() -> str:
    sets = [compliance.load_ruleset(name) for name in bundled_names()]
    lines = [
        "# Clause reference",
        "",
        "Generated from `rules/` by `scripts/make_docs.py`; do not edit by hand (the test suite checks it is current).",
        "",
        "## Rule sets",
        "",
        "| rule set | version | layers | clauses | title |",
        "|---|---|---|---:|---|",
    ]
    for rs in sets:
        lines.append(f"| `{rs.id}` | {rs.version} | {' → '.join(rs.layers)} | {len(rs.clauses)} | "
                     f"{rs.title['zh']} / {rs.title['en']} |")
    numbers = sorted({c.clause for rs in sets for c in rs.clauses}, key=clause_key)
    lines += ["", "## Clauses", ""]
    for number in numbers:
        present = [(rs, rs.clause(number)) for rs in sets if any(c.clause == number for c in rs.clauses)]
        first = present[0][1]
        category = present[0][0].category(first.category).title
        lines += [
            f"### {number} {first.title['zh']} · {first.title['en']}",
            "",
            f"{category['zh']} / {category['en']} · check `{first.check_type}`"
            + (f" · sources {', '.join(first.source)}" if first.source else ""),
            "",
        ]
        requirements = []
        for rs, clause in present:
            text = (clause.requirement["zh"], clause.requirement["en"])
            if text not in [r for r, _ in requirements]:
                requirements.append((text, rs.id))
        for (zh, en), where in requirements:
            prefix = f"*{where}:* " if len(requirements) > 1 else ""
            lines += [f"> {prefix}{zh}", ">", f"> {prefix}{en}", ""]
        lines += ["| rule set | level | weight | veto | threshold | set by |", "|---|---|---:|---|---|---|"]
        record = CHECK_TYPES[first.check_type]
        for rs, clause in present:
            threshold = record.threshold_text(clause, "zh")
            lines.append(
                f"| `{rs.id}` | {LEVEL_LABELS[clause.level].text('zh')} {clause.level.value} | {clause.weight:g} | "
                f"{'yes' if clause.veto else ''} | {_cell(threshold)} | {clause.threshold_from} |")
        absent = [rs.id for rs in sets if rs not in [p[0] for p in present]]
        if absent:
            lines += ["", f"Not in: {', '.join(f'`{a}`' for a in absent)}."]
        lines.append("")
    lines += ["## Check types", "",
              "One record per type in `compliance/checks.py`; `compliance schema ruleset` prints the parameters' schema.",
              "", "| type | meaning | parameters | threshold parameter |", "|---|---|---|---|"]
    for name, record in sorted(CHECK_TYPES.items()):
        params = ", ".join(f"`{p}`" + ("" if p in record.required else "?") for p in record.properties)
        example = {"has_code": {"code": "x"}, "has_all": {"codes": []}, "rate": {"min": 0}}.get(name, {})
        threshold = record.threshold_param(example)
        lines.append(f"| `{name}` | {_cell(record.description)} | {params} | "
                     f"{'`' + threshold + '`' if threshold else '—'} |")
    lines += ["", "`?` marks an optional parameter. A `rate` takes `min` or `max`.", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/clauses.md is out of date")
    args = ap.parse_args()
    text = build()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/make_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
