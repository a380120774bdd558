"""doctor, probe, rotate and serve."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from scripts.emulators import free_port
from tests.cli.conftest import circle, launcher, script_env, write_config


@pytest.fixture
def mixed(emulator_env: dict[str, str], emulators: Any, tmp_path: Path) -> Path:
    """A file store, a moto store, a degraded (DigitalOcean-profile) target on moto and an unreachable one."""
    emulators.create_bucket("s3", "doctor-src")
    emulators.create_bucket("s3", "doctor-do")
    return write_config(
        tmp_path / "circle.toml",
        f"""
[stores.local]
url = "file://{tmp_path}/local"
[stores.aws]
url = "s3://doctor-src"
[stores.spaces]
url = "s3://doctor-do"
profile = "digitalocean"
region = "us-east-1"
endpoint_url = "{emulators.s3_endpoint}"
access_key_id = "testing"
secret_access_key = "testing"
[stores.down]
url = "s3://nowhere"
endpoint_url = "http://127.0.0.1:{free_port()}"
retry = {{max_attempts = 2, initial_backoff = 0.01}}

[[replication]]
source = "aws"
targets = ["spaces", "local"]
""",
    )


def test_doctor_flags_degraded_targets_and_unreachable_stores(mixed: Path) -> None:
    run = circle("--config", str(mixed), "--json", "doctor", "--timeout", "2")
    assert run.code == 1  # "down" does not answer
    data = json.loads(run.stdout)
    rows = {r["store"]: r for r in data["stores"]}
    assert rows["spaces"]["degraded"] == ["write_with_if_none_match", "write_with_if_match"]
    assert rows["spaces"]["capabilities"]["create-only"] is False and rows["aws"]["capabilities"]["CAS"] is True
    assert rows["aws"]["reachable"] is True and rows["spaces"]["reachable"] is True
    assert rows["down"]["reachable"] is False and rows["down"]["error"].startswith("TransientError")
    assert data["credentials"] == {"aws": "AWS_ACCESS_KEY_ID"}  # the variable's name, never its value
    assert "testing" not in run.stdout
    table = circle("--config", str(mixed), "doctor", "--offline")
    assert table.code == 0
    spaces = next(line for line in table.stdout.splitlines() if line.startswith("spaces"))
    assert "BEST-EFFORT (lacks write_with_if_none_match, write_with_if_match)" in spaces and "not checked" in spaces


def test_probe_reports_each_store_and_exits_1_when_one_is_down(mixed: Path) -> None:
    ok = circle("--config", str(mixed), "--json", "probe", "local", "aws")
    assert ok.code == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] is True and [s["store"] for s in report["stores"]] == ["local", "aws"]
    assert set(report["stores"][1]["latency_ms"]) == {"write", "read", "list", "delete"}
    down = circle("--config", str(mixed), "probe", "down")
    assert down.code == 1 and "down" in down.stdout.splitlines()[1]
    unknown = circle("--config", str(mixed), "probe", "nope")
    assert unknown.code == 2 and "no store named nope" in unknown.stderr


def test_rotate_runs_the_configured_rotation(tmp_path: Path) -> None:
    from core.secrets import open_secrets

    secrets_file = tmp_path / "secrets.json"
    store = open_secrets(f"file://{secrets_file}")
    store.put("api-key", {"kind": "hmac_api_key"})
    config = write_config(
        tmp_path / "circle.toml",
        f"""
[stores.local]
url = "file://{tmp_path}/local"
[[rotation]]
secrets = "file://{secrets_file}"
secret = "api-key"
rotator = "hmac_api_key"
""",
    )
    first = circle("--config", str(config), "--json", "rotate", "api-key")
    assert first.code == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["secret"] == "api-key" and result["outcome"] == "finished"
    key1 = open_secrets(f"file://{secrets_file}").get_json("api-key")["key"]
    second = circle("--config", str(config), "rotate", "api-key")
    assert second.code == 0 and second.stdout.startswith("rotated api-key: finished")
    assert open_secrets(f"file://{secrets_file}").get_json("api-key")["key"] != key1  # past the cache
    assert key1 not in first.stdout + first.stderr + second.stdout + second.stderr  # never the value
    unknown = circle("--config", str(config), "rotate", "other")
    assert unknown.code == 2 and "no [[rotation]] entry names 'other' (declared: api-key)" in unknown.stderr


HTTP_API = importlib.util.find_spec("core.http_api") is not None


def test_serve(tmp_path: Path) -> None:
    """Serves the HTTP API when core.http_api exists (contract H1); says clearly that it is absent otherwise."""
    config = write_config(tmp_path / "circle.toml", f'[stores.local]\nurl = "file://{tmp_path}/local"\n')
    if not HTTP_API:
        run = circle("--config", str(config), "serve")
        assert run.code == 2 and run.err_lines == [
            "circle: error: this build has no HTTP API (core.http_api is missing)"
        ]
        return
    port = free_port()
    proc = subprocess.Popen(
        [str(launcher(tmp_path)), "--config", str(config), "serve", "--port", str(port)],
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert response.status_code < 500
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
