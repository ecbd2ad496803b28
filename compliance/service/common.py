"""What the API and the web pages share: problem answers, request bodies and uploads read within their limits,
the bundled rule sets, and stored audits with the reports drawn from them."""
from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import orjson
from fastapi import Request
from fastapi.responses import Response

from ..compile import load_ruleset
from ..contract import kind_of
from ..errors import Problem as ProblemType
from ..errors import ProfileError
from ..evaluation import evaluate
from ..i18n import Message, language, msg, quote, text
from ..layers import bundled_names
from ..model import CHINA, RuleSet, plain_document
from ..profile import load_profile
from ..reading import parse
from . import auth, settings
from .batches import INPUT_SUFFIXES, MEDIA_TYPES, OUTPUTS, Batches
from .store import Account, AuditRow, IdempotencyKey, KeyReused, RulesSetting, Store, Submission, audit_kind

PROFILE_LIMIT = 1 << 20          # a profile is at most 1 MiB
UPLOAD_LIMIT = 50 << 20          # an upload at most 50 MiB
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
PROBLEM = "application/problem+json"
DEFAULT_DATA = "compliance-batches"      # in the folder the service starts in, beside compliance.db


class Problem(Exception):
    """An error answered as an RFC 9457 problem document, worded in the request's language when it is answered.

    ``problems`` are the located problems of a profile or request, each ``{"path": …, "message": …}`` with the
    message a :class:`~compliance.i18n.Message` (or words already chosen)."""

    def __init__(self, status: int, title: Message, detail: Message | None = None, *,
                 problems: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(title.text("en"))
        self.status, self.title, self.detail, self.problems, self.headers = status, title, detail, problems, headers

    def document(self, instance: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": "about:blank", "title": text(self.title), "status": self.status}
        if self.detail is not None:
            doc["detail"] = text(self.detail)
        doc["instance"] = instance
        if self.problems is not None:
            doc["problems"] = [{k: (text(v) if isinstance(v, Message) else v) for k, v in p.items()}
                               for p in self.problems]
        return doc


def problem_response(problem: Problem, instance: str) -> Response:
    return Response(orjson.dumps(problem.document(instance)), status_code=problem.status, media_type=PROBLEM,
                    headers={**(problem.headers or {}), "Content-Language": language()})


@lru_cache(maxsize=1)
def bundled() -> tuple[str, ...]:
    return bundled_names()


def bundled_ruleset(name: str) -> RuleSet:
    if name not in bundled():
        raise Problem(422, msg("Unknown rule set"), msg("the rule set must be one of {names}",
                                                        names=[quote(n) for n in bundled()]),
                      problems=[{"path": "rules", "message": msg("{name} is not a rule set of this service",
                                                                 name=quote(name))}])
    return load_bundled(name)


@lru_cache(maxsize=None)
def load_bundled(name: str) -> RuleSet:
    return load_ruleset(name)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, msg("The request body is too large"), msg("the limit is {limit:,} bytes", limit=limit))
    chunks, size = [], 0
    receive = within(request.receive, PROFILE_SECONDS)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Problem(400, msg("The client went away"))
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Problem(413, msg("The request body is too large"), msg("the limit is {limit:,} bytes", limit=limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


# A profile's body must arrive within 30 s and an upload's within 300 s (50 MiB at 170 KB/s), so a slow
# client cannot hold the service; COMPLIANCE_BODY_SECONDS sets both (for a slow link, or a test).
PROFILE_SECONDS = settings.seconds("COMPLIANCE_BODY_SECONDS", 30.0)
UPLOAD_SECONDS = settings.seconds("COMPLIANCE_BODY_SECONDS", 300.0)


def within(receive: Any, seconds: float) -> Any:
    """``receive`` with a deadline for the whole body: 408 when it passes."""
    deadline = time.monotonic() + seconds

    async def receive_in_time() -> Any:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise asyncio.TimeoutError
            return await asyncio.wait_for(receive(), left)
        except asyncio.TimeoutError:
            raise Problem(408, msg("The request body came too slowly"),
                          msg("a body must arrive within {seconds} seconds", seconds=round(seconds))) from None

    return receive_in_time


async def capped_form(request: Request, limit: int, seconds: float, *, max_files: int, max_fields: int) -> Any:
    """A posted form, read within ``seconds`` and ``limit`` bytes: a client that sends it byte by byte, or endlessly,
    is answered 408 or 413 instead of holding its request open."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, msg("The request body is too large"), msg("the limit is {limit:,} bytes", limit=limit))
    receive, seen = within(request.receive, seconds), [0]

    async def capped() -> Any:
        message = await receive()
        seen[0] += len(message.get("body", b""))
        if seen[0] > limit:
            raise Problem(413, msg("The request body is too large"), msg("the limit is {limit:,} bytes", limit=limit))
        return message

    return await Request(request.scope, capped).form(max_files=max_files, max_fields=max_fields)


def media_type_of(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def profile_from(raw: bytes, media_type: str, rules: RuleSet, where: str) -> Any:
    """A validated Profile from a request body, or a 415/422 problem."""
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        name = f"{where}.json"
    elif media_type in YAML_TYPES:
        name = f"{where}.yaml"
    else:
        raise Problem(415, msg("Unsupported media type"), msg("send the profile as {json} or {yaml}",
                                                              json=quote("application/json"),
                                                              yaml=quote("application/yaml")))
    try:
        document = parse(raw, name, ProfileError)
        if not isinstance(document, dict):
            raise ProfileError(msg("the document is {what}; a profile is a mapping with the keys center, population and "
                                   "space", what=kind_of(document)), file=name)
        profile = load_profile(document, vocabulary=rules.vocabulary)
    except ProfileError as exc:
        raise profile_problem(exc) from None
    object.__setattr__(profile, "raw_sha256", hashlib.sha256(raw).hexdigest())
    object.__setattr__(profile, "source", where)
    return profile


def profile_problem(exc: ProfileError) -> Problem:
    problems = [{"path": p.json_path, "message": p.text} for p in exc.problems] or \
        [{"path": "$", "message": exc.text}]
    return Problem(422, msg("The profile is not valid"), exc.text, problems=problems)


def audit_document(row: AuditRow, result: bytes, warnings: Sequence[ProblemType | dict[str, str]] = ()) -> bytes:
    """The stored result document with the audit's id and when it was stored, as bytes; with ``warnings`` (what
    was read but may not be as meant: a key the contract does not know), those as ``{"path", "message"}``."""
    head: dict[str, Any] = {"id": row.id, "submitted_at": row.submitted_at.isoformat()}
    if warnings:
        head["warnings"] = [w if isinstance(w, dict) else {"path": w.json_path, "message": w.message} for w in warnings]
    extra = orjson.dumps(head)
    return extra[:-1] + b"," + result[1:]


# --------------------------------------------------------------------------- the service's rule set

FALLBACK_RULES = "national"          # the service's rule set until one is chosen
RULES_SECONDS = 5.0                  # how long a process trusts the rule set it read (another may have changed it)
_RULES: dict[int, tuple[str, float]] = {}


def service_rules(store: Store) -> str:
    """The service's rule set: the one chosen (``serve --rules`` at the first start, or a bureau account later),
    else the national baseline. Read again at most every few seconds."""
    now = time.monotonic()
    known = _RULES.get(id(store))
    if known is not None and known[1] > now:
        return known[0]
    setting = store.rules_setting()
    name = setting.name if setting is not None and setting.name in bundled() else FALLBACK_RULES
    _RULES[id(store)] = (name, now + RULES_SECONDS)
    return name


def choose_rules(store: Store, name: str, chosen_by: str | None, *, unless_chosen: bool = False) -> RulesSetting:
    """Make a bundled rule set the service's (``chosen_by``: the account; None: ``serve --rules``)."""
    bundled_ruleset(name)                       # 422 for a name the service does not have
    setting = store.choose_rules(name, chosen_by, unless_chosen=unless_chosen)
    _RULES.pop(id(store), None)
    return setting


def rules_asked(store: Store, rules: str | None) -> RuleSet:
    """The rule set a request names (422 for an unknown one), else the service's."""
    return bundled_ruleset(rules or service_rules(store))


# --------------------------------------------------------------------------- storing an audit, once

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[!-~]{1,255}$"             # visible ASCII: a UUID, a hash, a client's own request id


@dataclass(frozen=True)
class Submitted:
    """An audit submitted: the answer's status (201 stored, 200 identical to the centre's latest and not stored
    again, or the first answer's for a repeated Idempotency-Key), its body, and the audit."""
    status: int
    body: bytes
    row: AuditRow
    replayed: bool = False

    @property
    def location(self) -> str:
        return f"/v1/audits/{self.row.id}"


def idempotency_key(account: Account, key: str | None, rules: str | None, media_type: str, raw: bytes) -> IdempotencyKey | None:
    """An Idempotency-Key as the store keeps it: per account, with a fingerprint of what the request asks (the rule
    set it names, the media type and the body), so the same key for another request is told apart."""
    if key is None:
        return None
    if not re.fullmatch(KEY_PATTERN, key):
        raise Problem(422, msg("The request is not valid"), problems=[{"path": IDEMPOTENCY_HEADER, "message": msg(
            "an idempotency key is 1 to 255 visible ASCII characters, such as a UUID")}])
    asked = hashlib.sha256()
    for part in ((rules or "").encode(), media_type.encode(), raw):
        asked.update(hashlib.sha256(part).digest())
    return IdempotencyKey(account.id, key, asked.hexdigest())


def key_reused(key: str) -> Problem:
    return Problem(422, msg("The idempotency key was used for another request"),
                   msg("this account sent the key {key} within the last 24 hours with another body or rule set; use a "
                       "new key for a new request", key=quote(key)),
                   problems=[{"path": IDEMPOTENCY_HEADER, "message": msg("was used for another request")}])


def replayed(store: Store, first: Submission) -> Submitted:
    """The first answer to an Idempotency-Key, again."""
    found = store.audit(first.row.id)
    assert found is not None                    # audits are never removed
    warnings = orjson.loads(first.warnings) if first.warnings else []
    return Submitted(first.status, audit_document(first.row, found[1], warnings), first.row, replayed=True)


def submit_audit(store: Store, account: Account, profile: Any, ruleset: RuleSet, raw: bytes, media_type: str, *,
                 key: IdempotencyKey | None = None) -> Submitted:
    """The one path from a validated profile to a stored audit, for the API and the pages alike: evaluated and
    stored unless it is identical to the centre's latest audit under the same rule set and of the same kind (then
    that audit, status 200), or its Idempotency-Key was used before (then the first answer, or 422 for another
    request). The result document is worded in the language in force."""
    try:
        if key is not None:
            first = store.first_answer(key)
            if first is not None:
                return replayed(store, first)
        from .waivers import waivers_for

        result = evaluate(profile, ruleset, waivers=waivers_for(store, profile.id, ruleset))
        document = result.to_json(language())
        warnings = [{"path": w.json_path, "message": w.message} for w in profile.warnings]
        done = store.submit_audit(result, document, profile=raw, profile_type=media_type, submitted_by=account.name,
                                  key=key, warnings=orjson.dumps(warnings) if warnings else None,
                                  beside={"remedies": remedy_words(result)})
    except KeyReused:
        assert key is not None
        raise key_reused(key.key) from None
    if done.replayed:
        return replayed(store, done)
    if not done.created:                        # the stored audit's own document, as it was answered then
        found = store.audit(done.row.id)
        assert found is not None
        document = found[1]
    return Submitted(done.status, audit_document(done.row, document, warnings), done.row)


_SHORT = frozenset({"fail", "partial", "missing"})


def remedy_words(result: Any) -> dict[str, dict[str, str]]:
    """What each clause not met asks for, in Chinese and in English (clause → {"zh", "en"}): an action opened by an
    inspection keeps both, since the community may read it in the other language from the one it was submitted in.
    Only for an inspection (a self-check opens no action)."""
    if audit_kind(plain_document(result.profile)) != "inspection":
        return {}
    return {f.clause.clause: {"zh": f.message("zh"), "en": f.message("en")}
            for f in result.findings if f.status.value in _SHORT}


def readable_audit(request: Request, account: Account, audit_id: str) -> tuple[AuditRow, bytes, bytes, str]:
    store: Store = request.app.state.store
    found = store.audit(audit_id)
    if found is None or not auth.may_read(account, found[0].centre_id):
        raise Problem(404, msg("No such audit"))       # another centre's audit: its existence is not revealed
    return found


def rerun_audit(row: AuditRow, profile: bytes, media_type: str) -> Any:
    """The stored audit as an AuditResult again, for its reports: only under the very rule set it was made with."""
    rules = load_bundled(row.ruleset_id) if row.ruleset_id in bundled() else None
    if rules is None or rules.content_hash != row.ruleset_hash:
        raise Problem(409, msg("The rule set has changed since this audit"),
                      msg("its result document is kept as it was; its report can no longer be drawn from the same "
                          "rules"))
    result = evaluate(profile_from(profile, media_type, rules, "profile"), rules)
    return result


def batch_file_response(batches: Batches, batch: Any, name: str) -> Response:
    """One output of a batch as a download, or 404 (the API's route and the dashboard's link both answer so)."""
    from fastapi.responses import FileResponse

    path = batches.file(batch, name) if batch is not None else None
    if path is None:
        raise Problem(404, msg("No such file"), msg("a finished batch has {files}, and {errors} when input was refused",
                                                    files=[quote(n) for n in OUTPUTS if n != "errors.csv"],
                                                    errors=quote("errors.csv")))
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                        headers={"Content-Disposition": content_disposition(round_file_name(batch, name))})


def local_date(when: datetime) -> str:
    return when.astimezone(CHINA).strftime("%Y-%m-%d")


def round_file_name(batch: Any, name: str) -> str:
    """An output of a batch under a name that says which round it is: the upload's name and the day it was uploaded
    (鄞州区2026采集表-2026-11-22-summary.xlsx); the links keep the documented names."""
    return f"{Path(batch.filename).stem}-{local_date(batch.submitted_at)}-{name}"


def report_file_name(row: AuditRow, suffix: str) -> str:
    """A stored audit's report under a name that says whose and when (330212-SN-0103-2026-11-22.pdf)."""
    return f"{row.centre_id}-{local_date(row.submitted_at)}.{suffix}"


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """A Content-Disposition offering a file under ``name``: RFC 6266 with the name in UTF-8 as RFC 5987's
    ``filename*``, and a plain ASCII ``filename`` for clients that know only that one."""
    import re
    from urllib.parse import quote as percent

    name = re.sub(r'[\x00-\x1f\x7f/\\]', "_", name)
    if re.fullmatch(r"[A-Za-z0-9._-]+", name):
        return f'{disposition}; filename="{name}"'
    plain = re.sub(r"_*([-.])_*", r"\1", re.sub(r"[^A-Za-z0-9._-]+", "_", name))
    stem, dot, suffix = plain.rpartition(".")
    fallback = (stem.strip("_.") or "download") + dot + suffix if dot else plain.strip("_.") or "download"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{percent(name, safe='')}"


async def read_upload(request: Request, folder: Path) -> tuple[Path, str, dict[str, str]]:
    """The multipart upload's ``file`` saved to a temporary file under ``folder``: (its path, a safe name,
    the form's other fields)."""
    import shutil
    import tempfile

    from starlette.datastructures import UploadFile

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > UPLOAD_LIMIT:
        raise Problem(413, msg("The upload is too large"), msg("the limit is {limit:,} bytes", limit=UPLOAD_LIMIT))
    if not media_type_of(request).startswith("multipart/form-data"):
        raise Problem(415, msg("Unsupported media type"), msg("send the file as {type} in a field named {field}",
                                                              type=quote("multipart/form-data"), field=quote("file")))
    receive, seen = within(request.receive, UPLOAD_SECONDS), [0]

    async def capped() -> Any:             # the cap holds for a body sent without a length, too
        message = await receive()
        seen[0] += len(message.get("body", b""))
        if seen[0] > UPLOAD_LIMIT:
            raise Problem(413, msg("The upload is too large"), msg("the limit is {limit:,} bytes", limit=UPLOAD_LIMIT))
        return message

    try:
        form = await Request(request.scope, capped).form(max_files=1, max_fields=10)
    except Problem:
        raise
    except Exception:  # noqa: BLE001 - a malformed multipart body is the client's
        raise Problem(422, msg("The upload is not a valid form"), msg("send the file as {type} in a field named {field}",
                                                                      type=quote("multipart/form-data"),
                                                                      field=quote("file"))) from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Problem(422, msg("The request is not valid"), msg("send the centres in a form field named {field}",
                                                                field=quote("file")),
                      problems=[{"path": "file", "message": msg("is missing")}])
    filename = safe_filename(upload.filename or "")
    if filename is None:
        raise Problem(415, msg("Unsupported file type"), msg("upload a workbook in the template's layout ({xlsx}), or a "
                                                             "{csv} or {jsonl} file", xlsx=quote(".xlsx"),
                                                             csv=quote(".csv"), jsonl=quote(".jsonl")))
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".upload-", delete=False) as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    await form.close()
    if filename.endswith(".xlsx"):
        await asyncio.to_thread(check_upload, Path(out.name), filename)
    return Path(out.name), filename, fields


def check_upload(path: Path, filename: str) -> None:
    """Refuse (422) a workbook upload the round would refuse whole: a decompression bomb, or no zip archive at all.

    Told now rather than as a failed batch later: the upload is within its size limit (so not 413) but its
    content cannot be read, and the client is still there to hear why. The check inflates without keeping
    anything (0.15 s for a 25,000-centre workbook); the round checks again before it reads."""
    from ..batch.archive import check_workbook
    from ..batch.sources import SourceError

    try:
        check_workbook(path.read_bytes(), filename, SourceError)
    except SourceError as exc:
        path.unlink(missing_ok=True)
        raise Problem(422, msg("The workbook is refused"), msg("{file}: {problem}", file=filename, problem=exc.text),
                      problems=[{"path": "file", "message": exc.text}]) from None


def safe_filename(name: str) -> str | None:
    """The upload's own file name where it is safe (it appears in every location of errors.csv), else a plain one."""
    import re

    base = re.split(r"[\\/]", name)[-1].strip()
    suffix = Path(base).suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        return None
    stem = re.sub(r"[^\w.-]", "_", Path(base).stem).strip("._")[:80]
    return (stem or "centres") + suffix


@lru_cache(maxsize=64)
def stored_report(row: AuditRow, profile: bytes, media_type: str, kind: str, lang: str) -> bytes:
    """A stored audit's report, drawn once (a stored audit never changes) and kept for its next reader."""
    from ..rendering import render

    out = render(rerun_audit(row, profile, media_type), kind, lang=lang)
    return out if isinstance(out, bytes) else (out or "").encode("utf-8")
