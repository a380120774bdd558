"""Monitoring (contract M1): one small interface for structured log events, metrics with dimensions
and alert webhooks, and the hook points the runtime calls. Platform sinks live in the adapters
(``aws_lambda.monitoring``: EMF through Powertools; ``gcp_functions.monitoring``: Cloud Logging JSON
lines and Cloud Monitoring; ``azure_functions.monitoring``: OpenTelemetry to Azure Monitor or
custom dimensions). docs/monitoring.md lists every metric and alarm.

    monitor = build_monitor(config.monitoring, sink)   # NULL when [monitoring] enabled = false
"""

from __future__ import annotations

from collections.abc import Callable

from .api import NULL, Alert, Monitor, NullMonitor, Series, Sink
from .recorder import LogSink, Recorder
from .settings import MonitoringSettings, Thresholds, Webhook, parse_monitoring

__all__ = [
    "NULL",
    "Alert",
    "LogSink",
    "Monitor",
    "MonitoringSettings",
    "NullMonitor",
    "Recorder",
    "Series",
    "Sink",
    "Thresholds",
    "Webhook",
    "build_monitor",
    "parse_monitoring",
]


def build_monitor(
    settings: MonitoringSettings | None, sink: Sink | None = None, resolve: Callable[[str], str] | None = None
) -> Monitor:
    """The monitor a runtime uses: NULL when monitoring is off (``enabled = false``, or neither a
    ``[monitoring]`` table nor a platform sink), else a ``Recorder`` over ``sink`` (default: log lines).
    ``resolve`` reads a webhook's ``secret://`` signing key (a runtime passes its own resolver's)."""
    if settings is None:
        if sink is None:
            return NULL
        settings = MonitoringSettings()
    if not settings.enabled:
        return NULL
    return Recorder(settings, sink, resolve=resolve)
