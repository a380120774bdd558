"""The runtime (contract C2): ``Circle`` builds stores once, routes events, settles each delivery as
ok / retry / dead_letter, writes dead-letter records, honours the remaining-time guard and logs one
structured outcome line per event."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from core.config import parse_config
from core.events import StorageEvent
from core.handlers.dead_letter import StoreDeadLetterSink
from core.handlers.storage_events import (
    StorageEventHandler,
    default_handler,
    handle_or_raise,
    reset_default_handler,
)
from core.runtime import Circle, Delivery
from core.storage import ObjectStore, open_store

DATA = Path(__file__).resolve().parent.parent / "events" / "data"


class ListSink:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"rt-src-{tag}", f"rt-dst-{tag}"


def _config(src: str, dst: str, **rule: Any) -> Any:
    return parse_config(
        {
            "stores": {"src": {"url": f"memory://{src}"}, "dst": {"url": f"memory://{dst}"}},
            "replication": [{"source": "src", "targets": ["dst"], "propagate_deletes": True, **rule}],
        }
    )


def _event(bucket: str, key: str, kind: str = "created", size: int | None = None) -> StorageEvent:
    return StorageEvent(
        provider="memory",  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        bucket=bucket,
        key=key,
        event_time=datetime.now(UTC),
        event_id=f"memory:{bucket}:{key}:{kind}",
        size=size,
    )


def test_events_converge_and_stores_are_opened_once() -> None:
    src, dst = _names()
    circle = Circle.from_config(_config(src, dst, target_prefix="copy/"))
    assert circle.store("src") is circle.store("src")
    circle.store("src").put("a", b"A")
    delivery = circle.handle_events([_event(src, "a"), _event(src, "a")])
    assert isinstance(delivery, Delivery)
    assert delivery.status == "ok" and delivery.reason == ""
    assert [o.action for r in delivery.results for o in r.outcomes] == ["copied", "skipped"]
    assert open_store(f"memory://{dst}").get("copy/a").read() == b"A"
    circle.store("src").delete("a")
    gone = circle.handle_events([_event(src, "a", "deleted")])
    assert [o.action for r in gone.results for o in r.outcomes] == ["deleted"]
    assert not open_store(f"memory://{dst}").exists("copy/a")


def test_two_rules_routing_an_object_to_the_same_key_converge_it_once() -> None:
    src, dst = _names()
    config = parse_config(
        {
            "stores": {"src": {"url": f"memory://{src}"}, "dst": {"url": f"memory://{dst}"}},
            "replication": [
                {"source": "src", "targets": ["dst"], "prefix": "img/"},
                {"source": "src", "targets": ["dst"], "suffix": ".png"},
            ],
        }
    )
    circle = Circle.from_config(config)
    circle.store("src").put("img/a.png", b"A")
    [result] = circle.handle_events([_event(src, "img/a.png")]).results
    assert [(o.target, o.key, o.action) for o in result.outcomes] == [("dst", "img/a.png", "copied")]


def test_one_structured_outcome_line_per_event(caplog: pytest.LogCaptureFixture) -> None:
    src, dst = _names()
    circle = Circle.from_config(_config(src, dst))
    circle.store("src").put("a", b"A")
    with caplog.at_level(logging.INFO, logger="circle.replication"):
        circle.handle_events([_event(src, "a")])
    lines = [r for r in caplog.records if r.name == "circle.replication" and r.levelno == logging.INFO]
    assert len(lines) == 1
    line: Any = lines[0]
    assert (line.getMessage(), line.summary) == ("storage event handled", "dst: copied")
    assert (line.event_kind, line.bucket, line.key, line.ok, line.failure) == ("created", src, "a", True, None)
    assert line.outcomes[0]["action"] == "copied" and line.outcomes[0]["consistency"] == "strong"


def test_an_event_matching_no_rule_warns_with_the_bucket_and_sources(caplog: pytest.LogCaptureFixture) -> None:
    src, dst = _names()
    circle = Circle.from_config(_config(src, dst))
    with caplog.at_level(logging.INFO, logger="circle.replication"):
        delivery = circle.handle_events([_event("some-other-bucket", "a")])
    assert delivery.status == "ok" and delivery.results[0].outcomes == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    warning: Any = warnings[0]
    assert warning.getMessage() == "no replication rule matches the event"
    assert (warning.bucket, warning.key) == ("some-other-bucket", "a")
    assert f"src (memory://{src})" in warning.configured_sources


def test_too_little_time_left_defers_every_target_without_starting_it() -> None:
    src, dst = _names()
    circle = Circle.from_config(_config(src, dst))
    circle.store("src").put("big", b"x" * 1000)
    delivery = circle.handle_events([_event(src, "big", size=1000)], deadline=lambda: 1.0)
    assert delivery.status == "retry"
    [outcome] = delivery.results[0].outcomes
    assert (outcome.action, outcome.failure) == ("deferred", "retryable")
    assert not open_store(f"memory://{dst}").exists("big")  # never half-copied
    later = circle.handle_events([_event(src, "big", size=1000)], deadline=lambda: 60.0)
    assert later.status == "ok"


def test_the_time_needed_grows_with_the_object_size() -> None:
    src, dst = _names()
    circle = Circle.from_config(_config(src, dst))
    small, large = _event(src, "s", size=0), _event(src, "l", size=1024**3)
    assert circle.time_needed(small) == circle.reserve_seconds
    assert 60 < circle.time_needed(large) < 70  # 1 GiB at 16 MiB/s, plus the reserve
    assert circle.may_start(large, 300.0) == (True, circle.time_needed(large))
    assert circle.may_start(large, 50.0) == (False, circle.time_needed(large))
    assert circle.may_start(small, 4.0) == (False, circle.reserve_seconds)


def test_an_object_larger_than_any_invocation_allows_starts_when_one_is_fresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    src, dst = _names()
    circle = Circle.from_config(_config(src, dst))
    huge = _event(src, "h", size=20 * 1024**3)  # about 1,280 s at 16 MiB/s, the function has 300 s
    with caplog.at_level(logging.WARNING, logger="circle.replication"):
        assert circle.may_start(huge, 300.0, budget=300.0) == (True, 270.0)  # never deferred forever
        assert circle.may_start(huge, 100.0, budget=300.0) == (False, 270.0)  # but not late in an invocation
        assert circle.may_start(huge, 300.0) == (False, circle.time_needed(huge))  # no budget: fresh is unknown
    [warning] = [r for r in caplog.records if r.name == "circle.replication"]  # not circle.config's INFO lines
    assert warning.levelno == logging.WARNING and "raise the function timeout" in warning.getMessage()


def test_an_unreadable_payload_is_dead_lettered_never_raised() -> None:
    src, dst = _names()
    sink = ListSink()
    circle = Circle.from_config(_config(src, dst), dead_letter=sink)
    for payload in ({"Records": [None]}, [1, 2], {"nothing": "here"}, b"\xff\xfe not json"):
        delivery = circle.handle_delivery(payload)
        assert delivery.status == "dead_letter" and delivery.reason.startswith("unreadable payload")
    assert len(sink.records) == 4 and all(r["failure"] == "permanent" for r in sink.records)
    without_sink = Circle.from_config(_config(src, dst)).handle_delivery({"Records": [None]})
    assert (without_sink.status, without_sink.dead_lettered) == ("dead_letter", False)


def test_permanent_failures_go_to_the_store_sink_once_per_event(caplog: pytest.LogCaptureFixture) -> None:
    src, dst = _names()
    letters = open_store(f"memory://{uuid.uuid4().hex}")
    sink = StoreDeadLetterSink(letters, "dead-letter/")
    circle = Circle.from_config(_config(src, dst, target_prefix="x" * 1100), dead_letter=sink)
    circle.store("src").put("k", b"v")
    with caplog.at_level(logging.INFO, logger="circle.replication"):
        first = circle.handle_events([_event(src, "k")])
        again = circle.handle_events([_event(src, "k")])  # a redelivery overwrites its record
    assert first.status == again.status == "dead_letter"
    assert first.results[0].failure == "permanent" and first.results[0].dead_lettered
    [record_info] = list(letters.list("dead-letter/"))
    record = json.loads(letters.get(record_info.key).read())  # type: ignore[union-attr]
    assert record["failure"] == "permanent" and "InvalidKey" in record["reason"]
    assert record["event"]["bucket"] == src and record["event"]["key"] == "k"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "InvalidKey" in errors[0].reason  # type: ignore[attr-defined]


def test_without_a_sink_permanent_failures_are_logged_as_the_record_never_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No sink: the delivery says ``dead_letter`` but not ``dead_lettered`` (adapters hand it to the
    platform's dead-letter path where one exists, else acknowledge); the ERROR line carries the record."""
    src, dst = _names()
    circle = Circle.from_config(_config(src, dst, target_prefix="x" * 1100))
    circle.store("src").put("k", b"v")
    with caplog.at_level(logging.WARNING, logger="circle.replication"):
        delivery = circle.handle_events([_event(src, "k")])
        again = circle.handle_events([_event(src, "k")])  # the same event redelivered: still not a retry
    assert (delivery.status, delivery.dead_lettered) == (again.status, again.dead_lettered) == ("dead_letter", False)
    assert not delivery.results[0].dead_lettered and "InvalidKey" in delivery.reason
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "no dead-letter sink is configured" in errors[0].getMessage()
    record = errors[0].record  # type: ignore[attr-defined]
    assert record["failure"] == errors[0].failure == "permanent"  # type: ignore[attr-defined]
    assert (record["event"]["bucket"], record["event"]["key"]) == (src, "k") and "InvalidKey" in record["reason"]
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_a_sink_that_cannot_be_opened_keeps_the_event_for_retry(caplog: pytest.LogCaptureFixture) -> None:
    src, dst = _names()
    config = parse_config(
        {
            "stores": {
                "src": {"url": f"memory://{src}"},
                "dst": {"url": f"memory://{dst}"},
                "letters": {
                    "url": "s3://letters",
                    "access_key_id": "secret://nowhere/id",
                    "secret_access_key": "secret://nowhere/key",
                },
            },
            "replication": [{"source": "src", "targets": ["dst"], "target_prefix": "x" * 1100}],
            "dead_letter": {"store": "letters"},
        }
    )
    circle = Circle.from_config(config)
    circle.store("src").put("k", b"v")
    with caplog.at_level(logging.ERROR, logger="circle.replication"):
        delivery = circle.handle_events([_event(src, "k")])
    assert (delivery.status, delivery.dead_lettered) == ("retry", False)  # configured, but it took nothing
    assert any("dead-letter sink cannot be opened" in r.getMessage() for r in caplog.records)


def test_configuration_failures_keep_no_secret_in_records_or_logs(
    emulators: Any, caplog: pytest.LogCaptureFixture
) -> None:
    src, _ = _names()
    missing = f"missing-{uuid.uuid4().hex[:10]}"
    options = {**emulators.store_options()["s3"], "secret_access_key": "SUPERSECRETVALUE"}  # moto takes any key
    config = parse_config(
        {
            "stores": {"src": {"url": f"memory://{src}"}, "dst": {"url": f"s3://{missing}", **options}},
            "replication": [{"source": "src", "targets": ["dst"]}],
        }
    )
    sink = ListSink()
    circle = Circle.from_config(config, dead_letter=sink)
    circle.store("src").put("k", b"v")
    with caplog.at_level(logging.DEBUG):
        delivery = circle.handle_events([_event(src, "k")])
    assert delivery.status == "dead_letter"
    assert sink.records[0]["failure"] == "configuration"
    assert sink.records[0]["reason"] == f"dst/k: target bucket {missing} does not exist"
    assert "SUPERSECRETVALUE" not in json.dumps(sink.records) + caplog.text + repr(delivery.as_dict()) + repr(circle)


def test_a_failing_sink_keeps_the_event_for_the_platform() -> None:
    class Broken:
        def write(self, record: dict[str, Any]) -> None:
            raise OSError("sink down")

    src, dst = _names()
    circle = Circle.from_config(_config(src, dst, target_prefix="x" * 1100), dead_letter=Broken())
    circle.store("src").put("k", b"v")
    assert circle.handle_events([_event(src, "k")]).status == "retry"


def test_the_dead_letter_setting_of_the_config_builds_a_store_sink() -> None:
    src, dst = _names()
    letters = f"letters-{uuid.uuid4().hex[:8]}"
    config = _config(src, dst, target_prefix="x" * 1100)
    if not hasattr(config, "dead_letter"):
        pytest.xfail("Config.dead_letter arrives with the configuration schema (contract C3)")
    data = {
        "stores": {
            "src": {"url": f"memory://{src}"},
            "dst": {"url": f"memory://{dst}"},
            "letters": {"url": f"memory://{letters}"},
        },
        "replication": [{"source": "src", "targets": ["dst"], "target_prefix": "x" * 1100}],
        "dead_letter": {"store": "letters", "prefix": "dl/"},
    }
    circle = Circle.from_config(parse_config(data))
    circle.store("src").put("k", b"v")
    assert circle.handle_events([_event(src, "k")]).status == "dead_letter"
    assert [o.key for o in open_store(f"memory://{letters}").list("dl/")]  # type: ignore[union-attr]


def test_from_env_reads_circle_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = _names()
    path = tmp_path / "circle.toml"
    path.write_text(
        f'[stores.src]\nurl = "memory://{src}"\n[stores.dst]\nurl = "memory://{dst}"\n'
        '[[replication]]\nsource = "src"\ntargets = ["dst"]\n'
    )
    monkeypatch.setenv("CIRCLE_CONFIG", str(path))
    monkeypatch.delenv("CIRCLE_ENV", raising=False)
    circle = Circle.from_env()
    assert sorted(circle.config.stores) == ["dst", "src"]
    reset_default_handler()
    handler = default_handler()
    assert default_handler() is handler and isinstance(handler, StorageEventHandler)
    handler.store("src").put("k", b"v")
    payload_events = [_event(src, "k")]
    assert [r.ok for r in handler.handle_all(payload_events)] == [True]
    reset_default_handler()


def test_handle_delivery_reads_a_real_s3_notification(
    emulators: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = "lambda-artifacts-deafc19498e3f2df"
    key = "b21b84d653bb07b05b1e6b33684dc11b"
    boto3.client(
        "s3",
        endpoint_url=emulators.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    dst = f"rt-{uuid.uuid4().hex[:8]}"
    config = parse_config(
        {
            "stores": {
                "src": {"url": f"s3://{bucket}", **emulators.store_options()["s3"]},
                "dst": {"url": f"memory://{dst}"},
            },
            "replication": [{"source": "src", "targets": ["dst"]}],
        }
    )
    circle = Circle.from_config(config)
    source: ObjectStore = circle.store("src")
    source.put(key, b"payload")
    delivery = circle.handle_delivery(json.loads((DATA / "powertools_s3Event.json").read_text()))
    assert delivery.status == "ok", delivery.reason
    assert open_store(f"memory://{dst}").get(key).read() == b"payload"
    monkeypatch.setattr(circle, "reserve_seconds", 5.0)
    assert (
        circle.handle_delivery(json.loads((DATA / "powertools_s3Event.json").read_text()), deadline=lambda: 0.5).status
        == "retry"
    )
    wrapper = StorageEventHandler(circle=circle)
    assert handle_or_raise(wrapper, json.loads((DATA / "powertools_s3Event.json").read_text()))[0].ok


def test_secrets_open_once_from_circle_secrets_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.secrets import SecretStore

    src, dst = _names()
    monkeypatch.delenv("CIRCLE_SECRETS_URL", raising=False)
    assert Circle.from_config(_config(src, dst)).secrets is None  # no [secrets] url, no CIRCLE_SECRETS_URL
    monkeypatch.setenv("CIRCLE_SECRETS_URL", "env://CIRCLE_TEST_")
    monkeypatch.setenv("CIRCLE_TEST_TOKEN", "value-not-logged")
    circle = Circle.from_config(_config(src, dst))
    assert isinstance(circle.secrets, SecretStore) and circle.secrets is circle.secrets
    assert "value-not-logged" not in repr(circle) + repr(circle.secrets)


def test_secret_references_in_store_options_resolve_through_the_configured_secrets_store(
    emulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[secrets] url`` / CIRCLE_SECRETS_URL is registered as ``vault`` before a store that references it
    opens: the target's key pair comes from the environment store, never from the file."""
    from core.secrets import unregister_secret_store

    src, _ = _names()
    bucket = f"rt-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=emulators.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    monkeypatch.setenv("CIRCLE_SECRETS_URL", "env://CIRCLE_RT_")
    monkeypatch.setenv("CIRCLE_RT_S3_KEY_ID", "testing")
    monkeypatch.setenv("CIRCLE_RT_S3_SECRET", "testing")
    options = {
        "endpoint_url": emulators.s3_endpoint,
        "region": "us-east-1",
        "access_key_id": "secret://vault/s3-key-id",
        "secret_access_key": "secret://vault/s3-secret",
    }
    config = parse_config(
        {
            "stores": {"src": {"url": f"memory://{src}"}, "dst": {"url": f"s3://{bucket}", **options}},
            "replication": [{"source": "src", "targets": ["dst"]}],
        }
    )
    unregister_secret_store("vault")
    try:
        circle = Circle.from_config(config)
        circle.store("src").put("k", b"v")
        delivery = circle.handle_events([_event(src, "k")])
        assert delivery.status == "ok", delivery.reason
        assert circle.store("dst").get("k").read() == b"v"
        assert circle.secrets is not None
    finally:
        unregister_secret_store("vault")
