"""``--json`` everywhere: errors are one JSON object on stderr with the exit code they have without it,
``serve --json`` prints its banner as JSON, and ``cat --json`` says clearly that it does not apply."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cli.conftest import circle, launcher, script_env, write_config


def _error(run: Any) -> dict[str, Any]:
    assert run.stdout == "", run.stdout
    [line] = run.err_lines
    document = json.loads(line)
    assert set(document) == {"error"}
    return document["error"]  # type: ignore[no-any-return]


@pytest.fixture
def config(tmp_path: Path, no_config: Path) -> Path:
    return write_config(tmp_path / "circle.toml", f'[stores.local]\nurl = "file://{tmp_path}/local"\n')


@pytest.mark.parametrize(
    ("args", "code", "kind", "says"),
    [
        (["cp", "only-one-arg"], 2, "MissingParameter", "Missing argument 'DST'"),
        (["frobnicate"], 2, "NoSuchCommand", "No such command 'frobnicate'"),
        (["stat", "local:no/such.key"], 1, "NotFound", "no/such.key"),
        (["ls", "nostore:"], 2, "CliError", "nostore"),
        (["rm", "local:missing.txt"], 1, "CliError", "local:missing.txt: no such object"),
    ],
)
def test_errors_are_json_on_stderr_with_the_same_exit_code(
    config: Path, args: list[str], code: int, kind: str, says: str
) -> None:
    plain = circle("--config", str(config), *args)
    assert plain.code == code and plain.stdout == ""
    assert not plain.stderr.lstrip().startswith("{")
    as_json = circle("--config", str(config), "--json", *args)
    assert as_json.code == code
    error = _error(as_json)
    assert error["code"] == code and error["type"] == kind and says in error["message"], error
    assert "bug" not in error


def test_a_configuration_error_is_json_and_names_the_field(tmp_path: Path, no_config: Path) -> None:
    bad = write_config(tmp_path / "bad.toml", '[stores.local]\nurl = "file:///tmp/x"\nregoin = "eu"\n')
    run = circle("--json", "--config", str(bad), "ls")
    assert run.code == 2
    error = _error(run)
    assert error["type"] == "ConfigError" and error["message"].startswith("stores.local.regoin"), error


def test_json_after_the_subcommand_is_not_the_global_flag(config: Path) -> None:
    """``--json`` belongs before the subcommand; after it, click's own usage error (not JSON) says so."""
    run = circle("--config", str(config), "ls", "--json")
    assert run.code == 2 and "No such option '--json'" in run.stderr and not run.stderr.startswith("{")


def test_cat_json_is_a_usage_error(config: Path, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"bytes\n")
    assert circle("--config", str(config), "cp", str(tmp_path / "a.txt"), "local:a.txt").code == 0
    raw = circle("--config", str(config), "cat", "local:a.txt")
    assert raw.code == 0 and raw.stdout == "bytes\n"
    run = circle("--config", str(config), "--json", "cat", "local:a.txt")
    assert run.code == 2
    error = _error(run)
    assert "raw bytes" in error["message"] and "--json does not apply" in error["message"]


def test_serve_json_prints_its_banner_as_json(tmp_path: Path) -> None:
    pytest.importorskip("core.http_api")
    config = write_config(tmp_path / "circle.toml", f'[stores.local]\nurl = "file://{tmp_path}/local"\n')
    proc = subprocess.Popen(
        [str(launcher(tmp_path)), "--json", "--config", str(config), "serve", "--port", "0"],
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = json.loads(proc.stdout.readline())  # blocks until the server is bound
        assert banner["host"] == "127.0.0.1" and banner["port"] > 0 and banner["pid"] == proc.pid
        assert banner["serving"] == f"http://127.0.0.1:{banner['port']}/"
        assert requests.get(banner["serving"] + "health", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None and "serving the HTTP API" not in proc.stderr.read()
