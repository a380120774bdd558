"""Tencent Cloud COS changes as the SCF (Serverless Cloud Function) COS trigger delivers them.

``{"Records": [{"cos": {"cosBucket": {...}, "cosObject": {...}}, "event": {"eventName":
"cos:ObjectCreated:Put", "eventTime": <epoch seconds>, ...}}]}``. The key arrives as
``/<appid>/<bucket short name>/<key>``; the bucket a COS (S3-compatible) client names is
``<short name>-<appid>``, which is what the event carries. The record has no top-level
``eventSource``, so the registry offers it to :meth:`TencentDetector.parse_record`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from core.events.model import (
    EventError,
    Kind,
    StorageEvent,
    as_dict,
    brief,
    change_id,
    opt_text,
    parse_epoch,
    parse_time,
    text,
    to_size,
)
from core.events.registry import Detector, Scope

SOURCE = "qcs::cos"

_NAME_PREFIXES: tuple[tuple[str, Kind], ...] = (
    ("ObjectCreated:", "created"),
    ("ObjectRemove:", "deleted"),  # COS spells it without the "d"
    ("ObjectRemoved:", "deleted"),
)


def cos_kind(event_name: str) -> Kind:
    name = event_name.removeprefix("cos:")
    return next((kind for prefix, kind in _NAME_PREFIXES if name.startswith(prefix)), "other")


def cos_record(rec: dict[str, Any], where: str, envelope: str, message_id: str | None) -> StorageEvent:
    """One ``Records[i]`` of a COS trigger event."""
    p = f"{where}."
    cos = as_dict(rec.get("cos"), f"{p}cos")
    ev = as_dict(rec.get("event"), f"{p}event")
    event_name = text(ev.get("eventName"), f"{p}event.eventName")
    cos_bucket = as_dict(cos.get("cosBucket"), f"{p}cos.cosBucket")
    obj = as_dict(cos.get("cosObject"), f"{p}cos.cosObject")
    short = text(cos_bucket.get("name"), f"{p}cos.cosBucket.name")
    appid = opt_text(cos_bucket.get("appid"), f"{p}cos.cosBucket.appid")
    raw_key = text(obj.get("key"), f"{p}cos.cosObject.key")
    assert event_name is not None and short is not None and raw_key is not None
    prefix = f"/{appid}/{short}/" if appid else f"/{short}/"
    if not raw_key.startswith(prefix) or len(raw_key) == len(prefix):
        raise EventError(f"does not start with {brief(prefix)} followed by a key", f"{p}cos.cosObject.key")
    key = raw_key[len(prefix) :]
    bucket = short if not appid or short.endswith(f"-{appid}") else f"{short}-{appid}"
    kind = cos_kind(event_name)
    time_value = ev.get("eventTime")
    if type(time_value) is str and not time_value.isdigit():
        event_time = parse_time(time_value, f"{p}event.eventTime")
    else:
        event_time = parse_epoch(time_value, f"{p}event.eventTime")
    meta = obj.get("meta")
    request_id = meta.get("x-cos-request-id") if type(meta) is dict else None
    request_id = request_id if type(request_id) is str and request_id else None
    version = opt_text(obj.get("vid"), f"{p}cos.cosObject.vid")
    return StorageEvent(
        provider="tencent",
        kind=kind,
        bucket=bucket,
        key=key,
        event_time=event_time,
        event_id=change_id("tencent", bucket, key, version, request_id or f"t={event_time.isoformat()}", kind),
        size=to_size(obj.get("size"), f"{p}cos.cosObject.size"),
        etag=None,  # COS notifications carry no ETag
        version=version,
        sequencer=None,
        account=None,
        region=_region(obj.get("url")) or opt_text(cos_bucket.get("region"), f"{p}cos.cosBucket.region"),
        name=event_name.removeprefix("cos:"),
        message_id=message_id or request_id,
        envelope=envelope,
        raw=rec,
    )


def _region(url: Any) -> str | None:
    """``ap-guangzhou`` from ``http://<bucket>.cos.ap-guangzhou.myqcloud.com/...`` (the record's own
    ``cosBucket.region`` is a short code such as ``gz``)."""
    if type(url) is not str:
        return None
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    _, sep, rest = host.partition(".cos.")
    region = rest.partition(".")[0] if sep else ""
    return region or None


def is_cos_record(rec: dict[str, Any]) -> bool:
    ev = rec.get("event")
    return (type(ev) is dict and ev.get("eventSource") == SOURCE) or ("cos" in rec and "event" in rec)


class TencentDetector(Detector):
    """COS trigger records (inside ``Records``, recognised by their ``cos``/``event`` members)."""

    provider = "tencent"
    describes = "a COS trigger record"

    def parse_record(self, rec: dict[str, Any], where: str, scope: Scope) -> list[StorageEvent] | None:
        if not is_cos_record(rec):
            return None
        return [cos_record(rec, where, scope.via + "cos", scope.mid)]


DETECTOR = TencentDetector()
