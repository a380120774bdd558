"""The ``[monitoring]`` table of circle.toml, validated with errors that name the field.

[monitoring]
enabled = true                 # false: NULL monitor, no storage layer, no alerts
storage_metrics = true         # the per-request storage layer (StorageRequests/Latency/Bytes)
alert_budget_seconds = 3.0     # total time a flush may spend sending webhooks

[monitoring.thresholds]
window_seconds = 300           # failure window: one alert per (kind, key) per window
failed_replications = 1        # failures of one rule/target within a window before an alert
replication_lag_seconds = 900  # alarm: maximum lag over 5 minutes
queue_age_seconds = 600        # alarm: age of the oldest queued event
dlq_depth = 1                  # alarm: dead-lettered events waiting
errors = 1                     # alarm: function errors in 5 minutes
throttles = 1                  # alarm: throttled invocations in 5 minutes

[[monitoring.webhooks]]
url = "https://hooks.example.com/circle"
secret = "secret://vault/webhook-hmac"   # HMAC key (a reference; a literal is refused)
kinds = ["replication", "probe", "rotation"]  # optional filter (default: all)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from core.documents import ConfigError

__all__ = ["MonitoringSettings", "Thresholds", "Webhook", "parse_monitoring"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    window_seconds: float = 300.0
    failed_replications: int = 1
    replication_lag_seconds: float = 900.0
    queue_age_seconds: float = 600.0
    dlq_depth: int = 1
    errors: int = 1
    throttles: int = 1


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    secret: str | None = None  # a secret:// reference to the HMAC key
    kinds: tuple[str, ...] = ()  # empty: every kind

    def wants(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds

    def __repr__(self) -> str:  # the URL may carry a token in its query: show scheme and host only
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"Webhook({parts.scheme}://{parts.hostname}, kinds={list(self.kinds)})"


@dataclass(frozen=True, slots=True)
class MonitoringSettings:
    enabled: bool = True
    storage_metrics: bool = True
    alert_budget_seconds: float = 3.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    webhooks: tuple[Webhook, ...] = ()


_TOP = ("enabled", "storage_metrics", "alert_budget_seconds", "thresholds", "webhooks")
_HOOK = ("url", "secret", "kinds")


def parse_monitoring(raw: Any) -> MonitoringSettings | None:
    """The validated table, or None when circle.toml has no ``[monitoring]``."""
    if raw is None:
        return None
    where = "monitoring"
    _table(raw, where)
    _known(raw, _TOP, where)
    enabled = _typed(raw, "enabled", bool, True, where)
    storage = _typed(raw, "storage_metrics", bool, True, where)
    budget = _number(raw, "alert_budget_seconds", 3.0, where)
    thresholds = _thresholds(raw.get("thresholds", {}), f"{where}.thresholds")
    hooks_raw = raw.get("webhooks", [])
    if not isinstance(hooks_raw, list):
        raise ConfigError(f"{where}.webhooks: expected an array of tables")
    hooks = tuple(_webhook(h, f"{where}.webhooks[{i}]") for i, h in enumerate(hooks_raw))
    return MonitoringSettings(enabled, storage, budget, thresholds, hooks)


def _thresholds(raw: Any, where: str) -> Thresholds:
    _table(raw, where)
    names = tuple(f.name for f in fields(Thresholds))
    _known(raw, names, where)
    values: dict[str, Any] = {}
    for f in fields(Thresholds):
        if f.name in raw:
            value = _number(raw, f.name, 0, where)
            if f.type == "int":
                if value != int(value):
                    raise ConfigError(f"{where}.{f.name}: expected a whole number")
                value = int(value)
            values[f.name] = value
    return Thresholds(**values)


def _webhook(raw: Any, where: str) -> Webhook:
    _table(raw, where)
    _known(raw, _HOOK, where)
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigError(f"{where}.url: expected an http(s) URL")
    secret = raw.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret.startswith("secret://")):
        raise ConfigError(f"{where}.secret: expected a secret:// reference (the key itself never goes in the file)")
    kinds = raw.get("kinds", [])
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise ConfigError(f"{where}.kinds: expected an array of strings")
    return Webhook(url, secret, tuple(kinds))


def _table(raw: Any, where: str) -> None:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}")


def _known(raw: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(k for k in raw if k not in known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; expected some of {', '.join(known)}")


def _typed(raw: Mapping[str, Any], name: str, kind: type, default: Any, where: str) -> Any:
    value = raw.get(name, default)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _number(raw: Mapping[str, Any], name: str, default: float, where: str) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{name}: expected a non-negative number, got {value!r}")
    return value
