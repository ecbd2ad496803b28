"""How figures and rule texts read: number formats, labels, and the message templates.

Rule files are written by districts, so the texts in them are data, never
Python format strings. A template may hold the named placeholders in
:data:`PLACEHOLDERS` (``{amount}``, ``{amount_pct}``, ``{items}`` in
shortfall texts, ``{value}`` in measure texts) and ``{{``/``}}`` for literal
braces; nothing else, and no format specification, index or attribute.
:func:`template_problems` says what is wrong with one; :func:`fill`
substitutes values without ever calling ``str.format``.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Mapping

from .model import Level, Status, Verdict

LANGS = ("zh", "en")

#: where each placeholder may appear
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "shortfall": frozenset({"amount", "amount_pct", "items"}),
    "measure": frozenset({"value"}),
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

STATUS_LABELS = {
    Status.PASS: {"zh": "符合", "en": "pass"},
    Status.PARTIAL: {"zh": "部分符合", "en": "partial"},
    Status.FAIL: {"zh": "不符合", "en": "fail"},
    Status.MISSING: {"zh": "未佐证", "en": "not evidenced"},
    Status.NOT_APPLICABLE: {"zh": "不适用", "en": "not applicable"},
}
LEVEL_LABELS = {Level.SHALL: {"zh": "应", "en": "shall"}, Level.SHOULD: {"zh": "宜", "en": "should"}}
VERDICT_LABELS = {
    Verdict.CONFORMING: {"zh": "符合规范", "en": "Conforming"},
    Verdict.NON_CONFORMING: {"zh": "不符合规范", "en": "Non-conforming"},
}
UNIT_LABELS = {
    "m2": {"zh": "m²", "en": "m²"},
    "persons": {"zh": "人", "en": "persons"},
    "hours": {"zh": "小时", "en": "hours"},
    "ratio": {"zh": "", "en": ""},
    "items": {"zh": "项", "en": "items"},
    "tasks": {"zh": "项", "en": "tasks"},
    "sessions": {"zh": "次", "en": "sessions"},
    "days": {"zh": "天", "en": "days"},
}
YES_NO = {"zh": {True: "是", False: "否"}, "en": {True: "yes", False: "no"}}
PRESENT = {"zh": {True: "有", False: "无"}, "en": {True: "present", False: "absent"}}
LIST_SEP = {"zh": "、", "en": ", "}


def fmt_number(value: Any) -> str:
    """Figures as people write them: 10.0 m², 0.75, 18."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:.1f}"
        if abs(value) < 1:
            text = f"{value:.4g}"
            return f"{value:.10f}".rstrip("0").rstrip(".") if "e" in text else text
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def fmt_amount(value: Any) -> str:
    """A remedy's amount, exactly as computed and never rounded down: 40.0, 29.994, 7.

    Amounts are already whole steps (0.1 m², one person, 10⁻⁶ of an hour or a ratio), so their
    shortest decimal form is exact; a person who does what the text says meets the clause.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)).normalize(), "f")
    return text + ".0" if "." not in text else text


def fmt_amount_pct(value: Any) -> str:
    """A remedy's amount of a ratio as a percentage, exact: 0.05 → 5%, 0.00123 → 0.123%."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    text = format((Decimal(repr(value)) * 100).normalize(), "f")
    return text + "%"


def uses_placeholders(template: str) -> bool:
    """True when a text has a placeholder to fill (as opposed to a fixed sentence)."""
    return any(m.group(1) is not None for m in _TOKEN.finditer(template))


def _decimals(value: float, against: float | None, scale: float = 1.0) -> int:
    """One decimal, or as many more (up to ten) as it takes to tell ``value`` from ``against``,
    or a non-zero ``value`` from zero: a failing 99.99 % must never read as the 100 % it misses."""
    d = 1
    other = 0.0 if against is None else against * scale
    while d < 10 and (round(value * scale, d) == round(other, d)) and value * scale != other:
        d += 1
    return d


def fmt_pct(value: float, against: float | None = None) -> str:
    """A fraction as a percentage, one decimal unless more are needed: 0.75 → 75%, 0.999 → 99.9%.

    With ``against`` (a threshold the value misses), as many decimals as tell them apart; a
    non-zero shortfall (no ``against``) never reads as 0%.
    """
    d = _decimals(value, against, 100.0)
    text = f"{value * 100:.{d}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".") if d > 1 else text.removesuffix(".0")
    return text + "%"


def fmt_measure(value: Any, against: float | None = None) -> str:
    """A measured quantity inside a measure text: whole numbers plain, others with one decimal
    (more when it takes more to tell the value from the threshold it misses)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if against is None:
        return f"{value:.1f}"
    d = _decimals(value, against)
    text = f"{value:.{d}f}"
    return text.rstrip("0").rstrip(".") if d > 1 else text


def template_problems(template: str, kind: str, allowed: frozenset[str] | None = None) -> list[str]:
    """What is wrong with one rule-file text of ``kind`` (``shortfall`` or ``measure``).

    ``allowed`` narrows the placeholders to those the clause can fill (a yes/no clause has no amount).
    """
    allowed = PLACEHOLDERS[kind] if allowed is None else allowed
    problems = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            problems.append(f"a lone {token!r}; write {token * 2!r} for a literal brace")
        elif name not in allowed:
            shown = name if len(name) <= 30 else name[:27] + "..."
            why = ("placeholders take no format specification, index or attribute"
                   if any(ch in name for ch in ":!.[]") else f"{shown!r} is not a placeholder here")
            choice = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none (this clause has no amount to show)"
            problems.append(f"{{{shown}}}: {why}; allowed: {choice}")
    return problems


def fill(template: str, values: Mapping[str, str]) -> str:
    """Substitute ``{name}`` placeholders with already-formatted strings; ``{{``/``}}`` are braces.

    Templates were checked when the rule set was loaded; anything unexpected is left as written.
    """
    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        return values.get(name, token) if name is not None else token

    return _TOKEN.sub(one, template)


def nearest(word: Any, choices: Any) -> str:
    """'; did you mean 'x'?' or '' — for a misspelt code, key, field or rule-set name."""
    import difflib

    import unicodedata

    if not isinstance(word, str):
        return ""
    options = [str(c) for c in choices]
    plain = unicodedata.normalize("NFKC", word).strip().lower()     # full-width letters, stray spaces, capitals
    if plain != word and plain in options:
        return f"; did you mean {plain!r}?"
    match = difflib.get_close_matches(plain, options, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""
