"""Reconciliation against moto, Azurite and fake-gcs-server: divergence made on purpose (objects written
with no event, replicas deleted, stale replicas, extras), repaired by several short invocations with a
tiny budget; exact counts and full convergence asserted."""

from __future__ import annotations

import json

import pytest

from core.handlers.checkpoint import CheckpointStore
from core.handlers.reconcile import KeyRange, reconcile
from core.handlers.sync import check_stores
from scripts.emulators import Emulators
from tests.jobs.support import KeyBudget, bucket_name, circle_for, contents, three_store_config

pytestmark = pytest.mark.xdist_group("jobs-emulators")


def _run_until_complete(circle, budget_keys: int, **kw):  # type: ignore[no-untyped-def]
    reports = []
    for _ in range(50):
        report = reconcile(circle, deadline=KeyBudget(budget_keys), reserve=1.0, parallel=4, **kw)
        reports.append(report)
        if report.complete:
            return reports
    raise AssertionError("reconciliation did not complete in 50 invocations")


def _sum(reports, name: str) -> int:  # type: ignore[no-untyped-def]
    return sum(getattr(r, name) for r in reports)


@pytest.mark.parametrize("source", ["s3", "az", "gs"])
def test_divergence_is_repaired_by_short_invocations(emulators: Emulators, source: str) -> None:
    bucket = bucket_name()
    emulators.create_buckets(bucket)
    circle = circle_for(three_store_config(emulators, bucket, source=source))
    src = circle.store(source)
    targets = [n for n in ("s3", "az", "gs") if n != source]
    for i in range(12):  # written with no event: a backfill
        src.put(f"data/{i:03d}.txt", f"object {i}".encode())

    first = _run_until_complete(circle, budget_keys=5)
    assert len(first) == 3  # 12 keys, 5 per invocation
    assert [r.rules[0].invocations for r in first] == [1, 2, 3]
    assert _sum(first, "scanned") == 12
    assert _sum(first, "copied") == 24 and _sum(first, "failed") == 0
    assert first[-1].rules[0].pass_counts["copied"] == 24  # the checkpoint carried the pass's counts
    expected = contents(src)
    for name in targets:
        assert contents(circle.store(name)) == expected

    # divergence: a replica deleted, a stale replica, an object written without event, a source delete
    # whose replicas stayed (extra), and a user's own object in a target (never deleted: not a replica)
    a, b = (circle.store(n) for n in targets)
    a.delete("data/001.txt")
    b.put("data/002.txt", b"stale bytes")
    src.put("data/100.txt", b"new without event")
    src.delete("data/005.txt")
    b.put("data/zz-user.txt", b"not a replica")
    second = _run_until_complete(circle, budget_keys=4)
    assert len(second) == 4  # 14 keys now seen (12 - 1 + 1 + user's extra in b + the deleted 005)
    assert _sum(second, "scanned") == 14
    assert _sum(second, "copied") == 1 + 1 + 2  # missing replica, stale replica, new object twice
    assert _sum(second, "deleted") == 2  # data/005.txt from both targets
    assert _sum(second, "failed") == 0
    # up to date pairs (10 keys x 2) + the user's object (converge skips it: not a replica) = 21
    assert _sum(second, "skipped") == 21
    expected = contents(src)
    assert contents(a) == expected
    assert contents(b) == {**expected, "data/zz-user.txt": b"not a replica"}
    assert list(check_stores(src, a)) == []

    # nothing left to do: a complete pass copies nothing and the checkpoint says complete
    third = reconcile(circle)
    assert third.complete and third.copied == 0 and third.deleted == 0
    saved = CheckpointStore(src).load("main", "all")
    assert saved is not None and saved.complete
    for name in targets:  # Circle's own bookkeeping was never replicated
        assert not any(o.key.startswith(".circle/") for o in circle.store(name).list())


def test_dry_run_writes_nothing(emulators: Emulators) -> None:
    bucket = bucket_name()
    emulators.create_buckets(bucket)
    circle = circle_for(three_store_config(emulators, bucket))
    src = circle.store("s3")
    for i in range(3):
        src.put(f"k{i}", b"v")
    report = reconcile(circle, dry_run=True)
    assert report.dry_run and report.complete
    assert report.copied == 6 and report.scanned == 3
    assert {p["kind"] for p in report.rules[0].planned} == {"missing"}
    assert contents(circle.store("az")) == {} and contents(circle.store("gs")) == {}
    assert list(src.list(".circle/")) == []  # not even a checkpoint


def test_key_ranges_have_their_own_checkpoints(emulators: Emulators) -> None:
    bucket = bucket_name()
    emulators.create_buckets(bucket)
    circle = circle_for(three_store_config(emulators, bucket))
    src = circle.store("s3")
    for key in ("a1", "a2", "m1", "m2", "z1"):
        src.put(key, b"x")
    low = reconcile(circle, key_range=KeyRange(None, "m1", "low"))
    high = reconcile(circle, key_range=KeyRange("m1", None, "high"))
    assert (low.scanned, high.scanned) == (3, 2)
    assert low.copied + high.copied == 10
    keys = sorted(o.key for o in src.list(".circle/checkpoints/"))
    assert keys == [".circle/checkpoints/main/high.json", ".circle/checkpoints/main/low.json"]
    saved = json.loads(src.get(keys[1]).read())
    assert saved["complete"] is True and saved["counts"]["copied"] == 6
