"""Convergence rules on in-memory stores (the emulator end-to-end tests live in tests/e2e)."""

from __future__ import annotations

import pytest

from core.handlers.replication import SOURCE_ETAG, SOURCE_SEQUENCER, Hint, converge, sync_created, sync_deleted
from core.storage import ObjectStore, open_store
from tests.handlers.interleave import HookedStore


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


def _counting(store: ObjectStore, calls: list[str]) -> HookedStore:
    def hook(op: str, key: str, phase: str, error: BaseException | None) -> None:
        if phase == "before":
            calls.append(op)

    return HookedStore(store, hook)


def test_a_stale_created_event_is_dropped_on_its_sequencer_without_reading_the_source(
    pair: tuple[ObjectStore, ObjectStore],
) -> None:
    src, dst = pair
    src.put("k", b"v2")
    newer = converge(src, "k", dst, "k", target_name="dst", hint=Hint("aws", "created", "00000000005F"))
    assert newer.action == "copied"
    assert dst.head("k").metadata[SOURCE_SEQUENCER] == "aws:00000000005F"
    calls: list[str] = []
    # an older sequencer (AWS: compare left-padded; a shorter one may be older)
    stale = converge(_counting(src, calls), "k", dst, "k", target_name="dst", hint=Hint("aws", "created", "4A"))  # type: ignore[arg-type]
    assert stale.action == "skipped" and stale.reason.startswith("stale event")
    assert calls == []
    # a later one is handled; a delete event is never dropped on its sequencer
    assert converge(src, "k", dst, "k", target_name="dst", hint=Hint("aws", "created", "0600")).action == "skipped"
    src.delete("k")
    gone = converge(src, "k", dst, "k", target_name="dst", hint=Hint("aws", "deleted", "01"))
    assert gone.action == "deleted"


def test_a_stale_gcs_generation_is_dropped(pair: tuple[ObjectStore, ObjectStore]) -> None:
    src, dst = pair
    src.put("k", b"v")
    assert converge(src, "k", dst, "k", target_name="dst").action == "copied"
    held = dst.head("k").metadata["circle_source_version"]
    older = str(int(held) - 1)
    outcome = converge(src, "k", dst, "k", target_name="dst", hint=Hint("gcp", "created", None, older))
    assert outcome.reason.startswith("stale event: generation")
    other_cloud = converge(src, "k", dst, "k", target_name="dst", hint=Hint("aws", "created", None, older))
    assert other_cloud.reason == "replica is up to date"


def test_sequencers_from_another_cloud_are_not_compared(pair: tuple[ObjectStore, ObjectStore]) -> None:
    src, dst = pair
    src.put("k", b"v")
    converge(src, "k", dst, "k", target_name="dst", hint=Hint("azure", "created", "0000000000000442"))
    outcome = converge(src, "k", dst, "k", target_name="dst", hint=Hint("aws", "created", "01"))
    assert outcome.reason == "replica is up to date"
