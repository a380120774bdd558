"""Every adapter test starts with no cached runtime, so the configuration a test writes is the one used;
tests that read log output ask for one adapter's logging configuration (``aws_logging``, ``azure_logging``)."""

from __future__ import annotations

import contextlib
import logging
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


@contextlib.contextmanager
def _pristine_circle_logger() -> Iterator[None]:
    """Each adapter configures the process-wide ``circle`` logger for its own platform at import, and a
    test process imports all three: put the logger back to Python's defaults for one test (which then
    applies one adapter's own configuration) and restore the previous state afterwards."""
    core = logging.getLogger("circle")
    saved = (list(core.handlers), core.propagate, core.level)
    core.handlers, core.propagate, core.level = [], True, logging.NOTSET
    try:
        yield
    finally:
        core.handlers, core.propagate, core.level = saved


@pytest.fixture
def aws_logging() -> Iterator[None]:
    """The ``circle`` logger as the Lambda adapter configures it (Powertools JSON on stdout)."""
    from aws_lambda import handlers
    from aws_lambda.logging_config import attach_core_logger

    with _pristine_circle_logger():
        attach_core_logger(handlers.logger)
        yield


@pytest.fixture
def azure_logging() -> Iterator[None]:
    """The ``circle`` logger as the Azure adapter configures it (INFO, propagating to the worker's root)."""
    from azure_functions import app

    with _pristine_circle_logger():
        app._configure_logging()
        yield
