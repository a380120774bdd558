"""The fan-out choice is the core's (``core.handlers.jobs.scheduled_request``) and every platform's
schedule uses it: a plain ``{"job": "reconcile"}`` from EventBridge Scheduler or Cloud Scheduler fans out
``CIRCLE_FANOUT_RANGES`` (else ``[schedules] fanout_ranges``) ranges through the cloud's queue (moto
SQS, the Pub/Sub stand-in); range messages are never fanned out again."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from core.config import parse_config
from core.handlers.jobs import JobError, JobRequest, fanout_ranges, scheduled_request
from core.runtime import Circle
from tests.adapters.lambda_context import LambdaContext
from tests.e2e.replication_rig import ThreeClouds
from tests.jobs.test_gcp_pubsub_fanout import ROOT, PubSubStandIn, _push, pubsub  # noqa: F401 - fixture
from tests.jobs.test_scheduled_entry_points import _converged, _seed, aws, gcp  # noqa: F401 - fixtures

pytestmark = [pytest.mark.xdist_group("jobs-emulators")]


def _circle(fanout: int | None = None) -> Circle:
    raw: dict[str, Any] = {"stores": {"a": {"url": "memory://choice-a"}}}
    if fanout is not None:
        raw["schedules"] = {"fanout_ranges": fanout}
    return Circle.from_config(parse_config(raw))


def test_the_choice_reads_the_environment_then_the_configuration() -> None:
    plain = JobRequest.parse({"job": "reconcile", "rule": "r", "dry_run": True})
    assert scheduled_request(_circle(), plain, queue=True, environ={}) == plain
    fanned = scheduled_request(_circle(4), plain, queue=True, environ={})
    assert (fanned.job, fanned.ranges, fanned.rule, fanned.dry_run) == ("fanout", 4, "r", True)
    assert scheduled_request(_circle(4), plain, queue=True, environ={"CIRCLE_FANOUT_RANGES": "1"}) == plain
    assert fanout_ranges(_circle(), {"CIRCLE_FANOUT_RANGES": "6"}) == 6
    assert scheduled_request(_circle(4), plain, queue=False, environ={}) == plain  # no queue: one pass, WARNING
    ranged = JobRequest.parse({"job": "reconcile", "range": {"after": None, "until": "m", "name": "r000"}})
    assert scheduled_request(_circle(4), ranged, queue=True, environ={}) == ranged
    probe = JobRequest.parse({"job": "probe"})
    assert scheduled_request(_circle(4), probe, queue=True, environ={}) == probe
    with pytest.raises(JobError, match="CIRCLE_FANOUT_RANGES"):
        fanout_ranges(_circle(), {"CIRCLE_FANOUT_RANGES": "many"})
    with pytest.raises(JobError, match="CIRCLE_FANOUT_RANGES"):
        fanout_ranges(_circle(), {"CIRCLE_FANOUT_RANGES": "0"})


def test_a_lambda_schedule_fans_out_through_moto_sqs(
    aws: ThreeClouds,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aws_lambda.handlers import scheduled

    expected = _seed(aws, 9)
    sqs = aws.boto("sqs")
    url = sqs.create_queue(QueueName=f"circle-jobs-choice-{aws.bucket}")["QueueUrl"]
    monkeypatch.setenv("CIRCLE_JOBS_QUEUE_URL", url)
    monkeypatch.setenv("CIRCLE_FANOUT_RANGES", "3")
    report = scheduled({"job": "reconcile"}, LambdaContext())  # what the EventBridge schedule sends
    assert (report["job"], report["messages"]) == ("fanout", 3)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 3
    records = [{"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in received]
    assert scheduled({"Records": records}, LambdaContext()) == {"batchItemFailures": []}  # ranges: not fanned again
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    _converged(aws, expected)


def test_a_lambda_schedule_without_a_queue_reconciles_in_one_pass(
    aws: ThreeClouds,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aws_lambda.handlers import scheduled

    expected = _seed(aws, 3)
    monkeypatch.delenv("CIRCLE_JOBS_QUEUE_URL", raising=False)
    monkeypatch.setenv("CIRCLE_FANOUT_RANGES", "3")
    report = scheduled({"job": "reconcile"}, LambdaContext())
    assert report["job"] == "reconcile" and report["complete"]
    _converged(aws, expected)


def test_a_cloud_scheduler_message_fans_out_through_the_pubsub_stand_in(
    gcp: ThreeClouds,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    pubsub: PubSubStandIn,  # noqa: F811
) -> None:
    import functions_framework

    from gcp_functions import main

    expected = _seed(gcp, 9)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
    monkeypatch.setenv("CIRCLE_JOBS_TOPIC", "projects/circle-test/topics/circle-jobs")
    monkeypatch.setenv("CIRCLE_FANOUT_RANGES", "3")
    main.reset_runtime()
    app = functions_framework.create_app(
        target="scheduled", source=str(ROOT / "gcp_functions" / "main.py"), signature_type="cloudevent"
    )
    client = app.test_client()
    schedule = base64.b64encode(json.dumps({"job": "reconcile"}).encode()).decode()  # Cloud Scheduler's body
    assert _push(client, {"data": schedule, "messageId": "0"}) == 200
    assert len(pubsub.published) == 3
    bodies = [json.loads(base64.b64decode(m["data"])) for m in pubsub.published]
    assert {b["range"]["name"] for b in bodies} == {"r000", "r001", "r002"}
    for message in list(pubsub.published):
        assert _push(client, message) == 200
    _converged(gcp, expected)
    assert len(pubsub.published) == 3  # the ranges ran; none was fanned out again


def test_an_unfinished_gcp_pass_continues_as_a_range_not_a_new_fanout(
    gcp: ThreeClouds,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    pubsub: PubSubStandIn,  # noqa: F811
) -> None:
    import functions_framework

    from gcp_functions import main

    expected = _seed(gcp, 4)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
    monkeypatch.setenv("CIRCLE_JOBS_TOPIC", "projects/circle-test/topics/circle-jobs")
    monkeypatch.setenv("CIRCLE_TIME_BUDGET_SECONDS", "0")  # nothing starts: the pass continues elsewhere
    main.reset_runtime()
    app = functions_framework.create_app(
        target="scheduled", source=str(ROOT / "gcp_functions" / "main.py"), signature_type="cloudevent"
    )
    client = app.test_client()
    schedule = base64.b64encode(json.dumps({"job": "reconcile"}).encode()).decode()
    assert _push(client, {"data": schedule, "messageId": "0"}) == 200
    [continuation] = pubsub.published
    assert json.loads(base64.b64decode(continuation["data"]))["range"] == {"after": None, "until": None, "name": "all"}
    monkeypatch.setenv("CIRCLE_FANOUT_RANGES", "3")  # fan-out turned on meanwhile: the continuation is a range
    monkeypatch.setenv("CIRCLE_TIME_BUDGET_SECONDS", "600")
    assert _push(client, continuation) == 200
    assert len(pubsub.published) == 1  # no fan-out, no further continuation
    _converged(gcp, expected)
