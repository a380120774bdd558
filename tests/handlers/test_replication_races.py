"""Findings 1-3 of issue 12, reproduced with deterministic interleavings (store hooks, no sleeps) on
memory://, file://, moto (versioned buckets), Azurite and fake-gcs-server. Each failed before the
convergence rewrite."""

from __future__ import annotations

from typing import Any

import pytest

from core.handlers.replication import SOURCE_ETAG, sync_created, sync_deleted
from core.storage import ObjectStore
from tests import rigs
from tests.handlers.interleave import HookedStore, once

KINDS = ["memory", "file", "s3", "azure", "gcs"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pair(kind: str, rig_context: rigs.RigContext) -> Any:
    src, dst = rigs.make(kind, rig_context), rigs.make(kind, rig_context)
    yield src, dst
    src.close()
    dst.close()


def _content(store: ObjectStore, key: str) -> bytes | None:
    try:
        with store.get(key) as reader:
            return reader.read()
    except FileNotFoundError:
        return None


def test_a_delete_event_never_removes_the_replica_of_a_re_created_source(pair: Any) -> None:
    """Finding 1: the delete handler saw the source gone; before it acts, the source is re-created and
    that event's copy lands. The fresh replica must survive (and equal the source)."""
    src, dst = pair
    src.put("k", b"v1")
    assert sync_created(src, "k", dst, "k", target_name="dst").action == "copied"
    src.delete("k")

    def recreate_and_replicate() -> None:
        src.put("k", b"v2 re-created")
        assert sync_created(src, "k", dst, "k", target_name="dst").action == "copied"

    source_seen_absent = once(
        lambda op, key, phase, error: op == "head" and phase == "after" and isinstance(error, FileNotFoundError),
        recreate_and_replicate,
    )
    outcome = sync_deleted(HookedStore(src, source_seen_absent), "k", dst, "k", target_name="dst")  # type: ignore[arg-type]
    assert outcome.action != "deleted"
    assert _content(dst, "k") == b"v2 re-created" == _content(src, "k")
    assert dst.head("k").metadata[SOURCE_ETAG] == src.head("k").etag


def test_a_copy_in_flight_never_resurrects_a_deleted_object(pair: Any) -> None:
    """Finding 2: while the copy streams, the source is deleted and the delete event is handled
    (it finds no replica yet). When the copy commits, the replica of a deleted object must not stay."""
    src, dst = pair
    src.put("k", b"payload " * 1000)
    deletes = []

    def delete_and_replicate() -> None:
        src.delete("k")
        deletes.append(sync_deleted(src, "k", dst, "k", target_name="dst"))

    copy_commits = once(lambda op, key, phase, error: op == "put" and phase == "before", delete_and_replicate)
    outcome = sync_created(src, "k", HookedStore(dst, copy_commits), "k", target_name="dst")  # type: ignore[arg-type]
    assert [d.reason for d in deletes] == ["replica already absent"]  # the race really happened
    assert outcome.action != "failed"
    assert _content(src, "k") is None
    assert _content(dst, "k") is None, "the replica of a deleted object was resurrected"


def _roll_back(kind: str, ctx: rigs.RigContext, src: ObjectStore, key: str, previous: bytes) -> None:
    """Delete the latest version so the previous one is current again. On moto: a real DeleteObject
    with VersionId; elsewhere (no version API in the store interface) the previous bytes become current."""
    if kind != "s3":
        src.put(key, previous)
        return
    from tests.rigs.s3 import admin_client

    bucket = src.url.split("://", 1)[1].split("/", 1)[0]
    admin = admin_client(ctx.emulators().s3_endpoint)
    latest = src.head(key).version
    admin.delete_object(Bucket=bucket, Key=key, VersionId=latest)


def test_a_versioned_rollback_makes_the_replica_hold_the_now_current_version(
    pair: Any, kind: str, rig_context: rigs.RigContext
) -> None:
    """Finding 3: deleting the latest version by VersionId makes the previous one current; S3 sends only
    ObjectRemoved:Delete. The replica must then hold the previous version, not the deleted one."""
    src, dst = pair
    src.put("k", b"version one")
    src.put("k", b"version two")
    assert sync_created(src, "k", dst, "k", target_name="dst").action == "copied"
    assert _content(dst, "k") == b"version two"
    _roll_back(kind, rig_context, src, "k", b"version one")
    assert _content(src, "k") == b"version one"
    outcome = sync_deleted(src, "k", dst, "k", target_name="dst")
    assert outcome.action == "copied"
    assert _content(dst, "k") == b"version one"
    current = src.head("k")
    replica = dst.head("k")
    assert (replica.metadata[SOURCE_ETAG], replica.metadata.get("circle_source_version", "")) == (
        current.etag,
        current.version or "",
    )


def test_a_copy_whose_source_changed_while_streaming_is_redone(pair: Any) -> None:
    """The source is overwritten while the old state streams, and nobody else handles that change yet:
    the handler's own confirmation round sees the newer state and copies it."""
    src, dst = pair
    src.put("k", b"old " * 500)
    overwrite = once(lambda op, key, phase, error: op == "put" and phase == "before", lambda: src.put("k", b"new"))
    outcome = sync_created(src, "k", HookedStore(dst, overwrite), "k", target_name="dst")  # type: ignore[arg-type]
    assert outcome.action == "copied"
    assert _content(dst, "k") == b"new"
    assert dst.head("k").metadata[SOURCE_ETAG] == src.head("k").etag
