"""The scheduled entry points of each adapter, invoked as the platform would, against the emulators:
Lambda with an EventBridge Scheduler input, the classic scheduled event and SQS range messages (moto SQS);
the Azure timer and jobs-queue functions loaded by the worker's indexer, with range messages on a real
Azurite queue; the GCP function with Pub/Sub CloudEvents. Reconciliation runs as several short
invocations and converges."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from tests.adapters.lambda_context import LambdaContext
from tests.e2e import replication_rig
from tests.e2e.replication_rig import ThreeClouds
from tests.e2e.test_azure_queue import queue_endpoint  # noqa: F401 - fixture: Azurite's queue service
from tests.jobs.support import contents

pytestmark = [pytest.mark.xdist_group("jobs-emulators")]
EVENTS = Path(__file__).resolve().parents[1] / "events" / "data"


def _seed(clouds: ThreeClouds, n: int = 7) -> dict[str, bytes]:
    for i in range(n):
        clouds.source.put(f"data/{i:02d}.bin", f"payload {i}".encode())
    clouds.source.put("outside/ignored.txt", b"not under the rule's prefix")
    return {f"replica/data/{i:02d}.bin": f"payload {i}".encode() for i in range(n)}


def _converged(clouds: ThreeClouds, expected: dict[str, bytes]) -> None:
    for target in clouds.targets().values():
        assert contents(target) == expected


class CallBudget:
    """A Lambda clock with ``calls`` answers of plenty of time, then none (a tiny budget, deterministic)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def __call__(self) -> int:
        self.calls -= 1
        return 900_000 if self.calls >= 0 else 0


@pytest.fixture
def aws(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ThreeClouds:
    from aws_lambda import handlers

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="s3")
    for k, v in emulators.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CIRCLE_TIME_MARGIN_SECONDS", "0")
    handlers.reset_runtime()
    yield clouds
    handlers.reset_runtime()


def test_lambda_scheduler_input_reconciles_in_short_invocations(aws: ThreeClouds) -> None:
    from aws_lambda.handlers import scheduled

    expected = _seed(aws)
    reports = []
    for _ in range(10):
        report = scheduled({"job": "reconcile"}, LambdaContext(remaining=CallBudget(3)))
        reports.append(report)
        if report["complete"]:
            break
    assert len(reports) == 3  # 7 keys under data/, 3 per invocation (outside/ is not scanned as a key)
    assert sum(r["copied"] for r in reports) == 14 and sum(r["failed"] for r in reports) == 0
    assert reports[-1]["rules"][0]["pass_counts"]["copied"] == 14
    _converged(aws, expected)


def test_lambda_classic_scheduled_event_runs_the_configured_job(
    aws: ThreeClouds, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda.handlers import scheduled

    monkeypatch.setenv("CIRCLE_SCHEDULED_JOB", "probe")
    event = json.loads((EVENTS / "rust_example-eventbridge-schedule.json").read_text())
    report = scheduled(event, LambdaContext())
    assert report["job"] == "probe" and (report["up"], report["down"]) == (3, 0)
    assert scheduled({"job": "nonsense"}, LambdaContext())["status"] == "rejected"


def test_lambda_fanout_through_moto_sqs(aws: ThreeClouds, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda.handlers import scheduled

    expected = _seed(aws, 9)
    sqs = aws.boto("sqs")
    url = sqs.create_queue(QueueName=f"circle-jobs-{aws.bucket}")["QueueUrl"]
    monkeypatch.setenv("CIRCLE_JOBS_QUEUE_URL", url)
    sent = scheduled({"job": "fanout", "ranges": 3}, LambdaContext())
    assert sent["messages"] == 3
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 3
    records = [{"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in received]
    bodies = [json.loads(m["Body"]) for m in received]
    assert {b["range"]["name"] for b in bodies} == {"r000", "r001", "r002"}
    answer = scheduled({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    _converged(aws, expected)
    keys = sorted(o.key for o in aws.s3.list(".circle/checkpoints/"))
    assert len(keys) == 3  # one checkpoint per range


def test_lambda_unfinished_range_is_returned_for_redelivery(aws: ThreeClouds) -> None:
    from aws_lambda.handlers import scheduled

    _seed(aws, 4)
    body = json.dumps({"job": "reconcile", "range": {"after": None, "until": None, "name": "r000"}})
    answer = scheduled(
        {"Records": [{"messageId": "m1", "body": body}, {"messageId": "bad", "body": "{"}]},
        LambdaContext(remaining=CallBudget(2)),
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}  # the malformed one is dropped


@pytest.fixture
def gcp(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ThreeClouds:
    from gcp_functions import main

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="gs")
    monkeypatch.setenv("CIRCLE_TIME_MARGIN_SECONDS", "0")
    monkeypatch.delenv("CIRCLE_JOBS_TOPIC", raising=False)
    main.reset_runtime()
    yield clouds
    main.reset_runtime()


def _pubsub_event(request: dict[str, Any]) -> CloudEvent:
    data = {"message": {"data": base64.b64encode(json.dumps(request).encode()).decode(), "messageId": "1"}}
    attributes = {
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/circle-test/topics/circle-jobs",
    }
    return CloudEvent(attributes, data)


def test_gcp_pubsub_job_reconciles_and_an_unfinished_pass_is_redelivered(
    gcp: ThreeClouds, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gcp_functions.main import scheduled

    expected = _seed(gcp)
    monkeypatch.setenv("CIRCLE_TIME_BUDGET_SECONDS", "0")
    with pytest.raises(RuntimeError, match="redeliver"):
        scheduled(_pubsub_event({"job": "reconcile"}))
    monkeypatch.setenv("CIRCLE_TIME_BUDGET_SECONDS", "600")
    scheduled(_pubsub_event({"job": "reconcile"}))
    _converged(gcp, expected)
    scheduled(_pubsub_event({"job": "bogus"}))  # rejected and acknowledged: no exception


@pytest.mark.skipif(sys.version_info < (3, 13), reason="azure-functions-runtime needs 3.13")
def test_azure_timer_fans_out_to_the_jobs_queue_and_queue_messages_converge(
    emulators: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    queue_endpoint: str,  # noqa: F811
) -> None:
    import azure.functions as func
    from azure.functions import meta
    from azure.functions.queue import QueueMessageInConverter
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    from azure_functions import app as azure_app
    from scripts.emulators import AZURITE_ACCOUNT, AZURITE_KEY
    from tests.e2e.test_azure_functions_indexer import _indexed

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="az")
    expected = _seed(clouds, 6)
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"QueueEndpoint={queue_endpoint}/{AZURITE_ACCOUNT};"
    )
    name = f"circle-jobs-{clouds.bucket}"[:63]
    queue = QueueClient.from_connection_string(conn, name, message_decode_policy=TextBase64DecodePolicy())
    queue.create_queue()
    monkeypatch.setenv("AzureWebJobsStorage", conn)
    monkeypatch.setenv("CIRCLE_JOBS_QUEUE", name)
    monkeypatch.setenv("CIRCLE_FANOUT_RANGES", "2")
    azure_app.reset_runtime()
    indexed = _indexed()
    timer_fn, timer_info = indexed["reconcile_timer"]
    [binding] = [b for b in timer_fn.get_bindings() if b.name == "timer"]
    assert binding.get_dict_repr()["schedule"] == "%CIRCLE_RECONCILE_SCHEDULE%"
    assert "probe_timer" in indexed
    timer_info.func(func.TimerRequest(past_due=False))
    messages = list(queue.receive_messages(max_messages=10, visibility_timeout=300))
    assert len(messages) == 2
    _, queue_info = indexed["jobs_queue"]
    for message in messages:
        metadata = {
            "Id": meta.Datum(message.id, "string"),
            "DequeueCount": meta.Datum(message.dequeue_count, "int"),
        }
        msg = QueueMessageInConverter.decode(meta.Datum(message.content, "string"), trigger_metadata=metadata)
        queue_info.func(msg)
        queue.delete_message(message)
    _converged(clouds, expected)
    azure_app.reset_runtime()
