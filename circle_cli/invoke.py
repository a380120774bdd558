"""``circle invoke aws|azure|gcp EVENT.json``: run the real adapter entry point locally, as its platform
would call it, against the configured stores.

- aws: ``aws_lambda.handlers.storage_event(event, context)`` with a Lambda context whose remaining time
  counts down from ``--timeout``; SQS batches answer ``batchItemFailures``.
- gcp: a binary-mode CloudEvent (``ce-*`` headers, JSON body) POSTed to the ``storage_event`` target
  through functions-framework's own app (``create_app`` + its test client): the same Flask app the
  server runs. A bare GCS object resource gets the headers Eventarc would send (``--type``).
- azure: the ``storage_queue`` function of the FunctionApp with a ``func.QueueMessage`` (the deployed
  path), or with ``--trigger event-grid`` the ``storage_event`` function with a ``func.EventGridEvent``.

The adapters' own log lines (Powertools JSON, Cloud Logging JSON, the worker's text) go to stderr;
stdout carries only the result. Exit 0 when the platform would acknowledge, 1 when it would retry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from circle_cli.errors import FAILURE, CliError, usage
from circle_cli.eventfile import GCS_TYPES, binary_cloudevent, is_gcs_object, read_event_file
from circle_cli.session import Session, session


class LambdaContext:
    """The documented Lambda context: names, ARN, memory, request id, and a remaining-time clock that
    runs down from the function's timeout like the real one."""

    def __init__(self, function_name: str = "circle-storage-event", timeout: float = 900.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@click.command()
@click.argument("cloud", type=click.Choice(["aws", "azure", "gcp"]))
@click.argument("event_file", metavar="EVENT.json")
@click.option(
    "--timeout", type=click.FloatRange(1), default=900.0, show_default=True, help="aws: the function timeout."
)
@click.option(
    "--trigger",
    type=click.Choice(["queue", "event-grid"]),
    default="queue",
    show_default=True,
    help="azure: the storage_queue function (QueueMessage) or storage_event (EventGridEvent).",
)
@click.option(
    "--type",
    "event_type",
    type=click.Choice(GCS_TYPES),
    default="finalized",
    show_default=True,
    help="gcp: the event type of a bare GCS object resource.",
)
@click.pass_context
def invoke(ctx: click.Context, cloud: str, event_file: str, timeout: float, trigger: str, event_type: str) -> int:
    """Run CLOUD's storage-event entry point locally on EVENT.json (e.g. the samples in tests/events/data),
    replicating with the configured stores.

    \b
    circle --config circle.toml invoke aws tests/events/data/powertools_s3SqsEvent.json
    circle invoke gcp tests/events/data/cloudevents_binary_storage_StorageObjectData-simple.json
    circle invoke azure --trigger event-grid tests/events/data/msdocs_eventgridschema_BlobCreated.json
    """
    s = session(ctx)
    payload = read_event_file(event_file)
    config = s.config_file()
    if config is None:
        raise usage("invoke needs a configuration: pass --config circle.toml or set CIRCLE_CONFIG")
    s.config  # noqa: B018 - checked here: a bad file is a usage error, not a retried delivery
    os.environ["CIRCLE_CONFIG"] = str(Path(config).resolve())
    if s.env:
        os.environ["CIRCLE_ENV"] = s.env
    with _adapter_output(s):
        if cloud == "aws":
            result = _aws(payload, timeout)
        elif cloud == "gcp":
            result = _gcp(payload, event_type)
        else:
            result = _azure(payload, trigger)
    s.emit(result, lambda: _print_result(result))
    return 0 if result["status"] == "ok" else FAILURE


@contextlib.contextmanager
def _adapter_output(s: Session) -> Iterator[None]:
    """The adapters log as their platform does (JSON lines on stdout for Lambda and GCP): send all of it
    to stderr so stdout holds the result, and let their own handlers print it (not ours)."""
    logger = logging.getLogger("circle")
    ours = [h for h in logger.handlers if getattr(h, "_circle_cli", False)]
    for handler in ours:
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.INFO if not s.quiet else logging.ERROR)
    root = logging.getLogger()
    plain: logging.Handler | None = None
    if not root.handlers:  # the Azure worker forwards root records to the host; show them on stderr here
        plain = logging.StreamHandler(sys.stderr)
        plain.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(plain)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if plain is not None:
            root.removeHandler(plain)


def _print_result(result: dict[str, Any]) -> None:
    click.echo(f"{result['cloud']}: {result['status']}" + (f" ({result['reason']})" if result.get("reason") else ""))
    answer = result.get("answer")
    if answer is not None:
        click.echo(json.dumps(answer, indent=2, default=str))


# -- AWS ------------------------------------------------------------------------------------------------------
def _aws(payload: Any, timeout: float) -> dict[str, Any]:
    from aws_lambda import handlers

    handlers.reset_runtime()
    context = LambdaContext(timeout=timeout)
    try:
        answer = handlers.storage_event(payload, context)  # type: ignore[arg-type]  # the documented shape
    except handlers.RetryDelivery as exc:
        return {"cloud": "aws", "status": "retry", "reason": str(exc), "answer": None}
    failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    status = "retry" if failures else "ok"
    reason = f"{len(failures)} record(s) in batchItemFailures" if failures else ""
    return {"cloud": "aws", "status": status, "reason": reason, "answer": answer}


# -- GCP ------------------------------------------------------------------------------------------------------
def _gcp(payload: Any, event_type: str) -> dict[str, Any]:
    if not (is_gcs_object(payload) or (isinstance(payload, dict) and "specversion" in payload)):
        raise usage("gcp: EVENT.json must be a CloudEvent (structured) or a GCS object resource (binary body)")
    headers, body = binary_cloudevent(payload, event_type)
    import functions_framework

    import gcp_functions

    source = Path(gcp_functions.__file__).resolve().parent / "main.py"
    app = functions_framework.create_app(target="storage_event", source=str(source), signature_type="cloudevent")
    response = app.test_client().post("/", headers=headers, data=json.dumps(body))
    ok = 200 <= response.status_code < 300
    reason = "" if ok else f"HTTP {response.status_code}: Eventarc redelivers it"
    return {
        "cloud": "gcp",
        "status": "ok" if ok else "retry",
        "reason": reason,
        "answer": {"status": response.status_code, "headers": {k: v for k, v in headers.items()}},
    }


# -- Azure ----------------------------------------------------------------------------------------------------
def _azure(payload: Any, trigger: str) -> dict[str, Any]:
    import azure.functions as func

    from azure_functions import app as azure_app

    azure_app.reset_runtime()
    functions = _azure_functions()
    events = payload if isinstance(payload, list) else [payload]
    answers: list[dict[str, Any]] = []
    for raw in events:
        if not isinstance(raw, dict):
            raise usage("azure: EVENT.json must hold Event Grid events (objects)")
        try:
            if trigger == "queue":
                functions["storage_queue"](_queue_message(json.dumps(raw)))
            else:
                functions["storage_event"](_event_grid_event(func, raw))
            answers.append({"id": raw.get("id"), "status": "ok"})
        except azure_app.RetryDelivery as exc:
            answers.append({"id": raw.get("id"), "status": "retry", "reason": str(exc)})
    failed = [a for a in answers if a["status"] != "ok"]
    reason = "; ".join(a["reason"] for a in failed)
    return {"cloud": "azure", "status": "retry" if failed else "ok", "reason": reason, "answer": answers}


@functools.cache
def _azure_functions() -> dict[str, Any]:
    """The FunctionApp's functions by name, indexed once per process as the worker does (indexing the
    same app twice fails on its own blueprints)."""
    from azure_functions import app as azure_app

    app = azure_app.app
    # get_functions() records every name on the app and raises on a second call. Index with a clean record
    # (the worker's own indexer, or a test, may have indexed function_app.py in this process already) and
    # leave the app as found, so that indexer can still index it afterwards.
    recorded, app.functions_bindings = app.functions_bindings, None
    try:
        functions = app.get_functions()
    finally:
        app.functions_bindings = recorded
    return {str(f.get_function_name()): f.get_user_function() for f in functions}


def _queue_message(text: str) -> Any:
    """The ``func.QueueMessage`` the worker's own converter makes of a received message (first delivery)."""
    from azure.functions import meta
    from azure.functions.queue import QueueMessageInConverter

    metadata = {
        "Id": meta.Datum(str(uuid.uuid4()), "string"),
        "DequeueCount": meta.Datum(1, "int"),
        "PopReceipt": meta.Datum(uuid.uuid4().hex, "string"),
    }
    return QueueMessageInConverter.decode(meta.Datum(text, "string"), trigger_metadata=metadata)


def _event_grid_event(func: Any, raw: dict[str, Any]) -> Any:
    """The ``func.EventGridEvent`` the worker builds for an Event Grid-schema event."""
    if "eventType" not in raw:
        raise usage("azure --trigger event-grid needs Event Grid-schema events (eventType, subject, data)")
    when = _event_time(str(raw.get("eventTime", "")))
    return func.EventGridEvent(
        id=str(raw.get("id", "")),
        data=raw.get("data"),
        topic=str(raw.get("topic", "")),
        subject=str(raw.get("subject", "")),
        event_type=str(raw["eventType"]),
        event_time=when,
        data_version=str(raw.get("dataVersion", "")),
    )


def _event_time(text: str) -> dt.datetime:
    """Event Grid's times carry 7 fractional digits (``...00.9584103Z``), one more than Python parses."""
    head, _, frac = text.rstrip("Z").partition(".")
    frac = frac.split("+", 1)[0][:6]
    try:
        when = dt.datetime.fromisoformat(head + (f".{frac}" if frac else ""))
    except ValueError:
        raise CliError(f"azure: eventTime {text!r} is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
