"""Cross-store streaming copy with bounded memory and verification."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping

from .api import ObjectInfo
from .errors import IntegrityError, StorageError
from .store import ObjectStore

COPY_CHUNK = 8 * 1024 * 1024


def copy_object(src_store: ObjectStore, src_key: str, dst_store: ObjectStore, dst_key: str, *,
                if_none_match: str | None = None, if_match: str | None = None,
                src_if_match: str | None = None, metadata: Mapping[str, str] | None = None,
                verify: bool = True) -> ObjectInfo:
    """Stream ``src_key`` to ``dst_key`` across any two stores, keeping content type and metadata.

    Memory stays bounded by one upload part. The size (and the MD5 where both sides expose one) is
    verified; on a mismatch the new object is removed and ``IntegrityError`` raised.
    ``metadata`` is merged over the source's; ``src_if_match`` pins the source version being read.
    """
    md5 = hashlib.md5(usedforsecurity=False)
    counted = 0

    with src_store.get(src_key, if_match=src_if_match) as reader:
        src = reader.info

        def chunks() -> Iterator[bytes]:
            nonlocal counted
            for chunk in reader:
                counted += len(chunk)
                md5.update(chunk)
                yield chunk

        merged = {**src.metadata, **(metadata or {})}
        info = dst_store.put(dst_key, chunks(), content_type=src.content_type, metadata=merged,
                             if_none_match=if_none_match, if_match=if_match)
    if verify:
        problem = _mismatch(src, info, counted, md5.hexdigest())
        if problem:
            _remove_quietly(dst_store, dst_key, info.etag)
            raise IntegrityError(problem, provider=dst_store.provider, operation="copy_object", key=dst_key)
    return info


def _mismatch(src: ObjectInfo, dst: ObjectInfo, counted: int, streamed_md5: str) -> str | None:
    if counted != src.size:
        return f"read {counted} bytes but the source is {src.size}"
    if dst.size != src.size:
        return f"wrote {dst.size} bytes but the source is {src.size}"
    for side in (src, dst):
        md5 = side.checksums.get("md5")
        if md5 and md5 != streamed_md5:
            return f"MD5 {md5} of {side.key} differs from the streamed bytes' {streamed_md5}"
    return None


def _remove_quietly(store: ObjectStore, key: str, etag: str | None) -> None:
    with contextlib.suppress(StorageError):
        store.delete(key, if_match=etag if etag and store.capabilities.delete_with_if_match else None)
