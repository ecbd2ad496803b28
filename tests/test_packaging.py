"""A non-editable install carries the rule sets, schemas and templates and works from any folder."""
from __future__ import annotations

import json
import subprocess
import sys
import venv

from conftest import EXAMPLES, ROOT


def test_pip_install_dot_gives_a_working_command_from_another_folder(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    where = subprocess.run([py, "-c", "import compliance; print(compliance.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(env_dir))
    out = subprocess.run([env_dir / "bin" / "compliance", "audit", str(EXAMPLES / "haichuang-large-community.yaml"),
                          "--rules", "yinzhou", "--format", "json"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ruleset"]["layers"] == ["national", "ningbo", "yinzhou"]
    md = subprocess.run([py, "-m", "compliance", "audit", str(EXAMPLES / "haiyue.yaml"), "--format", "md"],
                        cwd=tmp_path, capture_output=True, text=True)
    assert md.stdout.startswith("# 海悦社区便民服务中心")
    schema = subprocess.run([env_dir / "bin" / "compliance", "schema"], cwd=tmp_path, capture_output=True, text=True)
    assert json.loads(schema.stdout)["title"].startswith("Community convenience service centre profile")
    report = tmp_path / "report.pdf"
    pdf = subprocess.run([env_dir / "bin" / "compliance", "audit", str(EXAMPLES / "rural-village-centre.yaml"),
                          "--format", "pdf", "-o", str(report)], cwd=tmp_path, capture_output=True, text=True)
    assert pdf.returncode == 0, pdf.stderr
    fonts = subprocess.run(["pdffonts", str(report)], capture_output=True, text=True).stdout
    assert "Report-Sans-CJK" in fonts          # the bundled font cut travelled with the package
