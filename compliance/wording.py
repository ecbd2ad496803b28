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
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from .i18n import Message, msg, quote
from .model import Level, Status, Verdict


#: where each placeholder may appear
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "shortfall": frozenset({"amount", "amount_pct", "items"}),
    "measure": frozenset({"value"}),
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

STATUS_LABELS: Mapping[Status, Message] = {
    Status.PASS: msg("pass"), Status.PARTIAL: msg("partial"), Status.FAIL: msg("fail"),
    Status.MISSING: msg("not evidenced"), Status.NOT_APPLICABLE: msg("not applicable"),
}
LEVEL_LABELS: Mapping[Level, Message] = {Level.SHALL: msg("shall"), Level.SHOULD: msg("should")}
VERDICT_LABELS: Mapping[Verdict, Message] = {Verdict.CONFORMING: msg("Conforming"),
                                             Verdict.NON_CONFORMING: msg("Non-conforming")}
UNIT_LABELS: Mapping[str, Message] = {
    "m2": msg("m²"), "persons": msg("persons"), "hours": msg("hours"), "items": msg("items"), "tasks": msg("tasks"), "sessions": msg("sessions"), "days": msg("days"),
}
YES_NO: Mapping[bool, Message] = {True: msg("yes"), False: msg("no")}
PRESENT: Mapping[bool, Message] = {True: msg("present"), False: msg("absent")}
NA = "—"                          # a value that has no meaning here, in every language


def unit_label(unit: str, lang: str | None = None) -> str:
    """A shortfall's unit as a reader writes it after the amount (m², 人, 项); a ratio has none."""
    label = UNIT_LABELS.get(unit)
    return label.text(lang) if label is not None else ("" if unit == "ratio" else unit)


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


AMOUNT_PLACES = 2          # decimals an amount in words shows (0.01 m², 29.99 hours, 0.12%)


def _shown(amount: Decimal) -> Decimal:
    """``amount`` as people write it: two decimals at most, half up, and never rounded to zero (a tiny
    shortfall keeps two significant digits: 0.0042 → 0.0042 rather than 0.00)."""
    shown = amount.quantize(Decimal(1).scaleb(-AMOUNT_PLACES), rounding=ROUND_HALF_UP)
    if shown == 0 and amount != 0:
        shown = amount.quantize(Decimal(1).scaleb(amount.adjusted() - 1), rounding=ROUND_HALF_UP)
    return shown


def fmt_amount(value: Any) -> str:
    """A remedy's amount as people write it: 40.0, 0.01 (for 0.0101674692…), 7 persons.

    For words only: the result document keeps the amount exactly as computed. Whole persons stay whole;
    an area or a number of hours shows at most two decimals, never rounded to zero."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    text = format(_shown(Decimal(repr(value))).normalize(), "f")
    return text + ".0" if "." not in text else text


def fmt_amount_pct(value: Any) -> str:
    """A remedy's amount of a ratio as a percentage, as people write it: 0.05 → 5%, 0.0012345 → 0.12%."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    text = format(_shown(Decimal(repr(value)) * 100).normalize(), "f")
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


def template_problems(template: str, kind: str, allowed: frozenset[str] | None = None) -> list[Message]:
    """What is wrong with one rule-file text of ``kind`` (``shortfall`` or ``measure``).

    ``allowed`` narrows the placeholders to those the clause can fill (a yes/no clause has no amount).
    """
    allowed = PLACEHOLDERS[kind] if allowed is None else allowed
    problems = []
    choice = [quote("{" + a + "}") for a in sorted(allowed)]
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            problems.append(msg("a lone {brace}; write {double} for a literal brace", brace=quote(token),
                                double=quote(token * 2)))
        elif name not in allowed:
            shown = quote("{" + (name if len(name) <= 30 else name[:27] + "...") + "}")
            if any(ch in name for ch in ":!.[]"):
                problems.append(msg("{placeholder}: placeholders take no format specification, index or attribute",
                                    placeholder=shown))
            elif choice:
                problems.append(msg("{placeholder} is not a placeholder here; allowed: {allowed}", placeholder=shown,
                                    allowed=choice))
            else:
                problems.append(msg("{placeholder} is not a placeholder here; this clause has no amount to show",
                                    placeholder=shown))
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


def suggestion(word: Any, choices: Any) -> str | None:
    """The known code, key, field or rule-set name closest to a misspelt ``word``, or None when none is close."""
    import difflib
    import unicodedata

    if not isinstance(word, str):
        return None
    options = [str(c) for c in choices]
    plain = unicodedata.normalize("NFKC", word).strip().lower()     # full-width letters, stray spaces, capitals
    if plain != word and plain in options:
        return plain
    match = difflib.get_close_matches(plain, options, n=1, cutoff=0.6)
    return match[0] if match else None


def hinted(problem: Message, word: Any, choices: Any) -> Message:
    """``problem``, followed by "did you mean 'x'?" when a known choice is close to ``word``."""
    near = suggestion(word, choices)
    if near is None:
        return problem
    return msg("{problem}; did you mean {suggestion}?", problem=problem, suggestion=quote(near))
