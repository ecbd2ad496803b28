"""The library as other systems import it: the documented samples run and type-check as written, the package's
namespace holds only what it publishes, and the schemas agree with the documentation."""
from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import compliance

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_samples() -> list[tuple[str, str]]:
    """Every ```python block of the README and the guides: (where, code)."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in re.finditer(r"```python\n(.*?)```", text, re.S):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return found


SAMPLES = python_samples()


@pytest.fixture()
def clone(tmp_path: Path) -> Path:
    """A folder that looks like a clone to the samples (they name files under examples/), writable."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    return tmp_path


def test_the_docs_have_python_samples():
    assert len(SAMPLES) >= 2 and any("read_profiles" in code for _, code in SAMPLES)


@pytest.mark.parametrize("where, code", SAMPLES, ids=[w for w, _ in SAMPLES])
def test_every_python_sample_in_the_docs_runs_as_written(where, code, clone):
    out = subprocess.run([sys.executable, "-c", code], cwd=clone, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{where}\n{out.stderr}"


_CLIENT = '''
"""A strictly typed client of the library: what other systems write."""
import compliance
from compliance import AuditResult, ClauseChange, Comparison, Profile, ProfileError, RuleSource

def score_all(paths: list[str], rules: RuleSource) -> dict[str, float]:
    scores: dict[str, float] = {}
    for result in compliance.audit_many(paths, rules):
        if isinstance(result, AuditResult):
            scores[result.profile.id] = result.score
    return scores

def report(profile: Profile) -> tuple[str, bytes, None]:
    result = compliance.evaluate(profile, "yinzhou")
    md: str = compliance.render(result, "md")
    pdf: bytes = compliance.render(result, "pdf")
    written: None = compliance.render(result, "pdf", "out.pdf")
    return md, pdf, written

def changes(plan: Comparison) -> list[ClauseChange]:
    return list(plan.fixed) + list(plan.broken)

def names() -> tuple[str, ...]:
    return compliance.bundled_rulesets()

def problems(exc: ProfileError) -> list[str]:
    return [f"{p.file}:{p.line}: {p.json_path}: {p.message}" for p in exc.problems]
'''

_WRONG = '''
import compliance

result = compliance.evaluate(compliance.load_profile("examples/haiyue.yaml"))
as_bytes: bytes = compliance.render(result, "md")
as_text: str = compliance.render(result, "pdf")
'''


def test_a_strictly_typed_client_and_the_samples_pass_mypy_strict(clone):
    """The samples and a client written against the API pass ``mypy --strict``; a report format's return type is
    known to the type checker (``md`` gives str, ``pdf`` bytes), so mixing them up is an error it reports."""
    files = []
    for index, (_, code) in enumerate(SAMPLES):
        files.append(clone / f"sample_{index}.py")
        files[-1].write_text(code, encoding="utf-8")
    (clone / "client.py").write_text(_CLIENT, encoding="utf-8")
    (clone / "wrong.py").write_text(_WRONG, encoding="utf-8")
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    if (ROOT / ".mypy_cache").is_dir():     # the package as the test command's own check left it: only ours are new
        shutil.copytree(ROOT / ".mypy_cache", clone / ".mypy_cache", dirs_exist_ok=True)
    out = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "setup.cfg"), "--strict",
                          "--cache-dir", str(clone / ".mypy_cache"), "client.py", "wrong.py",
                          *(f.name for f in files)], cwd=clone, capture_output=True, text=True, env=env, timeout=600)
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    assert [e.split(":")[0:2] for e in errors] == [["wrong.py", "5"], ["wrong.py", "6"]], out.stdout
    assert '"str", variable has type "bytes"' in errors[0] and '"bytes", variable has type "str"' in errors[1]


def test_the_package_namespace_holds_its_public_names_and_its_modules_only():
    modules = {m.name for m in pkgutil.iter_modules(compliance.__path__)}
    names = {n for n in dir(compliance) if not (n.startswith("__") and n.endswith("__"))}
    assert names - set(compliance.__all__) <= modules, names - set(compliance.__all__) - modules
    assert "annotations" not in names
    for name in compliance.__all__:
        assert hasattr(compliance, name), name


def test_no_module_is_shadowed_by_a_function_of_the_same_name():
    """``compliance.render`` is the function; were its module also called render, ``import compliance.render``
    would give the function to some and the module to others."""
    modules = {m.name for m in pkgutil.iter_modules(compliance.__path__)}
    functions = {n for n in compliance.__all__ if inspect.isfunction(getattr(compliance, n))}
    assert {"render", "evaluate", "compare", "load_profile", "read_profiles"} <= functions
    assert not functions & modules
    for name in ("rendering", "evaluation", "comparison"):
        assert inspect.ismodule(importlib.import_module(f"compliance.{name}"))
    assert inspect.isfunction(compliance.render) and inspect.isfunction(compliance.evaluate)


def test_the_result_schema_requires_every_top_level_key_the_reference_documents():
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    listed = text[text.index("Top-level keys:"):]
    listed = listed[:listed.index("\n\n")]
    documented = re.findall(r"`([a-z_]+)`", listed)
    assert {"profile", "library_version", "vetoed"} <= set(documented)
    optional = text[text.index("Optional top-level keys:"):]
    optional = re.findall(r"`([a-z_]+)`", optional[:optional.index("\n\n")])
    schema = compliance.result_schema()
    assert set(schema["required"]) == set(documented)
    assert set(schema["properties"]) == set(documented) | set(optional)
    doc = compliance.evaluate(compliance.load_profile(ROOT / "examples" / "haiyue.yaml")).to_dict()
    assert list(doc) == documented


def test_the_three_schemas_share_one_id_base():
    ids = [compliance.profile_schema()["$id"], compliance.ruleset_schema()["$id"], compliance.result_schema()["$id"]]
    bases = {i.rsplit("/", 1)[0] for i in ids}
    assert len(bases) == 1 and bases.pop().startswith("https://")
    assert [i.rsplit("/", 1)[1] for i in ids] == ["profile-1.schema.json", "ruleset-1.schema.json",
                                                   "result-1.schema.json"]
    assert json.loads(json.dumps(ids))
