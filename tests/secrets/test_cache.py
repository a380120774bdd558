"""Reads are cached for ``max_age`` seconds; writes and ``invalidate`` drop the cache at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.secrets import SecretCache, SecretValue, open_secrets
from tests.fakes.key_vault import FakeKeyVault
from tests.secrets.conftest import open_key_vault


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_after_max_age() -> None:
    clock = FakeClock()
    cache = SecretCache(300, clock=clock)
    cache.put(("a", None, "current"), SecretValue("x", "1"))
    clock.now += 299.9
    assert cache.get(("a", None, "current")) == SecretValue("x", "1")
    clock.now += 0.2
    assert cache.get(("a", None, "current")) is None
    assert len(cache) == 0


def test_invalidate_drops_one_name_or_everything() -> None:
    cache = SecretCache(60)
    for key in [("a", None, "current"), ("a", "3", None), ("b", None, "current")]:
        cache.put(key, SecretValue("v"))
    cache.invalidate("a")
    assert cache.get(("a", "3", None)) is None and cache.get(("b", None, "current")) is not None
    cache.invalidate()
    assert len(cache) == 0


def test_zero_max_age_disables_and_negative_is_refused() -> None:
    cache = SecretCache(0)
    cache.put(("a", None, None), SecretValue("v"))
    assert cache.get(("a", None, None)) is None
    with pytest.raises(ValueError):
        SecretCache(-1)


def test_default_max_age_is_300_seconds(tmp_path: Path) -> None:
    assert open_secrets(f"file://{tmp_path}/s.json").max_age == 300


def test_a_change_made_elsewhere_is_seen_only_after_invalidate(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"api-key": "first"}))
    store = open_secrets(f"file://{path}")
    assert store.get("api-key") == "first"
    path.write_text(json.dumps({"api-key": "rotated-elsewhere"}))
    assert store.get("api-key") == "first"  # cached
    store.invalidate("api-key")
    assert store.get("api-key") == "rotated-elsewhere"


def test_cached_reads_do_not_reach_the_service(key_vault: FakeKeyVault, secret_name: str) -> None:
    store = open_key_vault(key_vault)
    store.put(secret_name, "cached-value")
    before = len(key_vault.requests)
    for _ in range(5):
        assert store.get(secret_name) == "cached-value"
    assert len(key_vault.requests) == before + 1
    store.invalidate(secret_name)
    store.get(secret_name)
    assert len(key_vault.requests) == before + 2
    uncached = open_key_vault(key_vault, max_age=0)
    uncached.get(secret_name)
    uncached.get(secret_name)
    assert len(key_vault.requests) == before + 4


def test_writes_through_the_store_invalidate_its_cache(tmp_path: Path) -> None:
    store = open_secrets(f"file://{tmp_path}/s.json")
    store.put("k", "one")
    assert store.get("k") == "one"
    store.put("k", "two")
    assert store.get("k") == "two"
