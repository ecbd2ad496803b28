"""Every sentence a person reads, in Chinese first and in English on request, from one gettext catalogue.

A message is written once, in English, where the code finds what it says
(``msg("{value} is not a number", value=show(x))``), and worded where it is
shown: :func:`msg` returns a :class:`Message` that keeps the text and its
values, and ``str(message)`` translates it into the language in force. The
translations live in ``compliance/locale/zh/LC_MESSAGES/compliance.po`` and are
read, compiled, with the standard library's :mod:`gettext`;
``scripts/messages.py`` extracts the texts with Babel (from the code and the page
templates), merges them into the catalogue and compiles it, and a test fails
when a text has no translation or the compiled catalogue is stale.

The language in force is Chinese unless :func:`set_language` (the command line's
``--lang en``) or :func:`use_language` (one request of the service) says
otherwise; it is a context variable, so concurrent requests each keep their own.

Values quoted from the input are given already quoted (:func:`quote`) and
are never translated; a value may itself be a :class:`Message` (a field's
name, a kind of value), worded in the same language as the sentence around it,
and a list or tuple of values is joined as the language joins a list.
"""
from __future__ import annotations

import contextlib
import functools
import gettext
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator, Mapping

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
DOMAIN = "compliance"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_current: ContextVar[str] = ContextVar("compliance_language", default=DEFAULT_LANG)
_SEPARATORS = {"and": {"zh": "、", "en": ", "}, "or": {"zh": "或", "en": " or "},
               "sentences": {"zh": "；", "en": "; "}, "lines": {"zh": "\n", "en": "\n"},
               "colon": {"zh": "：", "en": ": "}, "comma": {"zh": "，", "en": ", "},
               "open": {"zh": "（", "en": " ("}, "close": {"zh": "）", "en": ")"}}
#: the punctuation a page or report puts between words, by the names templates use
PUNCTUATION = {lang: {"colon": _SEPARATORS["colon"][lang], "lp": _SEPARATORS["open"][lang],
                      "rp": _SEPARATORS["close"][lang], "comma": _SEPARATORS["comma"][lang],
                      "semi": _SEPARATORS["sentences"][lang], "list_sep": _SEPARATORS["and"][lang],
                      "sep": _SEPARATORS["and"][lang]} for lang in LANGS}


def separator(kind: str = "and", lang: str | None = None) -> str:
    """How the language joins a list (``and``: 「、」), choices (``or``), sentences, or a label and its value
    (``colon``: 「：」)."""
    return _SEPARATORS[kind][lang or _current.get()]


def language() -> str:
    """The language messages are worded in here and now: ``zh`` or ``en``."""
    return _current.get()


def set_language(lang: str) -> None:
    """Word every message in ``lang`` from now on, in this context (the command line's ``--lang``)."""
    _current.set(checked(lang))


@contextlib.contextmanager
def use_language(lang: str) -> Iterator[str]:
    """Word messages in ``lang`` inside the ``with`` block (one request of the service), then as before."""
    token = _current.set(checked(lang))
    try:
        yield lang
    finally:
        _current.reset(token)


def checked(lang: str) -> str:
    """``lang`` when it is a language of the catalogue; ValueError otherwise."""
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    return lang


def negotiate(header: str | None, default: str = DEFAULT_LANG) -> str:
    """The language an ``Accept-Language`` header prefers among ours (``en-GB,en;q=0.8`` → ``en``), else
    ``default``. A weight of 0 refuses a language, as RFC 9110 says."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0].split("_")[0]
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if primary in LANGS and weight > 0 and (best is None or (weight, -position) > (best[0], best[1])):
            best = (weight, -position, primary)
    return best[2] if best is not None else default


@functools.lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang``; the texts themselves (English) for ``en``."""
    if checked(lang) == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])


def gettext_in(text: str, lang: str | None = None) -> str:
    """``text`` translated into ``lang`` (the language in force by default), now."""
    return translations(lang or _current.get()).gettext(text)


def ngettext_in(singular: str, plural_text: str, n: int, lang: str | None = None) -> str:
    return translations(lang or _current.get()).ngettext(singular, plural_text, n)


class Message:
    """A sentence and its values, worded when it is shown: ``str(m)`` in the language in force, ``m.text("en")``.

    Immutable, hashable and picklable, so a problem found in a worker process is worded in the process that
    shows it, in the reader's language.
    """

    __slots__ = ("msgid", "plural", "params", "context")
    msgid: str
    plural: str | None
    params: tuple[tuple[str, Any], ...]
    context: str | None

    def __init__(self, msgid: str, params: Mapping[str, Any] | None = None, plural: str | None = None,
                 context: str | None = None) -> None:
        object.__setattr__(self, "msgid", msgid)
        object.__setattr__(self, "plural", plural)
        object.__setattr__(self, "params", tuple(sorted((params or {}).items())))
        object.__setattr__(self, "context", context)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Message is read-only")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Message, (self.msgid, dict(self.params), self.plural, self.context))

    def text(self, lang: str | None = None) -> str:
        """The sentence in ``lang`` (the language in force by default), its values filled in."""
        lang = lang or _current.get()
        values = {name: _worded(value, lang) for name, value in self.params}
        if self.context is not None:
            template = translations(lang).pgettext(self.context, self.msgid)
        elif self.plural is None:
            template = translations(lang).gettext(self.msgid)
        else:
            count = dict(self.params).get("count", 0)
            template = translations(lang).ngettext(self.msgid, self.plural, count if isinstance(count, int) else 0)
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):      # a translation that names a value the text lacks: a bug
            return self.msgid.format(**values)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Message({self.msgid!r}, {dict(self.params)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self.msgid, self.plural, self.params, self.context) == \
            (other.msgid, other.plural, other.params, other.context)

    def __hash__(self) -> int:
        return hash((self.msgid, self.plural, self.params, self.context))

    def __add__(self, other: Any) -> Message:
        return Message("{a}{b}", {"a": self, "b": other})


class Joined(Message):
    """Values shown as one: a list (``and``: 「户数、常住人口」), choices (``or``: 「数字或文本」), ``sentences``
    or ``lines``, each item worded in the language of the whole."""

    __slots__ = ()

    def __init__(self, items: Any, how: str = "and") -> None:
        if how not in _SEPARATORS:
            raise ValueError(f"how must be one of {', '.join(_SEPARATORS)}")
        super().__init__("", {"items": tuple(items)}, context=how)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Joined, (dict(self.params)["items"], self.context))

    def text(self, lang: str | None = None) -> str:
        lang = lang or _current.get()
        return _SEPARATORS[str(self.context)][lang].join(str(_worded(v, lang)) for v in dict(self.params)["items"])

    def __repr__(self) -> str:
        return f"Joined({dict(self.params)['items']!r}, {self.context!r})"


class Named(Message):
    """A code shown with the name people know it by: 「卫生间（'restroom'）」 in Chinese, ``'restroom'`` in English
    (with its English name in brackets when that says more than the code: ``'old' (old compound)``).

    ``name`` is a message (a choice's name in the catalogue) or the name in each language (a rule set's vocabulary
    is data, with its own ``zh`` and ``en`` labels)."""

    __slots__ = ()

    def __init__(self, code: str, name: Message | Mapping[str, str]) -> None:
        names: Any = name if isinstance(name, Message) else tuple(sorted(name.items()))
        super().__init__("", {"code": code, "name": names}, context="named code")

    def __reduce__(self) -> tuple[Any, ...]:
        said = dict(self.params)
        name = said["name"]
        return (Named, (said["code"], name if isinstance(name, Message) else dict(name)))

    def name(self, lang: str | None = None) -> str:
        """The code's name in ``lang`` (the code itself when it has none)."""
        lang = lang or _current.get()
        said = dict(self.params)
        name = said["name"]
        worded = name.text(lang) if isinstance(name, Message) else dict(name).get(lang, "")
        return str(worded) or str(said["code"])

    def text(self, lang: str | None = None) -> str:
        lang = lang or _current.get()
        code = str(dict(self.params)["code"])
        name = self.name(lang)
        if lang == "zh":            # the code quoted, as every message quotes a value that is not words
            shown = quote(code)
            return shown if name == code else f"{name}{_SEPARATORS['open'][lang]}{shown}{_SEPARATORS['close'][lang]}"
        if _letters(name) == _letters(code):
            return quote(code)
        return f"{quote(code)}{_SEPARATORS['open'][lang]}{name}{_SEPARATORS['close'][lang]}"

    def __repr__(self) -> str:
        return f"Named({dict(self.params)['code']!r})"


def _letters(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def _worded(value: Any, lang: str) -> Any:
    if isinstance(value, Message):
        return value.text(lang)
    if isinstance(value, (list, tuple)):
        return _SEPARATORS["and"][lang].join(str(_worded(v, lang)) for v in value)
    return value


def msg(msgid: str, /, **params: Any) -> Message:
    """A message to word later: ``msgid`` is the English text, with ``{name}`` for each value (and, as
    ``str.format`` allows, a format such as ``{count:,}``). The catalogue gives its Chinese."""
    return Message(msgid, params)


def cmsg(context: str, msgid: str, /, **params: Any) -> Message:
    """A message whose words depend on where it is used, ``context`` telling the uses of one ``msgid`` apart
    (gettext's ``pgettext``): in English a field is named by its key, in Chinese by its name."""
    return Message(msgid, params, context=context)


def plural(singular: str, plural_text: str, count: int, /, **params: Any) -> Message:
    """A message that depends on a number, ``{count}``: "1 centre" / "2 centres" (Chinese has one form)."""
    return Message(singular, {**params, "count": count}, plural_text)


def text(value: Message | str, lang: str | None = None) -> str:
    """A message worded in ``lang``, or a text that is already words (from a rule file, say) as it is."""
    return value.text(lang) if isinstance(value, Message) else str(value)


def quote(value: Any, limit: int = 40) -> str:
    """A value as a message quotes it (``'约500'``, ``-40``), cut short inside its quotes (``'xxxx…'``): the same
    in every language."""
    shown = repr(value)
    if len(shown) <= limit:
        return shown
    if isinstance(value, str):
        return repr(value[: max(1, limit - 3)] + "…")
    return shown[: limit - 1] + "…"


class Words(Mapping[str, Message]):
    """The words a report or page uses, by name, each a message of the catalogue: ``words.of(lang)`` gives them
    worded in one language, with the language's punctuation (``colon``, ``lp``…), as a template reads them
    (``ui.title``)."""

    def __init__(self, **messages: Message) -> None:
        self._messages = dict(messages)
        self._worded: dict[str, dict[str, str]] = {}

    def __getitem__(self, key: str) -> Message:
        return self._messages[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def of(self, lang: str | None = None) -> dict[str, str]:
        lang = checked(lang or _current.get())
        worded = self._worded.get(lang)
        if worded is None:
            worded = {**PUNCTUATION[lang], **{key: m.text(lang) for key, m in self._messages.items()}}
            self._worded[lang] = worded
        return worded
