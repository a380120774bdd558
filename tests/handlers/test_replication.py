"""Convergence rules on in-memory stores (the emulator end-to-end tests live in tests/e2e)."""

from __future__ import annotations

import pytest

from core.handlers.replication import (
    SOURCE_ETAG,
    SOURCE_SEQUENCER,
    Hint,
    converge,
    source_origin,
    sync_created,
    sync_deleted,
)
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
    assert dst.head("k").metadata[SOURCE_SEQUENCER] == f"{source_origin(src, 'k')}/aws:00000000005F"
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


def test_two_sources_feeding_one_target_key_never_drop_each_others_events_as_stale(
    request: pytest.FixtureRequest,
) -> None:
    """Sequencers (and GCS generations) order changes of one source object only: a replica stamped by
    bucket A's event says nothing about bucket B's (nor about another key of A mapped to the same target
    key). Before the stamp named its origin, B's event was dropped as "stale" and the replica kept A's."""
    name = request.node.name
    a, b, dst = (open_store(f"memory://{side}-{name}") for side in ("a", "b", "dst"))
    a.put("k", b"from a")
    assert converge(a, "k", dst, "k", target_name="dst", hint=Hint("aws", "created", "FF00")).action == "copied"
    b.put("k", b"from b")
    outcome = converge(b, "k", dst, "k", target_name="dst", hint=Hint("aws", "created", "01"))
    assert (outcome.action, dst.get("k").read()) == ("copied", b"from b")
    a.put("other", b"a's other key")  # another key of the same source, into the same target key
    other = converge(a, "other", dst, "k", target_name="dst", hint=Hint("aws", "created", "02"))
    assert (other.action, dst.get("k").read()) == ("copied", b"a's other key")
    # the same source object's own older event is still dropped without reading the source
    again = converge(a, "other", dst, "k", target_name="dst", hint=Hint("aws", "created", "01"))
    assert again.reason.startswith("stale event: sequencer 01")

    gen_a, gen_b = open_store(f"memory://gen-a-{name}"), open_store(f"memory://gen-b-{name}")
    for _ in range(3):  # memory generations grow per bucket: A's is ahead of B's
        gen_a.put("g", b"a")
    converge(gen_a, "g", dst, "g", target_name="dst", hint=Hint("gcp", "created", None, gen_a.head("g").version))
    gen_b.put("g", b"b")
    held, newer = dst.head("g").metadata["circle_source_version"], gen_b.head("g").version
    assert newer is not None and int(newer) < int(held)  # would read as an older generation of A's object
    by_b = converge(gen_b, "g", dst, "g", target_name="dst", hint=Hint("gcp", "created", None, newer))
    assert (by_b.action, dst.get("g").read()) == ("copied", b"b")


def test_a_replica_stamped_before_origins_were_recorded_is_not_compared(pair: tuple[ObjectStore, ObjectStore]) -> None:
    src, dst = pair
    src.put("k", b"v")
    dst.put("k", b"v", metadata={SOURCE_ETAG: "old", "circle_source_version": "", SOURCE_SEQUENCER: "aws:FFFF"})
    outcome = converge(src, "k", dst, "k", target_name="dst", hint=Hint("aws", "created", "01"))
    assert outcome.action == "copied"  # the old stamp names no origin: handled, not dropped
