"""The route table: one definition per route, read by the router (``match``) and by the OpenAPI
generator (``core.http_api.openapi``), so the served document cannot drift from what is answered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from .types import ApiError

Action = Literal["read", "write", "delete", "presign", "admin"]
ACTIONS: tuple[Action, ...] = ("read", "write", "delete", "presign", "admin")

ERROR = {"$ref": "#/components/schemas/Error"}
OBJECT_INFO = {"$ref": "#/components/schemas/ObjectInfo"}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: Mapping[str, Any]
    where: Literal["path", "query", "header"] = "query"
    required: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # the handler method and the OpenAPI operationId
    method: str
    template: str
    summary: str
    public: bool = False  # answered without authentication
    params: tuple[Param, ...] = ()
    body: Mapping[str, Any] | None = None  # {"content-type": schema}
    responses: Mapping[int, Mapping[str, Any] | None] = field(default_factory=dict)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.template.strip("/").split("/"))


_STORE = Param("store", {"type": "string", "minLength": 1, "maxLength": 128}, "path", True, "a store in circle.toml")
NO_CONTROL = "^[^\\x00-\\x1f\\x7f]+$"  # control characters in keys are refused (400)
_KEY = Param(
    "key",
    {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": NO_CONTROL},
    "path",
    True,
    "the object key, percent-encoded (may contain /)",
)
_ETAG_HEADERS = (
    Param("If-Match", {"type": "string", "maxLength": 1024}, "header"),
    Param("If-None-Match", {"type": "string", "maxLength": 1024}, "header"),
)
_BYTES = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_COMMON_ERRORS: dict[int, Mapping[str, Any] | None] = {400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 429: ERROR}

ROUTES: tuple[Route, ...] = (
    Route(
        "health",
        "GET",
        "/health",
        "Liveness: the API answers (no storage call)",
        public=True,
        responses={200: {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}},
    ),
    Route("openapi", "GET", "/openapi.json", "This document", public=True, responses={200: {"type": "object"}}),
    Route(
        "list_stores",
        "GET",
        "/stores",
        "The stores the caller holds a grant on",
        responses={200: {"$ref": "#/components/schemas/StoreList"}, 401: ERROR},
    ),
    Route(
        "list_objects",
        "GET",
        "/stores/{store}/objects",
        "One page of a listing",
        params=(
            _STORE,
            Param("prefix", {"type": "string", "maxLength": 1024}),
            Param("delimiter", {"type": "string", "minLength": 1, "maxLength": 16}),
            Param("page_size", {"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("token", {"type": "string", "maxLength": 4096}),
        ),
        responses={200: {"$ref": "#/components/schemas/ObjectList"}, **_COMMON_ERRORS},
    ),
    Route(
        "get_object",
        "GET",
        "/stores/{store}/objects/{key}",
        "Read an object (streamed; Range, If-None-Match, If-Match); large objects redirect to a presigned URL",
        params=(_STORE, _KEY, Param("Range", {"type": "string", "maxLength": 256}, "header"), *_ETAG_HEADERS),
        responses={
            200: _BYTES,
            206: _BYTES,
            304: None,
            307: None,
            409: ERROR,
            412: ERROR,
            416: ERROR,
            **_COMMON_ERRORS,
        },
    ),
    Route(
        "head_object",
        "HEAD",
        "/stores/{store}/objects/{key}",
        "An object's size, ETag, type and metadata as headers",
        params=(_STORE, _KEY, *_ETAG_HEADERS),
        responses={200: None, 304: None, 400: None, 401: None, 403: None, 404: None, 412: None, 429: None},
    ),
    Route(
        "put_object",
        "PUT",
        "/stores/{store}/objects/{key}",
        "Write an object (Content-Type, x-circle-meta-* metadata, If-None-Match: *, If-Match)",
        params=(_STORE, _KEY, *_ETAG_HEADERS),
        body=_BYTES,
        responses={200: OBJECT_INFO, 412: ERROR, 413: ERROR, **_COMMON_ERRORS},
    ),
    Route(
        "delete_object",
        "DELETE",
        "/stores/{store}/objects/{key}",
        "Delete an object (a missing key is not an error unless If-Match is given)",
        params=(_STORE, _KEY, Param("If-Match", {"type": "string", "maxLength": 1024}, "header")),
        responses={204: None, 412: ERROR, **_COMMON_ERRORS},
    ),
    Route(
        "presign",
        "POST",
        "/stores/{store}/presign",
        "A presigned URL for one key",
        params=(_STORE,),
        body={"application/json": {"schema": {"$ref": "#/components/schemas/PresignRequest"}}},
        responses={
            200: {"$ref": "#/components/schemas/Presigned"},
            413: ERROR,
            415: ERROR,
            501: ERROR,
            **_COMMON_ERRORS,
        },
    ),
    Route(
        "reconcile",
        "POST",
        "/admin/reconcile",
        "Run a reconciliation of the replication rules now (operators)",
        body={"application/json": {"schema": {"$ref": "#/components/schemas/ReconcileRequest"}}},
        responses={200: {"type": "object"}, 413: ERROR, 415: ERROR, 501: ERROR, **_COMMON_ERRORS},
    ),
    Route(
        "rotate",
        "POST",
        "/admin/rotate/{secret}",
        "Rotate a secret named in [[rotation]] now (operators)",
        params=(
            Param(
                "secret",
                {"type": "string", "minLength": 1, "maxLength": 512, "pattern": NO_CONTROL},
                "path",
                True,
                "the secret's name, percent-encoded (may contain /)",
            ),
        ),
        responses={200: {"type": "object"}, 502: ERROR, **_COMMON_ERRORS},
    ),
)


_SEGMENTS = [(r, r.segments) for r in ROUTES]
_GREEDY = frozenset({"{key}", "{secret}"})  # names that may contain "/": always a template's last segment


def match(method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method`` and the raw (percent-encoded) path, with decoded path parameters.

    404 for no such path, 405 (with ``Allow``) for a path that exists under other methods."""
    if not raw_path.startswith("/"):
        raise ApiError(400, "InvalidArgument", "the path must start with /")
    parts = raw_path[1:].split("/")
    allowed: list[str] = []
    for route, segments in _SEGMENTS:
        params = _fit(segments, parts)
        if params is None:
            continue
        if route.method != method:
            allowed.append(route.method)
            continue
        return route, {k: _decode(k, v) for k, v in params.items()}
    if allowed:
        raise ApiError(
            405, "MethodNotAllowed", f"{method} is not allowed here", {"allow": ", ".join(sorted(set(allowed)))}
        )
    raise ApiError(404, "NotFound", "no such route")


def _fit(template: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for i, seg in enumerate(template):
        if seg in _GREEDY:  # the rest of the path, encoded slashes and plain ones alike (a server that
            rest = "/".join(parts[i:])  # decodes %2F before the app sees it, e.g. wsgiref, still routes)
            if not rest:
                return None
            out[seg[1:-1]] = rest
            return out
        if i >= len(parts):
            return None
        if seg.startswith("{"):
            if not parts[i]:
                return None
            out[seg[1:-1]] = parts[i]
        elif seg != parts[i]:
            return None
    return out if len(parts) == len(template) else None


def _decode(name: str, raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "InvalidKey" if name == "key" else "InvalidArgument", f"{name} is not UTF-8") from None
