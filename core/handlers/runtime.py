"""The runtime (public as ``core.runtime``): one object, built from the configuration, that holds the
stores, the secrets, the rules and the dead-letter sink. Adapters build it once at cold start and
hand it every delivery; a command line, an HTTP API or a scheduled job build the same object.

    circle = Circle.from_env()                 # CIRCLE_CONFIG / CIRCLE_ENV, read once
    delivery = circle.handle_delivery(payload, deadline=lambda: context.get_remaining_time_in_millis() / 1000)
    delivery.status                            # "ok" | "retry" | "dead_letter"

Stores open lazily on first use and stay open for warm invocations (connections reused); nothing
listed is cached.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

# The event parser, the dead-letter sink and the handler load with the first delivery, not at import
# (cold start): an adapter imports this module before its first invocation.
if TYPE_CHECKING:
    from core.config import Config
    from core.events import StorageEvent
    from core.monitoring import Monitor, Sink
    from core.secrets import SecretsRegistry, SecretStore
    from core.storage import ObjectStore

    from .dead_letter import DeadLetterSink
    from .results import EventResult

log = logging.getLogger("circle.replication")
DeliveryStatus = Literal["ok", "retry", "dead_letter"]
Deadline = Callable[[], float]


class BudgetedDeadline:
    """A deadline that also knows the whole invocation's budget (``budget`` seconds)."""

    __slots__ = ("_left", "budget")

    def __init__(self, left: Deadline, budget: float) -> None:
        self._left = left
        self.budget = budget

    def __call__(self) -> float:
        return self._left()


def with_budget(deadline: Deadline, budget: float) -> Deadline:
    """``deadline`` marked with the seconds a whole invocation offers (the configured timeout less the
    margin). Only an entry point that knows its timeout says so; the core cannot tell it from the time
    left, and a process may serve entry points with different budgets (Azure: queue and Event Grid)."""
    return BudgetedDeadline(deadline, budget)


@dataclass
class Delivery:
    """The answer to one platform delivery (one SQS message, one webhook request, one CloudEvent).

    ``ok``: everything converged, acknowledge. ``dead_letter``: what failed can never succeed by
    redelivery (a permanent or configuration failure, or an unreadable payload); it was logged at ERROR
    with its reason. ``dead_lettered`` says whether the dead-letter sink holds its record: when it does,
    acknowledge; when no sink is configured, the adapter hands it to the platform's own dead-letter path
    where there is one (an SQS redrive policy, an Azure poison queue, Event Grid's dead-letter
    destination) and otherwise acknowledges it, the ERROR line being its record (Eventarc, the Event
    Grid trigger: redelivering would only repeat the failure for 24 h). ``retry``: redeliver (at least
    one event did not converge or was not started, or a configured sink could not take a record);
    convergence is idempotent, so redelivering the events that did is harmless.
    """

    status: DeliveryStatus
    results: list[EventResult] = field(default_factory=list)
    reason: str = ""
    dead_lettered: bool = False  # every failure of a "dead_letter" delivery is recorded in the sink

    @property
    def ok(self) -> bool:
        return self.status != "retry"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "events": [r.as_dict() for r in self.results]}


class Circle:
    """The composition root (see the module docstring)."""

    #: seconds a target needs at least before it is started; plus the object's size at ``throughput``
    reserve_seconds: float = 5.0
    throughput: float = 16 * 1024 * 1024  # bytes per second assumed for a copy

    def __init__(
        self,
        config: Config,
        *,
        dead_letter: DeadLetterSink | None = None,
        stores: Mapping[str, ObjectStore] | None = None,
        monitor: Monitor | None = None,
        sink: Sink | None = None,
    ) -> None:
        """``stores`` gives already opened stores by name (a caller that holds them, tests); the others
        open on first use. ``monitor`` (else one built from ``[monitoring]`` over the platform ``sink``
        an adapter gives) receives metrics, events and alerts."""
        self.config = config
        self._stores: dict[str, ObjectStore] = {}
        self._lock = threading.RLock()
        self._secrets: SecretStore | None = None
        self._registry: SecretsRegistry | None = None  # this runtime's secrets stores, built on first use
        self._sink = dead_letter
        self._sink_built = dead_letter is not None
        # -- monitoring (monitor helper) ------------------------------------------------------------------
        from core.monitoring import build_monitor

        self.monitor: Monitor = (
            monitor if monitor is not None else build_monitor(config.monitoring, sink, self._resolve_one)
        )
        settings = config.monitoring
        self._layered = bool(getattr(self.monitor, "enabled", True)) and (settings is None or settings.storage_metrics)
        for name, store in (stores or {}).items():
            self._stores[name] = self._instrument(name, store)

    def _instrument(self, name: str, store: ObjectStore) -> ObjectStore:
        """Install the monitoring layer on a store once, when monitoring is on (no cost otherwise)."""
        if self._layered:
            from core.monitoring.layer import storage_layer

            store.add_layer(storage_layer(self.monitor, name))
        return store

    def _rules_of(self, event: StorageEvent) -> dict[tuple[str, str], str]:
        from .routing import routes_for_event

        return {(r.target, r.target_key): r.rule.name for r in routes_for_event(self.config, event)}

    # -- construction -----------------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        dead_letter: DeadLetterSink | None = None,
        stores: Mapping[str, ObjectStore] | None = None,
        monitor: Monitor | None = None,
        sink: Sink | None = None,
    ) -> Circle:
        return cls(config, dead_letter=dead_letter, stores=stores, monitor=monitor, sink=sink)

    @classmethod
    def from_env(cls, *, dead_letter: DeadLetterSink | None = None, sink: Sink | None = None) -> Circle:
        """Read ``CIRCLE_CONFIG`` (with the ``CIRCLE_ENV`` overlay) once; adapters keep the result and
        pass their platform's metrics ``sink``."""
        from core.config import load_config

        return cls(load_config(), dead_letter=dead_letter, sink=sink)

    # -- services -----------------------------------------------------------------------------------------
    def store(self, name: str) -> ObjectStore:
        """The store named in the configuration, opened on first use and kept."""
        store = self._stores.get(name)
        if store is None:
            with self._lock:
                store = self._stores.get(name)
                if store is None:
                    store = self._stores[name] = self._instrument(name, self._open(name))
        return store

    def _open(self, name: str) -> ObjectStore:
        """A configured store, given this runtime's resolver (``secret://`` options read through its own
        secrets registry, which opens with the first reference)."""
        return self.config.open(name, resolver=self.resolve)

    @property
    def secrets(self) -> SecretStore | None:
        """The secrets store named by ``[secrets] url`` / ``CIRCLE_SECRETS_URL`` (None when neither is set),
        opened on first use and registered in this runtime's registry, so ``secret://vault/...`` store
        options resolve through it."""
        self.secrets_registry()
        return self._secrets

    def secrets_registry(self) -> SecretsRegistry:
        """This runtime's secrets stores by reference name (``Config.secret_stores()``, with
        ``CIRCLE_SECRETS_URL`` for ``vault``), over the process registry; built on first use. Two
        runtimes in one process keep their own: nothing is registered process-wide."""
        registry = self._registry
        if registry is None:
            with self._lock:
                registry = self._registry
                if registry is None:
                    stores = _secret_stores(self.config)
                    registry = self.config.secrets_registry(stores)
                    self._secrets = registry.get(next(iter(stores))) if stores else None
                    self._registry = registry
        return registry

    def secret_store(self, name: str) -> SecretStore:
        """The secrets store ``secret://<name>/...`` reads through, for this runtime."""
        return self.secrets_registry().get(name)

    def _resolve_one(self, reference: str) -> str:
        return self.resolve({"value": reference})["value"]

    def resolve(self, references: Mapping[str, str], *, refresh: bool = False) -> Mapping[str, str]:
        """This runtime's ``core.credentials.Resolver``: passed to every store it opens."""
        return self.secrets_registry().resolve_references(references, refresh=refresh)

    @property
    def dead_letter(self) -> DeadLetterSink | None:
        """The sink given at construction, else the store named by ``[dead_letter]``, else None."""
        if not self._sink_built:
            with self._lock:
                if not self._sink_built:
                    setting = self.config.dead_letter
                    if setting:
                        from .dead_letter import StoreDeadLetterSink

                        store_name, prefix = setting
                        self._sink = StoreDeadLetterSink(self._open_unlocked(store_name), prefix)
                    self._sink_built = True
        return self._sink

    def _open_unlocked(self, name: str) -> ObjectStore:
        if name not in self._stores:
            self._stores[name] = self._instrument(name, self._open(name))
        return self._stores[name]

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()

    def time_needed(self, event: StorageEvent) -> float:
        """Seconds to leave for one target of ``event`` before starting it (its size at ``throughput``)."""
        return self.reserve_seconds + (event.size or 0) / self.throughput

    def may_start(self, event: StorageEvent, left: float, budget: float | None = None) -> tuple[bool, float]:
        """Whether a target of ``event`` may start with ``left`` seconds to go, and the seconds required.

        ``budget`` is what the whole invocation offers, when the entry point knows it (a configured
        budget, see :func:`with_budget`). An object that needs more than that would be deferred forever:
        it is started when the invocation is nearly fresh, with one WARNING, rather than never. Without a
        budget nothing tells a fresh invocation from a late one (the time left is all the core sees), so
        the plain rule applies and such an object goes to the platform's redrive/dead-letter policy."""
        needed = self.time_needed(event)
        fresh = max(self.reserve_seconds, 0.9 * budget) if budget is not None else None
        if fresh is not None and needed > fresh > self.reserve_seconds:
            if left >= fresh:
                log.warning(
                    "an object needs more time to copy than an invocation offers: starting it now; "
                    "raise the function timeout if it does not finish",
                    extra={
                        "bucket": event.bucket,
                        "key": event.key,
                        "event_id": event.event_id,
                        "needed_seconds": needed,
                        "budget_seconds": budget,
                    },
                )
                return True, fresh
            return False, fresh
        return left >= needed, needed

    # -- deliveries ---------------------------------------------------------------------------------------
    def handle_delivery(self, payload: Any, *, deadline: Deadline | None = None) -> Delivery:
        """Handle one platform delivery. Never raises for bad input or storage failures."""
        from core.events import EventError, parse_events
        from core.monitoring.hooks import invocation

        with invocation(self.monitor, "storage_event") as state:
            try:
                events = list(parse_events(payload))
            except EventError as exc:
                delivery = self.unreadable(payload, exc)
            else:
                delivery = self.handle_events(events, deadline=deadline)
            state["outcome"] = delivery.status
        return delivery

    def handle_events(self, events: Iterable[StorageEvent], *, deadline: Deadline | None = None) -> Delivery:
        """Handle already parsed events (webhooks parse their own envelopes)."""
        from .storage_events import handle_event

        results = [handle_event(self, event, deadline=deadline) for event in events]
        if getattr(self.monitor, "enabled", True):
            from core.monitoring.hooks import replication_outcomes

            settings = self.config.monitoring
            threshold = settings.thresholds.failed_replications if settings else 1
            replication_outcomes(self.monitor, results, self._rules_of, threshold=threshold)
        return self._settle(results)

    def unreadable(self, payload: Any, exc: Exception) -> Delivery:
        """A payload that is not storage events: dead-letter it (never retried, it cannot improve)."""
        from .dead_letter import payload_record

        reason = f"unreadable payload: {exc}"
        sink, _ = self._sink_state()
        written = False
        if sink is not None:
            written = self._write(sink, payload_record(payload, reason))
        log.error(
            "dead-lettered an unreadable delivery",
            extra={"failure": "permanent", "dead_lettered": written, "reason": reason},
        )
        return Delivery("dead_letter", [], reason, dead_lettered=written)

    def _settle(self, results: list[EventResult]) -> Delivery:
        """The delivery's status: ``retry`` if any event may still converge (or its record could not be
        written to a configured sink), else ``dead_letter`` if any failed for good, else ``ok``."""
        status: DeliveryStatus = "ok"
        reasons: list[str] = []
        unrecorded = False  # a permanent or configuration failure that no sink holds
        for result in results:
            failure = result.failure
            if failure is None:
                continue
            reasons.append(result.reason)
            if failure == "retryable":
                status = "retry"
                continue
            from .dead_letter import event_record

            record = event_record(result)
            sink, configured = self._sink_state()
            if sink is None and configured:  # the configured sink cannot be opened: keep the event
                status = "retry"
                continue
            if sink is not None and not self._write(sink, record):
                status = "retry"
                continue
            fields = {
                "bucket": result.event.bucket,
                "key": result.event.key,
                "event_id": result.event.event_id,
                "failure": failure,
                "reason": result.reason,
            }
            if sink is not None:
                result.dead_lettered = True
                log.error("dead-lettered an event", extra={**fields, "dead_lettered": True})
            else:
                # No sink: this line is the record (its fields are the dead-letter record's), and the
                # adapter either hands the delivery to the platform's dead-letter path or acknowledges it.
                unrecorded = True
                log.error(
                    "an event failed for good and no dead-letter sink is configured",
                    extra={**fields, "dead_lettered": False, "record": record},
                )
            if status == "ok":
                status = "dead_letter"
        return Delivery(
            status,
            results,
            "; ".join(r for r in reasons if r),
            dead_lettered=status == "dead_letter" and not unrecorded,
        )

    def _sink_state(self) -> tuple[DeadLetterSink | None, bool]:
        """The dead-letter sink (None when there is none or it cannot be opened) and whether one is
        configured at all (given at construction or named by ``[dead_letter]``)."""
        configured = self._sink is not None or bool(getattr(self.config, "dead_letter", None))
        try:
            return self.dead_letter, configured
        except Exception as exc:  # the sink's own store cannot be opened: keep events for the platform
            log.error("the dead-letter sink cannot be opened", extra={"reason": str(exc)})
            return None, configured

    @staticmethod
    def _write(sink: DeadLetterSink, record: dict[str, Any]) -> bool:
        try:
            sink.write(record)
        except Exception as exc:  # never lose the event: the platform keeps it
            log.error(
                "writing a dead-letter record failed",
                extra={"record_id": record.get("id"), "reason": str(exc)},
            )
            return False
        return True

    def __repr__(self) -> str:
        return f"Circle(stores={sorted(self.config.stores)}, rules={len(self.config.replication)})"


def _secret_stores(config: Config) -> dict[str, str]:
    """Secrets stores by reference name (``Config.secret_stores()``); ``CIRCLE_SECRETS_URL`` overrides ``vault``."""
    named = config.secret_stores()
    override = os.environ.get("CIRCLE_SECRETS_URL")
    if override:
        named["vault"] = override
    return named
