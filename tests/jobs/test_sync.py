"""The store-to-store engine (contract J1) on the emulators: ``check_stores`` finds missing, stale and
extra keys by a merge-join of two listings; ``sync_stores`` copies and deletes with bounded parallelism,
reports progress, honours dry runs, and resumes after a deadline from ``resume_after``."""

from __future__ import annotations

from typing import Any

import pytest

from core.handlers.sync import check_stores, merge_join, same_content, sync_stores
from core.storage import ObjectInfo
from scripts.emulators import Emulators
from tests.jobs.support import KeyBudget, bucket_name, circle_for, contents, three_store_config

pytestmark = pytest.mark.xdist_group("jobs-emulators")


def test_merge_join_walks_sorted_streams_once_per_key() -> None:
    a = iter([ObjectInfo("a", 1), ObjectInfo("c", 1)])
    b = iter([ObjectInfo("b", 1), ObjectInfo("c", 2), ObjectInfo("d", 1)])
    rows = [(key, [None if x is None else x.size for x in row]) for key, row in merge_join([a, b])]
    assert rows == [("a", [1, None]), ("b", [None, 1]), ("c", [1, 2]), ("d", [None, 1])]


def test_same_content_by_stamp_checksum_or_size() -> None:
    src = ObjectInfo("k", 3, etag="e1", checksums={"md5": "aa"})
    assert same_content(src, ObjectInfo("k", 3, etag="x", checksums={"md5": "aa"}))
    assert not same_content(src, ObjectInfo("k", 3, etag="x", checksums={"md5": "bb"}))
    assert same_content(src, ObjectInfo("k", 3, etag="x", metadata={"circle_source_etag": "e1"}))
    assert not same_content(src, ObjectInfo("k", 4, etag="e1"))
    assert same_content(src, ObjectInfo("k", 3, etag="other"), "size")
    assert not same_content(src, ObjectInfo("k", 3, etag="e1"), "checksum")  # no common checksum: differs


@pytest.fixture
def pair(emulators: Emulators) -> tuple[Any, Any]:
    bucket = bucket_name("sync")
    emulators.create_buckets(bucket)
    circle = circle_for(three_store_config(emulators, bucket))
    return circle.store("s3"), circle.store("gs")


def test_check_then_sync_with_delete_progress_and_dry_run(pair: tuple[Any, Any]) -> None:
    src, dst = pair
    for i in range(5):
        src.put(f"k{i}", f"v{i}".encode())
    dst.put("k1", b"v1")  # same content
    dst.put("k2", b"different")  # stale
    dst.put("zz", b"extra")
    src.put(".circle/probe/x", b"reserved")  # never compared or copied
    diffs = {(d.key, d.kind) for d in check_stores(src, dst)}
    assert diffs == {("k0", "missing"), ("k3", "missing"), ("k4", "missing"), ("k2", "stale"), ("zz", "extra")}

    planned = sync_stores(src, dst, delete=True, dry_run=True)
    assert (planned.copied, planned.deleted, planned.skipped) == (4, 1, 1)
    assert {p["key"] for p in planned.planned} == {"k0", "k2", "k3", "k4", "zz"}
    assert contents(dst) == {"k1": b"v1", "k2": b"different", "zz": b"extra"}

    seen: dict[str, int] = {}
    report = sync_stores(src, dst, delete=True, parallel=3, progress=lambda key, n: seen.__setitem__(key, n))
    assert (report.scanned, report.copied, report.deleted, report.skipped, report.failed) == (6, 4, 1, 1, 0)
    assert report.bytes == 8 and report.complete and report.list_requests == 2
    assert seen == {"k0": 2, "k2": 2, "k3": 2, "k4": 2}  # bytes transferred per key, at least at the end
    assert contents(dst) == contents(src) == {f"k{i}": f"v{i}".encode() for i in range(5)}
    assert list(check_stores(src, dst)) == []
    assert not dst.exists(".circle/probe/x")


def test_sync_stops_at_the_deadline_and_resumes(pair: tuple[Any, Any]) -> None:
    src, dst = pair
    for i in range(7):
        src.put(f"k{i}", b"x")
    first = sync_stores(src, dst, deadline=KeyBudget(3), reserve=1.0)
    assert not first.complete and first.copied == 3 and first.resume_after == "k2"
    second = sync_stores(src, dst, after=first.resume_after)
    assert second.complete and second.copied == 4 and second.scanned == 4
    assert list(check_stores(src, dst)) == []
