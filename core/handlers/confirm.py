"""Confirm reconciliation's listed copies in batches: one listing of the source instead of a HEAD each.

A copy decided from the listings (``replication.write_listed``: create-only, pinned to the listed ETag)
is right only if the source still holds the listed state after the write landed; the event path's
``converge`` checks that with a HEAD of the source. A backfill copies runs of adjacent keys, so one
listing of their key range (at most a page), requested after every write of the batch finished,
confirms hundreds at once: 1,000 copied keys cost 2 list requests instead of 1,000 HEADs. A key that
listing shows absent or changed gets the full convergence (which reads both sides and undoes or redoes
the copy). A sparse batch (a few differences spread over a large bucket) is confirmed by HEADs, which
are then cheaper than listing the span between them.

Batches are confirmed on one background thread while the next copies run; ``settle`` waits for them
(before a checkpoint is written, and at the end of the pass), so nothing is reported before it is
confirmed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.storage import NotFound, StorageError

from .replication import UP_TO_DATE, Outcome
from .sync import PAGE_SIZE, ListingCounter, listing

if TYPE_CHECKING:
    from core.storage import ObjectInfo, ObjectStore

BATCH = 500  # copies confirmed together (at most one page of the source apart: see ``Confirmations.add``)
# copies in a batch that make one listing of their range cheaper than a HEAD each: a list request is
# priced as 12.5 HEADs on S3, Azure and GCS, and costs the emulators about 60-80 HEADs of CPU
LIST_WHEN_AT_LEAST = 64


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A listed copy that landed: ``source`` is the listed state it wrote. ``after`` is the key scanned
    just before ``key`` (None: the start of the pass) and ``position`` its rank in the scan: together
    they bound the listing that confirms a batch. ``confirmed`` is the outcome when the source still
    holds ``source``; ``redo`` runs the full convergence when it does not."""

    key: str
    after: str | None
    position: int
    source: ObjectInfo
    confirmed: Outcome
    redo: Callable[[], Outcome]


class Confirmations:
    """Collects ``Unconfirmed`` copies of one rule's source and confirms them a batch at a time."""

    def __init__(self, source: ObjectStore, prefix: str, counter: ListingCounter | None = None) -> None:
        self._source = source
        self._prefix = prefix
        self._counter = counter
        self._batch: list[Unconfirmed] = []
        self._span = (0, 0)  # lowest and highest scan position in the batch
        self._pool: ThreadPoolExecutor | None = None
        self._running: list[Future[list[tuple[Unconfirmed, Outcome]]]] = []

    def add(self, item: Unconfirmed) -> None:
        """Queue ``item``; a full batch, or one whose keys would span more than a page, goes to be confirmed."""
        low, high = self._span
        span = max(high, item.position) - min(low, item.position)
        if self._batch and (len(self._batch) >= BATCH or span >= PAGE_SIZE):
            self._send()
        low, high = self._span if self._batch else (item.position, item.position)
        self._span = (min(low, item.position), max(high, item.position))
        self._batch.append(item)

    def ready(self) -> list[tuple[Unconfirmed, Outcome]]:
        """The final outcome of every batch confirmed so far (without waiting)."""
        return self._collect(wait=False)

    def settle(self) -> list[tuple[Unconfirmed, Outcome]]:
        """Confirm everything queued and wait: the final outcome of every copy not yet returned."""
        self._send()
        return self._collect(wait=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _send(self) -> None:
        if not self._batch:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="circle-confirm")
        batch, self._batch = self._batch, []
        self._running.append(self._pool.submit(self._confirm, batch))

    def _collect(self, *, wait: bool) -> list[tuple[Unconfirmed, Outcome]]:
        out: list[tuple[Unconfirmed, Outcome]] = []
        still: list[Future[list[tuple[Unconfirmed, Outcome]]]] = []
        for future in self._running:
            if wait or future.done():
                out.extend(future.result())
            else:
                still.append(future)
        self._running = still
        return out

    def _confirm(self, batch: list[Unconfirmed]) -> list[tuple[Unconfirmed, Outcome]]:
        try:
            now = self._listed(batch) if len(batch) >= LIST_WHEN_AT_LEAST else self._heads(batch)
        except StorageError:  # nothing confirmed: every copy gets the full convergence (which classifies)
            now = {}
        results: list[tuple[Unconfirmed, Outcome]] = []
        for item in batch:
            current = now.get(item.key)
            # a listing that shows no version (S3's) cannot be held to one: the ETag decides
            holds = (
                current is not None
                and current.etag == item.source.etag
                and (item.source.version is None or current.version == item.source.version)
            )
            results.append((item, item.confirmed if holds else _again(item)))
        return results

    def _listed(self, batch: list[Unconfirmed]) -> dict[str, ObjectInfo]:
        """The batch's keys as one listing of their range shows them now (absent keys left out)."""
        wanted = {item.key for item in batch}
        starts = [item.after for item in batch]
        after = None if None in starts else min(s for s in starts if s is not None)
        until = max(wanted)
        found = listing(self._source, self._prefix, after=after, until=until, counter=self._counter)
        return {info.key: info for info in found if info.key in wanted}

    def _heads(self, batch: list[Unconfirmed]) -> dict[str, ObjectInfo]:
        out: dict[str, ObjectInfo] = {}
        for item in batch:
            with contextlib.suppress(NotFound):
                out[item.key] = self._source.head(item.key)
        return out


def _again(item: Unconfirmed) -> Outcome:
    """The full convergence of an unconfirmed copy; one that finds our copy right after all (the
    confirmation could not be read) still counts as the copy it was."""
    outcome = item.redo()
    return item.confirmed if outcome.action == "skipped" and outcome.reason == UP_TO_DATE else outcome
