"""Oracle Cloud Infrastructure Object Storage changes from OCI Events.

OCI Events use the CloudEvents 0.1 envelope (``cloudEventsVersion``, ``eventType``, ``eventTime``,
``eventID``); the object sits in ``data``: ``resourceName`` is the object name and
``additionalDetails`` carries ``namespace``, ``bucketName`` and ``eTag``. The namespace is the
event's ``account`` (contract C4). Bucket-level events (``createbucket``...) are control messages.
A CloudEvents 1.0 form (``specversion``/``type``/``time``/``id``) is read the same way.
"""

from __future__ import annotations

from typing import Any

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
    unquote_etag,
)
from core.events.registry import Detector, Scope

PREFIX = "com.oraclecloud.objectstorage."
KINDS: dict[str, Kind] = {
    PREFIX + "createobject": "created",
    PREFIX + "updateobject": "metadata_updated",
    PREFIX + "deleteobject": "deleted",
}
# Events about a bucket, not an object: acknowledged, never an error.
BUCKET_EVENTS = frozenset(
    PREFIX + name for name in ("createbucket", "updatebucket", "deletebucket", "changebucketcompartment")
)


def object_event(doc: dict[str, Any], where: str, envelope: str, message_id: str | None) -> StorageEvent:
    """An ``com.oraclecloud.objectstorage.*object`` event in either CloudEvents version."""
    p = f"{where}." if where else ""
    v01 = "eventType" in doc
    type_field, time_field, id_field = ("eventType", "eventTime", "eventID") if v01 else ("type", "time", "id")
    event_type = text(doc.get(type_field), f"{p}{type_field}")
    assert event_type is not None
    kind = KINDS.get(event_type)
    if kind is None:
        raise EventError(f"is {brief(event_type)}: not an object event", f"{p}{type_field}")
    data = as_dict(doc.get("data"), f"{p}data")
    details = as_dict(data.get("additionalDetails"), f"{p}data.additionalDetails")
    namespace, bucket, name = _from_resource_id(data.get("resourceId"))
    bucket = text(details.get("bucketName") or bucket, f"{p}data.additionalDetails.bucketName")
    key = text(data.get("resourceName") or name, f"{p}data.resourceName")
    assert bucket is not None and key is not None
    namespace = opt_text(details.get("namespace"), f"{p}data.additionalDetails.namespace") or namespace
    etag = unquote_etag(details.get("eTag"), f"{p}data.additionalDetails.eTag")
    event_id = opt_text(doc.get(id_field), f"{p}{id_field}")
    return StorageEvent(
        provider="oci",
        kind=kind,
        bucket=bucket,
        key=key,
        event_time=parse_time(doc.get(time_field), f"{p}{time_field}"),
        # each write gets a fresh ETag, so (object, ETag, kind) names the change across redeliveries
        event_id=change_id("oci", namespace, bucket, key, etag or event_id, kind),
        size=None,  # OCI object events carry no size
        etag=etag,
        version=None,
        sequencer=None,
        account=namespace,
        region=None,
        name=event_type.removeprefix(PREFIX),
        message_id=message_id or event_id,
        envelope=envelope,
        raw=doc,
    )


def _from_resource_id(resource_id: Any) -> tuple[str | None, str | None, str | None]:
    """``/n/<namespace>/b/<bucket>/o/<object>`` -> its three parts (None where absent)."""
    if type(resource_id) is not str or not resource_id.startswith("/n/"):
        return None, None, None
    namespace, _, rest = resource_id[3:].partition("/b/")
    bucket, _, name = rest.partition("/o/")
    return namespace or None, bucket or None, name or None


class OciDetector(Detector):
    """OCI Events for Object Storage (delivered to OCI Functions, or by Notifications over HTTPS)."""

    provider = "oci"
    describes = "an OCI Object Storage event"

    def parse(self, doc: dict[str, Any], scope: Scope) -> list[StorageEvent] | None:
        event_type = doc.get("eventType") if "eventType" in doc else doc.get("type") if "specversion" in doc else None
        if type(event_type) is not str or not event_type.startswith(PREFIX):
            return None
        if event_type in BUCKET_EVENTS:
            scope.note(ControlMessage("oci", event_type.removeprefix(PREFIX), raw=doc))
            return []
        return [object_event(doc, scope.where, scope.via + "oci-events", scope.mid)]


DETECTOR = OciDetector()
