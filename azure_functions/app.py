"""The Azure Functions app. Thin: turn trigger input into the Event Grid-schema dict core.events reads,
call the core, raise on failure so Event Grid retries (and dead-letters) the event."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from core.handlers.storage_events import default_handler, handle_or_raise

app = func.FunctionApp()


def event_grid_dict(event: func.EventGridEvent) -> dict[str, Any]:
    """The Event Grid-schema form of a trigger's event. With a CloudEvents-schema subscription the
    Python trigger gives ``None`` for type and time; core.events then infers the kind from ``data.api``."""
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "data": event.get_json(),
    }


@app.function_name(name="storage_event")
@app.event_grid_trigger(arg_name="event")
def storage_event(event: func.EventGridEvent) -> None:
    """``Microsoft.Storage.BlobCreated`` / ``BlobDeleted``: replicate per the configured rules."""
    handle_or_raise(default_handler(), event_grid_dict(event))
