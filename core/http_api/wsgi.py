"""A WSGI callable over ``HttpApi`` (``circle serve``, the sandbox, tests): PEP 3333 in, ``HttpApi`` out.

The raw request path is taken from ``RAW_URI``/``REQUEST_URI`` when the server provides one (gunicorn,
werkzeug), so an encoded ``%2F`` in a key survives; otherwise PATH_INFO is re-quoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from .types import ApiError, HttpRequest, HttpResponse, json_response

if TYPE_CHECKING:
    from core.runtime import Circle

    from .api import HttpApi, Limits

_STATUS = {
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    304: "Not Modified",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def request_from_environ(environ: dict[str, Any], max_body: int) -> HttpRequest:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        parts = urlsplit(raw)
        path, query = parts.path, parts.query
    else:
        path_info = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "surrogateescape")
        path = quote(path_info, safe="/", errors="surrogateescape")
        query = environ.get("QUERY_STRING", "")
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    length_text = environ.get("CONTENT_LENGTH") or ""
    if length_text.isdigit():
        length = int(length_text)
        body = environ["wsgi.input"].read(min(length, max_body + 1)) if length else b""
    elif environ.get("wsgi.input_terminated"):
        # a chunked body the server de-chunked (gunicorn, werkzeug): read to its end, one byte past the
        # limit at most, so an oversized one is a 413 and nothing is written
        body = read_bounded(environ["wsgi.input"], max_body)
    elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise ApiError(411, "LengthRequired", "this server needs a Content-Length (it cannot read a chunked body)")
    else:
        body = b""
    return HttpRequest(
        environ.get("REQUEST_METHOD", "GET"),
        path,
        parse_qs(query, keep_blank_values=True),
        headers,
        body,
    )


def read_bounded(stream: Any, max_body: int) -> bytes:
    """Up to ``max_body + 1`` bytes of a body whose length is not known in advance."""
    chunks: list[bytes] = []
    left = max_body + 1
    while left > 0:
        chunk = stream.read(min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def respond(resp: HttpResponse, start_response: Callable[..., Any]) -> Iterable[bytes]:
    status = f"{resp.status} {_STATUS.get(resp.status, 'Status')}"
    start_response(status, [(k, v) for k, v in resp.headers.items()])
    return [resp.body] if isinstance(resp.body, bytes) else resp.body


def wsgi_app(circle: Circle | HttpApi, *, limits: Limits | None = None) -> Callable[..., Iterable[bytes]]:
    """A WSGI application answering with ``HttpApi(circle)`` (contract H1)."""
    from .api import HttpApi

    api = circle if isinstance(circle, HttpApi) else HttpApi(circle, limits=limits)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            req = request_from_environ(environ, api.limits.max_body_bytes)
        except ApiError as exc:
            doc = {"error": {"code": exc.code, "message": exc.message, "request_id": ""}}
            return respond(json_response(exc.status, doc, {"connection": "close"}), start_response)
        return respond(api.handle(req), start_response)

    return app
