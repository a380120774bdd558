"""The Azure metrics sink.

With ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set (the Function App's Application Insights): custom
metrics through OpenTelemetry, exported by ``azure-monitor-opentelemetry-exporter`` (optional extra
``azure-monitoring``) to Azure Monitor, where they appear as ``customMetrics`` with the dimensions as
``customDimensions``. Counts are OpenTelemetry counters, timings histograms (bucket bounds in seconds,
so ``ReplicationLag`` keeps its distribution: count, sum, min, max reach Azure Monitor), gauges
synchronous gauges. The SDK and exporter are imported at the first flush, never at import, and each
flush ends with ``force_flush`` (bounded by ``CIRCLE_METRICS_FLUSH_SECONDS``, default 2): the worker
may be frozen after the invocation, so nothing is left to a background export.

Without it: one log record per series on ``circle.monitoring``, the message ``metric`` and its
``extra`` the fields (``metric=ReplicationLag unit=Seconds rule=mirror target=backup count=2 sum=3.5
...``) at top level, which the adapter renders into the text the host forwards
(``azure_functions.app.HostLines``), and under ``custom_dimensions``, which Application Insights keeps
as ``customDimensions`` when an OpenTelemetry log handler is active.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from core.monitoring import Series

__all__ = ["BUCKET_BOUNDS", "AzureSink", "custom_dimensions", "meter_provider"]

log = logging.getLogger("circle.monitoring")

BUCKET_BOUNDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
UNITS = {"Seconds": "s", "Bytes": "By", "Count": "1", "None": "1"}
METER = "circle"


def meter_provider(readers: list[Any]) -> Any:
    """An OpenTelemetry ``MeterProvider`` over ``readers`` with second-scale histogram buckets."""
    from opentelemetry.sdk.metrics import Histogram, MeterProvider
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
    from opentelemetry.sdk.resources import Resource

    service = os.environ.get("WEBSITE_SITE_NAME") or "circle-core"
    view = View(instrument_type=Histogram, aggregation=ExplicitBucketHistogramAggregation(list(BUCKET_BOUNDS)))
    return MeterProvider(metric_readers=readers, views=[view], resource=Resource.create({"service.name": service}))


def custom_dimensions(s: Series) -> dict[str, Any]:
    """The fields one log record carries for a series (the fallback without a connection string)."""
    fields: dict[str, Any] = {"metric": s.name, "unit": s.unit, **s.dimensions}
    if s.kind == "timing":
        fields.update(count=len(s.values), sum=sum(s.values), min=min(s.values), max=max(s.values))
    else:
        fields["value"] = s.values[0]
    return fields


class AzureSink:
    """OpenTelemetry to Azure Monitor when configured, else log records with custom dimensions."""

    def __init__(self, provider: Any = None, *, connection_string: str | None = None) -> None:
        self._provider = provider
        self._connection_string = connection_string or os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING") or None
        self._instruments: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.flush_seconds = float(os.environ.get("CIRCLE_METRICS_FLUSH_SECONDS", 2))

    @property
    def exporting(self) -> bool:
        return self._provider is not None or self._connection_string is not None

    def _meter_provider(self) -> Any:
        if self._provider is None:
            from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            # no offline retry storage: a frozen or recycled worker would not come back for it
            exporter = AzureMonitorMetricExporter(
                connection_string=self._connection_string, disable_offline_storage=True
            )
            # a long interval: exports happen at force_flush, at the end of each invocation
            reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
            self._provider = meter_provider([reader])
        return self._provider

    def _instrument(self, s: Series) -> Any:
        key = (s.name, s.kind)
        with self._lock:
            instrument = self._instruments.get(key)
            if instrument is None:
                meter = self._meter_provider().get_meter(METER)
                unit = UNITS.get(s.unit, "1")
                make = {"count": meter.create_counter, "timing": meter.create_histogram, "gauge": meter.create_gauge}
                instrument = self._instruments[key] = make[s.kind](s.name, unit=unit)
        return instrument

    def write(self, series: list[Series], timestamp: float) -> None:
        if not self.exporting:
            for s in series:
                fields = custom_dimensions(s)
                log.info("metric", extra={"custom_dimensions": fields, **fields})
            return
        try:
            self._meter_provider()
        except ImportError as exc:  # the azure-monitoring extra is not in the bundle: say so once, use logs
            log.warning(
                "APPLICATIONINSIGHTS_CONNECTION_STRING is set but a module of the extra azure-monitoring is "
                "not installed: metrics go to log records",
                extra={"missing": exc.name},
            )
            self._connection_string = None
            self.write(series, timestamp)
            return
        for s in series:
            instrument = self._instrument(s)
            attributes = s.dimensions
            if s.kind == "count":
                instrument.add(s.values[0], attributes=attributes)
            elif s.kind == "timing":
                for value in s.values:
                    instrument.record(value, attributes=attributes)
            else:
                instrument.set(s.values[0], attributes=attributes)
        if not self._meter_provider().force_flush(timeout_millis=int(self.flush_seconds * 1000)):
            log.warning("Azure Monitor metrics export did not finish in time", extra={"seconds": self.flush_seconds})

    def close(self) -> None:
        """Shut the meter provider down (tests; a worker process simply exits)."""
        if self._provider is not None:
            self._provider.shutdown()
