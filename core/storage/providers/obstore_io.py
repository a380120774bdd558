"""The ``engine = "obstore"`` data path: small reads and writes through obstore (Rust ``object_store``).

The SDKs spend about 3 ms of CPU per request (botocore's and azure-core's pipelines, measured in
``docs/benchmarks.md``); obstore spends a tenth of that and releases the interpreter lock while it
waits. A bulk copy of small objects is made of exactly those requests, so the S3 and Azure backends
send them through obstore when a store asks for it: the whole-object read of a copy's first chunk and
a body that fits one request. Everything else (ranged and conditional-on-missing reads, multipart
uploads, listings, copies, presigning, deletes) stays on the SDK, so one backend keeps one set of
semantics, and keys ``object_store`` would rewrite (``a//b``, a leading or trailing ``/``, ``.``
segments, control characters) always take the SDK path.

obstore's own retries are off (``max_retries=0``): ``Backend.call`` retries, as for the SDKs.
"""

# mypy: disable-error-code="safe-super"
# (the mixin's super() calls reach the SDK backend it is mixed into, never Backend's abstract methods)
from __future__ import annotations

import dataclasses
import functools
import re
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    GenericError,
    InvalidPathError,
    NotModifiedError,
    NotSupportedError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)

from ..api import WRITE_TOKEN, Backend, Body, ByteRange, ObjectInfo, ObjectReader, WriteOptions
from ..errors import (
    AlreadyExists,
    InvalidArgument,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    TransientError,
    Unauthenticated,
    Unsupported,
    error_for_status,
)
from ..etag import quote_etag, unquote_etag

if TYPE_CHECKING:
    from obstore import GetOptions
    from obstore.store import ClientConfig, RetryConfig

#: bytes the first request of a read asks for; a larger object's rest is streamed by the SDK (one
#: ``object_store`` request has a total timeout, so a long body must not ride on it)
FIRST_CHUNK = 1024 * 1024
#: a request gets this long in all (connection, headers and a body of at most one request's size)
MIN_REQUEST_TIMEOUT = 30.0
NO_RETRIES: RetryConfig = {"max_retries": 0}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_STATUS = re.compile(r"status code: (\d{3})")
_STANDARD_ATTRIBUTES = {"content-type", "content-disposition", "content-encoding", "content-language", "cache-control"}
_ERRORS: tuple[tuple[type[BaseException], type[StorageError]], ...] = (
    (AlreadyExistsError, AlreadyExists),
    (PreconditionError, PreconditionFailed),
    (NotModifiedError, PreconditionFailed),
    (PermissionDeniedError, PermissionDenied),
    (UnauthenticatedError, Unauthenticated),
    (NotSupportedError, Unsupported),
    (InvalidPathError, InvalidArgument),
)


def native_key(key: str) -> bool:
    """Whether ``object_store`` sends ``key`` as it is (it refuses or rewrites the others)."""
    if not key or key[0] == "/" or key[-1] == "/" or "//" in key:
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return False
    return not any(part in (".", "..") for part in key.split("/"))


def client_options(endpoint: str, connect_timeout: float, read_timeout: float) -> ClientConfig:
    """``object_store`` client options from a store's timeouts (its ``timeout`` covers a whole request)."""
    options: ClientConfig = {
        "connect_timeout": timedelta(seconds=connect_timeout),
        "timeout": timedelta(seconds=max(read_timeout, MIN_REQUEST_TIMEOUT)),
    }
    if endpoint.startswith("http://"):
        options["allow_http"] = True
    return options


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an obstore error reports in its message (None: no answer came)."""
    found = _STATUS.search(str(exc))
    return int(found.group(1)) if found else None


def translate(exc: BaseException, where: Mapping[str, Any]) -> StorageError | None:
    """An obstore error as the storage error tree (None: not obstore's, the SDK backend decides).

    ``GenericError`` carries the status in its text: none means no answer arrived (a refused or
    dropped connection, a timeout), which is transient like the SDKs' transport errors."""
    message = _first_line(exc)
    for obstore_error, ours in _ERRORS:
        if isinstance(exc, obstore_error):
            return ours(message, **where)
    if isinstance(exc, FileNotFoundError):  # obstore's NotFoundError is the built-in one
        return error_for_status(404)(message, status=404, **where)
    if isinstance(exc, GenericError):
        status = status_of(exc)
        cls = TransientError if status is None else error_for_status(status)
        return cls(message, status=status, **where)
    if isinstance(exc, TimeoutError):
        return TransientError(message, **where)
    return None


def _first_line(exc: BaseException) -> str:
    """The first line of obstore's message (its debug dump follows); never a credential, only URLs."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def info(
    key: str,
    meta: Mapping[str, Any],
    attributes: Mapping[str, Any],
    decode: Callable[[Mapping[str, str]], dict[str, str]],
) -> ObjectInfo:
    """``ObjectInfo`` from obstore's ``ObjectMeta`` and attributes (user metadata through ``decode``).

    obstore reports no stored checksums, so none are claimed: a copy verifies sizes, and the target's
    MD5 where its answer proves one (see ``put``)."""
    metadata = {str(k): str(v) for k, v in attributes.items() if str(k).lower() not in _STANDARD_ATTRIBUTES}
    content_type = next((str(v) for k, v in attributes.items() if str(k).lower() == "content-type"), None)
    modified = meta.get("last_modified")
    return ObjectInfo(
        key=key,
        size=int(meta["size"]),
        etag=unquote_etag(meta.get("e_tag")),
        last_modified=modified.astimezone(UTC) if isinstance(modified, datetime) else None,
        content_type=content_type,
        metadata=decode(metadata),
        version=meta.get("version"),
    )


def first_chunk(store: Any, key: str, if_match: str | None) -> tuple[Mapping[str, Any], Mapping[str, Any], bytes]:
    """One GET of the first ``FIRST_CHUNK`` bytes: the object's meta, attributes and those bytes."""
    options: GetOptions = {"range": (0, FIRST_CHUNK)}
    if if_match:
        options["if_match"] = if_match
    result = obstore.get(store, key, options=options)
    return result.meta, result.attributes, bytes(result.bytes())


def chained(first: bytes, rest: Callable[[], Iterator[bytes]] | None) -> Generator[bytes]:
    """The first chunk, then (for a larger object) the rest as the SDK streams it."""
    if first:
        yield first
    if rest is not None:
        yield from rest()


def put(
    store: Any, key: str, data: bytes, content_type: str, metadata: Mapping[str, str], mode: Any
) -> Mapping[str, Any]:
    """One PUT of ``data`` with its content type and user metadata; ``mode``: obstore's put mode."""
    attributes: dict[str, str] = {"Content-Type": content_type, **metadata}
    result: Mapping[str, Any] = obstore.put(store, key, data, attributes=attributes, mode=mode, use_multipart=False)
    return result


class ObstoreDataPath(Backend):
    """Mixed in before an SDK backend: its small GETs and PUTs go through ``self.native`` (an obstore
    store), under the same ``Backend.call`` retries, write tokens and error tree; the rest is the SDK's.

    A subclass sets ``native`` and ``native_put_limit`` and says how user metadata is spelt on its
    service (``native_metadata_out``/``native_metadata_in``) and which checksums a PUT's answer proves."""

    native: Any
    native_put_limit: int

    def native_metadata_out(self, metadata: Mapping[str, str], key: str) -> dict[str, str]:
        return dict(metadata)

    def native_metadata_in(self, metadata: Mapping[str, str]) -> dict[str, str]:
        return {k.lower(): v for k, v in metadata.items()}

    def native_checksums(self, etag: str | None, data: bytes) -> dict[str, str]:
        return {}

    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        where = {"provider": self.provider, "operation": operation, "bucket": self.bucket, "key": key}
        return translate(exc, where) or super().translate(exc, operation, key)

    # -- reads ------------------------------------------------------------------------------------------
    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader:
        if rng is not None or not native_key(key):
            return super().get(key, rng, if_match)

        def request() -> tuple[Mapping[str, Any], Mapping[str, Any], bytes] | None:
            try:
                return first_chunk(self.native, key, if_match and quote_etag(if_match))
            except GenericError as exc:
                if status_of(exc) == 416:  # an empty object has no first byte: the SDK answers it
                    return None
                raise

        try:
            got = self.call("get", key, request)
        except PreconditionFailed:
            if if_match:
                self.head(key)  # a missing object is NotFound, whatever the service answered If-Match with
            raise
        if got is None:
            return super().get(key, None, if_match)
        meta, attributes, data = got
        found = info(key, meta, attributes, self.native_metadata_in)
        rest: Callable[[], Iterator[bytes]] | None = None
        if found.size > len(data):
            rest = functools.partial(self._rest, key, len(data), found.etag)
        chunks = chained(data, rest)  # closing the reader closes the SDK stream of the rest, if one opened
        return ObjectReader(chunks, found, close=chunks.close, translate=lambda e: self.translate(e, "get", key))

    def _rest(self, key: str, start: int, etag: str | None) -> Iterator[bytes]:
        """Everything after the first chunk, streamed by the SDK and pinned to the first chunk's ETag."""
        with super().get(key, ByteRange(start=start), etag) as reader:
            yield from reader

    # -- writes -----------------------------------------------------------------------------------------
    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        data = body.read_whole(self.native_put_limit) if native_key(key) else None
        if data is None:
            return super().put(key, body, opts)  # the body keeps what read_whole buffered
        metadata = self.native_metadata_out(opts.metadata, key)
        content_type = opts.content_type or DEFAULT_CONTENT_TYPE
        mode: Any = "overwrite"
        resolved: list[ObjectInfo] = []
        resolve: Callable[[StorageError], Any] | None = None
        if opts.if_none_match:
            mode = "create"
        elif opts.if_match:
            mode = {"e_tag": quote_etag(opts.if_match)}
        if mode != "overwrite":  # a conditional write carries a token to recognise it by if its answer is lost
            token = uuid.uuid4().hex
            metadata[WRITE_TOKEN] = token

            def resolve(error: StorageError) -> Any:
                resolved.append(self.written_by(key, token, error))
                return {}

        try:
            result = self.call(
                "put", key, lambda: put(self.native, key, data, content_type, metadata, mode), resolve=resolve
            )
        except PreconditionFailed:
            if opts.if_match:
                self.head(key)  # compare-and-swap on a missing object is NotFound
            raise
        if resolved:
            return dataclasses.replace(resolved[0], metadata=dict(opts.metadata))
        etag = unquote_etag(result.get("e_tag"))
        return ObjectInfo(
            key=key,
            size=len(data),
            etag=etag,
            content_type=content_type,
            metadata=dict(opts.metadata),
            version=result.get("version"),
            checksums=self.native_checksums(etag, data),
        )
