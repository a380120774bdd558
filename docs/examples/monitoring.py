"""docs/monitoring.md "The interface (M1)", as a runnable file on a ``memory://`` store:
``PYTHONPATH=. python docs/examples/monitoring.py``.

An adapter passes its platform sink (EMF, Cloud Monitoring, OpenTelemetry) to the runtime; here a sink
that keeps the flushed series in a list shows what a flush hands to it.
"""

from __future__ import annotations

from core.config import parse_config
from core.monitoring import Series
from core.runtime import Circle


class KeptSeries:
    """A sink (``core.monitoring.Sink``) that keeps what each flush writes."""

    def __init__(self) -> None:
        self.series: list[Series] = []

    def write(self, series: list[Series], timestamp: float) -> None:
        self.series.extend(series)


def main() -> list[str]:
    sink = KeptSeries()
    config = parse_config({"stores": {"primary": {"url": "memory://monitoring-example"}}})
    circle = Circle.from_config(config, sink=sink)  # a platform sink turns monitoring on
    # --8<-- [start:interface]
    from core.monitoring import NULL, Monitor

    monitor: Monitor = circle.monitor  # the runtime's; NULL when monitoring is off
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    monitor.timing("ReplicationLag", 2.5, rule="mirror", target="backup")  # seconds
    monitor.gauge("SecretDaysToExpiry", 12, secret="db")
    monitor.event("rotation.step", secret="db", step="set_secret", ok=True)  # a structured log line
    monitor.alert("probe", "backup", "probe of backup failed at write")  # webhooks, once per window
    monitor.flush()  # the adapter calls it once per invocation
    # --8<-- [end:interface]
    assert monitor is not NULL
    flushed = {(s.name, s.kind): s.values for s in sink.series}
    assert flushed == {
        ("ReplicationOutcome", "count"): [1.0],
        ("ReplicationLag", "timing"): [2.5],
        ("SecretDaysToExpiry", "gauge"): [12.0],
    }, flushed
    names = sorted(name for name, _ in flushed)
    print(names)
    return names


if __name__ == "__main__":
    main()
