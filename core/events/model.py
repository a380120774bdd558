"""The one storage-event representation every adapter hands to the handlers.

Vendor payloads (S3 notifications, Event Grid, CloudEvents, Pub/Sub notifications) are converted
here once, at the edge; nothing past ``parse_events`` looks at a vendor field again.
Pure stdlib on purpose: this runs on every invocation, before any SDK is loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from core.etag import unquote_etag as _unquote_etag

# Every cloud a StorageEvent (or a store) can name (contract C4). "digitalocean" Spaces emit no object
# events, and "file"/"memory" are local stores: they are here so configuration and events share one list.
SEED_PROVIDERS: frozenset[str] = frozenset(
    ("aws", "azure", "gcp", "digitalocean", "oci", "ibm", "alibaba", "tencent", "file", "memory")
)
Kind = Literal["created", "deleted", "archived", "restored", "metadata_updated", "other"]

KINDS: frozenset[str] = frozenset(("created", "deleted", "archived", "restored", "metadata_updated", "other"))


class EventError(ValueError):
    """A payload that cannot be read as storage events. ``where`` is the path of the bad field."""

    def __init__(self, problem: str, where: str = "") -> None:
        self.problem = problem
        self.where = where
        super().__init__(f"{where} {problem}" if where else problem)


@dataclass(frozen=True, slots=True)
class StorageEvent:
    """One change to one object, whatever cloud and envelope it came through.

    ``event_id`` names the change, not the delivery: redeliveries (and the same change seen through
    another envelope) give the same id, so it is the dedup key. ``message_id`` names the delivery
    (SQS messageId, Pub/Sub messageId, Event Grid id) for partial-batch failure reports.
    ``superseded`` marks a GCS delete/archive of a generation replaced by an overwrite: the new
    generation's own finalize event follows, so replication can ignore this one.
    """

    provider: str
    kind: Kind
    bucket: str
    key: str
    event_time: datetime
    event_id: str
    size: int | None = None
    etag: str | None = None
    version: str | None = None
    sequencer: str | None = None
    account: str | None = None
    region: str | None = None
    name: str = ""
    superseded: bool = False
    message_id: str | None = field(default=None, compare=False)
    envelope: str = field(default="", compare=False)
    raw: Any = field(default=None, repr=False, compare=False, hash=False)


def change_id(provider: str, *parts: object) -> str:
    """Derive a stable event id from the fields that identify a change (never from delivery ids)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return provider + ":" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def parse_time(value: Any, where: str) -> datetime:
    """RFC 3339 text (any fraction length, ``Z`` or offset) to an aware UTC datetime."""
    if type(value) is not str:
        raise EventError(f"must be an RFC 3339 time string, got {type(value).__name__}", where)
    try:
        dt = datetime.fromisoformat(value)
        tz = dt.tzinfo
        if tz is UTC:
            return dt
        if tz is None:
            return dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 9999 with a negative offset
        raise EventError(f"is not an RFC 3339 time: {brief(value)}", where) from None


def parse_epoch(value: Any, where: str) -> datetime:
    """Whole seconds since 1970 (Tencent COS), as an int or ASCII digits, to an aware UTC datetime."""
    seconds = to_size(value, where)
    if seconds is None:
        raise EventError("missing", where)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        raise EventError(f"is not a time in seconds since 1970: {seconds}", where) from None


def unquote_etag(value: Any, where: str) -> str | None:
    """ETags arrive quoted on some paths (Azure) and bare on others: always return them bare, by the
    one normaliser (``core.etag``) the stores use, so an event's ETag equals the store's for one object."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise EventError(f"must be a string, got {type(value).__name__}", where)
    return _unquote_etag(value)


INT64_MAX = 2**63 - 1


def to_size(value: Any, where: str) -> int | None:
    """Object sizes and generations: ints, or int64 as decimal strings (GCS, IBM).

    ASCII digits only and at most int64: ``str.isdigit`` alone accepts ``"²"`` (then ``int`` fails) and
    ``"١٢"`` (then ``int`` reads 12), and ``int`` refuses more than 4,300 digits with a ValueError.
    """
    if value is None:
        return None
    if type(value) is int:
        if value < 0:
            raise EventError(f"must not be negative, got {brief(value)}", where)
        if value > INT64_MAX:
            raise EventError(f"must fit in 64 bits, got {brief(value)}", where)
        return value
    if type(value) is str and 0 < len(value) <= 19 and value.isascii() and value.isdigit():
        n = int(value)
        if n <= INT64_MAX:
            return n
    raise EventError(f"must be a non-negative integer, got {brief(value)}", where)


def brief(value: Any, limit: int = 80) -> str:
    """A short, safe rendering of a vendor value for an error message: strings cut to ``limit`` characters,
    other containers by type only (a repr could be huge, nested past the recursion limit, or a secret)."""
    kind = type(value)
    if kind is str:
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    if kind is int:
        return repr(value) if -INT64_MAX <= value <= INT64_MAX else "an integer out of range"
    if value is None or kind is bool or kind is float:
        return repr(value)
    return f"a {kind.__name__}"


def text(value: Any, where: str, *, required: bool = True) -> str | None:
    """A string field; ``required`` ones must be present and non-empty."""
    if value is None or value == "":
        if required:
            raise EventError("missing", where)
        return None
    if type(value) is not str:
        raise EventError(f"must be a string, got {type(value).__name__}", where)
    return value


def opt_text(value: Any, where: str) -> str | None:
    """An optional string field; numbers (GCS generations sometimes are) are accepted as text."""
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if type(value) is int:
        if -INT64_MAX <= value <= INT64_MAX:  # str() of a 5,000-digit int raises ValueError
            return str(value)
        raise EventError("must be a string, got an integer out of range", where)
    raise EventError(f"must be a string, got {type(value).__name__}", where)


def as_dict(value: Any, where: str) -> dict[str, Any]:
    """A JSON object field, or an EventError naming it."""
    if type(value) is dict:
        return value
    if value is None:
        raise EventError("missing", where)
    raise EventError(f"must be an object, got {type(value).__name__}", where)


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """A delivery that is not a change: ``s3:TestEvent``, an Event Grid subscription handshake, an SNS
    subscription confirmation, a Pub/Sub ``TOPIC_CONFIGURED`` notice. ``parse_events`` yields no
    StorageEvent for these; ``parse_batch`` reports them so an adapter can log or answer them.
    """

    provider: str
    name: str
    validation_code: str | None = None
    raw: Any = field(default=None, repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """One top-level record of a batch that could not be read (for SQS partial-batch responses)."""

    index: int
    message_id: str | None
    error: EventError


@dataclass(frozen=True, slots=True)
class Batch:
    """Everything in one delivery: the changes, the control messages, and the unreadable records."""

    events: list[StorageEvent]
    controls: list[ControlMessage]
    failures: list[RecordFailure]
