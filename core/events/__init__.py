"""One storage-event model over S3 (direct, SQS, SNS, EventBridge), Azure Event Grid and GCS.

``parse_events(payload)`` detects the envelope and returns :class:`StorageEvent` objects; nothing
here imports a cloud SDK, so adapters can call it on every invocation at no cold-start cost.
"""

from core.events.detect import parse_batch, parse_cloudevent, parse_events, subscription_validation_code
from core.events.model import Batch, ControlMessage, EventError, RecordFailure, StorageEvent

__all__ = [
    "Batch",
    "ControlMessage",
    "EventError",
    "RecordFailure",
    "StorageEvent",
    "parse_batch",
    "parse_cloudevent",
    "parse_events",
    "subscription_validation_code",
]
