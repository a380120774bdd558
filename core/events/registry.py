"""The detector registry: which cloud module reads which envelope.

Each cloud module provides one :class:`Detector` that recognises that cloud's envelopes and turns
them into StorageEvents. Envelopes that wrap other envelopes (an SQS body, an SNS Message, a Pub/Sub
push, a CloudEvent around a Pub/Sub message) hand their contents back here through
:meth:`Scope.unwrap` / :meth:`Scope.dispatch`, so any leaf can arrive in any wrapper, and nesting,
sizes and error wording are enforced in one place. Adding a cloud is one module plus one entry in
``core.events.detect.REGISTRY``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.events.limits import MAX_NESTING, MAX_RECORDS, MAX_TEXT_BYTES
from core.events.model import ControlMessage, EventError, StorageEvent, brief

log = logging.getLogger("circle.events")

_decode = json.JSONDecoder().decode  # json.loads minus its per-call argument checks

# reads one item of a ``Records`` array and appends its events: (record, where, scope, out) -> None
# (appending instead of returning a list saves two lists per record in a 10,000-record batch)
RecordParser = Callable[[dict[str, Any], str, "Scope", list[StorageEvent]], None]


class Detector:
    """Recognises and parses the envelopes of one cloud. Override what applies.

        ``parse`` is offered every JSON object that is not a ``Records`` batch, in registration order; it
        returns None when the object is not one of this cloud's envelopes, ``[]`` for a control message
        (after ``scope.note(...)``), or the events. ``record_parsers`` maps the ``eventSource`` (or SNS's
        ``EventSource``) of a ``Records[]`` item to the function that reads it and appends its events to
    ``out``; ``parse_record`` is offered
        the items whose source no detector registered. Detectors raise only :class:`EventError`.
    """

    provider: str = ""
    describes: str = ""  # for "expected ..." in the unknown-envelope error, e.g. "an OSS trigger event"

    def record_parsers(self) -> Mapping[str, RecordParser]:
        return {}

    def parse(self, doc: dict[str, Any], scope: Scope) -> list[StorageEvent] | None:
        return None

    def parse_record(self, rec: dict[str, Any], where: str, scope: Scope) -> list[StorageEvent] | None:
        return None


class Scope:
    """Where the parser is (path for errors, envelope chain, delivery id) and what the call collects."""

    __slots__ = ("controls", "depth", "mid", "registry", "via", "where")

    def __init__(
        self,
        registry: Registry,
        where: str = "",
        via: str = "",
        mid: str | None = None,
        controls: list[ControlMessage] | None = None,
        depth: int = 0,
    ) -> None:
        self.registry = registry
        self.where = where
        self.via = via
        self.mid = mid
        self.controls = controls
        self.depth = depth

    def at(self, name: str) -> str:
        """The error path of field ``name`` of the current object."""
        return f"{self.where}.{name}" if self.where else name

    def note(self, control: ControlMessage) -> None:
        """Report a control message (kept only by ``parse_batch``)."""
        if self.controls is not None:
            self.controls.append(control)

    def item(self, where: str) -> Scope:
        """The scope of one item of an array at this level (same envelope, same depth)."""
        return Scope(self.registry, where, self.via, self.mid, self.controls, self.depth)

    def inner(self, where: str, via: str, mid: str | None) -> Scope:
        """The scope of an envelope's contents, one level deeper (bounded by MAX_NESTING)."""
        if self.depth >= MAX_NESTING:
            raise EventError(f"nests envelopes more than {MAX_NESTING} deep", where or "payload")
        return Scope(self.registry, where, via, mid, self.controls, self.depth + 1)

    def dispatch(self, doc: Any, where: str, via: str, mid: str | None = None) -> list[StorageEvent]:
        """Parse an already-decoded inner document through the registry."""
        return self.registry.dispatch(doc, self.inner(where, via, mid))

    def unwrap(
        self, body: Any, where: str, via: str, mid: str | None = None, out: list[StorageEvent] | None = None
    ) -> list[StorageEvent]:
        """An SQS body or SNS Message: JSON text (or an already decoded object) holding another envelope.
        Its events are appended to ``out`` (a new list if None), which is returned."""
        if type(body) is str and len(body) <= MAX_TEXT_BYTES:  # the hot path of a big SQS batch
            try:
                doc = _decode(body)
            except (ValueError, RecursionError):
                doc = decode_text(body, where, ": not a storage notification")  # raises, naming the problem
        elif type(body) is dict:
            doc = body
        elif body is None:
            raise EventError("missing", where)
        elif type(body) is str:
            doc = decode_text(body, where)  # raises: too large
        else:
            raise EventError(f"must be JSON text, got {type(body).__name__}", where)
        if self.depth >= MAX_NESTING:
            raise EventError(f"nests envelopes more than {MAX_NESTING} deep", where)
        scope = Scope(self.registry, where, via, mid, self.controls, self.depth + 1)
        if type(doc) is dict and "Records" in doc:  # the common case, without the generic detection
            return self.registry.records(doc["Records"], f"{where}.Records", scope, out)
        events = self.registry.dispatch(doc, scope)
        if out is None:
            return events
        out.extend(events)
        return out


def decode_text(text: str | bytes, where: str, hint: str = "") -> Any:
    """JSON text to Python, within the size limit; every failure is an EventError naming ``where``."""
    if len(text) > MAX_TEXT_BYTES:
        raise EventError(f"is larger than {MAX_TEXT_BYTES} bytes of JSON", where)
    try:
        return _decode(text) if type(text) is str else json.loads(text)
    except RecursionError:
        raise EventError("is nested too deeply to decode", where) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"is not JSON ({json_problem(exc)}){hint}", where) from None


def json_problem(exc: Exception) -> str:
    """The decoder's complaint without echoing the payload (it may hold anything)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return type(exc).__name__


class Registry:
    """The ordered detectors plus the ``Records[].eventSource`` index; dispatches documents to them."""

    def __init__(self, detectors: Iterable[Detector] = ()) -> None:
        self._detectors: list[Detector] = []
        self._by_source: dict[str, RecordParser] = {}
        for detector in detectors:
            self.register(detector)

    def register(self, detector: Detector) -> Detector:
        """Add a detector after the others; its record sources must not already be taken."""
        if not detector.provider:
            raise ValueError(f"{type(detector).__name__} names no provider")
        sources = detector.record_parsers()
        taken = sorted(set(sources) & set(self._by_source))
        if taken:
            raise ValueError(f"{type(detector).__name__}: record sources already registered: {taken}")
        self._detectors.append(detector)
        self._by_source.update(sources)
        log.debug(
            "event detector registered",
            extra={"detector": type(detector).__name__, "provider": detector.provider, "sources": sorted(sources)},
        )
        return detector

    @property
    def detectors(self) -> tuple[Detector, ...]:
        return tuple(self._detectors)

    @property
    def providers(self) -> frozenset[str]:
        return frozenset(d.provider for d in self._detectors)

    def dispatch(self, doc: Any, scope: Scope) -> list[StorageEvent]:
        """A JSON object, or an array of them, at ``scope.where``."""
        if type(doc) is list:
            check_length(doc, scope.where or "payload")
            out: list[StorageEvent] = []
            for i, item in enumerate(doc):
                out.extend(self.dispatch_one(item, scope.item(f"{scope.where}[{i}]")))
            return out
        return self.dispatch_one(doc, scope)

    def dispatch_one(self, doc: Any, scope: Scope) -> list[StorageEvent]:
        if type(doc) is not dict:
            raise EventError(f"must be a JSON object, got {type(doc).__name__}", scope.where or "payload")
        if "Records" in doc:
            return self.records(doc["Records"], scope.at("Records"), scope)
        for detector in self._detectors:
            events = detector.parse(doc, scope)
            if events is not None:
                return events
        raise self._unknown(doc, scope)

    def records(
        self, records: Any, where: str, scope: Scope, out: list[StorageEvent] | None = None, start: int = 0
    ) -> list[StorageEvent]:
        """A ``Records`` array (S3 notifications, SQS and SNS deliveries, COS notifications...): its events
        are appended to ``out`` (a new list if None), which is returned."""
        if type(records) is not list:
            raise EventError(f"must be an array, got {type(records).__name__}", where)
        if len(records) > MAX_RECORDS:
            check_length(records, where)
        if out is None:
            out = []
        by_source = self._by_source
        for i, rec in enumerate(records, start):
            w = f"{where}[{i}]"
            if type(rec) is not dict:
                raise EventError(f"must be a JSON object, got {type(rec).__name__}", w)
            src = rec.get("eventSource")
            parser = by_source.get(src) if type(src) is str else None
            if parser is None:
                alt = rec.get("EventSource")  # SNS deliveries to Lambda capitalise it
                parser = by_source.get(alt) if type(alt) is str else None
                src = alt if src is None else src
            if parser is not None:
                parser(rec, w, scope, out)
                continue
            for detector in self._detectors:
                events = detector.parse_record(rec, w, scope)
                if events is not None:
                    out.extend(events)
                    break
            else:
                known = ", ".join(sorted(by_source))
                raise EventError(f"is {brief(src)}: expected one of {known}", f"{w}.eventSource")
        return out

    def _unknown(self, doc: dict[str, Any], scope: Scope) -> EventError:
        where = scope.where or "payload"
        # typed envelopes no detector took: name the type, it is what the sender got wrong
        for marker, field in (("specversion", "type"), ("eventType", "eventType")):
            if marker in doc:
                value = doc.get(field)
                if type(value) is not str or not value:
                    return EventError(
                        "missing" if value is None or value == "" else f"must be a string, got {type(value).__name__}",
                        scope.at(field),
                    )
                return EventError(f"is {brief(value)}: not a storage event type", scope.at(field))
        keys = ", ".join(sorted(brief(k) if type(k) is not str else k[:40] for k in list(doc)[:64])[:8])
        expected = ", ".join(d.describes for d in self._detectors if d.describes)
        return EventError(f"has an unknown envelope (keys: {keys}); expected {expected}", where)


def check_length(items: list[Any], where: str) -> None:
    if len(items) > MAX_RECORDS:
        raise EventError(f"has more than {MAX_RECORDS} items", where)
