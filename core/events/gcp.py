"""Google Cloud Storage changes: CloudEvents (Eventarc), legacy background events, Pub/Sub notifications.

All three carry the same object resource (or, for Pub/Sub ``payloadFormat=NONE``, only attributes).
GCS int64 fields (size, generation, metageneration) arrive as strings and sometimes as numbers.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from core.events.limits import MAX_TEXT_BYTES
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

CLOUDEVENT_PREFIX = "google.cloud.storage.object.v1."
CLOUDEVENT_KINDS: dict[str, Kind] = {
    "google.cloud.storage.object.v1.finalized": "created",
    "google.cloud.storage.object.v1.deleted": "deleted",
    "google.cloud.storage.object.v1.archived": "archived",
    "google.cloud.storage.object.v1.metadataUpdated": "metadata_updated",
}
LEGACY_KINDS: dict[str, Kind] = {
    "google.storage.object.finalize": "created",
    "google.storage.object.delete": "deleted",
    "google.storage.object.archive": "archived",
    "google.storage.object.metadataUpdate": "metadata_updated",
}
LEGACY_CHANGE = "providers/cloud.storage/eventTypes/object.change"
PUBSUB_KINDS: dict[str, Kind] = {
    "OBJECT_FINALIZE": "created",
    "OBJECT_DELETE": "deleted",
    "OBJECT_ARCHIVE": "archived",
    "OBJECT_METADATA_UPDATE": "metadata_updated",
}
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
LEGACY_PUBSUB = frozenset({"google.pubsub.topic.publish", "providers/cloud.pubsub/eventTypes/topic.publish"})
# Pub/Sub notifications that confirm a configuration instead of reporting a change.
PUBSUB_CONTROL = frozenset({"TOPIC_CONFIGURED"})


def _int64(value: Any, where: str) -> str | None:
    """An int64 field as canonical decimal text (``"0012"`` and ``12`` both give ``"12"``)."""
    n = to_size(value, where)
    return None if n is None else str(n)


def object_event(
    kind: Kind,
    data: dict[str, Any],
    where: str,
    envelope: str,
    *,
    name: str,
    time: Any,
    time_where: str,
    message_id: str | None,
    bucket: str | None = None,
    key: str | None = None,
    generation: Any = None,
    superseded: bool = False,
    raw: Any = None,
) -> StorageEvent:
    """Build the event from a GCS object resource; ``bucket``/``key``/``generation`` override it."""
    p = f"{where}." if where else ""
    bucket = bucket or text(data.get("bucket"), f"{p}bucket")
    key = key or text(data.get("name"), f"{p}name")
    assert bucket is not None and key is not None
    gen = _int64(generation if generation is not None else data.get("generation"), f"{p}generation")
    meta = _int64(data.get("metageneration"), f"{p}metageneration")
    if time is None or time == "":
        time, time_where = data.get("updated"), f"{p}updated"
    event_time = parse_time(time, time_where)
    sequencer = f"{gen:0>20}{meta or '0':0>20}" if gen else None
    # A change is (bucket, name, generation, kind); metadata updates also need the metageneration.
    distinct = meta if kind == "metadata_updated" else None
    if gen is None or (kind == "metadata_updated" and meta is None):
        distinct = f"t={time}"
    return StorageEvent(
        provider="gcp",
        kind=kind,
        bucket=bucket,
        key=key,
        event_time=event_time,
        event_id=change_id("gcp", bucket, key, gen, kind, distinct),
        size=to_size(data.get("size"), f"{p}size"),
        etag=unquote_etag(data.get("etag"), f"{p}etag"),
        version=gen,
        sequencer=sequencer,
        account=None,
        region=None,
        name=name,
        superseded=superseded,
        message_id=message_id,
        envelope=envelope,
        raw=data if raw is None else raw,
    )


def cloudevent(ev: dict[str, Any], where: str, envelope: str) -> StorageEvent:
    """A structured CloudEvent of type ``google.cloud.storage.object.v1.*``."""
    p = f"{where}." if where else ""
    ce_type = text(ev.get("type"), f"{p}type")
    assert ce_type is not None
    data = as_dict(ev.get("data"), f"{p}data")
    bucket = key = None
    if not data.get("bucket"):
        bucket = _bucket_from_source(ev.get("source"))
    if not data.get("name"):
        subject = ev.get("subject")
        key = subject.removeprefix("objects/") if type(subject) is str and subject.startswith("objects/") else None
    return object_event(
        CLOUDEVENT_KINDS.get(ce_type, "other"),
        data,
        f"{p}data",
        envelope,
        name=ce_type.removeprefix(CLOUDEVENT_PREFIX),
        time=ev.get("time"),
        time_where=f"{p}time",
        message_id=opt_text(ev.get("id"), f"{p}id"),
        bucket=bucket,
        key=key,
        raw=ev,
    )


def _bucket_from_source(source: Any) -> str | None:
    """``//storage.googleapis.com/projects/_/buckets/<bucket>`` -> bucket."""
    if type(source) is not str or "/buckets/" not in source:
        return None
    return source.rsplit("/buckets/", 1)[1].split("/", 1)[0] or None


def legacy_event(ev: dict[str, Any], where: str, envelope: str) -> StorageEvent:
    """Background-function events: ``{"context": {...}, "data": {...}}`` or the older flat form."""
    p = f"{where}." if where else ""
    ctx = ev.get("context", ev)
    ctx_where = f"{p}context" if "context" in ev else where
    cp = f"{ctx_where}." if ctx_where else ""
    ctx = as_dict(ctx, ctx_where or "payload")
    event_type = text(ctx.get("eventType"), f"{cp}eventType")
    assert event_type is not None
    data = as_dict(ev.get("data"), f"{p}data")
    kind: Kind
    if event_type == LEGACY_CHANGE:
        state = data.get("resourceState")
        meta = data.get("metageneration", "1")
        if state == "not_exists":
            kind = "deleted"
        elif (type(meta) is str and meta == "1") or (type(meta) is int and meta == 1):
            kind = "created"
        else:
            kind = "metadata_updated"
    else:
        kind = LEGACY_KINDS.get(event_type, "other")
    return object_event(
        kind,
        data,
        f"{p}data",
        envelope,
        name=event_type.rsplit("/", 1)[-1].removeprefix("google.storage.object."),
        time=ctx.get("timestamp"),
        time_where=f"{cp}timestamp",
        message_id=opt_text(ctx.get("eventId"), f"{cp}eventId"),
        raw=ev,
    )


def pubsub_message(msg: Any, where: str, envelope: str, message_id: str | None = None) -> list[StorageEvent]:
    """A Pub/Sub message carrying a GCS notification (attributes + optional JSON_API_V1 data)."""
    p = f"{where}." if where else ""
    msg = as_dict(msg, where)
    attrs = msg.get("attributes")
    if attrs is None:
        raise EventError("missing: not a Cloud Storage notification", f"{p}attributes")
    attrs = as_dict(attrs, f"{p}attributes")
    event_type = attrs.get("eventType")
    if not event_type:
        raise EventError("missing: not a Cloud Storage notification", f"{p}attributes.eventType")
    if type(event_type) is not str:
        raise EventError(f"must be a string, got {type(event_type).__name__}", f"{p}attributes.eventType")
    if event_type in PUBSUB_CONTROL:
        return []
    if "bucketId" not in attrs and event_type not in PUBSUB_KINDS:
        raise EventError(f"is {event_type!r}, not a Cloud Storage notification", f"{p}attributes.eventType")
    bucket = text(attrs.get("bucketId"), f"{p}attributes.bucketId")
    key = text(attrs.get("objectId"), f"{p}attributes.objectId")
    data = _decode_data(msg.get("data"), f"{p}data", attrs.get("payloadFormat"))
    kind: Kind = PUBSUB_KINDS.get(event_type, "other")
    superseded = kind in ("deleted", "archived") and bool(attrs.get("overwrittenByGeneration"))
    mid = message_id or opt_text(msg.get("messageId") or msg.get("message_id"), f"{p}messageId")
    time = attrs.get("eventTime") or msg.get("publishTime") or msg.get("publish_time")
    event = object_event(
        kind,
        data,
        f"{p}data",
        envelope,
        name=event_type,
        time=time,
        time_where=f"{p}attributes.eventTime",
        message_id=mid,
        bucket=bucket,
        key=key,
        generation=attrs.get("objectGeneration"),
        superseded=superseded,
        raw=msg,
    )
    return [event]


def _decode_data(value: Any, where: str, payload_format: Any) -> dict[str, Any]:
    """base64 JSON object resource for ``JSON_API_V1``; empty for ``NONE``."""
    if value is None or value == "" or payload_format == "NONE":
        return {}
    if type(value) is dict:  # already decoded by a framework
        return value
    if type(value) is not str:
        raise EventError(f"must be base64 text, got {type(value).__name__}", where)
    if len(value) > MAX_TEXT_BYTES:
        raise EventError(f"is larger than {MAX_TEXT_BYTES} bytes", where)
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except RecursionError:
        raise EventError("is nested too deeply to decode", where) from None
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise EventError("is not base64-encoded JSON (payloadFormat JSON_API_V1 expected)", where) from None
    return as_dict(decoded, where)


def is_pubsub_envelope(d: dict[str, Any]) -> bool:
    """A Pub/Sub push body ``{"message": {...}, "subscription": ...}``."""
    return type(d.get("message")) is dict and ("subscription" in d or "attributes" in d["message"])


class GcpDetector(Detector):
    """GCS CloudEvents (Eventarc), legacy background events, and Pub/Sub notifications (push body,
    ``messagePublished`` CloudEvent, legacy ``topic.publish`` event, bare PubsubMessage).

    A Pub/Sub message is read as a GCS notification (its attributes say which object changed); the
    envelopes around it count as nesting levels like every other wrapper.
    """

    provider = "gcp"
    describes = "a GCS CloudEvent or Pub/Sub message"

    def parse(self, doc: dict[str, Any], scope: Scope) -> list[StorageEvent] | None:
        if "specversion" in doc:
            ce_type = doc.get("type")
            if type(ce_type) is not str:
                return None
            if ce_type.startswith(CLOUDEVENT_PREFIX):
                return [cloudevent(doc, scope.where, scope.via + "cloudevent")]
            if ce_type == PUBSUB_PUBLISHED:
                data = as_dict(doc.get("data"), scope.at("data"))
                inner = scope.inner(scope.at("data.message"), scope.via + "cloudevent/", None)
                return _pubsub(data.get("message"), inner)
            return None
        if "eventType" in doc:
            event_type = doc.get("eventType")
            if type(event_type) is str and "data" in doc and _is_legacy_type(event_type):
                return _legacy(doc, scope)
            return None
        if "context" in doc and "data" in doc:
            return _legacy(doc, scope)
        if is_pubsub_envelope(doc):
            return _pubsub(doc["message"], scope.inner(scope.at("message"), scope.via, scope.mid))
        attrs = doc.get("attributes")
        if type(attrs) is dict and "eventType" in attrs:
            return _pubsub(doc, scope)
        if doc.get("kind") == "storage#object":
            raise EventError(
                "is a bare GCS object resource: its event type travels in the ce-type header; "
                "use parse_cloudevent(headers, body)",
                scope.where or "payload",
            )
        return None


def _is_legacy_type(event_type: str) -> bool:
    return event_type in LEGACY_KINDS or event_type == LEGACY_CHANGE or event_type in LEGACY_PUBSUB


def _legacy(doc: dict[str, Any], scope: Scope) -> list[StorageEvent]:
    """``{"context": {...}, "data": {...}}`` or the flat form: a storage change or a Pub/Sub publish."""
    has_context = "context" in doc
    ctx_where = scope.at("context") if has_context else scope.where
    ctx = as_dict(doc.get("context") if has_context else doc, ctx_where or "context")
    type_where = f"{ctx_where}.eventType" if ctx_where else "eventType"
    event_type = ctx.get("eventType")
    if type(event_type) is not str or not event_type:
        raise EventError(_missing_or_type(event_type), type_where)
    if event_type in LEGACY_PUBSUB:
        event_id = ctx.get("eventId")
        mid = event_id if type(event_id) is str else None
        return _pubsub(doc.get("data"), scope.inner(scope.at("data"), scope.via + "legacy/", mid))
    if event_type in LEGACY_KINDS or event_type == LEGACY_CHANGE:
        return [legacy_event(doc, scope.where, scope.via + "legacy")]
    raise EventError(f"is {brief(event_type)}: not a storage event type", type_where)


def _missing_or_type(value: Any) -> str:
    return "missing" if value is None or value == "" else f"must be a string, got {type(value).__name__}"


def _pubsub(msg: Any, scope: Scope) -> list[StorageEvent]:
    events = pubsub_message(msg, scope.where, scope.via + "pubsub", scope.mid)
    if not events:  # a TOPIC_CONFIGURED notice: pubsub_message has checked the attributes
        scope.note(ControlMessage("gcp", msg["attributes"]["eventType"], raw=msg))
    return events


DETECTOR = GcpDetector()
