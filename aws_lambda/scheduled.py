"""Lambda entry point for scheduled jobs (``aws_lambda.handlers.scheduled``): probes, reconciliation
and fan-out, from EventBridge Scheduler or from the jobs queue.

- EventBridge Scheduler invokes the function with the schedule's ``Input``, a job request
  (``{"job": "reconcile"}``, ``{"job": "probe"}``, ``{"job": "fanout", "ranges": 16}``; see
  core/handlers/jobs.py). A classic EventBridge "Scheduled Event" (no input) runs
  ``CIRCLE_SCHEDULED_JOB`` (default ``reconcile``). A whole-bucket ``reconcile`` becomes a fan-out
  when ``CIRCLE_FANOUT_RANGES`` (else ``[schedules] fanout_ranges``) is above 1
  (``core.handlers.jobs.scheduled_request``, the same choice on every platform).
- Fan-out sends one range message per (rule, key range) to the SQS queue ``CIRCLE_JOBS_QUEUE_URL``;
  the same function, subscribed to that queue, reconciles each range. A range that did not finish
  within this invocation goes back in ``batchItemFailures``: SQS redelivers it after the visibility
  timeout and it continues from its checkpoint. A finished range with failed keys is acknowledged
  (``core.handlers.jobs.settle_range``).

The deadline is ``context.get_remaining_time_in_millis()`` less ``CIRCLE_TIME_MARGIN_SECONDS``.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# The job engine (reconciliation, sync, probe and the storage they use) loads with the first scheduled
# invocation, not at import: the cold import stays the platform SDK's (docs/benchmarks.md, cold start).
if TYPE_CHECKING:
    from core.handlers.jobs import JobRequest

log = logging.getLogger("circle.aws.scheduled")
DEFAULT_MARGIN_SECONDS = 5.0


class SqsJobQueue:
    """Sends job messages to SQS, ten per ``SendMessageBatch`` (the service's batch limit)."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    def __call__(self, messages: list[dict[str, Any]]) -> None:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        for i in range(0, len(messages), 10):
            entries = [
                {"Id": f"m{n}", "MessageBody": json.dumps(m, sort_keys=True)}
                for n, m in enumerate(messages[i : i + 10])
            ]
            answer = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} job message(s): {answer['Failed'][0]}")

    def __repr__(self) -> str:
        return f"SqsJobQueue({self.queue_url!r})"


def _queue() -> SqsJobQueue | None:
    url = os.environ.get("CIRCLE_JOBS_QUEUE_URL")
    return SqsJobQueue(url) if url else None


def _deadline(context: Any) -> Callable[[], float]:
    try:
        margin = max(0.0, float(os.environ.get("CIRCLE_TIME_MARGIN_SECONDS", DEFAULT_MARGIN_SECONDS)))
    except ValueError:
        margin = DEFAULT_MARGIN_SECONDS
    return lambda: context.get_remaining_time_in_millis() / 1000 - margin


def request_of(event: Any) -> JobRequest:
    """The job request an EventBridge Scheduler input or classic scheduled event carries."""
    from core.handlers.jobs import JobRequest

    if isinstance(event, dict) and event.get("detail-type") == "Scheduled Event":
        return JobRequest.parse({"job": os.environ.get("CIRCLE_SCHEDULED_JOB", "reconcile")})
    return JobRequest.parse(event)


def scheduled(event: Any, context: Any) -> dict[str, Any]:
    """Run the scheduled job (or each queued range job) and return its report."""
    from aws_lambda.handlers import runtime
    from core.handlers.jobs import JobError, run_job, scheduled_request

    circle = runtime()
    try:
        deadline = _deadline(context)
        records = event.get("Records") if isinstance(event, dict) else None
        if isinstance(records, list):
            return _range_batch(circle, records, deadline)
        queue = _queue()
        try:
            request = scheduled_request(circle, request_of(event), queue=queue is not None)
        except JobError as exc:
            log.error("scheduled job request rejected", extra={"reason": str(exc)})
            return {"status": "rejected", "reason": str(exc)}
        report = run_job(circle, request, deadline=deadline, send=queue)
        log.info("scheduled job done", extra={"job": request.job, "report": report})
        return report
    finally:
        circle.monitor.flush()  # EMF documents and alert webhooks once per invocation (aws_lambda/monitoring.py)


def _range_batch(circle: Any, records: list[Any], deadline: Callable[[], float]) -> dict[str, Any]:
    """SQS range messages: a malformed one is dropped with an ERROR (it can never succeed); one whose
    pass did not complete is returned for redelivery (it continues from its checkpoint). A completed
    pass is acknowledged even with failed keys (``core.handlers.jobs.settle_range``: dead-lettered, or
    one more pass of the range queued for retryable ones), so a redelivery never restarts a pass."""
    from core.handlers.jobs import JobError, JobRequest, run_job, settle_range

    failures: list[dict[str, str]] = []
    queue = _queue()
    for record in records:
        message_id = str(record.get("messageId", uuid.uuid4()))
        try:
            request = JobRequest.parse(json.loads(record.get("body", "")))
        except (JobError, ValueError) as exc:
            log.error("job message rejected", extra={"message_id": message_id, "reason": str(exc)})
            continue
        report = run_job(circle, request, deadline=deadline, send=queue)
        if settle_range(circle, request, report, send=queue) == "redeliver":
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
