"""Store-to-store sync and check (contract J1): a merge-join of sorted listings, page by page.

Both listings come back in key order, so walking them side by side finds every difference while
holding one page of each in memory, whatever the bucket's size. ``check_stores`` reports differences;
``sync_stores`` makes the destination equal the source with bounded parallel transfers. Reconciliation
(core.handlers.reconcile) uses the same join and runner with per-key convergence instead of copies.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from core.storage.api import ObjectInfo
from core.storage.errors import NotFound, PreconditionFailed, StorageError, Unsupported

from .checkpoint import is_reserved

if TYPE_CHECKING:
    from core.storage import ObjectStore

log = logging.getLogger("circle.sync")
Compare = Literal["etag", "size", "checksum"]
DiffKind = Literal["missing", "stale", "extra"]
Deadline = Callable[[], float]
Progress = Callable[[str, int], None]
PAGE_SIZE = 1000
#: objects above this size stream one upload part at a time (~50-64 MiB of buffers per copy, see
#: docs/benchmarks.md): at most ``LARGE_PARALLEL`` of them run at once, so memory stays bounded however
#: many small objects the other threads copy
LARGE_OBJECT = 8 * 1024 * 1024
LARGE_PARALLEL = 1
SOURCE_ETAG = "circle_source_etag"  # the stamp replication writes (core.handlers.replication)
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Difference:
    """One key on which two stores differ: absent from the destination (``missing``), present but
    different (``stale``) or only in the destination (``extra``)."""

    key: str
    kind: DiffKind
    source: ObjectInfo | None
    target: ObjectInfo | None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind}


# -- listings and the join ------------------------------------------------------------------------------
class ListingCounter:
    """Counts list requests made by ``listing`` (for reports and the list-request budget)."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.requests += 1


def listing(
    store: ObjectStore,
    prefix: str = "",
    *,
    after: str | None = None,
    until: str | None = None,
    strip: str = "",
    page_size: int = PAGE_SIZE,
    counter: ListingCounter | None = None,
) -> Iterator[ObjectInfo]:
    """Objects under ``prefix`` in key order, keys with ``strip`` removed from their front; only keys in
    ``(after, until]`` (compared after stripping); reserved keys skipped.

    The first page is requested at once, in a thread, and each next page while the current one is
    consumed: two listings joined side by side then wait for their servers together, and at most two
    pages per listing are in memory. No page past ``until`` is ever requested."""
    size = min(page_size, store.capabilities.list_max_page_size)
    start_after = strip + after if after is not None else None
    if start_after is not None and start_after < prefix:
        start_after = None

    def fetch(token: str | None) -> Future[Any]:
        def one() -> Any:
            page = store.list_page(
                prefix, page_size=size, token=token, start_after=start_after if token is None else None
            )
            if counter is not None:
                counter.add()
            return page

        return _in_thread(one)

    return _walk(fetch, fetch(None), after, until, strip)


def _in_thread(fn: Callable[[], R]) -> Future[R]:
    """Run ``fn`` on a fresh daemon thread (a listing may be abandoned half-read: no pool to shut down)."""
    future: Future[R] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the consumer, raised there
                future.set_exception(exc)

    threading.Thread(target=run, name="circle-list", daemon=True).start()
    return future


def _walk(
    fetch: Callable[[str | None], Future[Any]],
    pending: Future[Any],
    after: str | None,
    until: str | None,
    strip: str,
) -> Iterator[ObjectInfo]:
    while True:
        page = pending.result()
        token = page.next_token
        last = page.objects[-1].key if page.objects else ""
        last = last[len(strip) :] if strip and last.startswith(strip) else last
        more = bool(token) and (until is None or last <= until)
        if more:
            pending = fetch(token)  # the next page is on its way while this one is consumed
        for info in page.objects:
            key = info.key[len(strip) :] if strip and info.key.startswith(strip) else info.key
            if is_reserved(info.key) or (after is not None and key <= after):
                continue
            if until is not None and key > until:
                return
            yield info if key == info.key else _rekey(info, key)
        if not more:
            return


def _rekey(info: ObjectInfo, key: str) -> ObjectInfo:
    import dataclasses

    return dataclasses.replace(info, key=key)


def merge_join(streams: Sequence[Iterator[ObjectInfo]]) -> Iterator[tuple[str, list[ObjectInfo | None]]]:
    """Walk sorted streams side by side: each key once, with what every stream holds for it (None: absent)."""
    heads: list[ObjectInfo | None] = [next(s, None) for s in streams]
    while True:
        live = [h.key for h in heads if h is not None]
        if not live:
            return
        key = min(live)
        row: list[ObjectInfo | None] = []
        for i, head in enumerate(heads):
            if head is not None and head.key == key:
                row.append(head)
                heads[i] = next(streams[i], None)
            else:
                row.append(None)
        yield key, row


def same_content(src: ObjectInfo, dst: ObjectInfo, compare: Compare = "etag") -> bool:
    """Whether ``dst`` holds what ``src`` holds, by the chosen evidence.

    ``etag``: the replica's stamp names the source ETag, or a common MD5 checksum agrees, with equal sizes
    (ETags of different clouds are not comparable, so a bare ETag equality counts only with equal sizes
    on one provider). ``size``: equal sizes. ``checksum``: a checksum both sides expose agrees (sizes equal)."""
    if src.size != dst.size:
        return False
    if compare == "size":
        return True
    common = [name for name in src.checksums if dst.checksums.get(name)]
    if compare == "checksum":
        return bool(common) and all(src.checksums[n] == dst.checksums[n] for n in common)
    if src.etag and dst.metadata.get(SOURCE_ETAG) == src.etag:
        return True
    if common:
        return all(src.checksums[n] == dst.checksums[n] for n in common)
    return bool(src.etag) and src.etag == dst.etag


def _unproven(src: ObjectInfo, listed: ObjectInfo | None, compare: Compare) -> bool:
    """Whether a listed destination object may still hold the source: same size, but its listing carries
    no metadata (S3 lists none), so a stamp naming the source cannot be seen without reading it."""
    return compare == "etag" and listed is not None and listed.size == src.size and not listed.metadata


def _holds(store: ObjectStore, key: str, src: ObjectInfo, compare: Compare) -> bool:
    """Whether ``key`` in ``store`` holds ``src``, read with its metadata (one HEAD)."""
    try:
        return same_content(src, store.head(key), compare)
    except NotFound:
        return False


def check_stores(
    src: ObjectStore,
    dst: ObjectStore,
    *,
    compare: Compare = "etag",
    prefix: str = "",
    counter: ListingCounter | None = None,
) -> Iterator[Difference]:
    """Every difference between ``src`` and ``dst`` (under ``prefix``), in key order, lazily."""
    for key, (s, d) in merge_join([listing(src, prefix, counter=counter), listing(dst, prefix, counter=counter)]):
        if d is None:
            yield Difference(key, "missing", s, None)
        elif s is None:
            yield Difference(key, "extra", None, d)
        elif not same_content(s, d, compare) and not (_unproven(s, d, compare) and _holds(dst, key, s, compare)):
            yield Difference(key, "stale", s, d)


# -- bounded parallel work with a resumable watermark ----------------------------------------------------
@dataclass
class _Slot(Generic[R]):
    key: str
    future: Future[R] | None  # None: nothing to do for this key (already done)
    handled: bool = False


class OrderedRunner(Generic[R]):
    """Runs per-key work on at most ``parallel`` threads, in key order of submission, and keeps the
    watermark: the last key such that it and every key before it have finished. A job that stops
    early checkpoints the watermark and loses nothing. At most ``window`` keys are held (memory stays
    flat behind one slow key)."""

    def __init__(self, parallel: int, on_result: Callable[[str, R], None], window: int = 0) -> None:
        self.parallel = max(1, parallel)
        self.window = window or self.parallel * 64
        self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="circle-job")
        self._slots: deque[_Slot[R]] = deque()
        self._running: dict[Future[R], _Slot[R]] = {}
        self._on_result = on_result
        self.watermark: str | None = None

    def skip(self, key: str) -> None:
        """``key`` needed nothing: it only advances the watermark."""
        self._slots.append(_Slot(key, None, True))
        self._advance()
        self._bound()

    def submit(self, key: str, fn: Callable[[], R]) -> None:
        while len(self._running) >= self.parallel:
            self._wait_some()
        slot: _Slot[R] = _Slot(key, self._pool.submit(fn))
        assert slot.future is not None
        self._slots.append(slot)
        self._running[slot.future] = slot
        self._bound()

    def _bound(self) -> None:
        while len(self._slots) > self.window and self._running:
            self._wait_some()

    def _wait_some(self) -> None:
        done, _ = wait(self._running, return_when=FIRST_COMPLETED)
        finished = sorted((self._running.pop(f) for f in done), key=lambda slot: slot.key)  # submission order
        for slot in finished:
            slot.handled = True
            assert slot.future is not None
            self._on_result(slot.key, slot.future.result())
        self._advance()

    def _advance(self) -> None:
        while self._slots and self._slots[0].handled:
            self.watermark = self._slots.popleft().key

    def drain(self) -> None:
        """Wait for everything submitted, then stop the threads."""
        while self._running:
            self._wait_some()
        self._advance()
        self._pool.shutdown(wait=True)


class LargeGate:
    """Lets at most ``limit`` transfers of objects over ``LARGE_OBJECT`` bytes run at once."""

    def __init__(self, limit: int = LARGE_PARALLEL) -> None:
        self._slots = threading.BoundedSemaphore(max(1, limit))

    def run(self, size: int, fn: Callable[[], R]) -> R:
        if size <= LARGE_OBJECT:
            return fn()
        with self._slots:
            return fn()


def time_left(deadline: Deadline | None, reserve: float) -> bool:
    """Whether another key may start: more than ``reserve`` seconds left (always, without a deadline)."""
    return deadline is None or deadline() > reserve


# -- sync ------------------------------------------------------------------------------------------------
@dataclass
class SyncReport:
    """What a sync did (or, with ``dry_run``, would do). Counts are integers."""

    scanned: int = 0
    copied: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    list_requests: int = 0
    dry_run: bool = False
    complete: bool = True
    resume_after: str | None = None
    seconds: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)  # at most MAX_FAILURES kept
    planned: list[dict[str, Any]] = field(default_factory=list)  # dry run: at most MAX_PLANNED kept

    MAX_FAILURES = 100
    MAX_PLANNED = 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "copied": self.copied,
            "deleted": self.deleted,
            "skipped": self.skipped,
            "failed": self.failed,
            "bytes": self.bytes,
            "list_requests": self.list_requests,
            "dry_run": self.dry_run,
            "complete": self.complete,
            "resume_after": self.resume_after,
            "seconds": round(self.seconds, 3),
            "failures": list(self.failures),
            "planned": list(self.planned),
        }


def _copy_supports_progress() -> bool:
    from core.storage.transfer import copy_object

    return "progress" in (copy_object.__kwdefaults__ or {})


def sync_stores(
    src: ObjectStore,
    dst: ObjectStore,
    *,
    delete: bool = False,
    dry_run: bool = False,
    compare: Compare = "etag",
    parallel: int = 8,
    progress: Progress | None = None,
    deadline: Deadline | None = None,
    prefix: str = "",
    after: str | None = None,
    reserve: float = 2.0,
) -> SyncReport:
    """Make ``dst`` hold what ``src`` holds (``delete``: and nothing else), copying what is missing or
    different on ``parallel`` threads. Stops starting keys when ``deadline()`` falls to ``reserve``
    seconds; ``resume_after`` then says where to continue (pass it back as ``after``)."""
    from core.storage.transfer import copy_object

    started = time.monotonic()
    report = SyncReport(dry_run=dry_run)
    counter = ListingCounter()
    lock = threading.Lock()
    with_progress = progress is not None and _copy_supports_progress()
    gate = LargeGate()
    server_side = not dry_run and dst.can_copy_from(src)  # one endpoint and credential: the bytes stay there

    def streamed(key: str, source: ObjectInfo) -> None:
        extra: dict[str, Any] = {}
        if with_progress:
            assert progress is not None
            extra["progress"] = lambda done, key=key: progress(key, done)
        gate.run(
            source.size,
            lambda: copy_object(src, key, dst, key, metadata={SOURCE_ETAG: source.etag or ""}, **extra),
        )

    def copied_there(key: str, source: ObjectInfo) -> bool:
        """A server-side copy with the source's content type and metadata; False when the provider cannot
        copy this object so (too large for one request): it is streamed.

        First one request pinned to the listed ETag, keeping everything as it is: a copy with the same
        ETag needs no stamp (``same_content`` compares ETags on one provider). A multipart source's ETag
        (``-N``) never survives a copy, and a source changed since it was listed fails the pin: those
        get the stamped copy of what the source holds (a HEAD, then the copy)."""
        try:
            if source.etag and "-" not in source.etag:
                with contextlib.suppress(PreconditionFailed):
                    made = dst.copy_from(src, key, key, src_if_match=source.etag, src_size=source.size)
                    if made.etag == source.etag:
                        return True
            dst.copy_from(src, key, key, metadata={SOURCE_ETAG: source.etag or ""})
        except Unsupported:
            return False
        return True

    def copy(key: str, source: ObjectInfo, look_first: bool) -> tuple[str, int, str]:
        try:
            if look_first and _holds(dst, key, source, compare):
                return "skipped", 0, ""
            if not (server_side and copied_there(key, source)):
                streamed(key, source)
        except StorageError as exc:
            return "failed", 0, f"{type(exc).__name__}: {exc}"
        if progress is not None:
            progress(key, source.size)  # after a streamed copy's own reports: the same total again
        return "copied", source.size, ""

    def remove(key: str) -> tuple[str, int, str]:
        try:
            dst.delete(key)
        except StorageError as exc:
            return "failed", 0, f"{type(exc).__name__}: {exc}"
        return "deleted", 0, ""

    def record(key: str, result: tuple[str, int, str]) -> None:
        action, size, reason = result
        with lock:
            if action == "copied":
                report.copied += 1
                report.bytes += size
            elif action == "deleted":
                report.deleted += 1
            elif action == "skipped":
                report.skipped += 1
            else:
                report.failed += 1
                if len(report.failures) < report.MAX_FAILURES:
                    report.failures.append({"key": key, "reason": reason})

    runner: OrderedRunner[tuple[str, int, str]] = OrderedRunner(parallel, record)
    streams = [listing(src, prefix, after=after, counter=counter), listing(dst, prefix, after=after, counter=counter)]
    try:
        for key, (s, d) in merge_join(streams):
            if not time_left(deadline, reserve):
                report.complete = False
                break
            report.scanned += 1
            look = s is not None and _unproven(s, d, compare)
            if s is not None and (d is None or not same_content(s, d, compare)):
                action: str = "copy"
            elif s is None and delete:
                action = "delete"
            else:
                action = "skip"
            if action == "skip" or (dry_run and look and s is not None and _holds(dst, key, s, compare)):
                report.skipped += 1
                runner.skip(key)
                continue
            if dry_run:
                if action == "copy":
                    report.copied += 1
                    report.bytes += s.size if s is not None else 0
                else:
                    report.deleted += 1
                if len(report.planned) < report.MAX_PLANNED:
                    report.planned.append({"key": key, "action": action})
                runner.skip(key)
                continue
            if action == "copy":
                assert s is not None
                runner.submit(key, functools.partial(copy, key, s, look))
            else:
                runner.submit(key, functools.partial(remove, key))
    finally:
        runner.drain()
    report.list_requests = counter.requests
    report.resume_after = None if report.complete else runner.watermark or after
    report.seconds = time.monotonic() - started
    log.info(
        "sync finished",
        extra={
            "source": src.url,
            "target": dst.url,
            "server_side": server_side,
            "report": report.as_dict() | {"failures": len(report.failures), "planned": len(report.planned)},
        },
    )
    return report
