"""The Azure sink: OpenTelemetry metrics read back with the SDK's InMemoryMetricReader (from the sink,
and from the real ``storage_queue`` function the worker's indexer loads), the Azure Monitor exporter's
own request to a loopback ingestion endpoint, and the log-record fallback's custom dimensions."""

from __future__ import annotations

import copy
import gzip
import json
import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint

from azure_functions.app import host_text
from azure_functions.monitoring import BUCKET_BOUNDS, AzureSink, meter_provider
from core.monitoring import MonitoringSettings, Recorder
from tests.e2e import replication_rig

DATA = Path(__file__).resolve().parent.parent / "e2e" / "data"


def _points(reader: InMemoryMetricReader) -> dict[tuple[str, tuple[tuple[str, Any], ...]], Any]:
    """(name, attributes) -> (metric, point). The SDK lower-cases instrument names (OpenTelemetry names
    are case-insensitive), so ``ReplicationLag`` reaches Azure Monitor as ``replicationlag``."""
    data = reader.get_metrics_data()
    assert data is not None
    out = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "circle"
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    out[(metric.name, tuple(sorted(point.attributes.items())))] = (metric, point)
    return out


def test_counts_timings_and_gauges_become_opentelemetry_instruments() -> None:
    reader = InMemoryMetricReader()
    monitor = Recorder(MonitoringSettings(), AzureSink(meter_provider([reader])))
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    for lag in (0.3, 7.0, 4000.0):
        monitor.timing("ReplicationLag", lag, rule="mirror", target="backup")
    monitor.gauge("SecretDaysToExpiry", 12, secret="db")
    monitor.count("StorageBytes", 2048, operation="put", provider="s3", store="dst")
    monitor.flush()

    points = _points(reader)
    metric, outcome = points[("replicationoutcome", (("action", "copied"), ("failure", "none")))]
    assert isinstance(outcome, NumberDataPoint) and outcome.value == 2
    assert metric.unit == "1"
    metric, lag = points[("replicationlag", (("rule", "mirror"), ("target", "backup")))]
    assert isinstance(lag, HistogramDataPoint)
    assert metric.unit == "s"
    assert (lag.count, lag.sum, lag.min, lag.max) == (3, pytest.approx(4007.3), 0.3, 4000.0)
    assert tuple(lag.explicit_bounds) == BUCKET_BOUNDS
    assert sum(lag.bucket_counts) == 3 and lag.bucket_counts[-1] == 1
    assert points[("secretdaystoexpiry", (("secret", "db"),))][1].value == 12
    metric, written = points[("storagebytes", (("operation", "put"), ("provider", "s3"), ("store", "dst")))]
    assert (metric.unit, written.value) == ("By", 2048)


def test_without_a_connection_string_each_series_is_a_log_record_with_custom_dimensions(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    sink = AzureSink()
    assert not sink.exporting
    monitor = Recorder(MonitoringSettings(), sink)
    monitor.timing("ReplicationLag", 1.5, rule="mirror", target="backup")
    monitor.timing("ReplicationLag", 2.5, rule="mirror", target="backup")
    with caplog.at_level(logging.INFO, logger="circle.monitoring"):
        monitor.flush()
    [record] = [r for r in caplog.records if r.getMessage() == "metric"]
    # the text the adapter hands the host, which forwards message text only (azure_functions.app.HostLines)
    assert host_text(record) == (
        "metric metric=ReplicationLag unit=Seconds rule=mirror target=backup count=2 sum=4.0 min=1.5 max=2.5"
    )
    assert record.custom_dimensions == {  # type: ignore[attr-defined]
        "metric": "ReplicationLag",
        "unit": "Seconds",
        "rule": "mirror",
        "target": "backup",
        "count": 2,
        "sum": 4.0,
        "min": 1.5,
        "max": 2.5,
    }
    assert record.rule == "mirror"  # type: ignore[attr-defined]  # top level too (OpenTelemetry log handlers)


# -- the exporter's own request ------------------------------------------------------------------------------
class _Ingestion(BaseHTTPRequestHandler):
    bodies: list[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        text = raw.decode()
        items = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()]
        type(self).bodies.append(items)
        answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ingestion() -> Iterator[tuple[str, list[list[dict[str, Any]]]]]:
    _Ingestion.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingestion)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", _Ingestion.bodies
    server.shutdown()
    server.server_close()


def test_the_azure_monitor_exporter_sends_custom_metrics_at_flush(
    ingestion: tuple[str, list[list[dict[str, Any]]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, bodies = ingestion
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    key = "00000000-0000-4000-8000-000000000000"
    sink = AzureSink(connection_string=f"InstrumentationKey={key};IngestionEndpoint={endpoint}")
    monitor = Recorder(MonitoringSettings(), sink)
    monitor.timing("ReplicationLag", 2.0, rule="mirror", target="backup")
    monitor.timing("ReplicationLag", 4.0, rule="mirror", target="backup")
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    monitor.flush()  # force_flush: exported before the invocation ends
    sink.close()

    items = [item for body in bodies for item in body]
    metrics = {
        (m["name"], tuple(sorted(item["data"]["baseData"].get("properties", {}).items()))): m
        for item in items
        if item["data"]["baseType"] == "MetricData"
        for m in item["data"]["baseData"]["metrics"]
    }
    assert items and all(item["iKey"] == key for item in items)
    lag = metrics[("replicationlag", (("rule", "mirror"), ("target", "backup")))]
    assert (lag["count"], lag["value"], lag["min"], lag["max"]) == (2, 6.0, 2.0, 4.0)  # value is the sum
    assert metrics[("replicationoutcome", (("action", "copied"), ("failure", "none")))]["value"] == 1


# -- the real function ---------------------------------------------------------------------------------------
@pytest.mark.skipif(sys.version_info < (3, 13), reason="azure-functions-runtime needs 3.13")
def test_the_storage_queue_function_records_replication_metrics(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.functions as func

    from azure_functions import app
    from core.config import load_config
    from core.runtime import Circle
    from tests.e2e.test_azure_functions_indexer import _indexed

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="az")
    reader = InMemoryMetricReader()
    app._runtime = Circle.from_config(load_config(), sink=AzureSink(meter_provider([reader])))
    clouds.az.put("data/q.bin", b"queued", content_type="application/octet-stream")
    raw = copy.deepcopy(json.loads((DATA / "msdocs_eventgridschema_BlobCreated.json").read_text())[0])
    raw["id"] = str(uuid.uuid4())
    raw["topic"] = raw["topic"].replace("my-storage-account", "devstoreaccount1")
    raw["subject"] = f"/blobServices/default/containers/{clouds.bucket}/blobs/data/q.bin"
    raw["data"]["url"] = f"{clouds.emulators.azure_endpoint}/devstoreaccount1/{clouds.bucket}/data/q.bin"
    info = clouds.az.head("data/q.bin")
    raw["data"].update(eTag=f'"{info.etag}"', contentLength=info.size)
    try:
        _, function = _indexed()["storage_queue"]
        function.func(func.QueueMessage(id="m1", body=json.dumps(raw).encode()))
    finally:
        app.reset_runtime()

    points = _points(reader)
    assert points[("replicationoutcome", (("action", "copied"), ("failure", "none")))][1].value == 2
    assert points[("invocations", (("handler", "storage_event"), ("outcome", "ok")))][1].value == 1
    lags = {dict(k[1])["target"]: p for k, (_, p) in points.items() if k[0] == "replicationlag"}
    assert sorted(lags) == ["gs", "s3"] and all(p.count == 1 and p.sum > 0 for p in lags.values())
    reads = points[("storagebytes", (("operation", "get"), ("provider", "az"), ("store", "az")))][1]
    assert reads.value == 12  # 6 bytes read once per target


def test_a_connection_string_without_the_exporter_installed_falls_back_to_log_records(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry.exporter", None)  # not in the bundle
    sink = AzureSink(connection_string="InstrumentationKey=00000000-0000-4000-8000-000000000000")
    monitor = Recorder(MonitoringSettings(), sink)
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    with caplog.at_level(logging.INFO, logger="circle.monitoring"):
        monitor.flush()
    records = [r for r in caplog.records if r.name == "circle.monitoring"]
    [warning] = [r for r in records if "extra azure-monitoring" in r.getMessage()]
    assert warning.missing == "azure.monitor.opentelemetry.exporter"  # type: ignore[attr-defined]
    assert [host_text(r) for r in records if r.getMessage() == "metric"] == [
        "metric metric=ReplicationOutcome unit=Count action=copied failure=none value=1.0"
    ]
    assert not sink.exporting
