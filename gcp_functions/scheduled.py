"""Cloud Functions entry point for scheduled jobs (``gcp_functions.main.scheduled``).

Cloud Scheduler publishes a job request (``{"job": "reconcile"}``, ``{"job": "probe"}``,
``{"job": "fanout"}``; core/handlers/jobs.py) to the Pub/Sub topic ``CIRCLE_JOBS_TOPIC``; this
function, subscribed to that topic, runs it. Fan-out publishes one range message per (rule, key range)
to the same topic, so each range runs in its own invocation; a scheduled ``{"job": "reconcile"}`` fans
out by itself when ``CIRCLE_FANOUT_RANGES`` (else ``[schedules] fanout_ranges``) is above 1
(``core.handlers.jobs.scheduled_request``). A range that did not finish is published
again (it continues from its checkpoint) and the message acknowledged; without a topic it raises, and
Pub/Sub's retry policy redelivers it.

The deadline is ``CIRCLE_TIME_BUDGET_SECONDS`` (default 540, the 2nd-gen event function maximum) less
``CIRCLE_TIME_MARGIN_SECONDS``. ``PUBSUB_EMULATOR_HOST`` points publishing at an emulator or stand-in.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

# The job engine (reconciliation, sync, probe and the storage they use) loads with the first scheduled
# invocation, not at import: the cold import stays the platform SDK's (docs/benchmarks.md, cold start).
if TYPE_CHECKING:
    from core.handlers.jobs import JobRequest

log = logging.getLogger("circle.gcp.scheduled")


class PubSubJobQueue:
    """Publishes job messages to a topic through the Pub/Sub REST API (``topics.publish``), batched."""

    def __init__(self, topic: str, session: Any = None) -> None:
        self.topic = topic  # projects/<project>/topics/<name>
        self._session = session

    def _post(self, body: dict[str, Any]) -> None:
        emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
        if self._session is None:
            if emulator:
                import requests

                self._session = requests.Session()
            else:
                import google.auth
                from google.auth.transport.requests import AuthorizedSession

                credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/pubsub"])
                self._session = AuthorizedSession(credentials)
        base = f"http://{emulator}" if emulator else "https://pubsub.googleapis.com"
        answer = self._session.post(f"{base}/v1/{self.topic}:publish", json=body, timeout=30)
        answer.raise_for_status()

    def __call__(self, messages: list[dict[str, Any]]) -> None:
        for i in range(0, len(messages), 100):
            batch = [
                {"data": base64.b64encode(json.dumps(m, sort_keys=True).encode()).decode()}
                for m in messages[i : i + 100]
            ]
            self._post({"messages": batch})

    def __repr__(self) -> str:
        return f"PubSubJobQueue({self.topic!r})"


def _queue() -> PubSubJobQueue | None:
    topic = os.environ.get("CIRCLE_JOBS_TOPIC")
    return PubSubJobQueue(topic) if topic else None


def request_of(data: Any) -> JobRequest:
    """The job request a Pub/Sub push (``message.data``, base64 JSON) or an HTTP body carries."""
    from core.handlers.jobs import JobError, JobRequest

    if isinstance(data, dict) and isinstance(data.get("message"), dict):
        raw = data["message"].get("data")
        if not raw:
            return JobRequest.parse({"job": os.environ.get("CIRCLE_SCHEDULED_JOB", "reconcile")})
        try:
            data = json.loads(base64.b64decode(raw))
        except ValueError as exc:
            raise JobError(f"the Pub/Sub message is not base64 JSON: {exc}") from None
    return JobRequest.parse(data)


def scheduled(cloud_event: Any) -> None:
    """Run the job a Pub/Sub CloudEvent carries, with the invocation's trace and labels on every log
    line; metrics and alerts are flushed once, at the end (gcp_functions/monitoring.py)."""
    from gcp_functions.logging_config import invocation
    from gcp_functions.main import _traceparent

    labels = {"event_id": str(_attribute(cloud_event, "id")), "event_type": str(_attribute(cloud_event, "type"))}
    with invocation(trace=_traceparent(cloud_event), labels=labels):
        _scheduled(cloud_event)


def _attribute(cloud_event: Any, name: str) -> str:
    get = getattr(cloud_event, "get", None)
    value = get(name) if callable(get) else None
    return value if isinstance(value, str) else ""


def _scheduled(cloud_event: Any) -> None:
    from core.handlers.jobs import JobError, run_job, scheduled_request, settle_range
    from core.handlers.reconcile import KeyRange
    from gcp_functions.main import deadline_from, runtime

    started = time.monotonic()
    queue = _queue()
    try:
        request = request_of(cloud_event.data)
        circle = runtime()
        request = scheduled_request(circle, request, queue=queue is not None)
    except JobError as exc:  # can never succeed: acknowledged with one ERROR
        log.error("scheduled job request rejected", extra={"reason": str(exc)})
        return
    try:
        report = run_job(circle, request, deadline=deadline_from(started), send=queue)
    finally:
        circle.monitor.flush()
    log.info("scheduled job done", extra={"job": request.job, "report": report})
    if request.job != "reconcile":
        return
    if report.get("complete") is False:
        if queue is None:
            raise RuntimeError("reconciliation did not finish within the budget: redeliver to continue")
        # a range (the whole key space when none was given), so the continuation is never taken for a
        # schedule's request and fanned out again
        queue([request.as_message(range=(request.key_range or KeyRange()).as_dict())])
    elif request.key_range is not None:  # a finished range with failed keys: dead letters or one more pass
        settle_range(circle, request, report, send=queue)
