"""Alibaba Cloud OSS changes as Function Compute's OSS trigger delivers them.

The trigger hands the function ``{"events": [{"eventSource": "acs:oss", "eventName":
"ObjectCreated:PutObject", "oss": {"bucket": {...}, "object": {...}}, ...}]}`` (Python gets it as
bytes). Object keys are passed as stored (not form-encoded like S3's).
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
from core.events.registry import Detector, Scope, check_length

SOURCE = "acs:oss"

# eventName prefixes (an "oss:" prefix is dropped first) -> kind
_NAME_PREFIXES: tuple[tuple[str, Kind], ...] = (
    ("ObjectCreated:", "created"),
    ("ObjectRemoved:", "deleted"),
    ("ObjectModified:", "metadata_updated"),
)


def oss_kind(event_name: str) -> Kind:
    name = event_name.removeprefix("oss:")
    return next((kind for prefix, kind in _NAME_PREFIXES if name.startswith(prefix)), "other")


def oss_event(rec: Any, where: str, envelope: str, message_id: str | None) -> StorageEvent:
    """One item of the OSS trigger's ``events`` array."""
    p = f"{where}."
    rec = as_dict(rec, where)
    source = rec.get("eventSource")
    if source != SOURCE:
        raise EventError("missing" if source is None else f"is {brief(source)}: expected {SOURCE}", f"{p}eventSource")
    event_name = text(rec.get("eventName"), f"{p}eventName")
    assert event_name is not None
    oss = as_dict(rec.get("oss"), f"{p}oss")
    bucket = text(as_dict(oss.get("bucket"), f"{p}oss.bucket").get("name"), f"{p}oss.bucket.name")
    obj = as_dict(oss.get("object"), f"{p}oss.object")
    key = text(obj.get("key"), f"{p}oss.object.key")
    assert bucket is not None and key is not None
    kind = oss_kind(event_name)
    time_text = rec.get("eventTime")
    event_time = parse_time(time_text, f"{p}eventTime")
    response = rec.get("responseElements")
    request_id = (
        opt_text(response.get("requestId"), f"{p}responseElements.requestId") if type(response) is dict else None
    )
    etag = unquote_etag(obj.get("eTag"), f"{p}oss.object.eTag")
    return StorageEvent(
        provider="alibaba",
        kind=kind,
        bucket=bucket,
        key=key,
        event_time=event_time,
        # the request that made the change names it; the event time stands in without one
        event_id=change_id("alibaba", bucket, key, request_id or f"t={time_text}", kind),
        size=to_size(obj.get("size"), f"{p}oss.object.size"),
        etag=etag,
        version=opt_text(obj.get("versionId"), f"{p}oss.object.versionId"),
        sequencer=None,
        account=None,
        region=opt_text(rec.get("region"), f"{p}region"),
        name=event_name.removeprefix("oss:"),
        message_id=message_id or request_id,
        envelope=envelope,
        raw=rec,
    )


class AlibabaDetector(Detector):
    """``{"events": [...]}`` from the Function Compute OSS trigger."""

    provider = "alibaba"
    describes = "an OSS trigger event"

    def parse(self, doc: dict[str, Any], scope: Scope) -> list[StorageEvent] | None:
        events = doc.get("events")
        if type(events) is not list or not events:
            return None
        first = events[0]
        if type(first) is not dict or (first.get("eventSource") != SOURCE and "oss" not in first):
            return None
        where = scope.at("events")
        check_length(events, where)
        envelope = scope.via + "oss"
        return [oss_event(rec, f"{where}[{i}]", envelope, scope.mid) for i, rec in enumerate(events)]


DETECTOR = AlibabaDetector()
