"""A range message whose pass finished with failed keys is acknowledged, never redelivered (a redelivery
of a finished range would start a whole new pass, up to the queue's maxReceiveCount): permanent and
configuration failures are dead-lettered at once; retryable ones get one more pass of the range (a new
message with ``attempt`` 1) and are dead-lettered after it. Lambda on moto SQS, with the Azurite target
behind a fault proxy that refuses the writes of chosen keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.config import parse_config
from core.handlers.jobs import JobRequest, settle_range
from core.runtime import Circle
from scripts.emulators import Emulators
from tests.adapters.lambda_context import LambdaContext
from tests.fakes.fault_proxy import FaultProxy, status
from tests.jobs.support import bucket_name, contents, store_table

pytestmark = [pytest.mark.xdist_group("jobs-emulators")]
RANGE = {"after": None, "until": None, "name": "r000"}


@pytest.fixture
def rig(emulators: Emulators, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from aws_lambda import handlers
    from aws_lambda.monitoring import EmfSink

    bucket = bucket_name("settle")
    emulators.create_buckets(bucket)
    proxy = FaultProxy(emulators.azure_endpoint)
    stores = store_table(emulators, bucket, {"az": proxy.url})
    stores["az"]["retry"] = {"max_attempts": 1}  # a refused write fails at once (no backoff in the test)
    config = parse_config(
        {
            "stores": stores,
            "replication": [{"name": "main", "source": "s3", "targets": ["az", "gs"]}],
            "dead_letter": {"store": "gs", "prefix": "dead-letter/"},
        }
    )
    for k, v in emulators.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    sqs = Circle.from_config(config).store("s3")  # seed through the runtime's own store
    for name in ("ok-1", "ok-2", "denied", "flaky"):
        sqs.put(f"{name}.txt", name.encode())
    import boto3

    client = boto3.client(
        "sqs",
        endpoint_url=emulators.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = client.create_queue(QueueName=f"circle-jobs-{bucket}")["QueueUrl"]
    monkeypatch.setenv("CIRCLE_JOBS_QUEUE_URL", url)
    monkeypatch.setenv("CIRCLE_TIME_MARGIN_SECONDS", "0")
    handlers.reset_runtime()
    handlers._runtime = Circle.from_config(config, sink=EmfSink())
    try:
        yield {"proxy": proxy, "sqs": client, "url": url, "circle": handlers._runtime}
    finally:
        handlers.reset_runtime()
        proxy.close()


def _records(rig: dict[str, Any]) -> list[dict[str, Any]]:
    answer = rig["sqs"].receive_message(QueueUrl=rig["url"], MaxNumberOfMessages=10, WaitTimeSeconds=0)
    out = []
    for m in answer.get("Messages", []):
        rig["sqs"].delete_message(QueueUrl=rig["url"], ReceiptHandle=m["ReceiptHandle"])
        out.append({"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"})
    return out


def _dead_letters(circle: Circle) -> dict[str, Any]:
    store = circle.store("gs")
    out = {}
    for info in store.list("dead-letter/"):
        with store.get(info.key) as reader:
            out[info.key] = json.loads(reader.read())
    return out


def test_failed_keys_are_retried_once_then_dead_lettered_and_the_message_is_acknowledged(
    rig: dict[str, Any],
) -> None:
    from aws_lambda.handlers import scheduled

    proxy: FaultProxy = rig["proxy"]
    proxy.inject(status(403, "AuthorizationFailure"), times=None, method="PUT", path_contains="denied")
    proxy.inject(status(503, "ServerBusy"), times=None, method="PUT", path_contains="flaky")
    body = json.dumps({"job": "reconcile", "range": RANGE})

    answer = scheduled({"Records": [{"messageId": "m1", "body": body, "eventSource": "aws:sqs"}]}, LambdaContext())

    assert answer == {"batchItemFailures": []}  # the pass finished: acknowledged, not redelivered
    [follow_up] = _records(rig)
    assert json.loads(follow_up["body"])["attempt"] == 1 and json.loads(follow_up["body"])["range"] == RANGE
    [first] = _dead_letters(rig["circle"]).values()  # the permanent failure, at once
    assert first["failed_by_class"] == {"configuration": 1}
    assert [(f["key"], f["target"]) for f in first["failures"]] == [("denied.txt", "az")]

    assert scheduled({"Records": [follow_up]}, LambdaContext()) == {"batchItemFailures": []}
    assert _records(rig) == []  # retried once: no third pass
    [final] = _dead_letters(rig["circle"]).values()  # the same record, overwritten by the last pass
    assert final["failed_by_class"] == {"configuration": 1, "retryable": 1}
    assert sorted(f["key"] for f in final["failures"]) == ["denied.txt", "flaky.txt"]
    assert "after 2 pass(es)" in final["reason"] and final["job"]["attempt"] == 1
    circle = rig["circle"]
    assert sorted(contents(circle.store("gs"), "")) == sorted(
        ["ok-1.txt", "ok-2.txt", "denied.txt", "flaky.txt", *_dead_letters(circle)]
    )
    assert sorted(contents(circle.store("az"))) == ["ok-1.txt", "ok-2.txt"]


def test_an_unfinished_pass_is_redelivered_and_a_clean_one_acknowledged() -> None:
    circle = Circle.from_config(parse_config({"stores": {"a": {"url": "memory://settle-a"}}}))
    request = JobRequest.parse({"job": "reconcile", "range": RANGE})
    sent: list[list[dict[str, Any]]] = []
    assert settle_range(circle, request, {"complete": False, "failed": 3}, send=sent.append) == "redeliver"
    assert settle_range(circle, request, {"complete": True, "failed": 0}, send=sent.append) == "done"
    only_permanent = {
        "complete": True,
        "failed": 1,
        "rules": [{"rule": "main", "range": "r000", "failed": 1, "failed_by_class": {"permanent": 1}, "failures": []}],
    }
    assert settle_range(circle, request, only_permanent, send=sent.append) == "done"
    assert sent == []  # nothing to retry
    retryable = {**only_permanent, "rules": [{**only_permanent["rules"][0], "failed_by_class": {"retryable": 1}}]}
    assert settle_range(circle, request, retryable, send=None) == "done"  # no queue: dead-lettered at once
    assert sent == []
