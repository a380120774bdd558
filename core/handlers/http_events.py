"""Storage events delivered as HTTP requests (Event Grid webhooks, CloudEvents in binary or structured
mode, Pub/Sub push): the webhook handshakes, then the runtime's storage-event handling.

Status codes tell the sender what to do: 200 done, nothing to do, or dead-lettered (acknowledged);
400 unreadable or failed for good, with no dead-letter sink (do not retry; Event Grid dead-letters
it); 500 not converged yet (retry). ``http_status`` maps any core error to its status, for every HTTP
entry point.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import Circle, Delivery
    from .storage_events import StorageEventHandler


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> str:
        return json.dumps(self.body)


def http_status(exc: BaseException) -> int:
    """The HTTP status for a core error: 4xx for what the caller must change, 5xx for the rest.

    An exception may name its own status with an ``http_status`` attribute (e.g. a rotation's failed
    test of a new credential is 502: the upstream service refused it).
    """
    own = getattr(exc, "http_status", None)
    if isinstance(own, int) and 100 <= own <= 599:
        return own
    from core.config import ConfigError
    from core.events import EventError
    from core.secrets.errors import (
        SecretNotFound,
        SecretsConflict,
        SecretsError,
        SecretsInvalidArgument,
        SecretsUnsupported,
    )
    from core.storage.errors import (
        AlreadyExists,
        InvalidArgument,
        InvalidKey,
        NotFound,
        PreconditionFailed,
        StorageError,
        Unsupported,
    )

    table: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int], ...] = (
        ((EventError, InvalidArgument, InvalidKey, SecretsInvalidArgument), 400),
        ((NotFound, SecretNotFound), 404),
        ((AlreadyExists, SecretsConflict), 409),
        (PreconditionFailed, 412),
        ((Unsupported, SecretsUnsupported), 501),
        (ConfigError, 500),
    )
    for kinds, status in table:
        if isinstance(exc, kinds):
            return status
    if isinstance(exc, SecretsError):
        # rotation errors, by name: importing core.secrets.rotation here would load the rotation engine
        names = {cls.__name__ for cls in type(exc).__mro__}
        if "RotationTestFailed" in names:
            return 502  # the new credential was refused by the service it is for
        if "RotationRefused" in names:
            return 403
    if isinstance(exc, StorageError | SecretsError):
        return 503 if getattr(exc, "retryable", False) else 500
    return 500


def error_answer(exc: BaseException, *, generic: str = "request failed") -> HttpAnswer:
    """An ``HttpAnswer`` for ``exc``: the error's own (redacted) reason for 4xx, ``generic`` for 5xx
    (server-side detail belongs in the log, not the answer)."""
    status = http_status(exc)
    reason = getattr(exc, "reason", None) or str(exc)
    return HttpAnswer(status, {"error": reason if status < 500 else generic})


def delivery_answer(delivery: Delivery) -> HttpAnswer:
    """200 when the delivery may be acknowledged, 500 when the sender should redeliver it, 400 when it
    failed for good and no dead-letter sink holds its record (Event Grid does not retry a 400: it
    dead-letters the event to the subscription's dead-letter destination, where one is configured)."""
    if delivery.status == "retry":
        status = 500
    elif delivery.status == "dead_letter" and not delivery.dead_lettered:
        status = 400
    else:
        status = 200
    body = {
        "ok": delivery.status != "retry",
        "status": delivery.status,
        "events": [r.as_dict() for r in delivery.results],
    }
    return HttpAnswer(status, body)


def handle_http_event(
    handler: Circle | StorageEventHandler, method: str, headers: Mapping[str, str], body: bytes
) -> HttpAnswer:
    """Answer one webhook request: handshakes first, then the events it carries."""
    from core.events import EventError, parse_cloudevent, subscription_validation_code  # first request

    circle: Circle = handler.circle if hasattr(handler, "circle") else handler  # type: ignore[assignment]
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
        delivery = circle.unreadable(body, exc)
        if not delivery.dead_lettered:
            return HttpAnswer(400, {"error": str(exc)})
        return HttpAnswer(200, {"ok": False, "status": delivery.status, "error": str(exc)})
    return delivery_answer(circle.handle_events(events))
