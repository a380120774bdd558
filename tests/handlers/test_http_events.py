"""HTTP answers: ``http_status`` maps every core error in one place (the rotation HTTP function uses it
too); webhook deliveries answer 200 / 400 / 500 by the runtime's verdict."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from core.config import ConfigError, parse_config
from core.events import EventError
from core.handlers.http_events import HttpAnswer, error_answer, handle_http_event, http_status
from core.runtime import Circle
from core.secrets.errors import (
    SecretNotFound,
    SecretsConflict,
    SecretsInvalidArgument,
    SecretsTransientError,
    SecretsUnauthenticated,
)
from core.secrets.rotation.errors import RotationConflict, RotationRefused, RotationTestFailed
from core.storage import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    Throttled,
    TransientError,
    Unsupported,
)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (EventError("missing", "data"), 400),
        (InvalidArgument("bad range"), 400),
        (SecretsInvalidArgument("bad name"), 400),
        (NotFound("no such key"), 404),
        (SecretNotFound("no such secret"), 404),
        (AlreadyExists("exists"), 409),
        (SecretsConflict("busy"), 409),
        (RotationConflict("another rotation"), 409),
        (PreconditionFailed("etag"), 412),
        (Unsupported("no"), 501),
        (RotationTestFailed("new key refused"), 502),
        (RotationRefused("rotation disabled"), 403),
        (Throttled("slow down"), 503),
        (TransientError("reset"), 503),
        (SecretsTransientError("503"), 503),
        (PermissionDenied("AccessDenied"), 500),
        (SecretsUnauthenticated("expired"), 500),
        (ConfigError("stores.x: bad"), 500),
        (RuntimeError("bug"), 500),
    ],
)
def test_http_status(exc: BaseException, status: int) -> None:
    assert http_status(exc) == status


def test_an_exception_may_name_its_own_status() -> None:
    class Teapot(Exception):
        http_status = 418

    assert http_status(Teapot()) == 418


def test_error_answers_keep_server_detail_out_of_5xx_bodies() -> None:
    assert error_answer(SecretNotFound("no secret named db")).body == {"error": "no secret named db"}
    answer = error_answer(PermissionDenied("AccessDenied on arn:aws:iam::123:role/x"), generic="rotation failed")
    assert (answer.status, answer.body) == (500, {"error": "rotation failed"})


class ListSink:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)


def _circle(sink: ListSink | None = None) -> Circle:
    tag = uuid.uuid4().hex[:8]
    config = parse_config(
        {
            "stores": {"src": {"url": f"memory://h-src-{tag}"}, "dst": {"url": f"memory://h-dst-{tag}"}},
            "replication": [{"source": "src", "targets": ["dst"]}],
        }
    )
    return Circle.from_config(config, dead_letter=sink)


POISON = json.dumps({"specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized", "data": {}}).encode()


def test_a_poison_cloudevent_is_400_without_a_sink_and_acknowledged_with_one() -> None:
    headers = {"content-type": "application/cloudevents+json"}
    answer = handle_http_event(_circle(), "POST", headers, POISON)
    assert isinstance(answer, HttpAnswer) and answer.status == 400
    sink = ListSink()
    answer = handle_http_event(_circle(sink), "POST", headers, POISON)
    assert answer.status == 200 and answer.body["status"] == "dead_letter"
    assert len(sink.records) == 1 and sink.records[0]["failure"] == "permanent"
