"""Lambda entry points. Thin: parse the platform's input, call the core, map the result.

- ``storage_event``: S3 notifications delivered directly, through SQS (partial batch failures: each
  record succeeds or fails alone, a malformed one included) or through EventBridge.
- ``rotation``: the Secrets Manager four-step rotation contract (aws_lambda/rotation.py).

Failure mapping (``Delivery.status`` from the core, contract C2): SQS records whose delivery says
"retry" go to ``batchItemFailures`` with the reason logged; "ok" and "dead_letter" are acknowledged. A
direct or EventBridge delivery raises (:class:`RetryDelivery`) only for "retry"; Lambda then retries it
and finally hands it to the function's on-failure destination. Dead-letter records go to the SQS queue
``CIRCLE_DLQ_URL`` names (set by template.yaml); without a sink, what failed for good (an unreadable
payload, a permanent or configuration failure) is treated as "retry" so SQS's redrive policy (or
Lambda's) moves it to the queue's DLQ after ``maxReceiveCount`` instead of dropping it.

Time: before each SQS record, the remaining time (``context.get_remaining_time_in_millis()`` minus
``CIRCLE_TIME_MARGIN_SECONDS``, default 5) is checked; a record that would start with no time left is
returned in ``batchItemFailures`` untouched. The same clock is the core's deadline, so within a record a
target is not started unless its object can be copied in the time left (``Circle.time_needed``). An S3
multipart upload that fails is aborted by the provider; one cut off by the Lambda timeout itself is not
(the process is frozen), which is what the targets' ``AbortIncompleteMultipartUpload`` rule is for.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aws_lambda import http as http_entry
from aws_lambda import scheduled as scheduled_entry
from aws_lambda.logging_config import build_logger
from core.handlers.errors import ReplicationFailed

# The runtime, its answer type, the event types and the metrics sink load with the first invocation,
# not at import: the cold import stays the platform SDK's (docs/benchmarks.md, cold start).
if TYPE_CHECKING:
    from core.handlers.results import EventResult
    from core.runtime import Circle, Delivery

__all__ = ["RetryDelivery", "SqsDeadLetter", "http", "rotation", "scheduled", "storage_event"]

logger = build_logger()  # Powertools: the invocation's keys (cold start, request and correlation ids)
log = logging.getLogger("circle.aws")  # the adapter's own lines, through the same handler

Deadline = Callable[[], float]
DEFAULT_MARGIN_SECONDS = 5.0


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


_runtime: Circle | None = None


def runtime() -> Circle:
    """The runtime, built once per container at the first invocation (the cold start), with one log line.
    With ``CIRCLE_DLQ_URL`` set (template.yaml does) dead-letter records go to that SQS queue."""
    global _runtime
    if _runtime is None:
        started = time.perf_counter()
        dlq = os.environ.get("CIRCLE_DLQ_URL") or None
        from aws_lambda.monitoring import EmfSink
        from core.runtime import Circle

        built = Circle.from_env(dead_letter=SqsDeadLetter(dlq) if dlq else None, sink=EmfSink())
        log.info(
            "cold start: runtime ready",
            extra={"init_ms": round((time.perf_counter() - started) * 1000, 1), "dead_letter_queue": dlq},
        )
        _runtime = built
    return _runtime


def reset_runtime() -> None:
    """Forget the cached runtime (tests, or after a configuration change)."""
    global _runtime
    _runtime = None


def _deliver(payload: Any, deadline: Deadline) -> Delivery:
    """One delivery through the core; never raises."""
    from core.runtime import Delivery

    try:
        circle = runtime()
    except Exception as exc:  # a configuration that does not load: retry, the platform's DLQ keeps it
        return Delivery("retry", [], f"runtime not built: {type(exc).__name__}: {exc}")
    try:
        return circle.handle_delivery(payload, deadline=deadline)
    except Exception as exc:  # a programming error: this record alone fails
        log.exception("delivery raised")
        return Delivery("retry", [], f"{type(exc).__name__}: {exc}")


def _left_to_platform(delivery: Delivery) -> bool:
    """What failed for good (an unreadable payload, a permanent or configuration failure) and no
    dead-letter sink took: the SQS redrive policy (or Lambda's on-failure destination) must keep it."""
    return delivery.status == "dead_letter" and not delivery.dead_lettered


def _why(delivery: Delivery) -> str:
    if _left_to_platform(delivery):
        return f"{delivery.reason} (no dead-letter sink took it: left to Lambda's retry and dead-letter policy)"
    return delivery.reason or "not done"


def _deadline(context: LambdaContext) -> Deadline:
    """Seconds this invocation may still spend before it must answer."""
    margin = _margin()
    deadline: Deadline = lambda: context.get_remaining_time_in_millis() / 1000 - margin  # noqa: E731
    timeout = os.environ.get("CIRCLE_TIME_BUDGET_SECONDS")  # the function's Timeout, when the template says it
    try:
        budget = float(timeout) if timeout else None
    except ValueError:
        budget = None
    from core.runtime import with_budget

    return with_budget(deadline, budget - margin) if budget is not None and budget > margin else deadline


def _margin() -> float:
    try:
        return max(0.0, float(os.environ.get("CIRCLE_TIME_MARGIN_SECONDS", DEFAULT_MARGIN_SECONDS)))
    except ValueError:
        return DEFAULT_MARGIN_SECONDS


def _flush_metrics() -> None:
    """EMF documents and alert webhooks, once per invocation (aws_lambda/monitoring.py); never raises."""
    if _runtime is not None:
        _runtime.monitor.flush()


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
            log.error("SQS record without messageId acknowledged", extra={"record_index": index})
            continue
        logger.set_correlation_id(message_id)
        left = deadline()
        if left <= 0:
            failures.append({"itemIdentifier": message_id})
            log.warning(
                "SQS record returned untouched: no time left",
                extra={"message_id": message_id, "reason": f"{left + _margin():.1f}s left, margin {_margin():.1f}s"},
            )
            continue
        delivery = _deliver(record.get("body"), deadline)
        if delivery.status == "retry" or _left_to_platform(delivery):
            failures.append({"itemIdentifier": message_id})
            log.warning("SQS record to batchItemFailures", extra={"message_id": message_id, "reason": _why(delivery)})
        elif delivery.status == "dead_letter":
            log.error(
                "SQS record dead-lettered and acknowledged", extra={"message_id": message_id, "reason": delivery.reason}
            )
    logger.set_correlation_id(None)
    log.info("SQS batch done", extra={"records": len(records), "failed": len(failures)})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context(clear_state=False)
def storage_event(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Replicate the objects named by a storage event. SQS batches answer ``batchItemFailures``;
    a direct or EventBridge delivery raises only when it should be retried."""
    try:
        return _storage_event(event, context)
    finally:
        _flush_metrics()


def _storage_event(event: Any, context: LambdaContext) -> dict[str, Any]:
    if _is_sqs_batch(event):
        return _sqs_batch(event["Records"], context)
    event_id = event.get("id") if isinstance(event, dict) else None
    logger.set_correlation_id(event_id if isinstance(event_id, str) else context.aws_request_id)
    delivery = _deliver(event, _deadline(context))
    if delivery.status == "retry" or _left_to_platform(delivery):
        log.error("delivery not done, Lambda retries it", extra={"reason": _why(delivery)})
        raise RetryDelivery(_why(delivery), delivery.results)
    if delivery.status == "dead_letter":
        log.error("delivery dead-lettered and acknowledged", extra={"reason": delivery.reason})
    return {"events": [r.as_dict() for r in delivery.results]}


def rotation(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Secrets Manager rotation contract (aws_lambda/rotation.py), imported on first call so the
    storage-event function's cold start does not pay for the rotation engine."""
    from aws_lambda.rotation import rotation as rotate

    return rotate(event, context)


def http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """template.yaml's ``HttpApiFunction``: one HTTP request through the core API (aws_lambda/http.py)."""
    return http_entry.http(event, context)


def scheduled(event: Any, context: Any) -> dict[str, Any]:
    """template.yaml's ``ScheduledFunction``: a scheduled or queued job (aws_lambda/scheduled.py)."""
    return scheduled_entry.scheduled(event, context)
