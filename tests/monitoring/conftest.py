"""Every monitoring test starts and ends with no cached adapter runtime (each writes its own config)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adapters.conftest import reset_adapter_runtimes


@pytest.fixture(autouse=True)
def _fresh_runtimes() -> Iterator[None]:
    reset_adapter_runtimes()
    yield
    reset_adapter_runtimes()
