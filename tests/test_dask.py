"""`compliance batch --scheduler`: a round on a Dask cluster gives the bytes a local round gives.

The round uses a district's own rule layer, written here, so the workers must be sent the layer's
bytes (the subprocess workers run in another folder, where its relative path means nothing).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from conftest import EXAMPLES, ROOT

import compliance
from compliance.cli import main

import distributed  # noqa: E402 - the test extra installs Dask: its path is tested, never skipped

DISTRICT_JSONL = EXAMPLES / "yinzhou-district" / "centres.jsonl"
OUTPUTS = ("results.jsonl", "summary.csv", "errors.csv")

LAYER = """\
# A district's own layer: Yinzhou, with longer opening hours required.
ruleset: testdistrict
extends: yinzhou
version: "2027.1"
title: {zh: 测试区, en: Test district}

overrides:
  "8.3": {threshold: 50}
"""


def cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        words = [str(a) for a in args]
        status = main(words if "--lang" in words else [*words, "--lang", "en"])   # the tests read English (conftest)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def round_input(tmp_path_factory):
    """~900 centres (several chunks, so several tasks), one cut-short line and one repeated id; the layer
    file; and the reference: the same round with --jobs 1."""
    folder = tmp_path_factory.mktemp("dask")
    layer_dir = folder / "rules"
    layer_dir.mkdir()
    (layer_dir / "district.yaml").write_text(LAYER, encoding="utf-8")
    rules = compliance.load_ruleset(layer_dir / "district.yaml")
    docs = []
    for line in DISTRICT_JSONL.read_bytes().splitlines():
        try:
            doc = orjson.loads(line)
            docs.append((doc, compliance.evaluate(compliance.load_profile(doc, rules=rules), rules).conforming))
        except (orjson.JSONDecodeError, compliance.ProfileError):
            continue
    conforming = [d for d, ok in docs if ok]
    failing = [d for d, ok in docs if not ok]
    lines = []
    for i in range(900):
        doc = json.loads(json.dumps(failing[i // 300] if i % 300 == 7 else conforming[i % len(conforming)]))
        doc["center"]["id"] = f"{doc['center']['id']}-{i:04d}"
        lines.append(orjson.dumps(doc))
        if i == 400:
            lines.append(b'{"schema_version": 1, "center": {"id": "cut')
        if i == 600:
            lines.append(orjson.dumps(doc))
    source = folder / "round.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    reference = folder / "reference"
    here = os.getcwd()
    os.chdir(layer_dir)
    try:
        status, _, err = cli("batch", source, "--rules", "district.yaml", "-o", reference, "--jobs", "1")
    finally:
        os.chdir(here)
    assert status == 2, err
    return SimpleNamespace(folder=folder, layer_dir=layer_dir, source=source, reference=reference)


def _check_the_layer_was_used(out: Path) -> None:
    first = json.loads((out / "results.jsonl").read_bytes().splitlines()[0])
    assert first["ruleset"]["id"] == "testdistrict"
    assert first["ruleset"]["layers"][-1] == "testdistrict"
    hours = next(f for f in first["findings"] if f["clause"] == "8.3")
    assert (hours["threshold"], hours["threshold_from"]) == (50, "testdistrict")


def _same_as_reference(out: Path, reference: Path) -> None:
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def _batch_on(address: str, round_input, out: Path, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.chdir(round_input.layer_dir)           # the layer by a relative path, as a user types it
    return cli("batch", round_input.source, "--rules", "district.yaml", "-o", out, "--scheduler", address)


def test_a_local_cluster_gives_the_local_rounds_bytes(round_input, monkeypatch):
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        out = round_input.folder / "local-cluster"
        status, _, err = _batch_on(cluster.scheduler_address, round_input, out, monkeypatch)
    assert status == 2, err
    _check_the_layer_was_used(out)
    _same_as_reference(out, round_input.reference)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def subprocess_cluster(tmp_path):
    """A scheduler and two single-threaded workers as their own processes on 127.0.0.1; the workers run
    in an empty folder."""
    scheduler_file = tmp_path / "scheduler.json"
    elsewhere = tmp_path / "worker-home"
    elsewhere.mkdir()
    processes: list[subprocess.Popen] = []

    def start(args: list[str], cwd: Path) -> None:
        processes.append(subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))

    try:
        start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(scheduler_file)], tmp_path)
        deadline = time.monotonic() + 30
        address = None
        while time.monotonic() < deadline and address is None:
            assert processes[0].poll() is None, "the scheduler did not start"
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        assert address, "the scheduler wrote no address"
        for _ in range(2):
            start(["distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1",
                   "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"], elsewhere)
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=30)
        yield address
    finally:
        for p in processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def test_a_scheduler_and_workers_in_their_own_processes_give_the_local_rounds_bytes(
        round_input, subprocess_cluster, monkeypatch):
    out = round_input.folder / "subprocess-cluster"
    status, _, err = _batch_on(subprocess_cluster, round_input, out, monkeypatch)
    assert status == 2, err
    _check_the_layer_was_used(out)
    _same_as_reference(out, round_input.reference)


def _run_quickly(args: list[str], limit: float = 10.0) -> tuple[subprocess.CompletedProcess, float]:
    began = time.monotonic()
    try:
        out = subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True, text=True,
                             cwd=ROOT, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"compliance {' '.join(args)} still running after {limit:.0f} s")
    return out, time.monotonic() - began


def test_an_unreachable_scheduler_is_exit_2_with_a_clear_message_quickly(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"       # nobody listens there
    out, _ = _run_quickly(["batch", str(EXAMPLES / "haiyue.yaml"), "-o", str(tmp_path / "out"),
                              "--scheduler", address, "--lang", "en"])
    assert out.returncode == 2, out.stderr
    assert address in out.stderr and "scheduler" in out.stderr.lower()
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_a_malformed_scheduler_address_is_exit_2_not_an_internal_error(tmp_path):
    out, _ = _run_quickly(["batch", str(EXAMPLES / "haiyue.yaml"), "-o", str(tmp_path / "out"),
                              "--scheduler", "nonsense://127.0.0.1:8786"])
    assert out.returncode == 2, out.stderr
    assert "nonsense://127.0.0.1:8786" in out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
