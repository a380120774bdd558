"""IBM Cloud Object Storage changes as Code Engine's COS subscription delivers them.

Apps get a binary-mode CloudEvent (``ce-type: com.ibm.cloud.cos.document.write`` or ``.delete``,
``ce-subject``: the key) whose body is ``{"bucket", "key", "operation": "Object:Write" |
"Object:Delete", "notification": {"bucket_name", "object_name", "object_etag", "object_length"
(a string), "request_id", "request_time", ...}}``; jobs get the same body in ``CE_DATA``. Both the
CloudEvent and the bare body are read.
"""

from __future__ import annotations

from typing import Any

from core.events.model import (
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

PREFIX = "com.ibm.cloud.cos."
OPERATIONS: dict[str, Kind] = {"Object:Write": "created", "Object:Delete": "deleted"}
CE_TYPES: dict[str, Kind] = {PREFIX + "document.write": "created", PREFIX + "document.delete": "deleted"}


def cos_body(
    body: Any,
    where: str,
    envelope: str,
    message_id: str | None,
    *,
    ce_kind: Kind | None = None,
    ce_time: Any = None,
    raw: Any = None,
) -> StorageEvent:
    """The notification body; ``ce_kind``/``ce_time`` come from the CloudEvent around it, if any."""
    p = f"{where}." if where else ""
    body = as_dict(body, where or "data")
    note = as_dict(body.get("notification"), f"{p}notification")
    operation = body.get("operation") or note.get("event_type")
    kind = OPERATIONS.get(operation) if type(operation) is str else None
    if kind is None:
        if ce_kind is None:
            raise EventError(f"is {brief(operation)}: expected Object:Write or Object:Delete", f"{p}operation")
        kind = ce_kind
    bucket = text(body.get("bucket") or note.get("bucket_name"), f"{p}notification.bucket_name")
    key = text(body.get("key") or note.get("object_name"), f"{p}notification.object_name")
    assert bucket is not None and key is not None
    request_id = opt_text(note.get("request_id"), f"{p}notification.request_id")
    time_value = note.get("request_time")
    if time_value is None or time_value == "":
        time_value, time_where = ce_time, "time"
    else:
        time_where = f"{p}notification.request_time"
    event_time = parse_time(time_value, time_where)
    return StorageEvent(
        provider="ibm",
        kind=kind,
        bucket=bucket,
        key=key,
        event_time=event_time,
        event_id=change_id("ibm", bucket, key, request_id or f"t={time_value}", kind),
        size=to_size(note.get("object_length"), f"{p}notification.object_length"),
        etag=unquote_etag(note.get("object_etag"), f"{p}notification.object_etag"),
        version=None,
        sequencer=None,
        account=None,
        region=None,
        name=operation if type(operation) is str else "",
        message_id=message_id or request_id,
        envelope=envelope,
        raw=body if raw is None else raw,
    )


def is_cos_body(doc: dict[str, Any]) -> bool:
    return type(doc.get("notification")) is dict and ("operation" in doc or "bucket" in doc)


class IbmDetector(Detector):
    """Code Engine COS subscription deliveries: the CloudEvent, or the bare body (jobs' ``CE_DATA``)."""

    provider = "ibm"
    describes = "an IBM COS notification"

    def parse(self, doc: dict[str, Any], scope: Scope) -> list[StorageEvent] | None:
        if "specversion" in doc:
            ce_type = doc.get("type")
            if type(ce_type) is not str or not ce_type.startswith(PREFIX):
                return None
            ce_kind = CE_TYPES.get(ce_type)
            if ce_kind is None:
                raise EventError(f"is {brief(ce_type)}: not an object write or delete", scope.at("type"))
            ce_id = doc.get("id")
            return [
                cos_body(
                    doc.get("data"),
                    scope.at("data"),
                    scope.via + "cloudevent",
                    scope.mid or (ce_id if type(ce_id) is str and ce_id else None),
                    ce_kind=ce_kind,
                    ce_time=doc.get("time"),
                    raw=doc,
                )
            ]
        if is_cos_body(doc):
            return [cos_body(doc, scope.where, scope.via + "cos", scope.mid)]
        return None


DETECTOR = IbmDetector()
