"""Errors raised by the library.

Every error the library raises on bad input derives from one base class, so a
caller can catch it in one place::

    ComplianceError                 anything this library refuses
    ├── ProfileError                a centre profile is unreadable or invalid
    ├── RuleSetError                a rule set is unreadable, invalid or unknown
    └── ReportError                 a report cannot be produced

``ProfileError`` and ``RuleSetError`` carry every :class:`Problem` found, not
only the first: a user fixing a spreadsheet of centres wants them all at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence, Union

PathItem = Union[str, int]


def json_path(path: Sequence[PathItem]) -> str:
    """Render a path as ``$.space.zones[3].area_m2``."""
    out = ["$"]
    for item in path:
        if isinstance(item, int):
            out.append(f"[{item}]")
        elif item.isidentifier():
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
        loc = self.json_path
        if self.clause:
            loc = f"clause {self.clause} {loc}" if self.path else f"clause {self.clause}"
        return f"{where}: {loc}: {self.message}"

    def to_dict(self) -> dict:
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


class _ProblemsError(ComplianceError):
    """An error that carries the full list of problems found in one file."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        problems: Iterable[Problem] = (),
    ) -> None:
        super().__init__(message, file=file)
        self.problems: tuple[Problem, ...] = tuple(problems)

    def __str__(self) -> str:
        if not self.problems:
            return f"{self.file}: {self.message}" if self.file else self.message
        lines = [f"{self.file or '<input>'}: {self.message}"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class ProfileError(_ProblemsError):
    """A centre profile could not be read or is invalid."""


class RuleSetError(_ProblemsError):
    """A rule set could not be read, is invalid, or is not known."""


class ReportError(ComplianceError):
    """A report could not be rendered or written."""
