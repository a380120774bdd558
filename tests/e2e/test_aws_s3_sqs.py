"""AWS end to end: moto's S3 notifies a real SQS queue, the real batch goes through the Lambda
adapter, and the objects appear in Azurite and fake-gcs-server with matching bytes."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aws_lambda import handlers
from tests.adapters.lambda_context import LambdaContext
from tests.e2e import replication_rig
from tests.e2e.replication_rig import ThreeClouds

pytestmark = pytest.mark.usefixtures("aws_logging")


@pytest.fixture
def clouds(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ThreeClouds:
    return replication_rig.build(emulators, tmp_path, monkeypatch)


def _queue_for(clouds: ThreeClouds) -> str:
    sqs = clouds.boto("sqs")
    url = sqs.create_queue(QueueName=f"{clouds.bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clouds.boto("s3").put_bucket_notification_configuration(
        Bucket=clouds.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
        },
    )
    return str(url)


def _drain(clouds: ThreeClouds, url: str) -> list[dict[str, Any]]:
    """Receive every message on the queue as Lambda's SQS event records."""
    sqs, records = clouds.boto("sqs"), []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not got:
            return records
        for m in got:
            records.append(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{clouds.bucket}-events",
                    "awsRegion": "us-east-1",
                }
            )
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _log_lines(out: str) -> list[dict[str, Any]]:
    """The adapter's Powertools JSON lines, as Lambda prints them to stdout (what CloudWatch stores)."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _storage_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if "s3:TestEvent" not in r["body"]]


def test_s3_notifications_through_sqs_replicate_to_azure_and_gcs(clouds: ThreeClouds) -> None:
    url = _queue_for(clouds)
    payloads = {"data/a.txt": b"alpha", "data/dir/b c+d.bin": bytes(range(256)) * 100, "other/skip.txt": b"x"}
    for key, body in payloads.items():
        clouds.source.put(key, body, content_type="application/x-test", metadata={"team": "e2e"})
    records = _storage_records(_drain(clouds, url))
    assert len(records) == 3
    response = handlers.storage_event({"Records": records}, LambdaContext())
    assert response == {"batchItemFailures": []}
    for target in clouds.targets().values():
        for key in ("data/a.txt", "data/dir/b c+d.bin"):
            with target.get(f"replica/{key}") as reader:
                assert reader.read() == payloads[key]
                assert reader.info.content_type == "application/x-test"
                assert reader.info.metadata["team"] == "e2e"
        assert not target.exists("replica/other/skip.txt")  # outside the rule's prefix


def test_a_poison_message_fails_alone(clouds: ThreeClouds) -> None:
    url = _queue_for(clouds)
    clouds.source.put("data/good.txt", b"good")
    records = _storage_records(_drain(clouds, url))
    poison = dict(records[0], messageId="poison-1", body='{"Records": [{"eventSource": "aws:s3"}]}')
    response = handlers.storage_event({"Records": [poison, *records]}, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert clouds.az.get("replica/data/good.txt").read() == b"good"


def test_duplicates_and_disorder_converge_with_one_copy_per_version(
    clouds: ThreeClouds, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _queue_for(clouds)
    rng = random.Random(7)
    keys = [f"data/k{i}" for i in range(4)]
    rounds: list[dict[str, bytes | None]] = [
        {k: f"{k} v1".encode() for k in keys},
        {keys[0]: None, keys[1]: b"k1 v2", keys[2]: None},
        {keys[0]: b"k0 v3 re-created", keys[2]: b"k2 v3 re-created", keys[3]: b"k3 v3"},
    ]
    versions_written = 0
    for changes in rounds:
        for key, body in changes.items():
            if body is None:
                clouds.source.delete(key)
            else:
                clouds.source.put(key, body)
                versions_written += 1
        records = _storage_records(_drain(clouds, url))
        delivery = records + [dict(r, messageId=r["messageId"] + "-again") for r in records]
        rng.shuffle(delivery)
        assert handlers.storage_event({"Records": delivery}, LambdaContext()) == {"batchItemFailures": []}
    source = {o.key: clouds.source.get(o.key).read() for o in clouds.source.list("data/")}  # type: ignore[union-attr]
    for target in clouds.targets().values():
        replica = {
            o.key.removeprefix("replica/"): target.get(o.key).read()  # type: ignore[union-attr]
            for o in target.list("replica/")
        }
        assert replica == source
    actions = Counter(
        o["action"]
        for line in _log_lines(capsys.readouterr().out)
        if line.get("name") == "circle.replication" and "outcomes" in line
        for o in line["outcomes"]
    )
    assert actions["copied"] == versions_written * len(clouds.targets())
    assert actions["deleted"] == 2 * len(clouds.targets())
    assert actions["failed"] == 0
