"""Whatever arrives, each adapter answers in its platform's terms and raises nothing else: every recorded
payload in tests/events/data and a set of malformed ones, delivered directly, as SQS records (each alone
in a batch with a good record), as CloudEvents and as queue messages. The configuration names only
``memory://`` stores, so no event needs an emulator."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.lambda_context import LambdaContext

DATA = Path(__file__).resolve().parent.parent / "events" / "data"
SAMPLES = sorted(DATA.glob("*.json"))
MALFORMED: list[Any] = [
    {"Records": [None]},
    {"Records": "x"},
    {"Records": [{"eventSource": "aws:s3"}]},
    [1, 2, 3],
    [],
    {},
    "not json",
    b"\xff\xfe",
    None,
    42,
    {"Type": [], "TopicArn": "arn"},
    {"context": {"eventType": {}}, "data": {}},
    json.loads("[" * 2000 + "]" * 2000),
]


def _payloads() -> list[Any]:
    return [json.loads(p.read_text()) for p in SAMPLES] + MALFORMED


@pytest.fixture(autouse=True)
def _memory_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = uuid.uuid4().hex[:8]
    (tmp_path / "circle.toml").write_text(
        f'[stores.a]\nurl = "memory://a-{name}"\n[stores.b]\nurl = "memory://b-{name}"\n'
        '[[replication]]\nsource = "a"\ntargets = ["b"]\n'
    )
    monkeypatch.setenv("CIRCLE_CONFIG", str(tmp_path / "circle.toml"))
    monkeypatch.delenv("CIRCLE_ENV", raising=False)
    monkeypatch.delenv("CIRCLE_DLQ_URL", raising=False)


def test_lambda_raises_only_its_retry_and_isolates_each_sqs_record() -> None:
    from aws_lambda import handlers

    good = {"messageId": "good", "body": json.dumps({"Records": []}), "eventSource": "aws:sqs"}
    for payload in _payloads():
        with contextlib.suppress(handlers.RetryDelivery):
            handlers.storage_event(payload, LambdaContext())
        body = payload if isinstance(payload, str) else json.dumps(payload, default=repr)
        record = {"messageId": "bad", "body": body, "eventSource": "aws:sqs"}
        answer = handlers.storage_event({"Records": [record, good]}, LambdaContext())
        assert {f["itemIdentifier"] for f in answer["batchItemFailures"]} <= {"bad"}, payload


def test_gcp_raises_only_its_retry() -> None:
    from cloudevents.http import CloudEvent

    from gcp_functions import main

    for payload in _payloads():
        event = CloudEvent(
            {"type": "google.cloud.storage.object.v1.finalized", "source": "//storage.googleapis.com/x"}, payload
        )
        with contextlib.suppress(main.RetryDelivery):
            main.storage_event(event)


def test_azure_queue_raises_only_its_retry() -> None:
    import azure.functions as func

    from azure_functions import app

    for payload in _payloads():
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        with contextlib.suppress(app.RetryDelivery):
            app.storage_queue(func.QueueMessage(id="m", body=body))
