"""Seeded fuzzing of each adapter's entry point with the mutated vendor payloads of tests/events/test_fuzz.py
(a smaller count than the parser fuzz: every delivery here builds logs and metrics too). Each entry point
may answer only in its platform's documented terms:

- Lambda ``storage_event`` (with a context): returns, or raises ``RetryDelivery``; an SQS batch never
  raises and names in ``batchItemFailures`` only the record that failed;
- GCP ``storage_event`` (a functions-framework CloudEvent): returns, or raises ``RetryDelivery`` (500);
- Azure ``storage_queue`` and ``storage_event``: return, or raise ``RetryDelivery``; ``storage_webhook``
  always answers 200, 400 or 500;
- ``Circle.handle_delivery``, the core entry every adapter calls: never raises.

The configuration names only ``memory://`` stores, so no event needs an emulator.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.lambda_context import LambdaContext
from tests.events.test_fuzz import SEED, cases, dumps, payloads

PER_PAYLOAD = 30  # x 80 payloads, for each entry point
BUDGET_S = 60.0  # a bound, not a target (measured: 1-4 s per entry point); hitting it fails the test


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


def _body(payload: Any) -> str | bytes:
    return payload if isinstance(payload, str | bytes) else dumps(payload)


def _fuzz(
    seed_offset: int,
    deliver: Callable[[Any, dict[str, Any]], str],
    allowed: tuple[type[BaseException], ...],
    *,
    varied: bool = True,
) -> None:
    """Deliver every mutated case; ``deliver`` answers a label of what happened, and may raise only
    ``allowed``. Anything else (or an answer ``deliver`` itself rejects) is collected and reported."""
    outcomes: Counter[str] = Counter()
    findings: list[str] = []
    started, done = time.monotonic(), 0
    for name, n, payload, headers in cases(PER_PAYLOAD, seed=SEED + seed_offset):
        label = f"#{n} of {name} (seed {SEED + seed_offset})"
        try:
            outcomes[deliver(payload, headers)] += 1
        except allowed as exc:
            outcomes[type(exc).__name__] += 1
        except Exception as exc:  # the point of the test
            findings.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
        done += 1
        if time.monotonic() - started > BUDGET_S:
            break
    print(f"\nadapter fuzz: {done} deliveries in {time.monotonic() - started:.1f} s; outcomes {dict(outcomes)}")
    assert findings == [], f"{len(findings)} undocumented failures:\n" + "\n".join(findings[:10])
    assert done == PER_PAYLOAD * len(payloads()), f"only {done} deliveries in {BUDGET_S} s"
    assert len(outcomes) > 1 or not varied  # the mutations both keep and break deliveries


def test_the_core_entry_every_adapter_calls_never_raises() -> None:
    from core.runtime import Circle

    circle = Circle.from_env()

    def deliver(payload: Any, headers: dict[str, Any]) -> str:
        return circle.handle_delivery(payload, deadline=lambda: 60.0).status

    _fuzz(0, deliver, ())


def test_lambda_storage_event_raises_only_its_retry_and_isolates_each_sqs_record() -> None:
    from aws_lambda import handlers

    good = {"messageId": "good", "body": json.dumps({"Records": []}), "eventSource": "aws:sqs"}

    def deliver(payload: Any, headers: dict[str, Any]) -> str:
        record = {"messageId": "bad", "body": _body(payload), "eventSource": "aws:sqs"}
        answer = handlers.storage_event({"Records": [record, good]}, LambdaContext())
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        if not failed <= {"bad"}:
            raise AssertionError(f"the good record failed with the bad one: {answer}")
        handlers.storage_event(payload, LambdaContext())  # direct: returns, or raises RetryDelivery
        return "sqs failed" if failed else "sqs ok"

    _fuzz(1, deliver, (handlers.RetryDelivery,))


def _cloud_events(payload: Any, headers: dict[str, Any]) -> Iterator[Any]:
    """What functions-framework would hand the function: a CloudEvent from the fuzzed headers (as
    attributes) and data. Attributes it rejects never reach the function (it answers 400 itself)."""
    from cloudevents.http import CloudEvent

    attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce-") and isinstance(v, str) and v}
    attributes.setdefault("source", "//storage.googleapis.com/projects/_/buckets/x")
    attributes.setdefault("type", "google.cloud.storage.object.v1.finalized")
    try:
        yield CloudEvent(attributes, payload)
    except (ValueError, TypeError, AttributeError):  # the SDK's own refusal, before the function runs
        return


def test_gcp_storage_event_raises_only_its_retry() -> None:
    from gcp_functions import main

    def deliver(payload: Any, headers: dict[str, Any]) -> str:
        for event in _cloud_events(payload, headers):
            main.storage_event(event)
            return "acknowledged"
        return "refused by the SDK"

    _fuzz(2, deliver, (main.RetryDelivery,), varied=False)  # memory stores: nothing to retry, all acknowledged


def test_azure_entry_points_raise_only_their_retry_and_the_webhook_answers_a_status() -> None:
    import datetime as dt

    import azure.functions as func

    from azure_functions import app

    def field(payload: Any, name: str) -> str:
        """The trigger's string fields, as the worker's converter gives them."""
        value = payload.get(name) if isinstance(payload, dict) else None
        return value if isinstance(value, str) else ""

    def deliver(payload: Any, headers: dict[str, Any]) -> str:
        body = _body(payload)
        raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")  # what the host reads
        with contextlib.suppress(app.RetryDelivery):
            app.storage_queue(func.QueueMessage(id="m", body=raw))
        event = func.EventGridEvent(
            id="fuzz",
            data=payload.get("data") if isinstance(payload, dict) else payload,
            topic=field(payload, "topic"),
            subject=field(payload, "subject"),
            event_type=field(payload, "eventType"),
            event_time=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
            data_version="",
        )
        with contextlib.suppress(app.RetryDelivery):
            app.storage_event(event)
        request = func.HttpRequest(
            method="POST", url="https://circle.example/api/events", headers={"aeg-event-type": "Notification"}, body=raw
        )
        response = app.storage_webhook(request)
        if response.status_code not in (200, 400, 500):
            raise AssertionError(f"the webhook answered {response.status_code}")
        return f"webhook {response.status_code}"

    _fuzz(3, deliver, ())
