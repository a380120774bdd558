"""The channel a host process uses to tell the sandbox what happened: JSON lines on a pipe whose file
descriptor the sandbox passes in ``CIRCLE_SANDBOX_REPORT_FD``. The hosts' own logs (the adapters' real
log lines) go to a log file instead, so the live view is not drowned in them."""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any, TextIO

REPORT_FD = "CIRCLE_SANDBOX_REPORT_FD"
_lock = threading.Lock()
_out: TextIO | None = None


def send(kind: str, **fields: Any) -> None:
    """One report line; silently nothing when not started by the sandbox."""
    global _out
    with _lock:
        if _out is None:
            fd = os.environ.get(REPORT_FD)
            if not fd:
                return
            _out = os.fdopen(int(fd), "w", buffering=1)
        _out.write(json.dumps({"kind": kind, **fields}, default=str) + "\n")


class OutcomeReporter(logging.Handler):
    """Forwards the core's one line per event (``circle.replication`` with ``outcomes``) as a report."""

    def __init__(self, cloud: str) -> None:
        super().__init__(logging.INFO)
        self.cloud = cloud

    def emit(self, record: logging.LogRecord) -> None:
        outcomes = getattr(record, "outcomes", None)
        if outcomes is None:
            return
        send(
            "outcome",
            cloud=self.cloud,
            key=getattr(record, "key", ""),
            event_kind=getattr(record, "event_kind", ""),
            outcomes=outcomes,
        )


def attach(cloud: str) -> None:
    """Report every replication outcome this process logs."""
    logger = logging.getLogger("circle.replication")
    logger.addHandler(OutcomeReporter(cloud))
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
