"""``ObjectStore``: the public face of every store.

What is the same on every cloud lives here once: key validation and prefix scoping, capability checks
and the credential refresh of ``secret://`` stores. Retries are not here: a ``Backend`` retries each
HTTP request itself (``Backend.call``), so an operation of several requests never multiplies attempts.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TypeVar, cast

from core.etag import unquote_etag

from .api import (
    WRITE_TOKEN,
    Backend,
    Body,
    ByteRange,
    CommonPrefix,
    DeleteFailure,
    ListPage,
    ObjectInfo,
    ObjectReader,
    PresignMethod,
    PutData,
    WriteOptions,
)
from .capabilities import Capabilities
from .errors import (
    InvalidArgument,
    InvalidKey,
    NotFound,
    PermissionDenied,
    StorageError,
    Unauthenticated,
    Unsupported,
)
from .retry import RetryPolicy

T = TypeVar("T")
MAX_KEY_BYTES = 1024
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
#: a store whose credentials come from secret references rebuilds its backend with this (None: unchanged)
Reopen = Callable[[], Backend | None]
#: what may be cured by reading a rotated credential again
_REJECTED = (Unauthenticated, PermissionDenied)

log = logging.getLogger("circle.storage")


class _Handle:
    """The backend a store (and its scoped views) uses, replaceable once its credential was rejected."""

    def __init__(self, backend: Backend, reopen: Reopen | None) -> None:
        self.backend = backend
        self.reopen = reopen
        self._lock = threading.Lock()
        self.layers: list[Callable[[Backend], Backend]] = []  # monitoring: applied to every backend

    def add_layer(self, layer: Callable[[Backend], Backend]) -> None:
        with self._lock:
            self.layers.append(layer)
            self.backend = layer(self.backend)

    def renew(self, failed: Backend, error: StorageError) -> bool:
        """After ``failed`` had a credential rejected: rebuild it from freshly read secrets. True when a
        retry may succeed (a new backend is in place); False without secret references or when the
        secrets still hold the rejected credential. Concurrent callers rebuild once."""
        if self.reopen is None:
            return False
        with self._lock:
            if self.backend is not failed:
                return True  # another thread already renewed it
            try:
                fresh = self.reopen()
            except Exception as exc:  # the secrets service failed too: report the storage error
                raise error from exc
            if fresh is None:
                return False
            for layer in self.layers:
                fresh = layer(fresh)
            fresh.retry = failed.retry
            self.backend = fresh
        log.info(
            "store credential refreshed after rejection",
            extra={"store": fresh.describe(), "operation": error.operation},
        )
        failed.close()
        return True


class ObjectStore:
    """One bucket or container (optionally scoped to a key prefix) on any provider."""

    def __init__(
        self, backend: Backend, *, prefix: str = "", retry: RetryPolicy | None = None, reopen: Reopen | None = None
    ) -> None:
        """``reopen`` (built by ``open_store`` for options that reference secrets) rebuilds the backend
        with re-read credentials; an operation rejected as Unauthenticated/PermissionDenied is then
        retried once on the new backend."""
        self._handle = _Handle(backend, reopen)
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if retry is not None:
            backend.retry = retry

    @property
    def _backend(self) -> Backend:
        return self._handle.backend

    # -- identity -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``scheme://bucket[/prefix]``; never contains credentials."""
        return self._backend.describe() + ("/" + self._prefix.rstrip("/") if self._prefix else "")

    @property
    def provider(self) -> str:
        return self._backend.provider

    @property
    def capabilities(self) -> Capabilities:
        return self._backend.capabilities

    @property
    def retry(self) -> RetryPolicy:
        return self._backend.retry

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def scoped(self, prefix: str) -> ObjectStore:
        """The same store seen through a further key prefix (sharing its client and retry policy)."""
        view = ObjectStore(self._backend, prefix=self._prefix + prefix)
        view._handle = self._handle  # a renewed credential serves every view
        return view

    def add_layer(self, layer: Callable[[Backend], Backend]) -> None:
        """Wrap the backend with ``layer`` (OpenDAL's layers: the runtime's monitoring layer wraps each
        backend once); a backend rebuilt after a credential refresh is wrapped too, views share it."""
        self._handle.add_layer(layer)

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> ObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keys -----------------------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise InvalidKey("a key must be a non-empty string", provider=self.provider, key=repr(key))
        full = self._prefix + key
        try:
            size = len(full.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidKey("the key is not valid UTF-8", provider=self.provider) from None
        if size > MAX_KEY_BYTES:
            raise InvalidKey(
                f"the key is {size} bytes; at most {MAX_KEY_BYTES} are allowed",
                provider=self.provider,
                key=key[:64] + "...",
            )
        if "\x00" in full:
            raise InvalidKey("the key contains NUL", provider=self.provider, key=key.replace("\x00", "\\0"))
        return full

    def _strip(self, info: ObjectInfo) -> ObjectInfo:
        """The caller's view of an object: key relative to the prefix, no internal write token."""
        if WRITE_TOKEN in info.metadata:
            info = dataclasses.replace(info, metadata={k: v for k, v in info.metadata.items() if k != WRITE_TOKEN})
        if not self._prefix:
            return info
        return dataclasses.replace(info, key=info.key[len(self._prefix) :])

    def _require(self, flag: bool, what: str) -> None:
        if not flag:
            raise Unsupported(
                f"{self.provider} stores cannot {what}", provider=self.provider, bucket=self._backend.bucket
            )

    def _call(self, operation: str, key: str | None, fn: Callable[[], T]) -> T:
        """One backend operation (``fn`` reads ``self._backend`` when it runs), not retried here (its
        requests were); run once more on a renewed backend when the credential was rejected and secret
        references may hold a rotated one."""
        backend = self._backend
        try:
            return backend.guard(operation, key, fn)
        except _REJECTED as exc:
            if not self._handle.renew(backend, exc):
                raise
        return self._backend.guard(operation, key, fn)

    # -- operations -----------------------------------------------------------------------------------
    def put(
        self,
        key: str,
        data: PutData,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_none_match: str | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        """Write an object. ``if_none_match="*"`` is create-only (``AlreadyExists``); ``if_match=etag``
        is compare-and-swap (``PreconditionFailed``). A failed write leaves no partial object."""
        full = self._full(key)
        opts = WriteOptions(
            content_type=content_type,
            metadata=normalise_metadata(metadata),
            if_none_match=_create_only(if_none_match),
            if_match=unquote_etag(if_match),
        )
        caps = self.capabilities
        if opts.if_none_match:
            self._require(caps.write_with_if_none_match, "do create-only writes")
        if opts.if_match:
            self._require(caps.write_with_if_match, "do compare-and-swap writes")
        if opts.if_none_match and opts.if_match:
            raise InvalidArgument("if_none_match and if_match cannot be combined")
        rewind = _rewinder(data)  # before the first attempt reads the body
        backend = self._backend
        try:
            info = backend.put(full, Body(data), opts)  # the caller's own data errors pass unchanged
        except _REJECTED as exc:
            if not self._handle.renew(backend, exc):
                raise
            if rewind is None:  # renewed, but a stream cannot be offered again: the caller may redo it
                exc.retryable = True
                raise
            rewind()
            info = self._backend.put(full, Body(data), opts)
        return self._strip(info)

    def get(
        self, key: str, *, start: int | None = None, end: int | None = None, if_match: str | None = None
    ) -> ObjectReader:
        """A streaming reader; ``start``/``end`` slice like Python (``end`` exclusive, negative ``start``
        alone reads the tail)."""
        full = self._full(key)
        rng = ByteRange.from_slice(start, end)
        if rng is not None:
            self._require(self.capabilities.read_with_range, "read ranges")
        if if_match:
            self._require(self.capabilities.read_with_if_match, "do conditional reads")
        if rng is not None and rng.is_empty:
            info = self.head(key)
            return ObjectReader([], info)
        reader = self._call("get", full, lambda: self._backend.get(full, rng, unquote_etag(if_match)))
        reader.info = self._strip(reader.info)
        return reader

    def head(self, key: str) -> ObjectInfo:
        full = self._full(key)
        return self._strip(self._call("head", full, lambda: self._backend.head(full)))

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except NotFound:
            return False
        return True

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete; deleting a missing key is not an error."""
        full = self._full(key)
        if if_match:
            self._require(self.capabilities.delete_with_if_match, "do conditional deletes")
        self._call("delete", full, lambda: self._backend.delete(full, unquote_etag(if_match)))

    def delete_many(self, keys: Iterable[str]) -> list[DeleteFailure]:
        """Delete in native batches (S3 1000, Azure 256 keys a request); returns per-key failures."""
        full_keys = [self._full(k) for k in keys]
        batch = max(1, self.capabilities.delete_many_max)
        failures: list[DeleteFailure] = []
        for i in range(0, len(full_keys), batch):
            chunk = full_keys[i : i + batch]
            failures += self._call("delete_many", None, lambda c=chunk: self._backend.delete_many(c))  # type: ignore[misc]
        return [DeleteFailure(f.key[len(self._prefix) :], f.error) for f in failures]

    def list_page(
        self,
        prefix: str = "",
        *,
        delimiter: str | None = None,
        page_size: int | None = None,
        token: str | None = None,
        start_after: str | None = None,
    ) -> ListPage:
        """One page of a listing with a resumable ``next_token``."""
        if delimiter is not None:
            self._require(self.capabilities.list_with_delimiter, "list with a delimiter")
        if page_size is not None and not 0 < page_size <= self.capabilities.list_max_page_size:
            raise InvalidArgument(f"page_size must be 1..{self.capabilities.list_max_page_size}")
        full_prefix = self._prefix + prefix
        full_after = self._prefix + start_after if start_after is not None else None
        page = self._call(
            "list", full_prefix, lambda: self._backend.list_page(full_prefix, delimiter, page_size, token, full_after)
        )
        cut = len(self._prefix)
        return ListPage(
            [self._strip(o) for o in page.objects],
            [CommonPrefix(p.prefix[cut:]) for p in page.prefixes],
            page.next_token,
        )

    def list(
        self, prefix: str = "", *, delimiter: str | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo | CommonPrefix]:
        """Every object (and, with a delimiter, every common prefix) under ``prefix``, page by page."""
        token: str | None = None
        while True:
            page = self.list_page(prefix, delimiter=delimiter, token=token, start_after=start_after)
            yield from page.prefixes
            yield from page.objects
            token = page.next_token
            if not token:
                return

    def copy(self, src_key: str, dst_key: str, *, if_none_match: str | None = None) -> ObjectInfo:
        """Server-side copy within this store."""
        src, dst = self._full(src_key), self._full(dst_key)
        self._require(self.capabilities.copy, "copy server-side")
        create_only = _create_only(if_none_match)
        if create_only:
            self._require(self.capabilities.copy_with_if_none_match, "do create-only copies")
        return self._strip(self._call("copy", dst, lambda: self._backend.copy(src, dst, create_only)))

    def can_copy_from(self, source: ObjectStore) -> bool:
        """Whether ``copy_from(source, ...)`` copies server-side: both stores on one provider, endpoint,
        account and credentials (two prefixes of a bucket, two buckets of one endpoint), copies allowed."""
        if source.provider != self.provider or not (self.capabilities.copy and source.capabilities.copy):
            return False
        scope = self._backend.copy_scope()
        return scope is not None and scope == source._backend.copy_scope()

    def copy_from(
        self,
        source: ObjectStore,
        src_key: str,
        dst_key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        src_if_match: str | None = None,
        src_size: int | None = None,
    ) -> ObjectInfo:
        """Server-side copy of ``source``'s ``src_key`` to ``dst_key`` here (see ``can_copy_from``), keeping
        the content type and the source's metadata with ``metadata`` merged over it, as ``copy_object``
        does but without the bytes passing through this process. Unsupported when not possible.

        With no ``metadata`` and the ``src_if_match`` ETag and ``src_size`` a listing showed, the copy is
        one request (nothing is read first); the returned info then carries no content type or metadata
        (they are the source's, not read back)."""
        src, dst = source._full(src_key), self._full(dst_key)
        if not self.can_copy_from(source):
            raise Unsupported(
                f"{source.url} and {self.url} share no endpoint and credential",
                provider=self.provider,
                bucket=self._backend.bucket,
            )
        extra = normalise_metadata(metadata)
        etag = unquote_etag(src_if_match)
        return self._strip(
            self._call("copy", dst, lambda: self._backend.copy_from(source._backend, src, dst, extra, etag, src_size))
        )

    def presign(
        self, key: str, method: PresignMethod = "GET", expires: int = 3600, *, content_type: str | None = None
    ) -> str:
        """A URL that grants ``method`` on ``key`` for ``expires`` seconds, signed locally."""
        full = self._full(key)
        if method not in ("GET", "PUT"):
            raise InvalidArgument(f"presign method must be GET or PUT, not {method!r}")
        self._require(
            self.capabilities.presign_read if method == "GET" else self.capabilities.presign_write,
            f"presign {method} URLs",
        )
        if not 0 < int(expires) <= MAX_PRESIGN_SECONDS:
            raise InvalidArgument(f"expires must be 1..{MAX_PRESIGN_SECONDS} seconds")
        return self._call("presign", full, lambda: self._backend.presign(full, method, int(expires), content_type))


def normalise_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Lower-case keys; keys and values must be printable ASCII so every cloud can store them."""
    out: dict[str, str] = {}
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidArgument("metadata keys and values must be str")
        if not k or not k.isascii() or not all(c.isalnum() or c in "-_" for c in k):
            raise InvalidArgument(f"metadata key {k!r} must be ASCII letters, digits, '-' or '_'")
        if not v.isascii() or any(ord(c) < 32 for c in v):
            raise InvalidArgument(f"metadata value for {k!r} must be printable ASCII")
        if k.lower() == WRITE_TOKEN:
            raise InvalidArgument(f"metadata key {WRITE_TOKEN!r} is reserved (it marks conditional writes)")
        out[k.lower()] = v
    return out


def _create_only(if_none_match: str | None) -> bool:
    if if_none_match is None:
        return False
    if if_none_match != "*":
        raise InvalidArgument('if_none_match supports only "*" (create-only)')
    return True


def _rewinder(data: PutData) -> Callable[[], object] | None:
    """How to offer ``data`` again for a retried put: bytes always, a seekable file from where it was;
    None for a one-shot stream (that put is not retried)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return lambda: None
    seekable = getattr(data, "seekable", None)
    if callable(seekable) and seekable():
        stream = cast(IO[bytes], data)
        start = stream.tell()
        return lambda: stream.seek(start)
    return None


__all__ = ["ObjectStore", "StorageError", "normalise_metadata"]
