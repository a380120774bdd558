"""``HttpApi``: authenticate, authorize, route and answer one ``HttpRequest`` (framework-free).

Every answer carries ``x-request-id``; errors are ``{"error": {"code", "message", "request_id"}}``.
A 4xx says what the caller must change; a 5xx says nothing about internals (the log has the detail,
under the same request id). Bad input is rejected before any storage call, so it changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
import secrets as _random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.etag import unquote_etag

from .grants import Grants, Principal
from .routes import match
from .types import ApiError, HttpRequest, HttpResponse, json_response

if TYPE_CHECKING:
    from core.config_http import HttpSettings
    from core.runtime import Circle
    from core.storage import ObjectStore
    from core.storage.api import ObjectInfo

log = logging.getLogger("circle.http")
META_PREFIX = "x-circle-meta-"
MAX_KEY_BYTES = 1024
MAX_JSON_BODY = 64 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
RECONCILE_RESERVE_SECONDS = 3.0  # of the reconcile budget: kept for keys in flight and the checkpoint
_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")


@dataclass(frozen=True, slots=True)
class Limits:
    """What the platform in front of the API allows: bodies above ``max_body_bytes`` are refused (413,
    use a presigned PUT) and objects above ``redirect_above_bytes`` are answered with a 307 to a
    presigned GET instead of being proxied (Lambda: 6 MB payloads; Azure: 100 MB requests)."""

    max_body_bytes: int = 32 * 1024 * 1024
    redirect_above_bytes: int = 32 * 1024 * 1024


LAMBDA_LIMITS = Limits(max_body_bytes=4 * 1024 * 1024, redirect_above_bytes=4 * 1024 * 1024)  # 6 MB after base64
AZURE_LIMITS = Limits(max_body_bytes=90 * 1024 * 1024, redirect_above_bytes=64 * 1024 * 1024)
GCP_LIMITS = Limits(max_body_bytes=30 * 1024 * 1024, redirect_above_bytes=30 * 1024 * 1024)  # Cloud Run 32 MiB


def _error(status: int, code: str, message: str, rid: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
    return json_response(status, {"error": {"code": code, "message": message, "request_id": rid}}, headers)


def storage_error_status(exc: BaseException) -> tuple[int, str, dict[str, str]]:
    """(status, code, extra headers) for a core error, following the issue's table, then the core's
    own mapping (``core.handlers.http_events.http_status``)."""
    from core.storage.errors import (
        AlreadyExists,
        InvalidArgument,
        InvalidKey,
        NotFound,
        PermissionDenied,
        PreconditionFailed,
        Throttled,
        Unauthenticated,
        Unsupported,
    )

    table: tuple[tuple[type[BaseException], int, str], ...] = (
        (NotFound, 404, "NotFound"),
        (AlreadyExists, 412, "PreconditionFailed"),
        (PreconditionFailed, 412, "PreconditionFailed"),
        (InvalidKey, 400, "InvalidKey"),
        (InvalidArgument, 400, "InvalidArgument"),
        (PermissionDenied, 403, "PermissionDenied"),
        (Unauthenticated, 401, "Unauthenticated"),
        (Throttled, 429, "Throttled"),
        (Unsupported, 501, "Unsupported"),
    )
    for kind, status, code in table:
        if isinstance(exc, kind):
            return status, code, ({"retry-after": "1"} if status == 429 else {})
    from core.handlers.http_events import http_status

    status = http_status(exc)
    code = {
        400: "InvalidArgument",
        403: "PermissionDenied",
        404: "NotFound",
        409: "Conflict",
        412: "PreconditionFailed",
        501: "Unsupported",
        502: "BadGateway",
        503: "ServiceUnavailable",
    }.get(status, "InternalError")
    return status, code, ({"retry-after": "1"} if status == 503 else {})


def _etag_matches(etag: str | None, header: str) -> bool:
    """RFC 9110 list match (weak comparison: ``W/`` ignored)."""
    if header.strip() == "*":
        return etag is not None
    if etag is None:
        return False
    return any(unquote_etag(item) == etag for item in header.split(","))


def _object_headers(info: ObjectInfo) -> dict[str, str]:
    headers = {"content-type": info.content_type or "application/octet-stream", "accept-ranges": "bytes"}
    if info.etag:
        headers["etag"] = f'"{info.etag}"'
    if info.last_modified is not None:
        from email.utils import format_datetime  # only when an answer carries a date

        headers["last-modified"] = format_datetime(info.last_modified, usegmt=True)
    for k, v in info.metadata.items():
        headers[META_PREFIX + k] = v
    return headers


def _info_doc(info: ObjectInfo) -> dict[str, Any]:
    return {
        "key": info.key,
        "size": info.size,
        "etag": info.etag,
        "last_modified": info.last_modified.isoformat() if info.last_modified else None,
        "content_type": info.content_type,
    }


def _stream(reader: Any) -> Iterator[bytes]:
    try:
        yield from reader
    finally:
        reader.close()


class HttpApi:
    """The API over one runtime (``Circle``). Adapters build it once per instance and call ``handle``."""

    def __init__(
        self,
        circle: Circle,
        *,
        limits: Limits | None = None,
        rotations: Sequence[Any] | None = None,
        jwt_fetch: Callable[[str], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.circle = circle
        self._clock = clock
        settings: HttpSettings | None = getattr(circle.config, "http", None)
        base = limits or Limits()
        self.settings = settings
        self.limits = Limits(
            max_body_bytes=(settings.max_body_bytes if settings and settings.max_body_bytes else base.max_body_bytes),
            redirect_above_bytes=(
                settings.redirect_above_bytes
                if settings and settings.redirect_above_bytes
                else base.redirect_above_bytes
            ),
        )
        self.grants = Grants(settings.grants if settings else ())
        self._rotations = rotations
        self._jwt = None
        if settings is not None and settings.jwt is not None:
            from .jwks import JwtVerifier, fetch_json

            self._jwt = JwtVerifier(settings.jwt, fetch=jwt_fetch or fetch_json)
        self._keys = None
        if settings is not None and settings.api_keys:
            from .apikeys import ApiKeys

            self._keys = ApiKeys(lambda: circle.secrets, settings.api_keys)

    # -- the entry point ------------------------------------------------------------------------------
    def handle(self, req: HttpRequest) -> HttpResponse:
        """Answer one request; never raises."""
        started = time.perf_counter()
        given = req.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else _random.token_hex(8)
        route_name = "unmatched"
        try:
            route, params = match(req.method.upper(), req.path)
            route_name = route.name
            principal = None if route.public else self.authenticate(req)
            resp = getattr(self, "_" + route.name)(req, params, principal)
        except ApiError as exc:
            resp = _error(exc.status, exc.code, exc.message, rid, exc.headers)
        except Exception as exc:
            resp = self._failure(exc, rid, route_name)
        resp.headers["x-request-id"] = rid
        if req.method.upper() == "HEAD":
            resp.body = b""
        self._observe(route_name, resp.status, time.perf_counter() - started)
        return resp

    def serve(self, req: HttpRequest) -> HttpResponse:
        """``handle`` as one platform invocation: the runtime's invocation hook around it (``Invocations``
        and ``InvocationDuration``, handler ``http_api``; outcome ``error`` for a 5xx) and the monitor
        flushed before the answer leaves (metrics and alerts once per invocation, as the storage-event
        entry points do: a frozen warm instance must not pile up series). Adapters call this."""
        monitor = getattr(self.circle, "monitor", None)
        if monitor is None:
            return self.handle(req)
        from core.monitoring.hooks import invocation

        try:
            with invocation(monitor, "http_api") as state:
                resp = self.handle(req)
                if resp.status >= 500:
                    state["outcome"] = "error"
            return resp
        finally:
            try:
                monitor.flush()
            except Exception:  # metrics never fail a request
                log.warning("monitor flush failed", exc_info=True)

    def _failure(self, exc: Exception, rid: str, route: str) -> HttpResponse:
        from core.errors import CircleError

        if not isinstance(exc, CircleError):
            log.exception("unexpected error", extra={"request_id": rid, "route": route})
            return _error(500, "InternalError", "internal error", rid)
        status, code, headers = storage_error_status(exc)
        if status >= 500:
            log.error(
                "request failed",
                extra={"request_id": rid, "route": route, "error": type(exc).__name__, "reason": str(exc)},
            )
            message = {501: "the store cannot do this", 503: "the service is busy: retry"}.get(status, "internal error")
            if status == 501:
                message = exc.reason or message  # what the store lacks is not an internal detail
            return _error(status, code, message, rid, headers)
        return _error(status, code, exc.reason or code, rid, headers)

    def _observe(self, route: str, status: int, seconds: float) -> None:
        monitor = getattr(self.circle, "monitor", None)
        if monitor is None:
            return
        try:
            monitor.count("HttpRequests", route=route, status=str(status))
            monitor.timing("HttpLatency", seconds, route=route)
        except Exception:  # metrics never fail a request
            log.debug("metrics failed", exc_info=True)

    # -- authentication -----------------------------------------------------------------------------------
    def authenticate(self, req: HttpRequest) -> Principal:
        """The caller, or 401: deny by default (no scheme configured authenticates nobody).

        ``X-Api-Key`` present: the caller is that API key alone, and ``Authorization`` is not read: it
        belongs to the platform's front door (a Cloud Run IAM identity token, an API Gateway SigV4
        signature), which checked it before the request arrived. Otherwise ``Authorization`` carries the
        core's credential: ``Bearer <JWT>`` or ``ApiKey <key>``."""
        api_key = req.headers.get("x-api-key")
        if api_key is not None:
            if self._keys is None:
                raise ApiError(401, "Unauthenticated", "API keys are not accepted here")
            return self._keys.verify(api_key.strip())
        auth = req.headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            if self._jwt is None:
                raise ApiError(401, "Unauthenticated", "bearer tokens are not accepted here")
            return self._jwt.verify(credential.strip())
        if scheme.lower() == "apikey" and credential.strip():
            if self._keys is None:
                raise ApiError(401, "Unauthenticated", "API keys are not accepted here")
            return self._keys.verify(credential.strip())
        if auth:
            raise ApiError(401, "Unauthenticated", "unsupported Authorization scheme (use Bearer or ApiKey)")
        raise ApiError(401, "Unauthenticated", "authentication required", {"www-authenticate": "Bearer"})

    # -- helpers --------------------------------------------------------------------------------------------
    def _store(self, principal: Principal, name: str, action: str, key: str | None) -> ObjectStore:
        self.grants.require(principal, action, name, key)
        if name not in self.circle.config.stores:
            raise ApiError(404, "NotFound", "no such store")
        return self.circle.store(name)

    @staticmethod
    def _key(params: Mapping[str, str]) -> str:
        key = params["key"]
        if "\x00" in key:
            raise ApiError(400, "InvalidKey", "the key contains NUL")
        if _CONTROL.search(key):
            raise ApiError(400, "InvalidKey", "the key contains control characters (listings cannot carry them)")
        if len(key.encode()) > MAX_KEY_BYTES:
            raise ApiError(400, "InvalidKey", f"the key is longer than {MAX_KEY_BYTES} bytes")
        return key

    @staticmethod
    def _json_body(req: HttpRequest, allowed: Sequence[str], *, optional: bool = False) -> dict[str, Any]:
        if not req.body.strip() and optional:
            return {}
        ctype = req.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(415, "UnsupportedMediaType", "the body must be application/json")
        if len(req.body) > MAX_JSON_BODY:
            raise ApiError(413, "PayloadTooLarge", f"a JSON body is at most {MAX_JSON_BODY} bytes")
        try:
            doc = json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "InvalidJson", "the body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "InvalidArgument", "the body must be a JSON object")
        unknown = sorted(set(doc) - set(allowed))
        if unknown:
            raise ApiError(400, "InvalidArgument", f"unknown field(s): {', '.join(unknown)}")
        return doc

    def _admin(self, principal: Principal) -> None:
        self.grants.require(principal, "admin")

    # -- routes ---------------------------------------------------------------------------------------------
    def _health(self, req: HttpRequest, params: Mapping[str, str], principal: None) -> HttpResponse:
        return json_response(200, {"ok": True})

    def _openapi(self, req: HttpRequest, params: Mapping[str, str], principal: None) -> HttpResponse:
        from .openapi import document

        return json_response(200, document())

    def _list_stores(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        stores = self.circle.config.stores
        names = self.grants.stores_for(principal, stores)
        return json_response(200, {"stores": [{"name": n, "provider": stores[n].scheme} for n in names]})

    def _list_objects(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        prefix = req.param("prefix") or ""
        delimiter = req.param("delimiter")
        token = req.param("token")
        raw_size = req.param("page_size")
        page_size = None
        if raw_size is not None:
            if not raw_size.isdigit() or not 1 <= int(raw_size) <= 1000:
                raise ApiError(400, "InvalidArgument", "page_size must be an integer from 1 to 1000")
            page_size = int(raw_size)
        if _CONTROL.search(prefix) or len(prefix.encode()) > MAX_KEY_BYTES:
            raise ApiError(400, "InvalidArgument", "prefix is not a valid key prefix")
        if delimiter is not None and (not 1 <= len(delimiter) <= 16 or _CONTROL.search(delimiter)):
            raise ApiError(400, "InvalidArgument", "delimiter must be 1 to 16 printable characters")
        if token is not None and (not token or len(token) > 4096):
            raise ApiError(400, "InvalidArgument", "token is not a listing token")
        provider_token = _open_token(token, params["store"], prefix, delimiter) if token is not None else None
        store = self._store(principal, params["store"], "read", prefix)
        try:
            page = store.list_page(prefix, delimiter=delimiter, page_size=page_size, token=provider_token)
        except Exception as exc:
            from core.storage.errors import StorageError

            if token is not None and isinstance(exc, StorageError) and not exc.retryable:
                raise ApiError(400, "InvalidArgument", "token is not a listing token of this store") from None
            raise
        next_token = _seal_token(page.next_token, params["store"], prefix, delimiter) if page.next_token else None
        return json_response(
            200,
            {
                "objects": [_info_doc(o) for o in page.objects],
                "prefixes": [p.prefix for p in page.prefixes],
                "next_token": next_token,
            },
        )

    def _conditions(self, req: HttpRequest, info: ObjectInfo) -> HttpResponse | None:
        if_match = req.headers.get("if-match")
        if if_match is not None and not _etag_matches(info.etag, if_match):
            raise ApiError(412, "PreconditionFailed", "If-Match does not match the object's ETag")
        if_none = req.headers.get("if-none-match")
        if if_none is not None and _etag_matches(info.etag, if_none):
            headers = {"etag": f'"{info.etag}"'} if info.etag else {}
            return HttpResponse(304, headers, b"")
        return None

    def _get_object(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        key = self._key(params)
        raw_range = req.headers.get("range")
        rng = _parse_range(raw_range) if raw_range is not None else None
        store = self._store(principal, params["store"], "read", key)
        if rng is not None:
            return self._get_range(req, store, key, rng)
        reader = store.get(key)
        info = reader.info
        try:
            early = self._conditions(req, info)
        except ApiError:
            reader.close()
            raise
        if early is not None:
            reader.close()
            return early
        redirect = self._redirect(store, key, info.size)
        if redirect is not None:
            reader.close()
            return redirect
        headers = _object_headers(info)
        headers["content-length"] = str(info.size)
        return HttpResponse(200, headers, _stream(reader))

    def _get_range(
        self, req: HttpRequest, store: ObjectStore, key: str, rng: tuple[int | None, int | None]
    ) -> HttpResponse:
        """A 206 for one range, held to the same limit as a whole object (a range longer than
        ``redirect_above_bytes`` answers 307 to a presigned GET, which honours the same Range header),
        and read from the version the HEAD saw: the GET is pinned to its ETag, so an object replaced in
        between is read again (once) instead of answering bytes of one version under another's
        headers. Still changing on the second try: 409, retry."""
        from core.storage.errors import PreconditionFailed

        for attempt in (1, 2):
            info = store.head(key)
            early = self._conditions(req, info)
            if early is not None:
                return early
            start, end = _resolve_range(rng, info.size)
            redirect = self._redirect(store, key, end - start)
            if redirect is not None:
                return redirect
            pin = info.etag if info.etag and store.capabilities.read_with_if_match else None
            try:
                reader = store.get(key, start=start, end=end, if_match=pin)
            except PreconditionFailed:  # replaced since the HEAD
                if attempt == 1:
                    continue
                break
            if reader.info.etag and info.etag and reader.info.etag != info.etag:  # no conditional reads here
                reader.close()
                if attempt == 1:
                    continue
                break
            headers = _object_headers(info)
            headers["content-range"] = f"bytes {start}-{end - 1}/{info.size}"
            headers["content-length"] = str(end - start)
            return HttpResponse(206, headers, _stream(reader))
        raise ApiError(409, "Conflict", "the object changed while its range was read: retry the request")

    def _redirect(self, store: ObjectStore, key: str, length: int) -> HttpResponse | None:
        """A 307 to a presigned GET when ``length`` bytes are more than this platform proxies, or None
        (small enough, or a store that cannot sign: the bytes are then proxied)."""
        if length <= self.limits.redirect_above_bytes or not store.capabilities.presign_read:
            return None
        url = self._presigned_get(store, key)
        if url is None:
            return None
        return HttpResponse(307, {"location": url, "cache-control": "no-store", "content-length": "0"}, b"")

    def _presigned_get(self, store: ObjectStore, key: str) -> str | None:
        """A presigned GET for a redirect, or None when this store's credentials cannot sign (the bytes
        are then proxied: fine where the platform allows the size, e.g. Cloud Run)."""
        from core.storage.errors import Unsupported

        try:
            return store.presign(key, "GET", self.settings.redirect_expires if self.settings else 300)
        except Unsupported:
            log.warning("large object proxied: the store cannot presign", extra={"store": store.url})
            return None

    def _head_object(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        key = self._key(params)
        store = self._store(principal, params["store"], "read", key)
        info = store.head(key)
        early = self._conditions(req, info)
        if early is not None:
            return early
        headers = _object_headers(info)
        headers["content-length"] = str(info.size)
        return HttpResponse(200, headers, b"")

    def _put_object(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        key = self._key(params)
        if len(req.body) > self.limits.max_body_bytes:
            raise ApiError(
                413,
                "PayloadTooLarge",
                f"bodies above {self.limits.max_body_bytes} bytes are refused here: ask POST /stores/{{store}}/presign "
                "for a PUT URL",
            )
        metadata = {k[len(META_PREFIX) :]: v for k, v in req.headers.items() if k.startswith(META_PREFIX)}
        if_none = req.headers.get("if-none-match")
        if if_none is not None and if_none.strip() != "*":
            raise ApiError(400, "InvalidArgument", "a PUT accepts only If-None-Match: *")
        if_match = req.headers.get("if-match")
        if if_match is not None:
            if_match = unquote_etag(if_match) or ""
            if not if_match or if_match == "*" or "," in if_match:
                raise ApiError(400, "InvalidArgument", "If-Match takes one ETag")
            if if_none is not None:
                raise ApiError(400, "InvalidArgument", "If-Match and If-None-Match cannot be combined")
        ctype = req.headers.get("content-type") or "application/octet-stream"
        if len(ctype) > 256 or not ctype.isascii() or any(ord(c) < 32 for c in ctype):
            raise ApiError(400, "InvalidArgument", "Content-Type is not a media type")
        from core.storage.store import normalise_metadata

        try:
            metadata = normalise_metadata(metadata)
        except Exception as exc:
            raise ApiError(400, "InvalidArgument", getattr(exc, "reason", "bad metadata")) from None
        store = self._store(principal, params["store"], "write", key)
        info = store.put(
            key,
            req.body,
            content_type=ctype,
            metadata=metadata,
            if_none_match="*" if if_none is not None else None,
            if_match=if_match,
        )
        headers = {"etag": f'"{info.etag}"'} if info.etag else {}
        return json_response(200, _info_doc(info), headers)

    def _delete_object(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        key = self._key(params)
        if_match = req.headers.get("if-match")
        if if_match is not None:
            if_match = unquote_etag(if_match) or ""
            if not if_match or if_match == "*" or "," in if_match:
                raise ApiError(400, "InvalidArgument", "If-Match takes one ETag")
        store = self._store(principal, params["store"], "delete", key)
        store.delete(key, if_match=if_match)
        return HttpResponse(204, {}, b"")

    def _presign(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        doc = self._json_body(req, ("key", "method", "expires", "content_type"))
        key, method, expires = doc.get("key"), doc.get("method", "GET"), doc.get("expires", 3600)
        ctype = doc.get("content_type")
        if not isinstance(key, str) or not key:
            raise ApiError(400, "InvalidArgument", "key must be a non-empty string")
        key = self._key({"key": key})
        if method not in ("GET", "PUT"):
            raise ApiError(400, "InvalidArgument", "method must be GET or PUT")
        limit = self.settings.max_presign_seconds if self.settings else 3600
        if not isinstance(expires, int) or isinstance(expires, bool) or not 1 <= expires <= limit:
            raise ApiError(400, "InvalidArgument", f"expires must be an integer from 1 to {limit}")
        if ctype is not None and (not isinstance(ctype, str) or method != "PUT" or len(ctype) > 256):
            raise ApiError(400, "InvalidArgument", "content_type is a string, for PUT only")
        self.grants.require(principal, "read" if method == "GET" else "write", params["store"], key)
        store = self._store(principal, params["store"], "presign", key)
        url = store.presign(key, method, expires, content_type=ctype)
        return json_response(200, {"url": url, "method": method, "expires": expires, "key": key})

    def _reconcile(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        self._admin(principal)
        doc = self._json_body(req, ("rule", "dry_run"), optional=True)
        rule, dry_run = doc.get("rule"), doc.get("dry_run", False)
        if rule is not None and not isinstance(rule, str):
            raise ApiError(400, "InvalidArgument", "rule must be a string")
        if not isinstance(dry_run, bool):
            raise ApiError(400, "InvalidArgument", "dry_run must be true or false")
        if rule is not None and rule not in {r.name for r in self.circle.config.replication}:
            raise ApiError(404, "NotFound", "no [[replication]] rule has this name")
        try:
            from core.handlers.reconcile import reconcile  # built by the jobs area
        except ImportError:
            raise ApiError(501, "NotImplemented", "reconciliation is not available in this build") from None
        # A budget well inside the platform's HTTP timeout (API Gateway: 29 s): when it runs out the
        # pass stops starting keys, finishes those in flight, checkpoints, and answers complete: false;
        # the next call continues from the checkpoint.
        budget = float(self.settings.reconcile_seconds if self.settings else 20)
        end = self._clock() + budget
        report = reconcile(
            self.circle,
            rule=rule,
            dry_run=dry_run,
            deadline=lambda: end - self._clock(),
            reserve=min(RECONCILE_RESERVE_SECONDS, budget / 4),
        )
        return json_response(200, {**report.as_dict(), "budget_seconds": budget})

    def rotations(self) -> Sequence[Any]:
        if self._rotations is None:
            from core.secrets.rotation.config import load_rotations

            self._rotations = load_rotations()
        return self._rotations

    def _rotate(self, req: HttpRequest, params: Mapping[str, str], principal: Principal) -> HttpResponse:
        self._admin(principal)
        from core.secrets.rotation.config import find_spec

        name = params["secret"]
        spec = find_spec(self.rotations(), name)
        if spec is None:
            raise ApiError(404, "NotFound", "no [[rotation]] entry names this secret")
        from core.handlers.rotation import engine_for
        from core.secrets import get_secret_store, open_secrets

        secrets = open_secrets(spec.secrets) if "://" in spec.secrets else get_secret_store(spec.secrets)
        engine, _ = engine_for(secrets, spec.secret, specs=[spec])
        result = engine.rotate()
        if self._keys is not None:
            self._keys.invalidate()
        log.info("secret rotated through the HTTP API", extra={"secret_name": spec.secret, "principal": principal.id})
        body: dict[str, Any] = {"secret": result.name, "version": result.version, "outcome": result.outcome}
        issued = getattr(engine.rotator, "issued", None)
        if isinstance(issued, str):
            body["api_key"] = issued  # shown once: only its digest is stored
        return json_response(200, body, {"cache-control": "no-store"})


def _seal_token(provider_token: str, store: str, prefix: str, delimiter: str | None) -> str:
    """The listing token handed out: the provider's token bound to the listing it continues (store,
    prefix, delimiter), so a made-up or mismatched token is a 400 before any storage call."""
    import base64

    doc = json.dumps({"s": store, "p": prefix, "d": delimiter, "t": provider_token}, separators=(",", ":"))
    return "c1." + base64.urlsafe_b64encode(doc.encode()).decode().rstrip("=")


def _open_token(token: str, store: str, prefix: str, delimiter: str | None) -> str:
    import base64
    import binascii

    bad = ApiError(400, "InvalidArgument", "token is not a listing token of this listing")
    if not token.startswith("c1."):
        raise bad
    body = token[3:]
    try:
        doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(doc, dict) or not isinstance(doc.get("t"), str) or not doc["t"]:
        raise bad
    if (doc.get("s"), doc.get("p"), doc.get("d")) != (store, prefix, delimiter):
        raise ApiError(400, "InvalidArgument", "token belongs to another listing (store, prefix or delimiter)")
    return str(doc["t"])


def _parse_range(value: str) -> tuple[int | None, int | None]:
    """``bytes=a-b`` | ``bytes=a-`` | ``bytes=-n`` (one range) -> (start, end inclusive) or (None, n)."""
    m = _RANGE.match(value.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise ApiError(400, "InvalidRange", "Range must be one bytes=start-end, bytes=start- or bytes=-suffix")
    start = int(m.group(1)) if m.group(1) else None
    end = int(m.group(2)) if m.group(2) else None
    if start is not None and end is not None and end < start:
        raise ApiError(400, "InvalidRange", "a Range's end is before its start")
    return start, end


def _resolve_range(rng: tuple[int | None, int | None], size: int) -> tuple[int, int]:
    """Absolute [start, end) for an object of ``size`` bytes; 416 when nothing of it is selected."""
    start, end = rng
    unsatisfiable = ApiError(
        416, "RangeNotSatisfiable", "the range selects nothing", {"content-range": f"bytes */{size}"}
    )
    if size == 0:
        raise unsatisfiable
    if start is None:  # suffix
        if not end:
            raise unsatisfiable
        return max(0, size - end), size
    if start >= size:
        raise unsatisfiable
    return start, size if end is None else min(end + 1, size)
