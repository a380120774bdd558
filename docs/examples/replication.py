"""docs/replication.md "The runtime" and docs/configuration.md "How the target key is built", as a
runnable file on ``memory://`` stores: ``PYTHONPATH=. python docs/examples/replication.py``.

An adapter hands ``handle_delivery`` the platform's payload; here the event is built by hand (the
envelopes each cloud delivers are in docs/events.md and docs/examples/events.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.config import parse_config
from core.events import StorageEvent
from core.handlers.routing import routes_for_key

DOCUMENT = {
    "stores": {
        "src": {"url": "memory://incoming/in"},  # store prefix "in/"
        "dst": {"url": "memory://replica/copies"},  # store prefix "copies/"
    },
    "replication": [
        {"source": "src", "targets": ["dst"], "prefix": "data/", "target_prefix": "mirror/", "propagate_deletes": True}
    ],
}


def target_keys() -> list[str]:
    # --8<-- [start:target-key]
    config = parse_config(DOCUMENT)
    [route] = routes_for_key(config, "src", "data/hello.txt")  # key relative to the source store
    assert (route.target, route.target_key) == ("dst", "mirror/data/hello.txt")  # gs://replica/copies/mirror/data/...
    # --8<-- [end:target-key]
    return [route.target_key]


def main() -> None:
    config = parse_config(DOCUMENT)
    # --8<-- [start:runtime]
    from core.runtime import Circle

    circle = Circle.from_config(config)  # in a function: Circle.from_env(), CIRCLE_CONFIG (+ CIRCLE_ENV), read once
    circle.store("src").put("data/hello.txt", b"hello", content_type="text/plain")
    event = StorageEvent("memory", "created", "incoming", "in/data/hello.txt", datetime.now(UTC), "example-1")
    delivery = circle.handle_events([event], deadline=lambda: 60.0)  # handle_delivery(payload) parses first
    status = delivery.status  # "ok" | "retry" | "dead_letter"
    outcomes = [o.action for result in delivery.results for o in result.outcomes]  # per event, per target
    reason = delivery.reason  # why, when not ok
    # --8<-- [end:runtime]
    assert status == "ok", reason
    assert outcomes == ["copied"]
    with circle.store("dst").get("mirror/data/hello.txt") as reader:
        assert reader.read() == b"hello"
    print(target_keys(), status, [o.as_dict() for o in delivery.results[0].outcomes])


if __name__ == "__main__":
    main()
