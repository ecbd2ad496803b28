"""Reading YAML and JSON input safely: bytes → plain values, or an error that names the place.

Profiles and rule files come from people and other systems, sometimes hostile.
This module turns bytes into plain data (dict, list, str, int, float, bool,
None) or raises the caller's error class with the file, line and reason:

* files over a size cap, directories, devices and FIFOs are refused before parsing;
* text must be UTF-8; a file in GBK or UTF-16 is told so, with what to do;
* YAML is read with the YAML 1.2 core schema, as bureaus' tools write it:
  ``1e3`` is a number, ``1:05`` and ``yes`` are strings, ``010`` is ten, and
  ``2026-11-01`` stays a string (the profile checks it is a real date);
* only the JSON types: no Python or other tags, no ``!!binary``, sets or timestamps;
* numbers are finite (no ``.nan``, ``.inf`` or ``1e400``) and at most 1,000 digits;
* a document is at most 64 levels deep and 100,000 values, aliases included
  (a "billion laughs" file is refused in milliseconds);
* duplicate mapping keys and non-string keys are errors, not silently dropped.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from .errors import PathItem, Problem, ProblemsError, system_reason
from .i18n import Message, cmsg, msg, quote

MAX_BYTES = 1 << 20          # 1 MiB: a real profile is about 2 KB, the national rule set 20 KB
MAX_NODES = 100_000          # values in one document, after alias expansion
MAX_DEPTH = 64               # a profile nests 4 deep; PyYAML's composer recurses on the C stack
MAX_DIGITS = 1000            # digits in one integer literal

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_JSON_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "seq", "map")}

# The YAML 1.2 core schema's implicit types (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_CORE_RESOLVERS = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
]


class _Refused(yaml.constructor.ConstructorError):
    """A value the strict loader refuses, with its message for people."""

    def __init__(self, message: Message, mark: Any) -> None:
        super().__init__(None, None, message.text("en"), mark)
        self.message = message


class _StrictLoader(_BaseLoader):  # type: ignore[misc]
    """Safe loader: YAML 1.2 core scalars, JSON types only, no duplicate or non-string keys."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise _Refused(msg("a mapping was expected here"), node.start_mark)
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise _Refused(msg("the key {key} is not text (put it in quotes)", key=_show(key)), key_node.start_mark)
            if key in mapping:
                raise _Refused(msg("the key {key} is written twice", key=_show(key)), key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def _refuse(self, node: Any, message: Message) -> Any:
        raise _Refused(message, node.start_mark)

    def construct_yaml_bool(self, node: Any) -> bool:
        text = str(self.construct_scalar(node))
        if text in ("true", "True", "TRUE"):
            return True
        if text in ("false", "False", "FALSE"):
            return False
        return bool(self._refuse(node, msg("{value} is not true or false; write true or false", value=_show(text))))

    def construct_yaml_int(self, node: Any) -> int:
        text = str(self.construct_scalar(node))
        sign = -1 if text.startswith("-") else 1
        digits = text[1:] if text[:1] in "+-" else text
        if len(digits) > MAX_DIGITS:
            return int(self._refuse(node, msg("a number of {digits:,} digits is too long", digits=len(digits))))
        base, body = (8, digits[2:]) if digits.startswith("0o") else (16, digits[2:]) if digits.startswith("0x") \
            else (10, digits)
        if not body or not all(ch in "0123456789abcdefABCDEF"[:base if base != 16 else 22] for ch in body):
            return int(self._refuse(node, msg("{value} is not a whole number", value=_show(text))))
        return sign * int(body, base)

    def construct_yaml_float(self, node: Any) -> float:
        text = str(self.construct_scalar(node))
        if text.lstrip("+-").lower() in (".nan", ".inf"):
            return float(self._refuse(node, msg("{value} is not a finite number", value=_show(text))))
        try:
            value = float(text)
        except ValueError:
            return float(self._refuse(node, msg("{value} is not a number", value=_show(text))))
        if not math.isfinite(value):
            if any(ch.isdigit() for ch in text):
                return float(self._refuse(node, msg("{value} is too large a number", value=_show(text))))
            return float(self._refuse(node, msg("{value} is not a finite number", value=_show(text))))
        return value


_StrictLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in _CORE_RESOLVERS:
    _StrictLoader.add_implicit_resolver(_tag, re.compile(_regexp), _first)
# Only the JSON types get constructors; any other tag is "could not determine a constructor".
_StrictLoader.yaml_constructors = {
    tag: fn for tag, fn in _BaseLoader.yaml_constructors.items() if tag in _JSON_TAGS
}
_StrictLoader.yaml_constructors.update({
    "tag:yaml.org,2002:map": _StrictLoader.construct_yaml_map,
    "tag:yaml.org,2002:int": _StrictLoader.construct_yaml_int,
    "tag:yaml.org,2002:bool": _StrictLoader.construct_yaml_bool,
    "tag:yaml.org,2002:float": _StrictLoader.construct_yaml_float,
    # Without this fallback PyYAML quietly reads an unknown tag's scalar as a string.
    None: _BaseLoader.construct_undefined,
})
_StrictLoader.yaml_multi_constructors = {}


def _show(value: Any, limit: int = 40) -> str:
    return quote(value, limit)


def read_bytes(path: str | os.PathLike[str], error: type[ProblemsError], *, max_bytes: int = MAX_BYTES) -> bytes:
    """Read a regular file (or ``-`` for standard input) of at most ``max_bytes``."""
    name = os.fspath(path)

    def refuse(message: Message) -> ProblemsError:
        return error(message, file=name, problems=[Problem(message, (), name)])

    try:
        if name == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                raise refuse(msg("is a folder, not a file"))
            if not stat.S_ISREG(st.st_mode):
                raise refuse(msg("is not a regular file"))
            if st.st_size > max_bytes:
                raise refuse(msg("is {size:,} bytes; the limit is {limit:,}", size=st.st_size, limit=max_bytes))
            with open(path, "rb") as fh:
                data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise refuse(msg("no such file")) from None
    except PermissionError:
        raise refuse(msg("permission denied")) from None
    except (OSError, ValueError) as exc:   # ValueError: a NUL byte in the name
        raise refuse(system_reason(exc, msg("cannot be read"))) from None
    if len(data) > max_bytes:
        raise refuse(msg("is larger than the limit of {limit:,} bytes", limit=max_bytes))
    return data



def guess_encoding(raw: bytes) -> str | None:
    """A likely name for the encoding of bytes that are not UTF-8, for the error message."""
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    sample = raw[:4096]
    if sample and sample.count(0) * 4 >= len(sample):
        return "UTF-16"
    gbk = _cjk(raw, "gb18030")
    big5 = _cjk(raw, "big5")
    if gbk and big5:
        # Big5 bytes also decode as GB18030, but mostly into rare characters outside GB 2312.
        common = sum(1 for ch in gbk if _in_gb2312(ch))
        return "GBK" if common >= 0.9 * len(gbk) else "Big5"
    return "GBK" if gbk else "Big5" if big5 else None


def _cjk(raw: bytes, encoding: str) -> list[str]:
    """The hanzi of ``raw`` read as ``encoding``, or [] when it is not that encoding."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        return []
    return [ch for ch in text if "\u4e00" <= ch <= "\u9fff"]


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def decode(raw: bytes, name: str, error: type[ProblemsError]) -> str:
    """UTF-8 text (a BOM is allowed), or an error that says what the file looks like instead."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        guess = guess_encoding(raw)
        if guess:
            told = msg("is not in the {utf8} encoding (it looks like {guess}): save it as {utf8}",
                       utf8=quote("UTF-8"), guess=quote(guess))
        else:
            told = msg("is not in the {utf8} encoding: save it as {utf8}", utf8=quote("UTF-8"))
        raise error(told, file=name, problems=[
            Problem(msg("the byte {byte} cannot be read ({problem})", byte=quote(f"0x{raw[exc.start]:02x}"), problem=told),
                    file=name, line=line)]) from None


def _check_shape(text: str, name: str, error: type[ProblemsError]) -> None:
    """Refuse YAML nested deeper than MAX_DEPTH or holding more than MAX_NODES values.

    Runs on the parser's event stream, before anything is composed: a "billion
    laughs" file or ``[[[[…]]]]`` is refused in milliseconds instead of
    exhausting memory or the C stack.
    """
    try:
        _walk_shape(text, name, error)
    except yaml.MarkedYAMLError as exc:
        # PyYAML 6.0.4 and later stop at a nesting depth of their own (1,000 flow levels), before ours is counted
        if "nesting depth" not in str(exc.problem):
            raise
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise error(msg("is nested more than {limit} levels deep; refused", limit=MAX_DEPTH), file=name,
                    problems=[Problem(msg("nested too deeply"), file=name, line=line)]) from None


def _walk_shape(text: str, name: str, error: type[ProblemsError]) -> None:
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]
    total = 0
    aliased = False
    for ev in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([ev.anchor, 1])
            total += 1
            if len(stack) > MAX_DEPTH:
                raise error(msg("is nested more than {limit} levels deep; refused", limit=MAX_DEPTH), file=name,
                            problems=[Problem(msg("nested too deeply"), file=name, line=_line(ev))])
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, n = stack.pop()
            if anchor:
                sizes[anchor] = n
            stack[-1][1] += n
        elif isinstance(ev, yaml.ScalarEvent):
            if ev.anchor:
                sizes[ev.anchor] = 1
            stack[-1][1] += 1
            total += 1
        elif isinstance(ev, yaml.AliasEvent):
            n = sizes.get(ev.anchor or "", 1)
            stack[-1][1] += n
            total += n
            aliased = True
        if total > MAX_NODES:
            line = _line(ev)
            if aliased:
                raise error(msg("expands to more than {limit:,} values through aliases; refused", limit=MAX_NODES),
                            file=name, problems=[Problem(msg("alias expansion too large"), file=name, line=line)])
            raise error(msg("holds more than {limit:,} values (a profile has a few hundred); refused", limit=MAX_NODES),
                        file=name, problems=[Problem(msg("too many values"), file=name, line=line)])


def _line(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return None if mark is None else int(mark.line) + 1


# What the YAML reader says, in words for people: its own sentences are English and name its grammar.
_YAML_SAYS: list[tuple[re.Pattern[str], Any]] = [(re.compile(p), f) for p, f in [
    (r"^mapping values are not allowed here", lambda m: msg("a colon here starts a mapping where none can start: "
                                                            "check the indentation, or put the text in quotes")),
    (r"^could not find expected ':'", lambda m: msg("a colon is missing after a key")),
    (r"^found character '(.*)' that cannot start any token",
     lambda m: msg("the character {char} cannot start a value here (put the text in quotes; indent with spaces, "
                   "not tabs)", char=quote(m.group(1).encode().decode("unicode_escape", "replace")))),
    (r"^found undefined alias '(.*)'", lambda m: msg("the alias {alias} refers to no anchor", alias=quote(m.group(1)))),
    (r"^found duplicate anchor '(.*)'", lambda m: msg("the anchor {anchor} is defined twice", anchor=quote(m.group(1)))),
    (r"^found unexpected end of stream", lambda m: msg("the file ends inside a quoted text: a closing quote is missing")),
    (r"^found unknown escape character '(.*)'",
     lambda m: msg("{escape} is not an escape a quoted text can hold", escape=quote("\\" + m.group(1)))),
    (r"^expected ',' or '\]'", lambda m: msg("a list in brackets is not closed: a comma or {close} is missing",
                                             close=quote("]"))),
    (r"^expected ',' or '\}'", lambda m: msg("a mapping in braces is not closed: a comma or {close} is missing",
                                             close=quote("}"))),
    (r"^expected <block end>", lambda m: msg("the indentation does not line up with the lines above")),
    (r"^expected '<document start>'", lambda m: msg("the text goes on where the document should end: check the "
                                                    "indentation and the brackets")),
    (r"^did not find expected key", lambda m: msg("a key was expected here: check the indentation")),
    (r"^did not find expected '-' indicator", lambda m: msg("a list item ({dash}) was expected here",
                                                           dash=quote("- "))),
    (r"^expected a comment or a line break", lambda m: msg("something follows a value on its line: put the text in "
                                                           "quotes, or start a comment with {hash}", hash=quote(" #"))),
    (r"^could not determine a constructor for the tag '(.*)'",
     lambda m: msg("the tag {tag} is not allowed: profiles and rule files hold plain values only",
                   tag=quote(m.group(1)))),
    (r"^found unhashable key", lambda m: msg("a key must be text")),
    (r"^expected a single document|^but found another document", lambda m: msg("the file holds more than one document")),
]]


def _yaml_words(problem: str) -> Message:
    for pattern, words in _YAML_SAYS:
        found = pattern.search(problem)
        if found:
            message: Message = words(found)
            return message
    # Translators: the YAML reader's own words, which only English shows; Chinese says the syntax is wrong
    return cmsg("yaml syntax", "{detail}", detail=problem)


def _yaml_problem(exc: yaml.YAMLError, name: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    if isinstance(exc, _Refused):
        return Problem(exc.message, file=name, line=line)
    if isinstance(exc, yaml.reader.ReaderError):         # a character no text file may hold
        character = exc.character if isinstance(exc.character, str) else chr(int(exc.character))
        return Problem(msg("the character {char} is not allowed in a text file", char=quote(character)), file=name)
    problem = str(getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0])
    return Problem(_yaml_words(problem), file=name, line=line)


class _JsonRefused(ValueError):
    """A value the JSON reader's hooks refuse, with its message for people (and the repeated key, if any)."""

    def __init__(self, message: Message, key: str | None = None) -> None:
        super().__init__(message.text("en"))
        self.message = message
        self.key = key


# What the JSON reader says (json.JSONDecodeError.msg), in words for people.
_JSON_SAYS: dict[str, Message] = {
    "Expecting value": msg("a value was expected here"),
    "Expecting property name enclosed in double quotes": msg("a key in double quotes was expected here (is there a "
                                                             "comma too many?)"),
    "Expecting ',' delimiter": msg("a comma is missing"),
    "Expecting ':' delimiter": msg("a colon is missing after a key"),
    "Unterminated string starting at": msg("a text is not closed: a double quote is missing"),
    "Invalid control character at": msg("a text holds a control character (a line break, a tab, a NUL…): write it "
                                        "as an escape"),
    "Invalid \\escape": msg("a text holds a backslash that starts no escape (write two backslashes)"),
    "Invalid \\uXXXX escape": msg("a text holds an incomplete unicode escape"),
    "Extra data": msg("something follows the end of the document"),
}


JSON_BREAKS = msg("cannot be read (line {line}, column {column}): {problem}").msgid


def _json_words(text: str) -> Message:
    return _JSON_SAYS.get(text, cmsg("json syntax", "{detail}", detail=text))


def _json_value_line(text: str, key: str | None) -> int | None:
    """Best effort: the line of what a JSON hook refused (a repeated key, NaN, a huge number)."""
    if key is not None:
        key = re.escape(json.dumps(key, ensure_ascii=False)[1:-1])
        found = list(re.finditer(rf'"{key}"\s*:', text))
        spot = found[1].start() if len(found) > 1 else None
    else:
        match = re.search(r"(?<![\w\"])(?:NaN|-?Infinity|-?\d{" + str(MAX_DIGITS + 1) + r",}|-?[\d.]+[eE]\+?\d{3,})", text)
        spot = match.start() if match else None
    return None if spot is None else text.count("\n", 0, spot) + 1


def _path_in(trail: list[tuple[int, PathItem]], at: int, *last: PathItem) -> tuple[PathItem, ...]:
    """The JSON path to the container at place ``at`` of a walk's ``trail`` (each container's parent's place and
    its key there; the document itself is place 0), then ``last``."""
    keys: list[PathItem] = list(reversed(last))
    while at > 0:
        at, key = trail[at]
        keys.append(key)
    return tuple(reversed(keys))


class _Repeats(dict):  # type: ignore[type-arg]
    """An object of a JSON document read again to find a refused value or key: every pair it holds, repeats
    included, and the first key it repeats."""

    pairs: list[tuple[str, Any]]
    again: str


_MARK = object()        # a value the JSON reader refuses, in its place in a document read again to find it


def _refused_path(text: str, key: str | None) -> tuple[PathItem, ...]:
    """The JSON path of what the reader refused in ``text``: the value (NaN, ``1e400``, a thousand digits), or the
    key written twice when ``key`` is given; the document's root when it cannot be found. The document is read
    again with each such value kept as a mark and each object's pairs kept (a repeat's value too), then walked in
    the order the reader met them: a value where it stands, an object's repeat when its braces close, after what
    it holds. Each container is remembered once, by its parent and key; a path is made only for what is found."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = _Repeats(items)
        out.pairs = items
        seen: set[str] = set()
        for k, _ in items:
            if k in seen:
                out.again = k
                break
            seen.add(k)
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=lambda _: _MARK,
                          parse_float=lambda t: 0.0 if math.isfinite(float(t)) else _MARK,
                          parse_int=lambda t: _MARK if len(t.lstrip("-")) > MAX_DIGITS else 0)
    except (ValueError, RecursionError, MemoryError):
        return ()
    trail: list[tuple[int, PathItem]] = []              # a container's parent (its place here) and key
    stack: list[tuple[Any, int, PathItem, int]] = [(data, -1, "", -1)]     # node, parent, key, its place once open
    while stack:
        node, parent, step, here = stack.pop()
        if isinstance(node, (dict, list)) and here < 0:
            here = len(trail)
            trail.append((parent, step))
            stack.append((node, parent, step, here))          # again once what it holds is walked
            items = node.pairs if isinstance(node, _Repeats) else enumerate(node)
            stack.extend((v, here, k, -1) for k, v in reversed(list(items)))
        elif key is None and node is _MARK:
            return _path_in(trail, parent, step)
        elif key is not None and here >= 0 and getattr(node, "again", None) == key:
            return _path_in(trail, here, key)
    return ()


def _reject_constant(value: str) -> Any:
    raise _JsonRefused(msg("{value} is not a number", value=quote(value)))


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonRefused(msg("{value} is too large a number", value=quote(text)))
    return value


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _JsonRefused(msg("a number of {digits:,} digits is too long", digits=len(text)))
    return int(text)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonRefused(msg("the key {key} is written twice", key=_show(key)), key)
        out[key] = value
    return out


_DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))    # every digit → 0, the rest → space
_LONG_NUMBER = b"0" * 19                                             # beyond 64 bits orjson reads a float
_SPACE_AFTER_QUOTE = re.compile(rb'"[ \t\r\n]').search


def keys_end_in_quote_colon(raw: bytes) -> bool:
    """Whether every key of ``raw`` is written as itself and ends in ``":`` (no BOM before, no quote followed by a
    space, nothing escaped as ``\\u00..``), so that counting ``":`` counts its keys and the ``":`` in its strings."""
    # memchr first: a backslash before looking for \u00, and any white space before looking for a quote followed
    # by one (compact JSON, most lines, has neither)
    if raw.startswith(b"\xef\xbb\xbf") or b"\\" in raw and b"\\u00" in raw:
        return False
    return b" " not in raw and b"\t" not in raw and b"\r" not in raw and b"\n" not in raw or not _SPACE_AFTER_QUOTE(raw)


def fast_json(raw: bytes) -> Any:
    """orjson's reading of ``raw`` when it is certainly what :func:`parse` would return, else None.

    orjson keeps the last of two equal keys where the careful reader refuses them. Every key of
    orjson's output ends in ``":``; so does every key of ``raw`` unless a space comes before its
    colon, and a ``":`` inside a string is written the same way in both unless it was escaped as
    ``\\u00..`` (a document with either goes to the careful reader). So when both hold as many ``":``,
    no key was dropped. The careful reader also words every problem; this path only says yes.
    """
    if not keys_end_in_quote_colon(raw) or _LONG_NUMBER in raw.translate(_DIGITS):
        return None
    try:
        data = orjson.loads(raw)
        keys = orjson.dumps(data).count(b'":')
    except (orjson.JSONDecodeError, TypeError):          # not JSON, or nested deeper than orjson goes
        return None
    return data if keys == raw.count(b'":') else None


def parse(raw: bytes, name: str, error: type[ProblemsError], *, json_only: bool = False) -> Any:
    """Parse bytes as JSON (``.json`` files) or YAML into plain data."""
    if json_only or name.lower().endswith(".json"):
        data = fast_json(raw)
        if data is not None:
            return data
    text = decode(raw, name, error)
    data = _parse_text(text, name, error, json_only)
    # Only an escape can write half of a character (UTF-8 cannot), and only JSON's reader takes one (YAML's refuses it)
    if (json_only or name.lower().endswith(".json")) and _SURROGATE_ESCAPE.search(text):
        found = _lone_surrogate(data)
        if found is not None:
            path, half = found
            told = msg("holds {char}, a lone surrogate, which is not text", char=quote(half))
            spot = text.lower().find(f"\\u{ord(half):04x}")
            raise error(msg("cannot be read: {problem}", problem=told), file=name, problems=[
                Problem(told, path, name, None if spot < 0 else text.count("\n", 0, spot) + 1)])
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(data: Any) -> tuple[tuple[PathItem, ...], str] | None:
    """Where a key or text of a JSON document holds half of a character (a surrogate, U+D800 to U+DFFF), and that
    half. Each container is remembered once, by its parent and key, and a path is made only for what is found."""
    trail: list[tuple[int, PathItem]] = []                          # a container's parent (its place here) and key
    stack: list[tuple[Any, int, PathItem]] = [(data, -1, "")]
    while stack:
        node, parent, key = stack.pop()
        if isinstance(node, (dict, list)):
            here = len(trail)
            trail.append((parent, key))
            if isinstance(node, dict):
                for k, v in node.items():
                    half = None if k.isascii() else half_character(k)
                    if half is not None:
                        return _path_in(trail, here), half
                    stack.append((v, here, k))
            else:
                stack.extend((v, here, i) for i, v in enumerate(node))
        elif isinstance(node, str) and not node.isascii():
            half = half_character(node)
            if half is not None:
                return _path_in(trail, parent, key), half
    return None


def half_character(text: str) -> str | None:
    """The first half of a character (a surrogate) in ``text``, which UTF-8 cannot write; None when there is none."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _parse_text(text: str, name: str, error: type[ProblemsError], json_only: bool) -> Any:
    if not text.strip():
        raise error(msg("is empty"), file=name, problems=[Problem(msg("is empty"), (), name)])
    try:
        if json_only or name.lower().endswith(".json"):
            try:
                return json.loads(text, object_pairs_hook=_json_object, parse_constant=_reject_constant,
                                  parse_float=_json_float, parse_int=_json_int)
            except json.JSONDecodeError as exc:
                words = _json_words(exc.msg)
                raise error(
                    msg(JSON_BREAKS, line=exc.lineno, column=exc.colno, problem=words),
                    file=name,
                    problems=[Problem(msg("column {column}: {problem}", column=exc.colno, problem=words), file=name,
                                      line=exc.lineno)],
                ) from None
            except _JsonRefused as exc:
                line = _json_value_line(text, exc.key)
                raise error(msg("cannot be read: {problem}", problem=exc.message), file=name,
                            problems=[Problem(exc.message, _refused_path(text, exc.key), name, line)]) from None
        _check_shape(text, name, error)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - the strict safe loader above
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc, name)
        if problem.line:
            told = msg("cannot be read (line {line}): {problem}", line=problem.line, problem=problem.text)
        else:
            told = msg("cannot be read: {problem}", problem=problem.text)
        raise error(told, file=name, problems=[problem]) from None
    except RecursionError:
        raise error(msg("is nested too deeply to read"), file=name,
                    problems=[Problem(msg("is nested too deeply to read"), (), name)]) from None
    except ProblemsError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a hostile document makes the parser raise is bad input
        told = system_reason(exc, msg("cannot be read"))
        raise error(told, file=name, problems=[Problem(told, (), name)]) from None


def load(source: str | os.PathLike[str], error: type[ProblemsError], *, max_bytes: int = MAX_BYTES) -> tuple[Any, bytes]:
    """Read and parse a file; returns the data and the raw bytes."""
    raw = read_bytes(source, error, max_bytes=max_bytes)
    return parse(raw, os.fspath(source), error), raw


LINE_MAP_LIMIT = 20_000      # events read to find lines: a profile has a few hundred


def line_map(raw: bytes, limit: int = LINE_MAP_LIMIT) -> dict[tuple[PathItem, ...], int]:
    """Map each path in a YAML/JSON document to its 1-based line, best effort.

    Reads the parser's event stream (no document is built) and stops after
    ``limit`` events, so a huge hostile file costs next to nothing here.
    """
    lines: dict[tuple[PathItem, ...], int] = {}
    # one frame per open collection: [path, is_mapping, expecting_key, current_key_or_index]
    stack: list[list[Any]] = []
    try:
        for count, ev in enumerate(yaml.parse(raw.decode("utf-8-sig"), Loader=_BaseLoader)):
            if count > limit:
                break
            if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                if stack and stack[-1][1]:
                    stack[-1][2] = True
                continue
            if not isinstance(ev, (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent,
                                   yaml.SequenceStartEvent)):
                continue
            line = _line(ev) or 0
            path: tuple[PathItem, ...] | None = ()
            if stack:
                top = stack[-1]
                if top[1] and top[2]:                      # a mapping key
                    key = ev.value if isinstance(ev, yaml.ScalarEvent) else None
                    top[3], top[2] = key, False
                    if key is not None and top[0] is not None:
                        lines.setdefault(top[0] + (key,), line)
                    if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                        stack.append([None, isinstance(ev, yaml.MappingStartEvent), True, 0])
                    continue
                if top[1]:                                 # a mapping value
                    path = None if top[0] is None or top[3] is None else top[0] + (top[3],)
                else:                                      # a sequence item
                    path = None if top[0] is None else top[0] + (top[3],)
                    top[3] += 1
            if path is not None:
                lines.setdefault(path, line)
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                is_map = isinstance(ev, yaml.MappingStartEvent)
                stack.append([path, is_map, True, None if is_map else 0])
            elif stack and stack[-1][1]:
                stack[-1][2] = True
    except (yaml.YAMLError, UnicodeDecodeError):
        pass                                               # lines are an aid for messages only
    return lines


def locate(problems: list[Problem], raw: bytes | None) -> list[Problem]:
    """Fill in the line of each problem from the document's line map."""
    if raw is None or not problems:
        return problems
    lines = line_map(raw)
    out = []
    for p in problems:
        line = p.line
        path: tuple[PathItem, ...] | None = p.path
        while line is None and path is not None:
            line = lines.get(tuple(path))
            path = path[:-1] if path else None
        out.append(p.located(line=line) if line is not None else p)
    return out


def data_dir(name: str) -> Path:
    """The folder of bundled data (``rules``, ``reports``), installed or in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} is missing from the installation")
