"""functions-framework targets. Thin: turn the CloudEvent into a dict, call the core, map the result.

Answers (Eventarc, deployed with ``--retry``, redelivers on any non-2xx for up to 24 h):
- "ok" and "dead_letter" return normally: 2xx, so a poison event is not redelivered. Dead-letter records
  go to the store ``[dead_letter]`` names in circle.toml; an event that can never succeed (unreadable,
  or a permanent or configuration failure such as a missing target bucket) with no sink configured is
  acknowledged all the same, with ERROR lines carrying the reason and the record (Eventarc has no
  poison queue of its own: a 500 would mean 24 hours of redeliveries, then a silent drop).
- "retry" raises :class:`RetryDelivery`, an HTTP 500 that Flask answers without a traceback; the reason
  is logged once, as one ERROR line.

Time: Cloud Run functions stop an event-driven invocation after 540 s (the maximum timeout); the core
gets a deadline of ``CIRCLE_TIME_BUDGET_SECONDS`` (default 540, set it to the deployed ``--timeout``)
minus ``CIRCLE_TIME_MARGIN_SECONDS`` (default 10) from the start of the invocation, and answers "retry"
for what it could not start in time.

Logs: one Cloud Logging JSON line per record on stdout (gcp_functions/logging_config.py), configured at
import because functions-framework configures none.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import InternalServerError

from gcp_functions.http import http  # the HTTP API target (http area)
from gcp_functions.logging_config import configure, invocation
from gcp_functions.scheduled import scheduled  # jobs: scheduled entry point (gcp_functions/scheduled.py)

# The runtime, its answer type and the event types load with the first invocation, not at import: the
# cold import stays the platform SDK's (docs/benchmarks.md, cold start).
if TYPE_CHECKING:
    from core.runtime import Circle, Delivery

__all__ = ["RetryDelivery", "http", "scheduled", "secret_rotation", "storage_event"]

configure()
log = logging.getLogger("circle.gcp")

Deadline = Callable[[], float]
DEFAULT_BUDGET_SECONDS = 540.0
DEFAULT_MARGIN_SECONDS = 10.0


class RetryDelivery(InternalServerError):
    """HTTP 500 for an event that should be redelivered; the description is the reason."""


_runtime: Circle | None = None


def runtime() -> Circle:
    """The runtime, built once per instance at the first event (the cold start), with one log line."""
    global _runtime
    if _runtime is None:
        started = time.perf_counter()
        from core.runtime import Circle
        from gcp_functions.monitoring import GcpSink

        built = Circle.from_env(sink=GcpSink())
        log.info("cold start: runtime ready", extra={"init_ms": round((time.perf_counter() - started) * 1000, 1)})
        _runtime = built
    return _runtime


def reset_runtime() -> None:
    """Forget the cached runtime (tests, or after a configuration change)."""
    global _runtime
    _runtime = None


def _seconds(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


def deadline_from(started: float) -> Deadline:
    """Seconds left in the configured budget, counted from ``started`` (a ``time.monotonic()`` value)."""
    budget = _seconds("CIRCLE_TIME_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS) - _seconds(
        "CIRCLE_TIME_MARGIN_SECONDS", DEFAULT_MARGIN_SECONDS
    )
    from core.runtime import with_budget

    return with_budget(lambda: budget - (time.monotonic() - started), budget)


def _deliver(payload: Any, deadline: Deadline) -> Delivery:
    """One delivery through the core; never raises."""
    from core.runtime import Delivery

    try:
        circle = runtime()
    except Exception as exc:  # a configuration that does not load: retry, a redeploy may fix it
        return Delivery("retry", [], f"runtime not built: {type(exc).__name__}: {exc}")
    if deadline() <= 0:
        return Delivery("retry", [], "no time left in the budget to start")
    try:
        return circle.handle_delivery(payload, deadline=deadline)
    except Exception as exc:  # a programming error: answer retry, with the reason logged
        log.exception("delivery raised")
        return Delivery("retry", [], f"{type(exc).__name__}: {exc}")


def cloud_event_dict(event: CloudEvent) -> dict[str, Any]:
    """The structured-mode form of a CloudEvent (attributes plus ``data``), which core.events reads."""
    payload: dict[str, Any] = dict(event.get_attributes())
    payload["data"] = event.get_data()
    return payload


def _traceparent(event: CloudEvent) -> str | None:
    """The trace: the CloudEvent's distributed-tracing extension, else the request's headers."""
    value = event.get("traceparent")
    if isinstance(value, str) and value:
        return value
    import flask  # functions-framework's own web layer, already loaded

    if flask.has_request_context():
        headers = flask.request.headers
        return headers.get("traceparent") or headers.get("X-Cloud-Trace-Context")
    return None


@functions_framework.cloud_event
def storage_event(cloud_event: CloudEvent) -> None:
    """``google.cloud.storage.object.v1.*`` events: replicate per the configured rules."""
    started = time.monotonic()
    labels = {"event_id": str(cloud_event.get("id") or ""), "event_type": str(cloud_event.get("type") or "")}
    with invocation(trace=_traceparent(cloud_event), labels=labels):
        try:
            delivery = _deliver(cloud_event_dict(cloud_event), deadline_from(started))
        finally:
            if _runtime is not None:
                _runtime.monitor.flush()  # metrics and alerts once per invocation (gcp_functions/monitoring.py)
        if delivery.status == "retry":
            log.error("event not done, Eventarc redelivers it", extra={"reason": delivery.reason})
            raise RetryDelivery(description=delivery.reason)
        if delivery.status == "dead_letter":
            kept = delivery.dead_lettered
            message = (
                "event dead-lettered and acknowledged"
                if kept
                else "unreadable event acknowledged, not kept"
                if not delivery.results
                else "event failed for good, acknowledged, not kept (no dead-letter sink; the record is in the log)"
            )
            log.error(message, extra={"reason": delivery.reason, "dead_lettered": kept})


@functions_framework.cloud_event
def secret_rotation(cloud_event: CloudEvent) -> None:
    """Secret Manager ``SECRET_ROTATE`` messages (gcp_functions/rotation.py), imported on first call so
    the storage-event function's cold start does not pay for the rotation engine."""
    from gcp_functions import rotation

    rotation.secret_rotation(cloud_event)
