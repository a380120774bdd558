"""Make a replica converge to its source's current state, whatever order events arrive in.

Every decision is taken against the source's *current* head, never the event's view of it, and every
write is conditional on what we last saw of the replica, so redelivered, duplicated and stale events
do no extra copies and never roll a replica back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.storage import (
    AlreadyExists,
    NotFound,
    ObjectInfo,
    ObjectStore,
    PreconditionFailed,
    copy_object,
)

# Replica metadata recording which source state it holds (underscores: valid on every cloud).
SOURCE_ETAG = "circle_source_etag"
SOURCE_VERSION = "circle_source_version"
MAX_RACES = 3

Action = Literal["copied", "skipped", "deleted", "failed"]


@dataclass(frozen=True, slots=True)
class Outcome:
    target: str
    key: str
    action: Action
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"target": self.target, "key": self.key, "action": self.action, "reason": self.reason}


def _replica_of(source: ObjectInfo, replica: ObjectInfo | None) -> bool:
    return (
        replica is not None
        and replica.metadata.get(SOURCE_ETAG) == source.etag
        and replica.metadata.get(SOURCE_VERSION, "") == (source.version or "")
    )


def _head_or_none(store: ObjectStore, key: str) -> ObjectInfo | None:
    try:
        return store.head(key)
    except NotFound:
        return None


def sync_created(
    source: ObjectStore, key: str, target: ObjectStore, target_key: str, *, target_name: str, verify: bool = True
) -> Outcome:
    """Copy ``key`` to the target unless the replica already holds the source's current state."""
    for _ in range(MAX_RACES):
        current = _head_or_none(source, key)
        if current is None:
            return Outcome(target_name, target_key, "skipped", "source no longer exists")
        replica = _head_or_none(target, target_key)
        if _replica_of(current, replica):
            return Outcome(target_name, target_key, "skipped", "replica is up to date")
        stamp = {SOURCE_ETAG: current.etag or "", SOURCE_VERSION: current.version or ""}
        try:
            copy_object(
                source,
                key,
                target,
                target_key,
                src_if_match=current.etag,
                metadata=stamp,
                if_match=replica.etag if replica else None,
                if_none_match=None if replica else "*",
                verify=verify,
            )
        except (PreconditionFailed, AlreadyExists, NotFound):
            continue  # the source or the replica changed under us: look again
        return Outcome(target_name, target_key, "copied", f"source etag {current.etag}")
    return Outcome(target_name, target_key, "failed", "source or replica kept changing; will retry")


def sync_deleted(source: ObjectStore, key: str, target: ObjectStore, target_key: str, *, target_name: str) -> Outcome:
    """Delete the replica only if the source is really gone and the replica is one we made."""
    for _ in range(MAX_RACES):
        if _head_or_none(source, key) is not None:
            return Outcome(target_name, target_key, "skipped", "source exists (re-created)")
        replica = _head_or_none(target, target_key)
        if replica is None:
            return Outcome(target_name, target_key, "skipped", "replica already absent")
        if SOURCE_ETAG not in replica.metadata:
            return Outcome(target_name, target_key, "skipped", "target object is not a replica")
        try:
            target.delete(target_key, if_match=replica.etag if target.capabilities.delete_with_if_match else None)
        except (PreconditionFailed, NotFound):
            continue
        return Outcome(target_name, target_key, "deleted")
    return Outcome(target_name, target_key, "failed", "replica kept changing; will retry")
