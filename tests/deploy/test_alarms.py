"""Alarms shipped with the deployment (monitor helper): template.yaml's CloudWatch alarms (routed to the
SNS topic, thresholds from parameters that scripts/deploy.py fills from ``[monitoring.thresholds]``,
watching the metric identity the EMF sink really prints), Azure's action group and metric alerts, and
GCP's alerting policies in the deploy plans. cfn-lint runs on the whole template in test_template.py."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from aws_lambda.monitoring import EmfSink
from core.monitoring import MonitoringSettings, Recorder
from scripts.deploy_config import ALARM_DEFAULTS, facts
from tests.deploy.cfn_eval import Evaluator, load
from tests.deploy.test_deploy import AWS_ENV, AZ_ENV, GCP_ENV, _overrides, _plan

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"SourceBucketName": "circle-src", "RotatedUserName": "circle-replicator"}
ALARMS = {
    "DeadLetterQueueAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "AlarmDeadLetterDepth"),
    "EventsQueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "AlarmQueueAgeSeconds"),
    "StorageEventErrorsAlarm": ("AWS/Lambda", "Errors", "AlarmErrors"),
    "StorageEventThrottlesAlarm": ("AWS/Lambda", "Throttles", "AlarmThrottles"),
    "RotationErrorsAlarm": ("AWS/Lambda", "Errors", "AlarmErrors"),
    "RotationThrottlesAlarm": ("AWS/Lambda", "Throttles", "AlarmThrottles"),
    "ScheduledErrorsAlarm": ("AWS/Lambda", "Errors", "AlarmErrors"),
    "ScheduledThrottlesAlarm": ("AWS/Lambda", "Throttles", "AlarmThrottles"),
    "HttpApiErrorsAlarm": ("AWS/Lambda", "Errors", "AlarmErrors"),
    "HttpApiThrottlesAlarm": ("AWS/Lambda", "Throttles", "AlarmThrottles"),
    "JobsQueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "AlarmJobsQueueAgeSeconds"),
    "ProbeFailedAlarm": ("CircleCore", "ProbeFailed", None),
    "ReplicationLagAlarm": ("CircleCore", "ReplicationLag", "AlarmReplicationLagSeconds"),
    "ReplicationFailedAlarm": ("CircleCore", "ReplicationFailed", "AlarmFailedReplications"),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(ROOT / "template.yaml")


def test_every_alarm_notifies_the_topic_with_its_threshold_parameter(template: dict[str, Any]) -> None:
    declared = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert declared == set(ALARMS)
    values = {param: str(100 + i) for i, (_, _, param) in enumerate(ALARMS.values()) if param}
    ev = Evaluator(template, {**PARAMS, **values})
    for name, (namespace, metric, param) in ALARMS.items():
        props = ev.resource(name)["Properties"]  # type: ignore[index]
        assert (props["Namespace"], props["MetricName"]) == (namespace, metric)
        assert props["AlarmActions"] == ["<Ref:AlarmTopic>"]
        assert props["Threshold"] == (values[param] if param else 1)  # a probe fails or it does not
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        if param == "AlarmJobsQueueAgeSeconds":  # a template parameter only: ranges wait their turn
            assert template["Parameters"][param]["Default"] == 3600
        elif param:
            assert template["Parameters"][param]["Default"] == ALARM_DEFAULTS[_key(param)]


def test_every_function_has_an_errors_and_a_throttles_alarm(template: dict[str, Any]) -> None:
    kinds = ("AWS::Serverless::Function", "AWS::Lambda::Function")
    functions = {n for n, r in template["Resources"].items() if r["Type"] in kinds}
    ev = Evaluator(template, PARAMS)
    watched: dict[str, set[str]] = {}
    for name, (namespace, metric, _) in ALARMS.items():
        if namespace == "AWS/Lambda":
            [dim] = ev.resource(name)["Properties"]["Dimensions"]  # type: ignore[index]
            watched.setdefault(metric, set()).add(dim["Value"].removeprefix("<Ref:").removesuffix(">"))
    assert watched == {"Errors": functions, "Throttles": functions}
    queues = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    aged = {
        ev.resource(n)["Properties"]["Dimensions"][0]["Value"]  # type: ignore[index]
        for n, (_, metric, _) in ALARMS.items()
        if metric == "ApproximateAgeOfOldestMessage"
    }
    assert len(aged) == 2 and queues >= {"EventsQueue", "JobsQueue", "DeadLetterQueue"}


def _key(param: str) -> str:
    return {
        "AlarmDeadLetterDepth": "dlq_depth",
        "AlarmQueueAgeSeconds": "queue_age_seconds",
        "AlarmErrors": "errors",
        "AlarmThrottles": "throttles",
        "AlarmReplicationLagSeconds": "replication_lag_seconds",
        "AlarmFailedReplications": "failed_replications",
    }[param]


def test_the_replication_alarms_watch_what_the_emf_sink_prints(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alarm's (namespace, metric, dimensions) must be one the function's EMF documents publish."""
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", env["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", env["POWERTOOLS_SERVICE_NAME"])
    lines: list[str] = []
    monitor = Recorder(MonitoringSettings(), EmfSink(write=lines.append))
    monitor.timing("ReplicationLag", 3.0, rule="mirror", target="backup")
    monitor.count("ReplicationFailed", 1, rule="mirror", target="backup", failure="permanent")
    monitor.count("ProbeFailed", 1, store="backup")  # what core.handlers.probe records for a store down
    monitor.flush()
    published = set()
    for doc in map(json.loads, lines):
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    published.add((directive["Namespace"], metric["Name"], tuple((d, doc[d]) for d in dims)))
    ev = Evaluator(template, PARAMS)
    for name in ("ReplicationLagAlarm", "ReplicationFailedAlarm", "ProbeFailedAlarm"):
        props = ev.resource(name)["Properties"]  # type: ignore[index]
        identity = (
            props["Namespace"],
            props["MetricName"],
            tuple((d["Name"], d["Value"]) for d in props["Dimensions"]),
        )
        assert identity in published, (identity, published)


CONFIG = """
[stores.src]
url = "s3://src"
[stores.dst]
url = "s3://dst"
[[replication]]
source = "src"
targets = ["dst"]
[monitoring.thresholds]
replication_lag_seconds = 120
errors = 3
"""


def test_the_aws_plan_passes_configured_thresholds_only(tmp_path: Path) -> None:
    path = tmp_path / "circle.toml"
    path.write_text(CONFIG)
    overrides = _overrides(_plan("aws", AWS_ENV, facts(path)))
    assert overrides["AlarmReplicationLagSeconds"] == "120"
    assert overrides["AlarmErrors"] == "3"
    assert "AlarmQueueAgeSeconds" not in overrides  # unset: the template's default
    assert set(overrides) <= set(load(ROOT / "template.yaml")["Parameters"])


def test_the_azure_plan_creates_an_action_group_and_metric_alerts(tmp_path: Path) -> None:
    path = tmp_path / "circle.toml"
    path.write_text(CONFIG)
    plan = _plan("azure", {**AZ_ENV, "CIRCLE_AZ_ALARM_EMAIL": "ops@example.com"}, facts(path))
    [group] = [s for s in plan.steps if s.argv[:4] == ("az", "monitor", "action-group", "create")]
    assert group.capture == "ACTION_GROUP_ID"
    start = group.argv.index("--action")
    assert group.argv[start : start + 4] == ("--action", "email", "ops", "ops@example.com")
    alerts = {
        s.argv[s.argv.index("--name") + 1]: s.argv
        for s in plan.steps
        if s.argv[:4] == ("az", "monitor", "metrics", "alert")
    }
    assert set(alerts) == {
        "circle-function-errors",
        "circle-replication-lag",
        "circle-replication-failed",
        "circle-queue-backlog",
        "circle-function-throttled",
        "circle-probe-failed",
    }
    condition = {n: a[a.index("--condition") + 1] for n, a in alerts.items()}
    assert condition["circle-function-throttled"] == "total Http429 >= 1"
    assert condition["circle-probe-failed"] == "max azure.applicationinsights.probefailed >= 1"
    [app] = [s for s in plan.steps if s.capture == "APP_ID"]  # the app's id, captured once for the plan
    assert app.argv[:3] == ("az", "functionapp", "show")
    assert plan.steps.index(app) < min(
        i for i, s in enumerate(plan.steps) if s.argv[:4] == ("az", "monitor", "metrics", "alert")
    )
    scope = {n: a[a.index("--scopes") + 1] for n, a in alerts.items()}
    assert scope["circle-function-throttled"] == "${APP_ID}" and scope["circle-probe-failed"] == "${INSIGHTS_ID}"
    assert condition["circle-replication-lag"] == "max azure.applicationinsights.replicationlag >= 120"
    assert condition["circle-function-errors"] == "count requests/failed >= 3"
    assert all(a[a.index("--action") + 1] == "${ACTION_GROUP_ID}" for a in alerts.values())
    assert alerts["circle-replication-lag"][alerts["circle-replication-lag"].index("--scopes") + 1] == "${INSIGHTS_ID}"


def test_the_gcp_plan_creates_each_alerting_policy_once(tmp_path: Path) -> None:
    path = tmp_path / "circle.toml"
    path.write_text(CONFIG)
    plan = _plan("gcp", {**GCP_ENV, "CIRCLE_GCP_ALARM_EMAIL": "ops@example.com"}, facts(path))
    [channel] = [s for s in plan.steps if s.argv[:2] == ("bash", "-c") and "channels" in s.argv[2]]
    assert channel.capture == "CHANNEL"
    policies = {}
    for step in plan.steps:
        if step.argv[:2] == ("bash", "-c") and "policies create" in step.argv[2]:
            listing, create = step.argv[2].split(" | grep -q . || ")
            assert shlex.split(listing)[:5] == ["gcloud", "alpha", "monitoring", "policies", "list"]
            [policy_arg] = [a for a in shlex.split(create) if a.startswith("--policy=")]
            policy = json.loads(policy_arg.removeprefix("--policy="))
            assert f'--filter=displayName="{policy["displayName"]}"' in shlex.split(listing)
            policies[policy["displayName"]] = policy
    assert set(policies) == {
        "Circle Core: function errors",
        "Circle Core: function throttled",
        "Circle Core: events waiting",
        "Circle Core: replication lag",
        "Circle Core: replication failures",
        "Circle Core: probe failed",
    }
    probe = policies["Circle Core: probe failed"]["conditions"][0]["conditionThreshold"]
    assert 'metric.type = "custom.googleapis.com/circle/ProbeFailed"' in probe["filter"]
    assert (probe["comparison"], probe["thresholdValue"]) == ("COMPARISON_GT", 0.0)  # one store down
    lag = policies["Circle Core: replication lag"]
    assert lag["notificationChannels"] == ["${CHANNEL}"]
    threshold = lag["conditions"][0]["conditionThreshold"]
    assert 'metric.type = "custom.googleapis.com/circle/ReplicationLag"' in threshold["filter"]
    assert threshold["thresholdValue"] == 120.0
    assert threshold["aggregations"][0]["perSeriesAligner"] == "ALIGN_PERCENTILE_99"
    errors = policies["Circle Core: function errors"]["conditions"][0]["conditionThreshold"]
    assert errors["comparison"] == "COMPARISON_GT" and errors["thresholdValue"] == 2.0  # > 2 means >= 3
