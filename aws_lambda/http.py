"""Lambda entry point for the HTTP API: API Gateway HTTP API (payload format 2.0) and Lambda Function
URLs (same format). Thin: event -> ``HttpRequest``, ``HttpApi.handle``, ``HttpResponse`` -> result dict.

Limits (``core.http_api.LAMBDA_LIMITS``): Lambda caps request and response payloads at 6 MB (binary bodies
travel base64-encoded), so PUT bodies above 4 MiB answer 413 (ask for a presigned PUT URL) and objects
above 4 MiB answer 307 to a presigned GET URL. ``[http]`` in circle.toml overrides both.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

from core.http_api import LAMBDA_LIMITS, HttpApi, HttpRequest, HttpResponse

_api: HttpApi | None = None


def api() -> HttpApi:
    """The API over the adapter's runtime, built at the first request (the cold start)."""
    global _api
    if _api is None:
        from aws_lambda.handlers import runtime

        _api = HttpApi(runtime(), limits=LAMBDA_LIMITS)
    return _api


def reset_api() -> None:
    global _api
    _api = None


def to_request(event: dict[str, Any]) -> HttpRequest:
    """An ``HttpRequest`` from a payload-2.0 event (``rawPath`` keeps the key's percent-encoding)."""
    http = (event.get("requestContext") or {}).get("http") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    return HttpRequest(
        method=str(http.get("method") or "GET").upper(),
        path=str(event.get("rawPath") or "/"),
        query=parse_qs(event.get("rawQueryString") or "", keep_blank_values=True),
        headers=headers,
        body=raw,
    )


def to_result(resp: HttpResponse) -> dict[str, Any]:
    body = resp.body_bytes()
    ctype = resp.headers.get("content-type", "")
    out: dict[str, Any] = {"statusCode": resp.status, "headers": dict(resp.headers)}
    if ctype.startswith(("application/json", "text/")):
        try:  # text by type is sent as text only when it is text by content: never a lossy decode
            out["body"], out["isBase64Encoded"] = body.decode("utf-8"), False
            return out
        except UnicodeDecodeError:
            pass
    out["body"], out["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    return out


_entry: Any = None


def http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``aws_lambda.handlers.http``: one HTTP request through the core API, in the Powertools logger's
    invocation context (request and correlation ids), with the monitor flushed once per invocation
    (EMF lines on stdout, like the storage-event entry point)."""
    global _entry
    if _entry is None:
        from aws_lambda.handlers import logger  # the adapter's logger (handlers imports this module)

        _entry = logger.inject_lambda_context(_http, clear_state=False)
    result: dict[str, Any] = _entry(event, context)
    return result


def _http(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or event.get("version") != "2.0":
        return {
            "statusCode": 400,
            "headers": {"content-type": "application/json"},
            "body": '{"error": {"code": "InvalidArgument", "message": "expected an HTTP API payload 2.0 event", '
            '"request_id": ""}}',
        }
    from aws_lambda.handlers import logger

    request_id = (event.get("requestContext") or {}).get("requestId")
    logger.set_correlation_id(request_id if isinstance(request_id, str) else None)
    return to_result(api().serve(to_request(event)))
