"""The GCP sink: Cloud Logging JSON lines from the real functions-framework app (in process, Flask's
test client), and Cloud Monitoring ``CreateTimeSeries`` requests sent by the real
google-cloud-monitoring client to a gRPC server on loopback."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import uuid
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import MetricServiceGrpcTransport

from core.monitoring import MonitoringSettings, Recorder
from gcp_functions.monitoring import BUCKET_BOUNDS, CloudMonitoringWriter, GcpSink
from tests.e2e import replication_rig

SAMPLE = (
    Path(__file__).resolve().parent.parent / "e2e" / "data" / "cloudevents_binary_storage_StorageObjectData-simple.json"
)
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@contextlib.contextmanager
def _gcp_logging() -> Iterator[None]:
    from gcp_functions.logging_config import configure

    core = logging.getLogger("circle")
    saved = (list(core.handlers), core.propagate, core.level)
    core.handlers, core.propagate, core.level = [], True, logging.NOTSET
    try:
        configure()
        yield
    finally:
        core.handlers, core.propagate, core.level = saved


def test_functions_framework_writes_metrics_as_cloud_logging_lines(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import functions_framework

    from gcp_functions import main

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="gs")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "circle-test")
    monkeypatch.delenv("CIRCLE_CLOUD_MONITORING", raising=False)
    main.reset_runtime()
    clouds.gs.put("data/m.txt", b"metrics", content_type="text/plain")
    info = clouds.gs.head("data/m.txt")
    data = copy.deepcopy(json.loads(SAMPLE.read_text()))
    data.update(bucket=clouds.bucket, name="data/m.txt", size=str(info.size), generation=info.version, etag=info.etag)
    event_id = uuid.uuid4().hex
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{clouds.bucket}",
        "ce-subject": "objects/data/m.txt",
        "ce-time": "2026-11-28T10:00:00Z",
        "traceparent": TRACE,
        "Content-Type": "application/json",
    }
    with _gcp_logging():
        app = functions_framework.create_app(
            target="storage_event", source=str(Path(main.__file__)), signature_type="cloudevent"
        )
        capsys.readouterr()
        answer = app.test_client().post("/", headers=headers, data=json.dumps(data))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    main.reset_runtime()

    [entry] = [line for line in lines if line.get("message") == "metrics"]
    assert entry["severity"] == "INFO"
    assert entry["logger"] == "circle.monitoring"
    assert entry["logging.googleapis.com/trace"] == "projects/circle-test/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert entry["logging.googleapis.com/labels"]["event_id"] == event_id
    metrics = {(m["name"], tuple(sorted(m["labels"].items()))): m for m in entry["metrics"]}
    copied = metrics[("ReplicationOutcome", (("action", "copied"), ("failure", "none")))]
    assert (copied["kind"], copied["unit"], copied["values"]) == ("count", "Count", [2.0])  # two targets
    lags = [m for (name, _), m in metrics.items() if name == "ReplicationLag"]
    assert sorted(dict(m["labels"])["target"] for m in lags) == ["az", "s3"]
    assert all(m["kind"] == "timing" and m["unit"] == "Seconds" and m["values"][0] > 0 for m in lags)
    puts = [m for (name, dims), m in metrics.items() if name == "StorageRequests" and ("operation", "put") in dims]
    assert sorted((m["labels"]["provider"], m["labels"]["store"], m["labels"]["outcome"]) for m in puts) == [
        ("az", "az", "ok"),
        ("s3", "s3", "ok"),
    ]
    reads = [m for (name, dims), m in metrics.items() if name == "StorageBytes" and ("operation", "get") in dims]
    assert [(m["labels"]["provider"], m["values"]) for m in reads] == [("gs", [14.0])]  # 7 bytes, read per target


# -- Cloud Monitoring through the real client -----------------------------------------------------------------
class _MetricService:
    """``google.monitoring.v3.MetricService/CreateTimeSeries`` on loopback, keeping each request."""

    def __init__(self) -> None:
        self.requests: list[monitoring_v3.CreateTimeSeriesRequest] = []
        handler = grpc.unary_unary_rpc_method_handler(
            self._create,
            request_deserializer=monitoring_v3.CreateTimeSeriesRequest.deserialize,
            response_serializer=lambda _: b"",  # google.protobuf.Empty
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("google.monitoring.v3.MetricService", {"CreateTimeSeries": handler}),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _create(self, request: monitoring_v3.CreateTimeSeriesRequest, context: Any) -> None:
        self.requests.append(request)

    def client(self) -> monitoring_v3.MetricServiceClient:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        transport = MetricServiceGrpcTransport(channel=channel, credentials=AnonymousCredentials())
        return monitoring_v3.MetricServiceClient(transport=transport)


@pytest.fixture
def metric_service() -> Iterator[_MetricService]:
    service = _MetricService()
    yield service
    service.server.stop(None)


def test_cloud_monitoring_receives_batched_series_with_a_lag_distribution(metric_service: _MetricService) -> None:
    writer = CloudMonitoringWriter("circle-test", client=metric_service.client())
    sink = GcpSink(writer, interval=0)
    monitor = Recorder(MonitoringSettings(), sink)
    for lag in (0.2, 3.0, 45.0, 4000.0):
        monitor.timing("ReplicationLag", lag, rule="mirror", target="backup")
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    for i in range(250):  # more series than one request may carry
        monitor.gauge("Wide", i, n=str(i))
    monitor.flush()

    assert [len(r.time_series) for r in metric_service.requests] == [200, 52]
    assert {r.name for r in metric_service.requests} == {"projects/circle-test"}
    series = {
        (s.metric.type, tuple(sorted(s.metric.labels.items()))): s
        for r in metric_service.requests
        for s in r.time_series
    }
    lag = series[("custom.googleapis.com/circle/ReplicationLag", (("rule", "mirror"), ("target", "backup")))]
    assert lag.resource.type == "generic_task"
    assert lag.resource.labels["project_id"] == "circle-test"
    assert lag.resource.labels["task_id"] == writer.instance
    assert lag.metric_kind == monitoring_v3.TimeSeries.pb(lag).metric_kind == 1  # GAUGE
    [point] = lag.points
    dist = point.value.distribution_value
    assert dist.count == 4
    assert dist.mean == pytest.approx((0.2 + 3.0 + 45.0 + 4000.0) / 4)
    assert list(dist.bucket_options.explicit_buckets.bounds) == list(BUCKET_BOUNDS)
    assert sum(dist.bucket_counts) == 4
    assert dist.bucket_counts[-1] == 1  # 4000 s overflows the 3600 s bound
    outcome = series[("custom.googleapis.com/circle/ReplicationOutcome", (("action", "copied"), ("failure", "none")))]
    assert outcome.points[0].value.double_value == 2.0


def test_cloud_monitoring_writes_are_spaced_and_merged(metric_service: _MetricService) -> None:
    now = [100.0]
    sink = GcpSink(CloudMonitoringWriter("p", client=metric_service.client()), interval=10, clock=lambda: now[0])
    monitor = Recorder(MonitoringSettings(), sink)
    monitor.count("Invocations", handler="h", outcome="ok")
    monitor.flush()  # first write goes out
    now[0] += 3
    monitor.count("Invocations", handler="h", outcome="ok")
    monitor.flush()  # 3 s later: merged, not written (Cloud Monitoring takes one point per 5 s)
    now[0] += 8
    monitor.count("Invocations", handler="h", outcome="ok")
    monitor.flush()
    values = [s.points[0].value.double_value for r in metric_service.requests for s in r.time_series]
    assert values == [1.0, 2.0]


def test_without_configuration_no_monitoring_client_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIRCLE_CLOUD_MONITORING", raising=False)
    assert GcpSink().writer is None
