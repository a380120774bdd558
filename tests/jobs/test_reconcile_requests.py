"""Request economy of reconciliation (issue 9 "Performance"): a key the listing saw missing from a
replica costs GET + create-only PUT, and its confirmation is shared: one listing of the source for a
batch of adjacent copies, a HEAD each for a sparse one. The shortcut never lets a replica written
meanwhile be overwritten by an older state, and a copy the confirmation finds outdated gets the full
convergence. Real emulators; a counting wrapper only counts calls and passes every one through."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from core.handlers.replication import SOURCE_ETAG, converge, write_listed
from core.handlers.sync import ListingCounter, listing
from scripts.emulators import Emulators
from tests.jobs.support import bucket_name, circle_for, contents, three_store_config

pytestmark = pytest.mark.xdist_group("jobs-emulators")


class Counted:
    """Counts head/get/put/delete/list_page calls of a real store (everything else passes through)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name not in ("head", "get", "put", "delete", "list_page"):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def _stores(emulators: Emulators, source: str, target: str) -> tuple[Counted, Counted]:
    bucket = bucket_name("req")
    emulators.create_buckets(bucket)
    circle = circle_for(three_store_config(emulators, bucket, source=source))
    return Counted(circle.store(source)), Counted(circle.store(target))


@pytest.mark.parametrize(("source", "target"), [("s3", "az"), ("az", "gs"), ("gs", "s3")])
def test_a_listed_missing_key_costs_a_get_and_a_put(emulators: Emulators, source: str, target: str) -> None:
    src, dst = _stores(emulators, source, target)
    src.put("k.txt", b"small object")
    listed = next(listing(src._store))
    src.calls.clear()
    written = write_listed(src, "k.txt", dst, "k.txt", listed)  # type: ignore[arg-type]
    assert written is not None and written.metadata[SOURCE_ETAG] == listed.etag
    assert contents(dst._store) == {"k.txt": b"small object"}
    assert dst._store.head("k.txt").metadata[SOURCE_ETAG] == listed.etag
    requests = src.calls + dst.calls
    assert requests == Counter({"get": 1, "put": 1}), requests  # rclone: GET + PUT


def test_without_the_hint_the_first_round_reads_both_sides(emulators: Emulators) -> None:
    src, dst = _stores(emulators, "s3", "gs")
    src.put("k.txt", b"small object")
    src.calls.clear()
    outcome = converge(src, "k.txt", dst, "k.txt", target_name="gs")  # type: ignore[arg-type]
    assert outcome.action == "copied"
    assert (src.calls + dst.calls)["head"] == 3  # replica, source; then the source again (confirmation)


def test_a_replica_written_after_the_listing_is_never_overwritten(emulators: Emulators) -> None:
    """The listing saw the replica absent and the source at v1; before the copy, the source moved to v2
    and an event handler already replicated v2. The listed copy of v1 must not land."""
    src, dst = _stores(emulators, "s3", "az")
    src.put("k.txt", b"version 1")
    seen = next(listing(src._store))
    src.put("k.txt", b"version 2")
    event = converge(src._store, "k.txt", dst._store, "k.txt", target_name="az")
    assert event.action == "copied"
    assert write_listed(src, "k.txt", dst, "k.txt", seen) is None  # type: ignore[arg-type]
    assert contents(dst._store) == {"k.txt": b"version 2"}
    assert dst.calls["put"] == 0  # the pinned read of v1 failed first: nothing was written


def test_a_replica_created_after_the_listing_refuses_the_create_only_write(emulators: Emulators) -> None:
    """The replica appears (same source state) between the listing and the write: the create-only PUT is
    refused, and the full convergence that follows finds the replica up to date."""
    src, dst = _stores(emulators, "gs", "s3")
    src.put("k.txt", b"same state")
    seen = next(listing(src._store))
    assert converge(src._store, "k.txt", dst._store, "k.txt", target_name="s3").action == "copied"
    before = dst._store.head("k.txt").etag
    assert write_listed(src, "k.txt", dst, "k.txt", seen) is None  # type: ignore[arg-type]
    assert dst.calls["put"] == 1  # tried create-only, refused
    assert dst._store.head("k.txt").etag == before
    outcome = converge(src._store, "k.txt", dst._store, "k.txt", target_name="s3")
    assert outcome.action == "skipped" and outcome.failure is None, outcome


def test_listing_prefetch_requests_no_page_past_until(emulators: Emulators) -> None:
    src, _ = _stores(emulators, "s3", "az")
    for i in range(9):
        src.put(f"p/{i}", b"x")
    counter = ListingCounter()
    keys = [o.key for o in listing(src._store, "p/", until="p/4", page_size=3, counter=counter)]
    assert keys == ["p/0", "p/1", "p/2", "p/3", "p/4"]
    assert counter.requests == 2  # pages p/0-2 and p/3-5; p/6-8 never requested
    counter = ListingCounter()
    assert len(list(listing(src._store, "p/", page_size=3, counter=counter))) == 9
    assert counter.requests == 3
