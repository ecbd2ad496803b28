"""The repository as a newcomer meets it: generated docs are current, the README stands alone, the core reads as described."""
from __future__ import annotations

import ast
import re
import subprocess
import sys

import compliance
from compliance.checks import CHECK_TYPES, CheckType
from compliance.contract import ruleset_schema

from conftest import ROOT, run_cli

PACKAGE = ROOT / "compliance"


def test_the_clause_reference_in_docs_is_generated_from_the_current_rules():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_docs.py"), "--check"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text = (ROOT / "docs" / "clauses.md").read_text(encoding="utf-8")
    for rules in ("national", "ningbo", "yinzhou", "beijing"):
        for clause in compliance.load_ruleset(rules).clauses:
            assert f"### {clause.clause} {clause.title['zh']}" in text


def test_nothing_in_the_repository_points_outside_it():
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    up, home = "../" + "shared", "/" + "work/"               # spelt in pieces so this file does not match itself
    outside = re.compile("|".join(re.escape(p) for p in (up, home, "shared" + "/spec", "shared" + "/seeds")))
    offenders = [name for name in tracked
                 if name.endswith((".md", ".py", ".sh", ".yaml", ".cfg", ".toml", ".j2", ".css"))
                 and outside.search((ROOT / name).read_text(encoding="utf-8", errors="replace"))]
    assert offenders == []


def test_the_readme_links_only_files_that_exist_in_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target


def _imports(path):
    """Modules of ours a module imports at run time (imports for type checkers only are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for block in [n for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)]:
        block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            yield node.module or ""
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("compliance"):
                    yield alias.name


def test_the_model_is_a_leaf_that_imports_nothing_of_ours():
    assert list(_imports(PACKAGE / "model.py")) == []


def test_lower_stages_never_import_higher_ones():
    order = ["model", "errors", "wording", "result", "checks", "contract", "reading", "layers", "compile", "profile",
             "evaluate", "compare", "writing", "pdf", "render", "ruletest", "cli"]
    rank = {name: i for i, name in enumerate(order)}
    for name in order:
        for imported in _imports(PACKAGE / f"{name}.py"):
            module = imported.split(".")[-1]
            if module in rank:
                assert rank[module] < rank[name] or module == name, f"{name} imports {module}"


def test_every_check_type_is_one_complete_record_and_part_of_the_meta_schema():
    schema = ruleset_schema()
    listed = schema["$defs"]["check"]["properties"]["type"]["enum"]
    assert sorted(CHECK_TYPES) == listed
    for name, record in CHECK_TYPES.items():
        assert isinstance(record, CheckType) and record.name == name and record.description
        for part in ("compile", "threshold_param", "measured_text", "threshold_text", "schema"):
            assert callable(getattr(record, part))
        assert record.schema()["properties"]["type"] == {"const": name}
        assert set(record.required) <= set(record.properties)


def test_schema_ruleset_prints_the_assembled_meta_schema():
    out = run_cli("schema", "ruleset")
    assert out.returncode == 0
    assert "area_ratio" in out.stdout and '"$defs"' in out.stdout


def test_the_package_ships_its_type_information():
    assert (PACKAGE / "py.typed").exists()
