"""The Lambda sink: CloudWatch EMF documents, checked against the specification's rules, both from the
sink directly (the limits and how documents split) and as the real adapter prints them per invocation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws_lambda import handlers
from aws_lambda.monitoring import EmfSink, tracer
from core.handlers.storage_events import ReplicationFailed
from core.monitoring import MonitoringSettings, Recorder
from tests.adapters.lambda_context import LambdaContext
from tests.monitoring.emf_spec import check_emf, emf_documents, metric_values

DATA = Path(__file__).resolve().parent.parent / "events" / "data"


def _recorder(lines: list[str], namespace: str = "CircleTest") -> Recorder:
    return Recorder(MonitoringSettings(), EmfSink(namespace, write=lines.append))


def test_one_document_per_dimension_set_with_the_envelope_the_spec_requires() -> None:
    lines: list[str] = []
    monitor = _recorder(lines)
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    monitor.count("ReplicationOutcome", action="copied", failure="none")
    monitor.timing("ReplicationLag", 1.5, rule="mirror", target="backup")
    monitor.timing("ReplicationLag", 2.5, rule="mirror", target="backup")
    monitor.flush()
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        check_emf(doc)
    assert len(docs) == 2
    outcome = next(d for d in docs if "ReplicationOutcome" in d)
    assert outcome["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "CircleTest",
            "Dimensions": [["action", "failure", "service"]],
            "Metrics": [{"Name": "ReplicationOutcome", "Unit": "Count"}],
        }
    ]
    assert (outcome["action"], outcome["failure"], outcome["service"]) == ("copied", "none", "circle-core")
    assert outcome["ReplicationOutcome"] == [2.0]
    lag = next(d for d in docs if "ReplicationLag" in d)
    assert lag["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "ReplicationLag", "Unit": "Seconds"}]
    # per rule/target, and under the service alone: the template's ReplicationLagAlarm watches that one
    assert lag["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["rule", "target", "service"], ["service"]]
    assert lag["ReplicationLag"] == [1.5, 2.5]  # every observation: CloudWatch keeps the distribution
    assert (lag["rule"], lag["target"]) == ("mirror", "backup")
    assert isinstance(lag["_aws"]["Timestamp"], int)
    lines.clear()
    monitor.flush()
    assert lines == []  # flushed series are forgotten: one invocation's metrics are written once


def test_documents_split_at_100_metrics_and_100_values() -> None:
    lines: list[str] = []
    monitor = _recorder(lines)
    for i in range(150):
        monitor.count(f"Metric{i:03d}", i + 1, store="s")
    for i in range(250):
        monitor.timing("StorageLatency", i / 1000, store="s")
    monitor.flush()
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        check_emf(doc)
    assert max(len(d["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for d in docs) == 100
    assert sorted(len(d["StorageLatency"]) for d in docs if "StorageLatency" in d) == [50, 100, 100]
    assert sorted(v for d in docs if "StorageLatency" in d for v in d["StorageLatency"]) == [
        i / 1000 for i in range(250)
    ]
    names = [
        m["Name"] for d in docs for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"] if m["Name"] != "StorageLatency"
    ]
    assert sorted(names) == [f"Metric{i:03d}" for i in range(150)]  # each exactly once
    assert len(docs) == 4  # 100 names | 50 names + 100 values | 100 values | 50 values


def test_more_than_30_dimensions_are_cut_to_the_limit() -> None:
    lines: list[str] = []
    monitor = _recorder(lines)
    monitor.count("Wide", 1, **{f"d{i:02d}": str(i) for i in range(40)})
    monitor.flush()
    [doc] = [json.loads(line) for line in lines]
    check_emf(doc)
    assert (
        len(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == 29
    )  # 28 of ours + service (Powertools caps at 29, the spec at 30)


def test_the_checker_rejects_what_the_spec_forbids() -> None:
    directive = {"Namespace": "N", "Dimensions": [["a"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}
    good: dict[str, Any] = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [directive]}, "a": "x", "M": 1}
    check_emf(good)
    for broken in (
        {**good, "a": 3},  # dimension value not a string
        {**good, "M": list(range(101))},  # more than 100 values
        {k: v for k, v in good.items() if k != "M"},  # metric with no member
        {**good, "_aws": {"CloudWatchMetrics": good["_aws"]["CloudWatchMetrics"]}},  # no Timestamp
    ):
        with pytest.raises(Exception):  # noqa: B017 - jsonschema.ValidationError or AssertionError
            check_emf(broken)


def test_tracer_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIRCLE_TRACING", raising=False)
    assert tracer() is None


# -- the real adapter ---------------------------------------------------------------------------------------
def _configure(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: str) -> None:
    boto3.client(
        "s3",
        endpoint_url=emulators.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    (tmp_path / "circle.toml").write_text(
        f'[stores.src]\nurl = "s3://{bucket}"\nendpoint_url = "{emulators.s3_endpoint}"\nregion = "us-east-1"\n'
        'access_key_id = "testing"\nsecret_access_key = "testing"\n'
        f'[stores.dst]\nurl = "memory://emf-{tmp_path.name}"\n'
        '[[replication]]\nname = "mirror"\nsource = "src"\ntargets = ["dst"]\n'
    )
    monkeypatch.setenv("CIRCLE_CONFIG", str(tmp_path / "circle.toml"))


def test_the_lambda_adapter_prints_valid_emf_once_per_invocation(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, key = "lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b"
    _configure(emulators, tmp_path, monkeypatch, bucket)
    handlers.runtime().store("src").put(key, b"x" * 1000)
    capsys.readouterr()
    event = json.loads((DATA / "powertools_s3Event.json").read_text())

    handlers.storage_event(event, LambdaContext())
    docs = emf_documents(capsys.readouterr().out)
    assert docs, "no EMF document printed"
    for doc in docs:
        check_emf(doc)
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CircleCore"
    assert metric_values(docs, "ReplicationOutcome", action="copied", failure="none") == [1.0]
    [lag] = metric_values(docs, "ReplicationLag", rule="mirror", target="dst")
    assert lag > 0
    assert metric_values(docs, "Invocations", handler="storage_event", outcome="ok") == [1.0]
    assert metric_values(docs, "StorageRequests", operation="put", provider="memory", store="dst", outcome="ok") == [
        1.0
    ]
    assert metric_values(docs, "StorageBytes", operation="put", store="dst") == [1000.0]
    assert metric_values(docs, "StorageBytes", operation="get", provider="s3", store="src") == [1000.0]
    assert len(metric_values(docs, "StorageLatency", operation="head", provider="s3", store="src")) >= 1

    handlers.storage_event(event, LambdaContext())  # the replica is current: skipped, nothing copied
    docs = emf_documents(capsys.readouterr().out)
    for doc in docs:
        check_emf(doc)
    assert metric_values(docs, "ReplicationOutcome", action="skipped", failure="none") == [1.0]
    assert metric_values(docs, "ReplicationOutcome", action="copied", failure="none") == []  # not re-sent
    assert metric_values(docs, "ReplicationLag") == []


def test_a_failed_invocation_still_flushes_its_metrics(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.handlers.storage_events import ReplicationFailed

    _configure(emulators, tmp_path, monkeypatch, "lambda-artifacts-deafc19498e3f2df")
    broken = (tmp_path / "circle.toml").read_text().replace(emulators.s3_endpoint, "http://127.0.0.1:9")
    (tmp_path / "circle.toml").write_text(broken + "[stores.src.retry]\nmax_attempts = 1\n")
    capsys.readouterr()
    with pytest.raises(ReplicationFailed):
        handlers.storage_event(json.loads((DATA / "powertools_s3Event.json").read_text()), LambdaContext())
    docs = emf_documents(capsys.readouterr().out)
    for doc in docs:
        check_emf(doc)
    assert metric_values(docs, "Invocations", handler="storage_event", outcome="retry") == [1.0]
    assert metric_values(docs, "ReplicationFailed", rule="mirror", target="dst", failure="retryable") == [1.0]
    assert metric_values(docs, "ReplicationFailed", service="circle-core") == [1.0]  # the alarm's rollup
    assert metric_values(docs, "StorageRequests", operation="head", provider="s3", outcome="retryable") == [1.0]


def test_an_unreadable_payload_counts_as_a_dead_lettered_invocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "circle.toml").write_text('[stores.a]\nurl = "memory://emf-unreadable"\n')
    monkeypatch.setenv("CIRCLE_CONFIG", str(tmp_path / "circle.toml"))
    handlers.runtime()
    capsys.readouterr()
    with pytest.raises(ReplicationFailed):  # no sink took it: Lambda's own retry and DLQ keep it
        handlers.storage_event({"not": "an event"}, LambdaContext())
    docs = emf_documents(capsys.readouterr().out)
    assert metric_values(docs, "Invocations", handler="storage_event", outcome="dead_letter") == [1.0]
