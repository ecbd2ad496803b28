from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import compliance
from compliance.i18n import set_language

# These tests read messages in English, the language contributors share; what a person sees by default, in
# Chinese, is tested in test_language.py (in-process with use_language("zh"), and the default in new processes).
set_language("en")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# The example profiles (a waiver file is YAML too, and no profile)
# The example profiles that stand alone (a district's inspections, written for its rule set and with its photos,
# are the district example's, checked by tests/test_example_year.py), not the waiver files.
PROFILE_EXAMPLES = sorted(p for p in EXAMPLES.rglob("*.yaml")
                          if not p.name.startswith("waivers") and "yinzhou-district" not in p.parts)

# The example of profile.md: every national clause passes.
BASE: dict[str, Any] = compliance.load_profile(EXAMPLES / "haiyue.yaml").data


_DELETE = object()


def profile(**changes: Any) -> dict[str, Any]:
    """A copy of BASE with dotted-path changes; a value of DELETE removes the key."""
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        keys = dotted.split("__")
        node = doc
        for key in keys[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return doc


DELETE = _DELETE


def without(lst: list[str], *codes: str) -> list[str]:
    return [c for c in lst if c not in codes]


def run_cli(*args: str, input: bytes | None = None, cwd: Path | None = None,
            lang: str | None = "en") -> subprocess.CompletedProcess:
    """``compliance ARGS`` in a new process, its messages in ``lang`` (``None``: the command's own default)."""
    language = ["--lang", lang] if lang and "--lang" not in args else []
    out = subprocess.run([sys.executable, "-m", "compliance", *args, *language], capture_output=True, input=input,
                         cwd=cwd or ROOT, timeout=120)
    out.stdout, out.stderr = out.stdout.decode("utf-8"), out.stderr.decode("utf-8")
    return out


@pytest.fixture(scope="session")
def national() -> compliance.RuleSet:
    return compliance.load_ruleset("national")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
