"""The storage port: the value types every store speaks and the ``Backend`` a provider implements.

Providers implement ``Backend`` (one method per operation, SDK calls only). ``ObjectStore`` (store.py)
wraps a backend with what is the same everywhere: key validation and scoping, capability checks and
credential refresh. Retries happen once, per HTTP request, inside the backend (``Backend.call``).
"""

from __future__ import annotations

import abc
import io
import logging
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, ClassVar, Literal, TypeVar

from .capabilities import Capabilities
from .errors import AlreadyExists, InvalidArgument, NotFound, PreconditionFailed, StorageError, Unsupported
from .retry import RetryPolicy

T = TypeVar("T")
log = logging.getLogger("circle.storage")
#: what a conditional request answers when its condition does not hold (or, re-sent, its own write)
CONDITION_FAILURES = (AlreadyExists, PreconditionFailed, NotFound)
#: metadata key holding a per-write token on conditional puts (read back after a lost answer; hidden)
WRITE_TOKEN = "circle_write_token"
PutData = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]
PresignMethod = Literal["GET", "PUT"]
DEFAULT_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object. ``etag`` is unquoted; ``metadata`` keys are lower-case."""

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None  # aware UTC
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None  # S3 versionId, GCS generation, Azure version id
    checksums: Mapping[str, str] = field(default_factory=dict)  # {"md5": hex, "crc32c": base64, ...}


@dataclass(frozen=True, slots=True)
class CommonPrefix:
    """A "directory" returned by a delimited listing; distinguishable from an ``ObjectInfo``."""

    prefix: str


@dataclass(frozen=True, slots=True)
class ListPage:
    objects: list[ObjectInfo]
    prefixes: list[CommonPrefix]
    next_token: str | None  # pass back as ``token`` to resume; None on the last page


@dataclass(frozen=True, slots=True)
class DeleteFailure:
    key: str
    error: StorageError


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A normalised read range: ``[start, end)`` or the last ``suffix`` bytes."""

    start: int = 0
    end: int | None = None  # exclusive
    suffix: int | None = None

    @classmethod
    def from_slice(cls, start: int | None, end: int | None) -> ByteRange | None:
        """Python-slice semantics (``end`` exclusive; a negative ``start`` alone reads the tail)."""
        if start is None and end is None:
            return None
        if start is not None and start < 0:
            if end is not None:
                raise InvalidArgument("a negative start cannot be combined with an end")
            return cls(suffix=-start)
        if end is not None and end < 0:
            raise InvalidArgument("a negative end is not supported; use a negative start for the tail")
        return cls(start=start or 0, end=end)

    @property
    def is_empty(self) -> bool:
        return (self.end is not None and self.end <= self.start) or self.suffix == 0

    def http_header(self) -> str:
        """The ``Range`` header value (``end`` inclusive on the wire)."""
        if self.suffix is not None:
            return f"bytes=-{self.suffix}"
        if self.end is None:
            return f"bytes={self.start}-"
        return f"bytes={self.start}-{self.end - 1}"

    def resolve(self, size: int) -> tuple[int, int]:
        """Absolute ``(start, end)`` clipped to an object of ``size`` bytes."""
        if self.suffix is not None:
            return max(0, size - self.suffix), size
        end = size if self.end is None else min(self.end, size)
        start = min(self.start, size)
        return start, max(start, end)


@dataclass(frozen=True, slots=True)
class WriteOptions:
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    if_none_match: bool = False  # create-only
    if_match: str | None = None  # compare-and-swap on this (unquoted) ETag


class ObjectReader(io.RawIOBase):
    """A streaming, file-like read of one object: ``read()``, ``read(n)``, chunk iteration, ``with``.

    ``info`` is the object's ``ObjectInfo``. Chunks are pulled from the provider lazily, so a large
    object is never held in memory whole.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        info: ObjectInfo,
        close: Callable[[], None] | None = None,
        translate: Callable[[BaseException], StorageError] | None = None,
    ) -> None:
        super().__init__()
        self.info = info
        self._chunks = iter(chunks)
        self._buffer = memoryview(b"")
        self._on_close = close
        self._translate = translate

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes | None:
        try:
            return next(self._chunks)
        except StopIteration:
            return None
        except StorageError:
            raise
        except Exception as exc:
            if self._translate is None:
                raise
            raise self._translate(exc) from exc

    def readinto(self, target: Any) -> int:
        view = memoryview(target).cast("B")
        while not self._buffer:
            chunk = self._next_chunk()
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        n = min(len(view), len(self._buffer))
        view[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        out = bytearray()
        while len(out) < size:
            if not self._buffer:
                chunk = self._next_chunk()
                if chunk is None:
                    break
                self._buffer = memoryview(chunk)
            take = min(size - len(out), len(self._buffer))
            out += self._buffer[:take]
            self._buffer = self._buffer[take:]
        return bytes(out)

    def readall(self) -> bytes:
        parts = [bytes(self._buffer)]
        self._buffer = memoryview(b"")
        while (chunk := self._next_chunk()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def __iter__(self) -> Iterator[bytes]:  # type: ignore[override]
        """Chunks as the provider delivers them (not lines)."""
        if self._buffer:
            head, self._buffer = bytes(self._buffer), memoryview(b"")
            yield head
        while (chunk := self._next_chunk()) is not None:
            if chunk:
                yield chunk

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()

    def __repr__(self) -> str:
        return f"ObjectReader(key={self.info.key!r}, size={self.info.size})"


class Backend(abc.ABC):
    """What a provider implements: one SDK mapping per operation, full keys, no retries of its own
    (use ``self.call`` for each request so the shared policy and error translation apply)."""

    provider: ClassVar[str]
    capabilities: Capabilities
    bucket: str
    retry: RetryPolicy = RetryPolicy()

    @abc.abstractmethod
    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        """Map an SDK or transport exception to the error tree."""

    def guard(self, operation: str, key: str | None, fn: Callable[[], T]) -> T:
        """Run ``fn`` once, translating whatever the SDK raises (no retry: ``call`` retries requests)."""
        try:
            return fn()
        except StorageError:
            raise
        except Exception as exc:
            raise self.translate(exc, operation, key) from exc

    def call(
        self,
        operation: str,
        key: str | None,
        fn: Callable[[], T],
        *,
        retryable: bool = True,
        resolve: Callable[[StorageError], T] | None = None,
    ) -> T:
        """Run one HTTP request under the retry policy, translating whatever the SDK raises.

        This is the only retry layer. ``resolve`` is for a conditional request that may commit: after
        an attempt failed in a way that may have reached the service (a 5xx, a timeout, a dropped
        connection), a later attempt's condition failure (``AlreadyExists``, ``PreconditionFailed``,
        ``NotFound``) may be our own earlier write answering. ``resolve(error)`` then reads the object
        back and returns our result, or raises ``error`` when the object does not carry what we wrote.
        """
        uncertain = False

        def attempt() -> T:
            nonlocal uncertain
            try:
                return self.guard(operation, key, fn)
            except CONDITION_FAILURES as exc:
                if resolve is not None and uncertain:
                    log.info(
                        "conditional request may have committed before its answer was lost: reading back",
                        extra={"store": self.describe(), "operation": operation, "error": type(exc).__name__},
                    )
                    return resolve(exc)
                raise
            except StorageError as exc:
                uncertain = uncertain or exc.retryable
                raise

        return self.retry.call(attempt, retryable=retryable)

    # -- reading back after a lost answer (the ``resolve`` of a conditional ``call``) -------------------
    def written_by(self, key: str, token: str, error: StorageError) -> ObjectInfo:
        """The object at ``key`` if it carries our per-write ``token`` (our write committed, its answer was
        lost); otherwise ``error``, the condition failure the re-sent request met."""
        try:
            info = self.head(key)
        except NotFound:
            raise error from None
        if info.metadata.get(WRITE_TOKEN) != token:
            raise error
        return info

    def deleted(self, key: str, error: StorageError) -> None:
        """A conditional delete whose answer was lost: the object being absent now is our success."""
        try:
            self.head(key)
        except NotFound:
            return
        raise error

    def copied(self, src_key: str, dst_key: str, error: StorageError) -> ObjectInfo:
        """A create-only copy whose answer was lost: the target holding the source's bytes (same size and
        a common checksum, or the same write token or ETag) is our success; anything else is ``error``."""
        try:
            target = self.head(dst_key)
            source = self.head(src_key)
        except NotFound:
            raise error from None
        if same_object(source, target):
            return target
        raise error

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo: ...

    @abc.abstractmethod
    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader: ...

    @abc.abstractmethod
    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo: ...

    @abc.abstractmethod
    def delete(self, key: str, if_match: str | None) -> None:
        """Delete; a missing key is not an error (unless ``if_match`` is given)."""

    def delete_many(self, keys: list[str]) -> list[DeleteFailure]:
        """Default: one request per key. Providers with a native batch override this."""
        failures = []
        for key in keys:
            try:
                self.delete(key, None)
            except StorageError as exc:
                failures.append(DeleteFailure(key, exc))
        return failures

    @abc.abstractmethod
    def list_page(
        self, prefix: str, delimiter: str | None, page_size: int | None, token: str | None, start_after: str | None
    ) -> ListPage: ...

    @abc.abstractmethod
    def copy(self, src_key: str, dst_key: str, if_none_match: bool) -> ObjectInfo: ...

    def presign(self, key: str, method: PresignMethod, expires: int, content_type: str | None) -> str:
        raise Unsupported(f"{self.provider} cannot presign URLs", provider=self.provider, bucket=self.bucket)

    def copy_scope(self) -> Hashable | None:
        """What two backends must share for ``copy_from`` between them (provider, endpoint, account and
        credentials; never the secret itself); None: no server-side copies across backends."""
        return None

    def copy_from(
        self,
        source: Backend,
        src_key: str,
        dst_key: str,
        metadata: Mapping[str, str],
        src_etag: str | None,
        src_size: int | None = None,
    ) -> ObjectInfo:
        """Server-side copy of ``source``'s ``src_key`` (pinned to ``src_etag`` when given) to ``dst_key``
        here, keeping the source's content type, with the source's metadata and ``metadata`` merged over
        it; ``src_size``: the size a listing showed, so nothing need be read first. Only called when both
        ``copy_scope()`` agree; Unsupported when this object cannot be copied so (the caller streams it
        instead)."""
        raise Unsupported(
            f"{self.provider} cannot copy across stores server-side", provider=self.provider, bucket=self.bucket
        )

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and connection pools."""

    def describe(self) -> str:
        """``scheme://bucket`` for reprs and logs; never includes credentials."""
        return f"{self.provider}://{self.bucket}"


class Body:
    """A put body (bytes, a binary file, or an iterable of bytes of unknown length) read at most once.

    ``read_whole(limit)`` tells a provider whether a single request will do; ``parts(size)`` then yields
    fixed-size parts for a multipart upload, holding at most one part in memory.
    """

    def __init__(self, data: PutData, chunk_size: int = DEFAULT_CHUNK) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            self._source: Iterator[bytes] = iter([bytes(data)])
            self.known_size: int | None = len(data)
        elif hasattr(data, "read"):
            self._source = iter(lambda: data.read(chunk_size), b"")  # type: ignore[union-attr]
            self.known_size = None
        elif isinstance(data, str):
            raise InvalidArgument("put() takes bytes, a binary file or an iterable of bytes, not str")
        else:
            self._source = _checked_chunks(data)
            self.known_size = None
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._exhausted = False

    def _fill(self, want: int) -> None:
        while self._pending_len < want and not self._exhausted:
            try:
                chunk = next(self._source)
            except StopIteration:
                self._exhausted = True
                return
            if chunk:
                self._pending.append(chunk)
                self._pending_len += len(chunk)

    def read_whole(self, limit: int) -> bytes | None:
        """All the bytes if the body holds at most ``limit`` of them, else None (nothing is lost)."""
        self._fill(limit + 1)
        if self._exhausted and self._pending_len <= limit:
            return b"".join(self._pending)
        return None

    def parts(self, part_size: int) -> Iterator[bytes]:
        """Consecutive parts of exactly ``part_size`` bytes (the last may be smaller).

        Only the part being handed out and the chunks still to be cut are held: nothing else stays
        referenced while the caller uploads a part.
        """
        while True:
            self._fill(part_size)
            if not self._pending:
                return
            yield self._take(part_size)
            if self._exhausted and not self._pending:
                return

    def _take(self, size: int) -> bytes:
        """Cut the first ``size`` pending bytes (a whole chunk is handed on without a copy)."""
        taken: list[bytes] = []
        have = 0
        while self._pending and have < size:
            chunk = self._pending.pop(0)
            need = size - have
            if len(chunk) > need:
                self._pending.insert(0, chunk[need:])
                chunk = chunk[:need]
            taken.append(chunk)
            have += len(chunk)
        self._pending_len -= have
        return taken[0] if len(taken) == 1 else b"".join(taken)


def _checked_chunks(data: Iterable[bytes]) -> Iterator[bytes]:
    """Chunks of a put iterable as bytes; anything else (``str``, ``int``) is a clear error."""
    for chunk in data:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise InvalidArgument(f"put() iterable yielded {type(chunk).__name__}, not bytes")
        yield bytes(chunk)


def same_object(a: ObjectInfo, b: ObjectInfo) -> bool:
    """Whether two objects hold the same write: same size, and the same write token, a common checksum
    or the same ETag (what a server-side copy keeps of its source)."""
    if a.size != b.size:
        return False
    token = a.metadata.get(WRITE_TOKEN)
    if token is not None:
        return b.metadata.get(WRITE_TOKEN) == token
    common = set(a.checksums) & set(b.checksums)
    if common:
        return all(a.checksums[k] == b.checksums[k] for k in common)
    return a.etag is not None and a.etag == b.etag
