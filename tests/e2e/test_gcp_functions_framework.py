"""GCP end to end: the real functions-framework server on loopback receives CloudEvents (binary and
structured mode) for objects in fake-gcs-server and replicates them to moto and Azurite."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scripts.emulators import ROOT, free_port
from tests.e2e import replication_rig
from tests.e2e.replication_rig import ThreeClouds

SAMPLE = Path(__file__).resolve().parent / "data" / "cloudevents_binary_storage_StorageObjectData-simple.json"


@pytest.fixture
def clouds(emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ThreeClouds:
    return replication_rig.build(emulators, tmp_path, monkeypatch, source="gs")


@pytest.fixture
def server(clouds: ThreeClouds, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "CIRCLE_CONFIG": str(clouds.config_path),
        "PYTHONPATH": str(ROOT),
        "GOOGLE_CLOUD_PROJECT": "circle-test",
        "K_SERVICE": "storage-event",
    }
    log = open(tmp_path / "ff.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "storage_event",
            "--source",
            str(ROOT / "gcp_functions" / "main.py"),
            "--signature-type",
            "cloudevent",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _log_lines(tmp_path: Path) -> list[dict[str, Any]]:
    """The server's stdout as Cloud Logging would read it: JSON objects, one per line."""
    lines = (tmp_path / "ff.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _object_data(clouds: ThreeClouds, key: str) -> dict[str, Any]:
    """The real sample's shape, with the fields that name our object filled in from its head."""
    info = clouds.gs.head(key)
    data = copy.deepcopy(json.loads(SAMPLE.read_text()))
    data.update(
        bucket=clouds.bucket,
        name=key,
        size=str(info.size),
        generation=info.version,
        id=f"{clouds.bucket}/{key}/{info.version}",
        etag=info.etag,
        contentType=info.content_type,
    )
    return data


def _attributes(clouds: ThreeClouds, key: str, kind: str) -> dict[str, str]:
    return {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "type": f"google.cloud.storage.object.v1.{kind}",
        "source": f"//storage.googleapis.com/projects/_/buckets/{clouds.bucket}",
        "subject": f"objects/{key}",
        "time": "2026-11-28T10:00:00Z",
    }


def test_binary_and_structured_cloudevents_replicate(clouds: ThreeClouds, server: str) -> None:
    clouds.gs.put("data/binary.txt", b"binary mode", content_type="text/plain")
    clouds.gs.put("data/structured.txt", b"structured mode", content_type="text/plain")

    attrs = _attributes(clouds, "data/binary.txt", "finalized")
    headers = {f"ce-{k}": v for k, v in attrs.items() if k != "specversion"} | {
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    binary = requests.post(
        server, headers=headers, data=json.dumps(_object_data(clouds, "data/binary.txt")), timeout=30
    )
    assert binary.status_code == 200, binary.text

    structured = _attributes(clouds, "data/structured.txt", "finalized") | {
        "datacontenttype": "application/json",
        "data": _object_data(clouds, "data/structured.txt"),
    }
    resp = requests.post(
        server, headers={"Content-Type": "application/cloudevents+json"}, data=json.dumps(structured), timeout=30
    )
    assert resp.status_code == 200, resp.text

    for target in clouds.targets().values():
        assert target.get("replica/data/binary.txt").read() == b"binary mode"
        assert target.get("replica/data/structured.txt").read() == b"structured mode"
        assert target.head("replica/data/structured.txt").content_type == "text/plain"


def test_deleted_event_propagates_and_a_poison_event_is_acknowledged(clouds: ThreeClouds, server: str) -> None:
    clouds.gs.put("data/gone.txt", b"bye")
    created = _attributes(clouds, "data/gone.txt", "finalized") | {"data": _object_data(clouds, "data/gone.txt")}
    assert (
        requests.post(
            server, json=created, headers={"Content-Type": "application/cloudevents+json"}, timeout=30
        ).status_code
        == 200
    )
    deleted = _attributes(clouds, "data/gone.txt", "deleted") | {"data": _object_data(clouds, "data/gone.txt")}
    clouds.gs.delete("data/gone.txt")
    assert (
        requests.post(
            server, json=deleted, headers={"Content-Type": "application/cloudevents+json"}, timeout=30
        ).status_code
        == 200
    )
    for target in clouds.targets().values():
        assert not target.exists("replica/data/gone.txt")

    # An event that can never parse is acknowledged (issue 12, finding 8: a 500 made Eventarc redeliver it
    # for 24 hours); its reason is logged once at ERROR.
    bad = _attributes(clouds, "data/x", "finalized") | {"data": {"bucket": clouds.bucket, "size": "many"}}
    del bad["subject"]  # and no object name in the data either
    resp = requests.post(server, json=bad, headers={"Content-Type": "application/cloudevents+json"}, timeout=30)
    assert resp.status_code == 200


def test_one_event_logs_cold_start_and_outcome_as_cloud_logging_json(
    clouds: ThreeClouds, server: str, tmp_path: Path
) -> None:
    clouds.gs.put("data/logged.txt", b"logged")
    event = _attributes(clouds, "data/logged.txt", "finalized") | {"data": _object_data(clouds, "data/logged.txt")}
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    resp = requests.post(
        server,
        json=event,
        headers={"Content-Type": "application/cloudevents+json", "traceparent": f"00-{trace_id}-{span_id}-01"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    lines = _log_lines(tmp_path)
    [cold] = [line for line in lines if line["message"] == "cold start: runtime ready"]
    assert cold["severity"] == "INFO" and "init_ms" in cold
    [outcome] = [line for line in lines if line.get("logger") == "circle.replication" and "outcomes" in line]
    assert outcome["severity"] == "INFO"
    assert "copied" in json.dumps(outcome)
    assert outcome["logging.googleapis.com/trace"] == f"projects/circle-test/traces/{trace_id}"
    assert outcome["logging.googleapis.com/spanId"] == span_id
    assert outcome["logging.googleapis.com/trace_sampled"] is True
    labels = outcome["logging.googleapis.com/labels"]
    assert labels == {
        "function": "storage-event",
        "event_id": event["id"],
        "event_type": "google.cloud.storage.object.v1.finalized",
    }


def test_a_failure_answers_500_and_logs_its_reason_once_without_traceback(
    clouds: ThreeClouds, server: str, tmp_path: Path
) -> None:
    # The runtime is built at the first event, so the configuration can still change: GCS is unreachable.
    text = clouds.config_path.read_text().replace(clouds.emulators.s3_endpoint, "http://127.0.0.1:9")
    clouds.config_path.write_text(text.replace("[stores.s3]", "[stores.s3]\nretry = { max_attempts = 1 }"))
    clouds.gs.put("data/stuck.txt", b"stuck")
    event = _attributes(clouds, "data/stuck.txt", "finalized") | {"data": _object_data(clouds, "data/stuck.txt")}
    resp = requests.post(server, json=event, headers={"Content-Type": "application/cloudevents+json"}, timeout=60)
    assert resp.status_code == 500  # retryable: Eventarc (deployed with --retry) redelivers
    assert "Traceback" not in (tmp_path / "ff.log").read_text()
    [error] = [line for line in _log_lines(tmp_path) if line["logger"] == "circle.gcp" and line["severity"] == "ERROR"]
    assert error["message"] == "event not done, Eventarc redelivers it"
    assert "s3/replica/data/stuck.txt" in error["reason"]
    assert error["logging.googleapis.com/labels"]["event_id"] == event["id"]
    assert clouds.az.get("replica/data/stuck.txt").read() == b"stuck"  # the healthy target converged


def test_without_a_sink_a_configuration_failure_is_acknowledged_with_its_record_in_the_log(
    clouds: ThreeClouds, server: str, tmp_path: Path
) -> None:
    """A missing target bucket can never heal by redelivery: a 500 would buy 24 h of Eventarc retries.
    With no ``[dead_letter]`` store, the event is acknowledged and its ERROR lines are the record."""
    missing = f"missing-{uuid.uuid4().hex[:10]}"
    text = clouds.config_path.read_text()
    clouds.config_path.write_text(text.replace(f'url = "s3://{clouds.bucket}"', f'url = "s3://{missing}"'))
    clouds.gs.put("data/nowhere.txt", b"n")
    event = _attributes(clouds, "data/nowhere.txt", "finalized") | {"data": _object_data(clouds, "data/nowhere.txt")}
    headers = {"Content-Type": "application/cloudevents+json"}
    for attempt in range(2):  # a redelivery (Eventarc's at-least-once) is acknowledged the same way
        resp = requests.post(server, json=event | {"id": f"{event['id']}-{attempt}"}, headers=headers, timeout=60)
        assert resp.status_code == 200, resp.text
    assert clouds.az.get("replica/data/nowhere.txt").read() == b"n"  # the healthy target converged
    lines = _log_lines(tmp_path)
    assert "Traceback" not in (tmp_path / "ff.log").read_text()
    acks = [line for line in lines if line["logger"] == "circle.gcp" and line["severity"] == "ERROR"]
    assert [a["message"] for a in acks] == [
        "event failed for good, acknowledged, not kept (no dead-letter sink; the record is in the log)"
    ] * 2
    assert all(f"target bucket {missing} does not exist" in a["reason"] and a["dead_lettered"] is False for a in acks)
    records = [line["record"] for line in lines if line["logger"] == "circle.replication" and "record" in line]
    assert [r["failure"] for r in records] == ["configuration"] * 2
    assert records[0]["event"]["key"] == "data/nowhere.txt" and records[0]["outcomes"][0]["target"] == "s3"
    metrics = [json.dumps(line) for line in lines if line["logger"] == "circle.monitoring"]
    counted = [m for m in metrics if "ReplicationFailed" in m and '"configuration"' in m]
    assert len(counted) == 2, metrics  # one ReplicationFailed (failure=configuration) per delivery


def test_a_poison_event_is_logged_once_at_error_without_traceback(
    clouds: ThreeClouds, server: str, tmp_path: Path
) -> None:
    bad = _attributes(clouds, "data/x", "finalized") | {"data": {"bucket": clouds.bucket, "size": "many"}}
    resp = requests.post(server, json=bad, headers={"Content-Type": "application/cloudevents+json"}, timeout=30)
    assert resp.status_code == 200
    assert "Traceback" not in (tmp_path / "ff.log").read_text()
    [mine] = [line for line in _log_lines(tmp_path) if line["logger"] == "circle.gcp"][1:]  # after the cold start
    assert mine["severity"] == "ERROR" and mine["message"] == "unreadable event acknowledged, not kept"
    assert "unreadable" in mine["reason"] and mine["dead_lettered"] is False


def test_with_a_dead_letter_sink_a_poison_event_is_written_and_acknowledged(clouds: ThreeClouds) -> None:
    """In-process, with the runtime given its sink (the deployed one reads ``[dead_letter]`` from circle.toml)."""
    from cloudevents.http import CloudEvent

    from core.config import load_config
    from core.handlers.dead_letter import StoreDeadLetterSink
    from core.runtime import Circle
    from gcp_functions import main

    main._runtime = Circle.from_config(load_config(), dead_letter=StoreDeadLetterSink(clouds.gs, "dead-letter/"))
    attributes = _attributes(clouds, "data/x", "finalized")
    del attributes["subject"]
    main.storage_event(CloudEvent(attributes, {"bucket": clouds.bucket, "size": "many"}))  # returns: 2xx
    [record] = list(clouds.gs.list("dead-letter/"))
    written = json.loads(clouds.gs.get(record.key).read())  # type: ignore[union-attr]
    assert written["failure"] == "permanent" and "unreadable" in written["reason"]


def test_no_time_left_in_the_budget_answers_retry_without_starting(
    clouds: ThreeClouds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard in-process (the budget comes from the environment when the invocation starts)."""
    from cloudevents.http import CloudEvent

    from gcp_functions import main

    monkeypatch.setenv("CIRCLE_TIME_BUDGET_SECONDS", "5")
    monkeypatch.setenv("CIRCLE_TIME_MARGIN_SECONDS", "10")
    clouds.gs.put("data/late.txt", b"late")
    event = CloudEvent(_attributes(clouds, "data/late.txt", "finalized"), _object_data(clouds, "data/late.txt"))
    assert main.deadline_from(time.monotonic())() < 0
    with pytest.raises(main.RetryDelivery, match="no time left"):
        main.storage_event(event)
    for target in clouds.targets().values():
        assert not target.exists("replica/data/late.txt")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/json", b"{not json"), ("application/octet-stream", b"\xff\xfe binary"), ("text/plain", b"x")],
)
def test_binary_mode_data_that_is_not_json_is_acknowledged(
    clouds: ThreeClouds, server: str, tmp_path: Path, content_type: str, body: bytes
) -> None:
    headers = {f"ce-{k}": v for k, v in _attributes(clouds, "data/x", "finalized").items()}
    resp = requests.post(server, headers=headers | {"Content-Type": content_type}, data=body, timeout=30)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    assert "Traceback" not in (tmp_path / "ff.log").read_text()
    [mine] = [line for line in _log_lines(tmp_path) if line["logger"] == "circle.gcp" and line["severity"] == "ERROR"]
    assert "unreadable" in mine["reason"]
