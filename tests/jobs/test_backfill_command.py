"""Backfill of an existing bucket is one command: ``python -m core.handlers.jobs reconcile --config ...``
copies every object that existed before any event, in a fresh process (after a dry run that changes nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.handlers.sync import check_stores
from tests.e2e import replication_rig
from tests.jobs.support import contents

pytestmark = pytest.mark.xdist_group("jobs-emulators")
ROOT = Path(__file__).resolve().parents[2]


def _run(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_CA_BUNDLE", "CIRCLE_ENV")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "core.handlers.jobs", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout)


def test_backfill_is_one_command(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="s3")
    for i in range(6):
        clouds.s3.put(f"data/existing-{i}.txt", f"before the deployment {i}".encode())
    code, dry = _run(clouds.config_path, "reconcile", "--dry-run")
    assert code == 0 and dry["copied"] == 12 and contents(clouds.az) == {}
    code, report = _run(clouds.config_path, "reconcile")
    assert code == 0
    assert (report["scanned"], report["copied"], report["failed"]) == (6, 12, 0)
    expected = {f"replica/data/existing-{i}.txt": f"before the deployment {i}".encode() for i in range(6)}
    assert contents(clouds.az) == expected and contents(clouds.gs) == expected
    assert list(check_stores(clouds.s3.scoped("data/"), clouds.az.scoped("replica/data/"))) == []
