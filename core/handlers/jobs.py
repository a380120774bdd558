"""Scheduled jobs: one request shape for every platform's schedule or queue message, and the schedule
strings each platform wants.

A request is a JSON object: ``{"job": "reconcile" | "probe" | "fanout", "rule": ..., "range": {...},
"dry_run": false, "parallel": 8, "ranges": 8}``. EventBridge Scheduler passes it as the schedule's
input, an Azure timer function builds it from its name, Cloud Scheduler sends it as the Pub/Sub
message data or the HTTP body; fan-out messages are requests for one range.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import CircleError
from core.schedules import (  # noqa: F401 - re-exported: the schedule strings live with the configuration
    ScheduleError,
    cloud_scheduler_expression,
    eventbridge_expression,
    ncrontab_expression,
)

from .reconcile import RESERVE_SECONDS, KeyRange
from .sync import Deadline

log = logging.getLogger("circle.jobs")
JobName = Literal["reconcile", "probe", "fanout"]
JOBS: tuple[str, ...] = ("reconcile", "probe", "fanout")
REQUEST_FIELDS = ("job", "rule", "range", "dry_run", "parallel", "ranges", "attempt")
#: retry passes a range gets for keys that failed retryably (then they are dead-lettered)
RANGE_RETRIES = 1
PERMANENT = frozenset({"permanent", "configuration"})


class JobError(CircleError, ValueError):
    """A scheduled-job request that cannot be run as written (nothing was done)."""


@dataclass(frozen=True, slots=True)
class JobRequest:
    job: JobName
    rule: str | None = None
    key_range: KeyRange | None = None
    dry_run: bool = False
    parallel: int = 8
    ranges: int = 8
    attempt: int = 0  # retry passes of this range so far (see ``settle_range``)

    @classmethod
    def parse(cls, data: Any) -> JobRequest:
        if not isinstance(data, Mapping):
            raise JobError(f"a job request is a JSON object, not {type(data).__name__}")
        unknown = sorted(set(data) - set(REQUEST_FIELDS))
        if unknown:
            raise JobError(f"unknown job request field(s): {', '.join(unknown)}; known: {', '.join(REQUEST_FIELDS)}")
        job = data.get("job")
        if job not in JOBS:
            raise JobError(f"job must be one of {', '.join(JOBS)}, not {job!r}")
        rule = data.get("rule")
        if rule is not None and not isinstance(rule, str):
            raise JobError("rule must be a string")
        key_range = None
        if data.get("range") is not None:
            if not isinstance(data["range"], Mapping):
                raise JobError("range must be an object with after/until/name")
            try:
                key_range = KeyRange.from_dict(dict(data["range"]))
            except ValueError as exc:
                raise JobError(str(exc)) from None
        dry_run = data.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise JobError("dry_run must be true or false")
        numbers = {}
        for name in ("parallel", "ranges"):
            value = data.get(name, 8)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
                raise JobError(f"{name} must be an integer 1..1000")
            numbers[name] = value
        attempt = data.get("attempt", 0)
        if not isinstance(attempt, int) or isinstance(attempt, bool) or not 0 <= attempt <= 100:
            raise JobError("attempt must be an integer 0..100")
        return cls(job, rule, key_range, dry_run, numbers["parallel"], numbers["ranges"], attempt)  # type: ignore[arg-type]

    def as_message(self, **changes: Any) -> dict[str, Any]:
        """This request as a queue message (``changes`` override fields)."""
        message: dict[str, Any] = {
            "job": self.job,
            "rule": self.rule,
            "range": self.key_range.as_dict() if self.key_range is not None else None,
            "dry_run": self.dry_run,
            "parallel": self.parallel,
            "attempt": self.attempt,
        }
        message.update(changes)
        return message


def fanout_ranges(circle: Any, environ: Mapping[str, str] | None = None) -> int:
    """How many key ranges a scheduled reconciliation fans out per rule: ``CIRCLE_FANOUT_RANGES``, else
    ``[schedules] fanout_ranges``, else 1 (no fan-out)."""
    import os

    text = (environ if environ is not None else os.environ).get("CIRCLE_FANOUT_RANGES", "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            raise JobError(f"CIRCLE_FANOUT_RANGES must be an integer 1..1000, not {text!r}") from None
        if not 1 <= value <= 1000:
            raise JobError(f"CIRCLE_FANOUT_RANGES must be an integer 1..1000, not {value}")
        return value
    configured = getattr(getattr(circle.config, "schedules", None), "fanout_ranges", 1)
    return int(configured or 1)


def scheduled_request(
    circle: Any, request: JobRequest, *, queue: bool, environ: Mapping[str, str] | None = None
) -> JobRequest:
    """What a schedule's request runs on every platform: a whole-bucket reconciliation (no ``range``)
    becomes a fan-out of :func:`fanout_ranges` ranges per rule when that is more than 1 and the function
    has a jobs queue (without one: a WARNING, and the whole pass runs in this function). Range messages
    and other jobs run as they are."""
    if request.job != "reconcile" or request.key_range is not None:
        return request
    ranges = fanout_ranges(circle, environ)
    if ranges <= 1:
        return request
    if not queue:
        log.warning(
            "fan-out is configured but this function has no jobs queue: reconciling in one pass",
            extra={"ranges": ranges},
        )
        return request
    return JobRequest("fanout", request.rule, None, request.dry_run, request.parallel, ranges)


def run_job(
    circle: Any,
    request: JobRequest,
    *,
    deadline: Deadline | None = None,
    send: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Run one request and return its report as a dict (what the adapters log and return).

    The run is one handler invocation for monitoring (``hooks.invocation``: ``Invocations`` with
    ``handler`` = the job and ``outcome`` from :func:`outcome_of`, and ``InvocationDuration``); the
    adapter flushes the runtime's monitor once per platform invocation."""
    from core.monitoring import NULL
    from core.monitoring.hooks import invocation

    monitor = getattr(circle, "monitor", None) or NULL
    with invocation(monitor, request.job) as state:
        report = _run(circle, request, deadline=deadline, send=send)
        state["outcome"] = outcome_of(report)
    return report


def outcome_of(report: Mapping[str, Any]) -> str:
    """``ok``; ``retry``: a reconciliation that continues at the next invocation; ``failed``: a probe
    that found something down, or a pass with failed keys (``error``: the job raised)."""
    if report.get("job") == "probe":
        return "ok" if report.get("ok") else "failed"
    if report.get("complete") is False:
        return "retry"
    return "failed" if report.get("failed") else "ok"


def _run(
    circle: Any,
    request: JobRequest,
    *,
    deadline: Deadline | None,
    send: Callable[[list[dict[str, Any]]], None] | None,
) -> dict[str, Any]:
    if request.job == "probe":
        from .probe import probe

        return {"job": "probe", **probe(circle).as_dict()}
    if request.job == "fanout":
        if send is None:
            raise JobError("fan-out needs a queue: set CIRCLE_JOBS_QUEUE for this function")
        from .fanout import fan_out

        report = fan_out(circle, send, rule=request.rule, count=request.ranges, dry_run=request.dry_run)
        return {"job": "fanout", **report.as_dict()}
    from .reconcile import reconcile

    result = reconcile(
        circle,
        rule=request.rule,
        dry_run=request.dry_run,
        deadline=deadline,
        key_range=request.key_range,
        parallel=request.parallel,
    )
    return {"job": "reconcile", **result.as_dict()}


# -- settling a queued range (the same on every platform) ----------------------------------------------
Settlement = Literal["redeliver", "done"]


def settle_range(
    circle: Any,
    request: JobRequest,
    report: Mapping[str, Any],
    *,
    send: Callable[[list[dict[str, Any]]], None] | None,
) -> Settlement:
    """What a queue-triggered range reconciliation answers its queue.

    ``redeliver``: the pass did not finish; the queue gives the message back and the next invocation
    continues from the checkpoint. ``done``: acknowledge. A finished pass is never redelivered (that
    would start a whole new pass at every redelivery): keys that failed permanently or for configuration
    are dead-lettered (one record per rule and range) and logged; keys that failed retryably get
    ``RANGE_RETRIES`` new pass(es) of the range, sent as a new message with ``attempt`` + 1 (the keys that
    converged are skipped from the listings), then they are dead-lettered too."""
    if report.get("complete") is False:
        return "redeliver"
    if not report.get("failed") or request.job != "reconcile" or request.dry_run:
        return "done"
    retry = request.attempt < RANGE_RETRIES and send is not None
    retry_queued = False
    for rule in report.get("rules", []):
        if not rule.get("failed"):
            continue
        classes = {str(c): int(n) for c, n in dict(rule.get("failed_by_class", {})).items() if n}
        retryable = any(c not in PERMANENT for c in classes)
        if retry and retryable:
            retry_queued = True
            dead = [f for f in rule.get("failures", []) if f.get("class") in PERMANENT]
            if any(c in PERMANENT for c in classes):
                _dead_letter(circle, request, rule, dead, classes, final=False)
        else:
            _dead_letter(circle, request, rule, list(rule.get("failures", [])), classes, final=True)
    if retry_queued:
        assert send is not None
        send([request.as_message(attempt=request.attempt + 1)])
        log.warning(
            "key(s) of a range failed retryably: one more pass of the range is queued",
            extra={
                "rule": request.rule,
                "range": request.key_range.name if request.key_range else "all",
                "attempt": request.attempt + 1,
                "failed": report.get("failed"),
            },
        )
    return "done"


def _dead_letter(
    circle: Any,
    request: JobRequest,
    rule: Mapping[str, Any],
    failures: list[Any],
    classes: dict[str, int],
    *,
    final: bool,
) -> None:
    """One record per (rule, range) whose pass ended with failures that will not be retried (all of
    them when ``final``, else the permanent ones), keyed so a later pass of the range overwrites it."""
    import datetime as dt

    from core.storage.errors import redact

    from .checkpoint import slug

    kept = classes if final else {c: n for c, n in classes.items() if c in PERMANENT}
    range_name = str(rule.get("range", "all"))
    passes = f" after {request.attempt + 1} pass(es) of the range" if final else ""
    record = {
        "id": f"reconcile-{slug(str(rule.get('rule')))}-{slug(range_name)}",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "failure": next((c for c in ("configuration", "permanent") if c in kept), "retryable"),
        "reason": f"reconciliation of rule {rule.get('rule')} range {range_name}: "
        f"{sum(kept.values())} key(s) failed{passes}",
        "job": request.as_message(),
        "failed_by_class": kept,
        "failures": [{**f, "reason": redact(str(f.get("reason", "")))} for f in failures],
    }
    log.error(
        "reconcile: keys failed",
        extra={"rule": rule.get("rule"), "reason": record["reason"], "failed_by_class": kept},
    )
    try:
        sink = getattr(circle, "dead_letter", None)  # the runtime's sink (a property), None without one
        if sink is not None:
            sink.write(record)
    except Exception as exc:  # the ERROR line above stands for the record
        log.error("reconcile: the dead-letter record was not written: %s", type(exc).__name__)


# -- command line: ``python -m core.handlers.jobs`` (backfill of an existing bucket in one command) ----
def main(argv: list[str] | None = None) -> int:
    """``python -m core.handlers.jobs reconcile|probe [--config circle.toml] [--rule R] [--dry-run]``.

    ``reconcile`` runs passes of at most ``--budget`` seconds each (the same checkpoints a schedule uses)
    until the whole pass is complete, then prints the totals as JSON: a backfill of an existing bucket."""
    import argparse
    import json
    import os
    import sys
    import time

    parser = argparse.ArgumentParser(prog="python -m core.handlers.jobs", description=main.__doc__)
    parser.add_argument("job", choices=("reconcile", "probe"))
    parser.add_argument("--config", help="configuration file (default: CIRCLE_CONFIG)")
    parser.add_argument("--rule", help="only this replication rule (its name)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help=f"seconds per pass before a checkpoint (more than {RESERVE_SECONDS:g}: the time kept to finish "
        "what is in flight and write the checkpoint)",
    )
    args = parser.parse_args(argv)
    if args.job == "reconcile" and not args.budget > RESERVE_SECONDS:
        parser.error(
            f"--budget {args.budget:g} leaves no time for any key: a pass stops starting keys when "
            f"{RESERVE_SECONDS:g} s are left; give more than {RESERVE_SECONDS:g} (default 600)"
        )
    if args.config:
        os.environ["CIRCLE_CONFIG"] = args.config
    from .runtime import Circle

    circle = Circle.from_env()
    if args.job == "probe":
        report = run_job(circle, JobRequest("probe"))
        print(json.dumps(report, indent=2, default=str))
        return 0 if report.get("ok") else 1
    from .reconcile import reconcile

    totals: dict[str, int] = {name: 0 for name in ("scanned", "copied", "deleted", "skipped", "failed")}
    names = [args.rule] if args.rule else [r.name for r in circle.config.replication]
    for name in names:  # rule by rule: a rule that finished is not started again by another's next pass
        previous: str | None = None
        passes = 0
        while True:
            started = time.monotonic()

            def left(started: float = started) -> float:
                return float(args.budget) - (time.monotonic() - started)

            result = reconcile(circle, rule=name, dry_run=args.dry_run, parallel=args.parallel, deadline=left)
            passes += 1
            for count in totals:
                totals[count] += int(getattr(result, count))
            if result.complete or args.dry_run:
                break
            position = result.rules[0].resume_after if result.rules else None
            if passes > 1 and position == previous:  # no key done in a whole pass: it would repeat forever
                print(
                    f"reconcile of rule {name} made no progress in a {args.budget:g} s pass (stuck after "
                    f"{position!r}; listing or the next key takes longer than the budget): raise --budget",
                    file=sys.stderr,
                )
                print(json.dumps({"job": "reconcile", "dry_run": args.dry_run, "complete": False, **totals}, indent=2))
                return 2
            previous = position
    print(json.dumps({"job": "reconcile", "dry_run": args.dry_run, **totals}, indent=2))
    return 1 if totals.get("failed") else 0


if __name__ == "__main__":
    raise SystemExit(main())
