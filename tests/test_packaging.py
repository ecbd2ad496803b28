"""A non-editable install carries the rule sets, rule tests, schemas, templates and fonts and works from any folder."""
from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

from conftest import EXAMPLES, ROOT


def _site_dirs() -> list[str]:
    """The running interpreter's package folders, wherever it runs (the system, or an active virtualenv)."""
    return [p for p in sys.path if Path(p).is_dir() and Path(p).name in ("site-packages", "dist-packages")]


def test_pip_install_dot_gives_a_working_command_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)      # the installed copy, not a source tree, is what runs
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)       # pip is this environment's, seen through outer.pth below
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # The new environment sees this one's dependencies (installed here, offline), not its copy of compliance.
    (Path(purelib) / "outer.pth").write_text("\n".join(_site_dirs()) + "\n", encoding="utf-8")
    install = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    where = subprocess.run([py, "-c", "import compliance; print(compliance.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(env_dir))
    cli = env_dir / "bin" / "compliance"
    out = subprocess.run([cli, "audit", str(EXAMPLES / "haichuang-large-community.yaml"), "--rules", "yinzhou",
                          "--format", "json"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ruleset"]["layers"] == ["national", "ningbo", "yinzhou"]
    md = subprocess.run([py, "-m", "compliance", "audit", str(EXAMPLES / "haiyue.yaml"), "--format", "md"],
                        cwd=tmp_path, capture_output=True, text=True)
    assert md.stdout.startswith("# 海悦社区便民服务中心")
    schema = subprocess.run([cli, "schema"], cwd=tmp_path, capture_output=True, text=True)
    assert json.loads(schema.stdout)["title"].startswith("Community convenience service centre profile")
    tests = subprocess.run([cli, "rules", "test", str(Path(purelib) / "compliance" / "rules" / "tests")],
                           cwd=tmp_path, capture_output=True, text=True)
    assert tests.returncode == 0 and "，0 个失败" in tests.stdout, tests.stdout[-2000:] + tests.stderr   # Chinese: the catalogue travelled
    report = tmp_path / "report.pdf"
    pdf = subprocess.run([cli, "audit", str(EXAMPLES / "rural-village-centre.yaml"),
                          "--format", "pdf", "-o", str(report)], cwd=tmp_path, capture_output=True, text=True)
    assert pdf.returncode == 0, pdf.stderr
    assert pdf.stderr == ""                    # nothing said at exit (the font cache once failed to clean up there)
    fonts = subprocess.run(["pdffonts", str(report)], capture_output=True, text=True).stdout
    assert "Report-Sans-CJK" in fonts          # the bundled font cut travelled with the package
    # A district round from the installed package: the batch modules and the district report's template
    # travelled too, and the collection workbook is made from any folder.
    template = subprocess.run([cli, "template", "centres.xlsx", "--rules", "yinzhou"], cwd=tmp_path,
                              capture_output=True, text=True)
    assert template.returncode == 0 and (tmp_path / "centres.xlsx").stat().st_size > 0, template.stderr
    batch = subprocess.run([cli, "batch", str(EXAMPLES / "haiyue.yaml"), str(EXAMPLES / "dandinghe-old-compound.yaml"),
                            "--rules", "yinzhou", "-o", "round", "--jobs", "2"], cwd=tmp_path, capture_output=True,
                           text=True)
    assert batch.returncode == 1, batch.stderr            # 丹顶鹤 is non-conforming under yinzhou
    assert {"results.jsonl", "summary.csv", "summary.xlsx", "district-report.pdf"} <= {
        p.name for p in (tmp_path / "round").iterdir()}
    # The service from the installed package: its migrations, page templates and static files travelled.
    import socket
    import time

    import httpx

    user = subprocess.run([cli, "users", "add", "ops", "--role", "system", "--db", "sqlite:///svc.db"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert user.returncode == 0, user.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([cli, "serve", "--db", "sqlite:///svc.db", "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                login = httpx.get(base + "/login", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert login.status_code == 200 and "登录" in login.text
        assert httpx.get(base + "/static/style.css").status_code == 200
        posted = httpx.post(base + "/v1/audits", content=(EXAMPLES / "haiyue.yaml").read_bytes(),
                            headers={"Authorization": f"Bearer {user.stdout.split()[-1]}",
                                     "Content-Type": "application/yaml"})
        assert posted.status_code == 201, posted.text
    finally:
        server.terminate()
        server.wait(timeout=30)
