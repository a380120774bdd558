"""Azure queue path end to end: an Event Grid-schema event is put on a real Azurite queue, received with
azure-storage-queue as the Functions host would (base64 text, the host's default message encoding),
turned into ``azure.functions.QueueMessage`` by the worker's own converter, and handed to the
``storage_queue`` function the worker's indexer loaded from function_app.py. Blob source in Azurite,
targets in moto and fake-gcs-server. The host's part (delete on success, make visible again on failure,
poison after maxDequeueCount) is done here the way the host does it, with the SDK."""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.emulators import AZURITE_ACCOUNT, AZURITE_KEY, _spawn, _wait_http, azurite_binary, free_port
from tests.e2e import replication_rig
from tests.e2e.replication_rig import ThreeClouds
from tests.e2e.test_azure_functions_indexer import _indexed, _missing_s3_target, in_azurite

pytestmark = [
    pytest.mark.skipif(sys.version_info < (3, 13), reason="azure-functions-runtime needs 3.13"),
    pytest.mark.usefixtures("azure_logging"),
]
DATA = Path(__file__).resolve().parent / "data"
QUIET = ("--skipApiVersionCheck", "--loose", "--silent")


@pytest.fixture(scope="module")
def queue_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's queue service (same npm package as the blob service) on a free loopback port."""
    port, tmp = free_port(), tmp_path_factory.mktemp("azurite-queue")
    binary = azurite_binary().with_name("azurite-queue")
    log = tmp / "azurite-queue.log"
    proc = _spawn(
        [str(binary), "--queueHost", "127.0.0.1", "--queuePort", str(port), "--location", str(tmp), *QUIET],
        log,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{endpoint}/{AZURITE_ACCOUNT}?comp=list", proc, log)
        yield endpoint
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@pytest.fixture
def clouds(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ThreeClouds:
    return replication_rig.build(emulators, tmp_path, monkeypatch, source="az")


@pytest.fixture
def queue(queue_endpoint: str) -> Any:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

    conn = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"QueueEndpoint={queue_endpoint}/{AZURITE_ACCOUNT};"
    )
    client = QueueClient.from_connection_string(
        conn,
        f"circle-storage-events-{uuid.uuid4().hex[:8]}",
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )
    client.create_queue()
    return client


def _blob_event(clouds: ThreeClouds, key: str) -> dict[str, Any]:
    """The real Event Grid-schema sample, naming our blob (what Event Grid writes to the queue)."""
    raw = in_azurite(copy.deepcopy(json.loads((DATA / "msdocs_eventgridschema_BlobCreated.json").read_text())[0]))
    raw["id"] = str(uuid.uuid4())
    raw["subject"] = f"/blobServices/default/containers/{clouds.bucket}/blobs/{key}"
    raw["data"]["url"] = f"{clouds.emulators.azure_endpoint}/devstoreaccount1/{clouds.bucket}/{key}"
    info = clouds.az.head(key)
    raw["data"].update(eTag=f'"{info.etag}"', contentLength=info.size, contentType=info.content_type)
    return raw


def _receive(queue: Any) -> tuple[Any, Any]:
    """One message as the host receives it, and the QueueMessage the worker's converter makes of it."""
    from azure.functions import meta
    from azure.functions.queue import QueueMessageInConverter

    [message] = list(queue.receive_messages(max_messages=1, visibility_timeout=300))
    metadata = {
        "Id": meta.Datum(message.id, "string"),
        "DequeueCount": meta.Datum(message.dequeue_count, "int"),
        "PopReceipt": meta.Datum(message.pop_receipt, "string"),
    }
    return message, QueueMessageInConverter.decode(meta.Datum(message.content, "string"), trigger_metadata=metadata)


def test_indexer_binds_storage_queue_to_the_events_queue() -> None:
    function, info = _indexed()["storage_queue"]
    [binding] = [b for b in function.get_bindings() if b.name == "msg"]
    assert binding.type == "queueTrigger"
    raw = binding.get_dict_repr()
    assert (raw["queueName"], raw["connection"]) == ("%CIRCLE_EVENTS_QUEUE%", "AzureWebJobsStorage")
    assert info.input_types["msg"].binding_name == "queueTrigger"


def test_a_queued_blob_event_replicates_and_logs_at_info(
    clouds: ThreeClouds, queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clouds.az.put("data/queued.csv", b"q,1\n", content_type="text/csv")
    queue.send_message(json.dumps(_blob_event(clouds, "data/queued.csv")))
    message, msg = _receive(queue)
    assert msg.dequeue_count == 1
    _, info = _indexed()["storage_queue"]
    info.func(msg)
    queue.delete_message(message)  # the host acknowledges a function that returned
    for target in clouds.targets().values():
        assert target.get("replica/data/queued.csv").read() == b"q,1\n"
    # Nothing set caplog's level: what is captured is what the adapter's own configuration lets through.
    circle = [r for r in caplog.records if r.name.startswith("circle.") and r.levelno == logging.INFO]
    cold = next(r for r in circle if r.name == "circle.azure")
    assert cold.getMessage() == "cold start: runtime ready" and cold.init_ms > 0  # type: ignore[attr-defined]
    [outcome] = [r for r in circle if r.name == "circle.replication" and hasattr(r, "outcomes")]
    assert "copied" in outcome.summary  # type: ignore[attr-defined]


def test_a_failed_queued_event_raises_and_comes_back_with_its_dequeue_count(
    clouds: ThreeClouds, queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    text = clouds.config_path.read_text().replace(clouds.emulators.gcs_endpoint, "http://127.0.0.1:9")
    clouds.config_path.write_text(text.replace("[stores.gs]", "[stores.gs]\nretry = { max_attempts = 1 }"))
    clouds.az.put("data/retry.bin", b"r")
    queue.send_message(json.dumps(_blob_event(clouds, "data/retry.bin")))
    message, msg = _receive(queue)
    _, info = _indexed()["storage_queue"]
    from azure_functions.app import RetryDelivery, host_text

    with pytest.raises(RetryDelivery, match=r"gs/replica/data/retry\.bin"):
        info.func(msg)
    [error] = [r for r in caplog.records if r.name == "circle.azure" and r.levelno == logging.ERROR]
    assert error.getMessage() == "delivery not done"
    assert error.delivery == f"queue message {message.id} (dequeue 1)"  # type: ignore[attr-defined]
    assert "gs/replica/data/retry.bin" in host_text(error)  # the reason is in the text the host forwards
    queue.update_message(message, pop_receipt=message.pop_receipt, visibility_timeout=0)  # the host's retry
    again, msg2 = _receive(queue)
    assert (again.id, msg2.dequeue_count) == (message.id, 2)
    assert clouds.s3.get("replica/data/retry.bin").read() == b"r"  # the healthy target converged


UNREADABLE = ("{not json", "[1, 2]", json.dumps({"eventType": "Microsoft.Storage.BlobCreated"}))


def test_without_a_sink_an_unreadable_message_is_raised_toward_the_poison_queue(
    clouds: ThreeClouds, queue: Any
) -> None:
    from azure_functions.app import RetryDelivery

    _, info = _indexed()["storage_queue"]
    for body in UNREADABLE:
        queue.send_message(body)
        message, msg = _receive(queue)
        with pytest.raises(RetryDelivery, match="unreadable payload"):
            info.func(msg)
        queue.delete_message(message)


def test_without_a_sink_a_configuration_failure_is_raised_toward_the_poison_queue(
    clouds: ThreeClouds, queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The queue has a dead-letter path of its own (``<queue>-poison`` after ``maxDequeueCount``): with no
    ``[dead_letter]`` store, a failure that can never succeed goes there instead of being dropped."""
    from azure_functions.app import RetryDelivery

    missing = _missing_s3_target(clouds)
    clouds.az.put("data/cfg.bin", b"c")
    queue.send_message(json.dumps(_blob_event(clouds, "data/cfg.bin")))
    message, msg = _receive(queue)
    _, info = _indexed()["storage_queue"]
    with pytest.raises(RetryDelivery, match=f"target bucket {missing} does not exist"):
        info.func(msg)
    queue.delete_message(message)
    assert clouds.gs.get("replica/data/cfg.bin").read() == b"c"  # the healthy target converged
    [line] = [r for r in caplog.records if r.name == "circle.replication" and r.levelno == logging.ERROR]
    assert line.record["failure"] == "configuration"  # type: ignore[attr-defined]


def test_with_a_sink_an_unreadable_message_is_dead_lettered_and_acknowledged(
    clouds: ThreeClouds, queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The runtime given its sink in-process (the deployed one reads ``[dead_letter]`` from circle.toml)."""
    from azure_functions import app
    from core.config import load_config
    from core.handlers.dead_letter import StoreDeadLetterSink
    from core.runtime import Circle

    app._runtime = Circle.from_config(load_config(), dead_letter=StoreDeadLetterSink(clouds.az, "dead-letter/"))
    _, info = _indexed()["storage_queue"]
    for body in UNREADABLE:
        queue.send_message(body)
        message, msg = _receive(queue)
        info.func(msg)  # returns: the host deletes the message
        queue.delete_message(message)
    records = [json.loads(clouds.az.get(o.key).read()) for o in clouds.az.list("dead-letter/")]  # type: ignore[union-attr]
    assert len(records) == len(UNREADABLE)
    assert all(r["failure"] == "permanent" and "unreadable" in r["reason"] for r in records)
    errors = [r.getMessage() for r in caplog.records if r.name == "circle.azure" and r.levelno == logging.ERROR]
    assert errors == ["delivery dead-lettered and acknowledged"] * len(UNREADABLE)


def test_a_message_without_time_left_in_the_budget_is_not_started(
    clouds: ThreeClouds, queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure_functions.app import RetryDelivery

    monkeypatch.setenv("CIRCLE_TIME_BUDGET_SECONDS", "3")  # below the 10 s margin: nothing may start
    clouds.az.put("data/late.bin", b"late")
    queue.send_message(json.dumps(_blob_event(clouds, "data/late.bin")))
    _, msg = _receive(queue)
    _, info = _indexed()["storage_queue"]
    with pytest.raises(RetryDelivery, match="no time left"):
        info.func(msg)
    for target in clouds.targets().values():
        assert not target.exists("replica/data/late.bin")
