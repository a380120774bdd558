"""Every adapter test starts with no cached runtime, so the configuration a test writes is the one used."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

ADAPTERS = ("aws_lambda.handlers", "azure_functions.app", "gcp_functions.main")


def reset_adapter_runtimes() -> None:
    """Forget the runtime each already-imported adapter built at its cold start."""
    for name in ADAPTERS:
        module = sys.modules.get(name)
        if module is not None:
            module.reset_runtime()


@pytest.fixture(autouse=True)
def _fresh_runtimes() -> Iterator[None]:
    reset_adapter_runtimes()
    yield
    reset_adapter_runtimes()
