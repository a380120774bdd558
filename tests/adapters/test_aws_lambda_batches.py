"""The Lambda adapter's SQS path and its log output: each record alone (malformed ones included), the
remaining-time guard, the SQS dead-letter sink, and the Powertools JSON lines as Lambda prints them
(captured from stdout). Source on moto, target in memory."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws_lambda import handlers
from core.storage import open_store
from tests.adapters.lambda_context import LambdaContext

DATA = Path(__file__).resolve().parent.parent / "events" / "data"
CREDS: dict[str, Any] = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

pytestmark = pytest.mark.usefixtures("aws_logging")


@pytest.fixture
def setup(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    bucket = f"lambda-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=emulators.s3_endpoint, **CREDS).create_bucket(Bucket=bucket)
    target = f"memory://lambda-{uuid.uuid4().hex[:10]}"
    (tmp_path / "circle.toml").write_text(
        f'[stores.src]\nurl = "s3://{bucket}"\nendpoint_url = "{emulators.s3_endpoint}"\nregion = "us-east-1"\n'
        'access_key_id = "testing"\nsecret_access_key = "testing"\n'
        f'[stores.dst]\nurl = "{target}"\n[[replication]]\nsource = "src"\ntargets = ["dst"]\n'
    )
    monkeypatch.setenv("CIRCLE_CONFIG", str(tmp_path / "circle.toml"))
    monkeypatch.delenv("CIRCLE_ENV", raising=False)
    monkeypatch.delenv("CIRCLE_DLQ_URL", raising=False)
    source = open_store(
        f"s3://{bucket}",
        endpoint_url=emulators.s3_endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )
    return {"bucket": bucket, "source": source, "target": open_store(target)}


def _s3_body(bucket: str, key: str, size: int | None = None) -> str:
    event = json.loads((DATA / "powertools_s3Event.json").read_text())
    if size is not None:
        event["Records"][0]["s3"]["object"]["size"] = size
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    event["Records"][0]["s3"]["object"]["key"] = key
    return json.dumps(event)


def _sqs(message_id: str, body: Any) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "handle-" + message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:circle-events",
        "awsRegion": "us-east-1",
    }


def _lines(out: str) -> list[dict[str, Any]]:
    """The JSON log lines Lambda would ship to CloudWatch (EMF metric blobs excluded)."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" not in line]


def _failed_ids(answer: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def test_one_successful_event_prints_cold_start_and_outcome_lines(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    setup["source"].put("logs/one.txt", b"one")
    capsys.readouterr()
    answer = handlers.storage_event(
        {"Records": [_sqs("m-1", _s3_body(setup["bucket"], "logs/one.txt"))]}, LambdaContext()
    )
    assert answer == {"batchItemFailures": []}
    assert setup["target"].get("logs/one.txt").read() == b"one"
    lines = _lines(capsys.readouterr().out)
    cold = [line for line in lines if line["message"] == "cold start: runtime ready"]
    assert len(cold) == 1 and cold[0]["level"] == "INFO" and "init_ms" in cold[0]
    outcomes = [line for line in lines if line.get("name") == "circle.replication" and "outcomes" in line]
    assert len(outcomes) == 1, lines
    outcome = outcomes[0]
    assert outcome["level"] == "INFO"
    assert outcome["correlation_id"] == "m-1"
    assert outcome["function_request_id"] == LambdaContext.aws_request_id
    assert "cold_start" in outcome
    assert "copied" in json.dumps(outcome)


def test_malformed_sqs_records_fail_alone(setup: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    setup["source"].put("ok/good.txt", b"good")
    records: list[Any] = [
        _sqs("not-json", "{this is not json"),
        _sqs("array", "[1, 2, 3]"),
        _sqs("good", _s3_body(setup["bucket"], "ok/good.txt")),
        _sqs("no-body", None),
        None,  # no messageId: cannot be named in batchItemFailures, so it is acknowledged and logged
        "a string record",
    ]
    answer = handlers.storage_event({"Records": records}, LambdaContext())
    # Unreadable records never block the batch: with no dead-letter sink they go back to SQS alone.
    assert set(_failed_ids(answer)) <= {"not-json", "array", "no-body"}
    assert "good" not in _failed_ids(answer)
    assert setup["target"].get("ok/good.txt").read() == b"good"
    lines = _lines(capsys.readouterr().out)
    for message_id in _failed_ids(answer):
        [why] = [line for line in lines if line.get("message_id") == message_id and "reason" in line]
        assert why["message"] == "SQS record to batchItemFailures" and why["reason"]
    assert len([line for line in lines if line["message"] == "SQS record without messageId acknowledged"]) == 2


@pytest.mark.parametrize("event", [{"Records": [None]}, [1, 2], {"Records": "x"}, "not an event", None])
def test_a_malformed_direct_event_never_raises_anything_but_a_retry(event: Any, setup: dict[str, Any]) -> None:
    try:
        handlers.storage_event(event, LambdaContext())
    except handlers.RetryDelivery as exc:
        assert str(exc)  # the reason, for Lambda's error report


def test_records_without_time_left_go_back_untouched(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIRCLE_TIME_MARGIN_SECONDS", "10")
    keys = [f"late/{i}.bin" for i in range(3)]
    for key in keys:
        setup["source"].put(key, key.encode())
    # Copying the first object uses the time up: 60 s left before it lands, 9 s after (below the margin).
    context = LambdaContext(remaining=lambda: 9_000 if setup["target"].exists(keys[0]) else 60_000)
    records = [_sqs(f"r{i}", _s3_body(setup["bucket"], key)) for i, key in enumerate(keys)]
    answer = handlers.storage_event({"Records": records}, context)
    assert _failed_ids(answer) == ["r1", "r2"]
    assert setup["target"].get(keys[0]).read() == keys[0].encode()
    assert not setup["target"].exists(keys[1]) and not setup["target"].exists(keys[2])
    lines = _lines(capsys.readouterr().out)
    untouched = [line for line in lines if line["message"] == "SQS record returned untouched: no time left"]
    assert [line["message_id"] for line in untouched] == ["r1", "r2"]
    assert "margin 10.0s" in untouched[0]["reason"]


def test_a_tiny_remaining_time_starts_nothing(setup: dict[str, Any]) -> None:
    setup["source"].put("tiny/a", b"a")
    answer = handlers.storage_event(
        {"Records": [_sqs("only", _s3_body(setup["bucket"], "tiny/a"))]}, LambdaContext(remaining=lambda: 500)
    )
    assert _failed_ids(answer) == ["only"]
    assert not setup["target"].exists("tiny/a")


def test_the_sqs_dead_letter_sink_sends_one_message_per_record(emulators: Any) -> None:
    sqs = boto3.client("sqs", endpoint_url=emulators.s3_endpoint, **CREDS)
    url = sqs.create_queue(QueueName=f"circle-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sink = handlers.SqsDeadLetter(url, client=sqs)
    sink.write({"event_id": "e-1", "reason": "permanent: unreadable event", "payload": {"Records": [None]}})
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    assert json.loads(message["Body"]) == {
        "event_id": "e-1",
        "reason": "permanent: unreadable event",
        "payload": {"Records": [None]},
    }
    assert url in repr(sink)


def test_a_record_too_large_for_the_time_left_is_not_started(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter's check passes (7 s left after the margin); the core's per-target estimate (5 s plus
    the object's size at 16 MiB/s: 69 s for 1 GiB) does not, so nothing is started."""
    monkeypatch.setenv("CIRCLE_TIME_MARGIN_SECONDS", "5")
    setup["source"].put("big/object.bin", b"small body, large announced size")
    body = _s3_body(setup["bucket"], "big/object.bin", size=1 << 30)
    answer = handlers.storage_event({"Records": [_sqs("big", body)]}, LambdaContext(remaining=lambda: 12_000))
    assert _failed_ids(answer) == ["big"]
    assert not setup["target"].exists("big/object.bin")
    [why] = [line for line in _lines(capsys.readouterr().out) if line.get("message_id") == "big" and "reason" in line]
    assert "not started" in why["reason"] and "needed" in why["reason"]


def test_a_record_larger_than_the_configured_timeout_allows_starts_when_the_invocation_is_fresh(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the function's timeout given (12 s, 7 s after the margin), a 1 GiB object (69 s) can never
    fit: it starts in a fresh invocation, with a WARNING, rather than being deferred forever."""
    monkeypatch.setenv("CIRCLE_TIME_MARGIN_SECONDS", "5")
    monkeypatch.setenv("CIRCLE_TIME_BUDGET_SECONDS", "12")
    setup["source"].put("big/object.bin", b"small body, large announced size")
    body = _s3_body(setup["bucket"], "big/object.bin", size=1 << 30)
    answer = handlers.storage_event({"Records": [_sqs("big", body)]}, LambdaContext(remaining=lambda: 12_000))
    assert _failed_ids(answer) == []
    assert setup["target"].get("big/object.bin").read() == b"small body, large announced size"  # type: ignore[union-attr]
    lines = _lines(capsys.readouterr().out)
    assert any(line["level"] == "WARNING" and "raise the function timeout" in line["message"] for line in lines)


@pytest.fixture
def dlq(emulators: Any, emulator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """An SQS queue on moto named by CIRCLE_DLQ_URL, as template.yaml sets it."""
    sqs = boto3.client("sqs", endpoint_url=emulators.s3_endpoint, **CREDS)
    url = sqs.create_queue(QueueName=f"circle-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("CIRCLE_DLQ_URL", url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return sqs, url


def _dead_letters(dlq: tuple[Any, str]) -> list[dict[str, Any]]:
    sqs, url = dlq
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def test_with_a_dlq_unreadable_records_are_dead_lettered_and_acknowledged(
    setup: dict[str, Any], dlq: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    setup["source"].put("ok/fine.txt", b"fine")
    records = [_sqs("poison", "[1, 2, 3]"), _sqs("fine", _s3_body(setup["bucket"], "ok/fine.txt"))]
    answer = handlers.storage_event({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    assert setup["target"].get("ok/fine.txt").read() == b"fine"
    [record] = _dead_letters(dlq)
    assert record["failure"] == "permanent" and "unreadable" in record["reason"]
    lines = _lines(capsys.readouterr().out)
    [ack] = [line for line in lines if line.get("message_id") == "poison"]
    assert ack["message"] == "SQS record dead-lettered and acknowledged" and "unreadable" in ack["reason"]
    [cold] = [line for line in lines if line["message"] == "cold start: runtime ready"]
    assert cold["dead_letter_queue"] == dlq[1]


def _missing_target(emulators: Any, setup: dict[str, Any], tmp_path: Path) -> str:
    config = tmp_path / "circle.toml"
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    config.write_text(
        config.read_text().replace(
            f'[stores.dst]\nurl = "{setup["target"].url}"',
            f'[stores.dst]\nurl = "s3://{missing}"\nendpoint_url = "{emulators.s3_endpoint}"\n'
            'region = "us-east-1"\naccess_key_id = "testing"\nsecret_access_key = "testing"',
        )
    )
    assert missing in config.read_text()
    return missing


def test_with_a_dlq_a_missing_target_bucket_is_dead_lettered_not_retried(
    emulators: Any, setup: dict[str, Any], dlq: tuple[Any, str], tmp_path: Path
) -> None:
    missing = _missing_target(emulators, setup, tmp_path)
    setup["source"].put("cfg/x.txt", b"x")
    answer = handlers.storage_event({"Records": [_sqs("cfg", _s3_body(setup["bucket"], "cfg/x.txt"))]}, LambdaContext())
    assert answer == {"batchItemFailures": []}  # configuration failure: acknowledged, not retried
    [record] = _dead_letters(dlq)
    assert record["failure"] == "configuration" and missing in record["reason"]


def test_without_a_dlq_a_missing_target_bucket_goes_to_the_queues_own_dlq(
    emulators: Any, setup: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No ``CIRCLE_DLQ_URL``: the record goes back to SQS alone (``batchItemFailures``), and the queue's
    redrive policy moves it to its DLQ after ``maxReceiveCount``; a direct invoke raises, for Lambda's
    on-failure destination. Either way one ERROR line carries the dead-letter record."""
    missing = _missing_target(emulators, setup, tmp_path)
    setup["source"].put("cfg/y.txt", b"y")
    records = [_sqs("cfg", _s3_body(setup["bucket"], "cfg/y.txt")), _sqs("poison", "[1]")]
    answer = handlers.storage_event({"Records": records}, LambdaContext())
    assert _failed_ids(answer) == ["cfg", "poison"]  # an unreadable record the same way
    lines = _lines(capsys.readouterr().out)
    [back] = [line for line in lines if line.get("message_id") == "cfg" and line["message"].startswith("SQS record")]
    assert back["message"] == "SQS record to batchItemFailures" and f"target bucket {missing}" in back["reason"]
    [error] = [line for line in lines if line["level"] == "ERROR" and "record" in line]
    assert error["record"]["failure"] == "configuration" and error["correlation_id"] == "cfg"
    with pytest.raises(handlers.RetryDelivery, match=f"target bucket {missing} does not exist"):
        handlers.storage_event(json.loads(_s3_body(setup["bucket"], "cfg/y.txt")), LambdaContext())
