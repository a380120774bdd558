"""Vendor payloads copied byte for byte from shared/events (see tests/events/data/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw(name))


def template(name: str, **values: str) -> str:
    """Fill a SAM CLI mustache template's ``{{{name}}}`` placeholders (values are JSON-escaped)."""
    text = raw(name).decode()
    for key, value in values.items():
        text = text.replace("{{{" + key + "}}}", json.dumps(value)[1:-1])
    assert "{{{" not in text, f"unfilled placeholder in {name}"
    return text
