"""The console script itself: help (fast, nothing heavy imported), every subcommand's help, exit codes,
one-line errors, and that the CLI stays out of the function bundles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from circle_cli.main import COMMANDS
from tests.cli.conftest import ROOT, circle, launcher, run_script, script_env, write_config


def test_help_lists_every_command_without_importing_core_or_rich(tmp_path: Path) -> None:
    probe = (
        "import sys; from circle_cli.main import main; code = main(['--help']); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('core', 'rich', 'boto3', 'botocore') "
        "or m.startswith(('azure.', 'google.cloud.', 'google.auth'))); "
        "print('HEAVY', heavy, code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=script_env(), check=True, cwd=tmp_path
    ).stdout
    for name in COMMANDS:
        assert f"\n  {name} " in out
    assert "HEAVY [] 0" in out


def test_the_console_script_help_imports_no_core_sdk_or_rich(tmp_path: Path) -> None:
    """The real console script, in a fresh interpreter (``-X importtime`` lists every module it imports):
    ``circle --help`` loads click and the command table only. Its time is measured by
    ``python -m bench.bench_cli_help`` (docs/benchmarks.md), not asserted here."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(launcher(tmp_path)), "--help"],
        capture_output=True,
        text=True,
        env=script_env(),
        cwd=tmp_path,
        check=True,
    )
    assert "Commands:" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "click" in imported and "circle_cli.main" in imported  # the listing is real
    heavy = sorted(
        m
        for m in imported
        if m.split(".")[0] in ("core", "rich", "boto3", "botocore", "aws_lambda", "azure_functions", "gcp_functions")
        or m.startswith(("azure.", "google.cloud", "google.auth", "functions_framework"))
    )
    assert heavy == [], heavy


def test_console_script_runs_and_maps_exit_codes(tmp_path: Path) -> None:
    assert run_script(tmp_path, ["--version"]).stdout.strip() == "circle, version 0.1.0"
    usage = run_script(tmp_path, ["cp", "only-one-arg"])
    assert usage.returncode == 2 and "Missing argument 'DST'" in usage.stderr
    unknown = run_script(tmp_path, ["frobnicate"])
    assert unknown.returncode == 2 and "No such command 'frobnicate'" in unknown.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_subcommand_has_help(name: str) -> None:
    run = circle(name, "--help")
    assert run.code == 0, run.stderr
    assert "Usage: circle " + name in run.stdout


def test_events_group_help_lists_show() -> None:
    run = circle("events", "--help")
    assert run.code == 0 and "show" in run.stdout


def test_missing_configuration_is_a_usage_error(no_config: Path) -> None:
    run = circle("ls")
    assert run.code == 2
    assert run.err_lines == ["circle: error: no configuration: pass --config circle.toml or set CIRCLE_CONFIG"]


def test_an_invalid_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path / "circle.toml", '[stores.a]\nurl = "file:///tmp/x"\nregoin = "eu"\n')
    run = circle("--config", str(config), "ls")
    assert run.code == 2
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith("circle: error: ")
    assert "stores.a.regoin" in run.stderr and "Traceback" not in run.stderr


def test_a_storage_failure_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = write_config(tmp_path / "circle.toml", f'[stores.a]\nurl = "file://{tmp_path}/a"\n')
    run = circle("--config", str(config), "cat", "a:missing.txt")
    assert run.code == 1
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith("circle: error: NotFound")


def test_a_bug_is_reported_as_such_and_shown_with_verbose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import circle_cli.objects as objects

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(objects, "_list_stores", broken)  # a programming error inside a command
    config = write_config(tmp_path / "circle.toml", f'[stores.a]\nurl = "file://{tmp_path}/a"\n')
    run = circle("--config", str(config), "ls")
    assert run.code == 1 and run.err_lines == [
        "circle: unexpected error (a bug; -v shows the traceback): RuntimeError: boom"
    ]
    with pytest.raises(RuntimeError, match="boom"):
        circle("--config", str(config), "-v", "ls")


def test_the_cli_and_its_dependencies_stay_out_of_the_function_bundles(tmp_path: Path) -> None:
    from scripts import bundle

    for cloud in bundle.CLOUDS:
        reqs = bundle.requirements(cloud)
        assert not [r for r in reqs if r.split(">")[0].split("=")[0].strip() in ("click", "rich")], (cloud, reqs)
    config = write_config(tmp_path / "circle.toml", f'[stores.a]\nurl = "file://{tmp_path}/a"\n')
    built = bundle.build("aws", tmp_path / "dist", config=config)
    assert (built / "core").is_dir() and not (built / "circle_cli").exists()
    assert not list(built.rglob("circle_cli*"))
    assert "rich" not in (built / "requirements.txt").read_text()


def test_cli_extra_declares_click_rich_and_obstore() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {r.split(">")[0] for r in project["optional-dependencies"]["cli"]} == {"click", "rich", "obstore"}
    assert project["scripts"]["circle"] == "circle_cli.main:main"
