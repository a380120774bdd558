"""Make a replica converge to its source's *current* state, whatever event arrived and in whatever order.

One operation per (source key, target key), for every event kind: read the replica, then the source,
and make the replica equal the source (present with this ETag/version, or absent). Then confirm by
reading both again; if either moved meanwhile, go round again (bounded, then a retryable failure).

- A write is conditional on what was read of the replica (create-only when absent, compare-and-swap on
  its ETag when present) and reads the source pinned to the ETag it decided on.
- A delete removes exactly the replica it decided to remove (conditional delete on its ETag where the
  target supports it, else a fresh re-check just before), and only after the source was seen absent
  *after* that replica was read; the confirmation round re-reads the source, so a re-create that raced
  the delete is copied again.
- A copy whose source vanished or changed while streaming is undone (conditional delete of what it
  wrote) or redone by the confirmation round.
- The event's sequencer (S3, Azure) or generation (GCS) drops stale events early; nothing relies on
  delivery order.

Targets without create-only or compare-and-swap writes are served best-effort (``consistency`` says so):
head-compare-write with the stamp, and the confirmation round repairs a lost race.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from typing import Any, Literal

from core.storage import (
    AlreadyExists,
    IntegrityError,
    NotFound,
    ObjectInfo,
    ObjectStore,
    PreconditionFailed,
    StorageError,
    copy_object,
)

from .failures import FailureClass, MissingBucket, NotConverged, ReplicationFailure, classify, describe

# Replica metadata recording which source state it holds (underscores: valid on every cloud).
SOURCE_ETAG = "circle_source_etag"
SOURCE_VERSION = "circle_source_version"
# "<origin>/<provider>:<sequencer>" of the event that wrote it ("<origin>/" without one): ``origin`` names
# the source store and key (``source_origin``), so sequencers and generations are compared only for the
# same source object (a target key fed by two sources never drops one's events for the other's stamp)
SOURCE_SEQUENCER = "circle_source_sequencer"
MAX_ROUNDS = 6  # read-decide-act rounds; the last successful action needs one more round to confirm
MAX_RACES = MAX_ROUNDS  # the old name
UP_TO_DATE = "replica is up to date"

Action = Literal["copied", "skipped", "deleted", "failed", "deferred"]
Consistency = Literal["strong", "best-effort"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one target key. ``failure`` is set when ``action`` is failed or deferred."""

    target: str
    key: str
    action: Action
    reason: str = ""
    failure: FailureClass | None = None
    consistency: Consistency = "strong"

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "key": self.key,
            "action": self.action,
            "reason": self.reason,
            "failure": self.failure,
            "consistency": self.consistency,
        }


@dataclass(frozen=True, slots=True)
class Hint:
    """What the event says about the change (used only to drop stale events early, never trusted)."""

    provider: str = ""
    kind: str = ""
    sequencer: str | None = None
    version: str | None = None


def consistency_of(target: ObjectStore, *, propagate_deletes: bool = True) -> Consistency:
    """``strong`` when the target has every conditional operation convergence uses, else ``best-effort``."""
    caps = target.capabilities
    strong = caps.write_with_if_none_match and caps.write_with_if_match
    if propagate_deletes:
        strong = strong and caps.delete_with_if_match
    return "strong" if strong else "best-effort"


def _replica_of(source: ObjectInfo, replica: ObjectInfo | None) -> bool:
    return (
        replica is not None
        and replica.metadata.get(SOURCE_ETAG) == source.etag
        and replica.metadata.get(SOURCE_VERSION, "") == (source.version or "")
    )


def _is_replica(info: ObjectInfo) -> bool:
    return SOURCE_ETAG in info.metadata


def _head_or_none(store: ObjectStore, key: str) -> ObjectInfo | None:
    try:
        return store.head(key)
    except NotFound:
        return None


# -- stale events ------------------------------------------------------------------------------------
def source_origin(source: ObjectStore, key: str) -> str:
    """The identity of one source object (store URL and key) as 16 hex digits: short enough for any
    cloud's metadata limits, whatever the key's length."""
    return hashlib.blake2b(f"{source.url}\n{key}".encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def sequencer_stamp(origin: str, hint: Hint | None) -> str:
    """The ``circle_source_sequencer`` value a write by the handler of ``hint`` records."""
    return f"{origin}/{hint.provider}:{hint.sequencer}" if hint and hint.sequencer else f"{origin}/"


def _sequence_key(text: str) -> str:
    """S3 sequencers are hex strings of varying length: compare them left-padded (AWS's rule); Azure's
    are fixed-width hex, GCS's (built by core.events) fixed-width decimal."""
    return text.upper().rjust(64, "0")


def stale_reason(hint: Hint | None, replica: ObjectInfo | None, origin: str | None = None) -> str | None:
    """Why the replica already reflects a later change than the event's, or None (not provably stale).

    ``origin`` (``source_origin``) is the event's source object: a replica written from another one (a
    second source, or another key, feeding the same target key) or stamped before origins were recorded
    is never compared. Only created events are dropped this way: a delete event always gets the full
    check (removing a replica is decided on the source's state alone, never on an event's claim)."""
    if hint is None or replica is None or hint.kind != "created" or origin is None:
        return None
    held_origin, sep, stamped = replica.metadata.get(SOURCE_SEQUENCER, "").partition("/")
    if not sep or held_origin != origin:
        return None
    if hint.sequencer and stamped:
        provider, _, seq = stamped.partition(":")
        if provider == hint.provider and seq and _sequence_key(hint.sequencer) < _sequence_key(seq):
            return f"stale event: sequencer {hint.sequencer} precedes the replica's {seq}"
    if hint.provider == "gcp" and hint.version and hint.version.isdigit():
        held = replica.metadata.get(SOURCE_VERSION, "")
        if held.isdigit() and int(hint.version) < int(held):
            return f"stale event: generation {hint.version} precedes the replica's {held}"
    return None


# -- bucket checks -----------------------------------------------------------------------------------
_known_buckets: weakref.WeakSet[ObjectStore] = weakref.WeakSet()


def require_bucket(store: ObjectStore, role: str, *, fresh: bool = False) -> None:
    """Raise ``MissingBucket`` when ``store``'s bucket/container does not exist (one small listing;
    a confirmed bucket is remembered for the store's lifetime unless ``fresh``). A listing refused
    for another reason proves nothing and passes."""
    if not fresh and store in _known_buckets:
        return
    try:
        store.list_page(page_size=1)
    except NotFound:
        _known_buckets.discard(store)
        raise MissingBucket(role, _bucket_name(store)) from None
    except StorageError:
        return
    _known_buckets.add(store)


def _bucket_name(store: ObjectStore) -> str:
    return store.url.split("://", 1)[-1].split("/", 1)[0] or store.url


# -- one convergence operation -----------------------------------------------------------------------
def converge(
    source: ObjectStore,
    key: str,
    target: ObjectStore,
    target_key: str,
    *,
    target_name: str,
    propagate_deletes: bool = True,
    verify: bool = True,
    hint: Hint | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> Outcome:
    """Make ``target_key`` equal ``key``'s current state and confirm it; never raises a storage error
    (failures come back as an ``Outcome`` with their failure class)."""
    mode = consistency_of(target, propagate_deletes=propagate_deletes)
    try:
        action, reason = _converge(source, key, target, target_key, propagate_deletes, verify, hint, max_rounds)
    except (StorageError, ReplicationFailure) as exc:
        return Outcome(target_name, target_key, "failed", describe(exc), classify(exc), mode)
    return Outcome(target_name, target_key, action, reason, None, mode)


def _converge(
    source: ObjectStore,
    key: str,
    target: ObjectStore,
    target_key: str,
    propagate_deletes: bool,
    verify: bool,
    hint: Hint | None,
    max_rounds: int,
) -> tuple[Action, str]:
    done: tuple[Action, str] | None = None  # the last action taken, reported once confirmed
    integrity: IntegrityError | None = None
    # what our own write returned stands for the next round's read of the replica (it precedes the
    # source read that follows, as a HEAD would) when it carries the ETag and our stamp
    written: ObjectInfo | None = None
    for round_ in range(max_rounds):
        replica = written or _head_or_none(target, target_key)  # the replica first: deletes decide on it
        if round_ == 0:
            stale = stale_reason(hint, replica, source_origin(source, key))
            if stale:
                return "skipped", stale
        current = _head_or_none(source, key)
        written = None
        if current is None:
            if replica is None:
                require_bucket(target, "target")
                if done:
                    return done
                deleted_event = hint is not None and hint.kind == "deleted"
                return "skipped", "replica already absent" if deleted_event else "source no longer exists"
            if not propagate_deletes:
                return done or ("skipped", "source no longer exists; the rule does not propagate deletes")
            if not _is_replica(replica):
                return done or ("skipped", "target object is not a replica")
            require_bucket(source, "source")  # a missing source bucket must never empty the target
            if _delete_exactly(target, target_key, replica):
                undone = done is not None and done[0] == "copied"
                done = ("deleted", "source deleted while copying; copy undone" if undone else "source deleted")
            continue  # confirm: the source may have been re-created meanwhile
        if _replica_of(current, replica):
            return done or ("skipped", UP_TO_DATE)
        try:
            info = _write(source, key, target, target_key, current, replica, verify, hint)
            if info is not None:
                if info.etag and info.metadata.get(SOURCE_ETAG) == (current.etag or ""):
                    written = info
                done = (
                    "copied",
                    f"source etag {current.etag}" + (f" version {current.version}" if current.version else ""),
                )
        except IntegrityError as exc:  # the source changed under a non-snapshot read: the copy was removed
            integrity = exc
    if integrity is not None:
        raise integrity
    raise NotConverged("source or replica kept changing; will retry")


def write_listed(
    source: ObjectStore, key: str, target: ObjectStore, target_key: str, listed: ObjectInfo, *, verify: bool = True
) -> ObjectInfo | None:
    """The write of a convergence decided from listings that showed ``listed`` at the source and no replica
    (reconciliation): create-only, from a source read pinned to the listed ETag, with no HEAD of either
    side. What was written (ETag and stamp), or None when the target cannot write create-only, a replica
    appeared meanwhile or the source moved (then run ``converge``, which reads both sides).

    The caller confirms the write: the source must still hold ``listed`` after it landed (a source deleted
    or changed while copying), as ``converge``'s confirmation round checks (``core.handlers.confirm``).
    Storage errors propagate."""
    if not target.capabilities.write_with_if_none_match:
        return None
    info = _write(source, key, target, target_key, listed, None, verify, None)
    if info is None or not info.etag or info.metadata.get(SOURCE_ETAG) != (listed.etag or ""):
        return None
    return info


def _delete_exactly(target: ObjectStore, target_key: str, replica: ObjectInfo) -> bool:
    """Delete ``replica`` and nothing newer. False when the replica changed first (look again)."""
    if target.capabilities.delete_with_if_match and replica.etag:
        try:
            target.delete(target_key, if_match=replica.etag)
        except (PreconditionFailed, NotFound):
            return False
        return True
    again = _head_or_none(target, target_key)  # best-effort: re-check as late as possible
    if again is None or again.etag != replica.etag:
        return False
    target.delete(target_key)
    return True


def _write(
    source: ObjectStore,
    key: str,
    target: ObjectStore,
    target_key: str,
    current: ObjectInfo,
    replica: ObjectInfo | None,
    verify: bool,
    hint: Hint | None,
) -> ObjectInfo | None:
    """Copy the source state ``current`` over ``replica`` (conditionally where the target can); what was
    written, or None when a condition failed or the source moved (look again); ``MissingBucket`` for a
    missing bucket."""
    caps = target.capabilities
    stamp = {
        SOURCE_ETAG: current.etag or "",
        SOURCE_VERSION: current.version or "",
        SOURCE_SEQUENCER: sequencer_stamp(source_origin(source, key), hint),
    }
    condition: dict[str, Any] = {}  # if_none_match / if_match (Any: copy_object also takes progress=)
    if replica is None and caps.write_with_if_none_match:
        condition["if_none_match"] = "*"
    elif replica is not None and replica.etag and caps.write_with_if_match:
        condition["if_match"] = replica.etag
    pin = current.etag if current.etag and source.capabilities.read_with_if_match else None
    try:
        return copy_object(
            source, key, target, target_key, src_if_match=pin, metadata=stamp, verify=verify, **condition
        )
    except (PreconditionFailed, AlreadyExists):
        return None
    except NotFound:
        # the source vanished, or the replica did (compare-and-swap) - or a bucket is missing
        require_bucket(target, "target", fresh=True)
        require_bucket(source, "source", fresh=True)
        return None


# -- the event-shaped entry points of earlier versions (kept for callers and tests) -------------------
def sync_created(
    source: ObjectStore,
    key: str,
    target: ObjectStore,
    target_key: str,
    *,
    target_name: str,
    verify: bool = True,
    propagate_deletes: bool = True,
) -> Outcome:
    """Converge after a created event (a copy whose source vanished meanwhile is undone when deletes
    propagate)."""
    return converge(
        source,
        key,
        target,
        target_key,
        target_name=target_name,
        verify=verify,
        propagate_deletes=propagate_deletes,
        hint=Hint(kind="created"),
    )


def sync_deleted(source: ObjectStore, key: str, target: ObjectStore, target_key: str, *, target_name: str) -> Outcome:
    """Converge after a deleted event: remove our replica if the source is gone, else copy what is current."""
    return converge(source, key, target, target_key, target_name=target_name, hint=Hint(kind="deleted"))
