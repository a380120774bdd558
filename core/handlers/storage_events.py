"""The storage-event handler: route each event to the replication rules that match it and make every
target converge. One bad record fails alone; each event's outcome is one structured log line on
``circle.replication``.

``core.runtime.Circle`` is the entry point (``handle_delivery``); ``StorageEventHandler``,
``default_handler`` and ``handle_or_raise`` remain as thin wrappers for the adapters of earlier versions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.config import Config
    from core.events import StorageEvent
    from core.storage import ObjectStore

    from .replication import Outcome
    from .results import EventResult
    from .routing import Route
    from .runtime import Circle

from .errors import ReplicationFailed

log = logging.getLogger("circle.replication")
REPLICATED_KINDS = frozenset({"created", "deleted"})

# Importing this module builds nothing a cold start does not use: the event model, the replication
# engine and the routing load with the first event (``handle_event``), and ``EventResult`` (defined in
# ``core.handlers.results``) on first access, so an adapter that names it pays only for that class.


def __getattr__(name: str) -> Any:
    if name == "EventResult":
        from .results import EventResult

        return EventResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def handle_event(circle: Circle, event: StorageEvent, *, deadline: Callable[[], float] | None = None) -> EventResult:
    """Converge every target ``event``'s object is routed to; log one line with the outcomes."""
    from .replication import Outcome
    from .results import EventResult
    from .routing import configured_sources, routes_for_event

    result = EventResult(event)
    routes = routes_for_event(circle.config, event)
    if not routes:
        log.warning(
            "no replication rule matches the event",
            extra={
                "event_provider": event.provider,
                "bucket": event.bucket,
                "key": event.key,
                "event_account": event.account,
                "event_id": event.event_id,
                "configured_sources": ", ".join(configured_sources(circle.config)) or "none",
            },
        )
    seen: set[tuple[str, str]] = set()
    for route in routes:
        if (route.target, route.target_key) in seen:
            continue  # two rules route this object to the same place: one convergence operation per key
        seen.add((route.target, route.target_key))
        if deadline is not None:
            left = deadline()
            # the invocation's budget, when the entry point gave one (core.runtime.with_budget)
            start, needed = circle.may_start(event, left, getattr(deadline, "budget", None))
            if not start:
                reason = f"not started: {left:.1f}s left, {needed:.1f}s needed"
                result.outcomes.append(Outcome(route.target, route.target_key, "deferred", reason, "retryable"))
                continue
        result.outcomes.append(apply_route(circle, route, event))
    _log_outcome(result)
    return result


def apply_route(circle: Circle, route: Route, event: StorageEvent) -> Outcome:
    """One target of one event."""
    from .failures import classify, describe
    from .replication import Hint, Outcome, converge

    if event.kind not in REPLICATED_KINDS:
        return Outcome(route.target, route.target_key, "skipped", f"{event.kind} events are not replicated")
    if event.superseded:
        return Outcome(route.target, route.target_key, "skipped", "superseded by a newer generation")
    try:
        source, target = circle.store(route.source), circle.store(route.target)
    except Exception as exc:  # options, secrets, a missing SDK: classified, never raised
        failure = classify(exc)  # a store that cannot be opened is a setup problem unless it may pass
        return Outcome(
            route.target,
            route.target_key,
            "failed",
            describe(exc),
            failure if failure == "retryable" else "configuration",
        )
    hint = Hint(provider=event.provider, kind=event.kind, sequencer=event.sequencer, version=event.version)
    return converge(
        source,
        route.key,
        target,
        route.target_key,
        target_name=route.target,
        propagate_deletes=route.rule.propagate_deletes,
        verify=route.rule.verify,
        hint=hint,
    )


def _log_outcome(result: EventResult) -> None:
    e = result.event
    summary = ", ".join(f"{o.target}: {o.action}" for o in result.outcomes) or "no matching rule"
    log.info(
        "storage event handled",
        extra={
            "summary": summary,
            "event_id": e.event_id,
            "event_provider": e.provider,
            "event_kind": e.kind,
            "bucket": e.bucket,
            "key": e.key,
            "ok": result.ok,
            "failure": result.failure,
            "outcomes": [o.as_dict() for o in result.outcomes],
        },
    )


# -- wrappers kept for the adapters of earlier versions -----------------------------------------------
class StorageEventHandler:
    """A ``Circle`` seen through the handler API of earlier versions."""

    def __init__(self, config: Config | None = None, *, circle: Circle | None = None) -> None:
        if circle is None:
            from .runtime import Circle

            if config is None:
                raise TypeError("StorageEventHandler needs a config or a circle")
            circle = Circle.from_config(config)
        self.circle = circle
        self.config = circle.config

    def store(self, name: str) -> ObjectStore:
        return self.circle.store(name)

    def handle_payload(self, payload: Any) -> list[EventResult]:
        from core.events import parse_events

        return self.handle_all(parse_events(payload))

    def handle_all(self, events: Iterable[StorageEvent]) -> list[EventResult]:
        return self.circle.handle_events(events).results

    def handle(self, event: StorageEvent) -> EventResult:
        return handle_event(self.circle, event)


def handle_or_raise(handler: StorageEventHandler, payload: Any) -> list[EventResult]:
    """Handle every event in ``payload``; raise ``ReplicationFailed`` unless the delivery may be
    acknowledged (everything converged, or what cannot was written to the dead-letter sink)."""
    from core.events import parse_events

    delivery = handler.circle.handle_events(parse_events(payload))
    if delivery.status == "retry" or not (delivery.status == "ok" or delivery.dead_lettered):
        raise ReplicationFailed(delivery.results)
    return delivery.results


_default: StorageEventHandler | None = None


def default_handler() -> StorageEventHandler:
    """The process-wide handler built from ``CIRCLE_CONFIG`` (loaded once per warm container)."""
    global _default
    if _default is None:
        from .runtime import Circle

        _default = StorageEventHandler(circle=Circle.from_env())
    return _default


def reset_default_handler() -> None:
    """Forget the process-wide handler (tests, or after a configuration change)."""
    global _default
    _default = None
