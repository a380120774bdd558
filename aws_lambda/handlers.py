"""Lambda entry points. Thin: parse the platform's input, call the core, map the result.

- ``storage_event``: S3 notifications delivered directly, through SQS (partial batch failures, so one
  bad message is retried or dead-lettered alone) or through EventBridge.
- ``rotation``: the Secrets Manager four-step rotation contract (aws_lambda/rotation.py).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from core.handlers.storage_events import EventResult, default_handler, handle_or_raise

__all__ = ["rotation", "storage_event"]

logger = Logger(service="circle-core")
metrics = Metrics(namespace="CircleCore", service="circle-core")
_sqs = BatchProcessor(event_type=EventType.SQS)


def _record(results: list[EventResult]) -> None:
    for result in results:
        for outcome in result.outcomes:
            metrics.add_metric(name=f"Replication_{outcome.action}", unit=MetricUnit.Count, value=1)


def _handle_sqs_record(record: SQSRecord) -> None:
    logger.set_correlation_id(record.message_id)
    _record(handle_or_raise(default_handler(), record.body))


def _is_sqs_batch(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:sqs"


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def storage_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Replicate the objects named by a storage event. SQS batches answer ``batchItemFailures``;
    a direct or EventBridge delivery raises on failure so Lambda retries it and then dead-letters it."""
    if _is_sqs_batch(event):
        return dict(
            process_partial_response(event=event, record_handler=_handle_sqs_record, processor=_sqs, context=context)
        )
    logger.set_correlation_id(event.get("id") or context.aws_request_id)
    results = handle_or_raise(default_handler(), event)
    _record(results)
    return {"events": [r.as_dict() for r in results]}


def rotation(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Secrets Manager rotation contract (aws_lambda/rotation.py), imported on first call so the
    storage-event function's cold start does not pay for the rotation engine."""
    from aws_lambda.rotation import rotation as rotate

    return rotate(event, context)
