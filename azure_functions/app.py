"""The Azure Functions app. Thin: turn trigger input into the Event Grid-schema dict core.events reads,
call the core, raise on failure so Event Grid retries (and dead-letters) the event."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from azure_functions.rotation import bp as rotation_bp
from core.events.azure import from_trigger
from core.handlers.http_events import handle_http_event
from core.handlers.storage_events import default_handler, handle_or_raise

app = func.FunctionApp()
app.register_functions(rotation_bp)


def event_grid_dict(event: func.EventGridEvent) -> dict[str, Any]:
    """The Event Grid-schema form of a trigger's event (core.events fills what the trigger lost)."""
    return from_trigger(
        event_id=event.id,
        topic=event.topic,
        subject=event.subject,
        event_type=event.event_type,
        event_time=event.event_time.isoformat() if event.event_time else None,
        data_version=event.data_version,
        data=event.get_json(),
    )


@app.function_name(name="storage_event")
@app.event_grid_trigger(arg_name="event")
def storage_event(event: func.EventGridEvent) -> None:
    """``Microsoft.Storage.BlobCreated`` / ``BlobDeleted``: replicate per the configured rules."""
    handle_or_raise(default_handler(), event_grid_dict(event))


@app.function_name(name="storage_webhook")
@app.route(route="events", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.FUNCTION)
def storage_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """Event Grid webhook delivery (either schema), answering the validation handshakes."""
    answer = handle_http_event(default_handler(), req.method, dict(req.headers), req.get_body())
    return func.HttpResponse(
        answer.json(), status_code=answer.status, headers=dict(answer.headers), mimetype="application/json"
    )
