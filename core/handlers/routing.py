"""Rule routing, public: which replication rules and targets a source key belongs to, and its key in
each target. The event handler uses it per event; a reconciliation job uses ``routes_for_key`` per
listed key, so both always agree on where an object belongs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checkpoint import RESERVED_PREFIX  # jobs: keys under it are Circle's own bookkeeping

if TYPE_CHECKING:
    from core.config import Config, ReplicationRule, StoreConfig
    from core.events import StorageEvent


@dataclass(frozen=True, slots=True)
class Route:
    """One (rule, target) a source object is replicated along."""

    rule: ReplicationRule
    source: str  # store name
    key: str  # relative to the source store
    target: str  # store name
    target_key: str  # relative to the target store


def relative_key(store: StoreConfig, event: StorageEvent) -> str | None:
    """The event's key relative to ``store``, or None when the event is not from that store.

    Uses ``StoreConfig.relative_key`` (store identity with account/endpoint, decoded prefixes) where
    the configuration provides it, else the (provider, bucket, prefix) comparison of earlier versions.
    """
    decide = getattr(store, "relative_key", None)
    if callable(decide):
        result = decide(event)
        return result if isinstance(result, str) else None
    if store.provider != event.provider or store.bucket != event.bucket:
        return None
    if not event.key.startswith(store.prefix):
        return None
    return event.key[len(store.prefix) :]


def routes_for_key(config: Config, source: str, key: str) -> Iterator[Route]:
    """Every route of ``key`` (relative to the store named ``source``) under the configured rules."""
    if key.startswith(RESERVED_PREFIX):  # jobs: Circle's own checkpoints and canaries are never replicated
        return
    for rule in config.replication:
        if rule.source == source and rule.matches(key):
            for target in rule.targets:
                yield Route(rule, source, key, target, rule.target_key(key))


def routes_for_event(config: Config, event: StorageEvent) -> list[Route]:
    """Every route of the object an event names (empty when no rule covers it)."""
    routes: list[Route] = []
    keys: dict[str, str | None] = {}
    for rule in config.replication:
        if rule.source not in keys:
            keys[rule.source] = relative_key(config.stores[rule.source], event)
        key = keys[rule.source]
        if key is not None and not key.startswith(RESERVED_PREFIX) and rule.matches(key):
            routes.extend(Route(rule, rule.source, key, target, rule.target_key(key)) for target in rule.targets)
    return routes


def configured_sources(config: Config) -> list[str]:
    """``name (url)`` of each store some rule replicates from (for the no-matching-rule warning)."""
    names = sorted({rule.source for rule in config.replication})
    return [f"{name} ({config.stores[name].url})" for name in names]
