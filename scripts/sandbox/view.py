"""What the sandbox shows: counters fed by the hosts' reports, the watchers and the demo's checks,
printed as progress lines while it runs and as a summary at the end."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, TextIO

CLOUDS = ("aws", "azure", "gcp")


@dataclass
class Expectation:
    """One change on one cloud and what it should become on one other cloud."""

    source: str
    key: str
    target: str
    target_key: str
    body: bytes | None  # None: the replica must be gone
    what: str  # "created", "overwritten", "deleted"
    written_at: float
    seen_at: float | None = None

    @property
    def lag(self) -> float | None:
        return None if self.seen_at is None else self.seen_at - self.written_at


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    deliveries: Counter[str] = field(default_factory=Counter)  # messages/requests handed to each function
    failed_deliveries: Counter[str] = field(default_factory=Counter)
    actions: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    probe_counts: Counter[str] = field(default_factory=Counter)  # "up" / "down" per probed store or secret
    http: list[str] = field(default_factory=list)
    show_outcomes: bool = False  # after the demo (--forever): one line per replica made
    printer: Any = None  # the dashboard's console.print while it runs (lines then scroll above it)
    lock: threading.Lock = field(default_factory=threading.Lock)
    out: TextIO = sys.stdout

    def say(self, line: str) -> None:
        text = f"[{time.monotonic() - self.started:6.1f}s] {line}"
        if self.printer is not None:
            self.printer(text, markup=False, highlight=False, soft_wrap=True)
            return
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def report(self, kind: str, **msg: Any) -> None:
        """One report from a host process or a watcher (see report.py)."""
        cloud = str(msg.get("cloud", "?"))
        if kind == "batch":
            with self.lock:
                self.deliveries[cloud] += int(msg.get("messages", 0))
                self.failed_deliveries[cloud] += len(msg.get("failed", []))
            if msg.get("failed"):
                reason = msg.get("reason") or "see the host's log"
                self.failure(f"{cloud}: {len(msg['failed'])} delivery(ies) not acknowledged: {reason}")
        elif kind == "outcome":
            for outcome in msg.get("outcomes", []):
                with self.lock:
                    self.actions[cloud][outcome["action"]] += 1
                if outcome.get("failure"):
                    self.failure(
                        f"{cloud}: {msg.get('key')} -> {outcome['target']}: {outcome['failure']}: {outcome['reason']}"
                    )
                elif self.show_outcomes and outcome["action"] in ("copied", "deleted"):
                    self.say(f"{cloud} function: {msg.get('key')} {outcome['action']} -> {outcome['target']}")
        elif kind == "watcher_error":
            self.failure(f"{cloud} event stand-in: {msg.get('reason')}")
        elif kind == "ready":
            self.say(f"{cloud} function host ready (pid {msg.get('pid')})")

    def failure(self, line: str) -> None:
        with self.lock:
            self.failures.append(line)
        self.say(f"FAILURE {line}")

    def probe(self, line: str, up: bool | None = None) -> None:
        """One probe result: kept for the summary and printed at once (above the dashboard on a terminal);
        ``up`` (None: not a store or secret) feeds the live counters."""
        with self.lock:
            self.probes.append(line)
            if up is not None:
                self.probe_counts["up" if up else "down"] += 1
        self.say(f"probe: {line}")

    def probe_text(self) -> str:
        with self.lock:
            if not self.probe_counts:
                return "probe -"
            return f"probe up {self.probe_counts['up']} down {self.probe_counts['down']}"

    def seen(self, e: Expectation) -> None:
        arrow = "deleted from" if e.body is None else "->"
        self.say(f"replicated {e.source}:{e.key} ({e.what}) {arrow} {e.target}:{e.target_key} in {e.lag:.1f}s")

    def unreported(self) -> dict[str, Counter[str]]:
        """Per source cloud, the copies and deletes its function has not reported yet. A replica is
        visible before the function that wrote it logs its outcome line (and before that line has come
        through the pipe or the log file), so the summary waits for these to reach zero."""
        with self.lock:
            wanted: dict[str, Counter[str]] = defaultdict(Counter)
            for e in self.expectations:
                wanted[e.source]["deleted" if e.body is None else "copied"] += 1
            return {
                cloud: missing
                for cloud, counts in wanted.items()
                if (missing := Counter({k: n - self.actions[cloud][k] for k, n in counts.items()}) - Counter())
            }

    def lags(self) -> list[float]:
        return [e.lag for e in self.expectations if e.lag is not None]

    def progress(self) -> str:
        with self.lock:
            done = sum(1 for e in self.expectations if e.seen_at is not None)
            events = " ".join(f"{c} {self.deliveries[c]}" for c in CLOUDS)
            copied = sum(a["copied"] for a in self.actions.values())
            deleted = sum(a["deleted"] for a in self.actions.values())
            failed = len(self.failures)
        lags = self.lags()
        lag = f"lag p50 {statistics.median(lags):.1f}s max {max(lags):.1f}s" if lags else "lag -"
        return (
            f"events {events} | replicas {done}/{len(self.expectations)} | copied {copied} deleted {deleted}"
            f" | failures {failed} | {lag} | {self.probe_text()}"
        )

    def summary(self) -> tuple[str, bool]:
        """The end-of-run text and whether every expected replica was seen."""
        lines = ["", "== summary =="]
        lines.append("events delivered to each cloud's function (all kinds, replicas' own events included):")
        for cloud in CLOUDS:
            acts = ", ".join(f"{k} {v}" for k, v in sorted(self.actions[cloud].items())) or "none"
            lines.append(
                f"  {cloud:5} {self.deliveries[cloud]:3} delivered, {self.failed_deliveries[cloud]} not acknowledged;"
                f" outcomes: {acts}"
            )
        lines.append("changes written by the demo and their replicas on the other two clouds:")
        by_change: dict[tuple[str, str, str], list[Expectation]] = defaultdict(list)
        for e in self.expectations:
            by_change[(e.source, e.key, e.what)].append(e)
        for (source, key, what), items in by_change.items():
            parts = [
                f"{e.target}:{e.target_key} " + (f"ok {e.lag:.1f}s" if e.lag is not None else "MISSING") for e in items
            ]
            lines.append(f"  {source}:{key} {what:11} -> " + ", ".join(parts))
        ok = bool(self.expectations) and all(e.seen_at is not None for e in self.expectations)
        lags = self.lags()
        if lags:
            lines.append(f"lag: median {statistics.median(lags):.2f}s, max {max(lags):.2f}s over {len(lags)} replicas")
        for line in self.failures:
            lines.append(f"failure: {line}")
        for line in self.probes:
            lines.append(f"probe: {line}")
        for line in self.http:
            lines.append(f"http api: {line}")
        sources = sorted({e.source for e in self.expectations if e.seen_at is not None})
        if ok:
            lines.append(
                f"RESULT: all {len(self.expectations)} replicas converged; every change on "
                f"{', '.join(sources)} reached the other two clouds through the real adapters"
            )
        else:
            missing = sum(1 for e in self.expectations if e.seen_at is None)
            lines.append(f"RESULT: {missing} of {len(self.expectations)} replicas did not converge")
        return "\n".join(lines), ok
