"""Helpers for the command-line tests: run ``circle`` in-process (click's isolation, our ``main`` with its
exit codes) or as the real console script in a subprocess."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from circle_cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events" / "data"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def circle(*args: str, env: Mapping[str, str | None] | None = None, input: bytes | str | None = None) -> Run:
    """``circle ARGS`` in this process; stdout and stderr apart."""
    runner = CliRunner()
    with runner.isolation(input=input, env=dict(env or {})) as (out, err, _):
        code = main(list(args))
    return Run(code, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace"))


def launcher(tmp_path: Path) -> Path:
    """The ``circle`` console script as pip writes it from pyproject's ``[project.scripts]`` entry."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, attr = scripts["circle"].split(":")
    path = tmp_path / "circle"
    body = f"import sys\nfrom {module} import {attr}\nif __name__ == '__main__':\n    sys.exit({attr}())\n"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def script_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}


def run_script(
    tmp_path: Path, args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(launcher(tmp_path)), *args],
        capture_output=True,
        text=True,
        env=script_env(env),
        timeout=timeout,
        cwd=tmp_path,
        check=False,
    )


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI (and the adapters `invoke` loads) configure the ``circle`` logger; put it back."""
    logger = logging.getLogger("circle")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    root_handlers = list(logging.getLogger().handlers)
    logger.handlers[:] = []  # an adapter imported by another test (Powertools, Cloud Logging) logs to stdout
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]
    logging.getLogger().handlers[:] = root_handlers


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("CIRCLE_CONFIG", raising=False)
    monkeypatch.delenv("CIRCLE_ENV", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
