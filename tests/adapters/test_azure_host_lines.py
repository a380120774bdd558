"""Azure: the host forwards a record's message text only, and the core logs a constant message with its
values in ``extra``. Inside the worker (``FUNCTIONS_WORKER_RUNTIME`` set) the adapter renders the fields
into the text the worker's root handlers receive, and keeps them on the record for OpenTelemetry."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from azure_functions import app


class _Worker(logging.Handler):
    """Stands in for the worker's root handler: it forwards ``self.format(record)`` to the host."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.records.append(record)


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Worker]:
    core, root = logging.getLogger("circle"), logging.getLogger()
    saved = (list(core.handlers), core.propagate, core.level)
    handler = _Worker()
    root.addHandler(handler)
    monkeypatch.setenv("FUNCTIONS_WORKER_RUNTIME", "python")
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        core.handlers[:] = saved[0]
        core.propagate, core.level = saved[1], saved[2]


def test_inside_the_worker_a_circle_line_reaches_the_host_with_its_fields(worker: _Worker) -> None:
    app._configure_logging()
    app._configure_logging()  # once per worker, however often the module is configured
    core = logging.getLogger("circle")
    assert sum(isinstance(h, app.HostLines) for h in core.handlers) == 1 and core.propagate is False
    logging.getLogger("circle.replication").warning(
        "no replication rule matches the event", extra={"bucket": "photos", "key": "a b.png", "event_account": None}
    )
    assert worker.lines == ["no replication rule matches the event bucket=photos key=a b.png event_account=None"]
    [record] = worker.records
    assert (record.name, record.levelno, record.bucket) == ("circle.replication", logging.WARNING, "photos")  # type: ignore[attr-defined]


def test_a_line_without_fields_and_a_level_below_the_workers_pass_as_they_are(worker: _Worker) -> None:
    app._configure_logging()
    worker.setLevel(logging.ERROR)
    log = logging.getLogger("circle.azure")
    log.error("delivery raised")
    log.warning("not forwarded: below the worker handler's level", extra={"reason": "x"})
    assert worker.lines == ["delivery raised"]


def test_outside_the_worker_nothing_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNCTIONS_WORKER_RUNTIME", raising=False)
    app._configure_logging()
    assert not any(isinstance(h, app.HostLines) for h in logging.getLogger("circle").handlers)
