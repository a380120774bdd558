"""The HTTP storage API (issue 10), framework-free: adapters convert their platform's request into an
``HttpRequest`` and ``HttpApi(circle).handle(req)``'s ``HttpResponse`` back (contract H1).

    api = HttpApi(Circle.from_env())
    resp = api.handle(HttpRequest("GET", "/stores/primary/objects/a%2Fb.txt", {}, {"authorization": "Bearer ..."}))

Routes, auth and limits: docs/http-api.md. Importing this loads no cloud SDK and no JWT library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import AZURE_LIMITS, GCP_LIMITS, LAMBDA_LIMITS, HttpApi, Limits
from .types import ApiError, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from core.runtime import Circle

__all__ = [
    "AZURE_LIMITS",
    "GCP_LIMITS",
    "LAMBDA_LIMITS",
    "ApiError",
    "HttpApi",
    "HttpRequest",
    "HttpResponse",
    "Limits",
    "wsgi_app",
]


def wsgi_app(circle: Circle | HttpApi, *, limits: Limits | None = None) -> Any:
    from .wsgi import wsgi_app as build

    return build(circle, limits=limits)
