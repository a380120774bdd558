"""In-process store for tests and development: real semantics (ETags, conditions, listing), no I/O."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from ..api import Backend, Body, ByteRange, ListPage, ObjectInfo, ObjectReader, WriteOptions
from ..capabilities import Capabilities
from ..errors import AlreadyExists, InvalidArgument, NotFound, PreconditionFailed, StorageError
from ._common import md5_hex, paginate_sorted

_NAMED: dict[str, _Space] = {}
_NAMED_LOCK = threading.Lock()
CHUNK = 1024 * 1024


@dataclass
class _Space:
    objects: dict[str, tuple[bytes, ObjectInfo]]
    lock: threading.Lock
    version: int = 0


class MemoryBackend(Backend):
    """``memory://name`` stores with the same name share their objects within the process."""

    provider: ClassVar[str] = "memory"
    capabilities = Capabilities(
        versioning=True, etag_is_md5=True, checksums=frozenset({"md5"}), delete_many_max=1000, write_multi_min_size=0
    )

    def __init__(self, bucket: str = "", options: dict[str, Any] | None = None) -> None:
        if options:
            raise InvalidArgument(f"memory stores take no options, got {sorted(options)}")
        self.bucket = bucket
        if bucket:
            with _NAMED_LOCK:
                self._space = _NAMED.setdefault(bucket, _Space({}, threading.Lock()))
        else:
            self._space = _Space({}, threading.Lock())

    def translate(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        return StorageError(repr(exc), provider=self.provider, operation=operation, bucket=self.bucket, key=key)

    def _err(self, cls: type[StorageError], msg: str, op: str, key: str) -> StorageError:
        return cls(msg, provider=self.provider, operation=op, bucket=self.bucket, key=key)

    def _lookup(self, key: str, op: str) -> tuple[bytes, ObjectInfo]:
        try:
            return self._space.objects[key]
        except KeyError:
            raise self._err(NotFound, "no such object", op, key) from None

    def head(self, key: str) -> ObjectInfo:
        return self._lookup(key, "head")[1]

    def get(self, key: str, rng: ByteRange | None, if_match: str | None) -> ObjectReader:
        data, info = self._lookup(key, "get")
        if if_match and if_match != info.etag:
            raise self._err(PreconditionFailed, "ETag does not match", "get", key)
        start, end = rng.resolve(len(data)) if rng else (0, len(data))
        view = memoryview(data)[start:end]
        return ObjectReader((bytes(view[i : i + CHUNK]) for i in range(0, len(view), CHUNK)), info)

    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        data = b"".join(body.parts(CHUNK))
        with self._space.lock:
            self._check_write(key, opts.if_none_match, opts.if_match, "put")
            return self._store(key, data, opts.content_type, dict(opts.metadata))

    def _check_write(self, key: str, create_only: bool, if_match: str | None, op: str) -> None:
        current = self._space.objects.get(key)
        if create_only and current is not None:
            raise self._err(AlreadyExists, "the object exists", op, key)
        if if_match is not None and (current is None or current[1].etag != if_match):
            raise self._err(PreconditionFailed if current else NotFound, "ETag does not match", op, key)

    def _store(self, key: str, data: bytes, content_type: str | None, metadata: dict[str, str]) -> ObjectInfo:
        self._space.version += 1
        digest = md5_hex(data)
        info = ObjectInfo(
            key=key,
            size=len(data),
            etag=digest,
            last_modified=datetime.now(UTC),
            content_type=content_type or "application/octet-stream",
            metadata=metadata,
            version=str(self._space.version),
            checksums={"md5": digest},
        )
        self._space.objects[key] = (data, info)
        return info

    def delete(self, key: str, if_match: str | None) -> None:
        with self._space.lock:
            current = self._space.objects.get(key)
            if if_match is not None and (current is None or current[1].etag != if_match):
                raise self._err(PreconditionFailed if current else NotFound, "ETag does not match", "delete", key)
            self._space.objects.pop(key, None)

    def list_page(
        self, prefix: str, delimiter: str | None, page_size: int | None, token: str | None, start_after: str | None
    ) -> ListPage:
        with self._space.lock:
            infos = [self._space.objects[k][1] for k in sorted(self._space.objects)]
        return paginate_sorted(infos, prefix, delimiter, page_size or 1000, token, start_after)

    def copy(self, src_key: str, dst_key: str, if_none_match: bool) -> ObjectInfo:
        with self._space.lock:
            data, info = self._lookup(src_key, "copy")
            self._check_write(dst_key, if_none_match, None, "copy")
            return replace(self._store(dst_key, data, info.content_type, dict(info.metadata)))
