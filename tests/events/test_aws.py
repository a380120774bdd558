"""S3 changes through every AWS envelope: direct, SQS, SNS, SNS->SQS (wrapped and raw), EventBridge."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from core.events import EventError, StorageEvent, parse_batch, parse_events
from tests.events._data import load, raw, template

PUT = "awsdocs_s3_ObjectCreatedPut.json"


def only(events: list[StorageEvent]) -> StorageEvent:
    assert len(events) == 1, events
    return events[0]


def check_docs_put(ev: StorageEvent) -> None:
    """The fields of the AWS documentation's PUT example, whatever envelope carried it."""
    assert ev.provider == "aws"
    assert ev.kind == "created"
    assert ev.bucket == "mybucket"
    assert ev.key == "HappyFace.jpg"
    assert ev.size == 1024
    assert ev.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert ev.version == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert ev.sequencer == "0055AED6DCD90281E5"
    assert ev.event_time == datetime(1970, 1, 1, tzinfo=UTC)
    assert ev.region == "us-west-2"
    assert ev.name == "ObjectCreated:Put"
    assert ev.event_id.startswith("aws:")


# ---------------------------------------------------------------------------- direct S3 notifications


def test_awsdocs_put_direct_from_bytes_str_and_dict() -> None:
    for payload in (raw(PUT), raw(PUT).decode(), load(PUT)):
        ev = only(parse_events(payload))
        check_docs_put(ev)
        assert ev.envelope == "s3"
        assert ev.message_id is None


def test_powertools_s3_event() -> None:
    ev = only(parse_events(load("powertools_s3Event.json")))
    assert (ev.kind, ev.bucket, ev.key) == (
        "created",
        "lambda-artifacts-deafc19498e3f2df",
        "b21b84d653bb07b05b1e6b33684dc11b",
    )
    assert ev.size == 1305107
    assert ev.etag == "b21b84d653bb07b05b1e6b33684dc11b"
    assert ev.version is None
    assert ev.sequencer == "0C0F6F405D6ED209E1"
    assert ev.event_time == datetime(2019, 9, 3, 19, 37, 27, 192000, tzinfo=UTC)
    assert ev.region == "us-east-2"


def test_powertools_s3_glacier_created_event() -> None:
    ev = only(parse_events(load("powertools_s3EventGlacier.json")))
    assert (ev.kind, ev.size, ev.key) == ("created", 1305107, "b21b84d653bb07b05b1e6b33684dc11b")


def test_powertools_s3_delete_has_no_size_or_etag() -> None:
    ev = only(parse_events(load("powertools_s3EventDeleteObject.json")))
    assert ev.kind == "deleted"
    assert ev.name == "ObjectRemoved:Delete"
    assert ev.bucket == "lambda-artifacts-deafc19498e3f2df"
    assert ev.size is None and ev.etag is None
    assert ev.sequencer == "0C0F6F405D6ED209E1"


@pytest.mark.parametrize("name", ["powertools_s3EventDecodedKey.json", "lambdago_s3-event-with-decoded.json"])
def test_encoded_key_is_decoded_from_the_wire_field(name: str) -> None:
    doc = load(name)
    # urlDecodedKey is added by client libraries, not by S3: drop it so only the wire field is used.
    del doc["Records"][0]["s3"]["object"]["urlDecodedKey"]
    ev = only(parse_events(doc))
    assert ev.key == "Happy Face.jpg"
    assert ev.bucket == "sourcebucket"
    assert ev.version == "version"
    assert ev.sequencer == "Happy Sequencer"
    assert ev.event_time == datetime(1970, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert ev.region == "us-east-1"


@pytest.mark.parametrize("name", ["lambdago_s3-restore-event.json", "lambdago_s3-glacier-event.json"])
def test_restore_completed(name: str) -> None:
    ev = only(parse_events(load(name)))
    assert ev.kind == "restored"
    assert ev.name == "ObjectRestore:Completed"  # the "s3:" prefix of this sample is dropped
    assert ev.key == "glacier-test.txt"  # from glacier%2Dtest.txt
    assert ev.bucket == "example-bucket"
    assert ev.size == 1024
    assert ev.version == "abcdeH0Xp66ep__QDjR76LK7Gc9X4wKO"
    assert ev.event_time == datetime(2023, 5, 10, 15, 0, 0, 123000, tzinfo=UTC)


def test_intelligent_tiering_transition_is_other() -> None:
    ev = only(parse_events(load("lambdago_s3-intelligenttier-event.json")))
    assert ev.kind == "other"
    assert ev.key == "intelligent-tier-test.dat"
    assert ev.size == 5242880
    assert ev.name == "IntelligentTiering:TransitionAccess"


def test_samcli_put_and_delete_templates_filled() -> None:
    values = {"region": "eu-west-3", "bucket": "my-bucket", "partition": "aws", "key": "dir/red+flower%282%29.jpg"}
    put = only(parse_events(template("samcli_S3Put.template.json", **values)))
    assert (put.kind, put.bucket, put.key, put.region) == ("created", "my-bucket", "dir/red flower(2).jpg", "eu-west-3")
    assert (put.size, put.etag) == (1024, "0123456789abcdef0123456789abcdef")
    delete = only(parse_events(template("samcli_S3Delete.template.json", **values)))
    assert (delete.kind, delete.key, delete.size) == ("deleted", "dir/red flower(2).jpg", None)
    assert delete.event_id != put.event_id


def test_plus_is_space_and_encoded_plus_is_plus() -> None:
    doc = load(PUT)
    doc["Records"][0]["s3"]["object"]["key"] = "a+b%2Bc/%C3%A9t%C3%A9.txt"
    assert only(parse_events(doc)).key == "a b+c/été.txt"


def test_s3_test_event_is_a_control_message() -> None:
    assert parse_events(raw("awsdocs_s3_TestEvent.json")) == []
    batch = parse_batch(raw("awsdocs_s3_TestEvent.json"))
    assert batch.events == [] and batch.failures == []
    assert [c.name for c in batch.controls] == ["s3:TestEvent"]


def test_batch_yields_one_event_per_record_in_order() -> None:
    doc = load(PUT)
    first = doc["Records"][0]
    doc["Records"] = []
    for i in range(3):
        rec = copy.deepcopy(first)
        rec["s3"]["object"]["key"] = f"k{i}"
        rec["s3"]["object"]["sequencer"] = f"00{i}"
        doc["Records"].append(rec)
    events = parse_events(doc)
    assert [e.key for e in events] == ["k0", "k1", "k2"]
    assert len({e.event_id for e in events}) == 3


# --------------------------------------------------------------------------------------- SQS / SNS


def sqs_record(body: str, message_id: str = "m-1") -> dict[str, object]:
    rec = copy.deepcopy(load("powertools_s3SqsEvent.json")["Records"][0])
    rec["body"] = body
    rec["messageId"] = message_id
    return rec


def test_powertools_s3_sqs_event() -> None:
    ev = only(parse_events(load("powertools_s3SqsEvent.json")))
    assert (ev.kind, ev.bucket, ev.key) == ("created", "xxx", "test.pdf")
    assert ev.size == 104681
    assert ev.etag == "2e3ad1e983318bbd8e73b080e2997980"
    assert ev.version == "yd3d4HaWOT2zguDLvIQLU6ptDTwKBnQV"
    assert ev.sequencer == "00643717F9F8B85354"
    assert ev.event_time == datetime(2023, 4, 12, 20, 43, 38, 21000, tzinfo=UTC)
    assert ev.message_id == "ca3e7a89-c358-40e5-8aa0-5da01403c267"
    assert ev.envelope == "sqs/s3"


def test_samcli_sqs_template_around_the_docs_put() -> None:
    text = template(
        "samcli_Sqs.template.json",
        body=raw(PUT).decode(),
        account_id="123456789012",
        md5_of_body="x",
        partition="aws",
        region="us-west-2",
        queue_name="q",
    )
    ev = only(parse_events(text))
    check_docs_put(ev)
    assert ev.message_id == "19dd0b57-b21e-4ac1-bd88-01bbb068cb78"


def test_samcli_sns_template_around_the_docs_put() -> None:
    text = template(
        "samcli_Sns.template.json",
        message=raw(PUT).decode(),
        partition="aws",
        region="us-west-2",
        accountId="123456789012",
        account_id="123456789012",
        topic="t",
        subject="Amazon S3 Notification",
    )
    ev = only(parse_events(text))
    check_docs_put(ev)
    assert ev.envelope == "sns/s3"
    assert ev.message_id == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"


def test_sns_lambda_record_with_s3_message() -> None:
    doc = load("powertools_snsEvent.json")
    doc["Records"][0]["Sns"]["Message"] = raw(PUT).decode()
    check_docs_put(only(parse_events(doc)))


def test_s3_sns_sqs_wrapped_delivery() -> None:
    doc = load("powertools_snsSqsEvent.json")
    envelope = json.loads(doc["Records"][0]["body"])
    envelope["Message"] = raw(PUT).decode()
    doc["Records"][0]["body"] = json.dumps(envelope)
    ev = only(parse_events(doc))
    check_docs_put(ev)
    assert ev.envelope == "sqs/sns/s3"
    assert ev.message_id == "79406a00-bf15-46ca-978c-22c3613fcb30"  # the SQS message, for batch failures


def test_s3_sns_sqs_fifo_wrapped_delivery() -> None:
    doc = load("powertools_snsSqsFifoEvent.json")
    envelope = json.loads(doc["Records"][0]["body"])
    envelope["Message"] = raw(PUT).decode()
    doc["Records"][0]["body"] = json.dumps(envelope)
    check_docs_put(only(parse_events(doc)))


def test_s3_sns_sqs_raw_message_delivery() -> None:
    ev = only(parse_events({"Records": [sqs_record(raw(PUT).decode())]}))
    check_docs_put(ev)
    assert ev.envelope == "sqs/s3"


def test_s3_test_event_through_sqs_and_sns_confirmation_are_controls() -> None:
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "TopicArn": "arn:aws:sns:eu-west-1:1:t",
        "Message": "x",
        "SubscribeURL": "https://sns.example/confirm",
    }
    doc = {
        "Records": [
            sqs_record(raw("awsdocs_s3_TestEvent.json").decode(), "a"),
            sqs_record(json.dumps(confirmation), "b"),
        ]
    }
    assert parse_events(doc) == []
    assert [c.name for c in parse_batch(doc).controls] == ["s3:TestEvent", "sns:SubscriptionConfirmation"]


def test_redelivery_gives_the_same_event_id_and_equal_events() -> None:
    body = raw(PUT).decode()
    first, second = parse_events({"Records": [sqs_record(body, "m-1"), sqs_record(body, "m-2")]})
    assert first.message_id != second.message_id
    assert first.event_id == second.event_id
    assert first == second and hash(first) == hash(second)


# ---------------------------------------------------------------------------------------- EventBridge


def test_eventbridge_object_created() -> None:
    ev = only(parse_events(load("powertools_s3EventBridgeNotificationObjectCreatedEvent.json")))
    assert (ev.kind, ev.bucket, ev.key) == ("created", "example-bucket", "IMG_m7fzo3.jpg")
    assert ev.size == 184662
    assert ev.etag == "4e68adba0abe2dc8653dc3354e14c01d"
    assert ev.sequencer == "006408CAD69598B05E"
    assert ev.event_time == datetime(2023, 3, 8, 17, 50, 14, tzinfo=UTC)
    assert (ev.account, ev.region) == ("123456789012", "eu-west-1")
    assert ev.message_id == "f5f1e65c-dc3a-93ca-6c1e-b1647eac7963"
    assert ev.envelope == "eventbridge"


def test_eventbridge_object_deleted_and_expired() -> None:
    deleted = only(parse_events(load("powertools_s3EventBridgeNotificationObjectDeletedEvent.json")))
    assert (deleted.kind, deleted.key, deleted.size, deleted.etag) == ("deleted", "IMG_m7fzo3.jpg", None, None)
    assert (deleted.account, deleted.region) == ("111122223333", "ca-central-1")
    assert deleted.event_time == datetime(2021, 11, 12, tzinfo=UTC)
    expired = only(parse_events(load("powertools_s3EventBridgeNotificationObjectExpiredEvent.json")))
    assert (expired.kind, expired.size, expired.etag) == ("deleted", 184662, "4e68adba0abe2dc8653dc3354e14c01d")
    # both samples describe the same change (same object, sequencer and kind): one dedup key
    assert expired.event_id == deleted.event_id


def test_eventbridge_restore_completed() -> None:
    ev = only(parse_events(load("powertools_s3EventBridgeNotificationObjectRestoreCompletedEvent.json")))
    assert (ev.kind, ev.name, ev.size) == ("restored", "Object Restore Completed", 184662)


def test_eventbridge_through_sqs() -> None:
    body = raw("powertools_s3EventBridgeNotificationObjectCreatedEvent.json").decode()
    ev = only(parse_events({"Records": [sqs_record(body, "sqs-9")]}))
    assert (ev.kind, ev.bucket, ev.key, ev.size) == ("created", "example-bucket", "IMG_m7fzo3.jpg", 184662)
    assert ev.envelope == "sqs/eventbridge"
    assert ev.message_id == "sqs-9"


def test_same_change_via_notification_and_eventbridge_has_one_event_id() -> None:
    rec = load(PUT)["Records"][0]
    obj = rec["s3"]["object"]
    bridge = {
        "version": "0",
        "id": "e-1",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "1970-01-01T00:00:00Z",
        "region": "us-west-2",
        "resources": ["arn:aws:s3:::mybucket"],
        "detail": {
            "version": "0",
            "bucket": {"name": "mybucket"},
            "object": {
                "key": obj["key"],
                "size": obj["size"],
                "etag": obj["eTag"],
                "version-id": obj["versionId"],
                "sequencer": obj["sequencer"],
            },
            "reason": "PutObject",
        },
    }
    via_bridge = only(parse_events(bridge))
    check_docs_put(only(parse_events(load(PUT))))
    assert via_bridge.event_id == only(parse_events(load(PUT))).event_id
    assert via_bridge.version == obj["versionId"]


# ------------------------------------------------------------------------------- not storage events


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("powertools_sqsEvent.json", "Records[0].body is not JSON"),
        ("powertools_sqsDlqTriggerEvent.json", "Records[0].body is not JSON"),
        ("powertools_snsEvent.json", "Records[0].Sns.Message is not JSON"),
        ("powertools_snsSqsEvent.json", "Records[0].body.Message has an unknown envelope"),
        ("powertools_eventBridgeEvent.json", "source is 'aws.ec2'"),
    ],
)
def test_non_storage_aws_payloads_are_rejected_with_the_field(name: str, where: str) -> None:
    with pytest.raises(EventError) as info:
        parse_events(raw(name))
    assert str(info.value).startswith(where)


def test_scheduled_event_template_is_not_a_storage_event() -> None:
    text = template(
        "samcli_ScheduledEvent.template.json",
        region="us-east-1",
        partition="aws",
        account_id="123456789012",
        rule="nightly",
    )
    with pytest.raises(EventError, match=r"source is 'aws\.events'"):
        parse_events(text)


def test_parse_batch_reports_the_bad_sqs_message_and_keeps_the_rest() -> None:
    doc = {
        "Records": [
            sqs_record(raw(PUT).decode(), "good"),
            sqs_record("hello world", "bad"),
            sqs_record(raw("powertools_s3Event.json").decode(), "good2"),
        ]
    }
    with pytest.raises(EventError, match=r"^Records\[1\]\.body is not JSON"):
        parse_events(doc)
    batch = parse_batch(doc)
    assert [e.message_id for e in batch.events] == ["good", "good2"]
    assert [(f.index, f.message_id) for f in batch.failures] == [(1, "bad")]
    assert str(batch.failures[0].error).startswith("Records[1].body")
