"""Log levels in a fresh interpreter, as each platform starts one: the core's INFO lines must reach the
adapter's output although the root logger sits at WARNING (Lambda's runtime, Python's default), and the
platform's level setting still applies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EMIT = (
    "import logging; logging.basicConfig(level=logging.WARNING); import {module}; "
    "logging.getLogger('circle.replication').info('core info line', extra={{'key': 'a/b'}})"
)


def _run(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("LOG_LEVEL")}
    return subprocess.run(
        [sys.executable, "-c", EMIT.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
    )


@pytest.mark.parametrize(
    ("env", "shown"),
    [({}, True), ({"POWERTOOLS_LOG_LEVEL": "INFO"}, True), ({"AWS_LAMBDA_LOG_LEVEL": "WARN"}, False)],
)
def test_lambda_prints_core_info_as_powertools_json(env: dict[str, str], shown: bool) -> None:
    out = _run("aws_lambda.handlers", **env)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("message") == "core info line"]
    assert len(mine) == (1 if shown else 0), out
    if shown:
        assert (mine[0]["level"], mine[0]["name"], mine[0]["key"]) == ("INFO", "circle.replication", "a/b")
    assert "core info line" not in out.stderr  # printed once, not again by the root handler


@pytest.mark.parametrize(("env", "shown"), [({}, True), ({"CIRCLE_LOG_LEVEL": "WARNING"}, False)])
def test_gcp_prints_core_info_as_cloud_logging_json(env: dict[str, str], shown: bool) -> None:
    out = _run("gcp_functions.main", **env)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("message") == "core info line"]
    assert len(mine) == (1 if shown else 0), out
    if shown:
        assert (mine[0]["severity"], mine[0]["logger"], mine[0]["key"]) == ("INFO", "circle.replication", "a/b")
        assert mine[0]["logging.googleapis.com/labels"]["function"]
    assert "core info line" not in out.stderr


def test_azure_lets_core_info_reach_the_workers_root_handler() -> None:
    out = _run("azure_functions.app")
    assert "INFO:circle.replication:core info line" in out.stderr  # basicConfig's root handler stands in
