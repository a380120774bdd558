"""Jobs report through the monitor (contract M1) when the runtime has one: reconcile counts and
replication lag, probe latency/failures and alerts through ``monitor.alert`` once per window."""

from __future__ import annotations

import uuid
from typing import Any

from core.config import parse_config
from core.handlers.probe import probe
from core.handlers.reconcile import reconcile
from core.runtime import Circle


class RecordingMonitor:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, dict[str, Any]]] = []

    def count(self, name: str, value: int = 1, **dims: Any) -> None:
        self.calls.append(("count", name, value, dims))

    def timing(self, name: str, seconds: float, **dims: Any) -> None:
        self.calls.append(("timing", name, seconds, dims))

    def gauge(self, name: str, value: float, **dims: Any) -> None:
        self.calls.append(("gauge", name, value, dims))

    def event(self, name: str, **fields: Any) -> None:
        self.calls.append(("event", name, None, fields))

    def alert(self, kind: str, key: str, message: str, **fields: Any) -> None:
        self.calls.append(("alert", kind, key, {"message": message, **fields}))

    def flush(self) -> None:
        pass

    def named(self, kind: str, name: str) -> list[tuple[Any, dict[str, Any]]]:
        return [(v, d) for k, n, v, d in self.calls if k == kind and n == name]


def test_reconcile_and_probe_emit_metrics_and_alerts() -> None:
    tag = uuid.uuid4().hex[:8]
    config = parse_config(
        {
            "stores": {"src": {"url": f"memory://ms-{tag}"}, "dst": {"url": f"memory://md-{tag}"}},
            "replication": [{"name": "r", "source": "src", "targets": ["dst"]}],
        }
    )
    circle = Circle.from_config(config)
    monitor = RecordingMonitor()
    circle.monitor = monitor  # type: ignore[attr-defined]
    for i in range(3):
        circle.store("src").put(f"k{i}", b"v")
    reconcile(circle)
    assert monitor.named("count", "ReconcileCopied") == [(3, {"rule": "r"})]
    assert monitor.named("count", "ReconcileScanned") == [(3, {"rule": "r"})]
    lags = monitor.named("timing", "ReplicationLag")
    assert len(lags) == 3 and all(d == {"rule": "r", "target": "dst"} and v >= 0 for v, d in lags)
    assert monitor.named("event", "reconcile")[0][1]["copied"] == 3

    class Broken:
        url = "memory://broken"

        def put(self, *a: Any, **k: Any) -> None:
            raise ConnectionError("refused")

        def delete(self, *a: Any, **k: Any) -> None:
            raise ConnectionError("refused")

    circle._stores["dst"] = Broken()  # type: ignore[assignment]
    for _ in range(2):
        report = probe(circle)
    assert report.store("dst").status == "down" and report.store("src").status == "up"
    alerts = [(c[1], c[2]) for c in monitor.calls if c[0] == "alert"]
    assert alerts == [("probe", "dst")]  # once in the window, through monitor.alert
    assert (0, {"store": "src"}) in monitor.named("count", "ProbeFailed")
    assert (1, {"store": "dst"}) in monitor.named("count", "ProbeFailed")
    ops = {d["operation"] for _, d in monitor.named("timing", "ProbeLatency") if d["store"] == "src"}
    assert ops == {"write", "read", "list", "delete"}
