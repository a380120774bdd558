"""Health probe (contract J1): is every configured store usable right now, and are its credentials?

For each store a canary object under the reserved prefix is written, read back, listed and deleted,
with the latency of each operation. Each ``secret://`` reference the configuration holds is read once
(a credential that cannot be read fails every store using it) and its expiry reported where the
secrets service tells one ("unknown" otherwise). One structured report; metrics ``ProbeLatency`` and
``ProbeFailed`` and an alert per failing store through the monitor (contract M1), at most once per
failure window per store (the monitor deduplicates too; the probe keeps its own window so an
alert hook without one is not flooded).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .checkpoint import RESERVED_PREFIX

log = logging.getLogger("circle.probe")
PROBE_PREFIX = RESERVED_PREFIX + "probe/"
OPERATIONS = ("write", "read", "list", "delete")
DEFAULT_WINDOW_SECONDS = 3600.0
Status = Literal["up", "down"]
AlertHook = Callable[..., None]


@dataclass
class StoreProbe:
    store: str
    url: str
    status: Status = "up"
    latency_ms: dict[str, float] = field(default_factory=dict)
    failed_operation: str | None = None
    error: str | None = None
    failure: str | None = None  # failure class (core.handlers.failures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "url": self.url,
            "status": self.status,
            "latency_ms": {k: round(v, 2) for k, v in self.latency_ms.items()},
            "failed_operation": self.failed_operation,
            "error": self.error,
            "failure": self.failure,
        }


@dataclass
class SecretProbe:
    reference: str  # secret://store/name (no field: the reference names no value)
    readable: bool
    expires: str | None = None  # ISO 8601, or None
    days_left: int | None = None
    expiry_known: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "readable": self.readable,
            "expires": self.expires,
            "days_left": self.days_left,
            "expiry": "known" if self.expiry_known else "unknown",
            "error": self.error,
        }


@dataclass
class ProbeReport:
    stores: list[StoreProbe] = field(default_factory=list)
    secrets: list[SecretProbe] = field(default_factory=list)
    alerts: int = 0  # alerts fired by this run
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.status == "up" for s in self.stores) and all(s.readable for s in self.secrets)

    @property
    def up(self) -> int:
        return sum(1 for s in self.stores if s.status == "up")

    @property
    def down(self) -> int:
        return sum(1 for s in self.stores if s.status == "down")

    def store(self, name: str) -> StoreProbe:
        return next(s for s in self.stores if s.store == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "up": self.up,
            "down": self.down,
            "alerts": self.alerts,
            "seconds": round(self.seconds, 3),
            "stores": [s.as_dict() for s in self.stores],
            "secrets": [s.as_dict() for s in self.secrets],
        }


class AlertWindow:
    """Remembers when each (kind, key) last alerted: one alert per failure window; a recovery re-arms it."""

    def __init__(self, window: float = DEFAULT_WINDOW_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def should_fire(self, kind: str, key: str) -> bool:
        now = self.clock()
        with self._lock:
            last = self._last.get((kind, key))
            if last is not None and now - last < self.window:
                return False
            self._last[(kind, key)] = now
            return True

    def recovered(self, kind: str, key: str) -> None:
        with self._lock:
            self._last.pop((kind, key), None)


def _windows(circle: Any) -> AlertWindow:
    """The runtime's alert window (kept on the Circle so warm invocations share it)."""
    window = getattr(circle, "_probe_alert_window", None)
    if window is None:
        schedules = getattr(circle.config, "schedules", None)
        window = AlertWindow(float(getattr(schedules, "alert_window_seconds", DEFAULT_WINDOW_SECONDS)))
        circle._probe_alert_window = window
    return window


def probe_store(name: str, store: Any, *, payload: bytes | None = None) -> StoreProbe:
    """Write, read, list and delete one canary under ``.circle/probe/``; the first failure stops it."""
    from .failures import classify

    result = StoreProbe(name, store.url)
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    body = payload or f"circle probe {datetime.now(UTC).isoformat()}".encode()

    def read() -> None:
        with store.get(key) as reader:
            if reader.read() != body:
                raise RuntimeError("the canary read back differs from what was written")

    def listed() -> None:
        page = store.list_page(PROBE_PREFIX, page_size=100)
        if not any(o.key == key for o in page.objects) and page.next_token is None:
            raise RuntimeError("the canary is missing from the listing")

    steps: list[tuple[str, Callable[[], object]]] = [
        ("write", lambda: store.put(key, body, content_type="text/plain")),
        ("read", read),
        ("list", listed),
        ("delete", lambda: store.delete(key)),
    ]
    for operation, step in steps:
        started = time.perf_counter()
        try:
            step()
        except Exception as exc:
            result.status = "down"
            result.failed_operation = operation
            result.error = f"{type(exc).__name__}: {exc}"
            result.failure = classify(exc)
            if operation != "write":  # best effort: leave no canary behind
                with contextlib.suppress(Exception):  # the store is already reported down
                    store.delete(key)
            return result
        finally:
            result.latency_ms[operation] = (time.perf_counter() - started) * 1000
    return result


def probe_secrets(circle: Any, now: datetime | None = None) -> list[SecretProbe]:
    """Read every secret the configuration references (once per secret) and report expiry if known."""
    from core.secrets import get_secret_store, parse_reference

    lookup = getattr(circle, "secret_store", get_secret_store)  # the runtime's own registry
    now = now or datetime.now(UTC)
    seen: dict[str, SecretProbe] = {}
    refs = circle.config.secret_references() if hasattr(circle.config, "secret_references") else ()
    for ref in refs:
        store_name, name, _ = parse_reference(ref)
        label = f"secret://{store_name}/{name}"
        if label in seen:
            continue
        try:
            secrets = lookup(store_name)
            secrets.get_secret(name)
        except Exception as exc:
            seen[label] = SecretProbe(label, False, error=type(exc).__name__)  # never the message: no values
            continue
        probe = SecretProbe(label, True)
        expires = _expiry(secrets, name)
        if expires is not None:
            probe.expires = expires.isoformat()
            probe.expiry_known = True
            probe.days_left = int((expires - now).total_seconds() // 86400)
        seen[label] = probe
    return list(seen.values())


def _expiry(secrets: Any, name: str) -> datetime | None:
    """When the secret expires, where the service tells: the backend's ``expiry(name)`` (Key Vault: the
    current version's ``expires``; Secret Manager: the secret's ``expire_time``; Secrets Manager: the
    next rotation date), else the current version's ``extra["expires"]``; None when unknown."""
    backend = getattr(secrets, "backend", None)
    expiry = getattr(backend, "expiry", None)
    if callable(expiry):
        try:
            when = expiry(name)
        except Exception:  # expiry is optional evidence: the value itself was readable
            return None
        if isinstance(when, datetime):
            return when if when.tzinfo else when.replace(tzinfo=UTC)
        return None
    try:
        versions = secrets.versions(name)
    except Exception:  # listing versions is optional evidence
        return None
    for version in versions:
        if "current" in version.stages or len(versions) == 1:
            text = version.extra.get("expires") if version.extra else None
            if text:
                try:
                    when = datetime.fromisoformat(text)
                except ValueError:
                    return None
                return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def probe(circle: Any, *, alert: AlertHook | None = None, stores: list[str] | None = None) -> ProbeReport:
    """Probe every configured store (or ``stores``) in parallel and every referenced secret.

    A store that is down alerts through ``circle.monitor.alert`` (or ``alert``, for callers without a
    monitor) once per failure window."""
    started = time.monotonic()
    names = stores if stores is not None else sorted(circle.config.stores)
    report = ProbeReport()

    def one(name: str) -> StoreProbe:
        try:
            store = circle.store(name)
        except Exception as exc:  # cannot even open (bad credentials, missing secret)
            from .failures import classify

            return StoreProbe(name, str(name), "down", {}, "open", f"{type(exc).__name__}: {exc}", classify(exc))
        return probe_store(name, store)

    with ThreadPoolExecutor(max(1, min(8, len(names))), thread_name_prefix="circle-probe") as pool:
        report.stores = list(pool.map(one, names))
    report.secrets = probe_secrets(circle)
    report.seconds = time.monotonic() - started
    _publish(circle, report, alert)
    return report


def _publish(circle: Any, report: ProbeReport, alert: AlertHook | None) -> None:
    monitor = getattr(circle, "monitor", None)
    windows = _windows(circle)
    hook = alert or (monitor.alert if monitor is not None else None)
    for s in report.stores:
        if monitor is not None:
            for operation, ms in s.latency_ms.items():
                monitor.timing("ProbeLatency", ms / 1000, store=s.store, operation=operation)
            monitor.count("ProbeFailed", 1 if s.status == "down" else 0, store=s.store)
        if s.status == "up":
            windows.recovered("probe", s.store)
            continue
        log.error(
            "probe: store is down",
            extra={"store": s.store, "operation": s.failed_operation, "failure": s.failure, "error": s.error},
        )
        if hook is not None and windows.should_fire("probe", s.store):
            hook("probe", s.store, f"store {s.store} is down: {s.failed_operation} failed: {s.error}", url=s.url)
            report.alerts += 1
    for secret in report.secrets:
        if not secret.readable:
            log.error("probe: secret cannot be read", extra={"secret": secret.reference, "error": secret.error})
            if hook is not None and windows.should_fire("probe-secret", secret.reference):
                hook("probe-secret", secret.reference, f"{secret.reference} cannot be read: {secret.error}")
                report.alerts += 1
    if monitor is not None:
        for secret in report.secrets:
            if secret.days_left is not None:
                monitor.gauge("SecretDaysToExpiry", secret.days_left, secret=secret.reference)
        monitor.event("probe", **report.as_dict())
    log.info("probe: done", extra={"up": report.up, "down": report.down, "probe": report.as_dict()})
