"""The monitoring port (contract M1): what handlers, the runtime and scheduled jobs call, and the value
types a sink receives. Nothing here imports a cloud SDK; a platform sink lives in its adapter.

    monitor.count("ReplicationOutcome", action="copied", failure="none")
    monitor.timing("ReplicationLag", 2.5, rule="mirror", target="backup")
    monitor.event("rotation.step", secret="db", step="set_secret", ok=True)
    monitor.alert("replication", "mirror/backup", "12 failed replications in 300 s")
    monitor.flush()                       # once per invocation, by the adapter

``NULL`` does nothing and is the default when monitoring is off: the runtime then installs no storage
layer, so an unmonitored deployment pays nothing per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

MetricKind = Literal["count", "timing", "gauge"]
#: CloudWatch unit names (the EMF sink writes them as they are; other sinks map them)
Unit = Literal["Count", "Seconds", "Bytes", "None"]
#: units of metrics whose unit is not their kind's default
UNITS: dict[str, Unit] = {"StorageBytes": "Bytes", "SecretDaysToExpiry": "None"}
DEFAULT_UNIT: dict[MetricKind, Unit] = {"count": "Count", "timing": "Seconds", "gauge": "None"}


@runtime_checkable
class Monitor(Protocol):
    """Contract M1. Dimensions are keyword arguments with string values (kept few: each distinct set
    is a separate time series on every cloud)."""

    def count(self, name: str, value: float = 1, **dims: str) -> None: ...

    def timing(self, name: str, seconds: float, **dims: str) -> None: ...

    def gauge(self, name: str, value: float, **dims: str) -> None: ...

    def event(self, name: str, **fields: Any) -> None:
        """One structured log event (logger ``circle.monitoring``, fields in ``extra``)."""

    def alert(self, kind: str, key: str, message: str, **fields: Any) -> None:
        """Queue an alert for the webhooks: sent at ``flush()``, at most once per failure window per
        ``(kind, key)``."""

    def flush(self) -> None:
        """Write the metrics recorded since the last flush and send queued alerts (end of invocation)."""


class NullMonitor:
    """Does nothing (monitoring off). ``enabled`` lets the runtime skip installing hooks at all."""

    enabled = False

    def count(self, name: str, value: float = 1, **dims: str) -> None:
        pass

    def timing(self, name: str, seconds: float, **dims: str) -> None:
        pass

    def gauge(self, name: str, value: float, **dims: str) -> None:
        pass

    def event(self, name: str, **fields: Any) -> None:
        pass

    def alert(self, kind: str, key: str, message: str, **fields: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def __repr__(self) -> str:
        return "NULL"


NULL = NullMonitor()

Dims = tuple[tuple[str, str], ...]


@dataclass
class Series:
    """One metric under one dimension set, as aggregated between two flushes.

    ``values``: every observation of a timing (a distribution), the sum of a count (one value), the
    last value of a gauge (one value). ``counts`` is parallel to ``values`` for EMF's value/count pairs
    (always 1 for timings)."""

    name: str
    kind: MetricKind
    unit: Unit
    dims: Dims
    values: list[float] = field(default_factory=list)

    @property
    def dimensions(self) -> dict[str, str]:
        return dict(self.dims)


@dataclass(frozen=True)
class Alert:
    """One alert as the webhooks receive it (the JSON body is ``as_dict()``)."""

    kind: str  # "replication" | "probe" | "rotation" | ...
    key: str  # what failed (rule/target, store, secret)
    message: str
    fields: dict[str, Any]
    time: float  # epoch seconds

    def as_dict(self) -> dict[str, Any]:
        import datetime as dt

        return {
            "kind": self.kind,
            "key": self.key,
            "message": self.message,
            "time": dt.datetime.fromtimestamp(self.time, dt.UTC).isoformat().replace("+00:00", "Z"),
            "fields": self.fields,
        }


class Sink(Protocol):
    """Where a flush writes aggregated metrics: EMF on Lambda, Cloud Monitoring / JSON lines on GCP,
    OpenTelemetry / custom dimensions on Azure, log lines elsewhere."""

    def write(self, series: list[Series], timestamp: float) -> None: ...
