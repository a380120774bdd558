"""The OpenAPI 3.1 document, generated from ``routes.ROUTES`` (served at ``GET /openapi.json``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .routes import ROUTES, Route

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "request_id": {"type": "string"},
                },
            }
        },
    },
    "ObjectInfo": {
        "type": "object",
        "required": ["key", "size"],
        "properties": {
            "key": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "etag": {"type": ["string", "null"]},
            "last_modified": {"type": ["string", "null"]},
            "content_type": {"type": ["string", "null"]},
        },
    },
    "ObjectList": {
        "type": "object",
        "required": ["objects", "prefixes", "next_token"],
        "properties": {
            "objects": {"type": "array", "items": {"$ref": "#/components/schemas/ObjectInfo"}},
            "prefixes": {"type": "array", "items": {"type": "string"}},
            "next_token": {"type": ["string", "null"]},
        },
    },
    "StoreList": {
        "type": "object",
        "required": ["stores"],
        "properties": {
            "stores": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "provider"],
                    "properties": {"name": {"type": "string"}, "provider": {"type": "string"}},
                },
            }
        },
    },
    "PresignRequest": {
        "type": "object",
        "required": ["key"],
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": 1024},
            "method": {"enum": ["GET", "PUT"]},
            "expires": {"type": "integer", "minimum": 1},
            "content_type": {"type": "string", "maxLength": 256},
        },
    },
    "Presigned": {
        "type": "object",
        "required": ["url", "method", "expires", "key"],
        "properties": {
            "url": {"type": "string"},
            "method": {"enum": ["GET", "PUT"]},
            "expires": {"type": "integer"},
            "key": {"type": "string"},
        },
    },
    "ReconcileRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"rule": {"type": ["string", "null"]}, "dry_run": {"type": "boolean"}},
    },
}

_REASONS = {
    200: "OK",
    204: "No content",
    206: "Partial content",
    304: "Not modified",
    307: "Redirect to a presigned URL",
    400: "Bad request",
    401: "Authentication required",
    403: "No grant allows this",
    404: "Not found",
    405: "Method not allowed",
    412: "Precondition failed",
    413: "Body too large",
    415: "Not JSON",
    416: "Range not satisfiable",
    429: "Throttled (Retry-After)",
    500: "Internal error",
    501: "Not supported",
    502: "Upstream refused",
    503: "Busy: retry",
}


def _response(status: int, spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"description": _REASONS.get(status, "answer")}
    if spec is None:
        return out
    if "$ref" in spec or "type" in spec:
        out["content"] = {"application/json": {"schema": spec}}
    else:
        out["content"] = dict(spec)
    return out


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.name, "summary": route.summary}
    params = []
    for p in route.params:
        item: dict[str, Any] = {
            "name": p.name,
            "in": p.where,
            "required": p.required or p.where == "path",
            "schema": dict(p.schema),
        }
        if p.description:
            item["description"] = p.description
        params.append(item)
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": route.name not in ("reconcile",), "content": dict(route.body)}
    responses = {str(s): _response(s, spec) for s, spec in sorted(route.responses.items())}
    responses.setdefault("500", _response(500, {"$ref": "#/components/schemas/Error"}))
    op["responses"] = responses
    op["security"] = [] if route.public else [{"bearer": []}, {"apiKey": []}]
    return op


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Circle Core storage API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once per process)."""
    return _document()
