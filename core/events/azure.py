"""Azure Blob Storage events from Event Grid, in the Event Grid schema or the CloudEvents 1.0 schema.

Container and blob come from ``subject`` (``/blobServices/default/containers/<c>/blobs/<path>``),
not from ``data.url``: the two disagree in Microsoft's own sample, and the subject is what Event Grid
filters on. The account name comes from ``topic`` (Event Grid) or ``source`` (CloudEvents).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from core.events.model import (
    ControlMessage,
    EventError,
    Kind,
    StorageEvent,
    as_dict,
    brief,
    change_id,
    opt_text,
    parse_time,
    text,
    to_size,
    unquote_etag,
)
from core.events.registry import Detector, Scope

_TYPES: dict[str, Kind] = {
    "Microsoft.Storage.BlobCreated": "created",
    "Microsoft.Storage.BlobDeleted": "deleted",
    "Microsoft.Storage.BlobTierChanged": "other",
    "Microsoft.Storage.BlobRenamed": "other",
    "Microsoft.Storage.AsyncOperationInitiated": "other",
    "Microsoft.Storage.DirectoryCreated": "other",
    "Microsoft.Storage.DirectoryDeleted": "other",
    "Microsoft.Storage.DirectoryRenamed": "other",
}

# Storage events that are about a policy run or the account, not one blob: no StorageEvent.
_ACCOUNT_LEVEL = frozenset(
    {
        "Microsoft.Storage.LifecyclePolicyCompleted",
        "Microsoft.Storage.BlobInventoryPolicyCompleted",
    }
)

VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
CONTROL_TYPES = frozenset({VALIDATION, "Microsoft.EventGrid.SubscriptionDeletedEvent"}) | _ACCOUNT_LEVEL

_SUBJECT_PREFIX = "/blobServices/default/containers/"


def is_storage_type(event_type: str) -> bool:
    """True for the ``Microsoft.Storage.*`` types this module turns into StorageEvents."""
    return event_type in _TYPES


def blob_event(ev: dict[str, Any], where: str, envelope: str, cloudevents: bool) -> StorageEvent:
    """One Event Grid (``cloudevents=False``) or CloudEvents-schema blob event."""
    p = f"{where}." if where else ""
    type_field, time_field, origin_field = (
        ("type", "time", "source") if cloudevents else ("eventType", "eventTime", "topic")
    )
    event_type = text(ev.get(type_field), f"{p}{type_field}")
    assert event_type is not None
    data = as_dict(ev.get("data"), f"{p}data")
    subject = ev.get("subject")
    container, blob = _from_subject(subject) if type(subject) is str else (None, None)
    if container is None or not blob:
        container, blob = _from_url(data.get("url"), f"{p}data.url", f"{p}subject")
    origin = opt_text(ev.get(origin_field), f"{p}{origin_field}")
    account = _account(origin) or _account_from_url(data.get("url"))
    sequencer = opt_text(data.get("sequencer"), f"{p}data.sequencer")
    request_id = opt_text(data.get("requestId"), f"{p}data.requestId")
    event_id_field = opt_text(ev.get("id"), f"{p}id")
    kind: Kind = _TYPES.get(event_type, "other")
    version = opt_text(data.get("versionId"), f"{p}data.versionId")
    return StorageEvent(
        provider="azure",
        kind=kind,
        bucket=container,
        key=blob,
        event_time=parse_time(ev.get(time_field), f"{p}{time_field}"),
        # sequencer orders changes per blob and is kept on redelivery and across both schemas;
        # requestId, then the Event Grid id, stand in when a (rare) event has no sequencer.
        event_id=change_id("azure", account, container, blob, sequencer or request_id or event_id_field, kind),
        size=to_size(data.get("contentLength"), f"{p}data.contentLength"),
        etag=unquote_etag(data.get("eTag"), f"{p}data.eTag"),
        version=version,
        sequencer=sequencer,
        account=account,
        region=None,
        name=event_type.removeprefix("Microsoft.Storage."),
        message_id=event_id_field,
        envelope=envelope,
        raw=ev,
    )


def _from_subject(subject: str) -> tuple[str | None, str | None]:
    """``/blobServices/default/containers/<c>/blobs/<path>`` -> (c, path); blob names are not encoded."""
    if not subject.startswith(_SUBJECT_PREFIX):
        return None, None
    rest = subject[len(_SUBJECT_PREFIX) :]
    container, sep, tail = rest.partition("/blobs/")
    if not sep or not container or "/" in container:
        return None, None
    return container, tail


def _from_url(url: Any, where: str, subject_where: str) -> tuple[str, str]:
    """Fallback when the subject is absent or not a blob subject: ``https://acct.blob.../c/path``."""
    if type(url) is not str or not url:
        raise EventError("missing or not a blob subject, and data.url is missing", subject_where)
    try:
        path = urlsplit(url).path.lstrip("/")
    except ValueError:  # "https://[x/..." (an unclosed IPv6 literal)
        raise EventError(f"is not a URL: {brief(url)}", where) from None
    container, _, blob = path.partition("/")
    if not container or not blob:
        raise EventError(f"does not name a container and blob: {url[:80]!r}", where)
    return container, unquote(blob)


def _account(origin: str | None) -> str | None:
    """The storage account name from ``.../providers/Microsoft.Storage/storageAccounts/<name>``."""
    if not origin:
        return None
    marker = "/storageAccounts/"
    i = origin.find(marker)
    if i < 0:
        return None
    return origin[i + len(marker) :].split("/", 1)[0] or None


def _account_from_url(url: Any) -> str | None:
    if type(url) is not str:
        return None
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    return host.split(".", 1)[0] or None if ".blob." in host or ".dfs." in host else None


def validation_code(ev: dict[str, Any]) -> str | None:
    """``data.validationCode`` of a SubscriptionValidationEvent (either schema), else None."""
    if ev.get("eventType") != VALIDATION and ev.get("type") != VALIDATION:
        return None
    data = ev.get("data")
    code = data.get("validationCode") if type(data) is dict else None
    return code if type(code) is str and code else None


# The blob API call behind a change, for inputs that lost the event type: the Python Event Grid trigger
# reads only Event Grid-schema fields, so with a CloudEvents-schema subscription type and time are None.
_API_TYPES = {
    "PutBlob": "Microsoft.Storage.BlobCreated",
    "PutBlockList": "Microsoft.Storage.BlobCreated",
    "CopyBlob": "Microsoft.Storage.BlobCreated",
    "FlushWithClose": "Microsoft.Storage.BlobCreated",
    "SftpCommit": "Microsoft.Storage.BlobCreated",
    "DeleteBlob": "Microsoft.Storage.BlobDeleted",
    "DeleteFile": "Microsoft.Storage.BlobDeleted",
    "SftpRemove": "Microsoft.Storage.BlobDeleted",
}


def from_trigger(
    *,
    event_id: str | None,
    topic: str | None,
    subject: str | None,
    event_type: str | None,
    event_time: str | None,
    data_version: str | None,
    data: Any,
) -> dict[str, Any]:
    """The Event Grid-schema dict for what an Event Grid trigger handed over, filling a missing type
    from ``data.api`` and a missing time with the time of receipt."""
    if not event_type and isinstance(data, dict):
        api = data.get("api")
        event_type = _API_TYPES.get(api) if type(api) is str else None
    if not event_time:
        from datetime import UTC, datetime

        event_time = datetime.now(UTC).isoformat()
    return {
        "id": event_id,
        "topic": topic,
        "subject": subject,
        "eventType": event_type,
        "eventTime": event_time,
        "dataVersion": data_version,
        "data": data,
    }


class AzureDetector(Detector):
    """Event Grid blob events in the Event Grid schema or the CloudEvents 1.0 schema, and the
    Event Grid control events (subscription handshake, account-level policy runs)."""

    provider = "azure"
    describes = "an Event Grid event"

    def parse(self, doc: dict[str, Any], scope: Scope) -> list[StorageEvent] | None:
        if "specversion" in doc:
            field, cloudevents, envelope = "type", True, "cloudevents"
        elif "eventType" in doc:
            field, cloudevents, envelope = "eventType", False, "eventgrid"
        else:
            return None
        event_type = doc.get(field)
        if type(event_type) is not str or not event_type.startswith("Microsoft."):
            return None
        if event_type in CONTROL_TYPES:
            scope.note(ControlMessage("azure", event_type, validation_code(doc), raw=doc))
            return []
        if event_type.startswith("Microsoft.Storage."):
            return [blob_event(doc, scope.where, scope.via + envelope, cloudevents)]
        return None  # another Microsoft service: the registry names the type in its error


DETECTOR = AzureDetector()
