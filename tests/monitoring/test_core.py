"""The core of monitoring: the storage layer (what it records, that it survives a credential refresh and
costs nothing when off), the runtime's hooks (outcomes, lag per rule and target, failure alerts after a
threshold), the recorder's aggregation and the ``[monitoring]`` table."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from core.config import parse_config
from core.documents import ConfigError
from core.events import StorageEvent
from core.monitoring import NULL, MonitoringSettings, Recorder, Series, Thresholds, Webhook, build_monitor
from core.monitoring.layer import MonitoredBackend, outcome_of, storage_layer
from core.runtime import Circle
from core.storage import open_store
from core.storage.errors import AlreadyExists, NotFound, PermissionDenied, Throttled, TransientError


class ListSink:
    def __init__(self) -> None:
        self.flushes: list[list[Series]] = []

    def write(self, series: list[Series], timestamp: float) -> None:
        self.flushes.append(series)

    def values(self, name: str, **dims: str) -> list[float]:
        return [
            v
            for batch in self.flushes
            for s in batch
            if s.name == name and all(s.dimensions.get(k) == d for k, d in dims.items())
            for v in s.values
        ]


def _recorder(**settings: Any) -> tuple[Recorder, ListSink]:
    sink = ListSink()
    return Recorder(MonitoringSettings(**settings), sink), sink


# -- the storage layer ---------------------------------------------------------------------------------------
def test_the_layer_records_operation_provider_store_outcome_latency_and_bytes() -> None:
    monitor, sink = _recorder()
    store = open_store(f"memory://layer-{uuid.uuid4().hex}")
    store.add_layer(storage_layer(monitor, "primary"))
    store.put("a.txt", b"hello")
    assert store.get("a.txt").read() == b"hello"
    with pytest.raises(NotFound):
        store.head("missing")
    with pytest.raises(AlreadyExists):
        store.put("a.txt", b"again", if_none_match="*")
    assert [o.key for o in store.list()] == ["a.txt"]
    with store.get("a.txt") as reader:  # closed early: what the provider delivered is counted
        assert reader.read(2) == b"he"
    monitor.flush()

    dims = {"provider": "memory", "store": "primary"}
    assert sink.values("StorageRequests", operation="put", outcome="ok", **dims) == [1.0]
    assert sink.values("StorageRequests", operation="put", outcome="condition", **dims) == [1.0]
    assert sink.values("StorageRequests", operation="head", outcome="not_found", **dims) == [1.0]
    assert sink.values("StorageRequests", operation="get", outcome="ok", **dims) == [2.0]
    assert sink.values("StorageRequests", operation="list", outcome="ok", **dims) == [1.0]
    assert len(sink.values("StorageLatency", operation="put", **dims)) == 2
    assert all(v >= 0 for v in sink.values("StorageLatency"))
    assert sink.values("StorageBytes", operation="put", **dims) == [5.0]
    assert sink.values("StorageBytes", operation="get", **dims) == [10.0]  # memory delivers 5 bytes as one chunk
    [series] = [s for s in sink.flushes[0] if s.name == "StorageBytes" and s.dimensions["operation"] == "put"]
    assert series.unit == "Bytes"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "ok"),
        (NotFound("x"), "not_found"),
        (AlreadyExists("x"), "condition"),
        (Throttled("x"), "throttled"),
        (TransientError("x"), "retryable"),
        (PermissionDenied("x"), "rejected"),
        (ValueError("x"), "error"),
    ],
)
def test_outcome_classes_are_a_small_closed_set(error: BaseException | None, outcome: str) -> None:
    assert outcome_of(error) == outcome


def test_a_backend_rebuilt_after_a_rejected_credential_is_wrapped_again() -> None:
    monitor, sink = _recorder()
    bucket = f"renew-{uuid.uuid4().hex}"
    store = open_store(f"memory://{bucket}")
    first = store._handle.backend
    store._handle.reopen = lambda: open_store(f"memory://{bucket}")._handle.backend
    store.add_layer(storage_layer(monitor, "s"))
    wrapped = store._handle.backend
    assert isinstance(wrapped, MonitoredBackend) and wrapped.inner is first
    assert store._handle.renew(wrapped, PermissionDenied("rotated"))
    renewed = store._handle.backend
    assert isinstance(renewed, MonitoredBackend) and renewed.inner is not first
    assert renewed.retry is wrapped.retry  # the retry policy follows the store
    store.put("k", b"v")
    monitor.flush()
    assert sink.values("StorageRequests", operation="put", store="s") == [1.0]


def _config(extra: str = "", *, name: str | None = None) -> Any:
    import tomllib

    bucket = name or uuid.uuid4().hex
    text = (
        f'[stores.src]\nurl = "memory://src-{bucket}"\n[stores.dst]\nurl = "memory://dst-{bucket}"\n'
        '[[replication]]\nname = "mirror"\nsource = "src"\ntargets = ["dst"]\n' + extra
    )
    return parse_config(tomllib.loads(text))


def test_monitoring_off_installs_no_layer_and_records_nothing() -> None:
    circle = Circle.from_config(_config("[monitoring]\nenabled = false\n"))
    assert circle.monitor is NULL
    assert not isinstance(circle.store("src")._handle.backend, MonitoredBackend)
    plain = Circle.from_config(_config())  # no [monitoring] and no platform sink: off too
    assert plain.monitor is NULL
    assert not isinstance(plain.store("dst")._handle.backend, MonitoredBackend)


def test_storage_metrics_can_be_turned_off_alone() -> None:
    circle = Circle.from_config(_config("[monitoring]\nstorage_metrics = false\n"), sink=ListSink())
    assert isinstance(circle.monitor, Recorder)
    assert not isinstance(circle.store("src")._handle.backend, MonitoredBackend)


def _event(bucket: str, key: str, *, kind: str = "created", seconds_ago: float = 30) -> StorageEvent:
    return StorageEvent(
        provider="memory",
        kind=kind,  # type: ignore[arg-type]
        bucket=bucket,
        key=key,
        event_time=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago),
        event_id=uuid.uuid4().hex,
    )


def test_the_runtime_records_outcomes_and_lag_per_rule_and_target() -> None:
    sink = ListSink()
    name = uuid.uuid4().hex
    circle = Circle.from_config(_config(name=name), sink=sink)
    circle.store("src").put("a.txt", b"x")
    delivery = circle.handle_events([_event(f"src-{name}", "a.txt", seconds_ago=30)])
    assert delivery.status == "ok"
    circle.handle_events([_event(f"src-{name}", "a.txt", seconds_ago=30)])  # already current: skipped
    circle.monitor.flush()
    assert sink.values("ReplicationOutcome", action="copied", failure="none") == [1.0]
    assert sink.values("ReplicationOutcome", action="skipped", failure="none") == [1.0]
    [lag] = sink.values("ReplicationLag", rule="mirror", target="dst")  # skipped changes nothing: no lag
    assert 30 <= lag < 60
    assert sink.values("StorageRequests", operation="put", store="dst", outcome="ok") == [1.0]


def test_failed_replications_alert_once_the_threshold_is_reached_and_once_per_window() -> None:
    name = uuid.uuid4().hex
    config = _config("[monitoring.thresholds]\nfailed_replications = 3\nwindow_seconds = 600\n", name=name)
    sent: list[str] = []
    circle = Circle.from_config(config, sink=ListSink())
    monitor = circle.monitor
    assert isinstance(monitor, Recorder)
    monitor.alerter.webhooks = (Webhook("http://127.0.0.1:9/hook"),)
    monitor.alerter._post = lambda url, body, headers, timeout: sent.append(body.decode()) or 200  # type: ignore[assignment, func-returns-value]
    for _ in range(2):
        monitor.failure("replication", "mirror/dst", "failed", threshold=3)
    monitor.flush()
    assert sent == []  # two failures: under the threshold
    monitor.failure("replication", "mirror/dst", "failed", threshold=3)
    monitor.failure("replication", "mirror/dst", "failed", threshold=3)  # same window: no second alert
    monitor.flush()
    assert len(sent) == 1
    assert '"key":"mirror/dst"' in sent[0] and '"failures_in_window":3' in sent[0]


def test_a_replication_failure_reaches_the_alert_hook_with_rule_and_target() -> None:
    name = uuid.uuid4().hex
    circle = Circle.from_config(_config(name=name), sink=ListSink())
    monitor = circle.monitor
    assert isinstance(monitor, Recorder)
    bodies: list[bytes] = []
    monitor.alerter.webhooks = (Webhook("http://127.0.0.1:9/hook"),)
    monitor.alerter._post = lambda url, body, headers, timeout: bodies.append(body) or 204  # type: ignore[assignment, func-returns-value]
    circle.store("dst").add_layer(_Refusing)
    circle.store("src").put("b.txt", b"x")
    delivery = circle.handle_events([_event(f"src-{name}", "b.txt")])
    assert delivery.status != "ok"
    monitor.flush()
    [body] = bodies
    import json

    alert = json.loads(body)
    assert (alert["kind"], alert["key"]) == ("replication", "mirror/dst")
    assert alert["fields"]["rule"] == "mirror" and alert["fields"]["target"] == "dst"


class _Refusing(MonitoredBackend):
    """A target backend that refuses every write and copy (a revoked credential)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, NULL, "dst")

    def put(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionDenied("refused", provider="memory", operation="put")

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionDenied("refused", provider="memory", operation="copy")


# -- recorder and settings ----------------------------------------------------------------------------------
def test_the_recorder_aggregates_counts_timings_and_gauges_between_flushes() -> None:
    monitor, sink = _recorder()
    monitor.count("C", 2, a="1")
    monitor.count("C", 3, a="1")
    monitor.count("C", 1, a="2")
    monitor.timing("T", 0.5)
    monitor.timing("T", 1.5)
    monitor.gauge("G", 1)
    monitor.gauge("G", 7)
    monitor.flush()
    assert sink.values("C", a="1") == [5.0] and sink.values("C", a="2") == [1.0]
    assert sink.values("T") == [0.5, 1.5]
    assert sink.values("G") == [7.0]
    monitor.flush()
    assert len(sink.flushes) == 1  # nothing new: nothing written


def test_a_failing_sink_never_raises_into_the_handler() -> None:
    class Broken:
        def write(self, series: list[Series], timestamp: float) -> None:
            raise RuntimeError("sink down")

    monitor = Recorder(MonitoringSettings(), Broken())
    monitor.count("C")
    monitor.flush()  # logged, not raised


def test_the_monitoring_table_is_parsed_and_validated() -> None:
    config = _config(
        "[monitoring]\nalert_budget_seconds = 1.5\n"
        "[monitoring.thresholds]\nreplication_lag_seconds = 120\nfailed_replications = 5\n"
        '[[monitoring.webhooks]]\nurl = "https://hooks.example.com/x?token=abc"\nsecret = "secret://vault/hook"\n'
        'kinds = ["probe"]\n'
    )
    settings = config.monitoring
    assert settings.alert_budget_seconds == 1.5
    assert settings.thresholds == Thresholds(replication_lag_seconds=120, failed_replications=5)
    [hook] = settings.webhooks
    assert hook.wants("probe") and not hook.wants("rotation")
    assert "abc" not in repr(hook)  # a token in the URL's query never reaches a log
    assert _config().monitoring is None
    assert build_monitor(None) is NULL


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[monitoring]\nenabeld = true\n", r"monitoring: unknown field\(s\) enabeld"),
        ("[monitoring]\nenabled = 1\n", "monitoring.enabled: expected bool"),
        ("[monitoring.thresholds]\nerrors = -1\n", "monitoring.thresholds.errors: expected a non-negative number"),
        ("[monitoring.thresholds]\nerrors = 1.5\n", "monitoring.thresholds.errors: expected a whole number"),
        ('[[monitoring.webhooks]]\nurl = "ftp://x"\n', r"monitoring.webhooks\[0\].url: expected an http\(s\) URL"),
        (
            '[[monitoring.webhooks]]\nurl = "https://x"\nsecret = "hunter2"\n',
            r"monitoring.webhooks\[0\].secret: expected a secret:// reference",
        ),
    ],
)
def test_bad_monitoring_tables_are_refused_with_the_field_named(table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _config(table)
    assert "hunter2" not in str(info.value)
