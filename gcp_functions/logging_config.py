"""Cloud Logging's structured form on stdout: one JSON object per line, which Cloud Run functions ship
to Cloud Logging and parse (``severity``, ``message``, ``logging.googleapis.com/labels``,
``logging.googleapis.com/trace``/``spanId``/``trace_sampled``, ``logging.googleapis.com/sourceLocation``;
any other key lands in ``jsonPayload``).

Why here: functions-framework configures no logging, so the core's ``circle.*`` INFO lines would vanish
(Python's last-resort handler prints WARNING and above, as plain text). ``configure()`` runs at import
and is idempotent. The invocation's trace and labels come from :func:`invocation`, a context manager
the adapter enters per event (a context variable, so concurrent requests in threads do not mix).

Level: ``CIRCLE_LOG_LEVEL`` (default INFO). The trace needs the project id (``GOOGLE_CLOUD_PROJECT`` or
``GCP_PROJECT``); without it the trace id is still printed as the ``trace_id`` label.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["CORE_LOGGER", "CloudLoggingFormatter", "configure", "invocation", "parse_traceparent"]

CORE_LOGGER = "circle"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d+))?(?:;o=([01]))?$")
_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("circle_gcp_log", default=None)


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at write time (a test's capture included)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    """(trace id, span id, sampled) from a W3C ``traceparent`` or an ``X-Cloud-Trace-Context`` value."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    match = _TRACEPARENT.match(value.lower())
    if match and set(match.group(1)) != {"0"}:
        return match.group(1), match.group(2), bool(int(match.group(3), 16) & 1)
    cloud = _CLOUD_TRACE.match(value)
    if cloud:
        span = f"{int(cloud.group(2)):016x}" if cloud.group(2) and int(cloud.group(2)) < 2**64 else ""
        return cloud.group(1).lower(), span, cloud.group(3) == "1"
    return None


@contextlib.contextmanager
def invocation(*, trace: str | None = None, labels: Mapping[str, str] | None = None) -> Iterator[None]:
    """Every line logged inside carries this invocation's trace and labels."""
    token = _context.set({"trace": parse_traceparent(trace), "labels": dict(labels or {})})
    try:
        yield
    finally:
        _context.reset(token)


class CloudLoggingFormatter(logging.Formatter):
    """A LogRecord as one Cloud Logging structured JSON line; ``extra`` fields become payload keys."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": message,
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat().replace("+00:00", "Z"),
            "logger": record.name,
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": str(record.lineno),
                "function": record.funcName,
            },
        }
        labels = {"function": os.environ.get("K_SERVICE") or os.environ.get("FUNCTION_TARGET") or "circle-core"}
        current = _context.get()
        if current:
            labels.update(current["labels"])
            trace = current["trace"]
            if trace:
                trace_id, span_id, sampled = trace
                project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")
                if project:
                    entry["logging.googleapis.com/trace"] = f"projects/{project}/traces/{trace_id}"
                else:
                    labels["trace_id"] = trace_id
                if span_id:
                    entry["logging.googleapis.com/spanId"] = span_id
                entry["logging.googleapis.com/trace_sampled"] = sampled
        entry["logging.googleapis.com/labels"] = {k: str(v) for k, v in labels.items()}
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key not in entry:
                entry[key] = value
        return json.dumps(entry, default=str, ensure_ascii=False)


def _level() -> int:
    name = os.environ.get("CIRCLE_LOG_LEVEL", "").strip().upper() or "INFO"
    level = logging.getLevelName("WARNING" if name == "WARN" else name)
    return level if isinstance(level, int) else logging.INFO


def configure() -> logging.Logger:
    """Attach the Cloud Logging handler to the ``circle`` logger once (stdout, no propagation to root)."""
    logger = logging.getLogger(CORE_LOGGER)
    if not any(getattr(h, "circle_gcp", False) for h in logger.handlers):
        handler = logging.StreamHandler(_CurrentStdout())  # type: ignore[arg-type]
        handler.setFormatter(CloudLoggingFormatter())
        handler.circle_gcp = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(_level())
    logger.propagate = False
    return logger
