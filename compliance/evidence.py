"""Evidence: the photos and documents a profile gives as proof, clause by clause.

A profile names evidence in its ``evidence`` block, by clause id: a file beside
the profile (``file: photos/hall.jpg``) or a file the service stores, named by
its SHA-256. :func:`~compliance.load_profile` never reads a file; the command
line, a round and :func:`read_evidence` do, when the profile comes from a file.

Evidence files are untrusted input. Each is opened one path component at a time
below the profile's folder, never following a symbolic link (``O_NOFOLLOW`` on
every component), so nothing outside that folder is ever read; it must be a
regular file of at most 10 MiB, a JPEG, PNG or PDF by its bytes (and its name
must say the same), and an image must decode within a bounded number of pixels,
with Pillow's decompression-bomb guard on. Anything else is a problem at the
item's JSON path (and line), never a crash, and no message holds a byte of any
file: only the name the profile gave.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import stat
import threading
import warnings
from typing import Any, Iterator, Mapping

from . import reading
from .errors import Problem, ProfileError, problems_message, system_reason
from .i18n import Message, msg, quote
from .model import SELF_CHECK, AuditInfo, EvidenceItem, FrozenDict, Profile, RuleSet, make_profile, plain_document
from .profile import MAX_EVIDENCE_ITEMS, clause_problems, file_problem

__all__ = ["read_evidence", "evidence_of", "audit_of", "MAX_EVIDENCE_BYTES", "MAX_EVIDENCE_ITEMS", "MAX_PIXELS"]

MAX_EVIDENCE_BYTES = 10 << 20        # 10 MiB a file
MAX_PIXELS = 89_478_485              # Pillow's own bound (a 12,000 × 7,456 photo); a bomb is refused before decoding
_DECODED_PNG = 16_000_000           # a PNG up to this many pixels is decoded whole (at most 64 MB); a larger one verified
#: how evidence files are opened: never through a link, never blocking on a pipe
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
_DIR_FLAGS = OPEN_FLAGS | getattr(os, "O_DIRECTORY", 0)
_KINDS = {"image/jpeg": (".jpg", ".jpeg"), "image/png": (".png",), "application/pdf": (".pdf",)}
_KIND_NAMES = {"image/jpeg": msg("a JPEG image"), "image/png": msg("a PNG image"), "application/pdf": msg("a PDF document")}
_EMPTY: Mapping[str, tuple[EvidenceItem, ...]] = FrozenDict()


def audit_of(profile: Profile) -> AuditInfo:
    """The profile's ``audit`` block as an :class:`~compliance.AuditInfo` (a self-check when there is none)."""
    block = plain_document(profile).get("audit")
    return SELF_CHECK if block is None else AuditInfo.of(block)


def evidence_of(profile: Profile) -> Mapping[str, tuple[EvidenceItem, ...]]:
    """Clause id → its evidence items: as read and hashed by :func:`read_evidence`, or, for a profile whose files
    were not read, as written (an item naming a file then has no ``sha256``)."""
    read = profile.__dict__.get("_evidence")
    if read is not None:
        return read  # type: ignore[no-any-return]
    block = plain_document(profile).get("evidence")
    if not block:
        return _EMPTY
    return FrozenDict({clause: tuple(_declared(clause, item) for item in items) for clause, items in block.items()})


def _declared(clause: str, item: Mapping[str, Any]) -> EvidenceItem:
    return EvidenceItem(clause, item.get("sha256"), item.get("file"), item.get("note"), item.get("taken_on"))


def folder_of(location: str) -> str | None:
    """The folder evidence is read from for a profile read at ``location`` (a YAML or JSON file, or a line of a
    JSON Lines file, ``centres.jsonl:3``); None for standard input and for centres read from a table."""
    if location == "-" or location.startswith("<"):
        return None
    name = location
    head, _, line = location.rpartition(":")
    if line.isdigit() and head.lower().endswith(".jsonl"):
        name = head
    elif not name.lower().endswith((".yaml", ".yml", ".json", ".jsonl")):
        return None
    return os.path.dirname(os.path.abspath(name))


def check_clauses(profile: Profile, rules: RuleSet) -> None:
    """Refuse a profile whose evidence names a clause ``rules`` does not have (a :class:`ProfileError`)."""
    problems = clause_problems(plain_document(profile), rules, profile.source)
    if problems:
        raise ProfileError(problems_message(len(problems), msg("the profile")), file=profile.source,
                           total=len(problems), problems=problems)


def read_evidence(profile: Profile, folder: str | os.PathLike[str] | None = None, *,
                  raw: bytes | None = None) -> Profile:
    """The profile with its evidence files read and hashed: each ``file`` is looked for in ``folder`` (by default
    the folder of the profile's file) and never outside it. Returns a Profile whose results list every item with
    its SHA-256 (:attr:`compliance.Finding.evidence`), and for a file its resolved path, type and size.

    Raises :class:`~compliance.ProfileError` with one located problem per item that cannot be used: a missing
    file, a folder, a symbolic link, another type than JPEG, PNG or PDF (by its bytes), a name that says another
    type, more than 10 MiB, an image that does not decode or has too many pixels. ``raw`` (the profile file's
    bytes) lets the problems name their lines."""
    data = plain_document(profile)
    block = data.get("evidence")
    if not block:
        return profile
    source = profile.source
    wants_files = any("file" in item for items in block.values() for item in items)
    if folder is None and wants_files:
        if source in ("-", "<dict>") or source.startswith("<"):
            unread = [Problem(msg("evidence files are read from the profile's folder, and this profile is not "
                                    "a file (give it as a file, or name the evidence by its SHA-256)"),
                                ("evidence", clause, i, "file"), source)
                        for clause, items in block.items() for i, item in enumerate(items) if "file" in item]
            _refuse(unread, source, raw)
        folder = os.path.dirname(os.path.abspath(source))
    base = os.path.abspath(os.fspath(folder)) if folder is not None else None
    problems: list[Problem] = []
    found: dict[str, tuple[EvidenceItem, ...]] = {}
    seen: dict[str, EvidenceItem | Problem] = {}
    count = 0
    for clause, items in block.items():
        out = []
        for i, item in enumerate(items):
            count += 1
            name = item.get("file")
            if name is None:
                out.append(_declared(clause, item))
                continue
            if count > MAX_EVIDENCE_ITEMS:      # load_profile refused these; a profile built otherwise is told here
                problems.append(Problem(msg("{count:,} evidence items; a profile may have at most {limit}",
                                            count=count, limit=MAX_EVIDENCE_ITEMS), ("evidence",), source))
                break
            path = ("evidence", clause, i, "file")
            assert base is not None
            key = name.replace("\\", "/")
            done = seen.get(key)
            if done is None:
                done = seen[key] = _read(base, name, path, source)
            if isinstance(done, Problem):
                problems.append(Problem(done.text, path, source))
                continue
            out.append(EvidenceItem(clause, done.sha256, name, item.get("note"), item.get("taken_on"),
                                    done.media_type, done.size, done.path))
        found[clause] = tuple(out)
    if problems:
        _refuse(problems, source, raw)
    copy = make_profile(data, source, profile.raw_sha256, profile.__dict__.get("_facts"), profile.vocabulary,  # type: ignore[arg-type]
                        profile.warnings)
    copy.__dict__["_evidence"] = FrozenDict(found)
    return copy


def _refuse(problems: list[Problem], source: str, raw: bytes | None) -> None:
    if raw is None and not source.startswith("<") and source != "-":
        try:
            raw = reading.read_bytes(source, ProfileError)
        except ProfileError:
            raw = None
    raise ProfileError(problems_message(len(problems), msg("the profile's evidence")), file=source,
                       total=len(problems), problems=reading.locate(problems, raw))


def _read(base: str, name: str, path: tuple[Any, ...], source: str) -> EvidenceItem | Problem:
    """One evidence file, opened below ``base`` without following any link; its item (hash, type, size and
    resolved path) or the problem with it."""
    def problem(message: Message) -> Problem:
        return Problem(message, path, source)

    wrong = file_problem(name)
    if wrong is not None:
        return problem(wrong)
    shown = quote(name, 80)
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    try:
        folder = os.open(base, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))    # the profile's own folder: trusted
    except OSError as exc:
        return problem(_os_problem(exc, shown))
    fd = -1
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, _DIR_FLAGS, dir_fd=folder)
            except OSError as exc:
                # O_DIRECTORY with O_NOFOLLOW on a link says ENOTDIR: name the link as what it is
                said = OSError(errno.ELOOP, "") if _is_link(part, folder) else exc
                return problem(_os_problem(said, shown, folder_part=part))
            os.close(folder)
            folder = inner
        try:
            fd = os.open(parts[-1], OPEN_FLAGS, dir_fd=folder)
        except OSError as exc:
            return problem(_os_problem(exc, shown))
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return problem(msg("{file} is a folder, not a file", file=shown))
        if not stat.S_ISREG(info.st_mode):
            return problem(msg("{file} is not a regular file (a device, a pipe or a socket); evidence is a photo or "
                               "a PDF", file=shown))
        if info.st_size > MAX_EVIDENCE_BYTES:
            return problem(msg("{file} is {size:,} bytes; an evidence file may be at most 10 MiB ({limit:,} bytes)",
                               file=shown, size=info.st_size, limit=MAX_EVIDENCE_BYTES))
        data = read_capped(fd)
    except OSError as exc:
        return problem(_os_problem(exc, shown))
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(folder)
    if len(data) > MAX_EVIDENCE_BYTES:
        return problem(msg("{file} is more than 10 MiB; an evidence file may be at most {limit:,} bytes",
                           file=shown, limit=MAX_EVIDENCE_BYTES))
    if not data:
        return problem(msg("{file} is empty", file=shown))
    kind = media_type(data)
    if kind is None:
        return problem(msg("{file} is not a JPEG, PNG or PDF file (by its content); evidence is a photo or a PDF",
                           file=shown))
    suffix = os.path.splitext(parts[-1])[1].lower()
    if suffix not in _KINDS[kind]:
        expected = quote(os.path.splitext(parts[-1])[0] + _KINDS[kind][0], 80)
        if not suffix:
            return problem(msg("{file} is {kind}, but its name has no extension; name it {expected}", file=shown,
                               kind=_KIND_NAMES[kind], expected=expected))
        return problem(msg("{file} is {kind}, but its name ends in {suffix}; name it {expected}", file=shown,
                           kind=_KIND_NAMES[kind], suffix=quote(suffix, 20), expected=expected))
    bad = check_content(data, kind, shown)
    if bad is not None:
        return problem(bad)
    resolved = os.path.join(base, *parts)
    return EvidenceItem("", hashlib.sha256(data).hexdigest(), name, None, None, kind, len(data), resolved)


def _is_link(name: str, folder: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def media_type(data: bytes) -> str | None:
    """``image/jpeg``, ``image/png`` or ``application/pdf`` by the first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def read_capped(fd: int) -> bytes:
    """An open file's bytes, at most one more than an evidence file may have (so an oversized one shows itself)."""
    chunks = []
    left = MAX_EVIDENCE_BYTES + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_STRICT = threading.Lock()


@contextlib.contextmanager
def strict_decoding() -> Iterator[None]:
    """Pillow refusing a cut-short image while the block runs: WeasyPrint, once imported, tells Pillow to load
    truncated images for the whole process (``ImageFile.LOAD_TRUNCATED_IMAGES``), which would let a damaged photo
    pass. One block at a time; the setting is put back after."""
    from PIL import ImageFile

    with _STRICT:
        was = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = was


def check_content(data: bytes, kind: str, shown: str) -> Message | None:
    """Why the file cannot be used as what its bytes say it is (``kind``, from :func:`media_type`), or None: a PDF
    with no end marker, an image that does not decode or has too many pixels. ``shown`` names it in the message.
    The command line's check of a profile's files and the service's of an upload."""
    if kind == "application/pdf":
        if b"%%EOF" not in data[-2048:]:
            return msg("{file} is a PDF document that is cut short (it has no end marker)", file=shown)
        return None
    from PIL import Image

    try:
        with strict_decoding(), warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG" if kind == "image/jpeg" else "PNG"]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    return _too_many(shown, width, height)
                if kind == "image/jpeg":
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))   # decode every byte, at 1/8 scale
                    image.load()
                else:
                    image.verify()          # every chunk's checksum, to the end
            if kind == "image/png" and width * height <= _DECODED_PNG:
                with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                    image.load()            # and its pixels, where that costs little memory
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return msg("{file} is an image of too many pixels; the limit is {limit:,}", file=shown, limit=MAX_PIXELS)
    except Exception:  # noqa: BLE001 - whatever a broken image makes Pillow raise, the file is not usable
        return msg("{file} is damaged or cut short: the image cannot be decoded", file=shown)
    return None


def _too_many(shown: str, width: int, height: int) -> Message:
    return msg("{file} is an image of {width:,} × {height:,} pixels; the limit is {limit:,} pixels", file=shown,
               width=width, height=height, limit=MAX_PIXELS)


def _os_problem(exc: OSError, shown: str, folder_part: str | None = None) -> Message:
    code = exc.errno
    if code == errno.ENOENT:
        return msg("{file} is not in the profile's folder (no such file)", file=shown)
    if code == errno.ELOOP:
        return msg("{file} is reached through a symbolic link; evidence is read only from files in the profile's "
                   "folder, not through links", file=shown)
    if code == errno.ENOTDIR:
        return msg("{file} is not in the profile's folder ({part} is not a folder)", file=shown,
                   part=quote(folder_part or "", 80))
    if code in (errno.EACCES, errno.EPERM):
        return msg("{file} cannot be read (permission denied)", file=shown)
    if code == errno.EISDIR:
        return msg("{file} is a folder, not a file", file=shown)
    if code == errno.ENAMETOOLONG:
        return msg("{file}: the name is too long", file=shown)
    return system_reason(exc, msg("{file} cannot be read", file=shown))
