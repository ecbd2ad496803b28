"""Errors raised by the library.

Every error the library raises on bad input derives from one base class, so a
caller can catch it in one place::

    ComplianceError                 anything this library refuses
    ├── ProfileError                a centre profile is unreadable or invalid
    ├── RuleSetError                a rule set (or a rule test) is unreadable, invalid or unknown
    └── ReportError                 a report cannot be produced or written

``ProfileError`` and ``RuleSetError`` carry the problems found, not only the
first: a user fixing a spreadsheet of centres wants them all at once. The list
is capped at :data:`MAX_PROBLEMS`; ``total`` says how many there were.

Passing the wrong *type* of argument (a number where a path belongs) is a
programming error and raises ``TypeError``, as Python's own functions do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence, Union

PathItem = Union[str, int]
MAX_PROBLEMS = 100


def json_path(path: Sequence[PathItem]) -> str:
    """Render a path as ``$.space.zones[3].area_m2``."""
    out = ["$"]
    for item in path:
        if isinstance(item, int):
            out.append(f"[{item}]")
        elif item.isidentifier() and item.isascii():
            out.append(f".{item}")
        else:
            out.append(f"[{item!r}]")
    return "".join(out)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as data."""

    message: str
    path: tuple[PathItem, ...] = ()
    file: str | None = None
    line: int | None = None
    clause: str | None = None

    @property
    def json_path(self) -> str:
        return json_path(self.path)

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        loc = self.json_path if self.path or self.line is None else ""
        if self.clause:
            loc = f"clause {self.clause} {loc}".rstrip()
        return f"{where}: {loc}: {self.message}" if loc else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.json_path,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "clause": self.clause,
        }


class ComplianceError(Exception):
    """Base class of every error this library raises on bad input."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message


class ProblemsError(ComplianceError):
    """An error that carries the problems found in one file (the first MAX_PROBLEMS, and a count)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        problems: Iterable[Problem] = (),
        total: int | None = None,
        complete: bool = True,
    ) -> None:
        super().__init__(message, file=file)
        listed: list[Problem] = []
        for p in problems:
            if len(listed) == MAX_PROBLEMS:
                break
            listed.append(p)
        self.problems: tuple[Problem, ...] = tuple(listed)
        self.total: int = max(total or 0, len(self.problems))
        #: False when the search stopped early: there are at least ``total`` problems
        self.complete = complete

    @property
    def more(self) -> int:
        """How many problems were found beyond those listed."""
        return self.total - len(self.problems)

    def __str__(self) -> str:
        head = f"{self.file}: {self.message}" if self.file else self.message
        if not self.problems:
            return head
        lines = [head] + [f"  {p}" for p in self.problems]
        if self.more:
            lines.append(f"  … and {'' if self.complete else 'at least '}{self.more:,} more problem(s)")
        return "\n".join(lines)


class ProfileError(ProblemsError):
    """A centre profile could not be read or is invalid."""


class RuleSetError(ProblemsError):
    """A rule set or rule test could not be read, is invalid, or is not known."""


class ReportError(ComplianceError):
    """A report could not be rendered or written."""


def problems_message(total: int, what: str, complete: bool = True) -> str:
    """'3 problem(s) in profile', or '2,040 problems in profile (the first 100 are listed)'."""
    count = f"{total:,}" if complete else f"at least {total:,}"
    if total > MAX_PROBLEMS:
        return f"{count} problems in {what} (the first {MAX_PROBLEMS} are listed)"
    return f"{count} problem(s) in {what}"
