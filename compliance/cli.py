"""The ``compliance`` command: argument parsing, exit codes and printing over the public API.

Exit status: 0 every centre conforms, 1 a centre is non-conforming, 2 bad
input or a bad command (the message names the file and every problem's path),
3 an internal error (a bug: one line naming the file; ``--debug`` shows the
traceback). An error never exits 1. Of several files, the worst status wins.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from .version import __version__
from . import ruletest
from .checks import CHECK_TYPES
from .comparison import Comparison, compare
from .compile import lint, load_ruleset
from .contract import profile_schema, reconciliation_schema, result_schema, ruleset_schema, waivers_schema
from .errors import (MAX_PROBLEMS, ComplianceError, Problem, ReportError, RuleSetError, internal_error, more_problems,
                     system_reason)
from .evaluation import evaluate
from .evidence import read_evidence
from .i18n import (DEFAULT_LANG, DOMAIN, LANGS, LOCALE_DIR, Joined, Message, language, msg, plural, quote, text,
                   use_language)
from .model import RuleSet, thaw
from .layers import bundled_names
from .profile import load_profile
from .reconciliation import Reconciliation, reconcile
from .rendering import COMPARE_RENDERERS, RECONCILE_RENDERERS, RENDERERS, plain_text, render
from .result import AuditResult
from .waivers import Waivers, expired_warning, load_waivers
from .writing import STDOUT, StdoutError, plan_outputs, same_file, write_stdout
from .wording import LEVEL_LABELS, YES_NO, hinted

EXIT_OK, EXIT_NONCONFORMING, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
_STDOUT_FORMATS = ("text", "md", "json", "html")
_SUFFIX = {"text": ".txt", "md": ".md", "json": ".json", "html": ".html", "pdf": ".pdf"}
_MESSAGE_CONTROLS = {c: " " for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}

# argparse words its own messages through gettext ("the following arguments are required: %s"); these are
# them, so the catalogue holds their Chinese, and :func:`_argparse_speaks` points gettext at it.
ARGPARSE_TEXTS = (
    msg("usage: "), msg("positional arguments"), msg("options"), msg("show this help message and exit"),
    msg("argument %(argument_name)s: %(message)s"), msg("unrecognized arguments: %s"),
    msg("ambiguous option: %(option)s could match %(matches)s"),
    msg("invalid choice: %(value)r (choose from %(choices)s)"), msg("expected one argument"),
    msg("expected at most one argument"), msg("expected at least one argument"),
    msg("invalid %(type)s value: %(value)r"), msg("the following arguments are required: %s"),
    msg("one of the arguments %s is required"), msg("not allowed with argument %s"),
    msg("ignored explicit argument %r"), msg("unknown parser %(parser_name)r (choices: %(choices)s)"),
    plural("expected %s argument", "expected %s arguments", 2), msg("can't open '%(filename)s': %(error)s"),
)


@contextlib.contextmanager
def _argparse_speaking(lang: str) -> Iterator[None]:
    """Let argparse word its messages and help headings in ``lang`` while a command runs: it asks gettext's
    default domain, in the language the environment names, so the command names ours and the language (and
    puts back what was there, for a program that runs commands in-process)."""
    import gettext

    domain, language = gettext.textdomain(), os.environ.get("LANGUAGE")
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = lang
    try:
        yield
    finally:
        gettext.textdomain(domain)
        if language is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = language


def _language(argv: Sequence[str]) -> str:
    """The ``--lang`` of a command line (before or after the verb), read before argparse speaks: ``zh`` unless
    ``en`` is asked for. A wrong value is argparse's to refuse, in Chinese."""
    lang = DEFAULT_LANG
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--":
            break
        value = args[i + 1] if arg == "--lang" and i + 1 < len(args) else arg[7:] if arg.startswith("--lang=") else None
        if value in LANGS:
            lang = value
    return lang


def t(message: Message) -> str:
    """A help text, in the language in force."""
    return text(message)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit 2 with a short message, as for bad input
        _err(msg("{problem}; {help} shows how to use the command", problem=message,
                 help=quote(f"{self.prog} --help")))
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
                         help=t(msg("print the version and exit")))

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        write_stdout(f"compliance {__version__}\n")
        parser.exit()


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(t(msg("{value} is not a whole number", value=quote(value)))) from None
    if number < 1:
        raise argparse.ArgumentTypeError(t(msg("{value} is less than 1", value=quote(number))))
    return number


def _iso_date(value: str) -> str:
    import datetime

    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(t(msg("{value} is not a date (write it as {example})", value=quote(value),
                                               example="2026-12-31"))) from None


def _level_days(value: str) -> dict[str, int]:
    days: dict[str, int] = {}
    for part in value.split(","):
        key, sep, number = (x.strip() for x in part.partition("="))
        if key not in ("veto", "shall", "should") or not sep:
            raise argparse.ArgumentTypeError(t(msg("{value} is not {form}: each part names a level ({levels}) and its "
                                                   "days", value=quote(part.strip(), 60), form=quote("LEVEL=DAYS"),
                                                   levels=Joined([quote(x) for x in ("veto", "shall", "should")],
                                                                 "or"))))
        if not number.isascii() or not number.isdigit():
            raise argparse.ArgumentTypeError(t(msg("{value} is not a whole number of days", value=quote(number, 60))))
        days[key] = int(number)
    return days


def _parser(lang: str = DEFAULT_LANG) -> argparse.ArgumentParser:
    # --debug and --lang are accepted before or after the verb: the subcommands' copies do not reset the main ones.
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=t(msg("on an internal error, print the traceback")))
    common.add_argument("--lang", choices=LANGS, default=argparse.SUPPRESS,
                        help=t(msg("the language of messages and reports: zh (the default) or en")))
    p = _Parser(prog="compliance", parents=[common],
                description=t(msg("Audit community convenience service centres against their service specification.")))
    p.set_defaults(lang=lang)
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser,
                           title=t(msg("commands")), metavar="COMMAND")
    rules_help = t(msg("a bundled rule set or a rule-set file or folder (default: national)"))
    strict_help = t(msg("refuse a profile with a key the contract does not know, instead of warning"))
    waivers_help = t(msg("a file of the bureau's waivers: by centre, clause and date, a waived clause leaves the "
                         "score"))

    a = sub.add_parser("audit", parents=[common], help=t(msg("score one or more centre profiles")))
    a.add_argument("profiles", nargs="+", metavar="PROFILE",
                   help=t(msg("YAML or JSON profiles; - for standard input")))
    a.add_argument("--rules", default="national", metavar="NAME|PATH", help=rules_help)
    a.add_argument("--format", choices=sorted(RENDERERS),
                   help=t(msg("default: text on a terminal, json otherwise")))
    a.add_argument("-o", "--output", metavar="OUT",
                   help=t(msg("write here (a folder when auditing several profiles; - for standard output)")))
    a.add_argument("--archival", action="store_true",
                   help=t(msg("an archival PDF (PDF/A-3b) with the result document attached (with --format pdf)")))
    a.add_argument("--strict", action="store_true", help=strict_help)
    a.add_argument("--waivers", metavar="FILE", help=waivers_help)

    def side_by_side(p: argparse.ArgumentParser, renderers: Mapping[str, Any], archival: Message) -> None:
        """The options compare and reconcile share: two audits set side by side and rendered."""
        p.add_argument("--rules", default="national", metavar="NAME|PATH", help=rules_help)
        p.add_argument("--format", choices=sorted(renderers), help=t(msg("default: text on a terminal, json otherwise")))
        p.add_argument("-o", "--output", metavar="OUT", help=t(msg("write here (- for standard output)")))
        p.add_argument("--archival", action="store_true", help=t(archival))
        p.add_argument("--waivers", metavar="FILE", help=waivers_help)

    c = sub.add_parser("compare", parents=[common],
                       help=t(msg("the renovation check: the same centre before and after a plan")))
    c.add_argument("before", metavar="BEFORE")
    c.add_argument("after", metavar="AFTER")
    side_by_side(c, COMPARE_RENDERERS,
                 msg("an archival PDF (PDF/A-3b) with the comparison attached (with --format pdf)"))

    rc = sub.add_parser("reconcile", parents=[common],
                        help=t(msg("a centre's self-check against its inspection, clause by clause")))
    rc.add_argument("self_check", metavar="SELF", help=t(msg("the community's self-check (a YAML or JSON profile)")))
    rc.add_argument("inspection", metavar="INSPECTION", help=t(msg("the inspectors' audit (a YAML or JSON profile)")))
    side_by_side(rc, RECONCILE_RENDERERS,
                 msg("an archival PDF (PDF/A-3b) with the reconciliation attached (with --format pdf)"))

    v = sub.add_parser("validate", parents=[common], help=t(msg("schema and semantic checks only")))
    v.add_argument("profiles", nargs="+", metavar="PROFILE",
                   help=t(msg("profile files, folders, .jsonl, .csv or .xlsx")))
    v.add_argument("--rules", default="national", metavar="NAME|PATH",
                   help=t(msg("whose vocabularies to check codes against (default: national)")))
    v.add_argument("--strict", action="store_true", help=strict_help)

    r = sub.add_parser("rules", parents=[common], help=t(msg("list, show, lint or test rule sets")))
    rs = r.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    rs.add_parser("list", parents=[common], help=t(msg("the bundled rule sets")))
    show = rs.add_parser("show", parents=[common], help=t(msg("one clause as a rule set defines it")))
    show.add_argument("clause", metavar="CLAUSE")
    show.add_argument("--rules", default="national", metavar="NAME|PATH", help=rules_help)
    ln = rs.add_parser("lint", parents=[common],
                       help=t(msg("check a rule-set file (or folder) and the layers it extends")))
    ln.add_argument("path", metavar="PATH")
    te = rs.add_parser("test", parents=[common], help=t(msg("run the rule tests (*.test.yaml) under a folder")))
    te.add_argument("folder", metavar="DIR")
    te.add_argument("--rules", metavar="NAME|PATH",
                    help=t(msg("the rule set for test files that name none (default: the folder's name)")))

    tp = sub.add_parser("template", parents=[common],
                        help=t(msg("write the collection workbook (.xlsx) for communities")))
    tp.add_argument("target", metavar="FILE.xlsx")
    tp.add_argument("--rules", default="national", metavar="NAME|PATH",
                    help=t(msg("whose vocabularies the drop-down lists offer (default: national)")))
    tp.add_argument("--force", action="store_true", help=t(msg("replace an existing file")))

    inputs_help = t(msg("profile files, folders, .jsonl, .csv or .xlsx; {dash} reads JSON Lines from standard input",
                        dash=quote("-")))
    ex = sub.add_parser("export", parents=[common],
                        help=t(msg("convert centres between YAML/JSON, JSON Lines, CSV and xlsx")))
    ex.add_argument("inputs", nargs="+", metavar="INPUT", help=inputs_help)
    ex.add_argument("-o", "--output", required=True, metavar="FILE", help=t(msg("a .xlsx, .csv or .jsonl file")))
    ex.add_argument("--rules", default="national", metavar="NAME|PATH",
                    help=t(msg("whose vocabularies to check codes against (default: national)")))
    ex.add_argument("--strict", action="store_true", help=strict_help)

    b = sub.add_parser("batch", parents=[common],
                       help=t(msg("audit a whole round: league table, district report")))
    b.add_argument("inputs", nargs="+", metavar="INPUT", help=inputs_help)
    b.add_argument("--rules", default="national", metavar="NAME|PATH", help=rules_help)
    b.add_argument("-o", "--output", required=True, metavar="OUTDIR", help=t(msg("the folder the outputs go in")))
    b.add_argument("--jobs", type=_positive, metavar="N", help=t(msg("worker processes (default: every core)")))
    b.add_argument("--reports", action="store_true", help=t(msg("also one PDF per centre in OUTDIR/reports/")))
    b.add_argument("--results", choices=("jsonl", "parquet"), default="jsonl",
                   help=t(msg("the result documents as {jsonl} (the default) or as one table, {parquet}",
                             jsonl=quote("results.jsonl"), parquet=quote("results.parquet"))))
    b.add_argument("--previous", metavar="OLD_OUTDIR", help=t(msg("compare with an earlier round's output folder")))
    b.add_argument("--self", dest="self_round", metavar="SELF_ROUND", help=t(msg(
        "set the centres' self-checks beside these inspections: the output folder of the round that audited the "
        "self-checks (summary gains self_score, self_gap and overstated; the district report a section)")))
    b.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help=t(msg("run on this Dask cluster (pip install '.[dask]')")))
    b.add_argument("--strict", action="store_true", help=strict_help)
    b.add_argument("--waivers", metavar="FILE", help=waivers_help)

    lg = sub.add_parser("ledger", parents=[common],
                        help=t(msg("the rectification ledger of rounds: every shortfall, due, overdue or closed")))
    lg.add_argument("rounds", nargs="+", metavar="ROUND_DIR",
                    help=t(msg("the output folders of rounds ({command}), oldest first", command="compliance batch")))
    lg.add_argument("-o", "--output", required=True, metavar="FILE", help=t(msg("ledger.xlsx or ledger.csv")))
    lg.add_argument("--as-of", dest="as_of", type=_iso_date, metavar="DATE",
                    help=t(msg("the day an item past its due date is overdue (default: today, China time)")))
    when = lg.add_mutually_exclusive_group()
    when.add_argument("--due", type=_iso_date, metavar="DATE", help=t(msg("one due date for every item")))
    when.add_argument("--days", type=_level_days, metavar="veto=30,shall=90,should=180",
                      help=t(msg("days from the assessment to the due date, by the clause's level: veto clauses, "
                                 "shall, should (default: {default})", default="veto=30,shall=90,should=180")))

    s = sub.add_parser("schema", parents=[common],
                       help=t(msg("print the profile JSON Schema (or the rule-set, result, reconciliation or waivers one)")))
    s.add_argument("which", nargs="?", choices=("profile", "ruleset", "result", "reconciliation", "waivers"),
                   default="profile")

    db_help = t(msg("the database: a URL, or an SQLite file's path (default: $COMPLIANCE_DB, else sqlite:///compliance.db in this folder)"))
    sv = sub.add_parser("serve", parents=[common], help=t(msg("run the audit service (web self-check and REST API)")))
    sv.add_argument("--db", metavar="DB", help=db_help)
    sv.add_argument("--host", default="127.0.0.1", help=t(msg("the address to listen on (default: 127.0.0.1)")))
    sv.add_argument("--port", type=_port, default=8000, help=t(msg("default: 8000")))
    sv.add_argument("--data", metavar="DIR", help=t(msg("where batch uploads and outputs are kept "
                                                        "(default: compliance-batches in this folder)")))
    sv.add_argument("--forwarded-allow-ips", dest="forwarded_allow_ips", metavar="ADDRESSES", help=t(msg(
        "the front server's IP addresses or networks, separated by commas (such as 127.0.0.1 for nginx on this "
        "host): only requests from them may name the client's address and HTTPS in X-Forwarded-For and "
        "X-Forwarded-Proto (default: nobody)")))
    sv.add_argument("--rules", metavar="NAME", help=t(msg(
        "the service's rule set, set at the first start (default: national): the default of the self-check form, "
        "the upload, the dashboard and the API; after that a bureau account changes it on the settings page, and "
        "the stored choice wins over this option")))

    d = sub.add_parser("db", parents=[common], help=t(msg("the service's database")))
    ds = d.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    dc = ds.add_parser("copy", parents=[common], help=t(msg(
        "copy every row of the service's database into a new, empty one (from SQLite to PostgreSQL): all or nothing")))
    dc.add_argument("source", metavar="FROM", help=t(msg("the database to copy: a URL, or an SQLite file's path")))
    dc.add_argument("target", metavar="TO", help=t(msg("the new database: a URL (postgresql://…), or an SQLite "
                                                       "file's path; made or upgraded to the newest tables, and empty")))
    u = sub.add_parser("users", parents=[common], help=t(msg("the service's accounts")))
    us = u.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    ua = us.add_parser("add", parents=[common], help=t(msg("add an account and print its token (once)")))
    name_help = t(msg("the account's name (what it logs in with)"))
    ua.add_argument("name", metavar="NAME", help=name_help)
    ua.add_argument("--role", required=True, choices=("bureau", "community", "system"),
                    help=t(msg("'bureau': the civil affairs bureau (every centre, rounds, settings); 'community': one "
                               "centre's self-checks; 'system': another system sending audits")))
    ua.add_argument("--centre", metavar="ID", help=t(msg("the centre a community account belongs to")))
    ua.add_argument("--db", metavar="DB", help=db_help)
    up = us.add_parser("passwd", parents=[common],
                       help=t(msg("set the password an account logs in to the web pages with")))
    up.add_argument("name", metavar="NAME", help=name_help)
    up.add_argument("--db", metavar="DB", help=db_help)
    ul = us.add_parser("list", parents=[common], help=t(msg("the accounts, without their secrets")))
    ul.add_argument("--db", metavar="DB", help=db_help)
    ut = us.add_parser("token", parents=[common],
                       help=t(msg("a new token for an account (the old one stops working)")))
    ut.add_argument("name", metavar="NAME", help=name_help)
    ut.add_argument("--db", metavar="DB", help=db_help)
    for verb, told in (("disable", msg("stop an account: its token, password and sessions no longer work")),
                       ("enable", msg("let a disabled account in again"))):
        ud = us.add_parser(verb, parents=[common], help=t(told))
        ud.add_argument("name", metavar="NAME", help=name_help)
        ud.add_argument("--db", metavar="DB", help=db_help)
    return p


def _err(message: Message | str) -> None:
    """Print to standard error, in the language in force, with terminal control characters taken out of what
    input supplied."""
    try:
        print(text(message).translate(_MESSAGE_CONTROLS), file=sys.stderr)
    except (OSError, ValueError):
        pass


def _say(message: Message | str) -> None:
    """A line of standard output, in the language in force."""
    write_stdout(plain_text(text(message)) + "\n")


class _Run:
    """One command's run: which file is being worked on, and the worst exit status so far."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug
        self.status = EXIT_OK
        self.current = text(msg("the command"))

    def note(self, status: int) -> None:
        self.status = max(self.status, status)

    def internal(self, exc: BaseException) -> None:
        """A bug: one line naming the file, the traceback only with --debug."""
        if self.debug:
            _err("".join(traceback.format_exception(exc)).rstrip())
        told = internal_error(exc)
        if not self.debug:
            told = msg("{problem} (run with {debug} for the traceback)", problem=told, debug=quote("--debug"))
        _err(f"{self.current}: {text(told)}")
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
                _report(exc)
                self.note(EXIT_BAD_INPUT)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - reported as an internal error, the others go on
                self.internal(exc)


def _output_format(args: argparse.Namespace) -> str:
    fmt: str = args.format or ("text" if _stdout_is_terminal() else "json")
    to_stdout = not args.output or args.output == STDOUT
    if fmt not in _STDOUT_FORMATS and not args.output:
        raise ComplianceError(msg("{option} writes a file; give {out} (or {dash} for standard output)",
                                  option=quote(f"--format {fmt}"), out=quote("-o OUT"), dash=quote("-o -")))
    if args.archival and fmt != "pdf":
        raise ComplianceError(msg("{archival} is an option of the PDF format; add {pdf}", archival=quote("--archival"),
                                  pdf=quote("--format pdf")))
    if fmt == "pdf" and to_stdout and len(getattr(args, "profiles", ())) > 1:
        raise ComplianceError(msg("several PDF reports cannot share standard output; give {o}", o=quote("-o FOLDER")))
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
                raise ComplianceError(msg("{output} is the input {source}; writing there would replace it. Choose "
                                          "another output file", output=quote(f"-o {output}"), source=quote(source)))


def _waivers(args: argparse.Namespace, rules: RuleSet) -> Waivers | None:
    """The waiver file of ``--waivers``, checked against the rule set (a WaiverError, exit 2, when it is not valid)."""
    return load_waivers(args.waivers, rules=rules) if args.waivers else None


def _expired(result: AuditResult, source: str) -> None:
    """Say on standard error which waivers do not cover the assessment date (they changed nothing)."""
    for f in result.waivers_expired:
        _err(f"{source}: {text(msg('warning'))}: {text(expired_warning(f, result))}")


def _audit(args: argparse.Namespace, run: _Run) -> None:
    rules = load_ruleset(args.rules)
    waivers = _waivers(args, rules)
    fmt = _output_format(args)
    many = len(args.profiles) > 1
    to_stdout = not args.output or args.output == STDOUT
    targets: list[str] = []
    if many and not to_stdout:
        folder = Path(args.output)
        if folder.exists() and not folder.is_dir():
            raise ReportError(msg("is not a folder; with several profiles, {o} names a folder", o=quote("-o")),
                              file=args.output)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReportError(system_reason(exc, msg("cannot create the output folder")), file=args.output) from None
        for planned in plan_outputs(args.profiles, folder, _SUFFIX[fmt], rules.layer_files):
            targets.append(str(planned.target))
            if planned.note:
                _err(f"{planned.source}: " + text(msg("written to {target} ({why})", target=str(planned.target),
                                                      why=planned.note)))
    elif not many:
        _refuse_overwriting_inputs(args.output, [*args.profiles, *rules.layer_files,
                                                 *([args.waivers] if args.waivers else [])])
    order = iter(range(len(args.profiles)))

    def one(source: str) -> int:
        index = next(order)
        profile = read_evidence(load_profile(source, rules=rules, strict=args.strict))
        warned.show(profile)
        result = evaluate(profile, rules, waivers=waivers)
        _expired(result, source)
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

    warned = _Warnings()
    run.each(args.profiles, one)
    warned.close()


def _compare(args: argparse.Namespace, run: _Run) -> None:
    comparison = _side_by_side(args, run, args.before, args.after, "→", compare)
    run.note(EXIT_OK if comparison.after.conforming else EXIT_NONCONFORMING)


def _reconcile(args: argparse.Namespace, run: _Run) -> None:
    reconciliation = _side_by_side(args, run, args.self_check, args.inspection, "↔", reconcile)
    run.note(EXIT_NONCONFORMING if reconciliation.overstated else EXIT_OK)


_Pair = TypeVar("_Pair", Comparison, Reconciliation)


def _side_by_side(args: argparse.Namespace, run: _Run, first: str, second: str, arrow: str,
                  make: Callable[..., _Pair]) -> _Pair:
    """compare and reconcile alike: two profiles audited under one rule set (and its waivers), set side by side
    and rendered; the waivers that do not cover either side's date said on standard error."""
    fmt = _output_format(args)
    rules: RuleSet = load_ruleset(args.rules)
    waivers = _waivers(args, rules)
    _refuse_overwriting_inputs(args.output, [first, second, *rules.layer_files,
                                             *([args.waivers] if args.waivers else [])])
    run.current = f"{first} {arrow} {second}"
    pair = make(first, second, rules, waivers=waivers)
    sides = (pair.before, pair.after) if isinstance(pair, Comparison) else (pair.self_check, pair.inspection)
    for side, source in zip(sides, (first, second)):
        _expired(side, source)
    if args.output and args.output != STDOUT:
        render(pair, fmt, args.output, lang=args.lang, archival=args.archival)
    else:
        out = render(pair, fmt, lang=args.lang, archival=args.archival)
        assert out is not None
        write_stdout(out)
    return pair


def _validate(args: argparse.Namespace, run: _Run) -> None:
    rules = load_ruleset(args.rules)

    def one(source: str) -> int:
        if Path(source).suffix.lower() in (".jsonl", ".csv", ".xlsx") or (source != STDOUT and Path(source).is_dir()):
            return many(source)
        profile = read_evidence(load_profile(source, rules=rules, strict=args.strict))
        warned.show(profile)
        _say(f"{source}: " + text(msg("valid ({id})", id=profile.id)))
        return EXIT_OK

    def many(source: str) -> int:
        """A workbook, CSV, JSON Lines or folder: every centre checked, each problem at its cell or line with its
        column's name, every problem of a row at once."""
        from .batch import sources, table

        valid = refused = 0
        shown = [0]
        labels = table.field_labels(rules.vocabulary, language())     # the columns as errors.csv names them
        for where, item in sources.read_profiles(source, rules, strict=args.strict):
            if isinstance(item, ComplianceError):
                refused += 1
                _report_refused(where, item, shown, limit=MAX_PROBLEMS, labels=labels)
            else:
                warned.show(item, labels)
                valid += 1
        if shown[0] > MAX_PROBLEMS:
            _err(more_problems(shown[0] - MAX_PROBLEMS))
        _say(f"{source}: " + text(msg("{valid} valid, {refused} refused", valid=valid, refused=refused)))
        return EXIT_BAD_INPUT if refused or not valid else EXIT_OK

    warned = _Warnings()
    run.each(args.profiles, one)
    warned.close()


def _rules(args: argparse.Namespace, run: _Run) -> None:
    lang = language()
    if args.action == "list":
        lines = []
        for name in bundled_names():
            rs = load_ruleset(name)
            parent = rs.layers[-2] if len(rs.layers) > 1 else "—"
            lines.append(f"{name:<10} {rs.version:<8} " + text(msg("extends {parent}", parent=format(parent, "<9"))) + " "
                         + text(plural("{count} clause", "{count} clauses", len(rs.clauses))) + f"  {rs.title[lang]}")
        write_stdout("\n".join(lines) + "\n")
        return
    if args.action == "lint":
        run.current = args.path
        rs = lint(args.path)
        _say(f"{args.path}: " + text(msg("ok: the rule set {id} {version}, layers {layers}, {clauses} clauses, {disabled} "
                                         "disabled", id=quote(rs.id), version=rs.version,
                                         layers=" → ".join(quote(x) for x in rs.layers), clauses=len(rs.clauses),
                                         disabled=len(rs.disabled))))
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
    except KeyError:
        told = hinted(msg("the rule set {rules} has no clause {clause}", rules=quote(rs.id), clause=quote(args.clause)),
                      args.clause, [x.clause for x in rs.clauses])
        raise RuleSetError(told, file=rs.path, problems=[Problem(told, (), rs.path)]) from None
    category = rs.category(c.category).title[lang]
    lines = [
        f"{c.clause} {c.title[lang]}  [{rs.title[lang]}]",
        f"  {c.requirement[lang]}",
        "  " + text(msg("category {category} · level {level} · weight {weight} · veto {veto}", category=category,
                        level=LEVEL_LABELS[c.level].text(lang), weight=format(c.weight, "g"), veto=YES_NO[c.veto].text(lang))),
        "  " + text(msg("check {check}", check=quote(json.dumps(thaw(c.check), ensure_ascii=False), 400))),
        "  " + text(msg("threshold {threshold} ({words}), set by {layer}",
                        threshold=quote(json.dumps(thaw(c.threshold), ensure_ascii=False), 400),
                        words=CHECK_TYPES[c.check_type].threshold_text(c, lang), layer=quote(c.threshold_from))),
        "  " + text(msg("set by: {parts}", parts=[f"{quote(k)} {quote(v)}" for k, v in c.set_by.items()])),
    ]
    if c.not_applicable_when:
        lines.append("  " + text(msg("not applicable when {conditions}", conditions=quote(
            json.dumps(thaw(list(c.not_applicable_when)), ensure_ascii=False), 400))))
    if c.source:
        lines.append("  " + text(msg("source: {sources}", sources=list(c.source))))
    lines += ["  " + text(msg("note: {note}", note=n)) for n in c.notes]
    write_stdout("\n".join(plain_text(line) for line in lines) + "\n")


def _schema(args: argparse.Namespace, run: _Run) -> None:
    schema = {"profile": profile_schema, "ruleset": ruleset_schema, "result": result_schema,
              "reconciliation": reconciliation_schema, "waivers": waivers_schema}[args.which]()
    write_stdout(json.dumps(schema, ensure_ascii=False, indent=2) + "\n")


def _template(args: argparse.Namespace, run: _Run) -> None:
    from .batch import workbook

    rules = load_ruleset(args.rules)
    target = Path(args.target)
    if target.suffix.lower() != ".xlsx":
        raise ComplianceError(msg("the template is a workbook: name it {suffix}", suffix=quote(".xlsx")),
                              file=args.target)
    if target.exists() and not args.force:
        raise ComplianceError(msg("exists already (it may hold collected data); add {force} to replace it",
                                  force=quote("--force")), file=args.target)
    _refuse_overwriting_inputs(args.target, rules.layer_files)
    workbook.build(target, rules.vocabulary, rules=args.rules)
    _say(msg("wrote {file}", file=args.target))


def _report(exc: ComplianceError) -> None:
    """A refused input on standard error: its first line, then every problem (and warning) it carries."""
    _err(str(exc))


def _report_refused(where: str, exc: ComplianceError, shown: list[int], limit: int = 20,
                    labels: Mapping[str, str] | None = None) -> None:
    problems = getattr(exc, "problems", None) or []
    for p in problems or [None]:
        shown[0] += 1
        if shown[0] <= limit:
            if p is None:
                _err(str(exc))
            else:
                _err(_problem_line(p, where, labels))


def _problem_line(p: Problem, where: str, labels: Mapping[str, str] | None) -> str:
    """``place: $.path (column): message`` as ``batch`` prints it, the column named as errors.csv names it
    (用房总面积（m²）) when the problem is in a table's cell."""
    from .batch import sources, table

    label = table.label_of(sources.refined(p), labels) if labels and p.path else ""
    field = f" ({label})" if label else ""
    head = text(msg("warning")) + ": " if p.is_warning else ""
    return f"{p.file or where}: {p.json_path + field + ': ' if p.path else ''}{head}{p.message}"


class _Warnings:
    """A profile's warnings on standard error (``place: path: 警告: message``), the first SHOWN of a command's, then
    how many more there were."""

    SHOWN = 100

    def __init__(self) -> None:
        self.count = 0

    def show(self, profile: Any, labels: Mapping[str, str] | None = None) -> None:
        for problem in profile.warnings:
            self.count += 1
            if self.count <= self.SHOWN:
                _err(_problem_line(problem, profile.source, labels) if labels else str(problem))

    def close(self) -> None:
        if self.count > self.SHOWN:
            _err(plural("… and {count:,} more warning", "… and {count:,} more warnings", self.count - self.SHOWN))


def _export(args: argparse.Namespace, run: _Run) -> None:
    from .batch import sources, workbook

    rules = load_ruleset(args.rules)
    if Path(args.output).suffix.lower() not in (".xlsx", ".csv", ".jsonl"):
        raise ComplianceError(msg("export writes {kinds}: name the output so",
                                  kinds=Joined([quote(x) for x in (".xlsx", ".csv", ".jsonl")], "or")), file=args.output)
    _refuse_overwriting_inputs(args.output, [*args.inputs, *rules.layer_files])
    good: list[Any] = []
    shown = [0]
    warnings = _Warnings()
    table_out = Path(args.output).suffix.lower() in (".xlsx", ".csv")
    dropped = 0
    for where, item in sources.read_profiles(args.inputs, rules, strict=args.strict, evidence=False):
        if isinstance(item, ComplianceError):
            _report_refused(where, item, shown)
            run.note(EXIT_BAD_INPUT)
            continue
        warnings.show(item)
        good.append(item)
        if table_out and "evidence" in item.data:
            dropped += 1
    if shown[0] > 20:
        _err(more_problems(shown[0] - 20))
    warnings.close()
    count = workbook.export_profiles(good, args.output, rules.vocabulary, rules=args.rules)
    if dropped:
        _err(plural("warning: {count} centre gives evidence, which a workbook or CSV does not hold; its evidence stays "
                    "in its YAML or JSON file (export to {jsonl} to keep it)",
                    "warning: {count} centres give evidence, which a workbook or CSV does not hold; their evidence stays "
                    "in their YAML or JSON files (export to {jsonl} to keep it)", dropped, jsonl=quote(".jsonl")))
    _say(plural("exported {count} centre to {file}", "exported {count} centres to {file}", count, file=args.output))


def _batch(args: argparse.Namespace, run: _Run) -> None:
    from .batch import outputs, round as rounds, run as runner

    jobs = args.jobs or runner.default_jobs()
    runner.start_early(jobs, args.scheduler, runner.RENDERER if args.reports else ())
    rules = load_ruleset(args.rules)
    waivers = _waivers(args, rules)
    previous = outputs.Previous.read(args.previous) if args.previous else None
    self_round = outputs.SelfRound.read(args.self_round) if args.self_round else None
    job = rounds.Round(inputs=args.inputs, rules=rules, outdir=Path(args.output),
                       jobs=jobs, reports=args.reports, previous=previous,
                       self_round=self_round,
                       scheduler=args.scheduler, lang=language(), progress=runner.progress_wanted(), strict=args.strict,
                       waivers=waivers, results=args.results)
    if args.results == "parquet":
        from .batch.columns import pyarrow_module

        pyarrow_module()            # refused before the round starts when pyarrow is not installed
    tally = job.run()
    for row in tally.warning_rows:
        for where, path, message, label in row["warnings"]:
            field = f" ({label})" if label else ""
            _err(f"{where}: {path + field + ': ' if path else ''}{text(msg('warning'))}: {message}")
    if tally.warned > sum(len(row["warnings"]) for row in tally.warning_rows):
        _err(msg("… and more warnings: see {file}", file=quote("errors.csv")))
    for row in tally.errors:
        for where, path, message, *label in row["refused"]:
            field = f" ({label[0]})" if label and label[0] else ""
            _err(f"{where}: {path + field + ': ' if path else ''}{message}")
    if tally.refused > len(tally.errors):
        _err(msg("… and {count:,} more refused centres: see {file}", count=tally.refused - len(tally.errors),
                 file=quote("errors.csv")))
    counts = plural("audited {count} centre: {conforming} conforming, {non_conforming} non-conforming",
                    "audited {count} centres: {conforming} conforming, {non_conforming} non-conforming", tally.audited,
                    conforming=tally.verdicts.get("conforming", 0),
                    non_conforming=tally.verdicts.get("non_conforming", 0))
    if tally.refused:
        counts = msg("{counts}; {refused} refused (see {file})", counts=counts, refused=tally.refused,
                     file=quote("errors.csv"))
    _say(counts)
    for name in job.written:
        _say(msg("wrote {file}", file=str(Path(args.output) / name)))
    run.note(tally.exit_code)
    if job.defects:
        _err(msg("{count} centres hit an internal error (see {file}); this is a bug in compliance: please report it "
                 "with those rows", count=job.defects, file=quote("errors.csv")))
        run.note(EXIT_INTERNAL)


def _ledger(args: argparse.Namespace, run: _Run) -> None:
    from .batch import rectification

    if Path(args.output).suffix.lower() not in (".xlsx", ".csv"):
        raise ComplianceError(msg("a ledger is written as {kinds}: name the output so",
                                  kinds=Joined([quote(".xlsx"), quote(".csv")], "or")), file=args.output)
    for folder in args.rounds:
        if same_file(args.output, Path(folder) / "results.jsonl") or same_file(args.output, folder):
            raise ComplianceError(msg("would replace the round {folder}; choose another output file",
                                      folder=quote(folder, 200)), file=args.output)
    with rectification.ledger(args.rounds, as_of=args.as_of, due=args.due, days=args.days) as book:
        for warning in book.warnings:
            _err(f"{warning.file}: {text(msg('warning'))}: {warning.message}")
        rectification.write_ledger(book, args.output, lang=language())
        counts = book.counts
        _say(plural("{count} item in the ledger: {overdue} overdue, {open} open, {closed} closed, {void} no longer "
                    "apply", "{count} items in the ledger: {overdue} overdue, {open} open, {closed} closed, {void} no "
                    "longer apply", len(book), overdue=counts["overdue"], open=counts["open"],
                    closed=counts["closed"], void=counts["void"]))
    _say(msg("wrote {file}", file=args.output))


def _service() -> Any:
    """The service modules, or a clear error when the service extra is not installed."""
    try:
        from . import service
        from .service import store  # noqa: F401 - fails here when SQLAlchemy is missing
    except ImportError as exc:
        raise ComplianceError(msg("the service needs the service extra ({module} is not installed): {command} "
                                  "(in a clone: {clone})", module=quote(exc.name or ""),
                                  command=quote("pip install 'community-compliance[service]'"),
                                  clone=quote("pip install '.[service]'"))) from None
    return service


def _serve(args: argparse.Namespace, run: _Run) -> None:
    _service()
    from .service.server import serve

    serve(args.db, args.host, args.port, args.data, args.rules, args.forwarded_allow_ips)


def _db(args: argparse.Namespace, run: _Run) -> None:
    _service()
    from .service.copy import copy_database
    from .service.store import database_url, safe_url

    copied = copy_database(args.source, args.target)
    for table, rows in copied:
        _say(msg("{table}: {rows:,} rows", table=quote(table), rows=rows))
    _say(msg("copied {rows:,} rows of {tables} tables from {source} to {target}", rows=sum(r for _, r in copied),
             tables=len(copied), source=safe_url(database_url(args.source)), target=safe_url(database_url(args.target))))


def _users(args: argparse.Namespace, run: _Run) -> None:
    _service()
    from .service import auth
    from .service.store import Store

    store = Store(args.db)
    if args.action == "list":
        words = {True: text(msg("password")), False: ""}
        lines = [f"{a.name}\t{a.role}\t{a.centre_id or ''}\t{words[a.has_password]}"
                 f"{chr(9) + text(msg('disabled')) if a.disabled else ''}".rstrip() for a in store.list_accounts()]
        write_stdout("".join(line + "\n" for line in lines))
        return
    if args.action in ("disable", "enable"):
        store.set_disabled(args.name, args.action == "disable")
        if args.action == "disable":
            _say(msg("{name} is disabled: its token, password and web sessions no longer work (an API client may be "
                     "served for 10 s more)", name=args.name))
        else:
            _say(msg("{name} is enabled", name=args.name))
        return
    if args.action == "token":
        token = auth.new_token()
        store.set_token(args.name, auth.token_hash(token))
        _say(msg("a new token for {name} (the old one stops working within 10 s), shown only now: {token}",
                 name=args.name, token=token))
        return
    if args.action == "passwd":
        password = _read_password()
        store.set_password(args.name, auth.hash_password(password))
        _say(msg("password set for {name}", name=args.name))
        return
    if args.role == "community" and not args.centre:
        raise ComplianceError(msg("a community account needs {centre}: the centre it reads and submits",
                                  centre=quote("--centre ID")))
    if args.role != "community" and args.centre:
        raise ComplianceError(msg("{centre} is for community accounts; an account of the role {role} sees every centre",
                                  centre=quote("--centre"), role=quote(args.role)))
    if not _ACCOUNT_NAME.fullmatch(args.name):
        raise ComplianceError(msg("an account name is 1 to 100 letters, digits, {chars} (Chinese letters too), not "
                                  "{name}", chars=Joined([quote(c) for c in (".", "_", "-", "@")], "or"),
                                  name=quote(args.name)))
    if args.centre is not None and (not args.centre.strip() or len(args.centre) > 64 or args.centre != args.centre.strip()
                                    or not args.centre.isprintable() or "/" in args.centre or "\\" in args.centre):
        raise ComplianceError(msg("{centre} is not a centre id: the id as profiles write it, at most 64 characters, "
                                  "no slashes or control characters", centre=quote(f"--centre {args.centre}")))
    token = auth.new_token()
    account = store.add_account(args.name, args.role, args.centre, auth.token_hash(token))
    if account.centre_id:
        _say(msg("added the {role} account {name} for the centre {centre}; its token, shown only now: {token}",
                 role=quote(account.role), name=account.name, centre=account.centre_id, token=token))
    else:
        _say(msg("added the {role} account {name}; its token, shown only now: {token}", role=quote(account.role),
                 name=account.name, token=token))


_ACCOUNT_NAME = re.compile(r"[\w.@-]{1,100}")


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(t(msg("{value} is not a port number", value=quote(value)))) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(t(msg("{value} is not a port number (1 to 65535)", value=port)))
    return port


def _read_password() -> str:
    """From a terminal: asked twice. From a pipe (a script): its first line."""
    import getpass

    try:
        if sys.stdin is not None and sys.stdin.isatty():
            first = getpass.getpass(t(msg("new password: ")))
            if getpass.getpass(t(msg("again: "))) != first:
                raise ComplianceError(msg("the two passwords differ"))
        else:
            first = (sys.stdin.readline() if sys.stdin is not None else "").rstrip("\r\n")
    except EOFError:
        raise ComplianceError(msg("no password given")) from None
    if len(first) < 8:
        raise ComplianceError(msg("a password has at least 8 characters"))
    return first


_COMMANDS: dict[str, Callable[[argparse.Namespace, _Run], None]] = {
    "audit": _audit, "compare": _compare, "reconcile": _reconcile, "validate": _validate, "rules": _rules,
    "schema": _schema, "template": _template, "export": _export, "batch": _batch, "ledger": _ledger, "serve": _serve,
    "users": _users, "db": _db,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its messages in the language its ``--lang`` names (Chinese by default), and the
    caller's own language and gettext settings as they were afterwards."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    lang = _language(arguments)
    with use_language(lang), _argparse_speaking(lang):
        return _main(arguments, lang)


def _main(arguments: list[str], lang: str) -> int:
    try:
        args = _parser(lang).parse_args(arguments)
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
        _report(exc)
        run.note(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        _err(msg("interrupted"))
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
        _err(system_reason(exc, msg("cannot write to standard output")))
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
