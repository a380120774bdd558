"""Azure Blob Storage events: Event Grid schema and CloudEvents 1.0, single events and arrays."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from core.events import EventError, StorageEvent, parse_batch, parse_cloudevent, parse_events
from core.events import subscription_validation_code as validation_code
from tests.events._data import load, raw

CREATED = ("msdocs_eventgridschema_BlobCreated.json", "msdocs_cloudevents_BlobCreated.json")
DELETED = ("msdocs_eventgridschema_BlobDeleted.json", "msdocs_cloudevents_BlobDeleted.json")


def only(events: list[StorageEvent]) -> StorageEvent:
    assert len(events) == 1, events
    return events[0]


@pytest.mark.parametrize("name", CREATED)
def test_blob_created_both_schemas(name: str) -> None:
    ev = only(parse_events(raw(name)))
    assert ev.provider == "azure"
    assert ev.kind == "created"
    # the subject says test-container, the url says testcontainer: the subject wins
    assert ev.bucket == "test-container"
    assert ev.key == "new-file.txt"
    assert ev.size == 524288
    assert ev.etag == "0x8D4BCC2E4835CD0"  # unquoted
    assert ev.sequencer == "00000000000004420000000000028963"
    assert ev.event_time == datetime(2017, 6, 26, 18, 41, 0, 958410, tzinfo=UTC)
    assert ev.account == "my-storage-account"
    assert ev.version is None
    assert ev.name == "BlobCreated"
    assert ev.message_id == "831e1650-001e-001b-66ab-eeb76e069631"
    assert ev.envelope == ("eventgrid" if "eventgrid" in name else "cloudevents")


@pytest.mark.parametrize("name", DELETED)
def test_blob_deleted_both_schemas(name: str) -> None:
    ev = only(parse_events(load(name)))
    assert (ev.kind, ev.bucket, ev.key) == ("deleted", "testcontainer", "file-to-delete.txt")
    assert ev.size is None and ev.etag is None
    assert ev.sequencer == "0000000000000281000000000002F5CA"
    assert ev.event_time == datetime(2017, 11, 7, 20, 9, 22, 567400, tzinfo=UTC)
    assert ev.account == "my-storage-account"


def test_both_schemas_give_the_same_event_id() -> None:
    grid, cloud = (only(parse_events(load(n))) for n in CREATED)
    assert grid.event_id == cloud.event_id
    assert grid == cloud  # envelope, message_id and raw do not take part in equality
    assert only(parse_events(load(DELETED[0]))).event_id == only(parse_events(load(DELETED[1]))).event_id


def test_single_event_not_in_an_array() -> None:
    ev = only(parse_events(load(CREATED[0])[0]))
    assert ev.key == "new-file.txt"


def test_array_of_events_in_order_and_unquoted_etag() -> None:
    created = load(CREATED[0])[0]
    second = copy.deepcopy(created)
    second["subject"] = "/blobServices/default/containers/c2/blobs/dir/sub/a b.txt"
    second["data"]["eTag"] = "0x8D4BCC2E4835CD1"  # Event Grid sends it unquoted on some paths
    second["data"]["sequencer"] = "00000000000004420000000000028964"
    events = parse_events([created, second, load(DELETED[0])[0]])
    assert [(e.bucket, e.key, e.kind) for e in events] == [
        ("test-container", "new-file.txt", "created"),
        ("c2", "dir/sub/a b.txt", "created"),
        ("testcontainer", "file-to-delete.txt", "deleted"),
    ]
    assert events[1].etag == "0x8D4BCC2E4835CD1"
    assert len({e.event_id for e in events}) == 3


def test_url_is_the_fallback_when_subject_is_not_a_blob_subject() -> None:
    ev = load(CREATED[0])[0]
    del ev["subject"]
    ev["data"]["url"] = "https://acct.blob.core.windows.net/photos/2024/a%20b.jpg"
    got = only(parse_events(ev))
    assert (got.bucket, got.key) == ("photos", "2024/a b.jpg")


def test_validation_handshake() -> None:
    payload = raw("msdocs_SubscriptionValidationEvent.json")
    expected = load("msdocs_SubscriptionValidationResponse.json")["validationResponse"]
    assert validation_code(payload) == expected == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    assert parse_events(payload) == []
    controls = parse_batch(payload).controls
    assert [(c.provider, c.name, c.validation_code) for c in controls] == [
        ("azure", "Microsoft.EventGrid.SubscriptionValidationEvent", expected)
    ]


@pytest.mark.parametrize("payload", [b"not json", b"[]", raw(CREATED[0]), {"eventType": 3}, 42])
def test_no_validation_code_for_anything_else(payload: object) -> None:
    assert validation_code(payload) is None


def test_cloudevents_binary_mode_for_azure() -> None:
    ev = load(CREATED[1])[0]
    headers = {"ce-" + k: v for k, v in ev.items() if k != "data"}
    headers["Content-Type"] = "application/json"
    got = only(parse_cloudevent(headers, json.dumps(ev["data"]).encode()))
    assert (got.bucket, got.key, got.kind, got.size) == ("test-container", "new-file.txt", "created", 524288)


def test_other_event_grid_types_are_rejected_and_lifecycle_runs_are_controls() -> None:
    with pytest.raises(EventError, match=r"^\[0\]\.eventType is 'Microsoft\.KeyVault\.SecretNewVersionCreated'"):
        parse_events(raw("keyvault-SecretNewVersionCreated.eventgrid-schema.json"))
    run = {
        "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a",
        "subject": "BlobDataManagement/LifeCycleManagement/SummaryReport",
        "id": "1",
        "eventType": "Microsoft.Storage.LifecyclePolicyCompleted",
        "eventTime": "2024-01-01T00:00:00Z",
        "data": {},
    }
    assert parse_events([run]) == []


def test_missing_container_and_url_names_the_field() -> None:
    ev = load(CREATED[0])[0]
    ev["subject"] = "/blobServices/default/containers/only-a-container"
    del ev["data"]["url"]
    with pytest.raises(EventError, match=r"^subject missing or not a blob subject"):
        parse_events(ev)


def test_bad_content_length_names_the_field() -> None:
    ev = load(CREATED[1])
    ev[0]["data"]["contentLength"] = "lots"
    with pytest.raises(EventError, match=r"^\[0\]\.data\.contentLength must be a non-negative integer"):
        parse_events(ev)


def test_trigger_input_without_type_or_time_is_completed_from_data_api() -> None:
    """A CloudEvents-schema subscription gives the Python trigger None for type and time."""
    from core.events.azure import from_trigger

    sample = load("msdocs_cloudevents_BlobDeleted.json")[0]
    payload = from_trigger(
        event_id=sample["id"],
        topic=None,
        subject=sample["subject"],
        event_type=None,
        event_time=None,
        data_version=None,
        data=sample["data"],
    )
    [event] = parse_events(payload)
    assert (event.kind, event.bucket, event.key) == ("deleted", "testcontainer", "file-to-delete.txt")
    assert event.event_time.tzinfo is not None
