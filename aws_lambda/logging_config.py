"""Lambda logging: one Powertools JSON logger whose handler also serves the core's ``circle.*`` loggers.

Why: the Lambda runtime leaves the root logger at WARNING, so the core's INFO lines (one per event
outcome) vanish unless something configures them. The Powertools handler is copied onto the ``circle``
logger (children propagate to it, it stops propagating to the runtime's root handler, so no line is
printed twice), and every line carries the invocation's keys: ``cold_start``, ``function_request_id``,
``correlation_id`` and the logger ``name``.

Level: ``POWERTOOLS_LOG_LEVEL``, overridden by Lambda's own ``AWS_LAMBDA_LOG_LEVEL`` (the function's
``LoggingConfig.ApplicationLogLevel``) as Powertools does; INFO when neither is set.
"""

from __future__ import annotations

import logging
import os
import sys

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

__all__ = ["CORE_LOGGER", "attach_core_logger", "build_logger", "log_level"]

CORE_LOGGER = "circle"


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at write time (Lambda's never changes; a test's capture does)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def log_level() -> str:
    """The configured level name: Lambda's application log level wins, then Powertools', then INFO."""
    for name in ("AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL"):
        value = os.environ.get(name, "").strip().upper()
        if value:
            return "WARNING" if value == "WARN" else value
    return "INFO"


def build_logger(service: str = "circle-core") -> Logger:
    """The adapter's Powertools logger, with its handler copied onto the core's ``circle`` logger."""
    logger = Logger(
        service=os.environ.get("POWERTOOLS_SERVICE_NAME") or service,
        level=log_level(),
        stream=_CurrentStdout(),  # type: ignore[arg-type]
    )
    attach_core_logger(logger)
    return logger


def attach_core_logger(logger: Logger) -> None:
    """Give the ``circle`` logger the Powertools handler (and level); it stops propagating to root."""
    logging.getLogger(CORE_LOGGER)  # register it, so the copy below finds it
    copy_config_to_registered_loggers(source_logger=logger, include={CORE_LOGGER}, log_level=log_level())
    logger.append_keys(name="%(name)s")
