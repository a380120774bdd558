"""Dead-letter records: events that can never succeed (permanent or configuration failures) are written
down once, with the reason, and acknowledged so the platform stops redelivering them.

A sink is anything with ``write(record)``. The default one is a store (``[dead_letter] store``/``prefix``
in circle.toml): one JSON object per event, keyed by the event id so a redelivery overwrites its own
record instead of adding one. Records carry names, keys, stamps and the reason; never credentials.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from core.storage.errors import redact

if TYPE_CHECKING:
    from core.events import StorageEvent
    from core.storage import ObjectStore

    from .storage_events import EventResult

log = logging.getLogger("circle.replication")
MAX_PAYLOAD_CHARS = 64 * 1024  # an unreadable payload is kept (redacted) up to this size
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


class DeadLetterSink(Protocol):
    """Where permanent and configuration failures go (a store prefix, a queue...)."""

    def write(self, record: dict[str, Any]) -> None: ...


class StoreDeadLetterSink:
    """One JSON object per event under ``prefix`` in ``store``."""

    def __init__(self, store: ObjectStore, prefix: str = "dead-letter/") -> None:
        self.store = store
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def write(self, record: dict[str, Any]) -> None:
        body = json.dumps(record, sort_keys=True, default=str).encode("utf-8")
        self.store.put(self.key_for(record), body, content_type="application/json")

    def key_for(self, record: dict[str, Any]) -> str:
        return f"{self.prefix}{_UNSAFE.sub('_', str(record['id']))}.json"

    def __repr__(self) -> str:
        return f"StoreDeadLetterSink({self.store.url!r}, prefix={self.prefix!r})"


def event_record(result: EventResult, *, now: datetime | None = None) -> dict[str, Any]:
    """The dead-letter record of one event whose outcomes failed permanently or for configuration."""
    event = result.event
    failed = [o.as_dict() for o in result.outcomes if o.failure is not None]
    return {
        "id": event.event_id,
        "at": (now or datetime.now(UTC)).isoformat(),
        "failure": result.failure,
        "reason": "; ".join(f"{o['target']}/{o['key']}: {o['reason']}" for o in failed),
        "event": _event_fields(event),
        "outcomes": failed,
    }


def payload_record(payload: Any, reason: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The dead-letter record of a delivery that could not be read as storage events at all."""
    text = payload if isinstance(payload, str) else _text(payload)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return {
        "id": f"unparseable-{digest}",
        "at": (now or datetime.now(UTC)).isoformat(),
        "failure": "permanent",
        "reason": redact(reason),
        "payload": redact(text[:MAX_PAYLOAD_CHARS]),
        "truncated": len(text) > MAX_PAYLOAD_CHARS,
    }


def _text(payload: Any) -> str:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload).decode("utf-8", "replace")
    try:
        return json.dumps(payload, sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(payload)[:MAX_PAYLOAD_CHARS]


def _event_fields(event: StorageEvent) -> dict[str, Any]:
    return {
        "provider": event.provider,
        "kind": event.kind,
        "bucket": event.bucket,
        "key": event.key,
        "account": event.account,
        "version": event.version,
        "etag": event.etag,
        "sequencer": event.sequencer,
        "size": event.size,
        "event_time": event.event_time.isoformat() if event.event_time else None,
        "message_id": event.message_id,
    }
