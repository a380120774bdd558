"""The GCP metrics sink.

Always: one Cloud Logging structured line per flush on ``circle.monitoring`` (through
gcp_functions/logging_config.py: ``severity``, ``message``, ``logging.googleapis.com/labels``, the
invocation's trace), with the aggregated series in ``jsonPayload.metrics``; a log-based metric can
count or extract from it with no extra dependency.

With ``CIRCLE_CLOUD_MONITORING=true`` (and the optional extra ``gcp-monitoring``): the series are also
written to Cloud Monitoring as custom metrics ``custom.googleapis.com/circle/<Name>`` with
``google-cloud-monitoring``, imported at the first write, never at import (no cold-start cost when
unset). Counts and gauges are DOUBLE GAUGE points (a count is the number in the interval since the
last write), timings are DISTRIBUTION GAUGE points with fixed bucket bounds (so ``ReplicationLag``
percentiles work in alerting policies). Resource ``generic_task`` with ``task_id`` = this instance:
Cloud Monitoring accepts one point per series per 5 s, so each instance writes its own series, and
at most once per ``CIRCLE_CLOUD_MONITORING_INTERVAL`` seconds (default 10): flushes in between merge
into the next write. At most 200 series per ``CreateTimeSeries`` request (the API's limit).
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from core.monitoring import Series

__all__ = ["BUCKET_BOUNDS", "MAX_SERIES_PER_REQUEST", "CloudMonitoringWriter", "GcpSink", "merge"]

log = logging.getLogger("circle.monitoring")

MAX_SERIES_PER_REQUEST = 200
METRIC_PREFIX = "custom.googleapis.com/circle/"
#: seconds: 10 ms .. 1 h, for latencies and replication lag alike
BUCKET_BOUNDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)


def _on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def merge(into: dict[tuple[str, Any], Series], series: list[Series]) -> None:
    """Fold ``series`` into ``into`` (counts add, timings extend, gauges keep the newest)."""
    for s in series:
        key = (s.name, s.dims)
        have = into.get(key)
        if have is None:
            into[key] = Series(s.name, s.kind, s.unit, s.dims, list(s.values))
        elif s.kind == "timing":
            have.values.extend(s.values)
        elif s.kind == "count":
            have.values[0] += s.values[0]
        else:
            have.values[:] = s.values


class CloudMonitoringWriter:
    """Turns series into ``TimeSeries`` and calls ``CreateTimeSeries`` in batches of 200."""

    def __init__(self, project: str, client: Any = None) -> None:
        self.project = project
        self._client = client
        self.instance = os.environ.get("K_REVISION", "local") + "-" + uuid.uuid4().hex[:12]

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import monitoring_v3

            self._client = monitoring_v3.MetricServiceClient()
        return self._client

    def time_series(self, series: list[Series], start: float, end: float) -> list[Any]:
        from google.api import metric_pb2
        from google.cloud import monitoring_v3

        kinds = metric_pb2.MetricDescriptor
        out = []
        seconds, nanos = int(end), int((end - int(end)) * 1e9)
        for s in series:
            ts = monitoring_v3.TimeSeries()
            ts.metric.type = METRIC_PREFIX + s.name
            ts.metric.labels.update({k: v for k, v in s.dims})
            ts.resource.type = "generic_task"
            ts.resource.labels.update(
                {
                    "project_id": self.project,
                    "location": os.environ.get("FUNCTION_REGION", "global"),
                    "namespace": "circle",
                    "job": os.environ.get("K_SERVICE", "circle-core"),
                    "task_id": self.instance,
                }
            )
            ts.metric_kind = kinds.MetricKind.GAUGE
            interval = monitoring_v3.TimeInterval({"end_time": {"seconds": seconds, "nanos": nanos}})
            value: dict[str, Any]
            if s.kind == "timing":
                ts.value_type = kinds.ValueType.DISTRIBUTION
                ts.unit = "s"
                value = {"distribution_value": _distribution(s.values)}
            else:
                ts.value_type = kinds.ValueType.DOUBLE
                ts.unit = {"Bytes": "By", "Count": "1"}.get(s.unit, "1")
                value = {"double_value": s.values[0]}
            ts.points = [monitoring_v3.Point({"interval": interval, "value": value})]
            out.append(ts)
        return out

    def write(self, series: list[Series], start: float, end: float) -> int:
        """Send the series; the number of requests made."""
        items = self.time_series(series, start, end)
        requests = 0
        for i in range(0, len(items), MAX_SERIES_PER_REQUEST):
            self.client.create_time_series(
                name=f"projects/{self.project}", time_series=items[i : i + MAX_SERIES_PER_REQUEST]
            )
            requests += 1
        return requests


def _distribution(values: list[float]) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    counts = [0] * (len(BUCKET_BOUNDS) + 1)  # underflow bucket 0 .. overflow bucket last
    for v in values:
        index = 0
        while index < len(BUCKET_BOUNDS) and v >= BUCKET_BOUNDS[index]:
            index += 1
        counts[index] += 1
    return {
        "count": n,
        "mean": mean,
        "sum_of_squared_deviation": math.fsum((v - mean) ** 2 for v in values),
        "range": {"min": min(values), "max": max(values)},
        "bucket_options": {"explicit_buckets": {"bounds": list(BUCKET_BOUNDS)}},
        "bucket_counts": counts,
    }


class GcpSink:
    """Cloud Logging line per flush; Cloud Monitoring too when configured (see the module docstring)."""

    def __init__(
        self,
        writer: CloudMonitoringWriter | None = None,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if writer is None and _on("CIRCLE_CLOUD_MONITORING"):
            project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")
            if project:
                writer = CloudMonitoringWriter(project)
            else:
                log.warning("CIRCLE_CLOUD_MONITORING is set but GOOGLE_CLOUD_PROJECT is not: metrics go to logs only")
        self.writer = writer
        self.interval = (
            interval if interval is not None else float(os.environ.get("CIRCLE_CLOUD_MONITORING_INTERVAL", 10))
        )
        self._clock = clock
        self._pending: dict[tuple[str, Any], Series] = {}
        self._last_write = -math.inf
        self._since = time.time()

    def write(self, series: list[Series], timestamp: float) -> None:
        log.info(
            "metrics",
            extra={
                "metrics": [
                    {"name": s.name, "kind": s.kind, "unit": s.unit, "labels": s.dimensions, "values": s.values}
                    for s in series
                ]
            },
        )
        if self.writer is None:
            return
        merge(self._pending, series)
        now = self._clock()
        if now - self._last_write < self.interval:
            return  # too soon for Cloud Monitoring: merged into the next write
        pending, self._pending = list(self._pending.values()), {}
        self._last_write = now
        try:
            self.writer.write(pending, self._since, timestamp)
        except Exception as exc:  # never fail the invocation for metrics
            log.error(
                "Cloud Monitoring write failed",
                extra={"series": len(pending), "error": type(exc).__name__, "reason": str(exc)},
            )
        self._since = timestamp
