"""The repository as a newcomer meets it: generated docs are current, the README stands alone, the core reads as described."""
from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

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


@pytest.mark.parametrize("document", ["README.md", "docs/reference.md", "docs/guide.zh.md",
                                      "examples/yinzhou-district/README.md"])
def test_the_documents_link_only_files_that_exist_in_the_repository(document):
    path = ROOT / document
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith(("http://", "https://")):
            assert (path.parent / target).exists(), target


def test_the_readme_is_a_short_front_door_to_the_guides():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 100
    assert "bash scripts/setup.sh" in readme and "bash scripts/test.sh" in readme
    assert "docs/guide.zh.md" in readme and "docs/reference.md" in readme


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _tree(path):
    """A module's syntax tree without its ``if TYPE_CHECKING:`` blocks (imports for type checkers only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for block in [n for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)]:
        block.body = [ast.Pass()]
    return tree


def _imported(name):
    """Modules of ours that module ``name`` imports at run time, at any depth (inside functions too), each with
    the names it takes from it: {module: {name, ...}}."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = {}
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("compliance"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:                        # from . import reading: the module itself
                    out.setdefault(sub, set())
                else:
                    out.setdefault(target, set()).add(alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("compliance"):
                    out.setdefault(alias.name, set())
    return out


def _imports(path):
    """Modules of ours a module imports at run time (imports for type checkers only are left out)."""
    return list(_imported(_module_name(path)))


def test_the_package_imports_one_way_with_no_circle():
    graph = {name: set(_imported(name)) for name in MODULES}
    state = {}

    def visit(name, trail):
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                circle = trail[trail.index(target):] + [target]
                raise AssertionError("import circle: " + " → ".join(circle))
            if target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # Nothing inside the package imports the package's __init__ (it imports everything).
    assert not [name for name in graph if "compliance" in graph[name]]


def _defined(tree):
    """Every name a module defines or binds: functions, classes, variables, attributes it sets, parameters."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)                 # object.__setattr__(self, "_frozen", …)
    return names


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_is_used_outside_its_module():
    crossings = []
    for name, path in sorted(MODULES.items()):
        tree = _tree(path)
        own = _defined(tree)
        for target, taken in _imported(name).items():
            crossings += [f"{name} imports {target}.{t}" for t in sorted(taken) if _private(t)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
                crossings.append(f"{name}:{node.lineno} uses {ast.unparse(node)}")
    assert crossings == []


def test_the_test_of_private_names_finds_one():
    tree = ast.parse("from .table import _blank\nrows = [table._text(v) for v in values]\n")
    own = _defined(tree)
    assert [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and _private(n.attr)
            and n.attr not in own] == ["_text"]


def test_the_model_is_a_leaf_that_imports_nothing_of_ours():
    assert _imports(PACKAGE / "model.py") == []
    assert _imports(PACKAGE / "version.py") == []


def test_lower_stages_never_import_higher_ones():
    order = ["version", "model", "errors", "wording", "result", "checks", "contract", "reading", "layers", "compile",
             "profile", "waivers", "evaluation", "comparison", "reconciliation", "writing", "pdf", "rendering", "ruletest", "batch",
             "service", "cli"]
    rank = {name: i for i, name in enumerate(order)}
    for name in MODULES:
        here = name.split(".")[1] if "." in name else None
        for imported in _imports(MODULES[name]):
            there = imported.split(".")[1] if "." in imported else None
            if here in rank and there in rank:
                assert rank[there] <= rank[here], f"{name} imports {imported}"


def test_every_check_type_is_one_complete_record_and_part_of_the_meta_schema():
    schema = ruleset_schema()
    listed = schema["$defs"]["check"]["properties"]["type"]["enum"]
    assert sorted(CHECK_TYPES) == listed
    for name, record in CHECK_TYPES.items():
        assert isinstance(record, CheckType) and record.name == name and record.description
        for part in ("compile", "compile_columns", "threshold_param", "measured_text", "threshold_text", "schema"):
            assert callable(getattr(record, part))
        assert record.schema()["properties"]["type"] == {"const": name}
        assert set(record.required) <= set(record.properties)


def test_schema_ruleset_prints_the_assembled_meta_schema():
    out = run_cli("schema", "ruleset")
    assert out.returncode == 0
    assert "area_ratio" in out.stdout and '"$defs"' in out.stdout


def test_the_package_ships_its_type_information():
    assert (PACKAGE / "py.typed").exists()
