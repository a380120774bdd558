"""The monitor of a function that builds no runtime (the rotation functions): ``[monitoring]`` of the
configuration over the platform's sink, built on the first invocation. Kept apart from the rotation
handlers so an adapter can hold one at import without loading the rotation engine (cold start)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.monitoring import Monitor, Sink

log = logging.getLogger("circle.rotation")


def monitor_from_env(sink: Sink | None = None) -> Monitor:
    """The monitor of a function that builds no runtime (the rotation functions): the ``[monitoring]``
    table of ``CIRCLE_CONFIG`` (with its ``CIRCLE_ENV`` overlay) over the platform ``sink``. Without a
    configuration file: the defaults (metrics, no webhooks). A configuration that does not load logs one
    WARNING and falls back to the file's own ``[monitoring]`` table, else to the defaults: a rotation is
    never stopped for its monitoring."""
    import os

    from core.monitoring import build_monitor, parse_monitoring

    path = os.environ.get("CIRCLE_CONFIG")
    if not path:
        return build_monitor(None, sink)
    try:
        from core.config import load_config

        return build_monitor(load_config(path).monitoring, sink)
    except Exception as exc:
        log.warning(
            "the configuration did not load for monitoring: using its [monitoring] table alone",
            extra={"error": type(exc).__name__},
        )
    try:
        from core.documents import read_document

        return build_monitor(parse_monitoring(read_document(path).get("monitoring")), sink)
    except Exception:
        return build_monitor(None, sink)


class RotationMonitor:
    """A rotation function's monitor: built from ``CIRCLE_CONFIG`` over the platform's sink on the first
    call (``monitor_from_env``), then the same one for every invocation of the instance."""

    def __init__(self, sink: Callable[[], Sink]) -> None:
        self._sink = sink
        self._monitor: Monitor | None = None

    def __call__(self) -> Monitor:
        if self._monitor is None:
            self._monitor = monitor_from_env(self._sink())
        return self._monitor

    def reset(self) -> None:
        """Forget the monitor (tests, or after a configuration change)."""
        self._monitor = None
