"""Public rule routing: the event handler and (later) reconciliation ask the same functions where a
key belongs."""

from __future__ import annotations

from datetime import UTC, datetime

from core.config import parse_config
from core.events import StorageEvent
from core.handlers.routing import configured_sources, relative_key, routes_for_event, routes_for_key

CONFIG = parse_config(
    {
        "stores": {
            "src": {"url": "memory://incoming/base"},
            "a": {"url": "memory://a"},
            "b": {"url": "memory://b"},
            "other": {"url": "memory://other"},
        },
        "replication": [
            {"name": "images", "source": "src", "targets": ["a", "b"], "prefix": "img/", "target_prefix": "i/"},
            {"name": "csv", "source": "src", "targets": ["a"], "suffix": ".csv"},
        ],
    }
)


def _event(bucket: str, key: str) -> StorageEvent:
    return StorageEvent(
        provider="memory",  # type: ignore[arg-type]
        kind="created",
        bucket=bucket,
        key=key,
        event_time=datetime.now(UTC),
        event_id="e",
    )


def test_an_event_routes_to_every_matching_rule_and_target() -> None:
    routes = routes_for_event(CONFIG, _event("incoming", "base/img/x.csv"))
    assert [(r.rule.name, r.source, r.key, r.target, r.target_key) for r in routes] == [
        ("images", "src", "img/x.csv", "a", "i/img/x.csv"),
        ("images", "src", "img/x.csv", "b", "i/img/x.csv"),
        ("csv", "src", "img/x.csv", "a", "img/x.csv"),
    ]


def test_keys_outside_the_store_prefix_or_bucket_route_nowhere() -> None:
    assert routes_for_event(CONFIG, _event("incoming", "elsewhere/img/x.png")) == []
    assert routes_for_event(CONFIG, _event("other", "base/img/x.png")) == []
    assert relative_key(CONFIG.stores["src"], _event("incoming", "base/img/y")) == "img/y"
    assert relative_key(CONFIG.stores["src"], _event("elsewhere", "base/img/y")) is None


def test_routes_for_a_listed_key_agree_with_routes_for_its_event() -> None:
    by_key = list(routes_for_key(CONFIG, "src", "img/x.csv"))
    assert by_key == routes_for_event(CONFIG, _event("incoming", "base/img/x.csv"))
    assert list(routes_for_key(CONFIG, "a", "img/x.csv")) == []


def test_configured_sources_name_the_stores_rules_read_from() -> None:
    assert configured_sources(CONFIG) == ["src (memory://incoming/base)"]
