"""``circle events show EVENT.json``: the StorageEvents core.events makes of a payload."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from circle_cli.errors import CliError
from circle_cli.eventfile import GCS_TYPES, binary_cloudevent, is_gcs_object, read_event_file
from circle_cli.session import session


@click.group()
def events() -> None:
    """Inspect event payloads."""


@events.command()
@click.argument("event_file", metavar="EVENT.json")
@click.option(
    "--type",
    "event_type",
    type=click.Choice(GCS_TYPES),
    default="finalized",
    show_default=True,
    help="For a bare GCS object resource (a binary-mode CloudEvent body): the event type its headers carry.",
)
@click.pass_context
def show(ctx: click.Context, event_file: str, event_type: str) -> None:
    """Print the normalised StorageEvents of EVENT.json (S3, SQS, SNS, EventBridge, Event Grid, CloudEvents,
    Pub/Sub...), one per record: ``circle events show tests/events/data/powertools_s3SqsEvent.json``."""
    s = session(ctx)
    doc = read_event_file(event_file)
    from core.events import EventError, parse_cloudevent, parse_events

    try:
        if is_gcs_object(doc):
            headers, body = binary_cloudevent(doc, event_type)
            parsed = parse_cloudevent(headers, json.dumps(body))
        else:
            parsed = parse_events(doc)
    except EventError as exc:
        raise CliError(f"{event_file}: {exc}") from None
    rows = [_as_dict(e) for e in parsed]

    def human() -> None:
        s.table(
            ["provider", "kind", "bucket", "key", "size", "etag", "version", "account", "envelope", "event_id"],
            [
                (
                    r["provider"],
                    r["kind"],
                    r["bucket"],
                    r["key"],
                    r["size"],
                    r["etag"],
                    r["version"],
                    r["account"],
                    r["envelope"],
                    r["event_id"],
                )
                for r in rows
            ],
        )
        if not rows:
            click.echo("no storage events (a test or control message)")

    s.emit(rows, human)


def _as_dict(event: Any) -> dict[str, Any]:
    data = {k: v for k, v in dataclasses.asdict(event).items() if k != "raw"}
    for key, value in data.items():
        if hasattr(value, "isoformat"):
            data[key] = value.isoformat()
    return data
