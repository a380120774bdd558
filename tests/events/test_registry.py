"""The detector registry: one module per cloud, one registration line, wrappers recurse through it."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Any

import pytest

import core.events
from core.events import (
    PROVIDERS,
    REGISTRY,
    Detector,
    EventError,
    Registry,
    Scope,
    StorageEvent,
    parse_batch,
    parse_events,
)
from core.events.model import as_dict, change_id, parse_time, text, to_size
from tests.events._data import load, raw

OSS = "alibaba/oss-ObjectCreated-PutObject.fc-event-template.json"


# A sixth cloud, as its own module would define it: Huawei OBS notifications are S3-like records
# with eventSource "OBS" and the object under "obs" (support.huaweicloud.com, obs_41_0045).
class ObsDetector(Detector):
    provider = "huawei"
    describes = "an OBS notification"

    def record_parsers(self) -> dict[str, Any]:
        return {"OBS": self._record}

    @staticmethod
    def _record(rec: dict[str, Any], where: str, scope: Scope, out: list[StorageEvent]) -> None:
        obs = as_dict(rec.get("obs"), f"{where}.obs")
        bucket = text(as_dict(obs.get("bucket"), f"{where}.obs.bucket").get("name"), f"{where}.obs.bucket.name")
        obj = as_dict(obs.get("object"), f"{where}.obs.object")
        key = text(obj.get("key"), f"{where}.obs.object.key")
        assert bucket is not None and key is not None
        out.append(
            StorageEvent(
                provider="huawei",
                kind="created",
                bucket=bucket,
                key=key,
                event_time=parse_time(rec.get("eventTime"), f"{where}.eventTime"),
                event_id=change_id("huawei", bucket, key, obj.get("sequencer")),
                size=to_size(obj.get("size"), f"{where}.obs.object.size"),
                envelope=scope.via + "obs",
            )
        )


OBS_RECORD = {
    "eventVersion": "3.0",
    "eventSource": "OBS",
    "eventRegion": "cn-north-4",
    "eventTime": "2020-07-10T09:24:11.418Z",
    "eventName": "ObjectCreated:Put",
    "obs": {"bucket": {"name": "examplebucket"}, "object": {"key": "a.txt", "size": 3, "sequencer": "0001"}},
}


def with_sixth_cloud() -> Registry:
    """What adding the module's DETECTOR to REGISTRY in core/events/detect.py gives (on a copy)."""
    return Registry([*REGISTRY.detectors, ObsDetector()])


def test_a_sixth_cloud_is_one_detector_and_one_registration() -> None:
    registry = with_sixth_cloud()
    (ev,) = registry.dispatch({"Records": [OBS_RECORD]}, Scope(registry))
    assert (ev.provider, ev.bucket, ev.key, ev.size, ev.envelope) == ("huawei", "examplebucket", "a.txt", 3, "obs")
    # and every existing wrapper carries it at once: OBS -> SNS -> SQS
    sns = {
        "Type": "Notification",
        "TopicArn": "arn",
        "MessageId": "s1",
        "Message": json.dumps({"Records": [OBS_RECORD]}),
    }
    sqs = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": json.dumps(sns)}]}
    (wrapped,) = registry.dispatch(sqs, Scope(registry))
    assert (wrapped.envelope, wrapped.key) == ("sqs/sns/obs", "a.txt")
    assert "huawei" in registry.providers
    # the shared registry is untouched
    with pytest.raises(
        EventError, match=r"^Records\[0\]\.eventSource is 'OBS': expected one of aws:s3, aws:sns, aws:sqs"
    ):
        parse_events({"Records": [OBS_RECORD]})


def test_record_sources_cannot_be_claimed_twice() -> None:
    class Impostor(Detector):
        provider = "impostor"

        def record_parsers(self) -> dict[str, Any]:
            return {"aws:s3": lambda rec, where, scope, out: None}

    with pytest.raises(ValueError, match=r"record sources already registered: \['aws:s3'\]"):
        Registry([*REGISTRY.detectors, Impostor()])
    with pytest.raises(ValueError, match="names no provider"):
        Registry([Detector()])


def test_every_registered_detector_names_a_known_provider() -> None:
    names = [d.provider for d in REGISTRY.detectors]
    assert names == ["aws", "azure", "gcp", "alibaba", "tencent", "oci", "ibm"]
    assert set(names) <= PROVIDERS and all(d.describes for d in REGISTRY.detectors)


def test_unknown_envelope_error_lists_what_the_registry_reads() -> None:
    with pytest.raises(EventError) as info:
        parse_events({"hello": "world"})
    for detector in REGISTRY.detectors:
        assert detector.describes in str(info.value)


@pytest.mark.parametrize(
    ("wrap", "envelope"),
    [
        (lambda body: {"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": body}]}, "sqs/oss"),
        (lambda body: {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": body}}]}, "sns/oss"),
        (lambda body: {"Type": "Notification", "TopicArn": "arn", "MessageId": "m", "Message": body}, "sns/oss"),
    ],
)
def test_aws_wrappers_recurse_through_the_registry(wrap: Any, envelope: str) -> None:
    (ev,) = parse_events(wrap(raw(OSS).decode()))
    assert (ev.provider, ev.envelope, ev.message_id, ev.key) == ("alibaba", envelope, "m", "image/a.jpg")


def test_parse_batch_isolates_a_bad_record_of_another_cloud_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    good = {"eventSource": "aws:sqs", "messageId": "good", "body": raw(OSS).decode()}
    bad_doc = load(OSS)
    bad_doc["events"][0]["oss"]["object"]["size"] = "²"
    bad = {"eventSource": "aws:sqs", "messageId": "bad", "body": json.dumps(bad_doc)}
    with caplog.at_level(logging.DEBUG, logger="circle.events"):
        batch = parse_batch({"Records": [good, bad]})
    assert [e.message_id for e in batch.events] == ["good"]
    assert [(f.index, f.message_id) for f in batch.failures] == [(1, "bad")]
    records = [
        r for r in caplog.records if r.name == "circle.events" and r.getMessage() == "unreadable record in batch"
    ]
    assert [(r.index, r.where) for r in records] == [(1, "Records[1].body.events[0].oss.object.size")]  # type: ignore[attr-defined]


def test_core_events_imports_nothing_else_from_core_and_no_sdk() -> None:
    package = Path(core.events.__file__).parent
    bad = []
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                shared = name == "core.etag"  # the one ETag normaliser, itself import-free
                if (top == "core" and not name.startswith("core.events") and not shared) or top in (
                    "boto3",
                    "botocore",
                    "azure",
                    "google",
                ):
                    bad.append(f"{path.name}: {name}")
    assert bad == []


class ForwarderDetector(Detector):
    """A wrapper that is not a Records batch: ``{"forwarded": <any envelope>}``."""

    provider = "forwarder"
    describes = "a forwarded envelope"

    def parse(self, doc: dict[str, Any], scope: Scope) -> list[StorageEvent] | None:
        if "forwarded" not in doc:
            return None
        return scope.dispatch(doc["forwarded"], scope.at("forwarded"), scope.via + "fwd/", scope.mid)


def test_a_wrapper_detector_recurses_through_the_registry_within_the_nesting_limit() -> None:
    registry = Registry([*REGISTRY.detectors, ForwarderDetector()])
    doc: Any = load(OSS)
    (ev,) = registry.dispatch({"forwarded": {"forwarded": doc}}, Scope(registry))
    assert (ev.provider, ev.envelope) == ("alibaba", "fwd/fwd/oss")
    for _ in range(10):
        doc = {"forwarded": doc}
    with pytest.raises(EventError, match=r"nests envelopes more than 8 deep"):
        registry.dispatch(doc, Scope(registry))
