"""Hook points: what the runtime, the rotation handler and scheduled jobs call, so every platform gets
the same metric names (docs/monitoring.md lists them).

- ``invocation(monitor, handler)``: around each handler invocation: ``Invocations`` (dims ``handler``,
  ``outcome``) and ``InvocationDuration``.
- ``replication_outcomes(monitor, results, ...)``: each replication outcome: ``ReplicationOutcome``
  (dims ``action``, ``failure``), ``ReplicationLag`` per rule and target (seconds from the source
  change, ``event.event_time``, to the replica's commit, as a distribution), ``ReplicationFailed`` per
  rule/target, and the webhook alert when a rule/target fails ``failed_replications`` times in a window.
- ``rotation_step(monitor, ...)``: ``RotationStep`` (dims ``step``, ``outcome``), an event, and an alert
  when a step fails.
- ``probe_result(monitor, ...)``: ``ProbeLatency`` / ``ProbeFailed`` (dims ``store``, ``operation``)
  and an alert when a probe fails.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .api import Monitor

#: the rule name of each (target, target key) an event was routed to (the runtime passes its routing)
RulesOf = Callable[[Any], dict[tuple[str, str], str]]

APPLIED = frozenset({"copied", "deleted"})


@contextmanager
def invocation(monitor: Monitor, handler: str) -> Iterator[dict[str, str]]:
    """Time one handler invocation; the caller may set ``state["outcome"]`` (default ``ok``, ``error``
    when the body raises)."""
    state = {"outcome": "ok"}
    started = time.perf_counter()
    try:
        yield state
    except BaseException:
        state["outcome"] = "error"
        raise
    finally:
        monitor.count("Invocations", 1, handler=handler, outcome=state["outcome"])
        monitor.timing("InvocationDuration", time.perf_counter() - started, handler=handler)


def lag_seconds(event_time: dt.datetime, committed: dt.datetime | None = None) -> float:
    """Seconds from the source change to the replica's commit (never negative: clocks differ)."""
    now = committed or dt.datetime.now(dt.UTC)
    if event_time.tzinfo is None:
        event_time = event_time.replace(tzinfo=dt.UTC)
    return max(0.0, (now - event_time).total_seconds())


def replication_outcomes(monitor: Monitor, results: Iterable[Any], rules_of: RulesOf, *, threshold: int = 1) -> None:
    """Record each replication outcome of a delivery's ``EventResult``s (called right after the targets
    converged, so the time of the call is the replica's commit, to within the delivery's duration)."""
    failure_hook = getattr(monitor, "failure", None)
    for result in results:
        rules: dict[tuple[str, str], str] | None = None
        for outcome in result.outcomes:
            monitor.count("ReplicationOutcome", 1, action=outcome.action, failure=outcome.failure or "none")
            if outcome.action not in APPLIED and outcome.failure is None:
                continue
            if rules is None:
                rules = rules_of(result.event)
            rule = rules.get((outcome.target, outcome.key), "unknown")
            if outcome.action in APPLIED:
                monitor.timing("ReplicationLag", lag_seconds(result.event.event_time), rule=rule, target=outcome.target)
                continue
            if outcome.action == "deferred":
                continue  # not started for lack of time: the platform redelivers it, not a failure
            monitor.count("ReplicationFailed", 1, rule=rule, target=outcome.target, failure=outcome.failure or "none")
            fields: dict[str, Any] = {
                "rule": rule,
                "target": outcome.target,
                "failure": outcome.failure,
                "reason": outcome.reason,
                "event_id": result.event.event_id,
            }
            message = f"replication {rule} -> {outcome.target} failed ({outcome.failure}): {outcome.reason}"
            if callable(failure_hook):
                failure_hook("replication", f"{rule}/{outcome.target}", message, threshold=threshold, **fields)
            else:
                monitor.alert("replication", f"{rule}/{outcome.target}", message, **fields)


def rotation_step(
    monitor: Monitor, secret: str, step: str, *, ok: bool, seconds: float, error: str | None = None
) -> None:
    """One rotation step (create/set/test/finish) of ``secret``; a failed step alerts."""
    monitor.count("RotationStep", 1, step=step, outcome="ok" if ok else "failed")
    monitor.timing("RotationStepDuration", seconds, step=step)
    monitor.event("rotation.step", secret=secret, step=step, ok=ok, seconds=round(seconds, 3), error=error)
    if not ok:
        monitor.alert("rotation", secret, f"rotation of {secret} failed at {step}: {error}", step=step, error=error)


def probe_result(
    monitor: Monitor, store: str, operation: str, *, ok: bool, seconds: float, error: str | None = None
) -> None:
    """One probe operation against one store; a failure alerts (once per window per store)."""
    monitor.timing("ProbeLatency", seconds, store=store, operation=operation)
    if not ok:
        monitor.count("ProbeFailed", 1, store=store, operation=operation)
        monitor.alert(
            "probe", store, f"probe of {store} failed at {operation}: {error}", operation=operation, error=error
        )
