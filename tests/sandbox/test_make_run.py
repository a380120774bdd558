"""`make run` end to end: the sandbox runs in a subprocess (as `make run` starts it) with its own empty
TMPDIR, so whatever it leaves on disk is visible; other runs are stopped mid-demo by SIGTERM and by
Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it)."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from scripts.emulators import ROOT

CLOUDS = ("aws", "azure", "gcp")


def _start(tmp_path: Path, *args: str, session: bool = False) -> tuple[subprocess.Popen[str], Path]:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("CIRCLE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.sandbox", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=session,  # its own process group, as a terminal's foreground job
    )
    return proc, tmpdir


def test_the_sandbox_replicates_every_change_through_all_three_adapters(tmp_path: Path) -> None:
    proc, tmpdir = _start(tmp_path, "--duration", "90")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    summary = out[out.index("== summary ==") :]
    assert "RESULT: all 24 replicas converged" in summary
    for cloud in CLOUDS:
        # each cloud's function received deliveries and replicated (copies and deletes) through its adapter
        line = re.search(rf"^  {cloud} +(\d+) delivered, 0 not acknowledged; outcomes: (.*)$", summary, re.M)
        assert line is not None, summary
        assert int(line[1]) >= 4
        assert "copied 6" in line[2] and "deleted 2" in line[2]
        others = [c for c in CLOUDS if c != cloud]
        for key, what in ((f"demo/hello-{cloud}.txt", "created"), (f"demo/hello-{cloud}.txt", "overwritten")):
            [row] = [r for r in summary.splitlines() if r.startswith(f"  {cloud}:{key} {what}")]
            for other in others:
                assert re.search(rf"{other}:from-{cloud}/{re.escape(key)} ok \d+\.\d+s", row), row
        [row] = [r for r in summary.splitlines() if r.startswith(f"  {cloud}:demo/report-{cloud}.csv deleted")]
        assert row.count(" ok ") == 2, row
    assert "failure:" not in summary
    if importlib.util.find_spec("core.http_api") is None:
        assert "HTTP API: not available in this checkout" in out
    else:  # served with a development key; one authenticated GET of a replica through it
        assert "http api: GET /stores/gcp/objects/from-aws/demo/hello-aws.txt -> 200 b'hello from aws, version 2" in out
    if importlib.util.find_spec("core.handlers.probe") is None:
        assert "probe: not available in this checkout" in summary
    else:
        for cloud in CLOUDS:  # the probe's canary round trip on each store
            assert re.search(rf"^probe: {cloud} up \(", summary, re.M), summary
    assert "stopped: every process ended" in out
    assert list(tmpdir.iterdir()) == []  # emulators' data, logs, config: all removed


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_mid_demo_stops_every_process_and_removes_its_files(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM goes to the sandbox's PID (``kill <pid>``); Ctrl-C is SIGINT to its whole process group."""
    proc, tmpdir = _start(tmp_path, "--forever", session=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "demo: create" in line:
            break
    else:
        pytest.fail("the sandbox ended before its demo started:\n" + "".join(lines))
    started = [line for line in lines if "running: pids" in line]
    assert started, lines
    named = {int(pid) for pid in re.findall(r": (\d+)", started[0])}
    children = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    assert len(named) == 7 and named <= children  # moto, 2x Azurite, fake-gcs, 2 hosts, functions-framework
    assert list(tmpdir.iterdir())  # it is using its temp folders
    if sig == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C (make and the sandbox alike)
    else:
        proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)  # five-second grace per process group at most
    assert proc.returncode == 128 + sig, rest
    assert f"{sig.name}: stopping everything the sandbox started" in rest
    deadline = time.monotonic() + 5
    alive = children
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"}
        time.sleep(0.1)
    assert not alive, f"still running after {sig.name}: {alive}"
    assert list(tmpdir.iterdir()) == []
