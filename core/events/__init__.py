"""One storage-event model over every seed cloud's notifications.

``parse_events(payload)`` detects the envelope (S3 direct/SQS/SNS/EventBridge, Azure Event Grid, GCS
CloudEvents/Pub/Sub/legacy, Alibaba OSS, Tencent COS, OCI Events, IBM COS via Code Engine) and returns
:class:`StorageEvent` objects. Per-cloud detectors are registered in ``core.events.detect.REGISTRY``.
Nothing here imports a cloud SDK or the rest of ``core``, and every public function raises only
:class:`EventError`, so adapters can call it on every invocation at no cold-start cost.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.events.detect import (
        PROVIDERS,
        REGISTRY,
        parse_batch,
        parse_cloudevent,
        parse_events,
        subscription_validation_code,
    )
    from core.events.model import Batch, ControlMessage, EventError, RecordFailure, StorageEvent
    from core.events.registry import Detector, Registry, Scope

# Public names -> the submodule defining them, imported on first access (PEP 562): importing
# ``core.events`` (or ``core.events.model`` alone, for the types) does not build the detectors.
_LAZY = {
    **dict.fromkeys(
        ("PROVIDERS", "REGISTRY", "parse_batch", "parse_cloudevent", "parse_events", "subscription_validation_code"),
        "detect",
    ),
    **dict.fromkeys(("Batch", "ControlMessage", "EventError", "RecordFailure", "StorageEvent"), "model"),
    **dict.fromkeys(("Detector", "Registry", "Scope"), "registry"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "PROVIDERS",
    "REGISTRY",
    "Batch",
    "ControlMessage",
    "Detector",
    "EventError",
    "RecordFailure",
    "Registry",
    "Scope",
    "StorageEvent",
    "parse_batch",
    "parse_cloudevent",
    "parse_events",
    "subscription_validation_code",
]
