"""The StorageEvent contract and bad-input handling common to every envelope."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.events import EventError, StorageEvent, parse_events
from tests.events._data import load

PUT = "awsdocs_s3_ObjectCreatedPut.json"


def put_with(**changes: Any) -> dict[str, Any]:
    doc = load(PUT)
    rec = doc["Records"][0]
    for path, value in changes.items():
        target = rec
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return doc


def test_event_error_is_a_value_error() -> None:
    assert issubclass(EventError, ValueError)


def test_raw_is_kept_but_not_in_repr_or_equality() -> None:
    ev = parse_events(load(PUT))[0]
    assert ev.raw == load(PUT)["Records"][0]
    assert "raw" not in repr(ev) and "principalId" not in repr(ev)
    other = dataclasses.replace(ev, raw={"something": "else"}, message_id="x", envelope="sqs/s3")
    assert other == ev and hash(other) == hash(ev)
    assert dataclasses.replace(ev, key="other") != ev


def test_event_is_frozen_with_slots() -> None:
    ev = parse_events(load(PUT))[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.key = "x"  # type: ignore[misc]
    assert not hasattr(ev, "__dict__")


def test_event_time_is_aware_utc_whatever_the_offset() -> None:
    ev = parse_events(put_with(eventTime="2021-01-20T11:17:45.081104-08:00"))[0]
    assert ev.event_time == datetime(2021, 1, 20, 19, 17, 45, 81104, tzinfo=UTC)
    assert ev.event_time.utcoffset() == timedelta(0)


def test_quoted_etag_is_unquoted() -> None:
    assert parse_events(put_with(s3__object__eTag='"abc"'))[0].etag == "abc"


def test_string_size_is_accepted_as_int64() -> None:
    assert parse_events(put_with(s3__object__size="1024"))[0].size == 1024


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", r"^payload is not JSON \(Expecting property name"),
        ("", r"^payload is not JSON"),
        (b"\xff\xfe", r"^payload is not JSON"),
        (42, r"^payload must be a dict, list, str or bytes, got int"),
        (None, r"^payload must be a dict, list, str or bytes, got NoneType"),
        ({"hello": "world"}, r"^payload has an unknown envelope \(keys: hello\)"),
        ([1], r"^\[0\] must be a JSON object, got int"),
        ({"Records": {}}, r"^Records must be an array, got dict"),
        ({"Records": ["x"]}, r"^Records\[0\] must be a JSON object, got str"),
        ({"Records": [{"eventSource": "aws:kinesis"}]}, r"^Records\[0\]\.eventSource is 'aws:kinesis'"),
    ],
)
def test_unreadable_payloads(payload: Any, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_events(payload)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"s3__object__key": KeyError}, r"^Records\[0\]\.s3\.object\.key missing"),
        ({"s3__object__key": ""}, r"^Records\[0\]\.s3\.object\.key missing"),
        ({"s3__object__key": 7}, r"^Records\[0\]\.s3\.object\.key must be a string, got int"),
        ({"s3__bucket__name": KeyError}, r"^Records\[0\]\.s3\.bucket\.name missing"),
        ({"s3__bucket": "b"}, r"^Records\[0\]\.s3\.bucket must be an object, got str"),
        ({"s3": KeyError}, r"^Records\[0\]\.s3 missing"),
        ({"eventName": KeyError}, r"^Records\[0\]\.eventName missing"),
        ({"eventTime": "yesterday"}, r"^Records\[0\]\.eventTime is not an RFC 3339 time"),
        ({"eventTime": 0}, r"^Records\[0\]\.eventTime must be an RFC 3339 time string, got int"),
        ({"s3__object__size": "big"}, r"^Records\[0\]\.s3\.object\.size must be a non-negative integer"),
        ({"s3__object__size": -1}, r"^Records\[0\]\.s3\.object\.size must not be negative"),
        ({"s3__object__size": True}, r"^Records\[0\]\.s3\.object\.size must be a non-negative integer"),
        ({"s3__object__eTag": 5}, r"^Records\[0\]\.s3\.object\.eTag must be a string"),
        ({"s3__object__versionId": ["v"]}, r"^Records\[0\]\.s3\.object\.versionId must be a string"),
    ],
)
def test_bad_s3_record_fields_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_events(put_with(**change))


def test_error_names_the_record_index_in_a_batch() -> None:
    doc = load(PUT)
    rec = doc["Records"][0]
    doc["Records"] = [copy.deepcopy(rec) for _ in range(3)]
    del doc["Records"][2]["s3"]["object"]["key"]
    with pytest.raises(EventError) as info:
        parse_events(doc)
    assert str(info.value) == "Records[2].s3.object.key missing"
    assert info.value.where == "Records[2].s3.object.key"


def test_error_inside_an_sqs_body_names_the_full_path() -> None:
    inner = put_with(s3__object__key=KeyError)
    outer = load("powertools_s3SqsEvent.json")
    import json

    outer["Records"][0]["body"] = json.dumps(inner)
    with pytest.raises(EventError, match=r"^Records\[0\]\.body\.Records\[0\]\.s3\.object\.key missing$"):
        parse_events(outer)


def test_importing_core_events_loads_no_cloud_sdk() -> None:
    # diff against the modules present at start-up: .pth files pre-create the empty "google" namespace
    code = (
        "import sys; before = set(sys.modules); import core.events; "
        "bad = [m for m in set(sys.modules) - before if m.split('.')[0] in "
        "('boto3', 'botocore', 'azure', 'google', 'cloudevents', 'aws_lambda_powertools', 'functions_framework')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kinds_are_from_the_closed_set() -> None:
    from core.events.model import KINDS

    ev: StorageEvent = parse_events(load(PUT))[0]
    assert ev.kind in KINDS


def test_every_copied_vendor_payload_is_used_by_a_test() -> None:
    from pathlib import Path

    from tests.events._data import DATA

    sources = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    files = sorted(p for p in DATA.rglob("*") if p.is_file())  # per-cloud folders included
    unused = [p.relative_to(DATA).as_posix() for p in files if p.relative_to(DATA).as_posix() not in sources]
    assert len(files) > 60 and unused == []


def test_conftest_events_dir_is_the_payloads_inside_the_repo() -> None:
    from tests.conftest import EVENTS_DIR
    from tests.events._data import DATA

    assert EVENTS_DIR == DATA and (EVENTS_DIR / "awsdocs_s3_ObjectCreatedPut.json").is_file()
