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

from .i18n import LANGS, Joined, Message, Named, msg, plural, quote
from .model import Level, Status, Verdict, Vocabulary


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


def remedy_sum(amounts: Mapping[float, int]) -> tuple[int, Decimal]:
    """(centres, their total) of a remedy's amounts (amount → centres), summed exactly as the decimals shown: the
    same whatever order the amounts come in."""
    return sum(amounts.values()), sum((Decimal(repr(a)) * n for a, n in amounts.items()), Decimal(0))


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


def _plain(word: str) -> str:
    """A word as it is compared: full-width letters made plain, capitals small, spaces and hyphens as underscores."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", word).strip().lower()
    return re.sub(r"[\s\-]+", "_", folded)


def _distance(a: str, b: str, limit: int) -> int:
    """The edits (a letter added, dropped, changed, or two swapped) that turn ``a`` into ``b``; ``limit`` + 1 once
    more than ``limit`` are needed."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1]


def _allowed(word: str) -> int:
    """How many edits still make a misspelling of a word this long: one in a short word, three in a long one.
    A word of Chinese characters carries more in each: one edit, and only from four characters on."""
    if not word.isascii():
        return 1 if len(word) >= 4 else 0
    return 0 if len(word) <= 2 else 1 if len(word) <= 5 else 2 if len(word) <= 10 else 3


def suggestion(word: Any, choices: Any, names: Mapping[str, Any] | None = None) -> str | None:
    """The known code, key, field or rule-set name a misspelt ``word`` is close to, or None when none is close.

    Close means a few letters apart for the word's length (``ofice`` → ``office``, not ``fitness_room`` →
    ``restroom``), or the same once capitals, full-width letters, spaces and hyphens are set aside. ``names`` gives
    other words a choice is known by (a zone kind's Chinese and English names): ``卫生服务占`` → ``health``,
    ``Reading glasses`` → ``reading_glasses``; the first words of only one choice (``first_aid`` →
    ``first_aid_kit``) and, in Chinese, a part of only one name (``食堂`` → ``canteen``) count as close too. Of
    two choices equally close, neither is suggested."""
    if not isinstance(word, str) or not word.strip():
        return None
    options = [str(c) for c in choices]
    plain = _plain(word)
    spellings: dict[str, set[str]] = {}
    for option in options:
        spellings.setdefault(_plain(option), set()).add(option)
        for name in (names or {}).get(option, ()):
            if isinstance(name, str) and name.strip():
                spellings.setdefault(_plain(name), set()).add(option)
    if plain in spellings:
        found = spellings[plain]
        return next(iter(found)) if len(found) == 1 else (word if word in found else None)
    limit = _allowed(plain)
    best: set[str] = set()
    nearest = limit + 1
    for spelling, owners in spellings.items():
        if min(len(spelling), len(plain)) <= 2 * limit:     # "ab" is not a misspelling of "xy"
            continue
        d = _distance(plain, spelling, limit)
        if d < nearest:
            nearest, best = d, set(owners)
        elif d == nearest:
            best |= owners
    if nearest <= limit and len(best) == 1:
        return next(iter(best))
    if plain.isascii() and len(plain) >= 4:                  # first_aid: the start of first_aid_kit alone
        starts = {o for spelling, owners in spellings.items() if spelling.startswith(plain + "_") for o in owners}
        if len(starts) == 1:
            return next(iter(starts))
    if not plain.isascii() and len(plain) >= 2:              # 食堂 is part of 老年食堂 and of nothing else
        within = {o for spelling, owners in spellings.items() if not spelling.isascii()
                  and (plain in spelling or spelling in plain) for o in owners}
        if len(within) == 1:
            return next(iter(within))
    return None


def hinted(problem: Message, word: Any, choices: Any) -> Message:
    """``problem``, followed by "did you mean 'x'?" when a known choice is close to ``word``."""
    near = suggestion(word, choices)
    if near is None:
        return problem
    return msg("{problem}; did you mean {suggestion}?", problem=problem, suggestion=quote(near))


LISTED = 40             # the most choices a problem lists when none is close to what was written


def code_hint(problem: Message, word: Any, choices: Mapping[str, Message | Mapping[str, str]]) -> Message:
    """``problem`` about a code, with what people see: the close one by its name and code ("did you mean
    卫生间（restroom）?"), or, when none is close, the codes there are (综合服务大厅（service_hall）、…).

    ``choices`` gives each code's name: a message of the catalogue or the names in each language."""
    near = suggestion(word, list(choices), {code: _names(name) for code, name in choices.items()})
    if near is not None:
        return msg("{problem}; did you mean {suggestion}?", problem=problem,
                   suggestion=Named(near, choices[near]))
    shown: list[Message] = [Named(code, name) for code, name in list(choices.items())[:LISTED]]
    if len(choices) > LISTED:
        shown.append(plural("{count} more", "{count} more", len(choices) - LISTED))
    return msg("{problem}; write one of {choices}", problem=problem, choices=Joined(shown, "and"))


def vocabulary_names(vocabulary: Vocabulary, vocab: str) -> dict[str, Mapping[str, str]]:
    """Each code of a vocabulary with its names in each language, in the vocabulary's order."""
    return {code: {lang: str(entry.get(lang, "")) for lang in LANGS if entry.get(lang)}
            for code, entry in vocabulary.entries.get(vocab, {}).items()}


def _names(name: Message | Mapping[str, str]) -> list[str]:
    if isinstance(name, Message):
        return [name.text(lang) for lang in LANGS]
    return [str(v) for v in name.values()]
