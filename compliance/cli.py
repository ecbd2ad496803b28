"""The ``compliance`` command: argument parsing, exit codes and printing over the public API.

Exit status: 0 every centre conforms, 1 a centre is non-conforming, 2 bad
input or a bad command (the message names the file and every problem's path),
3 an internal error (a bug: one line naming the file; ``--debug`` shows the
traceback). An error never exits 1. Of several files, the worst status wins.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from . import ruletest
from .checks import CHECK_TYPES
from .compare import compare
from .compile import lint, load_ruleset
from .contract import profile_schema, result_schema, ruleset_schema
from .errors import MAX_PROBLEMS, ComplianceError, ReportError, RuleSetError
from .evaluate import evaluate
from .layers import bundled_names
from .profile import load_profile
from .render import COMPARE_RENDERERS, RENDERERS, plain_text, render
from .writing import STDOUT, StdoutError, plan_outputs, same_file, write_stdout
from .wording import LEVEL_LABELS

EXIT_OK, EXIT_NONCONFORMING, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
_STDOUT_FORMATS = ("text", "md", "json", "html")
_SUFFIX = {"text": ".txt", "md": ".md", "json": ".json", "html": ".html", "pdf": ".pdf"}
_MESSAGE_CONTROLS = {c: " " for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit 2 with a short message, as for bad input
        self.print_usage(sys.stderr)
        print(f"compliance: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)

    def print_help(self, file: Any = None) -> None:
        # argparse drops a failed write silently; a full device must be an error like any other.
        if file is None:
            write_stdout(self.format_help())
        else:
            super().print_help(file)


class _Version(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        write_stdout(f"compliance {__version__}\n")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    # --debug is accepted before or after the verb: the subcommands' copy does not reset the main one.
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an internal error, print the traceback")
    p = _Parser(prog="compliance", parents=[debug],
                description="Audit community convenience service centres (社区便民服务中心).")
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    a = sub.add_parser("audit", parents=[debug], help="score one or more centre profiles")
    a.add_argument("profiles", nargs="+", metavar="PROFILE", help="YAML or JSON profile(s); - for standard input")
    a.add_argument("--rules", default="national", metavar="NAME|PATH",
                   help="bundled rule set or a YAML file/folder (default: national)")
    a.add_argument("--format", choices=sorted(RENDERERS), help="default: text on a terminal, json otherwise")
    a.add_argument("-o", "--output", metavar="OUT",
                   help="write here (a folder when auditing several profiles; - for standard output)")
    a.add_argument("--lang", choices=("zh", "en"), default="zh")
    a.add_argument("--archival", action="store_true", help="PDF/A-3b with the JSON result attached (with --format pdf)")

    c = sub.add_parser("compare", parents=[debug], help="renovation check: the same centre before and after a plan")
    c.add_argument("before", metavar="BEFORE")
    c.add_argument("after", metavar="AFTER")
    c.add_argument("--rules", default="national", metavar="NAME|PATH")
    c.add_argument("--format", choices=sorted(COMPARE_RENDERERS), help="default: text on a terminal, json otherwise")
    c.add_argument("-o", "--output", metavar="OUT", help="write here (- for standard output)")
    c.add_argument("--lang", choices=("zh", "en"), default="zh")
    c.add_argument("--archival", action="store_true", help="PDF/A-3b with the JSON comparison attached")

    v = sub.add_parser("validate", parents=[debug], help="schema and semantic checks only")
    v.add_argument("profiles", nargs="+", metavar="PROFILE")
    v.add_argument("--rules", default="national", metavar="NAME|PATH", help="whose vocabularies to check codes against")

    r = sub.add_parser("rules", parents=[debug], help="list, show, lint or test rule sets")
    rs = r.add_subparsers(dest="action", required=True, parser_class=_Parser)
    rs.add_parser("list", parents=[debug], help="the bundled rule sets")
    show = rs.add_parser("show", parents=[debug], help="one clause as a rule set defines it")
    show.add_argument("clause")
    show.add_argument("--rules", default="national", metavar="NAME|PATH")
    show.add_argument("--lang", choices=("zh", "en"), default="zh")
    ln = rs.add_parser("lint", parents=[debug], help="check a rule set file (or folder) and the layers it extends")
    ln.add_argument("path")
    t = rs.add_parser("test", parents=[debug], help="run the rule tests (*.test.yaml) under a folder")
    t.add_argument("folder", metavar="DIR")
    t.add_argument("--rules", metavar="NAME|PATH",
                   help="the rule set for test files that name none (default: the folder's name)")

    tp = sub.add_parser("template", parents=[debug], help="write the collection workbook (.xlsx) for communities")
    tp.add_argument("target", metavar="FILE.xlsx")
    tp.add_argument("--rules", default="national", metavar="NAME|PATH", help="whose vocabularies the drop-downs offer")
    tp.add_argument("--force", action="store_true", help="replace an existing file")

    ex = sub.add_parser("export", parents=[debug], help="convert centres between YAML/JSON, JSON Lines, CSV and xlsx")
    ex.add_argument("inputs", nargs="+", metavar="INPUT", help="profile files, folders, .jsonl, .csv or .xlsx")
    ex.add_argument("-o", "--output", required=True, metavar="FILE", help="a .xlsx, .csv or .jsonl file")
    ex.add_argument("--rules", default="national", metavar="NAME|PATH", help="whose vocabularies to check codes against")

    b = sub.add_parser("batch", parents=[debug], help="audit a whole round: league table, district report")
    b.add_argument("inputs", nargs="+", metavar="INPUT", help="profile files, folders, .jsonl, .csv or .xlsx")
    b.add_argument("--rules", default="national", metavar="NAME|PATH")
    b.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="the folder the outputs go in")
    b.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: every core)")
    b.add_argument("--reports", action="store_true", help="also one PDF per centre in OUTDIR/reports/")
    b.add_argument("--previous", metavar="OLD_OUTDIR", help="compare with an earlier round's output folder")
    b.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask cluster (pip install '.[dask]')")
    b.add_argument("--lang", choices=("zh", "en"), default="zh")

    s = sub.add_parser("schema", parents=[debug], help="print the profile JSON Schema (or the rule-set or result one)")
    s.add_argument("which", nargs="?", choices=("profile", "ruleset", "result"), default="profile")

    db_help = "the database (default: $COMPLIANCE_DB, else sqlite:///compliance.db in this folder)"
    sv = sub.add_parser("serve", parents=[debug], help="run the audit service (web self-check and REST API)")
    sv.add_argument("--db", metavar="URL", help=db_help)
    sv.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    sv.add_argument("--port", type=_port, default=8000, help="default: 8000")
    sv.add_argument("--data", metavar="DIR", help="where batch uploads and outputs are kept "
                                                   "(default: compliance-batches in this folder)")

    u = sub.add_parser("users", parents=[debug], help="the service's accounts")
    us = u.add_subparsers(dest="action", required=True, parser_class=_Parser)
    ua = us.add_parser("add", parents=[debug], help="add an account and print its token (once)")
    ua.add_argument("name", metavar="NAME")
    ua.add_argument("--role", required=True, choices=("bureau", "community", "system"))
    ua.add_argument("--centre", metavar="ID", help="the centre a community account belongs to")
    ua.add_argument("--db", metavar="URL", help=db_help)
    up = us.add_parser("passwd", parents=[debug], help="set the password an account logs in to the web pages with")
    up.add_argument("name", metavar="NAME")
    up.add_argument("--db", metavar="URL", help=db_help)
    ul = us.add_parser("list", parents=[debug], help="the accounts, without their secrets")
    ul.add_argument("--db", metavar="URL", help=db_help)
    ut = us.add_parser("token", parents=[debug], help="a new token for an account (the old one stops working)")
    ut.add_argument("name", metavar="NAME")
    ut.add_argument("--db", metavar="URL", help=db_help)
    for verb, text in (("disable", "stop an account: its token, password and sessions no longer work"),
                       ("enable", "let a disabled account in again")):
        ud = us.add_parser(verb, parents=[debug], help=text)
        ud.add_argument("name", metavar="NAME")
        ud.add_argument("--db", metavar="URL", help=db_help)
    return p


def _err(message: str) -> None:
    """Print to standard error, with terminal control characters taken out of what input supplied."""
    try:
        print(message.translate(_MESSAGE_CONTROLS), file=sys.stderr)
    except (OSError, ValueError):
        pass


class _Run:
    """One command's run: which file is being worked on, and the worst exit status so far."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug
        self.status = EXIT_OK
        self.current = "the command"

    def note(self, status: int) -> None:
        self.status = max(self.status, status)

    def internal(self, exc: BaseException) -> None:
        """A bug: one line naming the file, the traceback only with --debug."""
        if self.debug:
            _err("".join(traceback.format_exception(exc)).rstrip())
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        _err(f"{self.current}: internal error ({type(exc).__name__}{': ' + detail if detail else ''}); this is a "
             "bug in compliance: please report it with this file"
             + ("" if self.debug else " (run with --debug for the traceback)"))
        self.note(EXIT_INTERNAL)

    def each(self, sources: Sequence[str], work: Callable[[str], int]) -> None:
        """Run ``work`` on every source; a bad or crashing one never stops the others."""
        for source in sources:
            self.current = source
            try:
                self.note(work(source))
            except StdoutError:
                raise
            except ComplianceError as exc:
                _err(str(exc))
                self.note(EXIT_BAD_INPUT)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - reported as an internal error, the others go on
                self.internal(exc)


def _output_format(args: argparse.Namespace) -> str:
    fmt: str = args.format or ("text" if _stdout_is_terminal() else "json")
    to_stdout = not args.output or args.output == STDOUT
    if fmt not in _STDOUT_FORMATS and not args.output:
        raise ComplianceError(f"--format {fmt} writes a file; give -o OUT (or -o - for standard output)")
    if args.archival and fmt != "pdf":
        raise ComplianceError("--archival is a PDF option; add --format pdf")
    if fmt == "pdf" and to_stdout and len(getattr(args, "profiles", ())) > 1:
        raise ComplianceError("several PDF reports cannot share standard output; give -o FOLDER")
    return fmt


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (OSError, ValueError):
        return False


def _refuse_overwriting_inputs(output: str | None, inputs: Sequence[str]) -> None:
    if output and output != STDOUT:
        for source in inputs:
            if same_file(output, source):
                raise ComplianceError(f"-o {output} is the input {source}; writing there would replace it. "
                                      "Choose another output file")


def _audit(args: argparse.Namespace, run: _Run) -> None:
    rules = load_ruleset(args.rules)
    fmt = _output_format(args)
    many = len(args.profiles) > 1
    to_stdout = not args.output or args.output == STDOUT
    targets: list[str] = []
    if many and not to_stdout:
        folder = Path(args.output)
        if folder.exists() and not folder.is_dir():
            raise ReportError("is not a folder; with several profiles, -o names a folder", file=args.output)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReportError(f"cannot create the output folder: {exc.strerror}", file=args.output) from None
        for planned in plan_outputs(args.profiles, folder, _SUFFIX[fmt], rules.layer_files):
            targets.append(str(planned.target))
            if planned.note:
                _err(f"{planned.source}: written to {planned.target} ({planned.note})")
    elif not many:
        _refuse_overwriting_inputs(args.output, [*args.profiles, *rules.layer_files])
    order = iter(range(len(args.profiles)))

    def one(source: str) -> int:
        index = next(order)
        result = evaluate(load_profile(source, rules=rules), rules)
        if targets:
            render(result, fmt, targets[index], lang=args.lang, archival=args.archival)
        elif not to_stdout:
            render(result, fmt, args.output, lang=args.lang, archival=args.archival)
        elif fmt == "json" and many:      # JSON Lines: one compact document per centre
            write_stdout(json.dumps(result.to_dict(args.lang), ensure_ascii=False) + "\n")
        else:
            out = render(result, fmt, lang=args.lang, archival=args.archival)
            assert out is not None
            write_stdout(out)
            if many:
                write_stdout("\n")
        return EXIT_OK if result.conforming else EXIT_NONCONFORMING

    run.each(args.profiles, one)


def _compare(args: argparse.Namespace, run: _Run) -> None:
    fmt = _output_format(args)
    rules = load_ruleset(args.rules)
    _refuse_overwriting_inputs(args.output, [args.before, args.after, *rules.layer_files])
    run.current = f"{args.before} → {args.after}"
    comparison = compare(args.before, args.after, rules)
    if args.output and args.output != STDOUT:
        render(comparison, fmt, args.output, lang=args.lang, archival=args.archival)
    else:
        out = render(comparison, fmt, lang=args.lang, archival=args.archival)
        assert out is not None
        write_stdout(out)
    run.note(EXIT_OK if comparison.after.conforming else EXIT_NONCONFORMING)


def _validate(args: argparse.Namespace, run: _Run) -> None:
    rules = load_ruleset(args.rules)

    def one(source: str) -> int:
        if Path(source).suffix.lower() in (".jsonl", ".csv", ".xlsx") or (source != STDOUT and Path(source).is_dir()):
            return many(source)
        profile = load_profile(source, rules=rules)
        write_stdout(plain_text(f"{source}: valid ({profile.id})") + "\n")
        return EXIT_OK

    def many(source: str) -> int:
        """A workbook, CSV, JSON Lines or folder: every centre checked, each problem at its cell or line."""
        from .batch import sources

        valid = refused = 0
        shown = [0]
        warnings = _Warnings()
        for where, item in sources.read_profiles(source, rules, warnings=warnings.found):
            warnings.show()
            if isinstance(item, ComplianceError):
                refused += 1
                _report_refused(where, item, shown, limit=MAX_PROBLEMS)
            else:
                valid += 1
        if shown[0] > MAX_PROBLEMS:
            _err(f"… and {shown[0] - MAX_PROBLEMS} more problems")
        warnings.close()
        write_stdout(plain_text(f"{source}: {valid} valid, {refused} refused") + "\n")
        return EXIT_BAD_INPUT if refused or not valid else EXIT_OK

    run.each(args.profiles, one)


def _rules(args: argparse.Namespace, run: _Run) -> None:
    if args.action == "list":
        lines = []
        for name in bundled_names():
            rs = load_ruleset(name)
            parent = rs.layers[-2] if len(rs.layers) > 1 else "—"
            lines.append(f"{name:<10} {rs.version:<8} extends {parent:<9} {len(rs.clauses):>2} clauses  "
                         f"{rs.title['zh']} / {rs.title['en']}")
        write_stdout("\n".join(lines) + "\n")
        return
    if args.action == "lint":
        run.current = args.path
        rs = lint(args.path)
        write_stdout(plain_text(f"{args.path}: ok — rule set {rs.id!r} {rs.version}, layers "
                                f"{' → '.join(rs.layers)}, {len(rs.clauses)} clauses, {len(rs.disabled)} disabled")
                     + "\n")
        return
    if args.action == "test":
        run.current = args.folder
        outcome = ruletest.run(args.folder, args.rules)
        for line in ruletest.error_lines(outcome):
            _err(line)
        write_stdout("\n".join(plain_text(line) for line in ruletest.summary(outcome)) + "\n")
        if outcome.crashes:
            run.note(EXIT_INTERNAL)
        if outcome.errors:
            run.note(EXIT_BAD_INPUT)
        elif outcome.failed:
            run.note(EXIT_NONCONFORMING)
        return
    rs = load_ruleset(args.rules)
    try:
        c = rs.clause(args.clause)
    except KeyError as exc:
        raise RuleSetError(str(exc.args[0]), file=rs.path) from None
    lang = args.lang
    lines = [
        f"{c.clause} {c.title[lang]}  [{rs.id}]",
        f"  {c.requirement[lang]}",
        f"  category {c.category} · level {c.level.value} ({LEVEL_LABELS[c.level][lang]}) · weight {c.weight:g}"
        f" · veto {'yes' if c.veto else 'no'}",
        f"  check {json.dumps(c.check, ensure_ascii=False)}",
        f"  threshold {json.dumps(c.threshold, ensure_ascii=False)} ({CHECK_TYPES[c.check_type].threshold_text(c, lang)})"
        f" set by {c.threshold_from}",
        "  set by: " + ", ".join(f"{k} {v}" for k, v in c.set_by.items()),
    ]
    if c.not_applicable_when:
        lines.append(f"  not applicable when {json.dumps(list(c.not_applicable_when), ensure_ascii=False)}")
    if c.source:
        lines.append(f"  source {', '.join(c.source)}")
    lines += [f"  note {n}" for n in c.notes]
    write_stdout("\n".join(plain_text(line) for line in lines) + "\n")


def _schema(args: argparse.Namespace, run: _Run) -> None:
    schema = {"profile": profile_schema, "ruleset": ruleset_schema, "result": result_schema}[args.which]()
    write_stdout(json.dumps(schema, ensure_ascii=False, indent=2) + "\n")


def _template(args: argparse.Namespace, run: _Run) -> None:
    from .batch import workbook

    rules = load_ruleset(args.rules)
    target = Path(args.target)
    if target.suffix.lower() != ".xlsx":
        raise ComplianceError("the template is an Excel workbook: name it .xlsx", file=args.target)
    if target.exists() and not args.force:
        raise ComplianceError("exists already (it may hold collected data); use --force to replace it",
                              file=args.target)
    _refuse_overwriting_inputs(args.target, rules.layer_files)
    workbook.build(target, rules.vocabulary, rules=args.rules)
    write_stdout(f"wrote {args.target}\n")


def _report_refused(where: str, exc: ComplianceError, shown: list[int], limit: int = 20) -> None:
    problems = getattr(exc, "problems", None) or []
    for p in problems or [None]:
        shown[0] += 1
        if shown[0] <= limit:
            if p is None:
                _err(str(exc))
            else:
                _err(f"{p.file or where}: {p.json_path + ': ' if p.path else ''}{p.message}")


class _Warnings:
    """Warnings as a reader finds them (``warning: place: message`` on standard error), the first SHOWN of them."""

    SHOWN = 20

    def __init__(self) -> None:
        self.found: list[Any] = []          # what the reader appends (Problems), printed and emptied by show()
        self.count = 0

    def show(self) -> None:
        for problem in self.found:
            self.count += 1
            if self.count <= self.SHOWN:
                _err(f"warning: {problem.file}: {problem.message}")
        self.found.clear()

    def close(self) -> None:
        self.show()
        if self.count > self.SHOWN:
            _err(f"… and {self.count - self.SHOWN} more warnings")


def _export(args: argparse.Namespace, run: _Run) -> None:
    from .batch import sources, workbook

    rules = load_ruleset(args.rules)
    if Path(args.output).suffix.lower() not in (".xlsx", ".csv", ".jsonl"):
        raise ComplianceError("export writes .xlsx, .csv or .jsonl: name the output so", file=args.output)
    _refuse_overwriting_inputs(args.output, [*args.inputs, *rules.layer_files])
    good: list[Any] = []
    shown = [0]
    warnings = _Warnings()
    for where, item in sources.read_profiles(args.inputs, rules, warnings=warnings.found):
        warnings.show()
        if isinstance(item, ComplianceError):
            _report_refused(where, item, shown)
            run.note(EXIT_BAD_INPUT)
            continue
        good.append(item)
    if shown[0] > 20:
        _err(f"… and {shown[0] - 20} more problems")
    warnings.close()
    count = workbook.export_profiles(good, args.output, rules.vocabulary, rules=args.rules)
    write_stdout(f"exported {count} centre{'s' if count != 1 else ''} to {args.output}\n")


def _batch(args: argparse.Namespace, run: _Run) -> None:
    from .batch import outputs, round as rounds, run as runner

    rules = load_ruleset(args.rules)
    if args.jobs is not None and args.jobs < 1:
        raise ComplianceError("--jobs must be 1 or more")
    previous = outputs.Previous.read(args.previous) if args.previous else None
    job = rounds.Round(inputs=args.inputs, rules=rules, outdir=Path(args.output),
                       jobs=args.jobs or runner.default_jobs(), reports=args.reports, previous=previous,
                       scheduler=args.scheduler, lang=args.lang, progress=runner.progress_wanted())
    tally = job.run()
    for warning in job.warnings:
        _err(f"warning: {warning.file}: {warning.message}")
    if job.warned > len(job.warnings):
        _err(f"… and {job.warned - len(job.warnings)} more warnings")
    for row in tally.errors:
        for where, path, message, *label in row["refused"]:
            field = f" ({label[0]})" if label and label[0] else ""
            _err(f"{where}: {path + field + ': ' if path else ''}{message}")
    if tally.refused > len(tally.errors):
        _err(f"… and {tally.refused - len(tally.errors)} more refused centres: see errors.csv")
    counts = (f"audited {tally.audited} centre{'s' if tally.audited != 1 else ''}: "
              f"{tally.verdicts.get('conforming', 0)} conforming, {tally.verdicts.get('non_conforming', 0)} non-conforming")
    if tally.refused:
        counts += f"; {tally.refused} refused (see errors.csv)"
    write_stdout(counts + "\n" + "".join(f"wrote {Path(args.output) / name}\n" for name in job.written))
    run.note(tally.exit_code)
    if job.defects:
        _err(f"{job.defects} centre(s) hit an internal error (see errors.csv); this is a bug in compliance: "
             "please report it with those rows")
        run.note(EXIT_INTERNAL)


def _service() -> Any:
    """The service modules, or a clear error when the service extra is not installed."""
    try:
        from . import service
        from .service import store  # noqa: F401 - fails here when SQLAlchemy is missing
    except ImportError as exc:
        raise ComplianceError(f"the service needs the service extra ({exc.name} is not installed): "
                              "pip install 'community-compliance[service]' (in a clone: pip install '.[service]')") from None
    return service


def _serve(args: argparse.Namespace, run: _Run) -> None:
    _service()
    from .service.server import serve

    serve(args.db, args.host, args.port, args.data)


def _users(args: argparse.Namespace, run: _Run) -> None:
    _service()
    from .service import auth
    from .service.store import Store

    store = Store(args.db)
    if args.action == "list":
        lines = [f"{a.name}\t{a.role}\t{a.centre_id or ''}\t{'password' if a.has_password else ''}"
                 f"{chr(9) + 'disabled' if a.disabled else ''}".rstrip() for a in store.list_accounts()]
        write_stdout("".join(line + "\n" for line in lines))
        return
    if args.action in ("disable", "enable"):
        store.set_disabled(args.name, args.action == "disable")
        write_stdout(f"{args.name} is {args.action}d" + ("; its token, password and web sessions no longer work "
                                                         "(an API client may be served for 10 s more)\n"
                                                         if args.action == "disable" else "\n"))
        return
    if args.action == "token":
        token = auth.new_token()
        store.set_token(args.name, auth.token_hash(token))
        write_stdout(f"new token for {args.name} (the old one stops working within 10 s), shown only now: {token}\n")
        return
    if args.action == "passwd":
        password = _read_password()
        store.set_password(args.name, auth.hash_password(password))
        write_stdout(f"password set for {args.name}\n")
        return
    if args.role == "community" and not args.centre:
        raise ComplianceError("a community account needs --centre ID: the centre it reads and submits")
    if args.role != "community" and args.centre:
        raise ComplianceError(f"--centre is for community accounts; a {args.role} account sees every centre")
    if not _ACCOUNT_NAME.fullmatch(args.name):
        raise ComplianceError("an account name is 1 to 100 letters, digits, '.', '_', '-' or '@' (Chinese "
                              f"letters too), not {args.name!r}")
    if args.centre is not None and (not args.centre.strip() or len(args.centre) > 64 or args.centre != args.centre.strip()
                                    or not args.centre.isprintable() or "/" in args.centre or "\\" in args.centre):
        raise ComplianceError(f"--centre {args.centre!r} is not a centre id: the id as profiles write it "
                              "(center.id), at most 64 characters, no slashes or control characters")
    token = auth.new_token()
    account = store.add_account(args.name, args.role, args.centre, auth.token_hash(token))
    whose = f" for centre {account.centre_id}" if account.centre_id else ""
    write_stdout(f"added {account.role} account {account.name}{whose}; its token, shown only now: {token}\n")


_ACCOUNT_NAME = re.compile(r"[\w.@-]{1,100}")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1 to 65535)")
    return port


def _read_password() -> str:
    """From a terminal: asked twice. From a pipe (a script): its first line."""
    import getpass

    try:
        if sys.stdin is not None and sys.stdin.isatty():
            first = getpass.getpass("new password: ")
            if getpass.getpass("again: ") != first:
                raise ComplianceError("the two passwords differ")
        else:
            first = (sys.stdin.readline() if sys.stdin is not None else "").rstrip("\r\n")
    except EOFError:
        raise ComplianceError("no password given") from None
    if len(first) < 8:
        raise ComplianceError("a password has at least 8 characters")
    return first


_COMMANDS: dict[str, Callable[[argparse.Namespace, _Run], None]] = {
    "audit": _audit, "compare": _compare, "validate": _validate, "rules": _rules, "schema": _schema,
    "template": _template, "export": _export, "batch": _batch, "serve": _serve, "users": _users,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except StdoutError as exc:
        _err(str(exc))
        _silence_stdout()
        return EXIT_BAD_INPUT
    except SystemExit as exc:            # --help, --version, or a usage error (already exit 2)
        code = exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
        if code == EXIT_OK and not _flush_stdout():
            return EXIT_BAD_INPUT
        return code
    run = _Run(debug=getattr(args, "debug", False))
    # WeasyPrint logs its internals (font loading) as warnings; a person running
    # the command cannot act on them. Library users keep whatever logging they configure.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    try:
        _COMMANDS[args.command](args, run)
    except StdoutError as exc:
        _err(str(exc))
        _silence_stdout()
        return EXIT_BAD_INPUT
    except ComplianceError as exc:
        _err(str(exc))
        run.note(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback without --debug, never exit 1
        run.internal(exc)
    if not _flush_stdout():
        return EXIT_BAD_INPUT
    return run.status


def _flush_stdout() -> bool:
    """Flush standard output now, so a full device is an error we report, not one at exit."""
    if sys.stdout is None:
        return True
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as exc:
        _err(f"cannot write to standard output: {getattr(exc, 'strerror', None) or exc}")
        _silence_stdout()
        return False
    return True


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if sys.stdout is not None:
            os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def run() -> None:
    sys.exit(main())
