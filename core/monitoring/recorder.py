"""``Recorder``: the Monitor the runtime uses when monitoring is on. It aggregates metrics in memory
between flushes (a count sums, a timing keeps every observation as a distribution, a gauge keeps its
last value), hands them to one platform ``Sink`` at ``flush()`` and then delivers queued alerts.

``LogSink`` is the default sink (no platform): one INFO line per flush on ``circle.monitoring`` with
the aggregated series in ``extra``, which any log pipeline can turn into metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .alerts import Alerter
from .api import DEFAULT_UNIT, UNITS, Dims, MetricKind, Series, Sink
from .settings import MonitoringSettings

log = logging.getLogger("circle.monitoring")


class LogSink:
    """Metrics as one structured log line per flush (the log-only default)."""

    def write(self, series: list[Series], timestamp: float) -> None:
        log.info(
            "metrics",
            extra={
                "metrics": [
                    {"name": s.name, "kind": s.kind, "unit": s.unit, "dimensions": s.dimensions, "values": s.values}
                    for s in series
                ]
            },
        )


class Recorder:
    """Contract M1 over a sink and an alerter. Thread-safe (handlers may run targets in threads)."""

    enabled = True

    def __init__(
        self,
        settings: MonitoringSettings | None = None,
        sink: Sink | None = None,
        alerter: Alerter | None = None,
        resolve: Callable[[str], str] | None = None,
    ) -> None:
        self.settings = settings or MonitoringSettings()
        self.sink: Sink = sink if sink is not None else LogSink()
        t = self.settings.thresholds
        self.alerter = alerter or Alerter(
            self.settings.webhooks, window=t.window_seconds, budget=self.settings.alert_budget_seconds, resolve=resolve
        )
        self._series: dict[tuple[str, Dims], Series] = {}
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    # -- M1 ---------------------------------------------------------------------------------------------
    def count(self, name: str, value: float = 1, **dims: str) -> None:
        self._add(name, "count", value, dims)

    def timing(self, name: str, seconds: float, **dims: str) -> None:
        self._add(name, "timing", seconds, dims)

    def gauge(self, name: str, value: float, **dims: str) -> None:
        self._add(name, "gauge", value, dims)

    def event(self, name: str, **fields: Any) -> None:
        level = logging.ERROR if fields.get("ok") is False else logging.INFO
        log.log(level, name, extra={"monitor_event": name, **{k: v for k, v in fields.items() if k not in _RESERVED}})

    def alert(self, kind: str, key: str, message: str, **fields: Any) -> None:
        with self._lock:
            self.alerter.alert(kind, key, message, fields)

    def flush(self) -> None:
        """Write and forget the aggregated series, then send alerts. Never raises: a sink failure is
        logged and its series are dropped (metrics are never worth failing an invocation for)."""
        with self._lock:
            series, self._series = list(self._series.values()), {}
        if series:
            try:
                self.sink.write(series, time.time())
            except Exception as exc:
                log.error(
                    "writing metrics failed",
                    extra={"sink": type(self.sink).__name__, "error": type(exc).__name__, "reason": str(exc)},
                )
        self.alerter.deliver()

    # -- beyond M1: threshold counting for the runtime's replication hook ---------------------------------
    def failure(self, kind: str, key: str, message: str, *, threshold: int, **fields: Any) -> bool:
        """Note one failure of ``(kind, key)``; alert when ``threshold`` of them fall within the window.
        True when an alert was queued."""
        window = self.settings.thresholds.window_seconds
        now = time.monotonic()
        with self._lock:
            times = self._failures.setdefault((kind, key), deque())
            times.append(now)
            while times and now - times[0] > window:
                times.popleft()
            if len(times) < max(1, threshold):
                return False
            return self.alerter.alert(kind, key, message, {**fields, "failures_in_window": len(times)})

    def _add(self, name: str, kind: MetricKind, value: float, dims: dict[str, str]) -> None:
        key = (name, tuple(sorted((k, str(v)) for k, v in dims.items())))
        with self._lock:
            series = self._series.get(key)
            if series is None:
                unit = UNITS.get(name, DEFAULT_UNIT[kind])
                series = self._series[key] = Series(name, kind, unit, key[1])
            if kind == "timing":
                series.values.append(float(value))
            elif kind == "count" and series.values:
                series.values[0] += float(value)
            else:
                series.values[:] = [float(value)]

    def __repr__(self) -> str:
        return f"Recorder(sink={type(self.sink).__name__}, series={len(self._series)}, alerts={self.alerter!r})"


_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
