"""Fixtures for the HTTP API tests: one rig per session (buckets, circle.toml, issuer, API keys) and a
client per adapter; the adapters' cached runtimes are reset so they read this rig's configuration."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_api import support


def _reset_adapters() -> None:
    for name in ("aws_lambda.handlers", "azure_functions.app", "gcp_functions.main"):
        module = sys.modules.get(name)
        if module is not None:
            module.reset_runtime()
    for name in ("aws_lambda.http", "azure_functions.http", "gcp_functions.http"):
        module = sys.modules.get(name)
        if module is not None:
            module.reset_api()


@pytest.fixture(scope="session")
def issuer() -> Iterator[support.Issuer]:
    found = support.Issuer()
    yield found
    found.close()


@pytest.fixture(scope="session")
def rig(emulators: Any, issuer: support.Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Rig]:
    built = support.build(emulators, tmp_path_factory.mktemp("http"), issuer)
    saved = {k: os.environ.get(k) for k in ("CIRCLE_CONFIG", "CIRCLE_ENV", "CIRCLE_SECRETS_URL")}
    os.environ["CIRCLE_CONFIG"] = str(built.config_path)
    os.environ.pop("CIRCLE_ENV", None)
    os.environ.pop("CIRCLE_SECRETS_URL", None)
    _reset_adapters()
    yield built
    _reset_adapters()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def gcp_server(rig: support.Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = Path(tmp_path_factory.mktemp("ff")) / "ff.log"
    proc, url = support.start_gcp_server(rig.config_path, log)
    yield url
    support.stop(proc)


@pytest.fixture(params=["lambda", "lambda-url", "azure", "gcp"])
def client(request: pytest.FixtureRequest, rig: support.Rig) -> Any:
    """Lambda twice: API Gateway HTTP API events and Lambda Function URL events (both payload 2.0,
    built from the recorded samples)."""
    if request.param == "lambda":
        return support.LambdaClient()
    if request.param == "lambda-url":
        return support.LambdaClient(support.FUNCTION_URL)
    if request.param == "azure":
        if sys.version_info < (3, 13):
            pytest.fail("azure-functions-runtime needs Python 3.13")
        return support.AzureClient()
    return support.GcpClient(request.getfixturevalue("gcp_server"))


@pytest.fixture
def alice(rig: support.Rig) -> dict[str, str]:
    return {"authorization": "Bearer " + rig.issuer.token("alice")}
