"""Stopping the emulators with a signal: SIGTERM (``kill <pid>``), SIGHUP and Ctrl-C stop moto, Azurite and
fake-gcs-server and remove their temp folder, both for ``python -m scripts.emulators`` and for
``circle emulators``; the configuration's buckets are created first."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.cli.conftest import ROOT, launcher, script_env, write_config


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env(), cwd=cwd)
    lines: list[str] = []
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(("# emulators running", "{")):
            return proc, lines
    proc.kill()
    raise AssertionError(f"the emulators did not start: {lines} {proc.stderr.read() if proc.stderr else ''}")


def _stop_and_check(proc: subprocess.Popen[str], lines: list[str], sig: int) -> None:
    if lines[-1].startswith("{"):  # --json
        data = json.loads(lines[-1])
        pids, temp = data["pids"], data["temp_dir"]
    else:
        info = next(line for line in lines if line.startswith("# pids "))
        pids = [int(p) for p in re.findall(r"\d+", info.split(";")[0])]
        temp = info.split("temp folder ", 1)[1]
    family = [proc.pid, *pids, *(c.pid for p in pids for c in psutil.Process(p).children(recursive=True))]
    assert len(pids) == 3 and all(psutil.pid_exists(p) for p in pids) and Path(temp).is_dir()
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=30) == 0
    survivors = [p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert survivors == []
    assert not Path(temp).exists()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "circle.toml",
        """
[stores.a]
url = "s3://emu-one/prefix"
[stores.b]
url = "az://emu-two"
[stores.c]
url = "gs://emu-three"
[stores.d]
url = "file:///tmp/not-an-emulator"
[env.dev.stores.a]
url = "s3://emu-dev"
""",
    )


def test_sigterm_stops_every_emulator_and_removes_the_temp_folder(tmp_path: Path, config: Path) -> None:
    proc, lines = _start([sys.executable, "-m", "scripts.emulators", "--config", str(config)], ROOT)
    assert "# created s3://emu-one" in lines and "# created s3://emu-dev" in lines
    assert "# created az://emu-two" in lines and "# created gs://emu-three" in lines
    env = dict(re.findall(r"^export (\w+)='(.*)'$", "\n".join(lines), re.M))
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"emu-one", "emu-dev"}
    _stop_and_check(proc, lines, signal.SIGTERM)


def test_circle_emulators_stops_on_sigterm(tmp_path: Path, config: Path) -> None:
    proc, lines = _start([str(launcher(tmp_path)), "--config", str(config), "emulators"], tmp_path)
    assert any(line.startswith("export AZURE_STORAGE_CONNECTION_STRING=") for line in lines)
    from azure.storage.blob import BlobServiceClient

    conn = dict(re.findall(r"^export (\w+)='(.*)'$", "\n".join(lines), re.M))["AZURE_STORAGE_CONNECTION_STRING"]
    assert [c.name for c in BlobServiceClient.from_connection_string(conn).list_containers()] == ["emu-two"]
    _stop_and_check(proc, lines, signal.SIGTERM)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
def test_ctrl_c_and_hangup_stop_them_too(tmp_path: Path, sig: int) -> None:
    proc, lines = _start([str(launcher(tmp_path)), "emulators"], tmp_path)
    assert not [line for line in lines if line.startswith("# created")]
    _stop_and_check(proc, lines, sig)


def test_circle_emulators_json_is_one_object(tmp_path: Path, config: Path) -> None:
    proc, lines = _start([str(launcher(tmp_path)), "--json", "--config", str(config), "emulators"], tmp_path)
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["created"] == ["s3://emu-one", "az://emu-two", "gs://emu-three", "s3://emu-dev"]
    assert data["env"]["AWS_ACCESS_KEY_ID"] == "testing" and data["env"]["STORAGE_EMULATOR_HOST"].startswith("http://")
    _stop_and_check(proc, lines, signal.SIGTERM)


def test_circle_emulators_rejects_a_bad_configuration_before_starting(tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.toml", '[stores.a]\nurl = "s3://x"\nregoin = "x"\n')
    proc = subprocess.run(
        [str(launcher(tmp_path)), "--config", str(bad), "emulators"],
        capture_output=True,
        text=True,
        env=script_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "regoin" in proc.stderr and proc.stdout == ""
