"""Cross-store streaming copy with bounded memory and verification."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping

from .api import DEFAULT_CHUNK, ObjectInfo
from .checksums import streamed_digests
from .errors import IntegrityError, PermissionDenied, StorageError, Unauthenticated
from .store import ObjectStore

PREFETCH_CHUNKS = 2  # chunks read ahead while the destination writes: overlap, bounded memory
_END = object()


def prefetch(chunks: Iterable[bytes], depth: int = PREFETCH_CHUNKS) -> Iterator[bytes]:
    """Yield ``chunks`` while a thread reads up to ``depth`` ahead (the read side and the write side
    then overlap, as rclone's async reader does). Closing the generator stops the reader thread."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Queue ``item`` unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for chunk in chunks:
                if not offer(chunk):
                    return
            offer(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

    reader = threading.Thread(target=pump, name="circle-prefetch", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join()


def copy_object(
    src_store: ObjectStore,
    src_key: str,
    dst_store: ObjectStore,
    dst_key: str,
    *,
    if_none_match: str | None = None,
    if_match: str | None = None,
    src_if_match: str | None = None,
    metadata: Mapping[str, str] | None = None,
    verify: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ObjectInfo:
    """Stream ``src_key`` to ``dst_key`` across any two stores, keeping content type and metadata.

    Memory stays bounded by one upload part. The size (and the MD5 where both sides expose one) is
    verified; on a mismatch the new object is removed and ``IntegrityError`` raised.
    ``metadata`` is merged over the source's; ``src_if_match`` pins the source version being read.
    ``progress`` is called with the bytes transferred so far, after each chunk is handed to the
    destination (a progress bar; a redone copy starts again from 0).
    """
    for attempt in (1, 2):
        try:
            return _copy(
                src_store,
                src_key,
                dst_store,
                dst_key,
                if_none_match,
                if_match,
                src_if_match,
                metadata,
                verify,
                progress,
            )
        except (Unauthenticated, PermissionDenied) as exc:
            # the target rejected a rotated-away credential mid-write and renewed it (``retryable``): the
            # streamed body cannot be offered again, so the copy is redone once from the pinned source
            if attempt == 2 or not exc.retryable:
                raise
    raise AssertionError("unreachable")


def _copy(
    src_store: ObjectStore,
    src_key: str,
    dst_store: ObjectStore,
    dst_key: str,
    if_none_match: str | None,
    if_match: str | None,
    src_if_match: str | None,
    metadata: Mapping[str, str] | None,
    verify: bool,
    progress: Callable[[int], None] | None = None,
) -> ObjectInfo:
    counted = 0

    with src_store.get(src_key, if_match=src_if_match) as reader:
        src = reader.info
        digests = streamed_digests(src, dst_store) if verify else {}
        if progress is not None:
            progress(0)

        def chunks() -> Iterator[bytes]:
            nonlocal counted
            # an object of one chunk has nothing to overlap: no read-ahead thread for it
            for chunk in reader if src.size <= DEFAULT_CHUNK else prefetch(reader):
                counted += len(chunk)
                for digest in digests.values():
                    digest.update(chunk)
                yield chunk
                if progress is not None:
                    progress(counted)  # after the destination took the chunk

        merged = {**src.metadata, **(metadata or {})}
        info = dst_store.put(
            dst_key,
            chunks(),
            content_type=src.content_type,
            metadata=merged,
            if_none_match=if_none_match,
            if_match=if_match,
        )
    if verify:
        problem = _mismatch(src, info, counted, {kind: d.value() for kind, d in digests.items()})
        if problem:
            _remove_quietly(dst_store, dst_key, info.etag)
            raise IntegrityError(problem, provider=dst_store.provider, operation="copy_object", key=dst_key)
    return info


def _mismatch(src: ObjectInfo, dst: ObjectInfo, counted: int, streamed: Mapping[str, str]) -> str | None:
    if counted != src.size:
        return f"read {counted} bytes but the source is {src.size}"
    if dst.size != src.size:
        return f"wrote {dst.size} bytes but the source is {src.size}"
    for side in (src, dst):
        for kind, value in streamed.items():
            stated = side.checksums.get(kind)
            if stated and stated != value:
                return f"{kind.upper()} {stated} of {side.key} differs from the streamed bytes' {value}"
    return None


def _remove_quietly(store: ObjectStore, key: str, etag: str | None) -> None:
    with contextlib.suppress(StorageError):
        store.delete(key, if_match=etag if etag and store.capabilities.delete_with_if_match else None)
