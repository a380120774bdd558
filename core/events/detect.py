"""Find the envelope(s) around a storage change and hand each leaf to its provider module.

Detection is by shape, cheapest test first, because the same S3 record can arrive bare, inside an
SQS body, an SNS Message, an SNS envelope inside an SQS body, or as an EventBridge event; Azure and
GCP events arrive as arrays, CloudEvents (structured or binary) and Pub/Sub push bodies.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from core.events import aws, azure, gcp
from core.events.model import (
    Batch,
    ControlMessage,
    EventError,
    RecordFailure,
    StorageEvent,
    as_dict,
)

_SNS_CONTROL = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})
_Controls = list[ControlMessage] | None
_decode = json.JSONDecoder().decode  # json.loads minus its per-call argument checks
_BIG_BATCH = 64  # records
_BIG_TEXT = 64 * 1024  # bytes of JSON


def parse_events(payload: Any) -> list[StorageEvent]:
    """Every storage change in ``payload`` (dict, list, JSON str or bytes), one per record.

    Control messages give no events; anything unreadable raises :class:`EventError` naming the field.
    """
    with _gc_paused(payload):
        return _dispatch(_load(payload), "", "", None, None)


def parse_batch(payload: Any) -> Batch:
    """Like :func:`parse_events`, but a bad top-level record (an SQS message, an array item) is reported
    in ``failures`` instead of failing the whole batch, and control messages are returned too.
    An unreadable payload as a whole still raises :class:`EventError`.
    """
    with _gc_paused(payload):
        return _parse_batch(_load(payload))


def _parse_batch(doc: Any) -> Batch:
    controls: list[ControlMessage] = []
    events: list[StorageEvent] = []
    failures: list[RecordFailure] = []
    records: list[Any] | None = None
    prefix = ""
    if type(doc) is list:
        records = doc
    elif type(doc) is dict and type(doc.get("Records")) is list:
        records, prefix = doc["Records"], "Records"
    if records is None:
        events = _dispatch(doc, "", "", None, controls)
        return Batch(events, controls, failures)
    for i, rec in enumerate(records):
        where = f"{prefix}[{i}]"
        try:
            if prefix:
                events.extend(_aws_records([rec], prefix, "", None, controls, start=i))
            else:
                events.extend(_dispatch_one(rec, where, "", None, controls))
        except EventError as exc:
            failures.append(RecordFailure(i, _delivery_id(rec), exc))
    return Batch(events, controls, failures)


def parse_cloudevent(headers: Mapping[str, str], body: bytes | str | dict[str, Any] | None) -> list[StorageEvent]:
    """A CloudEvent delivered over HTTP: binary mode (``ce-*`` headers + data body) or, when there is no
    ``ce-type`` header, whatever the body holds (structured CloudEvent, Event Grid array, Pub/Sub push)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ce_type = lowered.get("ce-type")
    if not ce_type:
        if body is None or body == b"" or body == "":
            raise EventError("no ce-type header and an empty body", "headers")
        return parse_events(body)
    if not lowered.get("ce-specversion"):
        raise EventError("missing", "ce-specversion")
    data: Any
    if body is None or body == b"" or body == "":
        data = {}
    elif isinstance(body, dict):
        data = body
    else:
        data = _load(body, "body")
    event: dict[str, Any] = {"data": data}
    for attr in ("specversion", "type", "source", "id", "time", "subject"):
        value = lowered.get("ce-" + attr)
        if value is not None:
            event[attr] = value
    return _cloudevent(event, "", "", None)


def subscription_validation_code(payload: Any) -> str | None:
    """The code to echo as ``{"validationResponse": code}`` (HTTP 200) when ``payload`` is an Event Grid
    SubscriptionValidationEvent; None for anything else, including unreadable payloads."""
    try:
        doc = _load(payload)
    except EventError:
        return None
    items = doc if type(doc) is list else [doc]
    for item in items:
        if type(item) is dict:
            code = azure.validation_code(item)
            if code:
                return code
    return None


# --------------------------------------------------------------------------------------------- internals


def _load(payload: Any, where: str = "payload") -> Any:
    if type(payload) is dict or type(payload) is list:
        return payload
    if isinstance(payload, (bytes, bytearray, memoryview)):
        payload = bytes(payload)
    elif not isinstance(payload, str):
        if isinstance(payload, Mapping):
            return dict(payload)
        raise EventError(f"must be a dict, list, str or bytes, got {type(payload).__name__}", where)
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"is not JSON ({_json_problem(exc)})", where) from None


@contextmanager
def _gc_paused(payload: Any) -> Iterator[None]:
    """Pause the cyclic collector while a big batch is normalised.

    Parsing allocates only acyclic containers (JSON dicts, frozen events) that all stay alive until
    the call returns, so the collector cannot free anything; left on, it re-walks the growing batch in
    repeated full collections (a third of the time of a 10,000-record SQS batch). Reference counting
    still frees everything as usual, and the previous state is restored on exit.
    """
    if type(payload) is dict:
        records = payload.get("Records")
        big = type(records) is list and len(records) >= _BIG_BATCH
    elif isinstance(payload, (str, bytes, bytearray, list)):
        big = len(payload) >= (_BIG_BATCH if type(payload) is list else _BIG_TEXT)
    else:
        big = False
    if not big or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _json_problem(exc: Exception) -> str:
    """The parser's complaint without echoing the payload (it may hold anything)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return type(exc).__name__


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _dispatch(doc: Any, where: str, via: str, mid: str | None, controls: _Controls) -> list[StorageEvent]:
    if type(doc) is list:
        out: list[StorageEvent] = []
        for i, item in enumerate(doc):
            out.extend(_dispatch_one(item, f"{where}[{i}]", via, mid, controls))
        return out
    return _dispatch_one(doc, where, via, mid, controls)


def _dispatch_one(d: Any, where: str, via: str, mid: str | None, controls: _Controls) -> list[StorageEvent]:
    if type(d) is not dict:
        raise EventError(f"must be a JSON object, got {type(d).__name__}", where or "payload")
    if "Records" in d:
        return _aws_records(d["Records"], _at(where, "Records"), via, mid, controls)
    if "detail-type" in d:
        source = d.get("source")
        if source != "aws.s3":
            raise EventError(f"is {source!r}: only aws.s3 EventBridge events are storage events", _at(where, "source"))
        return [aws.eventbridge_event(d, where, via + "eventbridge", mid)]
    if "specversion" in d:
        return _cloudevent(d, where, via, controls)
    if "eventType" in d:
        return _event_type(d, where, via, controls)
    if "context" in d and "data" in d:
        return _gcp_legacy(d, where, via, controls)
    if "Type" in d and "TopicArn" in d:
        return _sns_envelope(d, where, via, mid, controls)
    if aws.is_s3_test_event(d):
        _note(controls, ControlMessage("aws", "s3:TestEvent", raw=d))
        return []
    if gcp.is_pubsub_envelope(d):
        return _pubsub(d["message"], _at(where, "message"), via, mid, controls)
    if type(d.get("attributes")) is dict and "eventType" in d["attributes"]:
        return _pubsub(d, where, via, mid, controls)
    if d.get("kind") == "storage#object":
        raise EventError(
            "is a bare GCS object resource: its event type travels in the ce-type header; "
            "use parse_cloudevent(headers, body)",
            where or "payload",
        )
    keys = ", ".join(sorted(str(k) for k in d)[:8])
    raise EventError(
        f"has an unknown envelope (keys: {keys}); expected an S3/SQS/SNS/EventBridge record, "
        "an Event Grid event, a CloudEvent or a Pub/Sub message",
        where or "payload",
    )


def _note(controls: _Controls, message: ControlMessage) -> None:
    if controls is not None:
        controls.append(message)


def _aws_records(
    records: Any, where: str, via: str, mid: str | None, controls: _Controls, start: int = 0
) -> list[StorageEvent]:
    if type(records) is not list:
        raise EventError(f"must be an array, got {type(records).__name__}", where)
    out: list[StorageEvent] = []
    s3_via = via + "s3"
    s3_record = aws.s3_record
    for i, rec in enumerate(records, start):
        w = f"{where}[{i}]"
        src = rec.get("eventSource") if type(rec) is dict else None
        if src == "aws:s3":
            out.append(s3_record(rec, w, s3_via, mid))
        elif src == "aws:sqs":
            message_id = rec.get("messageId")
            out.extend(
                _nested(
                    rec.get("body"), f"{w}.body", via + "sqs/", message_id if type(message_id) is str else mid, controls
                )
            )
        elif type(rec) is dict and rec.get("EventSource") == "aws:sns":
            sns = as_dict(rec.get("Sns"), f"{w}.Sns")
            message_id = sns.get("MessageId")
            out.extend(
                _nested(
                    sns.get("Message"),
                    f"{w}.Sns.Message",
                    via + "sns/",
                    mid or (message_id if type(message_id) is str else None),
                    controls,
                )
            )
        elif type(rec) is not dict:
            raise EventError(f"must be a JSON object, got {type(rec).__name__}", w)
        elif src is not None and str(src).endswith(":s3"):
            raise EventError(f"is {src!r}, not aws:s3", f"{w}.eventSource")
        else:
            raise EventError(
                f"is {src or rec.get('EventSource')!r}: expected aws:s3, aws:sqs or aws:sns", f"{w}.eventSource"
            )
    return out


def _nested(body: Any, where: str, via: str, mid: str | None, controls: _Controls) -> list[StorageEvent]:
    """An SQS body or SNS Message: JSON text holding another envelope."""
    if type(body) is str:
        try:
            doc = _decode(body)
        except ValueError as exc:
            raise EventError(f"is not JSON ({_json_problem(exc)}): not a storage notification", where) from None
    elif type(body) is dict:
        doc = body
    elif body is None:
        raise EventError("missing", where)
    else:
        raise EventError(f"must be JSON text, got {type(body).__name__}", where)
    if type(doc) is dict and "Records" in doc:  # the common case, without the generic detection
        return _aws_records(doc["Records"], f"{where}.Records", via, mid, controls)
    return _dispatch(doc, where, via, mid, controls)


def _sns_envelope(d: dict[str, Any], where: str, via: str, mid: str | None, controls: _Controls) -> list[StorageEvent]:
    """An SNS message as delivered to SQS (wrapped, not raw delivery) or to an HTTP endpoint."""
    sns_type = d.get("Type")
    if sns_type in _SNS_CONTROL:
        _note(controls, ControlMessage("aws", f"sns:{sns_type}", raw=d))
        return []
    if sns_type != "Notification":
        raise EventError(f"is {sns_type!r}, not an SNS Notification", _at(where, "Type"))
    own = d.get("MessageId")
    return _nested(
        d.get("Message"), _at(where, "Message"), via + "sns/", mid or (own if type(own) is str else None), controls
    )


def _cloudevent(d: dict[str, Any], where: str, via: str, controls: _Controls) -> list[StorageEvent]:
    ce_type = d.get("type")
    if type(ce_type) is not str or not ce_type:
        raise EventError("missing" if not ce_type else "must be a string", _at(where, "type"))
    if ce_type.startswith(gcp.CLOUDEVENT_PREFIX):
        return [gcp.cloudevent(d, where, via + "cloudevent")]
    if ce_type == gcp.PUBSUB_PUBLISHED:
        data = as_dict(d.get("data"), _at(where, "data"))
        return _pubsub(data.get("message"), _at(where, "data.message"), via + "cloudevent/", None, controls)
    if ce_type in azure.CONTROL_TYPES:
        _note(controls, ControlMessage("azure", ce_type, azure.validation_code(d), raw=d))
        return []
    if ce_type.startswith("Microsoft.Storage."):
        return [azure.blob_event(d, where, via + "cloudevents", True)]
    raise EventError(f"is {ce_type!r}: not a storage event type", _at(where, "type"))


def _event_type(d: dict[str, Any], where: str, via: str, controls: _Controls) -> list[StorageEvent]:
    """Top-level ``eventType``: an Event Grid-schema event, or GCP's old flat background event."""
    event_type = d.get("eventType")
    if type(event_type) is not str or not event_type:
        raise EventError("missing" if not event_type else "must be a string", _at(where, "eventType"))
    if event_type in azure.CONTROL_TYPES:
        _note(controls, ControlMessage("azure", event_type, azure.validation_code(d), raw=d))
        return []
    if event_type.startswith("Microsoft.Storage."):
        return [azure.blob_event(d, where, via + "eventgrid", False)]
    if "data" in d and (
        event_type in gcp.LEGACY_KINDS or event_type == gcp.LEGACY_CHANGE or event_type in gcp.LEGACY_PUBSUB
    ):
        return _gcp_legacy(d, where, via, controls)
    raise EventError(f"is {event_type!r}: not a storage event type", _at(where, "eventType"))


def _gcp_legacy(d: dict[str, Any], where: str, via: str, controls: _Controls) -> list[StorageEvent]:
    ctx = d.get("context", d)
    ctx_where = _at(where, "context") if "context" in d else where
    ctx = as_dict(ctx, ctx_where or "context")
    event_type = ctx.get("eventType")
    if event_type in gcp.LEGACY_PUBSUB:
        event_id = ctx.get("eventId")
        return _pubsub(
            d.get("data"), _at(where, "data"), via + "legacy/", event_id if type(event_id) is str else None, controls
        )
    if event_type in gcp.LEGACY_KINDS or event_type == gcp.LEGACY_CHANGE:
        return [gcp.legacy_event(d, where, via + "legacy")]
    raise EventError(f"is {event_type!r}: not a storage event type", _at(ctx_where, "eventType"))


def _pubsub(msg: Any, where: str, via: str, mid: str | None, controls: _Controls) -> list[StorageEvent]:
    events = gcp.pubsub_message(msg, where, via + "pubsub", mid)
    if not events and controls is not None:
        event_type = msg["attributes"]["eventType"]
        controls.append(ControlMessage("gcp", event_type, raw=msg))
    return events


def _delivery_id(rec: Any) -> str | None:
    """The id a partial-batch response reports: SQS messageId, SNS MessageId, event id."""
    if type(rec) is not dict:
        return None
    for value in (
        rec.get("messageId"),
        (rec.get("Sns") or {}).get("MessageId") if type(rec.get("Sns")) is dict else None,
        rec.get("id"),
    ):
        if type(value) is str and value:
            return value
    return None
