"""The Azure Functions app. Thin: turn trigger input into the Event Grid-schema dict core.events reads,
call the core, map the result to the trigger's answer.

Functions and what they answer:
- ``storage_queue`` (the deployed path): Blob events that an Event Grid subscription with a Storage
  queue destination writes to ``%CIRCLE_EVENTS_QUEUE%`` (connection ``AzureWebJobsStorage``), one Event
  Grid-schema JSON event per message. Returning acknowledges the message; raising (only for "retry")
  makes the host put it back after the visibility timeout, and after ``maxDequeueCount`` (host.json)
  move it to ``<queue>-poison``. A message that can never succeed (unreadable, or a permanent or
  configuration failure) is dead-lettered by the core (the ``[dead_letter]`` store) and acknowledged,
  or, with no sink configured, raised so that it lands in the poison queue after ``maxDequeueCount``
  attempts instead of being dropped.
- ``storage_event`` (Event Grid trigger, small objects only): kept for subscriptions that filter on
  ``data.contentLength``, because Event Grid waits about 30 s for the answer and then redelivers: a long
  copy would run twice (harmless for convergence, wasteful, and the redelivery schedule is Event Grid's,
  not ours). The queue path has no such race: the message stays invisible for the visibility timeout and
  the function runs up to ``functionTimeout``. Its deadline is ``CIRCLE_EVENT_GRID_BUDGET_SECONDS``
  (default 25). An event that can never succeed (unreadable, or a permanent or configuration failure)
  with no dead-letter sink is acknowledged with one ERROR line (raising would only buy 24 hours of
  Event Grid redeliveries).
- ``storage_webhook``: Event Grid webhook deliveries (either schema) and their handshakes. 2xx for done
  or dead-lettered, 500 only for retry; a body that cannot be read at all, or a delivery that failed for
  good with no dead-letter sink, answers 400, which Event Grid never retries (it dead-letters the
  event to the subscription's dead-letter destination, or drops it).

Logs: the worker forwards records from the root logger to the host (category ``Function.<name>.User``);
the ``circle`` logger is set to INFO here (``CIRCLE_LOG_LEVEL``), so host.json must let Information
through for ``Function`` (the deploy helper's ``logging.logLevel``). The host forwards the message text
only, while every ``circle`` line is a constant message with its values in ``extra``: inside the worker
(``FUNCTIONS_WORKER_RUNTIME`` set), :class:`HostLines` renders those fields after the message
(``message key=value ...``) and hands the line to the worker's handlers.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func

from azure_functions.http import bp as http_bp  # the HTTP API catch-all (http area)
from azure_functions.rotation import bp as rotation_bp
from azure_functions.scheduled import bp as scheduled_bp  # jobs: timers and the jobs queue
from core.handlers.errors import ReplicationFailed
from core.handlers.http_events import handle_http_event

# The runtime, its answer type and the event types load with the first invocation, not at import: the
# cold import stays the platform SDK's (docs/benchmarks.md, cold start).
if TYPE_CHECKING:
    from core.handlers.results import EventResult
    from core.runtime import Circle, Delivery

__all__ = ["RetryDelivery", "app", "event_grid_dict"]


#: what every LogRecord carries; anything else on a record came through ``extra=``
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def host_text(record: logging.LogRecord) -> str:
    """The record's message followed by its ``extra`` fields as ``key=value`` (``custom_dimensions``,
    the metric lines' copy of their top-level fields, left out)."""
    fields = " ".join(
        f"{key}={value}"
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key != "custom_dimensions"
    )
    return f"{record.getMessage()} {fields}" if fields else record.getMessage()


class HostLines(logging.Handler):
    """On the ``circle`` logger (which then stops propagating): each record goes on to the root logger's
    handlers (the worker's, which forward the message text to the host) with :func:`host_text` as its
    message, so the fields reach the Function's log stream; the ``extra`` attributes stay on the record
    for an OpenTelemetry handler (``customDimensions``)."""

    def emit(self, record: logging.LogRecord) -> None:
        line = logging.makeLogRecord({**record.__dict__, "msg": host_text(record), "args": None})
        for handler in logging.getLogger().handlers:
            if line.levelno >= handler.level:
                handler.handle(line)


def _configure_logging() -> logging.Logger:
    name = os.environ.get("CIRCLE_LOG_LEVEL", "").strip().upper() or "INFO"
    level = logging.getLevelName("WARNING" if name == "WARN" else name)
    core = logging.getLogger("circle")
    core.setLevel(level if isinstance(level, int) else logging.INFO)
    if os.environ.get("FUNCTIONS_WORKER_RUNTIME") and not any(isinstance(h, HostLines) for h in core.handlers):
        core.addHandler(HostLines())
        core.propagate = False
    return logging.getLogger("circle.azure")


log = _configure_logging()
app = func.FunctionApp()
app.register_functions(rotation_bp)
app.register_functions(http_bp)  # the HTTP API (http area)
app.register_functions(scheduled_bp)  # jobs: timers and the jobs queue (azure_functions/scheduled.py)

Deadline = Callable[[], float]


class RetryDelivery(ReplicationFailed):
    """Raised only for a delivery that should be retried; the message is the reason."""

    def __init__(self, reason: str, results: list[EventResult]) -> None:
        Exception.__init__(self, reason)
        self.results = results


_runtime: Circle | None = None


def runtime() -> Circle:
    """The runtime, built once per worker at the first invocation (the cold start), with one log line."""
    global _runtime
    if _runtime is None:
        started = time.perf_counter()
        from azure_functions.monitoring import AzureSink
        from core.runtime import Circle

        built = Circle.from_env(sink=AzureSink())
        init_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("cold start: runtime ready", extra={"init_ms": init_ms})
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


def _deadline(budget: float, margin: float, *, oversize: bool = False) -> Deadline:
    """Seconds left from now until ``budget - margin`` has passed. ``oversize``: tell the core the
    invocation's budget, so an object larger than any invocation allows starts when one is fresh."""
    started, end = time.monotonic(), budget - margin
    deadline: Deadline = lambda: end - (time.monotonic() - started)  # noqa: E731
    from core.runtime import with_budget

    return with_budget(deadline, end) if oversize else deadline


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
    finally:
        circle.monitor.flush()  # metrics and alerts once per invocation (azure_functions/monitoring.py)


def _answer(delivery: Delivery, what: str, retry_by: str, *, platform_keeps_unreadable: bool) -> None:
    """Log a failure once with its reason; raise only for retry. What failed for good (an unreadable
    payload, a permanent or configuration failure) and no sink took is raised too when the platform has
    a cheap poison path (the queue's), else acknowledged."""
    kept = delivery.dead_lettered
    if delivery.status == "retry" or (delivery.status == "dead_letter" and not kept and platform_keeps_unreadable):
        reason = delivery.reason or "not done"
        log.error("delivery not done", extra={"delivery": what, "redelivery": retry_by, "reason": reason})
        raise RetryDelivery(reason, delivery.results)
    if delivery.status == "dead_letter":
        outcome = (
            "delivery dead-lettered and acknowledged"
            if kept
            else "unreadable delivery acknowledged, not kept"
            if not delivery.results
            else "delivery failed for good, acknowledged, not kept (no dead-letter sink; the record is in the log)"
        )
        log.error(outcome, extra={"delivery": what, "reason": delivery.reason})


def event_grid_dict(event: func.EventGridEvent) -> dict[str, Any]:
    """The Event Grid-schema form of a trigger's event (core.events fills what the trigger lost)."""
    from core.events.azure import from_trigger  # with the first event, not at import (cold start)

    return from_trigger(
        event_id=event.id,
        topic=event.topic,
        subject=event.subject,
        event_type=event.event_type,
        event_time=event.event_time.isoformat() if event.event_time else None,
        data_version=event.data_version,
        data=event.get_json(),
    )


@app.function_name(name="storage_queue")
@app.queue_trigger(arg_name="msg", queue_name="%CIRCLE_EVENTS_QUEUE%", connection="AzureWebJobsStorage")
def storage_queue(msg: func.QueueMessage) -> None:
    """One Event Grid-schema event per queue message: replicate per the configured rules."""
    # The Consumption plan's default functionTimeout is 5 minutes; set the budget to the app's own.
    budget, margin = _seconds("CIRCLE_TIME_BUDGET_SECONDS", 300.0), _seconds("CIRCLE_TIME_MARGIN_SECONDS", 10.0)
    deadline = _deadline(budget, margin, oversize=True)
    what = f"queue message {msg.id} (dequeue {msg.dequeue_count})"
    delivery = _deliver(msg.get_body(), deadline)
    _answer(delivery, what, "the queue redelivers it", platform_keeps_unreadable=True)


@app.function_name(name="storage_event")
@app.event_grid_trigger(arg_name="event")
def storage_event(event: func.EventGridEvent) -> None:
    """``Microsoft.Storage.BlobCreated`` / ``BlobDeleted`` delivered directly (small objects only)."""
    try:
        payload: Any = event_grid_dict(event)
    except Exception as exc:  # a trigger event whose data is not JSON: the core reports it as unreadable
        payload = {"eventType": event.event_type, "id": event.id, "unreadable": str(exc)}
    deadline = _deadline(_seconds("CIRCLE_EVENT_GRID_BUDGET_SECONDS", 25.0), 0.0)  # Event Grid waits ~30 s
    delivery = _deliver(payload, deadline)
    _answer(delivery, f"Event Grid event {event.id}", "Event Grid redelivers it", platform_keeps_unreadable=False)


@app.function_name(name="storage_webhook")
@app.route(route="events", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.FUNCTION)
def storage_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """Event Grid webhook delivery (either schema), answering the validation handshakes."""
    try:
        answer = handle_http_event(runtime(), req.method, dict(req.headers), req.get_body())
    except Exception as exc:  # the runtime could not be built: 500, Event Grid retries
        log.error("webhook delivery not done, Event Grid redelivers it: %s", exc)
        return func.HttpResponse('{"ok": false}', status_code=500, mimetype="application/json")
    finally:
        if _runtime is not None:
            _runtime.monitor.flush()
    if answer.status >= 400:
        reason = answer.body.get("error") or "; ".join(
            f"{o['target']}/{o['key']}: {o['reason']}"
            for e in answer.body.get("events", [])
            for o in e.get("outcomes", [])
            if o.get("failure")
        )
        log.error("webhook delivery answered an error", extra={"status": answer.status, "reason": reason})
    return func.HttpResponse(
        answer.json(), status_code=answer.status, headers=dict(answer.headers), mimetype="application/json"
    )
