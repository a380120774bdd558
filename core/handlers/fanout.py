"""Scale past one function: split a bucket's key space into ranges, one queue message per range.

A scheduled invocation plans the ranges and sends one message per (rule, range) through the cloud's own
queue (SQS, an Azure Storage queue, Pub/Sub: the writers live in the adapters' ``scheduled`` modules);
each message starts one reconciliation invocation over that range with its own checkpoint, so the
platform's concurrency limit is the parallelism knob.

Ranges come from a listing sample: when the first ``sample_limit`` keys are the whole listing, the cut
points are its quantiles (even ranges); otherwise the key space after the prefix is cut at fixed
characters (even for hashed or random keys, a reasonable start for others), and the sampled keys
pick which of those cuts to keep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .reconcile import KeyRange
from .sync import ListingCounter, listing

log = logging.getLogger("circle.fanout")
SAMPLE_LIMIT = 10_000
#: candidate cut characters, in byte order (digits, upper case, lower case)
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
Send = Callable[[list[dict[str, Any]]], None]


def ranges_from_boundaries(boundaries: Iterable[str]) -> list[KeyRange]:
    """``(None, b1], (b1, b2], ..., (bn, None)`` named ``r000``, ``r001``, ... (sorted, deduplicated)."""
    cuts = sorted(set(boundaries))
    edges: list[str | None] = [None, *cuts, None]
    return [KeyRange(edges[i], edges[i + 1], f"r{i:03d}") for i in range(len(edges) - 1)]


def fixed_boundaries(prefix: str, count: int) -> list[str]:
    """``count - 1`` cut points ``prefix + c`` spread over ``ALPHABET``."""
    count = max(1, min(count, len(ALPHABET)))
    step = len(ALPHABET) / count
    return [prefix + ALPHABET[round(i * step) - 1] for i in range(1, count)]


def plan_ranges(
    store: Any,
    prefix: str = "",
    *,
    count: int = 8,
    sample_limit: int = SAMPLE_LIMIT,
    counter: ListingCounter | None = None,
) -> list[KeyRange]:
    """About ``count`` key ranges covering everything under ``prefix`` (see the module docstring)."""
    if count <= 1:
        return [KeyRange(name="r000")]
    sample: list[str] = []
    complete = True
    for info in listing(store, prefix, counter=counter):
        if len(sample) >= sample_limit:
            complete = False
            break
        sample.append(info.key)
    if complete:
        if len(sample) <= count:
            return ranges_from_boundaries(sample[:-1]) if len(sample) > 1 else [KeyRange(name="r000")]
        cuts = [sample[(i * len(sample)) // count - 1] for i in range(1, count)]
        return ranges_from_boundaries(cuts)
    return ranges_from_boundaries(fixed_boundaries(prefix, count))


def range_messages(rule: str, ranges: Iterable[KeyRange], *, dry_run: bool = False) -> list[dict[str, Any]]:
    """One job message per range (what a queue-triggered invocation runs)."""
    return [{"job": "reconcile", "rule": rule, "range": r.as_dict(), "dry_run": dry_run} for r in ranges]


@dataclass
class FanoutReport:
    rules: dict[str, int] = field(default_factory=dict)  # rule -> ranges sent
    messages: int = 0
    list_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"rules": dict(self.rules), "messages": self.messages, "list_requests": self.list_requests}


def fan_out(
    circle: Any,
    send: Send,
    *,
    rule: str | None = None,
    count: int = 8,
    dry_run: bool = False,
    batch: int = 10,
) -> FanoutReport:
    """Plan ranges for every rule (or ``rule``) and hand ``send`` the messages, ``batch`` at a time
    (10: the SQS and Azure batch-friendly size)."""
    report = FanoutReport()
    counter = ListingCounter()
    for r in circle.config.replication:
        if rule is not None and r.name != rule:
            continue
        ranges = plan_ranges(circle.store(r.source), r.prefix, count=count, counter=counter)
        messages = range_messages(r.name, ranges, dry_run=dry_run)
        for i in range(0, len(messages), batch):
            send(messages[i : i + batch])
        report.rules[r.name] = len(messages)
        report.messages += len(messages)
    report.list_requests = counter.requests
    log.info("fan-out: range messages sent", extra={"messages": report.messages, "fanout": report.as_dict()})
    return report
