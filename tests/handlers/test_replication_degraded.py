"""Targets without create-only or compare-and-swap writes (the digitalocean, oci, ibm, alibaba and
tencent S3 profiles, on moto) are still replicated to, best-effort: head-compare-write with the stamp,
and the confirmation round repairs a lost race. The outcome says ``"consistency": "best-effort"``."""

from __future__ import annotations

from typing import Any

import pytest

from core.handlers.replication import SOURCE_ETAG, consistency_of, converge, sync_created, sync_deleted
from core.storage import ObjectStore, open_store
from tests import rigs
from tests.handlers.interleave import HookedStore, once

DEGRADED = ["digitalocean", "oci", "ibm", "alibaba", "tencent"]


@pytest.fixture(params=DEGRADED)
def target(request: pytest.FixtureRequest, rig_context: rigs.RigContext) -> Any:
    store = rigs.make(f"s3:{request.param}", rig_context)
    yield store
    store.close()


@pytest.fixture
def source(rig_context: rigs.RigContext) -> ObjectStore:
    return open_store(f"memory://{rig_context.unique('degraded-src')}")


def _content(store: Any, key: str) -> bytes | None:
    try:
        with store.get(key) as reader:
            return bytes(reader.read())
    except FileNotFoundError:
        return None


def test_the_profiles_lack_conditional_writes_and_say_best_effort(target: ObjectStore) -> None:
    caps = target.capabilities
    assert not (caps.write_with_if_match and caps.write_with_if_none_match)
    assert consistency_of(target) == "best-effort"


def test_copy_overwrite_and_delete_work_best_effort(source: ObjectStore, target: ObjectStore) -> None:
    source.put("k", b"one", content_type="text/plain")
    first = sync_created(source, "k", target, "m/k", target_name="t")
    assert (first.action, first.consistency, first.failure) == ("copied", "best-effort", None)
    assert first.as_dict()["consistency"] == "best-effort"
    assert _content(target, "m/k") == b"one"
    assert sync_created(source, "k", target, "m/k", target_name="t").action == "skipped"
    source.put("k", b"two")
    assert sync_created(source, "k", target, "m/k", target_name="t").action == "copied"
    assert _content(target, "m/k") == b"two"
    assert target.head("m/k").metadata[SOURCE_ETAG] == source.head("k").etag
    source.delete("k")
    gone = sync_deleted(source, "k", target, "m/k", target_name="t")
    assert (gone.action, gone.consistency) == ("deleted", "best-effort")
    assert _content(target, "m/k") is None


def test_a_lost_race_is_repaired_by_the_confirmation_round(source: ObjectStore, target: ObjectStore) -> None:
    """Handler A read the old source; before its (unconditional) write lands, the source changes and
    handler B replicates the new state. A's write clobbers B's; A's own confirmation repairs it."""
    source.put("k", b"old state")
    results = []

    def newer_change_replicated_first() -> None:
        source.put("k", b"new state")
        results.append(sync_created(source, "k", target, "k", target_name="t"))

    before_a_writes = once(
        lambda op, key, phase, error: op == "put" and phase == "before", newer_change_replicated_first
    )
    outcome = converge(source, "k", HookedStore(target, before_a_writes), "k", target_name="t")  # type: ignore[arg-type]
    assert [r.action for r in results] == ["copied"]
    assert (outcome.action, outcome.consistency) == ("copied", "best-effort")
    assert _content(target, "k") == b"new state"
    assert target.head("k").metadata[SOURCE_ETAG] == source.head("k").etag


def test_a_delete_without_conditional_delete_re_checks_and_recopies_a_re_created_source(
    source: ObjectStore, target: ObjectStore
) -> None:
    source.put("k", b"v1")
    sync_created(source, "k", target, "k", target_name="t")
    source.delete("k")

    def recreate() -> None:
        source.put("k", b"v2")
        sync_created(source, "k", target, "k", target_name="t")

    # the re-create lands right after the delete handler saw the source absent
    seen_absent = once(
        lambda op, key, phase, error: op == "head" and phase == "after" and isinstance(error, FileNotFoundError),
        recreate,
    )
    outcome = sync_deleted(HookedStore(source, seen_absent), "k", target, "k", target_name="t")  # type: ignore[arg-type]
    assert outcome.failure is None
    assert _content(target, "k") == b"v2" == _content(source, "k")


def test_aws_profile_is_strong(rig_context: rigs.RigContext) -> None:
    store = rigs.make("s3", rig_context)
    assert consistency_of(store) == "strong"
    assert consistency_of(store, propagate_deletes=False) == "strong"


def test_a_degraded_target_is_reported_once(rig_context: rigs.RigContext, caplog: pytest.LogCaptureFixture) -> None:
    """Loading the configuration and opening the store (twice) give one WARNING naming the target."""
    import logging

    from core.config import parse_config
    from core.runtime import Circle
    from core.storage.providers.s3_profiles import get_profile
    from tests.rigs.s3 import CREDENTIALS, admin_client

    endpoint = rig_context.emulators().s3_endpoint
    bucket = rig_context.unique()
    admin_client(endpoint).create_bucket(Bucket=bucket)
    options = {"endpoint_url": endpoint, "profile": "ibm", "region": get_profile("ibm").example_regions[0]}
    data = {
        "stores": {
            "src": {"url": "memory://degraded-report"},
            "cos": {"url": f"s3://{bucket}", **options, **CREDENTIALS},
        },
        "replication": [{"source": "src", "targets": ["cos"], "propagate_deletes": True}],
    }
    with caplog.at_level(logging.WARNING):
        circle = Circle.from_config(parse_config(data))
        circle.store("cos")
        circle.store("cos")
    reports = [r for r in caplog.records if "best-effort" in r.getMessage()]
    assert len(reports) == 1 and "cos" in reports[0].degraded_targets  # type: ignore[attr-defined]
