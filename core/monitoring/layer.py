"""The storage monitoring layer: wraps a store's backend once (OpenDAL's logging/metrics layers) and
records, per operation:

- ``StorageRequests`` (count; dims ``operation``, ``provider``, ``store``, ``outcome``)
- ``StorageLatency`` (timing, seconds; dims ``operation``, ``provider``, ``store``)
- ``StorageBytes`` (count, bytes; dims ``operation``, ``provider``, ``store``) for get/put/copy

``outcome`` is a small closed set so it stays a cheap dimension: ``ok``, ``not_found``, ``condition``
(create-only / compare-and-swap refused), ``throttled``, ``retryable`` (other transient faults that
outlived the retry layer), ``rejected`` (authentication / permission), ``error``.

The layer sits outside the per-request retry layer, so one operation is one ``StorageRequests``
point whatever its retries cost, and latency includes them. A read's bytes are counted as the
caller consumes the stream (recorded when it ends or is closed). The runtime installs it with
``ObjectStore.add_layer`` only when monitoring is on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from core.storage.api import Backend, Body, ByteRange, DeleteFailure, ListPage, ObjectInfo, ObjectReader, WriteOptions
from core.storage.errors import (
    AlreadyExists,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    Throttled,
    Unauthenticated,
)
from core.storage.retry import RetryPolicy

from .api import Monitor

T = TypeVar("T")


def outcome_of(exc: BaseException | None) -> str:
    """The ``outcome`` dimension of an operation that raised ``exc`` (None: it succeeded)."""
    if exc is None:
        return "ok"
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, AlreadyExists | PreconditionFailed):
        return "condition"
    if isinstance(exc, Throttled):
        return "throttled"
    if isinstance(exc, Unauthenticated | PermissionDenied):
        return "rejected"
    if isinstance(exc, StorageError) and exc.retryable:
        return "retryable"
    return "error"


class MonitoredBackend(Backend):
    """A backend that times and counts every operation of ``inner`` (which does the work)."""

    def __init__(self, inner: Backend, monitor: Monitor, store: str) -> None:
        self.inner = inner
        self.monitor = monitor
        self.store = store
        self.capabilities = inner.capabilities
        self.bucket = inner.bucket

    # what callers read of a backend is the inner one's
    @property  # type: ignore[misc]
    def provider(self) -> str:  # type: ignore[override]
        return self.inner.provider

    @property  # type: ignore[override]
    def retry(self) -> RetryPolicy:
        return self.inner.retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self.inner.retry = policy

    def __getattr__(self, name: str) -> Any:  # provider-specific attributes (clients, part sizes)
        return getattr(self.__dict__["inner"], name)

    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        return self.inner.translate(exc, operation, key)

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"MonitoredBackend({self.inner.describe()!r}, store={self.store!r})"

    # -- measured operations ----------------------------------------------------------------------------
    def _measure(self, operation: str, fn: Callable[[], T], size: Callable[[T], int | None] | None = None) -> T:
        started = time.perf_counter()
        try:
            result = fn()
        except BaseException as exc:
            self._record(operation, started, exc)
            raise
        self._record(operation, started, None)
        if size is not None:
            n = size(result)
            if n:
                self._bytes(operation, n)
        return result

    def _record(self, operation: str, started: float, exc: BaseException | None) -> None:
        dims = {"operation": operation, "provider": self.inner.provider, "store": self.store}
        self.monitor.count("StorageRequests", 1, outcome=outcome_of(exc), **dims)
        self.monitor.timing("StorageLatency", time.perf_counter() - started, **dims)

    def _bytes(self, operation: str, n: int) -> None:
        self.monitor.count("StorageBytes", n, operation=operation, provider=self.inner.provider, store=self.store)

    def head(self, key: str) -> ObjectInfo:
        return self._measure("head", lambda: self.inner.head(key))

    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader:
        reader = self._measure("get", lambda: self.inner.get(key, rng, if_match))
        chunks = self._counted(reader)

        def close() -> None:
            chunks.close()  # records the bytes read so far
            reader.close()

        return ObjectReader(chunks, reader.info, close=close)

    def _counted(self, reader: ObjectReader) -> Generator[bytes]:
        total = 0
        try:
            for chunk in reader:
                total += len(chunk)
                yield chunk
        finally:  # exhausted, or closed early (the generator is closed with the reader)
            if total:
                self._bytes("get", total)

    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        return self._measure("put", lambda: self.inner.put(key, body, opts), lambda info: info.size)

    def delete(self, key: str, if_match: str | None) -> None:
        self._measure("delete", lambda: self.inner.delete(key, if_match))

    def delete_many(self, keys: list[str]) -> list[DeleteFailure]:
        return self._measure("delete_many", lambda: self.inner.delete_many(keys))

    def list_page(
        self, prefix: str, delimiter: str | None, page_size: int | None, token: str | None, start_after: str | None
    ) -> ListPage:
        return self._measure("list", lambda: self.inner.list_page(prefix, delimiter, page_size, token, start_after))

    def copy(self, src_key: str, dst_key: str, if_none_match: bool) -> ObjectInfo:
        return self._measure("copy", lambda: self.inner.copy(src_key, dst_key, if_none_match), lambda i: i.size)

    def presign(self, key: str, method: Any, expires: int, content_type: str | None) -> str:
        return self._measure("presign", lambda: self.inner.presign(key, method, expires, content_type))


def storage_layer(monitor: Monitor, store: str) -> Callable[[Backend], Backend]:
    """The layer ``ObjectStore.add_layer`` takes for the store named ``store``."""

    def wrap(backend: Backend) -> Backend:
        return MonitoredBackend(backend, monitor, store)

    return wrap
