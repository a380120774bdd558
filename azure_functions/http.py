"""The HTTP API as an Azure Functions catch-all route (a Blueprint registered in azure_functions/app.py).

Route ``v1/{*path}`` under the host's ``routePrefix`` (``api``): ``https://<app>/api/v1/stores/...``.
The path handed to the core is the raw URL path after ``/api/v1`` (percent-encoding kept). Auth level
FUNCTION: the platform checks a function key (``x-functions-key``) before the core checks the caller's
JWT or API key (defence in depth; App Service authentication may replace function keys). Limits
(``core.http_api.AZURE_LIMITS``): requests are capped at 100 MB by the host.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

from core.http_api import AZURE_LIMITS, HttpApi, HttpRequest

bp = func.Blueprint()
_api: HttpApi | None = None
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]


def api() -> HttpApi:
    global _api
    if _api is None:
        from azure_functions.app import runtime

        _api = HttpApi(runtime(), limits=AZURE_LIMITS)
    return _api


def reset_api() -> None:
    global _api
    _api = None


def to_request(req: func.HttpRequest) -> HttpRequest:
    base = os.environ.get("CIRCLE_HTTP_BASE_PATH", "/api/v1").rstrip("/")
    parts = urlsplit(req.url)
    path = parts.path
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :] or "/"
    return HttpRequest(
        method=req.method.upper(),
        path=path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers={k.lower(): v for k, v in req.headers.items()},
        body=req.get_body() or b"",
    )


@bp.function_name(name="http_api")
@bp.route(route="v1/{*path}", methods=METHODS, auth_level=func.AuthLevel.FUNCTION)
def http_api(req: func.HttpRequest) -> func.HttpResponse:
    """One HTTP API request through the core (the Functions host cannot stream: bodies are whole); the
    monitor is flushed once per invocation (``HttpApi.serve``), like the storage-event functions."""
    resp = api().serve(to_request(req))
    return func.HttpResponse(resp.body_bytes(), status_code=resp.status, headers=dict(resp.headers))
