"""Storage events delivered as HTTP requests (Event Grid webhooks, CloudEvents in binary or structured
mode, Pub/Sub push): the webhook handshakes, then the shared storage-event handler.

Status codes tell the sender what to do: 200 done (or nothing to do), 400 unreadable (do not retry;
Event Grid dead-letters it), 500 not converged yet (retry).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.events import EventError, parse_cloudevent, subscription_validation_code

from .storage_events import StorageEventHandler


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> str:
        return json.dumps(self.body)


def handle_http_event(handler: StorageEventHandler, method: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
    """Answer one webhook request: handshakes first, then the events it carries."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if method.upper() == "OPTIONS" and "webhook-request-origin" in lowered:
        # CloudEvents 1.0 webhook abuse protection (Event Grid's CloudEvents-schema handshake).
        return HttpAnswer(
            200, {}, {"WebHook-Allowed-Origin": lowered["webhook-request-origin"], "WebHook-Allowed-Rate": "*"}
        )
    if lowered.get("aeg-event-type") == "SubscriptionValidation" or b"SubscriptionValidationEvent" in body[:4096]:
        code = subscription_validation_code(body)
        if code:
            return HttpAnswer(200, {"validationResponse": code})
    try:
        events = parse_cloudevent(lowered, body)
    except EventError as exc:
        return HttpAnswer(400, {"error": str(exc)})
    results = handler.handle_all(events)
    ok = all(r.ok for r in results)
    return HttpAnswer(200 if ok else 500, {"ok": ok, "events": [r.as_dict() for r in results]})
