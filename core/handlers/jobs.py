"""Scheduled jobs: one request shape for every platform's schedule or queue message, and the schedule
strings each platform wants.

A request is a JSON object: ``{"job": "reconcile" | "probe" | "fanout", "rule": ..., "range": {...},
"dry_run": false, "parallel": 8, "ranges": 8}``. EventBridge Scheduler passes it as the schedule's
input, an Azure timer function builds it from its name, Cloud Scheduler sends it as the Pub/Sub
message data or the HTTP body; fan-out messages are requests for one range.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import CircleError

from .reconcile import KeyRange
from .sync import Deadline

JobName = Literal["reconcile", "probe", "fanout"]
JOBS: tuple[str, ...] = ("reconcile", "probe", "fanout")
REQUEST_FIELDS = ("job", "rule", "range", "dry_run", "parallel", "ranges")


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
        return cls(job, rule, key_range, dry_run, numbers["parallel"], numbers["ranges"])  # type: ignore[arg-type]


def run_job(
    circle: Any,
    request: JobRequest,
    *,
    deadline: Deadline | None = None,
    send: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Run one request and return its report as a dict (what the adapters log and return)."""
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


# -- schedule strings -------------------------------------------------------------------------------
_FIELD = re.compile(r"^[0-9*/,\-A-Za-z?]+$")


def _fields(cron: str) -> list[str]:
    parts = cron.split()
    if len(parts) != 5 or not all(_FIELD.match(p) for p in parts):
        raise JobError(f"{cron!r} is not a 5-field cron expression (minute hour day-of-month month day-of-week)")
    return parts


def eventbridge_expression(cron: str) -> str:
    """``*/15 * * * *`` -> ``cron(*/15 * * * ? *)`` (EventBridge Scheduler: 6 fields, one of day-of-month
    and day-of-week must be ``?``); ``rate(...)``/``cron(...)`` pass through."""
    if cron.startswith(("rate(", "cron(", "at(")):
        return cron
    minute, hour, dom, month, dow = _fields(cron)
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom = "?"
    else:
        raise JobError(f"{cron!r}: EventBridge cannot restrict both day-of-month and day-of-week")
    if dow not in ("?",) and dow.isdigit():
        dow = str(int(dow) % 7 + 1)  # cron 0=Sunday, EventBridge 1=Sunday
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def ncrontab_expression(cron: str) -> str:
    """``*/15 * * * *`` -> ``0 */15 * * * *`` (Azure Functions timer: seconds first)."""
    if cron.startswith(("rate(", "cron(", "at(")):
        raise JobError(f"{cron!r}: Azure timers need a cron expression")
    return "0 " + " ".join(_fields(cron))


def cloud_scheduler_expression(cron: str) -> str:
    """Cloud Scheduler takes unix cron as it is (validated here)."""
    if cron.startswith(("rate(", "cron(", "at(")):
        raise JobError(f"{cron!r}: Cloud Scheduler needs a unix cron expression")
    return " ".join(_fields(cron))
