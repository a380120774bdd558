"""Reconciliation confirms its listed copies in batches (core.handlers.confirm): a backfill costs a GET
and a PUT per key plus one listing of the source per batch, never a HEAD each; a source deleted or
overwritten between a copy and its confirmation gets the full convergence (the copy is undone or
redone); a sparse batch is confirmed by HEADs; a confirmation that cannot be listed falls back to the
full convergence and loses nothing. Real emulators; the wrapper counts calls and runs a hook after a
chosen write, so the interleavings are deterministic."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from core.config import parse_config
from core.handlers.reconcile import reconcile
from core.handlers.replication import SOURCE_ETAG
from core.runtime import Circle
from core.storage import TransientError
from scripts.emulators import Emulators
from tests.jobs.support import bucket_name, contents, store_table

pytestmark = pytest.mark.xdist_group("jobs-emulators")


class Watched:
    """A real store that counts head/get/put/list_page calls; ``after_put[key]`` runs once after that
    key's PUT returned; ``fail_list_call`` makes that list_page call (1-based) raise TransientError."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()
        self.after_put: dict[str, Callable[[], None]] = {}
        self.fail_list_call = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name not in ("head", "get", "put", "list_page"):
            return attr

        def watched(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
                failing = name == "list_page" and self.calls[name] == self.fail_list_call
            if failing:
                raise TransientError("listing refused (test)", provider="test")
            result = attr(*args, **kwargs)
            hook = self.after_put.pop(args[0], None) if name == "put" and args else None
            if hook is not None:
                hook()
            return result

        return watched


class Rig:
    """What ``reconcile`` needs of the runtime (config, store, monitor), with every store watched."""

    def __init__(self, circle: Circle) -> None:
        self.config = circle.config
        self.monitor = None
        self.stores = {name: Watched(circle.store(name)) for name in ("s3", "az", "gs")}

    def store(self, name: str) -> Any:
        return self.stores[name]


def _rig(emulators: Emulators, targets: list[str], keys: list[str], seed: dict[str, list[str]]) -> Rig:
    bucket = bucket_name("confirm")
    emulators.create_buckets(bucket)
    rule = {"name": "confirm", "source": "s3", "targets": targets, "propagate_deletes": True}
    circle = Circle.from_config(parse_config({"stores": store_table(emulators, bucket), "replication": [rule]}))
    with ThreadPoolExecutor(8) as pool:
        for name, todo in seed.items():
            store = circle.store(name)
            list(pool.map(lambda key, store=store: store.put(key, f"v1 {key}".encode()), todo))
    return Rig(circle)


def test_a_backfill_confirms_its_copies_with_one_listing_per_batch(emulators: Emulators) -> None:
    keys = [f"obj/{i:04d}" for i in range(300)]
    rig = _rig(emulators, ["az", "gs"], keys, {"s3": keys})
    report = reconcile(rig, parallel=8, checkpoint_store="gs")
    assert report.complete and report.failed == 0
    assert report.copied == 600
    src = rig.stores["s3"].calls
    assert src["head"] == 0, src  # no HEAD per copy
    assert src["get"] == 600  # one pinned read per (key, target)
    assert src["list_page"] == 1 + 2  # the scan, then 600 copies confirmed in batches of 500 and 100
    for name in ("az", "gs"):
        assert rig.stores[name].calls["head"] == 0
        assert contents(rig.stores[name]._store) == {k: f"v1 {k}".encode() for k in keys}


# fewer copies than LIST_WHEN_AT_LEAST are confirmed by HEADs, more by one listing: both paths
PATHS = pytest.mark.parametrize(("count", "confirm_lists"), [(20, 0), (100, 1)], ids=["heads", "listing"])


@PATHS
def test_a_source_deleted_after_its_copy_is_undone_by_the_confirmation(
    emulators: Emulators, count: int, confirm_lists: int
) -> None:
    keys = [f"obj/{i:04d}" for i in range(count)]
    rig = _rig(emulators, ["az"], keys, {"s3": keys})
    gone = keys[count // 2]
    rig.stores["az"].after_put[gone] = lambda: rig.stores["s3"]._store.delete(gone)  # the copy landed first
    report = reconcile(rig, parallel=4, checkpoint_store="gs")
    assert report.complete and report.failed == 0
    assert (report.copied, report.deleted) == (count - 1, 1)
    assert gone not in contents(rig.stores["az"]._store)
    assert len(contents(rig.stores["az"]._store)) == count - 1
    # the scan, the confirmations, and the source bucket's check before a replica is deleted
    assert rig.stores["s3"].calls["list_page"] == 2 + confirm_lists


@PATHS
def test_a_source_overwritten_after_its_copy_is_copied_again(
    emulators: Emulators, count: int, confirm_lists: int
) -> None:
    keys = [f"obj/{i:04d}" for i in range(count)]
    rig = _rig(emulators, ["az"], keys, {"s3": keys})
    moved = keys[count // 3]
    rig.stores["az"].after_put[moved] = lambda: rig.stores["s3"]._store.put(moved, b"v2")
    report = reconcile(rig, parallel=4, checkpoint_store="gs")
    assert report.complete and report.failed == 0 and report.copied == count, report.as_dict()
    assert rig.stores["s3"].calls["list_page"] == 1 + confirm_lists
    replica = rig.stores["az"]._store
    assert replica.get(moved).read() == b"v2"
    assert replica.head(moved).metadata[SOURCE_ETAG] == rig.stores["s3"]._store.head(moved).etag


def test_a_sparse_batch_is_confirmed_by_heads(emulators: Emulators) -> None:
    keys = [f"obj/{i:04d}" for i in range(60)]
    missing = keys[5::25]  # 3 keys
    rig = _rig(emulators, ["az"], keys, {"s3": keys, "az": [k for k in keys if k not in missing]})
    report = reconcile(rig, parallel=4, checkpoint_store="gs")
    assert report.complete and report.failed == 0 and report.copied == 3
    src = rig.stores["s3"].calls
    assert (src["head"], src["list_page"]) == (3, 1), src  # cheaper than listing the span between them


def test_an_unlistable_confirmation_falls_back_to_full_convergence(emulators: Emulators) -> None:
    keys = [f"obj/{i:04d}" for i in range(80)]
    rig = _rig(emulators, ["az"], keys, {"s3": keys})
    rig.stores["s3"].fail_list_call = 2  # the scan is call 1; the confirmation listing fails
    report = reconcile(rig, parallel=4, checkpoint_store="gs")
    assert report.complete and report.failed == 0 and report.copied == 80
    assert rig.stores["s3"].calls["head"] == 80  # each copy confirmed by the full convergence instead
    assert contents(rig.stores["az"]._store) == {k: f"v1 {k}".encode() for k in keys}
