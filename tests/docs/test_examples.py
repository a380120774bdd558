"""Every file in docs/examples/ runs: as a script on memory:// (how a reader runs it), and the ones that
show cloud stores or adapters against the emulators."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.docs.code_blocks import EXAMPLES, ROOT

LOCAL = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name != "local_invocation.py")


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(path: Path, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if k not in ("CIRCLE_CONFIG", "CIRCLE_ENV")}
    done = subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_every_example_is_covered_here() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py")} == {*LOCAL, "local_invocation.py"}
    assert len(LOCAL) >= 6


@pytest.mark.parametrize("name", LOCAL)
def test_example_runs_as_a_script(name: str) -> None:
    assert _run(EXAMPLES / name).strip()


def test_storage_api_from_s3_to_gcs(emulators: Any, emulator_env: dict[str, str]) -> None:
    bucket = f"docs-{os.urandom(4).hex()}"
    emulators.create_buckets(bucket)
    _example("storage_api").main(f"s3://{bucket}/data", f"gs://{bucket}")


def test_secrets_on_moto_secrets_manager(emulator_env: dict[str, str]) -> None:
    assert _example("secret_stores").main("aws-sm://us-east-1") == "AKIA..."


def test_provider_pages_on_azurite_and_fake_gcs(emulators: Any, emulator_env: dict[str, str]) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient
    from google.api_core.exceptions import Conflict
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    providers = _example("providers")
    with contextlib.suppress(ResourceExistsError):  # a second run on the same session's emulators
        BlobServiceClient.from_connection_string(emulators.azure_connection_string).create_container("photos")
    az = providers.azure(emulators.azure_connection_string)
    assert az.head("cat.jpg").metadata["owner_id"] == "42"
    client = gcs.Client(
        project="circle-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulators.gcs_endpoint},
    )
    with contextlib.suppress(Conflict):
        client.create_bucket("my-bucket")
    gs = providers.gcs(**emulators.store_options()["gs"])
    assert gs.head("2024/q1.csv").content_type == "text/csv"


def test_local_invocation_of_the_three_adapters(emulators: Any) -> None:
    endpoints = f"{emulators.s3_endpoint} {emulators.azure_endpoint} {emulators.gcs_endpoint}"
    out = _run(EXAMPLES / "local_invocation.py", {"CIRCLE_EXAMPLE_ENDPOINTS": endpoints})
    held = dict(line.split(": ", 1) for line in out.splitlines() if line.split(":")[0] in ("aws", "azure", "gcp"))
    for cloud in ("aws", "azure", "gcp"):
        others = [c for c in ("aws", "azure", "gcp") if c != cloud]
        for other in others:  # each cloud's adapter replicated its object to the two others
            assert f"from-{cloud}/in-{cloud}/hello.txt" in held[other], out


def test_costs_page_quotes_the_measured_request_counts() -> None:
    table = _run(EXAMPLES / "request_counts.py").strip()
    assert table.count("\n") >= 6
    assert table in (ROOT / "docs" / "costs.md").read_text(encoding="utf-8"), (
        "docs/costs.md no longer matches docs/examples/request_counts.py: paste its output into the page"
    )
