"""Lambda entry points. Thin: parse the platform's input, call the core, map the result.

- ``storage_event``: S3 notifications delivered directly, through SQS (partial batch failures: each
  record succeeds or fails alone, a malformed one included) or through EventBridge.
- ``rotation``: the Secrets Manager four-step rotation contract (aws_lambda/rotation.py).

Failure mapping (the delivery's status comes from the core): SQS records whose delivery says "retry"
go to ``batchItemFailures`` with the reason logged; "ok" and "dead_letter" are acknowledged. A direct or
EventBridge delivery raises only for "retry" (Lambda then retries and, at the end, uses its own DLQ).

Time: before each SQS record the remaining time (``context.get_remaining_time_in_millis()`` minus
``CIRCLE_TIME_MARGIN_SECONDS``, default 10) is checked; records that would start with no time left are
returned as ``batchItemFailures`` untouched. The same clock is handed to the core as the deadline.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from aws_lambda.logging_config import build_logger
from core.events import EventError
from core.handlers.storage_events import (
    EventResult,
    ReplicationFailed,
    StorageEventHandler,
    default_handler,
    reset_default_handler,
)

__all__ = ["RetryDelivery", "SqsDeadLetter", "rotation", "storage_event"]

logger = build_logger()
metrics = Metrics(namespace="CircleCore", service="circle-core")

Status = Literal["ok", "retry", "dead_letter"]
Deadline = Callable[[], float]
DEFAULT_MARGIN_SECONDS = 10.0


@dataclass
class _Delivery:
    status: Status
    reason: str = ""
    results: list[EventResult] = field(default_factory=list)


class RetryDelivery(ReplicationFailed):
    """Raised for a direct or EventBridge delivery that should be retried; the message is the reason."""

    def __init__(self, reason: str, results: list[EventResult]) -> None:
        Exception.__init__(self, reason)
        self.results = results


class SqsDeadLetter:
    """Dead-letter sink: one SQS message per dead-lettered event, on the queue ``CIRCLE_DLQ_URL`` names."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    def write(self, record: dict[str, Any]) -> None:
        if self._client is None:
            import boto3  # the adapter's own SDK, loaded when the first record is dead-lettered

            self._client = boto3.client("sqs")
        self._client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(record, default=str))

    def __repr__(self) -> str:
        return f"SqsDeadLetter({self.queue_url!r})"


_runtime: StorageEventHandler | None = None


def runtime() -> StorageEventHandler:
    """The runtime, built once per container at the first invocation (the cold start), with one log line."""
    global _runtime
    if _runtime is None:
        started = time.perf_counter()
        built = default_handler()
        dlq = os.environ.get("CIRCLE_DLQ_URL") or None
        logger.info(
            "cold start: runtime ready",
            extra={"init_ms": round((time.perf_counter() - started) * 1000, 1), "dead_letter_queue": dlq},
        )
        _runtime = built
    return _runtime


def reset_runtime() -> None:
    """Forget the cached runtime (tests, or after a configuration change)."""
    global _runtime
    _runtime = None
    reset_default_handler()


def _deliver(payload: Any, deadline: Deadline) -> _Delivery:
    """One delivery through the core; never raises."""
    try:
        handler = runtime()
    except Exception as exc:  # a configuration that does not load: retry, the platform's DLQ keeps it
        return _Delivery("retry", f"runtime not built: {type(exc).__name__}: {exc}")
    try:
        results = handler.handle_payload(payload)
    except EventError as exc:
        return _Delivery("retry", f"unreadable event: {exc}")
    except Exception as exc:
        logger.exception("delivery raised")
        return _Delivery("retry", f"{type(exc).__name__}: {exc}")
    if all(r.ok for r in results):
        return _Delivery("ok", "", results)
    return _Delivery("retry", str(ReplicationFailed(results)), results)


def _deadline(context: LambdaContext) -> Deadline:
    """Seconds this invocation may still spend before it must answer."""
    margin = _margin()
    return lambda: context.get_remaining_time_in_millis() / 1000 - margin


def _margin() -> float:
    try:
        return max(0.0, float(os.environ.get("CIRCLE_TIME_MARGIN_SECONDS", DEFAULT_MARGIN_SECONDS)))
    except ValueError:
        return DEFAULT_MARGIN_SECONDS


def _record_metrics(results: list[EventResult]) -> None:
    for result in results:
        for outcome in result.outcomes:
            metrics.add_metric(name=f"Replication_{outcome.action}", unit=MetricUnit.Count, value=1)


def _is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and any(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)


def _sqs_batch(records: list[Any], context: LambdaContext) -> dict[str, Any]:
    """Each record alone: a bad one never fails the batch, and none starts without time to finish."""
    deadline = _deadline(context)
    failures: list[dict[str, str]] = []
    for index, record in enumerate(records):
        message_id = record.get("messageId") if isinstance(record, dict) else None
        if not isinstance(message_id, str) or not message_id:
            # Lambda fails the whole batch for an itemIdentifier it cannot match; SQS never sends this.
            logger.error("SQS record without messageId acknowledged", extra={"record_index": index})
            continue
        logger.set_correlation_id(message_id)
        left = deadline()
        if left <= 0:
            failures.append({"itemIdentifier": message_id})
            logger.warning(
                "SQS record returned untouched: no time left",
                extra={"message_id": message_id, "reason": f"{left + _margin():.1f}s left, margin {_margin():.1f}s"},
            )
            continue
        delivery = _deliver(record.get("body"), deadline)
        _record_metrics(delivery.results)
        if delivery.status == "retry":
            failures.append({"itemIdentifier": message_id})
            logger.warning(
                "SQS record to batchItemFailures", extra={"message_id": message_id, "reason": delivery.reason}
            )
        elif delivery.status == "dead_letter":
            logger.error("SQS record dead-lettered", extra={"message_id": message_id, "reason": delivery.reason})
    logger.set_correlation_id(None)
    logger.info("SQS batch done", extra={"records": len(records), "failed": len(failures)})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context(clear_state=False)
@metrics.log_metrics
def storage_event(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Replicate the objects named by a storage event. SQS batches answer ``batchItemFailures``;
    a direct or EventBridge delivery raises only when it should be retried."""
    if _is_sqs_batch(event):
        return _sqs_batch(event["Records"], context)
    event_id = event.get("id") if isinstance(event, dict) else None
    logger.set_correlation_id(event_id if isinstance(event_id, str) else context.aws_request_id)
    delivery = _deliver(event, _deadline(context))
    _record_metrics(delivery.results)
    if delivery.status == "retry":
        logger.error("delivery failed, Lambda retries it", extra={"reason": delivery.reason})
        raise RetryDelivery(delivery.reason, delivery.results)
    if delivery.status == "dead_letter":
        logger.error("delivery dead-lettered", extra={"reason": delivery.reason})
    return {"events": [r.as_dict() for r in delivery.results]}


def rotation(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Secrets Manager rotation contract (aws_lambda/rotation.py), imported on first call so the
    storage-event function's cold start does not pay for the rotation engine."""
    from aws_lambda.rotation import rotation as rotate

    return rotate(event, context)
