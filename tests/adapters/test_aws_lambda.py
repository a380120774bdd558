"""The Lambda adapter with the real S3 and EventBridge samples (direct and EventBridge deliveries;
the SQS path runs end to end in tests/e2e), an S3 source on moto and an in-memory target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws_lambda import handlers
from core.handlers.storage_events import ReplicationFailed, reset_default_handler
from core.storage import open_store
from tests.adapters.lambda_context import LambdaContext

DATA = Path(__file__).resolve().parent.parent / "events" / "data"


def _configure(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: str) -> str:
    boto3.client(
        "s3",
        endpoint_url=emulators.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    target = f"memory://lambda-{tmp_path.name}"
    (tmp_path / "circle.toml").write_text(
        f'[stores.src]\nurl = "s3://{bucket}"\nendpoint_url = "{emulators.s3_endpoint}"\nregion = "us-east-1"\n'
        'access_key_id = "testing"\nsecret_access_key = "testing"\n'
        f'[stores.dst]\nurl = "{target}"\n[[replication]]\nsource = "src"\ntargets = ["dst"]\n'
    )
    monkeypatch.setenv("CIRCLE_CONFIG", str(tmp_path / "circle.toml"))
    reset_default_handler()
    return target


def _source(emulators: Any, bucket: str) -> Any:
    return open_store(
        f"s3://{bucket}",
        endpoint_url=emulators.s3_endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )


@pytest.mark.parametrize(
    ("sample", "bucket", "key"),
    [
        ("powertools_s3Event.json", "lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b"),
        ("powertools_s3EventBridgeNotificationObjectCreatedEvent.json", "example-bucket", "IMG_m7fzo3.jpg"),
    ],
)
def test_direct_and_eventbridge_deliveries_replicate(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample: str, bucket: str, key: str
) -> None:
    target = _configure(emulators, tmp_path, monkeypatch, bucket)
    _source(emulators, bucket).put(key, b"payload of " + key.encode(), content_type="image/jpeg")
    answer = handlers.storage_event(json.loads((DATA / sample).read_text()), LambdaContext())
    [event] = answer["events"]
    assert (event["bucket"], event["key"], event["ok"]) == (bucket, key, True)
    assert [o["action"] for o in event["outcomes"]] == ["copied"]
    assert open_store(target).get(key).read() == b"payload of " + key.encode()


def test_a_direct_delivery_that_fails_raises_for_lambda_to_retry(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = "lambda-artifacts-deafc19498e3f2df"
    _configure(emulators, tmp_path, monkeypatch, bucket)
    broken = (tmp_path / "circle.toml").read_text().replace(emulators.s3_endpoint, "http://127.0.0.1:9")
    (tmp_path / "circle.toml").write_text(broken + "[stores.src.retry]\nmax_attempts = 1\n")
    reset_default_handler()
    with pytest.raises(ReplicationFailed, match="TransientError"):
        handlers.storage_event(json.loads((DATA / "powertools_s3Event.json").read_text()), LambdaContext())


def test_a_test_event_is_acknowledged_with_nothing_done(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(emulators, tmp_path, monkeypatch, "test-event-bucket")
    answer = handlers.storage_event(json.loads((DATA / "awsdocs_s3_TestEvent.json").read_text()), LambdaContext())
    assert answer == {"events": []}
