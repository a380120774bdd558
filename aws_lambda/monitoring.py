"""The Lambda metrics sink: CloudWatch Embedded Metric Format documents, serialised by Powertools
Metrics' EMF provider and printed to stdout (Lambda ships stdout to CloudWatch Logs, which extracts
the metrics; no API call, no added latency).

One document per dimension set (EMF gives every metric of a document the same dimensions), split so
that no document exceeds EMF's limits: at most 100 metrics, at most 100 values per metric, at most 30
dimensions (ours plus Powertools' ``service``; Powertools itself stops at 29). A timing's
observations are written as a value array, so CloudWatch keeps the distribution (percentiles such as
p99 of ``ReplicationLag`` work).

The adapter flushes once per invocation (``circle.monitor.flush()`` in a ``finally``).

Tracing: the Powertools Tracer is off by default (creating it imports the X-Ray SDK, about 250 ms of
cold start); ``CIRCLE_TRACING=true`` turns it on through :func:`tracer`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.constants import MAX_DIMENSIONS as POWERTOOLS_MAX_DIMENSIONS

from core.monitoring import Series

__all__ = ["MAX_DIMENSIONS", "MAX_METRICS", "MAX_VALUES", "EmfSink", "tracer"]

log = logging.getLogger("circle.monitoring")

MAX_METRICS = 100  # metric definitions per document
MAX_VALUES = 100  # values per metric
#: dimensions per set, ``service`` included: Powertools allows 29, one under the specification's 30
MAX_DIMENSIONS = POWERTOOLS_MAX_DIMENSIONS
MAX_DIMENSION_VALUE = 1024
#: also published under the ``service`` dimension alone, so one alarm (template.yaml) covers every
#: rule/target (and every probed store)
ROLLUP = frozenset({"ReplicationLag", "ReplicationFailed", "ProbeFailed"})


class EmfSink:
    """Writes aggregated series as EMF JSON lines (``write`` defaults to the current ``sys.stdout``)."""

    def __init__(
        self, namespace: str | None = None, service: str | None = None, write: Callable[[str], Any] | None = None
    ) -> None:
        # template.yaml sets POWERTOOLS_METRICS_NAMESPACE (CircleCore), which its alarms watch
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "CircleCore"
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "circle-core"
        self._write = write

    def write(self, series: list[Series], timestamp: float) -> None:
        for document in self.documents(series, timestamp):
            line = json.dumps(document, separators=(",", ":"))
            if self._write is not None:
                self._write(line)
            else:
                sys.stdout.write(line + "\n")

    def documents(self, series: list[Series], timestamp: float) -> Iterator[dict[str, Any]]:
        """The EMF documents for ``series`` (grouped by dimension set, split at the limits)."""
        groups: dict[tuple[tuple[str, str], ...], list[Series]] = {}
        for s in series:
            groups.setdefault(self._dims(s), []).append(s)
        for dims, members in groups.items():
            for chunk in _chunks(members):
                provider = AmazonCloudWatchEMFProvider(namespace=self.namespace, service=self.service)
                for name, value in dims:
                    provider.add_dimension(name=name, value=value)
                provider.set_timestamp(int(timestamp * 1000))
                doc: dict[str, Any] = dict(
                    provider.serialize_metric_set(metrics=chunk, dimensions=provider.dimension_set, metadata={})
                )
                if ROLLUP.intersection(chunk) and dims:
                    doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append(["service"])
                yield doc

    def _dims(self, s: Series) -> tuple[tuple[str, str], ...]:
        dims = [(k, v[:MAX_DIMENSION_VALUE] or "none") for k, v in s.dims if k != "service"]
        if len(dims) > MAX_DIMENSIONS - 1:
            log.warning(
                "metric has more dimensions than EMF allows: the rest are dropped",
                extra={"metric": s.name, "dimensions": [k for k, _ in dims], "max_dimensions": MAX_DIMENSIONS - 1},
            )
            dims = dims[: MAX_DIMENSIONS - 1]
        return tuple(dims)


def _chunks(members: list[Series]) -> Iterator[dict[str, dict[str, Any]]]:
    """Powertools metric sets of at most 100 metrics with at most 100 values each: a long value array
    continues in the next document (same dimensions, same name)."""
    pending = [(s, 0) for s in members]  # series, offset of the next value to write
    while pending:
        chunk: dict[str, dict[str, Any]] = {}
        rest: list[tuple[Series, int]] = []
        for s, offset in pending:
            if len(chunk) >= MAX_METRICS:
                rest.append((s, offset))
                continue
            values = s.values[offset : offset + MAX_VALUES]
            chunk[s.name] = {"Unit": s.unit, "StorageResolution": 60, "Value": values}
            if offset + MAX_VALUES < len(s.values):
                rest.append((s, offset + MAX_VALUES))
        yield chunk
        pending = rest


def tracer() -> Any:
    """The Powertools Tracer when ``CIRCLE_TRACING`` is true, else None (the default: no X-Ray import)."""
    if os.environ.get("CIRCLE_TRACING", "").strip().lower() not in ("1", "true", "yes"):
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "circle-core")
