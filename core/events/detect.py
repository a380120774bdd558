"""The public parsing entry points and the registry of per-cloud detectors.

Detection is by shape: the same S3 record can arrive bare, inside an SQS body, an SNS Message, an SNS
envelope inside an SQS body, or as an EventBridge event; Azure and GCP events arrive as arrays,
CloudEvents (structured or binary) and Pub/Sub push bodies. Each cloud module's detector knows its own
envelopes; ``REGISTRY`` lists them, and wrappers hand their contents back to it.

Every function here raises only :class:`EventError` (``subscription_validation_code`` never raises).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from operator import attrgetter
from typing import Any

from core.events import alibaba, aws, azure, gcp, ibm, oci, tencent
from core.events.limits import MAX_BUCKET_CHARS, MAX_KEY_CHARS
from core.events.model import SEED_PROVIDERS, Batch, ControlMessage, EventError, RecordFailure, StorageEvent, brief
from core.events.registry import Registry, Scope, check_length, decode_text

log = logging.getLogger("circle.events")

# One line per cloud; the order only matters for shapes two detectors could both claim (none today).
REGISTRY = Registry(
    (
        aws.DETECTOR,
        azure.DETECTOR,
        gcp.DETECTOR,
        alibaba.DETECTOR,
        tencent.DETECTOR,
        oci.DETECTOR,
        ibm.DETECTOR,
    )
)

# Every provider name a StorageEvent can carry: the seed clouds (contract C4) plus any registered detector's.
PROVIDERS: frozenset[str] = SEED_PROVIDERS | REGISTRY.providers

_key_of = attrgetter("key")
_bucket_of = attrgetter("bucket")
_BIG_BATCH = 64  # records
_BIG_TEXT = 64 * 1024  # bytes of JSON


def parse_events(payload: Any) -> list[StorageEvent]:
    """Every storage change in ``payload`` (dict, list, JSON str or bytes), one per record.

    Control messages give no events; anything unreadable raises :class:`EventError` naming the field.
    """
    with _gc_paused(payload):
        doc = _load(payload)
        return _checked(REGISTRY.dispatch(doc, Scope(REGISTRY)))


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
    root = Scope(REGISTRY, controls=controls)
    if records is None:
        return Batch(_checked(REGISTRY.dispatch(doc, root)), controls, failures)
    check_length(records, prefix or "payload")
    for i, rec in enumerate(records):
        try:
            if prefix:
                found = REGISTRY.records(records[i : i + 1], prefix, root, start=i)
            else:
                found = REGISTRY.dispatch_one(rec, root.item(f"[{i}]"))
            events.extend(_checked(found))
        except EventError as exc:
            failures.append(RecordFailure(i, _delivery_id(rec), exc))
            log.debug("unreadable record in batch", extra={"index": i, "where": exc.where})
    return Batch(events, controls, failures)


def parse_cloudevent(headers: Mapping[str, str], body: bytes | str | dict[str, Any] | None) -> list[StorageEvent]:
    """A CloudEvent delivered over HTTP: binary mode (``ce-*`` headers + data body) or, when there is no
    ``ce-type`` header, whatever the body holds (structured CloudEvent, Event Grid array, Pub/Sub push)."""
    if not isinstance(headers, Mapping):
        raise EventError(f"must be a mapping of header names to values, got {type(headers).__name__}", "headers")
    lowered = {k.lower(): v for k, v in headers.items() if type(k) is str and k[:3].lower() == "ce-"}
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
    elif type(body) is dict:
        data = body
    else:
        data = _load(body, "body")
    event: dict[str, Any] = {"data": data}
    for attr in ("specversion", "type", "source", "id", "time", "subject"):
        value = lowered.get("ce-" + attr)
        if value is not None:
            if type(value) is not str:
                raise EventError(f"must be a string, got {type(value).__name__}", "ce-" + attr)
            event[attr] = value
    with _gc_paused(data):
        return _checked(REGISTRY.dispatch_one(event, Scope(REGISTRY)))


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
    elif type(payload) is not str:
        if isinstance(payload, Mapping):
            try:
                return dict(payload)
            except Exception:  # a broken Mapping of the caller's
                raise EventError(f"is a {type(payload).__name__} that cannot be read as a dict", where) from None
        raise EventError(f"must be a dict, list, str or bytes, got {type(payload).__name__}", where)
    return decode_text(payload, where)


def _checked(events: list[StorageEvent]) -> list[StorageEvent]:
    """Refuse keys and bucket names longer than any cloud allows (they can only be garbage)."""
    if not events or (
        max(map(len, map(_key_of, events))) <= MAX_KEY_CHARS
        and max(map(len, map(_bucket_of, events))) <= MAX_BUCKET_CHARS
    ):
        return events  # the usual case, checked at C speed
    for i, event in enumerate(events):
        if len(event.key) > MAX_KEY_CHARS:
            raise EventError(f"has a key longer than {MAX_KEY_CHARS} characters: {brief(event.key)}", f"event {i}")
        if len(event.bucket) > MAX_BUCKET_CHARS:
            raise EventError(f"has a bucket name longer than {MAX_BUCKET_CHARS} characters", f"event {i}")
    return events


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


def _delivery_id(rec: Any) -> str | None:
    """The id a partial-batch response reports: SQS messageId, SNS MessageId, event id."""
    if type(rec) is not dict:
        return None
    sns = rec.get("Sns")
    for value in (rec.get("messageId"), sns.get("MessageId") if type(sns) is dict else None, rec.get("id")):
        if type(value) is str and value:
            return value
    return None
