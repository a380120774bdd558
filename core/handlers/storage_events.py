"""The storage-event handler: route each event to the replication rules that match it and make
every target converge. One bad record fails alone; each event's outcome is one structured log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.config import Config, ReplicationRule, StoreConfig
from core.events import StorageEvent, parse_events
from core.storage import ObjectStore, StorageError

from .replication import Outcome, sync_created, sync_deleted

log = logging.getLogger("circle.storage_events")


@dataclass
class EventResult:
    event: StorageEvent
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.action != "failed" for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "event_id": e.event_id,
            "provider": e.provider,
            "kind": e.kind,
            "bucket": e.bucket,
            "key": e.key,
            "ok": self.ok,
            "outcomes": [o.as_dict() for o in self.outcomes],
        }


class StorageEventHandler:
    """Holds the opened stores across warm invocations (connections reused; nothing listed is cached)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._stores: dict[str, ObjectStore] = {}

    def store(self, name: str) -> ObjectStore:
        if name not in self._stores:
            self._stores[name] = self.config.open(name)
        return self._stores[name]

    def handle_payload(self, payload: Any) -> list[EventResult]:
        return [self.handle(event) for event in parse_events(payload)]

    def handle_all(self, events: Iterable[StorageEvent]) -> list[EventResult]:
        return [self.handle(event) for event in events]

    def handle(self, event: StorageEvent) -> EventResult:
        result = EventResult(event)
        for rule, relative_key in self._matching(event):
            for target in rule.targets:
                result.outcomes.append(self._apply(rule, relative_key, target, event))
        log.info(json.dumps(result.as_dict(), sort_keys=True))
        return result

    def _matching(self, event: StorageEvent) -> Iterable[tuple[ReplicationRule, str]]:
        for rule in self.config.replication:
            source = self.config.stores[rule.source]
            key = _relative_key(source, event)
            if key is not None and rule.matches(key):
                yield rule, key

    def _apply(self, rule: ReplicationRule, key: str, target: str, event: StorageEvent) -> Outcome:
        target_key = rule.target_key(key)
        try:
            source_store, target_store = self.store(rule.source), self.store(target)
            if event.kind == "created":
                return sync_created(source_store, key, target_store, target_key, target_name=target, verify=rule.verify)
            if event.kind == "deleted":
                if not rule.propagate_deletes:
                    return Outcome(target, target_key, "skipped", "rule does not propagate deletes")
                return sync_deleted(source_store, key, target_store, target_key, target_name=target)
            return Outcome(target, target_key, "skipped", f"{event.kind} events are not replicated")
        except StorageError as exc:
            return Outcome(target, target_key, "failed", f"{type(exc).__name__}: {exc}")


def _relative_key(source: StoreConfig, event: StorageEvent) -> str | None:
    """The event's key relative to the source store, or None if the event is not from that store."""
    if source.provider != event.provider or source.bucket != event.bucket:
        return None
    if not event.key.startswith(source.prefix):
        return None
    return event.key[len(source.prefix) :]


class ReplicationFailed(Exception):
    """Raised by adapters so the platform retries (or dead-letters) an event that did not converge."""

    def __init__(self, results: list[EventResult]) -> None:
        failed = [o for r in results for o in r.outcomes if o.action == "failed"]
        super().__init__("; ".join(f"{o.target}/{o.key}: {o.reason}" for o in failed) or "replication failed")
        self.results = results


def handle_or_raise(handler: StorageEventHandler, payload: Any) -> list[EventResult]:
    """Handle every event in ``payload``; raise ``ReplicationFailed`` if any did not converge."""
    results = handler.handle_payload(payload)
    if not all(r.ok for r in results):
        raise ReplicationFailed(results)
    return results


_default: StorageEventHandler | None = None


def default_handler() -> StorageEventHandler:
    """The process-wide handler built from ``CIRCLE_CONFIG`` (loaded once per warm container)."""
    global _default
    if _default is None:
        from core.config import load_config

        _default = StorageEventHandler(load_config())
    return _default


def reset_default_handler() -> None:
    """Forget the process-wide handler (tests, or after a configuration change)."""
    global _default
    _default = None
