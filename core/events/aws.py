"""Amazon S3 change records: the S3 notification record and the EventBridge ``aws.s3`` event.

``DETECTOR`` reads them and the SQS/SNS/EventBridge envelopes around them; what an SQS body or SNS
Message holds goes back through the registry, so any cloud's envelope may travel inside.
Keys arrive URL-encoded with ``+`` for spaces on both paths (Powertools decodes both the same way).
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any, NoReturn
from urllib.parse import unquote_to_bytes

from core.events.model import (
    INT64_MAX,
    ControlMessage,
    EventError,
    Kind,
    StorageEvent,
    as_dict,
    brief,
    opt_text,
    parse_time,
    text,
    to_size,
    unquote_etag,
)
from core.events.registry import Detector, RecordParser, Scope

# eventName prefixes (after an optional "s3:") -> kind; first match wins.
_NAME_PREFIXES: tuple[tuple[str, Kind], ...] = (
    ("ObjectCreated:", "created"),
    ("ObjectRemoved:", "deleted"),
    ("LifecycleExpiration:", "deleted"),
    ("ObjectRestore:Completed", "restored"),
    ("ObjectTagging:", "metadata_updated"),
    ("ObjectAcl:", "metadata_updated"),
)

_DETAIL_TYPES: dict[str, Kind] = {
    "Object Created": "created",
    "Object Deleted": "deleted",
    "Object Restore Completed": "restored",
    "Object Tags Added": "metadata_updated",
    "Object Tags Deleted": "metadata_updated",
    "Object ACL Updated": "metadata_updated",
    "Object Restore Initiated": "other",
    "Object Restore Expired": "other",
    "Object Storage Class Changed": "other",
    "Object Access Tier Changed": "other",
}

_kind_cache: dict[str, Kind] = {}
_fromisoformat = datetime.fromisoformat


def s3_kind(event_name: str) -> Kind:
    """Map an S3 ``eventName`` (``ObjectCreated:Put``, ``s3:ObjectRestore:Completed``...) to a kind."""
    cached = _kind_cache.get(event_name)
    if cached is not None:
        return cached
    name = event_name.removeprefix("s3:")
    kind: Kind = next((k for prefix, k in _NAME_PREFIXES if name.startswith(prefix)), "other")
    if len(_kind_cache) < 256:
        _kind_cache[event_name] = kind
    return kind


def decode_key(raw: str) -> str:
    """S3 event keys are form-encoded (``red+flower.jpg``); decoding is skipped when nothing is encoded."""
    if "%" in raw:
        # = urllib.parse.unquote_plus, about twice as fast (it is the hot spot of a big batch); a lone
        # surrogate (JSON text may carry "\udc80") is passed through as bytes, then replaced like bad UTF-8
        return unquote_to_bytes(raw.replace("+", " ").encode("utf-8", "surrogatepass")).decode("utf-8", "replace")
    if "+" in raw:
        return raw.replace("+", " ")
    return raw


def s3_record(rec: dict[str, Any], where: str, scope: Scope, out: list[StorageEvent]) -> None:
    """One ``Records[i]`` entry of an S3 event notification (``eventSource`` ``aws:s3``), appended to ``out``.

    The hot path of a big batch (hence a record parser itself, not a wrapper around one): field paths
    for errors are only built when a field is wrong.
    """
    try:
        s3 = rec["s3"]
        obj = s3["object"]
        raw_key = obj["key"]
        bucket = s3["bucket"]["name"]
        event_name = rec["eventName"]
        time_text = rec["eventTime"]
    except (KeyError, TypeError):
        _s3_record_slow(rec, where)  # raises, naming the missing field
    if type(raw_key) is not str or not raw_key:
        text(raw_key, f"{where}.s3.object.key")
    if type(bucket) is not str or not bucket:
        text(bucket, f"{where}.s3.bucket.name")
    if type(event_name) is not str:
        text(event_name, f"{where}.eventName")
    key = decode_key(raw_key)
    kind = s3_kind(event_name)
    version = obj.get("versionId")
    if version is not None and type(version) is not str:
        version = opt_text(version, f"{where}.s3.object.versionId")
    sequencer = obj.get("sequencer")
    if sequencer is not None and type(sequencer) is not str:
        sequencer = opt_text(sequencer, f"{where}.s3.object.sequencer")
    size = obj.get("size")
    if size is not None and (type(size) is not int or size < 0 or size > INT64_MAX):
        size = to_size(size, f"{where}.s3.object.size")
    etag = obj.get("eTag")
    if etag is not None and (type(etag) is not str or not etag or etag[0] == '"' or etag[0] == "W"):
        etag = unquote_etag(etag, f"{where}.s3.object.eTag")
    try:
        event_time = _fromisoformat(time_text)
        if event_time.tzinfo is not UTC:
            raise ValueError
    except (TypeError, ValueError):
        event_time = parse_time(time_text, f"{where}.eventTime")
    region = rec.get("awsRegion")
    event = StorageEvent(
        provider="aws",
        kind=kind,
        bucket=bucket,
        key=key,
        event_time=event_time,
        event_id=_aws_id(bucket, key, version, sequencer, kind, time_text),
        size=size,
        etag=etag,
        version=version or None,
        sequencer=sequencer or None,
        account=None,
        region=region if type(region) is str and region else None,
        name=event_name[3:] if event_name.startswith("s3:") else event_name,
        message_id=scope.mid,
        envelope=scope.via + "s3",
        raw=rec,
    )
    out.append(event)


def _s3_record_slow(rec: Any, where: str) -> NoReturn:
    """Walk the required fields in order so the error names the first one that is wrong."""
    p = f"{where}." if where else ""
    rec = as_dict(rec, where)
    text(rec.get("eventName"), f"{p}eventName")
    text(rec.get("eventTime"), f"{p}eventTime")
    s3 = as_dict(rec.get("s3"), f"{p}s3")
    bucket = as_dict(s3.get("bucket"), f"{p}s3.bucket")
    text(bucket.get("name"), f"{p}s3.bucket.name")
    obj = as_dict(s3.get("object"), f"{p}s3.object")
    text(obj.get("key"), f"{p}s3.object.key")
    raise EventError("unreadable S3 record", where)  # pragma: no cover - fields above are exhaustive


def eventbridge_event(ev: dict[str, Any], where: str, envelope: str, message_id: str | None) -> StorageEvent:
    """An EventBridge event with ``source`` ``aws.s3`` (``detail-type`` "Object Created" and friends)."""
    p = f"{where}." if where else ""
    detail_type = text(ev.get("detail-type"), f"{p}detail-type")
    assert detail_type is not None
    detail = as_dict(ev.get("detail"), f"{p}detail")
    bucket_obj = as_dict(detail.get("bucket"), f"{p}detail.bucket")
    obj = as_dict(detail.get("object"), f"{p}detail.object")
    bucket = text(bucket_obj.get("name"), f"{p}detail.bucket.name")
    raw_key = text(obj.get("key"), f"{p}detail.object.key")
    assert bucket is not None and raw_key is not None
    key = decode_key(raw_key)
    kind: Kind = _DETAIL_TYPES.get(detail_type, "other")
    version = opt_text(obj.get("version-id"), f"{p}detail.object.version-id")
    sequencer = opt_text(obj.get("sequencer"), f"{p}detail.object.sequencer")
    time_text = ev.get("time")
    event_time = parse_time(time_text, f"{p}time")
    account = opt_text(ev.get("account"), f"{p}account")
    region = opt_text(ev.get("region"), f"{p}region")
    return StorageEvent(
        provider="aws",
        kind=kind,
        bucket=bucket,
        key=key,
        event_time=event_time,
        event_id=_aws_id(bucket, key, version, sequencer, kind, time_text),
        size=to_size(obj.get("size"), f"{p}detail.object.size"),
        etag=unquote_etag(obj.get("etag"), f"{p}detail.object.etag"),
        version=version,
        sequencer=sequencer,
        account=account,
        region=region,
        name=detail_type,
        message_id=message_id or opt_text(ev.get("id"), f"{p}id"),
        envelope=envelope,
        raw=ev,
    )


def _aws_id(bucket: str, key: str, version: str | None, sequencer: str | None, kind: str, time: Any) -> str:
    """bucket + key + versionId + sequencer + kind: identical for a redelivery and for the same change
    seen through S3 notifications and EventBridge. Without a sequencer the event time stands in."""
    text = "\x1f".join((bucket, key, version or "", sequencer or f"t={time}", kind))
    return "aws:" + blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def is_s3_test_event(d: dict[str, Any]) -> bool:
    """The ``s3:TestEvent`` S3 sends when a notification configuration is saved: not a change."""
    return d.get("Event") == "s3:TestEvent"


_SNS_CONTROL = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})


class AwsDetector(Detector):
    """S3 notifications (bare, in SQS, in SNS, in SNS in SQS) and EventBridge ``aws.s3`` events."""

    provider = "aws"
    describes = "an S3/SQS/SNS/EventBridge record"

    def record_parsers(self) -> dict[str, RecordParser]:
        return {"aws:s3": s3_record, "aws:sqs": self._sqs, "aws:sns": self._sns}

    def parse(self, doc: dict[str, Any], scope: Scope) -> list[StorageEvent] | None:
        if "detail-type" in doc:
            source = doc.get("source")
            if source != "aws.s3":
                raise EventError(
                    f"is {brief(source)}: only aws.s3 EventBridge events are storage events", scope.at("source")
                )
            return [eventbridge_event(doc, scope.where, scope.via + "eventbridge", scope.mid)]
        if "Type" in doc and "TopicArn" in doc:
            return self._sns_envelope(doc, scope)
        if is_s3_test_event(doc):
            scope.note(ControlMessage("aws", "s3:TestEvent", raw=doc))
            return []
        return None

    @staticmethod
    def _sqs(rec: dict[str, Any], where: str, scope: Scope, out: list[StorageEvent]) -> None:
        message_id = rec.get("messageId")
        mid = message_id if type(message_id) is str else scope.mid
        scope.unwrap(rec.get("body"), f"{where}.body", scope.via + "sqs/", mid, out)

    @staticmethod
    def _sns(rec: dict[str, Any], where: str, scope: Scope, out: list[StorageEvent]) -> None:
        sns = as_dict(rec.get("Sns"), f"{where}.Sns")
        message_id = sns.get("MessageId")
        mid = scope.mid or (message_id if type(message_id) is str else None)
        scope.unwrap(sns.get("Message"), f"{where}.Sns.Message", scope.via + "sns/", mid, out)

    @staticmethod
    def _sns_envelope(doc: dict[str, Any], scope: Scope) -> list[StorageEvent]:
        """An SNS message as delivered to SQS (wrapped, not raw delivery) or to an HTTP endpoint."""
        sns_type = doc.get("Type")
        if type(sns_type) is str and sns_type in _SNS_CONTROL:
            scope.note(ControlMessage("aws", f"sns:{sns_type}", raw=doc))
            return []
        if sns_type != "Notification":
            raise EventError(f"is {brief(sns_type)}, not an SNS Notification", scope.at("Type"))
        own = doc.get("MessageId")
        mid = scope.mid or (own if type(own) is str else None)
        return scope.unwrap(doc.get("Message"), scope.at("Message"), scope.via + "sns/", mid)


DETECTOR = AwsDetector()
