"""The framework-free request and response every adapter converts to and from (contract H1).

``HttpRequest.path`` is the raw path, still percent-encoded (an object key may contain an encoded
``/`` or ``%``); ``headers`` have lower-case names. ``HttpResponse.body`` is bytes or an iterator of
chunks (a streamed object): adapters that cannot stream join it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """The single value of query parameter ``name``; a repeated parameter is a clear error."""
        values = self.query.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise ApiError(400, "InvalidArgument", f"query parameter {name!r} is given more than once")
        return values[0]


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterator[bytes] = b""

    def body_bytes(self) -> bytes:
        """The whole body (joins a stream: for adapters that cannot stream, and tests)."""
        if isinstance(self.body, bytes | bytearray):
            return bytes(self.body)
        data = b"".join(self.body)
        self.body = data
        return data

    def json(self) -> Any:
        return json.loads(self.body_bytes() or b"null")


def json_response(status: int, doc: Any, headers: Mapping[str, str] | None = None) -> HttpResponse:
    body = json.dumps(doc, separators=(",", ":"), default=str).encode()
    out = {"content-type": "application/json", "content-length": str(len(body))}
    out.update(headers or {})
    return HttpResponse(status, out, body)


class ApiError(Exception):
    """A 4xx/5xx answer decided by the API itself (bad input, auth); ``message`` is shown to the caller."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
