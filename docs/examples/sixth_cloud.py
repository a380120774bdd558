"""docs/events.md "Adding a cloud", as a runnable file: a detector for Huawei Cloud OBS notifications
(S3-like ``Records`` with ``"eventSource": "OBS"``), registered on a copy of the shared registry and fed
one record directly and one through SQS (``PYTHONPATH=. python docs/examples/sixth_cloud.py``)."""

from __future__ import annotations

import json
from typing import Any

# --8<-- [start:detector]
# core/events/huawei.py
from core.events.model import StorageEvent, as_dict, change_id, parse_time, text, to_size
from core.events.registry import Detector, Scope


class ObsDetector(Detector):
    provider = "huawei"  # joins core.events.PROVIDERS once registered
    describes = "an OBS notification"  # shown in the unknown-envelope error

    def record_parsers(self):  # type: ignore[no-untyped-def]
        return {"OBS": self._record}  # Records[].eventSource -> parser

    @staticmethod
    def _record(rec: Any, where: str, scope: Scope, out: list[StorageEvent]) -> None:
        obs = as_dict(rec.get("obs"), f"{where}.obs")
        bucket = text(as_dict(obs.get("bucket"), f"{where}.obs.bucket").get("name"), f"{where}.obs.bucket.name")
        obj = as_dict(obs.get("object"), f"{where}.obs.object")
        key = text(obj.get("key"), f"{where}.obs.object.key")
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


DETECTOR = ObsDetector()
# --8<-- [end:detector]

RECORD = {
    "eventSource": "OBS",
    "eventTime": "2020-07-10T09:24:11.418Z",
    "eventName": "ObjectCreated:Put",
    "obs": {"bucket": {"name": "examplebucket"}, "object": {"key": "a.txt", "size": 3, "sequencer": "0001"}},
}


def main() -> None:
    from core.events.detect import REGISTRY
    from core.events.registry import Registry

    # What adding DETECTOR to REGISTRY in core/events/detect.py does, here on a copy:
    registry = Registry([*REGISTRY.detectors, DETECTOR])
    sqs = {"Records": [{"eventSource": "aws:sqs", "messageId": "m-1", "body": json.dumps({"Records": [RECORD]})}]}
    for payload in ({"Records": [RECORD]}, sqs):
        (event,) = registry.dispatch(payload, Scope(registry))
        assert (event.provider, event.bucket, event.key, event.size) == ("huawei", "examplebucket", "a.txt", 3)
        print(f"{event.envelope}: {event.provider} {event.kind} {event.bucket}/{event.key}")


if __name__ == "__main__":
    main()
