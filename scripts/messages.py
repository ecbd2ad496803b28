#!/usr/bin/env python3
"""The message catalogue: extract every text people read, merge it into the Chinese catalogue, compile it.

    python scripts/messages.py            extract, merge into compliance/locale/zh/LC_MESSAGES/compliance.po
                                          (new texts arrive untranslated, texts no longer used are dropped)
                                          and compile compliance.mo
    python scripts/messages.py --check    change nothing; exit 1 naming every text that is new, gone,
                                          untranslated or fuzzy, or when compliance.mo is not the .po compiled

Texts are found with Babel: in Python, the first argument of ``msg()``, the first two of ``plural()`` and of ``cmsg()``
(compliance/i18n.py); in the page and report templates (Jinja2), ``_()``, ``gettext()`` and ``ngettext()``.
Translate in the .po file (a msgstr for every msgid, keeping each ``{name}``), then run this again.
"""
from __future__ import annotations

import argparse
import datetime
import io
import sys
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "compliance" / "locale" / "zh" / "LC_MESSAGES" / "compliance.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {**DEFAULT_KEYWORDS, "msg": (1,), "plural": (1, 2), "cmsg": ((1, "c"), 2)}
SOURCES = [
    (ROOT / "compliance", [("**/migrations/**", "ignore"), ("**.py", "python"), ("**.j2", "jinja2.ext:babel_extract"),
                           ("**.js", "ignore")]),
    (ROOT / "reports", [("**.j2", "jinja2.ext:babel_extract")]),
]
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}


def extract() -> Catalog:
    """Every text of the code and templates, with where it is used."""
    catalog = Catalog(project="community-compliance", domain="compliance", charset="utf-8")
    for folder, method_map in SOURCES:
        options = {pattern: JINJA_OPTIONS for pattern, method in method_map if method.startswith("jinja2")}
        for filename, lineno, message, comments, context in extract_from_dir(
                folder, method_map, options, keywords=KEYWORDS, comment_tags=("Translators:",), strip_comment_tags=True):
            where = (folder / filename).relative_to(ROOT).as_posix()
            catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return catalog


def read() -> Catalog:
    with PO.open("rb") as fh:
        return read_po(fh, locale="zh_Hans_CN", domain="compliance")


def compiled(catalog: Catalog) -> bytes:
    """The catalogue compiled, the same bytes for the same texts (no date in its header)."""
    fixed = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    catalog.creation_date = catalog.revision_date = fixed
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def problems(template: Catalog, catalog: Catalog) -> list[str]:
    """What keeps the catalogue from matching the code: texts new, gone, untranslated or fuzzy."""
    def key(m: Any) -> tuple[str, str | None]:
        return (m.id if isinstance(m.id, str) else m.id[0], m.context)

    used = {key(m) for m in template if m.id}
    have = {key(m): m for m in catalog if m.id}
    order = {"key": lambda k: (k[0], k[1] or "")}
    out = [f"not in the catalogue: {key!r}" for key in sorted(used - have.keys(), **order)]
    out += [f"no longer used: {key!r}" for key in sorted(have.keys() - used, **order)]
    for key in sorted(used & have.keys(), **order):
        entry = have[key]
        strings = entry.string if isinstance(entry.string, (list, tuple)) else [entry.string]
        if not all(strings):
            out.append(f"not translated: {key!r}")
        elif entry.fuzzy:
            out.append(f"marked fuzzy (check the translation, then remove the flag): {key!r}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the catalogue is not current")
    args = parser.parse_args()
    template = extract()
    catalog = read() if PO.exists() else Catalog(locale="zh_Hans_CN", domain="compliance", charset="utf-8")
    if args.check:
        found = problems(template, catalog)
        if not MO.exists() or MO.read_bytes() != compiled(catalog):
            found.append(f"{MO.relative_to(ROOT)} is not {PO.relative_to(ROOT)} compiled: run scripts/messages.py")
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    catalog.project, catalog.version = "community-compliance", ""
    catalog.language_team = catalog.last_translator = "community-compliance"
    catalog.msgid_bugs_address = ""
    PO.parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    write_po(out, catalog, width=100, omit_header=False, sort_output=False, include_previous=False,
             include_lineno=False)
    # No dates in the header: the file changes only when its texts do.
    text = b"\n".join(line for line in out.getvalue().split(b"\n")
                      if not line.startswith((b'"POT-Creation-Date', b'"PO-Revision-Date', b"# Translations template",
                                              b"# Copyright", b"# FIRST AUTHOR")))
    PO.write_bytes(text)
    MO.write_bytes(compiled(read()))
    left = problems(template, read())
    for line in left:
        print(line, file=sys.stderr)
    print(f"{PO.relative_to(ROOT)}: {len(list(read())) - 1} texts, {len(left)} to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
