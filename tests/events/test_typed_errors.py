"""Issue 12 finding 7: ``core.events`` raises only EventError, whatever it is given.

Each case here escaped as another exception type (or was silently misread) before the limits,
type checks and ASCII-only number rules; the fuzz test covers the same ground at random.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.events import EventError, parse_batch, parse_cloudevent, parse_events, subscription_validation_code
from core.events.limits import MAX_KEY_CHARS, MAX_NESTING, MAX_TEXT_BYTES
from tests.events._data import load

PUT = "awsdocs_s3_ObjectCreatedPut.json"
GCS: dict[str, Any] = {
    "specversion": "1.0",
    "type": "google.cloud.storage.object.v1.finalized",
    "source": "//storage.googleapis.com/projects/_/buckets/b",
    "id": "1",
    "time": "2024-01-01T00:00:00Z",
    "data": {"bucket": "b", "name": "k", "generation": "1", "metageneration": "1", "size": "12"},
}


def gcs(**data: Any) -> dict[str, Any]:
    return dict(GCS, data=dict(GCS["data"], **data))


def s3_put(**obj: Any) -> dict[str, Any]:
    doc = load(PUT)
    doc["Records"][0]["s3"]["object"].update(obj)
    return doc


def sqs_nested(levels: int) -> dict[str, Any]:
    """An S3 record inside ``levels`` SQS records whose bodies are already-decoded dicts."""
    doc: dict[str, Any] = load(PUT)
    for _ in range(levels):
        doc = {"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": doc}]}
    return doc


def typed(payload: Any, message: str) -> EventError:
    """parse_events and parse_batch both refuse ``payload`` with an EventError matching ``message``."""
    with pytest.raises(EventError, match=message) as info:
        parse_events(payload)
    try:
        batch = parse_batch(payload)
    except EventError as exc:
        assert type(exc) is EventError
    else:
        assert batch.failures and all(type(f.error) is EventError for f in batch.failures)
    assert type(info.value) is EventError
    return info.value


# --------------------------------------------------------------------------- the findings of issue 12


def test_deep_json_is_an_event_error_not_a_recursion_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    typed(deep, r"^payload is nested too deeply to decode")
    typed(deep.encode(), r"^payload is nested too deeply to decode")
    assert subscription_validation_code(deep) is None


def test_deep_json_inside_an_sqs_body() -> None:
    body = '{"a":' * 30_000 + "1" + "}" * 30_000
    doc = {"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": body}]}
    typed(doc, r"^Records\[0\]\.body is nested too deeply to decode")


def test_sns_type_that_is_a_list() -> None:
    typed({"Type": [], "TopicArn": "arn"}, r"^Type is a list, not an SNS Notification")


def test_gcp_legacy_event_type_that_is_an_object() -> None:
    typed({"context": {"eventType": {}}, "data": {}}, r"^context\.eventType must be a string, got dict")


def test_gcs_size_in_superscript_digits() -> None:
    typed(gcs(size="²"), r"^data\.size must be a non-negative integer, got '²'")


def test_gcs_size_in_other_unicode_digits_is_not_read_as_a_number() -> None:
    # "\u0661\u0662\u0663".isdigit() is True and int() reads it as 123: it used to be accepted silently
    typed(gcs(size="\u0661\u0662\u0663"), r"^data\.size must be a non-negative integer")
    typed(gcs(generation="\uff11\uff12"), r"^data\.generation must be a non-negative integer")


def test_numbers_beyond_int64_and_beyond_int_str_limits() -> None:
    typed(gcs(size="9" * 5000), r"^data\.size must be a non-negative integer")  # int() raised ValueError
    typed(gcs(size=2**64), r"^data\.size must fit in 64 bits")
    typed(gcs(generation=10**5000), r"^data\.generation must fit in 64 bits")  # str() raised ValueError
    typed(s3_put(size=2**63), r"^Records\[0\]\.s3\.object\.size must fit in 64 bits")
    typed(
        s3_put(versionId=10**5000),
        r"^Records\[0\]\.s3\.object\.versionId must be a string, got an integer out of range",
    )


def test_records_holding_none_and_top_level_arrays() -> None:
    typed({"Records": [None]}, r"^Records\[0\] must be a JSON object, got NoneType")
    typed([None, 1], r"^\[0\] must be a JSON object, got NoneType")
    typed("[[]]", r"^\[0\] must be a JSON object, got list")
    batch = parse_batch({"Records": [None, load(PUT)["Records"][0]]})
    assert [f.index for f in batch.failures] == [0] and len(batch.events) == 1


def test_time_out_of_range_after_the_offset() -> None:
    doc = load(PUT)
    doc["Records"][0]["eventTime"] = "9999-12-31T23:59:59-23:59"  # OverflowError in astimezone
    typed(doc, r"^Records\[0\]\.eventTime is not an RFC 3339 time")


def test_azure_url_that_urlsplit_refuses() -> None:
    ev = {
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2024-01-01T00:00:00Z",
        "data": {"url": "https://[x/c/b"},
    }
    typed(ev, r"^data\.url is not a URL")


def test_envelopes_nested_past_the_limit() -> None:
    assert len(parse_events(sqs_nested(MAX_NESTING))) == 1
    typed(sqs_nested(MAX_NESTING + 1), rf"nests envelopes more than {MAX_NESTING} deep")
    typed(sqs_nested(3000), r"nests envelopes more than")  # was a RecursionError


def test_values_of_other_types_in_type_fields() -> None:
    typed({"specversion": "1.0", "type": ["x"]}, r"^type must be a string, got list")
    typed({"eventType": {"a": 1}, "data": {}}, r"^eventType must be a string, got dict")
    typed({"Records": [{"eventSource": ["aws:s3"]}]}, r"^Records\[0\]\.eventSource is a list")
    typed({"detail-type": "Object Created", "source": {"x": 1}}, r"^source is a dict: only aws\.s3")
    typed(
        {"message": {"attributes": {"eventType": 1}}, "subscription": "s"},
        r"^message\.attributes\.eventType must be a string",
    )


def test_payload_size_limit() -> None:
    big = " " * (MAX_TEXT_BYTES + 1)
    typed(big, rf"^payload is larger than {MAX_TEXT_BYTES} bytes")


def test_key_longer_than_any_cloud_allows() -> None:
    typed(s3_put(key="k" * (MAX_KEY_CHARS + 1)), rf"^event 0 has a key longer than {MAX_KEY_CHARS} characters")
    assert parse_events(s3_put(key="k" * MAX_KEY_CHARS))[0].key == "k" * MAX_KEY_CHARS


def test_errors_do_not_echo_long_or_nested_values() -> None:
    secret = "s3cr3t" * 1000
    err = typed({"Type": secret, "TopicArn": "arn"}, r"^Type is 's3cr3t")
    assert len(str(err)) < 200
    nested: Any = []
    for _ in range(50_000):
        nested = [nested]  # repr() of this raises RecursionError
    err = typed({"detail-type": "x", "source": nested}, r"^source is a list")
    assert len(str(err)) < 200


def test_unknown_keys_are_listed_briefly() -> None:
    err = typed({("k" * 500): 1, "other": 2}, r"^payload has an unknown envelope \(keys: k{40}, other\)")
    assert len(str(err)) < 400


# ------------------------------------------------------------------------------ the other entry points


@pytest.mark.parametrize(
    "payload",
    [
        "[" * 100_000,
        "[" * 50_000 + "]" * 50_000,
        b"\xff\xfe\x00",
        [None],
        [[{"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent"}]],
        {"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": []},
        {"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {"validationCode": 7}},
        object(),
        3.5,
    ],
)
def test_subscription_validation_code_is_none_for_unreadable_input(payload: Any) -> None:
    assert subscription_validation_code(payload) is None


def test_parse_cloudevent_headers_of_the_wrong_type() -> None:
    with pytest.raises(EventError, match=r"^headers must be a mapping"):
        parse_cloudevent([("ce-type", "x")], b"{}")  # type: ignore[arg-type]
    with pytest.raises(EventError, match=r"^ce-type must be a string, got list"):
        parse_cloudevent({"ce-type": ["x"], "ce-specversion": "1.0"}, b"{}")  # type: ignore[dict-item]
    with pytest.raises(EventError, match=r"^body is nested too deeply"):
        parse_cloudevent(
            {"ce-type": "google.cloud.storage.object.v1.finalized", "ce-specversion": "1.0"}, "[" * 100_000
        )
    with pytest.raises(EventError, match=r"^data must be an object"):
        parse_cloudevent(
            {"ce-type": "google.cloud.storage.object.v1.finalized", "ce-specversion": "1.0"}, json.dumps([1])
        )
