"""Reading YAML and JSON input safely.

Profiles and rule files come from people and other systems, sometimes hostile.
This module turns bytes into plain data (dict, list, str, int, float, bool,
None) or raises the caller's error class with the file, line and reason:

* files over a size cap, directories, devices and FIFOs are refused before parsing;
* YAML is parsed with the safe C loader restricted to the JSON types: no Python
  tags, no ``!!binary``/``!!set``/timestamps (``2026-11-01`` stays a string);
* alias expansion is bounded (a "billion laughs" file is refused in microseconds);
* duplicate mapping keys and non-string keys are errors, not silently dropped.
"""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

from .errors import PathItem, Problem, _ProblemsError

MAX_BYTES = 1 << 20          # 1 MiB: a real profile is about 2 KB
MAX_NODES = 100_000          # nodes after alias expansion
MAX_DEPTH = 64               # a profile nests 4 deep; PyYAML's composer recurses on the C stack

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_TYPES = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}


class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader limited to JSON types, refusing duplicate and non-string keys."""

    def construct_mapping(self, node, deep=False):  # noqa: D401 - PyYAML hook
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found {node.id}", node.start_mark
            )
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"key {key!r} is not a string", key_node.start_mark,
                )
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"duplicate key {key!r}", key_node.start_mark,
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


# Only the JSON types get constructors; any other tag is "could not determine a constructor".
_StrictLoader.yaml_constructors = {
    tag: fn for tag, fn in _BaseLoader.yaml_constructors.items() if tag in _YAML_TYPES
}
_StrictLoader.yaml_constructors["tag:yaml.org,2002:map"] = _StrictLoader.construct_yaml_map
# Without this fallback PyYAML quietly reads an unknown tag's scalar as a string.
_StrictLoader.yaml_constructors[None] = _BaseLoader.construct_undefined
_StrictLoader.yaml_multi_constructors = {}
# Dates stay strings: the profile contract says ISO date *strings*.
_StrictLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def read_bytes(path: str | os.PathLike, error: type[_ProblemsError], *, max_bytes: int = MAX_BYTES) -> bytes:
    """Read a regular file (or ``-`` for standard input) of at most ``max_bytes``."""
    name = str(path)
    try:
        if name == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                raise error("is a directory, not a file", file=name)
            if not stat.S_ISREG(st.st_mode):
                raise error("is not a regular file", file=name)
            if st.st_size > max_bytes:
                raise error(f"is {st.st_size:,} bytes; the limit is {max_bytes:,}", file=name)
            with open(path, "rb") as fh:
                data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise error("no such file", file=name) from None
    except PermissionError:
        raise error("permission denied", file=name) from None
    except OSError as exc:
        raise error(f"cannot be read: {exc.strerror or exc}", file=name) from exc
    if len(data) > max_bytes:
        raise error(f"is larger than the limit of {max_bytes:,} bytes", file=name)
    return data


def _decode(raw: bytes, name: str, error: type[_ProblemsError]) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            file=name,
            problems=[Problem(f"byte 0x{raw[exc.start]:02x} is not valid UTF-8", file=name, line=line)],
        ) from None


def _check_shape(text: str, name: str, error: type[_ProblemsError]) -> None:
    """Refuse YAML nested deeper than MAX_DEPTH or whose aliases expand past MAX_NODES.

    Runs on the parser's event stream, before anything is composed: a "billion
    laughs" file or ``[[[[…]]]]`` is refused in milliseconds instead of
    exhausting memory or the C stack.
    """
    sizes: dict[str, int] = {}
    stack: list[list] = [[None, 0]]
    total = 0
    for ev in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([ev.anchor, 1])
            total += 1
            if len(stack) > MAX_DEPTH:
                raise error(f"is nested more than {MAX_DEPTH} levels deep; refused", file=name,
                            problems=[Problem("nested too deeply", file=name, line=ev.start_mark.line + 1)])
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
            n = sizes.get(ev.anchor, 1)
            stack[-1][1] += n
            total += n
        if total > MAX_NODES:
            raise error(
                f"expands to more than {MAX_NODES:,} values through YAML aliases; refused",
                file=name,
                problems=[Problem("alias expansion too large", file=name, line=ev.start_mark.line + 1)],
            )


def _yaml_problem(exc: yaml.YAMLError, name: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    what = " ".join(str(x) for x in (getattr(exc, "context", None), getattr(exc, "problem", None)) if x)
    return Problem(what or str(exc).splitlines()[0], file=name, line=line)


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a JSON number")


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse(raw: bytes, name: str, error: type[_ProblemsError], *, json_only: bool = False) -> Any:
    """Parse bytes as JSON (``.json`` files) or YAML into plain data."""
    text = _decode(raw, name, error)
    if not text.strip():
        raise error("is empty", file=name)
    try:
        if json_only or name.lower().endswith(".json"):
            try:
                return json.loads(text, object_pairs_hook=_json_object, parse_constant=_reject_constant)
            except json.JSONDecodeError as exc:
                raise error(
                    f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                    file=name,
                    problems=[Problem(exc.msg, file=name, line=exc.lineno)],
                ) from None
            except ValueError as exc:
                raise error(f"is not valid JSON: {exc}", file=name) from None
        _check_shape(text, name, error)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict safe loader above
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc, name)
        where = f" (line {problem.line})" if problem.line else ""
        raise error(f"is not valid YAML{where}: {problem.message}", file=name, problems=[problem]) from None
    except RecursionError:
        raise error("is nested too deeply to read", file=name) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise error(f"cannot be read: {exc}", file=name) from None


def load(source: str | os.PathLike, error: type[_ProblemsError], *, max_bytes: int = MAX_BYTES) -> tuple[Any, bytes]:
    """Read and parse a file; returns the data and the raw bytes."""
    raw = read_bytes(source, error, max_bytes=max_bytes)
    return parse(raw, str(source), error), raw


def line_map(raw: bytes) -> dict[tuple[PathItem, ...], int]:
    """Map each path in a YAML/JSON document to its 1-based line, best effort."""
    try:
        root = yaml.compose(raw.decode("utf-8-sig"), Loader=_BaseLoader)
    except Exception:  # noqa: BLE001 - a best-effort aid for messages only
        return {}
    lines: dict[tuple[PathItem, ...], int] = {}
    todo: list[tuple[tuple[PathItem, ...], Any]] = [((), root)]
    seen = 0
    while todo and seen < MAX_NODES:
        path, node = todo.pop()
        seen += 1
        if node is None:
            continue
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    lines.setdefault(path + (k.value,), k.start_mark.line + 1)
                    todo.append((path + (k.value,), v))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                todo.append((path + (i,), v))
    return lines


def locate(problems: list[Problem], raw: bytes | None) -> list[Problem]:
    """Fill in the line of each problem from the document's line map."""
    if raw is None or not problems:
        return problems
    lines = line_map(raw)
    out = []
    for p in problems:
        line = p.line
        path = p.path
        while line is None and path is not None:
            line = lines.get(tuple(path))
            path = path[:-1] if path else None
        out.append(Problem(p.message, p.path, p.file, line, p.clause))
    return out


def data_dir(name: str) -> Path:
    """The folder of bundled data (``rules``, ``reports``), installed or in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} is missing from the installation")

