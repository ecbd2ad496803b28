from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import compliance

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

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


def run_cli(*args: str, input: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True, input=input,
                         cwd=cwd or ROOT, timeout=120)
    out.stdout, out.stderr = out.stdout.decode("utf-8"), out.stderr.decode("utf-8")
    return out


@pytest.fixture(scope="session")
def national() -> compliance.RuleSet:
    return compliance.load_ruleset("national")
