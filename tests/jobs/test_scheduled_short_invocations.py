"""Reconciliation through the GCP and Azure scheduled entry points as several short invocations, like
the Lambda one in test_scheduled_entry_points.py: each invocation's deadline allows three keys, the pass
continues from its checkpoint at the next invocation (GCP: the continuation published to the jobs topic,
pushed back by the Pub/Sub stand-in; Azure: the next timer tick, and a range message the queue
redelivers), and the stores converge with exact counts."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from tests.e2e import replication_rig
from tests.e2e.replication_rig import ThreeClouds
from tests.jobs.support import KeyBudget
from tests.jobs.test_gcp_pubsub_fanout import PubSubStandIn, pubsub  # noqa: F401 - fixture
from tests.jobs.test_scheduled_entry_points import _converged, _pubsub_event, _seed, gcp  # noqa: F401 - fixture

pytestmark = [pytest.mark.xdist_group("jobs-emulators")]


def _event(message: dict[str, Any]) -> CloudEvent:
    attributes = {
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/circle-test/topics/circle-jobs",
    }
    return CloudEvent(attributes, {"message": message, "subscription": "projects/circle-test/subscriptions/s"})


def test_gcp_reconciles_in_short_invocations_through_its_continuations(
    gcp: ThreeClouds,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    pubsub: PubSubStandIn,  # noqa: F811
) -> None:
    from gcp_functions import main
    from gcp_functions.main import scheduled

    expected = _seed(gcp)  # 7 keys under the rule's prefix, 2 targets
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
    monkeypatch.setenv("CIRCLE_JOBS_TOPIC", "projects/circle-test/topics/circle-jobs")
    monkeypatch.setattr(main, "deadline_from", lambda started: KeyBudget(3))  # three keys per invocation
    scheduled(_pubsub_event({"job": "reconcile"}))  # Cloud Scheduler's message
    invocations = 1
    while len(pubsub.published) >= invocations:  # each unfinished invocation published its continuation
        scheduled(_event(pubsub.published[invocations - 1]))
        invocations += 1
        assert invocations <= 10
    assert invocations == 3 and len(pubsub.published) == 2  # 3 + 3 + 1 keys
    continuations = [json.loads(base64.b64decode(m["data"])) for m in pubsub.published]
    assert all(c["job"] == "reconcile" and c["range"]["name"] == "all" for c in continuations)
    _converged(gcp, expected)
    [checkpoint] = [o.key for o in gcp.gs.list(".circle/checkpoints/")]
    with gcp.gs.get(checkpoint) as reader:
        saved = json.loads(reader.read())
    assert saved["complete"] and saved["invocations"] == 3
    assert saved["counts"] == {"scanned": 7, "copied": 14, "deleted": 0, "skipped": 0, "failed": 0}


@pytest.mark.skipif(sys.version_info < (3, 13), reason="azure-functions-runtime needs 3.13")
def test_azure_timer_reconciles_in_short_invocations(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.functions as func

    from azure_functions import app as azure_app
    from azure_functions import scheduled as azure_scheduled
    from tests.e2e.test_azure_functions_indexer import _indexed

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="az")
    expected = _seed(clouds)
    monkeypatch.delenv("CIRCLE_FANOUT_RANGES", raising=False)
    monkeypatch.setattr(azure_scheduled, "_deadline", lambda: KeyBudget(3))
    azure_app.reset_runtime()
    timer = _indexed()["reconcile_timer"][1].func
    reports: list[dict[str, Any]] = []
    from core.handlers import jobs

    real = jobs.run_job  # run() imports it at each call: wrap it to keep each tick's report

    def recording(*args: Any, **kwargs: Any) -> dict[str, Any]:
        report = real(*args, **kwargs)
        reports.append(report)
        return report

    monkeypatch.setattr(jobs, "run_job", recording)
    try:
        for _ in range(10):
            timer(func.TimerRequest(past_due=False))  # one tick; an unfinished pass waits for the next
            if reports[-1]["complete"]:
                break
    finally:
        azure_app.reset_runtime()
    assert len(reports) == 3
    assert [r["scanned"] for r in reports] == [3, 3, 1]
    assert sum(r["copied"] for r in reports) == 14 and reports[-1]["rules"][0]["pass_counts"]["copied"] == 14
    _converged(clouds, expected)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="azure-functions-runtime needs 3.13")
def test_azure_range_message_is_redelivered_until_its_pass_completes(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.functions as func

    from azure_functions import app as azure_app
    from azure_functions import scheduled as azure_scheduled
    from tests.e2e.test_azure_functions_indexer import _indexed

    clouds = replication_rig.build(emulators, tmp_path, monkeypatch, source="az")
    expected = _seed(clouds, 5)
    monkeypatch.setattr(azure_scheduled, "_deadline", lambda: KeyBudget(2))
    azure_app.reset_runtime()
    queue_fn = _indexed()["jobs_queue"][1].func
    body = json.dumps({"job": "reconcile", "range": {"after": None, "until": None, "name": "r000"}}).encode()
    deliveries = 0
    try:
        while True:
            deliveries += 1
            assert deliveries <= 10
            try:
                queue_fn(func.QueueMessage(id="m1", body=body))
            except RuntimeError as exc:  # unfinished: the host makes the message visible again
                assert "not finished" in str(exc)
                continue
            break
    finally:
        azure_app.reset_runtime()
    assert deliveries == 3  # 2 + 2 + 1 keys
    _converged(clouds, expected)
