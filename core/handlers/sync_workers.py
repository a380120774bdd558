"""Sync's copies on worker processes (``circle sync --processes N``): one interpreter lock each.

A small object's copy is mostly SDK CPU (a GET and a PUT of ~2 ms each in botocore or the Azure SDK,
see docs/benchmarks.md), so one Python process tops out at a few hundred objects a second however
many threads it runs; gsutil's ``-m`` splits the work over processes for the same reason. The parent
keeps the listings, the decisions, the watermark and the report; the workers copy and delete batches
of keys on their own threads and answer with one result per key.

The workers are forked before the parent starts a thread (``start`` must come before any listing) and
open their own stores through ``opener``: no connection, lock or memory store is shared. Fork is the
only start method that hands them ``opener`` without pickling it, so this needs Linux (macOS forks
unsafely; there ``available()`` is False and sync runs in one process).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from core.storage.errors import InvalidArgument, StorageError

from .sync import Compare, Copier, Item, Result

if TYPE_CHECKING:
    from core.storage import ObjectStore

Opener = Callable[[], "tuple[ObjectStore, ObjectStore]"]
#: stores whose objects live in the opening process: a worker would copy into its own copy of them
IN_PROCESS = ("memory",)
_copier: Copier | None = None  # in a worker: its stores
_threads: ThreadPoolExecutor | None = None


def available() -> bool:
    """Whether worker processes can be forked safely here."""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


class ProcessWorkers:
    """``processes`` forked workers with ``parallel`` threads each (the ``Workers`` of ``sync_stores``)."""

    def __init__(self, processes: int, parallel: int, opener: Opener, stores: tuple[ObjectStore, ...] = ()) -> None:
        for store in stores:
            if store.provider in IN_PROCESS:
                raise InvalidArgument(f"{store.url} lives in this process: worker processes cannot share it")
        if not available():
            raise InvalidArgument("worker processes need fork (Linux); run with one process")
        self.processes = processes
        self.parallel = parallel
        # a worker holds one batch at a time: four rounds of its threads keep it busy to the batch's end
        self.batch_size = 4 * parallel
        self._opener = opener
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> ProcessWorkers:
        """Fork the workers now (before this process starts a thread) and wait until their stores open."""
        context = multiprocessing.get_context("fork")
        self._pool = ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=_open, initargs=(self._opener, self.parallel)
        )
        try:
            self._pool.submit(_ready).result()  # with fork, the first submit forks every worker
        except BrokenProcessPool:
            self.close()
            raise StorageError("the sync worker processes could not open the stores (see their errors above)") from None
        return self

    def run(self, items: list[Item], compare: Compare) -> list[Result]:
        assert self._pool is not None, "start() first"
        try:
            return self._pool.submit(_run, items, compare).result()
        except BrokenProcessPool:
            reason = "BrokenProcessPool: a sync worker process died"
            return [("failed", 0, reason) for _ in items]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ProcessWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- in a worker -------------------------------------------------------------------------------------------
def _open(opener: Opener, parallel: int) -> None:
    global _copier, _threads
    src, dst = opener()
    _copier = Copier(src, dst)
    _threads = ThreadPoolExecutor(parallel, thread_name_prefix="circle-worker")


def _ready() -> bool:
    return _copier is not None


def _run(items: list[Item], compare: Compare) -> list[Result]:
    assert _copier is not None and _threads is not None
    _copier.compare = compare
    return list(_threads.map(_copier.apply, items))
