"""Convergence rules on in-memory stores (the emulator end-to-end tests live in tests/e2e)."""

from __future__ import annotations

import pytest

from core.handlers.replication import SOURCE_ETAG, sync_created, sync_deleted
from core.storage import ObjectStore, open_store


@pytest.fixture
def pair(request: pytest.FixtureRequest) -> tuple[ObjectStore, ObjectStore]:
    return open_store(f"memory://src-{request.node.name}"), open_store(f"memory://dst-{request.node.name}")


def test_copy_once_then_skip_duplicates(pair: tuple[ObjectStore, ObjectStore]) -> None:
    src, dst = pair
    src.put("k", b"v1", content_type="text/plain", metadata={"a": "1"})
    first = sync_created(src, "k", dst, "m/k", target_name="dst")
    again = sync_created(src, "k", dst, "m/k", target_name="dst")
    assert (first.action, again.action) == ("copied", "skipped")
    replica = dst.head("m/k")
    assert dst.get("m/k").read() == b"v1"
    assert replica.content_type == "text/plain" and replica.metadata["a"] == "1"
    assert replica.metadata[SOURCE_ETAG] == src.head("k").etag


def test_stale_event_copies_current_state_not_the_old_one(pair: tuple[ObjectStore, ObjectStore]) -> None:
    src, dst = pair
    src.put("k", b"old")
    src.put("k", b"new")  # the event for "old" arrives after the object was overwritten
    assert sync_created(src, "k", dst, "k", target_name="dst").action == "copied"
    assert dst.get("k").read() == b"new"
    assert sync_created(src, "k", dst, "k", target_name="dst").action == "skipped"


def test_delete_only_when_source_is_gone_and_target_is_our_replica(pair: tuple[ObjectStore, ObjectStore]) -> None:
    src, dst = pair
    src.put("k", b"v")
    sync_created(src, "k", dst, "k", target_name="dst")
    # a delete event that arrives after a re-create must not remove the new data
    assert sync_deleted(src, "k", dst, "k", target_name="dst").action == "skipped"
    assert dst.exists("k")
    src.delete("k")
    assert sync_deleted(src, "k", dst, "k", target_name="dst").action == "deleted"
    assert not dst.exists("k")
    assert sync_deleted(src, "k", dst, "k", target_name="dst").reason == "replica already absent"
    dst.put("foreign", b"not ours")
    assert sync_deleted(src, "foreign", dst, "foreign", target_name="dst").reason == ("target object is not a replica")
    assert dst.exists("foreign")


def test_created_event_for_a_deleted_source_does_nothing(pair: tuple[ObjectStore, ObjectStore]) -> None:
    src, dst = pair
    outcome = sync_created(src, "gone", dst, "gone", target_name="dst")
    assert (outcome.action, outcome.reason) == ("skipped", "source no longer exists")
    assert not dst.exists("gone")
