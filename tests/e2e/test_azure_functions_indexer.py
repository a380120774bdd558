"""Azure end to end: the Functions host's own Python indexer (azure-functions-runtime, Python 3.13)
loads the app from the bundle-root ``function_app.py`` and validates its bindings; the indexed
function is then invoked with ``azure.functions.EventGridEvent`` objects built from the real samples,
and the blob is replicated from Azurite to moto and fake-gcs-server."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from core.handlers.storage_events import ReplicationFailed, reset_default_handler
from scripts.emulators import AZURITE_ACCOUNT
from tests.azure_worker import indexed
from tests.e2e import replication_rig
from tests.e2e.replication_rig import ThreeClouds

pytestmark = [
    pytest.mark.skipif(sys.version_info < (3, 13), reason="azure-functions-runtime needs 3.13"),
    pytest.mark.usefixtures("azure_logging"),
]
DATA = Path(__file__).resolve().parent / "data"

_indexed = indexed  # the app indexed once per process, as the worker does (tests/azure_worker.py)


def test_indexer_loads_the_app_with_its_bindings() -> None:
    indexed = _indexed()
    assert "storage_event" in indexed
    function, info = indexed["storage_event"]
    bindings = {b.name: b for b in function.get_bindings()}
    assert bindings["event"].type == "eventGridTrigger"
    assert info.input_types["event"].binding_name == "eventGridTrigger"
    assert not info.has_return


def in_azurite(raw: dict[str, Any]) -> dict[str, Any]:
    """The sample as the Azurite account would send it: events match a store by identity (the account
    included), and the Microsoft samples name ``my-storage-account``."""
    origin = "topic" if "topic" in raw else "source"
    raw[origin] = raw[origin].replace("storageAccounts/my-storage-account", f"storageAccounts/{AZURITE_ACCOUNT}")
    return raw


@pytest.fixture
def clouds(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ThreeClouds:
    return replication_rig.build(emulators, tmp_path, monkeypatch, source="az")


def _event(clouds: ThreeClouds, sample: str, key: str) -> Any:
    import azure.functions as func

    raw = in_azurite(copy.deepcopy(json.loads((DATA / sample).read_text())[0]))
    raw["subject"] = f"/blobServices/default/containers/{clouds.bucket}/blobs/{key}"
    raw["data"]["url"] = f"{clouds.emulators.azure_endpoint}/devstoreaccount1/{clouds.bucket}/{key}"
    if raw["eventType"].endswith("BlobCreated"):
        info = clouds.az.head(key)
        raw["data"].update(eTag=f'"{info.etag}"', contentLength=info.size, contentType=info.content_type)
    return func.EventGridEvent(
        id=raw["id"],
        data=raw["data"],
        topic=raw["topic"],
        subject=raw["subject"],
        event_type=raw["eventType"],
        event_time=dt.datetime.fromisoformat(raw["eventTime"][:26] + "+00:00"),
        data_version=raw["dataVersion"],
    )


def test_indexed_function_replicates_blob_events(clouds: ThreeClouds) -> None:
    _, info = _indexed()["storage_event"]
    clouds.az.put("data/report.csv", b"a,b\n1,2\n", content_type="text/csv", metadata={"source": "azure"})
    info.func(_event(clouds, "msdocs_eventgridschema_BlobCreated.json", "data/report.csv"))
    info.func(_event(clouds, "msdocs_eventgridschema_BlobCreated.json", "data/report.csv"))  # redelivery
    for target in clouds.targets().values():
        with target.get("replica/data/report.csv") as reader:
            assert reader.read() == b"a,b\n1,2\n"
            assert reader.info.content_type == "text/csv"
            assert reader.info.metadata["source"] == "azure"

    clouds.az.delete("data/report.csv")
    info.func(_event(clouds, "msdocs_eventgridschema_BlobDeleted.json", "data/report.csv"))
    for target in clouds.targets().values():
        assert not target.exists("replica/data/report.csv")


def test_a_failed_event_raises_so_event_grid_retries(clouds: ThreeClouds, monkeypatch: pytest.MonkeyPatch) -> None:
    # The GCS target is unreachable (a closed port) and gives up after two quick attempts.
    text = clouds.config_path.read_text().replace(clouds.emulators.gcs_endpoint, "http://127.0.0.1:9")
    text = text.replace("[stores.gs]", "[stores.gs]\nretry = { max_attempts = 2, initial_backoff = 0.01 }")
    clouds.config_path.write_text(text)
    reset_default_handler()
    _, info = _indexed()["storage_event"]
    clouds.az.put("data/x.bin", b"x")
    with pytest.raises(ReplicationFailed, match=r"gs/replica/data/x\.bin"):
        info.func(_event(clouds, "msdocs_eventgridschema_BlobCreated.json", "data/x.bin"))
    assert clouds.s3.get("replica/data/x.bin").read() == b"x"  # the healthy target still converged


def _webhook(method: str, body: bytes, headers: dict[str, str]) -> Any:
    import azure.functions as func

    _, info = _indexed()["storage_webhook"]
    return info.func(
        func.HttpRequest(method=method, url="https://circle.example/api/events", headers=headers, body=body)
    )


def test_webhook_answers_the_event_grid_validation_handshake(clouds: ThreeClouds) -> None:
    body = (DATA / "msdocs_SubscriptionValidationEvent.json").read_bytes()
    response = _webhook("POST", body, {"aeg-event-type": "SubscriptionValidation"})
    assert response.status_code == 200
    assert json.loads(response.get_body()) == json.loads(
        (DATA / "msdocs_SubscriptionValidationResponse.json").read_text()
    )
    options = _webhook("OPTIONS", b"", {"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert (options.status_code, options.headers["WebHook-Allowed-Origin"]) == (200, "eventgrid.azure.net")


def test_webhook_replicates_cloudevents_schema_deliveries(clouds: ThreeClouds) -> None:
    clouds.az.put("data/hook.txt", b"via webhook")
    raw = [in_azurite(e) for e in json.loads((DATA / "msdocs_cloudevents_BlobCreated.json").read_text())]
    raw[0]["subject"] = f"/blobServices/default/containers/{clouds.bucket}/blobs/data/hook.txt"
    response = _webhook(
        "POST",
        json.dumps(raw).encode(),
        {"aeg-event-type": "Notification", "Content-Type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 200, response.get_body()
    for target in clouds.targets().values():
        assert target.get("replica/data/hook.txt").read() == b"via webhook"
    bad = _webhook("POST", b"{not json", {"aeg-event-type": "Notification"})
    assert bad.status_code == 400  # unreadable: Event Grid dead-letters instead of retrying


def test_an_unreadable_event_grid_event_is_acknowledged_with_one_error_line(
    clouds: ThreeClouds, caplog: pytest.LogCaptureFixture
) -> None:
    """Raising would only buy 24 hours of Event Grid redeliveries of an event that can never parse."""
    import azure.functions as func

    _, info = _indexed()["storage_event"]
    event = func.EventGridEvent(
        id="poison-1",
        data={"api": "PutBlob"},  # no url, and a subject that names no blob
        topic="/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z",
        subject="/blobServices/default/containers/",
        event_type="Microsoft.Storage.BlobCreated",
        event_time=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
        data_version="",
    )
    assert info.func(event) is None
    errors = [r for r in caplog.records if r.name == "circle.azure" and r.levelno >= logging.ERROR]
    assert [(r.getMessage(), r.delivery) for r in errors] == [  # type: ignore[attr-defined]
        ("unreadable delivery acknowledged, not kept", "Event Grid event poison-1")
    ]


def test_webhook_answers_500_only_for_retry(clouds: ThreeClouds, caplog: pytest.LogCaptureFixture) -> None:
    text = clouds.config_path.read_text().replace(clouds.emulators.gcs_endpoint, "http://127.0.0.1:9")
    clouds.config_path.write_text(text.replace("[stores.gs]", "[stores.gs]\nretry = { max_attempts = 1 }"))
    clouds.az.put("data/hook-retry.txt", b"r")
    raw = [in_azurite(e) for e in json.loads((DATA / "msdocs_cloudevents_BlobCreated.json").read_text())]
    raw[0]["subject"] = f"/blobServices/default/containers/{clouds.bucket}/blobs/data/hook-retry.txt"
    headers = {"aeg-event-type": "Notification", "Content-Type": "application/cloudevents-batch+json"}
    response = _webhook("POST", json.dumps(raw).encode(), headers)
    assert response.status_code == 500  # a retryable failure: Event Grid redelivers
    assert json.loads(response.get_body())["status"] == "retry"
    [error] = [r for r in caplog.records if r.name == "circle.azure" and r.levelno >= logging.ERROR]
    assert (error.getMessage(), error.status) == ("webhook delivery answered an error", 500)  # type: ignore[attr-defined]
    assert error.reason.startswith("gs/replica/data/hook-retry.txt: ")  # type: ignore[attr-defined]
    assert clouds.s3.get("replica/data/hook-retry.txt").read() == b"r"


def _missing_s3_target(clouds: ThreeClouds) -> str:
    """Point the S3 target at a bucket that does not exist (a configuration failure, never healed by
    redelivery); the runtime is rebuilt from the file at the next invocation."""
    from azure_functions import app

    missing = f"missing-{clouds.bucket[4:]}"
    text = clouds.config_path.read_text()
    clouds.config_path.write_text(text.replace(f'url = "s3://{clouds.bucket}"', f'url = "s3://{missing}"'))
    app.reset_runtime()
    return missing


def test_without_a_sink_a_configuration_failure_is_acknowledged_not_redelivered_for_24_hours(
    clouds: ThreeClouds, caplog: pytest.LogCaptureFixture
) -> None:
    """Event Grid trigger: raising would make Event Grid redeliver for 24 h an event that cannot succeed.
    Webhook: 400, which Event Grid dead-letters to the subscription's destination instead of retrying."""
    missing = _missing_s3_target(clouds)
    _, info = _indexed()["storage_event"]
    clouds.az.put("data/cfg.txt", b"c")
    assert info.func(_event(clouds, "msdocs_eventgridschema_BlobCreated.json", "data/cfg.txt")) is None
    assert clouds.gs.get("replica/data/cfg.txt").read() == b"c"  # the healthy target converged
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    [ack] = [r for r in errors if r.name == "circle.azure"]
    assert ack.getMessage().startswith("delivery failed for good, acknowledged, not kept")
    assert f"target bucket {missing} does not exist" in ack.reason  # type: ignore[attr-defined]
    [line] = [r for r in errors if r.name == "circle.replication"]
    assert line.record["failure"] == "configuration"  # type: ignore[attr-defined]

    raw = [in_azurite(e) for e in json.loads((DATA / "msdocs_cloudevents_BlobCreated.json").read_text())]
    raw[0]["subject"] = f"/blobServices/default/containers/{clouds.bucket}/blobs/data/cfg.txt"
    headers = {"aeg-event-type": "Notification", "Content-Type": "application/cloudevents-batch+json"}
    response = _webhook("POST", json.dumps(raw).encode(), headers)
    assert response.status_code == 400, response.get_body()
    body = json.loads(response.get_body())
    assert body["status"] == "dead_letter" and body["events"][0]["failure"] == "configuration"
