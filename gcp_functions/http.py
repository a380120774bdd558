"""functions-framework target ``http`` for the HTTP API. Thin: Flask request -> ``HttpRequest``,
``HttpApi.handle``, streamed Flask response.

The raw path (``RAW_URI`` under gunicorn, ``REQUEST_URI`` under werkzeug) keeps the key's percent-
encoding. Limits (``core.http_api.GCP_LIMITS``): Cloud Run functions cap HTTP/1 requests at 32 MiB.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from core.http_api import GCP_LIMITS, HttpApi, HttpRequest
from core.http_api.wsgi import read_bounded

_api: HttpApi | None = None


def api() -> HttpApi:
    global _api
    if _api is None:
        from gcp_functions.main import runtime

        _api = HttpApi(runtime(), limits=GCP_LIMITS)
    return _api


def reset_api() -> None:
    global _api
    _api = None


def to_request(request: Any, max_body: int) -> HttpRequest:
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        parts = urlsplit(raw)
        path, query = parts.path, parts.query
    else:
        path, query = quote(request.path, safe="/"), request.query_string.decode("latin-1")
    # No Content-Length is a chunked body (Transfer-Encoding: chunked), which the server has already
    # de-chunked (``wsgi.input_terminated``): read it too. At most one byte past the limit is read, so
    # an oversized body is a 413 from the core and nothing is written.
    body = read_bounded(request.stream, max_body)
    return HttpRequest(
        method=request.method.upper(),
        path=path,
        query=parse_qs(query, keep_blank_values=True),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )


def http(request: Any) -> Any:
    """``gcp_functions.main.http``: one HTTP request through the core API."""
    import flask

    from gcp_functions.logging_config import invocation

    handler = api()
    trace = request.headers.get("traceparent") or request.headers.get("X-Cloud-Trace-Context")
    with invocation(trace=trace, labels={"function": "http"}):  # every line carries the request's trace
        resp = handler.serve(to_request(request, handler.limits.max_body_bytes))  # flushes the monitor
    out = flask.Response(resp.body, status=resp.status)
    for k, v in resp.headers.items():
        out.headers[k] = v
    return out
