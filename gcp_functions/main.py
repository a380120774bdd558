"""functions-framework targets. Thin: turn the CloudEvent into a dict, call the core, raise on failure
(so Eventarc, deployed with ``--retry``, redelivers the event)."""

from __future__ import annotations

from typing import Any

import functions_framework
from cloudevents.http import CloudEvent

from core.handlers.storage_events import default_handler, handle_or_raise

__all__ = ["secret_rotation", "storage_event"]


def cloud_event_dict(event: CloudEvent) -> dict[str, Any]:
    """The structured-mode form of a CloudEvent (attributes plus ``data``), which core.events reads."""
    payload: dict[str, Any] = dict(event.get_attributes())
    payload["data"] = event.get_data()
    return payload


@functions_framework.cloud_event
def storage_event(cloud_event: CloudEvent) -> None:
    """``google.cloud.storage.object.v1.*`` events: replicate per the configured rules."""
    handle_or_raise(default_handler(), cloud_event_dict(cloud_event))


@functions_framework.cloud_event
def secret_rotation(cloud_event: CloudEvent) -> None:
    """Secret Manager ``SECRET_ROTATE`` messages (gcp_functions/rotation.py), imported on first call so
    the storage-event function's cold start does not pay for the rotation engine."""
    from gcp_functions import rotation

    rotation.secret_rotation(cloud_event)
