"""Errors raised by the library.

Every error the library raises on bad input derives from one base class, so a
caller can catch it in one place::

    ComplianceError                 anything this library refuses
    ├── ProfileError                a centre profile is unreadable or invalid
    ├── RuleSetError                a rule set (or a rule test) is unreadable, invalid or unknown
    ├── WaiverError                 a waiver file is unreadable or invalid
    ├── ReportError                 a report cannot be produced or written
    └── MismatchError               two audits set side by side are of different centres or rule sets

``ProfileError`` and ``RuleSetError`` carry the problems found, not only the
first: a user fixing a spreadsheet of centres wants them all at once. The list
is capped at :data:`MAX_PROBLEMS`; ``total`` says how many there were.

Every message is a :class:`~compliance.i18n.Message`, worded in the language in
force when it is shown (Chinese unless English was asked for): ``str(error)``,
``error.message`` and ``problem.message`` give the words, ``problem.text`` the
message itself, ``problem.text.text("en")`` its English.

Passing the wrong *type* of argument (a number where a path belongs) is a
programming error and raises ``TypeError``, as Python's own functions do.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, Union

from .i18n import Message, msg, plural, quote, text

PathItem = Union[str, int]
MAX_PROBLEMS = 100
ERROR, WARNING = "error", "warning"


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
    """One thing wrong with an input file (or, as a ``warning``, worth a look), located as data.

    ``text`` is the message (worded when shown); ``message`` its words in the language in force.
    """

    text: Message
    path: tuple[PathItem, ...] = ()
    file: str | None = None
    line: int | None = None
    clause: str | None = None
    severity: str = ERROR

    @property
    def message(self) -> str:
        """The message in the language in force."""
        return text(self.text)

    @property
    def json_path(self) -> str:
        return json_path(self.path)

    @property
    def is_warning(self) -> bool:
        return self.severity == WARNING

    def located(self, *, file: str | None = None, line: int | None = None) -> Problem:
        """The same problem at another file or line (the rest kept)."""
        return Problem(self.text, self.path, self.file if file is None else file, self.line if line is None else line,
                       self.clause, self.severity)

    def __str__(self) -> str:
        where = "" if in_memory(self.file) else str(self.file)
        if self.line is not None:
            where += f":{self.line}"
        loc = self.json_path if self.path or self.line is None else ""
        if self.clause:
            loc = text(msg("clause {clause} {path}", clause=self.clause, path=loc)).rstrip()
        head = text(msg("warning")) + ": " if self.is_warning else ""
        said = f"{loc}: {head}{self.message}" if loc else f"{head}{self.message}"
        return f"{where}: {said}" if where else said

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.json_path,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "clause": self.clause,
            "severity": self.severity,
        }


class ComplianceError(Exception):
    """Base class of every error this library raises on bad input.

    ``text`` is the message, worded when shown; ``message`` and ``str(error)`` give its words in the language
    in force."""

    def __init__(self, message: Message, *, file: str | None = None) -> None:
        super().__init__(message)
        self.text = message
        self.file = file

    @property
    def message(self) -> str:
        return text(self.text)

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if not in_memory(self.file) else self.message


def in_memory(file: str | None) -> bool:
    """True for no file, or the name of a document given in memory (``<dict>``): a message then names no place."""
    return not file or (file.startswith("<") and file.endswith(">"))


class ProblemsError(ComplianceError):
    """An error that carries the problems found in one file (the first MAX_PROBLEMS, and a count)."""

    def __init__(
        self,
        message: Message,
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
        if not listed:                     # every error names at least one problem, located where it can be
            listed.append(Problem(message, (), file))
        self.problems: tuple[Problem, ...] = tuple(listed)
        self.total: int = max(total or 0, len(self.problems))
        #: False when the search stopped early: there are at least ``total`` problems
        self.complete = complete

    @property
    def more(self) -> int:
        """How many problems were found beyond those listed."""
        return self.total - len(self.problems)

    def __str__(self) -> str:
        head = f"{self.file}: {self.message}" if not in_memory(self.file) else self.message
        if not self.problems or all(not p.path and p.line is None and p.text == self.text for p in self.problems):
            return head                    # the problems only repeat the message: said once
        lines = [head] + [f"  {p}" for p in self.problems]
        if self.more:
            lines.append("  " + text(more_problems(self.more, self.complete)))
        return "\n".join(lines)


class ProfileError(ProblemsError):
    """A centre profile could not be read or is invalid."""


class RuleSetError(ProblemsError):
    """A rule set or rule test could not be read, is invalid, or is not known."""


class WaiverError(ProblemsError):
    """A waiver file could not be read or is invalid (every problem located: file, line, JSON path)."""


class ReportError(ComplianceError):
    """A report could not be rendered or written."""


class MismatchError(ProblemsError):
    """Two audits that cannot be set side by side: of different centres (a reconciliation) or under different
    rule sets. The problem is located at the second audit's ``center.id`` or ``ruleset``."""


def problems_message(total: int, what: Message, complete: bool = True) -> Message:
    """'3 problems in the profile', or '2,040 problems in the profile (the first 100 are listed)'."""
    if not complete:
        return msg("at least {count:,} problems in {what} (the first {limit} are listed)", count=total, what=what,
                   limit=MAX_PROBLEMS)
    if total > MAX_PROBLEMS:
        return msg("{count:,} problems in {what} (the first {limit} are listed)", count=total, what=what,
                   limit=MAX_PROBLEMS)
    return plural("{count} problem in {what}", "{count} problems in {what}", total, what=what)


def more_problems(count: int, complete: bool = True) -> Message:
    """'… and 3 more problems' (or 'at least', when the search stopped early)."""
    if not complete:
        return msg("… and at least {count:,} more problems", count=count)
    return plural("… and {count:,} more problem", "… and {count:,} more problems", count)


# What the system says most often, in its own English words (glibc's), so that they can be put in Chinese.
_SYSTEM_SAYS: dict[int, Message] = {
    errno.ENOENT: msg("No such file or directory"),
    errno.EACCES: msg("Permission denied"),
    errno.EPERM: msg("Operation not permitted"),
    errno.EISDIR: msg("Is a directory"),
    errno.ENOTDIR: msg("Not a directory"),
    errno.ENOSPC: msg("No space left on device"),
    errno.EDQUOT: msg("Disk quota exceeded"),
    errno.EROFS: msg("Read-only file system"),
    errno.ENAMETOOLONG: msg("File name too long"),
    errno.ELOOP: msg("Too many levels of symbolic links"),
    errno.EMFILE: msg("Too many open files"),
    errno.ENFILE: msg("Too many open files in system"),
    errno.EIO: msg("Input/output error"),
    errno.EEXIST: msg("File exists"),
    errno.EBUSY: msg("Device or resource busy"),
    errno.ETXTBSY: msg("Text file busy"),
    errno.EFBIG: msg("File too large"),
    errno.ENXIO: msg("No such device or address"),
    errno.ENOMEM: msg("Cannot allocate memory"),
    errno.ECONNREFUSED: msg("Connection refused"),
    errno.ETIMEDOUT: msg("Connection timed out"),
    errno.EHOSTUNREACH: msg("No route to host"),
}


def system_reason(exc: BaseException, what: Message) -> Message:
    """``what`` failed, and why, as the system said it: in the reader's language where its words are known
    (:data:`_SYSTEM_SAYS`), else quoted as they are (the system speaks English)."""
    known = _SYSTEM_SAYS.get(exc.errno) if isinstance(exc, OSError) and isinstance(exc.errno, int) else None
    if known is not None:
        return msg("{what}: {reason}", what=what, reason=known)
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return msg("{what}: {reason}", what=what, reason=quote(str(reason)[:200], 200))


def internal_error(exc: BaseException) -> Message:
    """A defect of this library, in words: what broke (the exception's own words quoted), and what to do."""
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    return msg("internal error ({error}); this is a bug in compliance: please report it with this file",
               error=quote(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__, 240))
