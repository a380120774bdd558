"""One storage-event model over every seed cloud's notifications.

``parse_events(payload)`` detects the envelope (S3 direct/SQS/SNS/EventBridge, Azure Event Grid, GCS
CloudEvents/Pub/Sub/legacy, Alibaba OSS, Tencent COS, OCI Events, IBM COS via Code Engine) and returns
:class:`StorageEvent` objects. Per-cloud detectors are registered in ``core.events.detect.REGISTRY``.
Nothing here imports a cloud SDK or the rest of ``core``, and every public function raises only
:class:`EventError`, so adapters can call it on every invocation at no cold-start cost.
"""

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
