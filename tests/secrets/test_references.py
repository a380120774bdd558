"""``secret://<store>/<name>[#field]`` references: the registry, env configuration, refresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.secrets import (
    SecretNotFound,
    SecretsInvalidArgument,
    get_secret_store,
    invalidate_reference,
    open_secrets,
    parse_reference,
    refresh_reference,
    register_secret_store,
    resolve_reference,
    unregister_secret_store,
)


@pytest.fixture
def registered(tmp_path: Path) -> object:
    store = open_secrets(f"file://{tmp_path}/s.json")
    store.put("plain", "plain-value")
    store.put("prod/s3", {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "sk/123", "port": 443})
    register_secret_store("creds", store)
    yield store
    unregister_secret_store("creds")


def test_resolve_a_whole_secret_and_a_field(registered: object) -> None:
    assert resolve_reference("secret://creds/plain") == "plain-value"
    assert resolve_reference("secret://creds/prod/s3#access_key_id") == "AKIAEXAMPLE"
    assert resolve_reference("secret://creds/prod/s3#port") == "443"


def test_refresh_picks_up_a_rotation_at_once(registered: object, tmp_path: Path) -> None:
    other = open_secrets(f"file://{tmp_path}/s.json")  # e.g. the rotation function, another process
    assert resolve_reference("secret://creds/plain") == "plain-value"
    other.put("plain", "rotated")
    assert resolve_reference("secret://creds/plain") == "plain-value"  # still cached
    assert refresh_reference("secret://creds/plain") == "rotated"
    other.put("plain", "rotated-again")
    invalidate_reference("secret://creds/plain")
    assert resolve_reference("secret://creds/plain") == "rotated-again"


def test_store_configured_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.json"
    path.write_text('{"token": "from-env-store"}')
    monkeypatch.setenv("CIRCLE_SECRETS_LOCAL_DEV", f"file://{path}")
    try:
        assert resolve_reference("secret://local-dev/token") == "from-env-store"
        assert get_secret_store("local-dev") is get_secret_store("local-dev")  # opened once, cache kept
    finally:
        unregister_secret_store("local-dev")


def test_unknown_store_names_the_variable_to_set() -> None:
    with pytest.raises(SecretsInvalidArgument, match="CIRCLE_SECRETS_NOWHERE"):
        resolve_reference("secret://nowhere/x")


@pytest.mark.parametrize(
    "bad", ["secret://", "secret://store", "secret://store/", "http://x/y", "secret:///name", "secret://bad store/x"]
)
def test_malformed_references_are_refused(bad: str) -> None:
    with pytest.raises(SecretsInvalidArgument):
        parse_reference(bad)


def test_missing_field_is_not_found(registered: object) -> None:
    with pytest.raises(SecretNotFound):
        resolve_reference("secret://creds/prod/s3#nope")
    with pytest.raises(SecretsInvalidArgument):
        resolve_reference("secret://creds/plain#field")  # not a JSON document


def test_register_refuses_bad_names_and_objects(tmp_path: Path) -> None:
    with pytest.raises(SecretsInvalidArgument):
        register_secret_store("bad name", f"file://{tmp_path}/s.json")
    with pytest.raises(SecretsInvalidArgument):
        register_secret_store("ok", object())  # type: ignore[arg-type]


def test_register_a_url(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"k": "v"}')
    register_secret_store("by-url", f"file://{tmp_path}/s.json", max_age=0)
    try:
        assert resolve_reference("secret://by-url/k") == "v"
        assert get_secret_store("by-url").max_age == 0
    finally:
        unregister_secret_store("by-url")


def test_open_store_resolves_secret_options_through_this_interface(registered: object, tmp_path: Path) -> None:
    from core.storage import _resolve_secret_refs

    out = _resolve_secret_refs(
        {"aws_secret_access_key": "secret://creds/prod/s3#secret_access_key", "region": "eu-west-1"}
    )
    assert out == {"aws_secret_access_key": "sk/123", "region": "eu-west-1"}
