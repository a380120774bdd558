"""docs/events.md, as a runnable file: every sample payload the clouds deliver, parsed into the one
``StorageEvent`` model (``PYTHONPATH=. python docs/examples/events.py``). The samples are the vendors'
own, kept in tests/events/data/."""

from __future__ import annotations

import json
from pathlib import Path

from core.events import EventError, StorageEvent, parse_events

SAMPLES = Path(__file__).resolve().parents[2] / "tests" / "events" / "data"


def parse(name: str) -> list[StorageEvent]:
    event = json.loads((SAMPLES / name).read_text())
    # --8<-- [start:parse]
    from core.events import parse_events  # also parse_batch, parse_cloudevent, StorageEvent, EventError

    events = parse_events(event)  # dict, list, JSON str or bytes; the envelope is detected
    # --8<-- [end:parse]
    return list(events)


def main() -> None:
    for name in (
        "powertools_s3Event.json",  # S3 notification (direct, or an SQS body)
        "msdocs_eventgridschema_BlobCreated.json",  # Event Grid schema
        "msdocs_cloudevents_BlobDeleted.json",  # CloudEvents schema (Event Grid)
        "powertools_s3EventBridgeNotificationObjectCreatedEvent.json",  # EventBridge
    ):
        for event in parse(name):
            print(f"{name}: {event.provider} {event.kind} {event.bucket}/{event.key} id={event.event_id}")
    try:
        parse_events({"not": "an event"})
    except EventError as exc:
        print(f"unreadable payload -> EventError: {exc}")
    else:
        raise AssertionError("an unknown envelope must raise EventError")


if __name__ == "__main__":
    main()
