"""Reading an event file: any payload core.events understands, or a bare GCS object resource (the body
of a binary-mode CloudEvent, whose type travels in headers: ``--type`` supplies it)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from circle_cli.errors import usage

GCS_TYPES = ("finalized", "deleted", "archived", "metadataUpdated")


def read_event_file(path: str) -> Any:
    """The JSON document in ``path`` (``-`` reads stdin); a clear usage error otherwise."""
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise usage(f"{path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise usage(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None


def is_gcs_object(doc: Any) -> bool:
    """A bare ``storage#object`` resource (what a binary-mode CloudEvent carries as its body)."""
    return isinstance(doc, dict) and "specversion" not in doc and "bucket" in doc and "name" in doc


def is_structured_cloudevent(doc: Any) -> bool:
    return isinstance(doc, dict) and "specversion" in doc


def binary_cloudevent(doc: dict[str, Any], event_type: str = "finalized") -> tuple[dict[str, str], dict[str, Any]]:
    """(ce-* headers, body) of the binary-mode CloudEvent Eventarc would send: for a bare GCS object
    resource, the attributes of a ``google.cloud.storage.object.v1.<event_type>`` event; for a
    structured CloudEvent, its own attributes."""
    if is_structured_cloudevent(doc):
        attributes = {k: v for k, v in doc.items() if k not in ("data", "data_base64")}
        data = doc.get("data")
        if not isinstance(data, dict):
            raise usage("the CloudEvent's data is not a JSON object")
    else:
        if event_type not in GCS_TYPES:
            raise usage(f"--type must be one of {', '.join(GCS_TYPES)}")
        attributes = {
            "specversion": "1.0",
            "id": uuid.uuid4().hex,
            "type": f"google.cloud.storage.object.v1.{event_type}",
            "source": f"//storage.googleapis.com/projects/_/buckets/{doc['bucket']}",
            "subject": f"objects/{doc['name']}",
            "time": str(doc.get("updated") or doc.get("timeCreated") or "2026-01-01T00:00:00Z"),
        }
        data = doc
    headers = {f"ce-{k}": str(v) for k, v in attributes.items() if k != "datacontenttype"}
    headers["Content-Type"] = str(attributes.get("datacontenttype") or "application/json")
    return headers, data
