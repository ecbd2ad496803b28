"""Writing outputs so that nothing is ever lost.

* Every file is written atomically: into a temporary file in the target's own
  folder, flushed to disk, then renamed over the target. An interrupted or
  failed write leaves the previous file intact, never half a PDF.
* A target that is a symbolic link is replaced, never written through; a
  device or named pipe (``/dev/null``) is written into, never replaced.
* ``-`` is standard output.
* :func:`plan_outputs` names the outputs of a batch so that no two collide and
  none replaces an input, and says which it renamed.
"""
from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

from contextlib import contextmanager

from .i18n import Message, msg, quote
from .errors import ReportError, system_reason

STDOUT = "-"


class StdoutError(ReportError):
    """Standard output cannot be written (a full device, a closed pipe): nothing more can be printed."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def write_stdout(data: bytes | str) -> None:
    """Write to standard output, or raise StdoutError("cannot write to standard output: …")."""
    stream = sys.stdout
    if stream is None:
        raise StdoutError(msg("cannot write to standard output: it is closed"))
    try:
        if isinstance(data, bytes):
            stream.flush()
            stream.buffer.write(data)
            stream.buffer.flush()
        else:
            stream.write(data)
            stream.flush()
    except (OSError, ValueError) as exc:
        if isinstance(exc, BrokenPipeError):
            raise StdoutError(msg("cannot write to standard output: the reader closed the pipe")) from exc
        raise StdoutError(system_reason(exc, msg("cannot write to standard output"))) from exc


def _stream_target(path: Path) -> bool:
    """True for a character device, FIFO or socket (``/dev/null``, a named pipe, ``/dev/stdout``):
    written into as a stream, never replaced by a file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def write_atomic(target: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``target`` (``-``: standard output) atomically; ReportError naming the file on failure.

    A regular file (or a new one) is written to a temporary file in the same
    folder and renamed over the target, so a reader never sees half a report
    and a failed write leaves the old one; a symbolic link is replaced, not
    followed. A device or a named pipe (``/dev/null``) is written into as it is.
    """
    name = os.fspath(target)
    if name == STDOUT:
        write_stdout(data)
        return
    if not name:
        raise ReportError(msg("no output file name was given"))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path = Path(name)
    if path.is_dir() and not path.is_symlink():
        raise ReportError(msg("cannot write the report: it is a folder"), file=name)
    if _stream_target(path):
        try:
            with open(path, "wb") as fh:
                fh.write(payload)
        except OSError as exc:
            raise ReportError(system_reason(exc, msg("cannot write the report")), file=name) from None
        return
    if path.exists() and not path.is_symlink() and not path.is_file():
        raise ReportError(msg("cannot write the report: it is not a regular file"), file=name)
    with atomic_stream(name, msg("cannot write the report")) as fh:
        fh.write(payload)


@contextmanager
def atomic_stream(target: str | os.PathLike[str], failure: Message | None = None) -> Iterator[IO[bytes]]:
    """An output written as a stream, still atomically: into a temporary file beside ``target``, flushed
    to disk and renamed over it only when the block ends without an exception (else removed). A failure
    is a ReportError "``failure``: why" ("cannot write" by default) naming the target."""
    failure = failure or msg("cannot write")
    path = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".compliance-", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise ReportError(system_reason(exc, failure), file=str(target)) from None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), _MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ReportError(system_reason(exc, failure), file=str(target)) from None
        raise


def put_in_place(made: Path, target: Path) -> None:
    """A file ``made`` beside ``target`` (in the same file system) put in its place: renamed over it, so a reader
    sees the old file or the new one, never half of it; a device or named pipe at ``target`` is written into."""
    try:
        if _stream_target(target):
            with open(made, "rb") as source, open(target, "wb") as sink:    # a mebibyte at a time
                shutil.copyfileobj(source, sink, 1 << 20)
            made.unlink()
        else:
            os.replace(made, target)
    except OSError as exc:
        raise ReportError(system_reason(exc, msg("cannot write")), file=str(target)) from None


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when two paths name one file (after links), whether or not it exists yet."""
    if os.fspath(a) == STDOUT or os.fspath(b) == STDOUT:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


@dataclass(frozen=True)
class Planned:
    source: str
    target: Path
    note: Message | None      # why the name differs from the obvious one


def plan_outputs(sources: Sequence[str], folder: Path, suffix: str, protect: Sequence[str] = ()) -> list[Planned]:
    """One output file per source in ``folder``, named after the source, never colliding.

    Two sources with one file name (``a/centre.yaml``, ``b/centre.yaml``) get
    ``centre.md`` and ``centre-2.md``; a name that would replace an input gets
    the next free number too, as does one that would replace a file in ``protect`` (the rule
    layers in use). The ``note`` of a renamed output says why.
    """
    inputs = [s for s in list(sources) + list(protect) if s != STDOUT]
    taken: dict[str, str] = {}
    out = []
    for source in sources:
        stem = "stdin" if source == STDOUT else Path(source).stem
        n = 1
        note = None
        while True:
            name = f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}"
            target = folder / name
            clash = taken.get(name.lower())
            if clash is None and any(same_file(target, i) for i in inputs):
                note = note or msg("{name} is an input file", name=quote(f"{stem}{suffix}"))
            elif clash is None:
                break
            else:
                note = note or msg("{name} is already taken by {other}", name=quote(f"{stem}{suffix}"), other=clash)
            n += 1
        taken[name.lower()] = source
        out.append(Planned(source, target, note))
    return out
