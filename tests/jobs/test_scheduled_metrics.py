"""Scheduled invocations flush their metrics in each platform's native document, like storage events:
the Lambda scheduled function prints EMF, the GCP function writes one Cloud Logging ``metrics`` line,
the Azure timer/queue path writes custom-dimension records, for a probe and for a reconcile run."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.lambda_context import LambdaContext
from tests.e2e import replication_rig
from tests.e2e.replication_rig import ThreeClouds
from tests.jobs.test_scheduled_entry_points import _pubsub_event, _seed, aws, gcp  # noqa: F401 - fixtures
from tests.monitoring.emf_spec import check_emf, emf_documents, metric_values

pytestmark = [pytest.mark.xdist_group("jobs-emulators")]


# -- Lambda: EMF on stdout ------------------------------------------------------------------------------------
def test_lambda_scheduled_probe_and_reconcile_print_emf(
    aws: ThreeClouds,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aws_lambda.handlers import scheduled

    _seed(aws, 3)
    capsys.readouterr()
    report = scheduled({"job": "probe"}, LambdaContext())
    assert report["ok"]
    docs = emf_documents(capsys.readouterr().out)
    assert docs, "the probe printed no EMF document"
    for doc in docs:
        check_emf(doc)
    assert metric_values(docs, "Invocations", handler="probe", outcome="ok") == [1.0]
    assert len(metric_values(docs, "InvocationDuration", handler="probe")) == 1
    for store in ("s3", "az", "gs"):
        assert len(metric_values(docs, "ProbeLatency", store=store, operation="write")) == 1
        assert metric_values(docs, "ProbeFailed", store=store) == [0.0]

    report = scheduled({"job": "reconcile"}, LambdaContext())
    assert report["complete"] and report["copied"] == 6
    docs = emf_documents(capsys.readouterr().out)
    for doc in docs:
        check_emf(doc)
    assert metric_values(docs, "Invocations", handler="reconcile", outcome="ok") == [1.0]
    rule = report["rules"][0]["rule"]
    assert metric_values(docs, "ReconcileCopied", rule=rule) == [6.0]
    assert len(metric_values(docs, "ReplicationLag", rule=rule, target="az")) == 3
    assert metric_values(docs, "Invocations", handler="probe") == []  # the last flush forgot them


def test_lambda_range_messages_flush_once_per_batch(
    aws: ThreeClouds,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aws_lambda.handlers import scheduled

    _seed(aws, 2)
    body = json.dumps({"job": "reconcile", "range": {"after": None, "until": None, "name": "r000"}})
    capsys.readouterr()
    answer = scheduled({"Records": [{"messageId": "m1", "body": body}]}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    docs = emf_documents(capsys.readouterr().out)
    assert metric_values(docs, "Invocations", handler="reconcile", outcome="ok") == [1.0]
    assert metric_values(docs, "ReconcileCopied", rule="s3->az,gs") == [4.0]


# -- GCP: Cloud Logging JSON lines ------------------------------------------------------------------------------
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


def _metrics_line(text: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    [entry] = [line for line in lines if line.get("message") == "metrics"]
    return entry


def _series(entry: dict[str, Any], name: str, **labels: str) -> list[dict[str, Any]]:
    return [
        m for m in entry["metrics"] if m["name"] == name and all(m["labels"].get(k) == v for k, v in labels.items())
    ]


def test_gcp_scheduled_probe_and_reconcile_write_cloud_logging_metrics(
    gcp: ThreeClouds,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gcp_functions.main import scheduled

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "circle-test")
    monkeypatch.delenv("CIRCLE_CLOUD_MONITORING", raising=False)
    _seed(gcp, 3)
    with _gcp_logging():
        capsys.readouterr()
        scheduled(_pubsub_event({"job": "probe"}))
        probe = _metrics_line(capsys.readouterr().out)
        scheduled(_pubsub_event({"job": "reconcile"}))
        reconcile = _metrics_line(capsys.readouterr().out)
    assert probe["severity"] == "INFO" and probe["logger"] == "circle.monitoring"
    [invocations] = _series(probe, "Invocations", handler="probe", outcome="ok")
    assert (invocations["kind"], invocations["values"]) == ("count", [1.0])
    assert sorted(m["labels"]["store"] for m in _series(probe, "ProbeLatency", operation="read")) == ["az", "gs", "s3"]
    [copied] = _series(reconcile, "ReconcileCopied", rule="gs->s3,az")
    assert copied["values"] == [6.0]
    assert _series(reconcile, "Invocations", handler="reconcile", outcome="ok")[0]["values"] == [1.0]
    assert "event_type" in reconcile["logging.googleapis.com/labels"]


# -- Azure: custom-dimension records (no Application Insights connection string) -------------------------------
@pytest.mark.skipif(sys.version_info < (3, 13), reason="azure-functions-runtime needs 3.13")
def test_azure_scheduled_probe_and_reconcile_write_custom_dimension_records(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import azure.functions as func

    from azure_functions import app as azure_app
    from tests.e2e.test_azure_functions_indexer import _indexed

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="az")
    _seed(clouds, 3)
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("CIRCLE_FANOUT_RANGES", raising=False)
    azure_app.reset_runtime()
    indexed = _indexed()
    try:
        with caplog.at_level(logging.INFO, logger="circle.monitoring"):
            indexed["probe_timer"][1].func(func.TimerRequest(past_due=False))
            probe = _records(caplog)
            caplog.clear()
            indexed["reconcile_timer"][1].func(func.TimerRequest(past_due=False))
            reconcile = _records(caplog)
    finally:
        azure_app.reset_runtime()
    assert probe[("Invocations", (("handler", "probe"), ("outcome", "ok")))]["value"] == 1
    assert {d["store"] for (name, _), d in probe.items() if name == "ProbeLatency"} == {"az", "gs", "s3"}
    copied = reconcile[("ReconcileCopied", (("rule", "az->s3,gs"),))]
    assert copied["unit"] == "Count" and copied["value"] == 6
    assert reconcile[("Invocations", (("handler", "reconcile"), ("outcome", "ok")))]["value"] == 1


_FIELDS = frozenset({"metric", "unit", "count", "sum", "min", "max", "value"})


def _records(caplog: pytest.LogCaptureFixture) -> dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]]:
    out = {}
    for record in caplog.records:
        dims = getattr(record, "custom_dimensions", None)
        if record.name == "circle.monitoring" and isinstance(dims, dict) and "metric" in dims:
            labels = tuple(sorted((k, v) for k, v in dims.items() if k not in _FIELDS))
            out[(dims["metric"], labels)] = dims
    return out
