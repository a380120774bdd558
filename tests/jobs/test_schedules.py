"""Schedules: the [schedules] table, the conversion of one 5-field cron to each platform's form, the job
request format, and the wiring in template.yaml and the GCP deploy plan."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import ConfigError, parse_config
from core.handlers.jobs import (
    JobError,
    JobRequest,
    cloud_scheduler_expression,
    eventbridge_expression,
    ncrontab_expression,
)
from scripts import deploy
from tests.deploy.cfn_eval import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("cron", "aws", "azure"),
    [
        ("*/15 * * * *", "cron(*/15 * * * ? *)", "0 */15 * * * *"),
        ("30 2 * * 1", "cron(30 2 ? * 2 *)", "0 30 2 * * 1"),
        ("0 6 1 * *", "cron(0 6 1 * ? *)", "0 0 6 1 * *"),
    ],
)
def test_one_cron_in_each_platforms_form(cron: str, aws: str, azure: str) -> None:
    assert eventbridge_expression(cron) == aws
    assert ncrontab_expression(cron) == azure
    assert cloud_scheduler_expression(cron) == cron
    assert eventbridge_expression("rate(1 hour)") == "rate(1 hour)"


@pytest.mark.parametrize("bad", ["* * * *", "0 0 1 * 1", "rm -rf /", "rate(1 hour)"])
def test_a_bad_schedule_is_a_config_error_naming_the_field(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"schedules\.reconcile"):
        parse_config({"stores": {}, "schedules": {"reconcile": bad}})


def test_schedules_table_parses_with_defaults_and_rejects_unknown_fields() -> None:
    config = parse_config(
        {"stores": {"a": {"url": "memory://sched-a"}}, "schedules": {"probe": "*/5 * * * *", "checkpoint_store": "a"}}
    )
    assert config.schedules is not None
    assert (config.schedules.reconcile, config.schedules.probe) == (None, "*/5 * * * *")
    assert (config.schedules.fanout_ranges, config.schedules.parallel, config.schedules.checkpoint_store) == (1, 8, "a")
    assert parse_config({"stores": {}}).schedules is None
    with pytest.raises(ConfigError, match="reconcil"):
        parse_config({"stores": {}, "schedules": {"reconcil": "* * * * *"}})
    with pytest.raises(ConfigError, match="checkpoint_store"):
        parse_config({"stores": {}, "schedules": {"checkpoint_store": "nope"}})
    with pytest.raises(ConfigError, match="parallel"):
        parse_config({"stores": {}, "schedules": {"parallel": 0}})


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        ([], "JSON object"),
        ({"job": "explode"}, "job must be"),
        ({"job": "reconcile", "rnage": {}}, "unknown job request field"),
        ({"job": "reconcile", "range": {"after": 3}}, "after must be"),
        ({"job": "reconcile", "parallel": 0}, "parallel"),
        ({"job": "reconcile", "dry_run": "yes"}, "dry_run"),
    ],
)
def test_bad_job_requests_are_typed_errors(request_: object, problem: str) -> None:
    with pytest.raises(JobError, match=problem):
        JobRequest.parse(request_)


def test_template_schedules_invoke_the_scheduled_function_with_valid_requests() -> None:
    template = load(ROOT / "template.yaml")
    resources = template["Resources"]
    assert resources["ScheduledFunction"]["Properties"]["Handler"] == "aws_lambda.handlers.scheduled"
    for name, job in (("ReconcileSchedule", "reconcile"), ("ProbeSchedule", "probe")):
        schedule = resources[name]
        assert schedule["Type"] == "AWS::Scheduler::Schedule"
        target = schedule["Properties"]["Target"]
        assert JobRequest.parse(json.loads(target["Input"])).job == job
    assert resources["ReconcileSchedule"]["Properties"]["ScheduleExpression"] == {"Ref": "ReconcileScheduleExpression"}
    ranges = resources["ScheduledFunction"]["Properties"]["Events"]["Ranges"]["Properties"]
    assert ranges["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    import aws_lambda.handlers

    assert callable(aws_lambda.handlers.scheduled)


def test_gcp_plan_deploys_the_scheduled_function_and_scheduler_jobs() -> None:
    env = {
        "CIRCLE_GCP_PROJECT": "proj-1",
        "CIRCLE_GCP_REGION": "europe-west1",
        "CIRCLE_GCP_BUCKET": "src-bucket",
        "CIRCLE_GCP_SECRET": "replication-key",
        "CIRCLE_RECONCILE_SCHEDULE": "*/30 * * * *",
    }
    plan = deploy.plan_gcp(deploy.Settings(env), None, now=datetime(2030, 1, 1, tzinfo=UTC))
    argvs = [step.argv for step in plan.steps]
    [fn] = [a for a in argvs if a[:4] == ("gcloud", "functions", "deploy", "circle-scheduled")]
    assert "--entry-point=scheduled" in fn and "--trigger-topic=circle-jobs" in fn
    assert any("CIRCLE_JOBS_TOPIC=projects/proj-1/topics/circle-jobs" in a for a in fn)
    jobs = {a[5]: a for a in argvs if a[:5] == ("gcloud", "scheduler", "jobs", "create", "pubsub")}
    assert set(jobs) == {"circle-reconcile", "circle-probe"}
    assert "--schedule=*/30 * * * *" in jobs["circle-reconcile"]
    body = next(a for a in jobs["circle-probe"] if a.startswith("--message-body="))
    assert JobRequest.parse(json.loads(body.split("=", 1)[1])).job == "probe"
    import gcp_functions.main

    assert callable(gcp_functions.main.scheduled)
