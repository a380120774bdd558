"""Reconciliation (anti-entropy and backfill, contract J1): make every replica converge, whatever
events were lost, late or never sent (objects that existed before the deployment).

For each replication rule the source and all its targets are listed in key order, page by page, and
walked side by side (``core.handlers.sync.merge_join``). A key missing from a target, different there
(stale), or only there (extra, when the rule propagates deletes) gets the same per-key convergence the
event handler runs (``core.handlers.replication.converge``), on a bounded pool of threads. A key the
listings show missing is written straight away (``write_listed``: create-only, pinned to the listed
ETag), and its copy is confirmed with others in a batch (``core.handlers.confirm``: one listing of the
source instead of a HEAD each).

The pass is resumable: every few thousand keys, and when the deadline comes near, the position below
which everything is done is written to ``.circle/checkpoints/<rule>/<range>.json``; the next
invocation continues there. A key range (``KeyRange``) lets a fan-out split one bucket across many
invocations, each with its own checkpoint.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.storage import StorageError

from .checkpoint import Checkpoint, CheckpointStore
from .confirm import Confirmations, Unconfirmed
from .failures import ReplicationFailure
from .replication import Outcome, consistency_of, converge, write_listed
from .sync import Deadline, LargeGate, ListingCounter, OrderedRunner, listing, merge_join, same_content, time_left

if TYPE_CHECKING:
    from core.config import ReplicationRule
    from core.storage import ObjectInfo, ObjectStore

log = logging.getLogger("circle.reconcile")
CHECKPOINT_EVERY_KEYS = 2000
CHECKPOINT_EVERY_SECONDS = 15.0
RESERVE_SECONDS = 3.0  # stop starting keys with this much time left (finish in-flight, write the checkpoint)
_Todo = tuple[str, "ObjectStore", "ObjectInfo | None", bool]  # target name, store, source object, replica listed absent
_Done = tuple["Outcome | Unconfirmed", "ObjectInfo | None"]
COUNTS = ("scanned", "copied", "deleted", "skipped", "failed")


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Keys in ``(after, until]`` (None: open end), compared relative to the source store."""

    after: str | None = None
    until: str | None = None
    name: str = "all"

    def contains(self, key: str) -> bool:
        return (self.after is None or key > self.after) and (self.until is None or key <= self.until)

    def as_dict(self) -> dict[str, Any]:
        return {"after": self.after, "until": self.until, "name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRange:
        after, until, name = data.get("after"), data.get("until"), data.get("name", "all")
        for value, what in ((after, "after"), (until, "until")):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"key range {what} must be a string or null")
        if not isinstance(name, str) or not name:
            raise ValueError("key range name must be a non-empty string")
        return cls(after, until, name)


@dataclass
class RuleReport:
    """One rule (and key range) in one invocation; ``pass_counts`` add up every invocation of the pass."""

    rule: str
    range: str
    scanned: int = 0
    copied: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0
    failed_by_class: dict[str, int] = field(default_factory=dict)
    lag_seconds_max: float = 0.0
    list_requests: int = 0
    complete: bool = False
    resume_after: str | None = None
    pass_counts: dict[str, int] = field(default_factory=dict)
    invocations: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    planned: list[dict[str, str]] = field(default_factory=list)

    MAX_LISTED = 100

    def counts(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in COUNTS}

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "range": self.range,
            **self.counts(),
            "failed_by_class": dict(self.failed_by_class),
            "lag_seconds_max": round(self.lag_seconds_max, 3),
            "list_requests": self.list_requests,
            "complete": self.complete,
            "resume_after": self.resume_after,
            "pass_counts": dict(self.pass_counts),
            "invocations": self.invocations,
            "failures": list(self.failures),
            "planned": list(self.planned),
        }


@dataclass
class ReconcileReport:
    """Every rule's report; totals as integers. ``complete``: every pass reached its end."""

    rules: list[RuleReport] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.rules)

    @property
    def scanned(self) -> int:
        return self.total("scanned")

    @property
    def copied(self) -> int:
        return self.total("copied")

    @property
    def deleted(self) -> int:
        return self.total("deleted")

    @property
    def skipped(self) -> int:
        return self.total("skipped")

    @property
    def failed(self) -> int:
        return self.total("failed")

    @property
    def list_requests(self) -> int:
        return self.total("list_requests")

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.rules)

    def failed_by_class(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rules:
            for k, v in r.failed_by_class.items():
                out[k] = out.get(k, 0) + v
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
            **{name: self.total(name) for name in COUNTS},
            "failed_by_class": self.failed_by_class(),
            "list_requests": self.list_requests,
            "rules": [r.as_dict() for r in self.rules],
        }


def reconcile(
    circle: Any,
    *,
    rule: str | None = None,
    dry_run: bool = False,
    deadline: Deadline | None = None,
    key_range: KeyRange | None = None,
    parallel: int = 8,
    reserve: float = RESERVE_SECONDS,
    checkpoint_store: str | None = None,
) -> ReconcileReport:
    """Reconcile every replication rule (or the one named ``rule``) within ``key_range``.

    ``deadline()`` returns the seconds left; keys stop being started when ``reserve`` remain. Without
    ``dry_run`` the pass position is checkpointed in ``checkpoint_store`` (default: ``[schedules]
    checkpoint_store``, else each rule's source store). ``dry_run`` writes nothing, not even checkpoints."""
    started = time.monotonic()
    rules = [r for r in circle.config.replication if rule is None or r.name == rule]
    if rule is not None and not rules:
        from core.documents import ConfigError

        raise ConfigError(f"reconcile: no replication rule is named {rule!r}")
    report = ReconcileReport(dry_run=dry_run)
    scope = key_range or KeyRange()
    store_name = checkpoint_store or _configured_checkpoint_store(circle)
    for r in rules:
        checkpoints = None if dry_run else CheckpointStore(circle.store(store_name or r.source))
        report.rules.append(_reconcile_rule(circle, r, scope, checkpoints, dry_run, deadline, parallel, reserve))
    report.seconds = time.monotonic() - started
    _emit(circle, report)
    return report


def _configured_checkpoint_store(circle: Any) -> str | None:
    schedules = getattr(circle.config, "schedules", None)
    return getattr(schedules, "checkpoint_store", None)


def _reconcile_rule(
    circle: Any,
    rule: ReplicationRule,
    scope: KeyRange,
    checkpoints: CheckpointStore | None,
    dry_run: bool,
    deadline: Deadline | None,
    parallel: int,
    reserve: float,
) -> RuleReport:
    source: ObjectStore = circle.store(rule.source)
    targets: list[tuple[str, ObjectStore]] = [(name, circle.store(name)) for name in rule.targets]
    rep = RuleReport(rule.name, scope.name)
    checkpoint = checkpoints.load(rule.name, scope.name) if checkpoints is not None else None
    if checkpoint is None or checkpoint.complete:
        checkpoint = Checkpoint(rule.name, scope.name, after=scope.after)
    checkpoint.invocations += 1
    rep.invocations = checkpoint.invocations
    counter = ListingCounter()
    after = checkpoint.after
    streams = [listing(source, rule.prefix, after=after, until=scope.until, counter=counter)]
    for _, store in targets:
        streams.append(
            listing(
                store,
                rule.target_prefix + rule.prefix,
                after=after,
                until=scope.until,
                strip=rule.target_prefix,
                counter=counter,
            )
        )

    def count(key: str, outcome: Outcome, src: ObjectInfo | None) -> None:
        if outcome.action == "copied":
            rep.copied += 1
            if src is not None and src.last_modified is not None:
                lag = max(0.0, time.time() - src.last_modified.timestamp())
                rep.lag_seconds_max = max(rep.lag_seconds_max, lag)
                _timing(circle, "ReplicationLag", lag, rule=rule.name, target=outcome.target)
        elif outcome.action == "deleted":
            rep.deleted += 1
        elif outcome.action == "skipped":
            rep.skipped += 1
        else:
            rep.failed += 1
            cls = outcome.failure or "retryable"
            rep.failed_by_class[cls] = rep.failed_by_class.get(cls, 0) + 1
            if len(rep.failures) < rep.MAX_LISTED:
                rep.failures.append({"key": key, "target": outcome.target, "class": cls, "reason": outcome.reason})

    confirmations = Confirmations(source, rule.prefix, counter)

    def record(key: str, outcomes: list[_Done]) -> None:
        for outcome, src in outcomes:
            if isinstance(outcome, Unconfirmed):
                confirmations.add(outcome)
            else:
                count(key, outcome, src)
        for item, final in confirmations.ready():
            count(item.key, final, item.source)

    def settle() -> None:
        for item, final in confirmations.settle():
            count(item.key, final, item.source)

    gate = LargeGate()

    def work(key: str, todo: list[_Todo], previous: str | None, position: int) -> list[_Done]:
        done: list[_Done] = []
        for name, store, src, absent in todo:
            target_key = rule.target_key(key)
            full = functools.partial(
                converge,
                source,
                key,
                store,
                target_key,
                target_name=name,
                propagate_deletes=rule.propagate_deletes,
                verify=rule.verify,
            )
            if absent and src is not None:  # the listings showed the replica absent: write, confirm in a batch
                listed = functools.partial(_copy_listed, source, key, store, target_key, src, rule.verify)
                written = gate.run(src.size, listed)
                if written:
                    mode = consistency_of(store, propagate_deletes=rule.propagate_deletes)
                    copied = Outcome(name, target_key, "copied", f"source etag {src.etag}", None, mode)
                    done.append((Unconfirmed(key, previous, position, src, copied, full), src))
                    continue
            done.append((gate.run(src.size if src is not None else 0, full), src))
        return done

    runner: OrderedRunner[list[_Done]] = OrderedRunner(parallel, record)
    since_save, last_save = 0, time.monotonic()
    finished = True
    previous: str | None = after  # the key scanned before this one: confirmations list from there
    try:
        for position, (key, row) in enumerate(merge_join(streams)):
            if not time_left(deadline, reserve):
                finished = False
                break
            if not rule.matches(key):
                runner.skip(key)
                previous = key
                continue
            rep.scanned += 1
            src = row[0]
            todo: list[_Todo] = []
            for (name, store), replica in zip(targets, row[1:], strict=True):
                if src is not None and replica is not None and same_content(src, replica):
                    rep.skipped += 1
                elif src is None and (replica is None or not rule.propagate_deletes):
                    continue  # absent on both sides, or an extra object and this rule never deletes
                else:
                    todo.append((name, store, src, replica is None))
                    if dry_run and len(rep.planned) < rep.MAX_LISTED:
                        kind = "missing" if replica is None else "extra" if src is None else "stale"
                        rep.planned.append({"key": key, "target": name, "kind": kind})
            if dry_run:
                for _, _, s, _ in todo:
                    if s is None:
                        rep.deleted += 1
                    else:
                        rep.copied += 1
                runner.skip(key)
            elif todo:
                runner.submit(key, functools.partial(work, key, todo, previous, position))
            else:
                runner.skip(key)
            previous = key
            since_save += 1
            if checkpoints is not None and (
                since_save >= CHECKPOINT_EVERY_KEYS or time.monotonic() - last_save > CHECKPOINT_EVERY_SECONDS
            ):
                watermark = runner.watermark or after
                settle()  # a checkpoint never covers a copy not yet confirmed
                _save(checkpoints, checkpoint, watermark, rep, complete=False)
                since_save, last_save = 0, time.monotonic()
    finally:
        runner.drain()
        settle()
        confirmations.close()
    rep.list_requests = counter.requests
    rep.complete = finished
    rep.resume_after = None if finished else runner.watermark or after
    if checkpoints is not None:
        _save(checkpoints, checkpoint, rep.resume_after, rep, complete=finished)
    rep.pass_counts = _add(checkpoint.counts, rep) if checkpoints is not None else rep.counts()
    log.info(
        "reconciled a rule",
        extra={
            "rule": rule.name,
            "range": scope.name,
            "complete": finished,
            "resume_after": rep.resume_after,
            "reconcile": rep.as_dict() | {"failures": len(rep.failures), "planned": len(rep.planned)},
        },
    )
    return rep


def _copy_listed(
    source: ObjectStore, key: str, target: ObjectStore, target_key: str, src: ObjectInfo, verify: bool
) -> bool:
    """``write_listed``; False when it did not write (the full convergence then decides, and classifies
    any failure)."""
    try:
        return write_listed(source, key, target, target_key, src, verify=verify) is not None
    except (StorageError, ReplicationFailure):
        return False


def _add(base: dict[str, int], rep: RuleReport) -> dict[str, int]:
    return {name: base.get(name, 0) + value for name, value in rep.counts().items()}


def _save(
    checkpoints: CheckpointStore, checkpoint: Checkpoint, after: str | None, rep: RuleReport, *, complete: bool
) -> None:
    """Write the position with the pass's counts so far (the invocation's counts added once, at the end)."""
    saved = Checkpoint(
        checkpoint.rule,
        checkpoint.range,
        after=after,
        complete=complete,
        counts=_add(checkpoint.counts, rep),
        started=checkpoint.started,
        invocations=checkpoint.invocations,
    )
    try:
        checkpoints.save(saved)
    except Exception as exc:  # a lost checkpoint costs repeated work, never correctness
        log.warning(
            "writing the reconcile checkpoint failed",
            extra={"rule": checkpoint.rule, "error": type(exc).__name__, "reason": str(exc)},
        )


# -- metrics (contract M1, when the runtime has a monitor) ----------------------------------------------
def _monitor(circle: Any) -> Any:
    return getattr(circle, "monitor", None)


def _timing(circle: Any, name: str, seconds: float, **dims: str) -> None:
    monitor = _monitor(circle)
    if monitor is not None:
        monitor.timing(name, seconds, **dims)


def _emit(circle: Any, report: ReconcileReport) -> None:
    monitor = _monitor(circle)
    if monitor is None or report.dry_run:
        return
    for r in report.rules:
        for name in COUNTS:
            monitor.count(f"Reconcile{name.capitalize()}", int(getattr(r, name)), rule=r.rule)
    monitor.event("reconcile", **report.as_dict())
