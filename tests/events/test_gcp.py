"""GCS changes: CloudEvents (structured and binary), legacy background events, Pub/Sub notifications."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.events import EventError, StorageEvent, parse_batch, parse_cloudevent, parse_events
from tests.events._data import load, raw

SIMPLE = "cloudevents_binary_storage_StorageObjectData-simple.json"
COMPLEX = "cloudevents_binary_storage_StorageObjectData-complex.json"
FINALIZED = "google.cloud.storage.object.v1.finalized"


def only(events: list[StorageEvent]) -> StorageEvent:
    assert len(events) == 1, events
    return events[0]


def ce_headers(ce_type: str, **extra: str) -> dict[str, str]:
    headers = {
        "Ce-Specversion": "1.0",
        "Ce-Type": ce_type,
        "Ce-Id": "1234",
        "Ce-Source": "//storage.googleapis.com/projects/_/buckets/sample-bucket",
        "Ce-Time": "2020-04-23T07:38:57.772Z",
        "Content-Type": "application/json",
    }
    headers.update(extra)
    return headers


def check_simple(ev: StorageEvent) -> None:
    """The fields of google-cloudevents' StorageObjectData-simple sample (int64 fields as strings)."""
    assert ev.provider == "gcp"
    assert ev.bucket == "sample-bucket"
    assert ev.key == "folder/Test.cs"
    assert ev.size == 352
    assert ev.etag == "CNHZkbuF/ugCEAE="
    assert ev.version == "1587627537231057"
    assert ev.sequencer == "00001587627537231057" + "1".rjust(20, "0")


def test_binary_cloudevent_finalized_simple() -> None:
    ev = only(parse_cloudevent(ce_headers(FINALIZED, **{"Ce-Subject": "objects/folder/Test.cs"}), raw(SIMPLE)))
    check_simple(ev)
    assert ev.kind == "created"
    assert ev.name == "finalized"
    assert ev.event_time == datetime(2020, 4, 23, 7, 38, 57, 772000, tzinfo=UTC)
    assert ev.message_id == "1234"
    assert ev.superseded is False


def test_binary_cloudevent_deleted_complex_numbers_as_numbers() -> None:
    ev = only(parse_cloudevent(ce_headers("google.cloud.storage.object.v1.deleted"), raw(COMPLEX).decode()))
    assert (ev.kind, ev.bucket, ev.key) == ("deleted", "sample-bucket", "MyFile")
    assert ev.size == 0
    assert ev.version == "96883251"
    assert ev.etag == "COu8mb3Dn+kCEAE="


@pytest.mark.parametrize(("suffix", "kind"), [("archived", "archived"), ("metadataUpdated", "metadata_updated")])
def test_structured_cloudevent_kinds(suffix: str, kind: str) -> None:
    event = {
        "specversion": "1.0",
        "type": f"google.cloud.storage.object.v1.{suffix}",
        "id": "9",
        "source": "//storage.googleapis.com/projects/_/buckets/sample-bucket",
        "subject": "objects/folder/Test.cs",
        "time": "2020-04-23T07:38:57.772Z",
        "data": load(SIMPLE),
    }
    ev = only(parse_events(json.dumps(event)))
    check_simple(ev)
    assert ev.kind == kind
    assert ev.envelope == "cloudevent"


def test_structured_cloudevent_bucket_and_name_from_source_and_subject() -> None:
    data = load(SIMPLE)
    del data["bucket"], data["name"]
    event = {
        "specversion": "1.0",
        "type": FINALIZED,
        "id": "9",
        "subject": "objects/a/b c.txt",
        "source": "//storage.googleapis.com/projects/_/buckets/other",
        "time": "2020-04-23T07:38:57Z",
        "data": data,
    }
    ev = only(parse_events(event))
    assert (ev.bucket, ev.key) == ("other", "a/b c.txt")


def test_legacy_background_event_with_context() -> None:
    event = {
        "context": {
            "eventId": "e-1",
            "timestamp": "2020-04-23T07:38:57.772Z",
            "eventType": "google.storage.object.finalize",
            "resource": {
                "service": "storage.googleapis.com",
                "name": "projects/_/buckets/sample-bucket/objects/folder/Test.cs",
                "type": "storage#object",
            },
        },
        "data": load(SIMPLE),
    }
    ev = only(parse_events(event))
    check_simple(ev)
    assert (ev.kind, ev.name, ev.message_id, ev.envelope) == ("created", "finalize", "e-1", "legacy")


def test_legacy_flat_object_change() -> None:
    data = load(SIMPLE)
    event = {
        "eventId": "e-2",
        "timestamp": "2020-04-23T07:38:57.772Z",
        "eventType": "providers/cloud.storage/eventTypes/object.change",
        "resource": "projects/_/buckets/sample-bucket/objects/folder/Test.cs#1587627537231057",
        "data": dict(data, resourceState="exists"),
    }
    assert only(parse_events(event)).kind == "created"
    event["data"] = dict(data, resourceState="exists", metageneration="2")
    assert only(parse_events(event)).kind == "metadata_updated"
    event["data"] = dict(data, resourceState="not_exists")
    assert only(parse_events(event)).kind == "deleted"


def notification(event_type: str, data: dict[str, Any] | None = None, **attrs: str) -> dict[str, Any]:
    """A Pub/Sub push body carrying a GCS notification (payloadFormat JSON_API_V1 unless no data)."""
    attributes = {
        "notificationConfig": "projects/_/buckets/sample-bucket/notificationConfigs/1",
        "eventType": event_type,
        "payloadFormat": "JSON_API_V1" if data else "NONE",
        "bucketId": "sample-bucket",
        "objectId": "folder/Test.cs",
        "objectGeneration": "1587627537231057",
        "eventTime": "2020-04-23T07:38:57.230000Z",
    }
    attributes.update(attrs)
    message: dict[str, Any] = {"attributes": attributes, "messageId": "pm-1", "publishTime": "2020-04-23T07:38:58.000Z"}
    if data:
        message["data"] = base64.b64encode(json.dumps(data).encode()).decode()
    return {"message": message, "subscription": "projects/p/subscriptions/s"}


def test_pubsub_push_finalize_with_json_payload() -> None:
    ev = only(parse_events(json.dumps(notification("OBJECT_FINALIZE", load(SIMPLE))).encode()))
    check_simple(ev)
    assert (ev.kind, ev.name, ev.message_id, ev.envelope) == ("created", "OBJECT_FINALIZE", "pm-1", "pubsub")
    assert ev.event_time == datetime(2020, 4, 23, 7, 38, 57, 230000, tzinfo=UTC)


def test_pubsub_push_payload_format_none() -> None:
    ev = only(parse_events(notification("OBJECT_DELETE")))
    assert (ev.kind, ev.bucket, ev.key, ev.version) == (
        "deleted",
        "sample-bucket",
        "folder/Test.cs",
        "1587627537231057",
    )
    assert ev.size is None and ev.etag is None


def test_overwrite_delete_is_superseded_and_finalize_is_not() -> None:
    old = notification("OBJECT_DELETE", load(SIMPLE), overwrittenByGeneration="1587627537231999")
    new_data = dict(load(SIMPLE), generation="1587627537231999")
    new = notification(
        "OBJECT_FINALIZE", new_data, objectGeneration="1587627537231999", overwroteGeneration="1587627537231057"
    )
    deleted, created = parse_events([old, new])
    assert deleted.kind == "deleted" and deleted.superseded is True
    assert created.kind == "created" and created.superseded is False
    assert created.version == "1587627537231999"
    archived = only(parse_events(notification("OBJECT_ARCHIVE", overwrittenByGeneration="2")))
    assert archived.superseded is True
    plain = only(parse_events(notification("OBJECT_DELETE")))
    assert plain.superseded is False


def test_same_change_via_cloudevent_and_pubsub_has_one_event_id() -> None:
    via_ce = only(parse_cloudevent(ce_headers(FINALIZED), raw(SIMPLE)))
    via_pubsub = only(parse_events(notification("OBJECT_FINALIZE", load(SIMPLE))))
    via_pubsub_none = only(parse_events(notification("OBJECT_FINALIZE")))
    assert via_ce.event_id == via_pubsub.event_id == via_pubsub_none.event_id
    meta = only(parse_events(notification("OBJECT_METADATA_UPDATE", dict(load(SIMPLE), metageneration="2"))))
    meta3 = only(parse_events(notification("OBJECT_METADATA_UPDATE", dict(load(SIMPLE), metageneration="3"))))
    assert len({via_ce.event_id, meta.event_id, meta3.event_id}) == 3


def test_messagepublished_cloudevent_wrapping_a_notification() -> None:
    event = load("cloudevents_structured_pubsub_MessagePublishedData.json")
    event["data"] = notification("OBJECT_FINALIZE", load(SIMPLE))
    ev = only(parse_events(event))
    check_simple(ev)
    assert ev.envelope == "cloudevent/pubsub"
    binary = parse_cloudevent(
        ce_headers("google.cloud.pubsub.topic.v1.messagePublished"),
        json.dumps(notification("OBJECT_FINALIZE", load(SIMPLE))).encode(),
    )
    assert only(binary) == ev


def test_legacy_pubsub_background_event_wrapping_a_notification() -> None:
    event = load("ffpython_pubsub_text-legacy-input.json")
    event["data"] = notification("OBJECT_FINALIZE", load(SIMPLE))["message"]
    ev = only(parse_events(event))
    check_simple(ev)
    assert ev.message_id == "aaaaaa-1111-bbbb-2222-cccccccccccc"


def test_topic_configured_is_a_control_message() -> None:
    body = {
        "message": {"attributes": {"eventType": "TOPIC_CONFIGURED"}, "messageId": "1"},
        "subscription": "projects/p/subscriptions/s",
    }
    assert parse_events(body) == []
    assert [c.name for c in parse_batch(body).controls] == ["TOPIC_CONFIGURED"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "cloudevents_structured_pubsub_MessagePublishedData.json",
            r"^data\.message\.attributes\.eventType missing: not a Cloud Storage notification",
        ),
        ("conformance_pubsub_text-cloudevent-input.json", r"^data\.message\.attributes\.eventType missing"),
        ("ffpython_pubsub_text-cloud-event-output.json", r"^data\.message\.attributes\.eventType missing"),
        ("ffpython_pubsub_text-legacy-input.json", r"^data\.attributes\.eventType missing"),
        ("conformance_legacy_pubsub-legacy-input.json", r"^data\.attributes\.eventType missing"),
        ("cloudevents_binary_pubsub_MessagePublishedData-complex.json", r"^message\.attributes\.eventType missing"),
        (
            "cloudevents_pubsub_v1_MessagePublishedData-duplicatedFields.json",
            r"^message\.attributes missing: not a Cloud Storage notification",
        ),
        (
            "secretmanager-SECRET_ROTATE.pubsub-message.constructed.json",
            r"^message\.attributes\.eventType is 'SECRET_ROTATE', not a Cloud Storage notification",
        ),
        ("cloudevents_binary_scheduler_SchedulerJobData-simple.json", r"^payload has an unknown envelope"),
        (SIMPLE, r"^payload is a bare GCS object resource.*parse_cloudevent"),
    ],
)
def test_non_storage_gcp_payloads_are_rejected(name: str, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_events(raw(name))


def test_binary_pubsub_sample_without_gcs_attributes_is_rejected() -> None:
    with pytest.raises(EventError, match=r"^data\.message\.attributes\.eventType missing"):
        parse_cloudevent(
            ce_headers("google.cloud.pubsub.topic.v1.messagePublished"),
            raw("cloudevents_binary_pubsub_MessagePublishedData-complex.json"),
        )


def test_binary_cloudevent_errors_name_the_header_or_field() -> None:
    with pytest.raises(EventError, match=r"^ce-specversion missing"):
        parse_cloudevent({"ce-type": FINALIZED}, raw(SIMPLE))
    with pytest.raises(EventError, match=r"^type is 'com\.example\.other': not a storage event type"):
        parse_cloudevent(ce_headers("com.example.other"), raw(SIMPLE))
    with pytest.raises(EventError, match=r"^body is not JSON"):
        parse_cloudevent(ce_headers(FINALIZED), b"\x00garbage")
    with pytest.raises(EventError, match=r"^data\.size must be a non-negative integer"):
        parse_cloudevent(ce_headers(FINALIZED), json.dumps(dict(load(SIMPLE), size="12x")).encode())
    with pytest.raises(EventError, match=r"^data\.name missing"):
        parse_cloudevent(ce_headers(FINALIZED), json.dumps(dict(load(SIMPLE), name="")).encode())


def test_no_ce_headers_falls_back_to_the_body() -> None:
    body = json.dumps(notification("OBJECT_FINALIZE", load(SIMPLE))).encode()
    check_simple(only(parse_cloudevent({"Content-Type": "application/json"}, body)))


def test_bad_base64_data_names_the_field() -> None:
    body = notification("OBJECT_FINALIZE", load(SIMPLE))
    body["message"]["data"] = "!!not base64!!"
    with pytest.raises(EventError, match=r"^message\.data is not base64-encoded JSON"):
        parse_events(body)
