"""Azure Functions scheduled jobs, a Blueprint registered in the app of azure_functions/app.py.

- ``reconcile_timer``: timer trigger on ``%CIRCLE_RECONCILE_SCHEDULE%`` (a 6-field NCRONTAB app
  setting, e.g. ``0 */15 * * * *``): reconciliation, or a fan-out when ``CIRCLE_FANOUT_RANGES`` > 1.
- ``probe_timer``: timer trigger on ``%CIRCLE_PROBE_SCHEDULE%``: the health probe.
- ``jobs_queue``: queue trigger on ``%CIRCLE_JOBS_QUEUE%`` (connection ``AzureWebJobsStorage``): one job
  request per message; fan-out writes one range message per (rule, key range) there. A range that did
  not finish raises, so the host redelivers it after the visibility timeout (it continues from its
  checkpoint); after ``maxDequeueCount`` it moves to ``<queue>-poison``.

The deadline is ``CIRCLE_TIME_BUDGET_SECONDS`` (default 300, the Consumption plan's default timeout)
less ``CIRCLE_TIME_MARGIN_SECONDS``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func

# The job engine (reconciliation, sync, probe and the storage they use) loads with the first scheduled
# invocation, not at import: the cold import stays the platform SDK's (docs/benchmarks.md, cold start).
if TYPE_CHECKING:
    from core.handlers.jobs import JobRequest

log = logging.getLogger("circle.azure.scheduled")
bp = func.Blueprint()


class AzureJobQueue:
    """Sends job messages to a Storage queue, base64-encoded as the Functions queue trigger expects."""

    def __init__(self, queue: str, connection_string: str, client: Any = None) -> None:
        self.queue = queue
        self._connection_string = connection_string
        self._client = client

    def __call__(self, messages: list[dict[str, Any]]) -> None:
        if self._client is None:
            from azure.storage.queue import QueueClient

            self._client = QueueClient.from_connection_string(self._connection_string, self.queue)
        for message in messages:
            text = json.dumps(message, sort_keys=True)
            self._client.send_message(base64.b64encode(text.encode()).decode())

    def __repr__(self) -> str:
        return f"AzureJobQueue({self.queue!r})"


def _queue() -> AzureJobQueue | None:
    name, conn = os.environ.get("CIRCLE_JOBS_QUEUE"), os.environ.get("AzureWebJobsStorage")  # noqa: SIM112 - the host's own name
    return AzureJobQueue(name, conn) if name and conn else None


def _deadline() -> Callable[[], float]:
    from azure_functions.app import _seconds

    end = _seconds("CIRCLE_TIME_BUDGET_SECONDS", 300.0) - _seconds("CIRCLE_TIME_MARGIN_SECONDS", 10.0)
    started = time.monotonic()
    return lambda: end - (time.monotonic() - started)


def run(request: JobRequest) -> dict[str, Any]:
    """Run one request on the app's runtime; raise when a reconciliation must continue (redelivery)."""
    from azure_functions.app import runtime
    from core.handlers.jobs import run_job

    circle = runtime()
    try:
        report = run_job(circle, request, deadline=_deadline(), send=_queue())
    finally:
        circle.monitor.flush()  # metrics and alerts once per invocation (azure_functions/monitoring.py)
    log.info("scheduled job done", extra={"job": request.job, "summary": _summary(report)})
    return report


def _summary(report: dict[str, Any]) -> str:
    keys = ("scanned", "copied", "deleted", "skipped", "failed", "complete", "up", "down", "messages")
    return ", ".join(f"{k}={report[k]}" for k in keys if k in report)


def timer_request(job: str) -> JobRequest:
    """The request a timer runs: ``CIRCLE_FANOUT_RANGES`` (else ``[schedules] fanout_ranges``) > 1 turns
    reconciliation into a fan-out (``core.handlers.jobs.scheduled_request``, as on every platform)."""
    from azure_functions.app import runtime
    from core.handlers.jobs import JobRequest, scheduled_request

    return scheduled_request(runtime(), JobRequest.parse({"job": job}), queue=_queue() is not None)


@bp.function_name(name="reconcile_timer")
@bp.timer_trigger(arg_name="timer", schedule="%CIRCLE_RECONCILE_SCHEDULE%", run_on_startup=False)
def reconcile_timer(timer: func.TimerRequest) -> None:
    """Reconciliation (or its fan-out) on schedule; an unfinished pass continues at the next tick."""
    run(timer_request("reconcile"))


@bp.function_name(name="probe_timer")
@bp.timer_trigger(arg_name="timer", schedule="%CIRCLE_PROBE_SCHEDULE%", run_on_startup=False)
def probe_timer(timer: func.TimerRequest) -> None:
    """The health probe on schedule."""
    run(timer_request("probe"))


@bp.function_name(name="jobs_queue")
@bp.queue_trigger(arg_name="msg", queue_name="%CIRCLE_JOBS_QUEUE%", connection="AzureWebJobsStorage")
def jobs_queue(msg: func.QueueMessage) -> None:
    """One job request per message (fan-out ranges); raise to have an unfinished range redelivered."""
    from azure_functions.app import runtime
    from core.handlers.jobs import JobError, JobRequest, settle_range

    try:
        request = JobRequest.parse(json.loads(msg.get_body()))
    except (JobError, ValueError) as exc:  # can never succeed: acknowledged with one ERROR
        log.error("job message rejected", extra={"message_id": msg.id, "reason": str(exc)})
        return
    report = run(request)
    if settle_range(runtime(), request, report, send=_queue()) == "redeliver":
        raise RuntimeError(f"range {request.key_range} not finished: the queue redelivers it to continue")
