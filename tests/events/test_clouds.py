"""The S3-compatible seed clouds' own notifications: Alibaba OSS, Tencent COS, OCI Events, IBM COS.

Payloads are the vendors' published samples, copied byte for byte into tests/events/data/<cloud>/.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.events import PROVIDERS, EventError, StorageEvent, parse_batch, parse_cloudevent, parse_events
from tests.events._data import load, raw

OSS = "alibaba/oss-ObjectCreated-PutObject.fc-event-template.json"
COS_PUT = "tencent/cos-ObjectCreated-Put.scfcli-template.json"
COS_STAR = "tencent/cos-ObjectCreated-star.serverless-docs.json"
OCI_OBJECT = "oci/objectstorage-createobject.reference.json"
OCI_BUCKET = "oci/oracle-functions-samples_createbucket_event.json"
IBM_DELETE_BODY = "ibm/cos-Object-Delete.codeengine-app-http-body.json"
IBM_DELETE_JOB = "ibm/cos-Object-Delete.codeengine-job-CE_DATA.json"
IBM_WRITE_BODY = "ibm/codeengine_docs_cos_event_body_ObjectWrite_applog.json"
IBM_HEADERS = "ibm/cos-event.codeengine-app-http-headers.txt"


def only(events: list[StorageEvent]) -> StorageEvent:
    assert len(events) == 1, events
    return events[0]


def headers_of(name: str) -> dict[str, str]:
    """``name: value`` lines as Code Engine documents them."""
    pairs = (line.split(":", 1) for line in raw(name).decode().splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def test_provider_names_cover_every_seed_cloud() -> None:
    seeds = {"aws", "azure", "gcp", "digitalocean", "oci", "ibm", "alibaba", "tencent", "file", "memory"}
    assert seeds <= PROVIDERS
    assert isinstance(PROVIDERS, frozenset)


# ------------------------------------------------------------------------------------------- alibaba


def test_alibaba_oss_put_object() -> None:
    ev = only(parse_events(raw(OSS)))  # Function Compute hands Python the event as bytes
    assert (ev.provider, ev.kind, ev.bucket, ev.key) == ("alibaba", "created", "testbucket", "image/a.jpg")
    assert (ev.size, ev.etag, ev.region, ev.name) == (
        122539,
        "688A7BF4F233DC9C88A80BF985AB7329",
        "cn-shanghai",
        "ObjectCreated:PutObject",
    )
    assert ev.event_time == datetime(2017, 4, 21, 12, 46, 37, tzinfo=UTC)
    assert ev.envelope == "oss"
    assert ev.message_id == "58F9FF2D3DF792092E12044C"
    assert ev.event_id.startswith("alibaba:")


def test_alibaba_delete_and_redelivery_ids() -> None:
    doc = load(OSS)
    deleted = copy.deepcopy(doc)
    rec = deleted["events"][0]
    rec["eventName"] = "ObjectRemoved:DeleteObject"
    del rec["oss"]["object"]["size"], rec["oss"]["object"]["eTag"]
    ev = only(parse_events(deleted))
    assert (ev.kind, ev.size, ev.etag) == ("deleted", None, None)
    assert parse_events(doc)[0].event_id == parse_events(json.dumps(doc))[0].event_id
    assert ev.event_id != parse_events(doc)[0].event_id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("oss", "object", "key"), r"^events\[0\]\.oss\.object\.key missing"),
        (("oss", "bucket", "name"), r"^events\[0\]\.oss\.bucket\.name missing"),
        (("eventTime",), r"^events\[0\]\.eventTime must be an RFC 3339 time string"),
    ],
)
def test_alibaba_missing_fields_are_named(change: tuple[str, ...], message: str) -> None:
    doc = load(OSS)
    target = doc["events"][0]
    for part in change[:-1]:
        target = target[part]
    del target[change[-1]]
    with pytest.raises(EventError, match=message):
        parse_events(doc)


def test_alibaba_size_with_unicode_digits_is_refused() -> None:
    doc = load(OSS)
    doc["events"][0]["oss"]["object"]["size"] = "\u0661\u0662\u0663"
    with pytest.raises(EventError, match=r"^events\[0\]\.oss\.object\.size must be a non-negative integer"):
        parse_events(doc)


# ------------------------------------------------------------------------------------------- tencent


@pytest.mark.parametrize("name", [COS_PUT, COS_STAR])
def test_tencent_cos_put(name: str) -> None:
    ev = only(parse_events(raw(name)))
    # COS clients name the bucket "<name>-<appid>"; the key arrives as "/<appid>/<name>/<key>"
    assert (ev.provider, ev.kind, ev.bucket, ev.key) == ("tencent", "created", "testpic-1253970026", "testfile")
    assert ev.size == 1029
    assert ev.event_time == datetime(2018, 12, 19, 7, 49, 30, tzinfo=UTC)  # epoch seconds 1545205770
    assert ev.version is None and ev.etag is None
    assert ev.region == ("ap-guangzhou" if name == COS_PUT else "ap-chengdu")  # from the URL, not "gz"/"cd"
    assert ev.name.startswith("ObjectCreated:")
    assert ev.envelope == "cos"


def test_tencent_delete_and_bad_key_prefix() -> None:
    doc = load(COS_PUT)
    doc["Records"][0]["event"]["eventName"] = "cos:ObjectRemove:Delete"
    assert only(parse_events(doc)).kind == "deleted"
    doc["Records"][0]["cos"]["cosObject"]["key"] = "/999/other/testfile"
    with pytest.raises(
        EventError, match=r"^Records\[0\]\.cos\.cosObject\.key does not start with '/1253970026/testpic/'"
    ):
        parse_events(doc)


def test_tencent_bad_epoch_time_is_typed() -> None:
    doc = load(COS_PUT)
    doc["Records"][0]["event"]["eventTime"] = 10**30
    with pytest.raises(EventError, match=r"^Records\[0\]\.event\.eventTime must fit in 64 bits"):
        parse_events(doc)
    doc["Records"][0]["event"]["eventTime"] = 2**62
    with pytest.raises(EventError, match=r"^Records\[0\]\.event\.eventTime is not a time in seconds"):
        parse_events(doc)


def test_tencent_record_inside_an_sqs_body_goes_through_the_registry() -> None:
    sqs = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": raw(COS_PUT).decode()}]}
    ev = only(parse_events(sqs))
    assert (ev.provider, ev.envelope, ev.message_id) == ("tencent", "sqs/cos", "m1")


# ----------------------------------------------------------------------------------------------- oci


def test_oci_create_object() -> None:
    ev = only(parse_events(raw(OCI_OBJECT)))
    assert (ev.provider, ev.kind, ev.bucket, ev.key) == ("oci", "created", "my_bucket", "my_object")
    assert ev.account == "example_namespace"  # contract C4: the OCI namespace
    assert ev.etag == "f8ffb6e9-f602-460f-a6c0-00b5abfa24c7"
    assert ev.event_time == datetime(2019, 1, 10, 21, 19, 24, tzinfo=UTC)
    assert (ev.name, ev.message_id, ev.envelope) == ("createobject", "unique_ID", "oci-events")


def test_oci_delete_and_resource_id_fallback() -> None:
    doc = load(OCI_OBJECT)
    doc["eventType"] = "com.oraclecloud.objectstorage.deleteobject"
    del doc["data"]["resourceName"], doc["data"]["additionalDetails"]["bucketName"]
    doc["data"]["additionalDetails"].pop("namespace")
    ev = only(parse_events(doc))
    assert (ev.kind, ev.bucket, ev.key, ev.account) == ("deleted", "my_bucket", "my_object", "example_namespace")


def test_oci_bucket_events_are_control_messages() -> None:
    assert parse_events(raw(OCI_BUCKET)) == []
    batch = parse_batch(raw(OCI_BUCKET))
    assert [(c.provider, c.name) for c in batch.controls] == [("oci", "createbucket")]


def test_oci_unknown_object_event_type_is_named() -> None:
    doc = load(OCI_OBJECT)
    doc["eventType"] = "com.oraclecloud.objectstorage.restoreobject"
    with pytest.raises(EventError, match=r"^eventType is 'com\.oraclecloud\.objectstorage\.restoreobject'"):
        parse_events(doc)


# ----------------------------------------------------------------------------------------------- ibm


def test_ibm_binary_cloudevent_delete() -> None:
    headers = headers_of(IBM_HEADERS)
    ev = only(parse_cloudevent(headers, raw(IBM_DELETE_BODY)))
    assert (ev.provider, ev.kind, ev.bucket, ev.key) == ("ibm", "deleted", "mybucket", "object-69-144")
    assert (ev.size, ev.etag) == (1064391, "f3a9dbde30fdf48abc23e5f8b485d6e5")  # object_length is a string
    assert ev.event_time == datetime(2021, 8, 17, 20, 22, 2, 917000, tzinfo=UTC)
    assert ev.message_id == "3fb2c04e-a660-4640-8899-b82efb8169b6"
    assert (ev.name, ev.envelope) == ("Object:Delete", "cloudevent")


def test_ibm_bare_bodies_app_and_job() -> None:
    write = only(parse_events(raw(IBM_WRITE_BODY)))
    assert (write.kind, write.bucket, write.key, write.size) == ("created", "mybucket", "Notes.rtf", 4642)
    assert write.etag == "2944035e54ee1bdc423848c8eaf05e86"
    job = only(parse_events(raw(IBM_DELETE_JOB)))  # a job's CE_DATA: no ETag
    assert (job.kind, job.key, job.etag, job.envelope) == ("deleted", "Notes.rtf", None, "cos")
    assert job.event_id != write.event_id


def test_ibm_same_change_through_body_or_cloudevent_has_one_id() -> None:
    body = parse_events(raw(IBM_DELETE_BODY))[0]
    ce = parse_cloudevent(headers_of(IBM_HEADERS), raw(IBM_DELETE_BODY))[0]
    assert body.event_id == ce.event_id and body == ce


def test_ibm_bad_operation_and_length() -> None:
    doc: dict[str, Any] = load(IBM_DELETE_BODY)
    doc["notification"]["object_length"] = "²"
    with pytest.raises(EventError, match=r"^notification\.object_length must be a non-negative integer"):
        parse_events(doc)
    doc = load(IBM_DELETE_BODY)
    doc["operation"] = "Object:Read"
    doc["notification"]["event_type"] = "Object:Read"
    with pytest.raises(EventError, match=r"^operation is 'Object:Read': expected Object:Write or Object:Delete"):
        parse_events(doc)


# ---------------------------------------------------------------------- the same clouds' other triggers


@pytest.mark.parametrize(
    "name",
    [
        "alibaba/timer-trigger.json",
        "alibaba/fc3_http_trigger.json",
        "alibaba/http-trigger-fc3-builtin-runtime.json",
        "tencent/intldocs_timer_trigger.json",
        "tencent/timer.scfcli-template.json",
        "tencent/timer.serverless-docs.json",
        "digitalocean/scheduled-trigger.body-example.json",
        "ibm/codeengine-function-args.http-json.json",
        "ibm/cron.codeengine-app-http-headers.txt",
    ],
)
def test_timers_and_http_triggers_are_not_storage_events(name: str) -> None:
    with pytest.raises(EventError, match=r"^payload (has an unknown envelope|is not JSON)"):
        parse_events(raw(name))
