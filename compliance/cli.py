"""The ``compliance`` command: argument parsing, exit codes and printing over the public API.

Exit status: 0 every centre conforms, 1 a centre is non-conforming, 2 bad input
or a bad command (the message names the file and every problem's path).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
from .errors import ComplianceError, RuleSetError
from .compare import compare
from .evaluate import evaluate
from .profile import load_profile, profile_schema
from .render import COMPARE_RENDERERS, RENDERERS, render
from .result import LEVEL_LABELS
from .ruleset import BUNDLED, load_ruleset, lint

EXIT_OK, EXIT_NONCONFORMING, EXIT_BAD_INPUT = 0, 1, 2
_STDOUT_FORMATS = ("text", "md", "json", "html")
_SUFFIX = {"text": ".txt", "md": ".md", "json": ".json", "html": ".html", "pdf": ".pdf"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with a short message, as for bad input
        self.print_usage(sys.stderr)
        print(f"compliance: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="compliance", description="Audit community convenience service centres (社区便民服务中心).")
    p.add_argument("--version", action="version", version=f"compliance {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    a = sub.add_parser("audit", help="score one or more centre profiles")
    a.add_argument("profiles", nargs="+", metavar="PROFILE", help="YAML or JSON profile(s); - for standard input")
    a.add_argument("--rules", default="national", metavar="NAME|PATH", help="bundled rule set or a YAML file/folder (default: national)")
    a.add_argument("--format", choices=sorted(RENDERERS), help="default: text on a terminal, json otherwise")
    a.add_argument("-o", "--output", metavar="OUT", help="write here (a folder when auditing several profiles)")
    a.add_argument("--lang", choices=("zh", "en"), default="zh")
    a.add_argument("--archival", action="store_true", help="PDF/A-3b with the JSON result attached (with --format pdf)")

    c = sub.add_parser("compare", help="renovation check: the same centre before and after a plan")
    c.add_argument("before", metavar="BEFORE")
    c.add_argument("after", metavar="AFTER")
    c.add_argument("--rules", default="national", metavar="NAME|PATH")
    c.add_argument("--format", choices=sorted(COMPARE_RENDERERS), help="default: text on a terminal, json otherwise")
    c.add_argument("-o", "--output", metavar="OUT")
    c.add_argument("--lang", choices=("zh", "en"), default="zh")
    c.add_argument("--archival", action="store_true", help="PDF/A-3b with the JSON comparison attached")

    v = sub.add_parser("validate", help="schema and semantic checks only")
    v.add_argument("profiles", nargs="+", metavar="PROFILE")
    v.add_argument("--rules", default="national", metavar="NAME|PATH", help="whose vocabularies to check codes against")

    r = sub.add_parser("rules", help="list, show or lint rule sets")
    rs = r.add_subparsers(dest="action", required=True, parser_class=_Parser)
    rs.add_parser("list", help="the bundled rule sets")
    show = rs.add_parser("show", help="one clause as a rule set defines it")
    show.add_argument("clause")
    show.add_argument("--rules", default="national", metavar="NAME|PATH")
    show.add_argument("--lang", choices=("zh", "en"), default="zh")
    ln = rs.add_parser("lint", help="check a rule set file and the layers it extends")
    ln.add_argument("path")

    sub.add_parser("schema", help="print the profile JSON Schema")
    return p


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _check_output(fmt: str, args: argparse.Namespace) -> None:
    if fmt not in _STDOUT_FORMATS and not args.output:
        raise ComplianceError(f"--format {fmt} writes a file; give -o OUT")
    if args.archival and fmt != "pdf":
        raise ComplianceError("--archival is a PDF option; add --format pdf")


def _emit(out: "str | bytes") -> None:
    if isinstance(out, bytes):
        sys.stdout.buffer.write(out)
    else:
        sys.stdout.write(out)


def _audit(args: argparse.Namespace) -> int:
    rules = load_ruleset(args.rules)
    fmt = args.format or ("text" if sys.stdout.isatty() else "json")
    many = len(args.profiles) > 1
    _check_output(fmt, args)
    outdir = None
    if many and args.output:
        outdir = Path(args.output)
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ComplianceError(f"{args.output}: cannot create the output folder: {exc.strerror}") from exc
    worst = EXIT_OK
    for source in args.profiles:
        try:
            result = evaluate(load_profile(source, rules=rules), rules)
            if outdir is not None:
                stem = Path(source).stem if source != "-" else "stdin"
                render(result, fmt, outdir / f"{stem}{_SUFFIX[fmt]}", lang=args.lang, archival=args.archival)
            elif args.output:
                render(result, fmt, args.output, lang=args.lang, archival=args.archival)
            else:
                if fmt == "json" and many:   # JSON Lines: one compact document per centre
                    _emit(json.dumps(result.to_dict(args.lang), ensure_ascii=False) + "\n")
                else:
                    _emit(render(result, fmt, lang=args.lang))
                if many and fmt != "json":
                    sys.stdout.write("\n")
            if not result.conforming:
                worst = max(worst, EXIT_NONCONFORMING)
        except ComplianceError as exc:
            _err(str(exc))
            worst = EXIT_BAD_INPUT
    return worst


def _compare(args: argparse.Namespace) -> int:
    fmt = args.format or ("text" if sys.stdout.isatty() else "json")
    _check_output(fmt, args)
    comparison = compare(args.before, args.after, args.rules)
    if args.output:
        render(comparison, fmt, args.output, lang=args.lang, archival=args.archival)
    else:
        _emit(render(comparison, fmt, lang=args.lang))
    return EXIT_OK if comparison.after.conforming else EXIT_NONCONFORMING


def _validate(args: argparse.Namespace) -> int:
    rules = load_ruleset(args.rules)
    status = EXIT_OK
    for source in args.profiles:
        try:
            profile = load_profile(source, rules=rules)
            print(f"{source}: valid ({profile.data['center']['id']})")
        except ComplianceError as exc:
            _err(str(exc))
            status = EXIT_BAD_INPUT
    return status


def _rules(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in BUNDLED:
            rs = load_ruleset(name)
            parent = rs.layers[-2] if len(rs.layers) > 1 else "—"
            print(f"{name:<10} {rs.version:<8} extends {parent:<9} {len(rs.clauses):>2} clauses  {rs.title['zh']} / {rs.title['en']}")
        return EXIT_OK
    if args.action == "lint":
        rs = lint(args.path)
        print(f"{args.path}: ok — rule set {rs.id!r} {rs.version}, layers {' → '.join(rs.layers)}, "
              f"{len(rs.clauses)} clauses, {len(rs.disabled)} disabled")
        return EXIT_OK
    rs = load_ruleset(args.rules)
    try:
        c = rs.clause(args.clause)
    except KeyError as exc:
        raise RuleSetError(exc.args[0], file=rs.path) from None
    lang = args.lang
    lines = [
        f"{c.clause} {c.title[lang]}  [{rs.id}]",
        f"  {c.requirement[lang]}",
        f"  category {c.category} · level {c.level.value} ({LEVEL_LABELS[c.level][lang]}) · weight {c.weight:g}"
        f" · veto {'yes' if c.veto else 'no'}",
        f"  check {json.dumps(dict(c.check), ensure_ascii=False)}",
        f"  threshold {json.dumps(c.threshold, ensure_ascii=False)} set by {c.threshold_from}",
        "  set by: " + ", ".join(f"{k} {v}" for k, v in c.set_by.items()),
    ]
    if c.not_applicable_when:
        lines.append(f"  not applicable when {json.dumps(list(c.not_applicable_when), ensure_ascii=False)}")
    if c.source:
        lines.append(f"  source {', '.join(c.source)}")
    lines += [f"  note {n}" for n in c.notes]
    print("\n".join(lines))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # WeasyPrint logs its internals (subsetter choice, font loading) as warnings; a person running
    # the command cannot act on them. Library users keep whatever logging they configure.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    try:
        if args.command == "audit":
            return _audit(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "rules":
            return _rules(args)
        print(json.dumps(profile_schema(), ensure_ascii=False, indent=2))
        return EXIT_OK
    except ComplianceError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


def run() -> None:
    sys.exit(main())
