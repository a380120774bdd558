"""Azure Key Vault specifics: the real SDK over HTTPS against tests/fakes/key_vault.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.keyvault.secrets import SecretClient

from core.secrets import (
    SecretNotFound,
    SecretsInvalidArgument,
    SecretsPermissionDenied,
    SecretsUnauthenticated,
    SecretsUnsupported,
    open_secrets,
)
from tests.fakes.key_vault import FakeKeyVault
from tests.secrets.conftest import StaticTokenCredential, open_key_vault


def raw_client(vault: FakeKeyVault) -> SecretClient:
    return SecretClient(
        vault.url,
        StaticTokenCredential(vault.token),
        verify_challenge_resource=False,
        connection_verify=str(vault.ca_file),
    )


def test_the_bearer_challenge_is_answered_with_a_vault_scoped_token(tmp_path: Path, secret_name: str) -> None:
    vault = FakeKeyVault(tmp_path)  # a new vault URL: the SDK caches challenges per vault, process-wide
    try:
        credential = StaticTokenCredential(vault.token)
        store = open_key_vault(vault, credential)
        store.put(secret_name, "challenge-value")
        first, second = vault.requests[:2]
        assert first == ("PUT", f"/secrets/{secret_name}", False)  # no token yet: 401 + WWW-Authenticate
        assert second == ("PUT", f"/secrets/{secret_name}", True)
        assert credential.scopes[0] == ("https://vault.azure.net/.default",)
        assert store.get(secret_name) == "challenge-value"
    finally:
        vault.stop()


def test_stages_are_tags_on_versions(key_vault: FakeKeyVault, secret_name: str) -> None:
    store = open_key_vault(key_vault)
    v1 = store.put(secret_name, "one")
    token = str(uuid.uuid4())
    pending = store.put_pending(secret_name, "two", token)
    tags = {p.version: p.tags or {} for p in raw_client(key_vault).list_properties_of_secret_versions(secret_name)}
    assert tags[v1]["circle-stage"] == "current"
    assert tags[pending]["circle-stage"] == "pending" and tags[pending]["circle-token"] == token
    store.promote(secret_name, pending)
    store.discard(secret_name, v1)
    props = {p.version: p for p in raw_client(key_vault).list_properties_of_secret_versions(secret_name)}
    assert (props[pending].tags or {})["circle-stage"] == "current"
    assert (props[v1].tags or {})["circle-stage"] == "retired" and props[v1].enabled is False


def test_a_secret_set_by_another_tool_is_current(key_vault: FakeKeyVault, secret_name: str) -> None:
    raw_client(key_vault).set_secret(secret_name, "portal-value")
    store = open_key_vault(key_vault)
    assert store.get(secret_name) == "portal-value"
    pending = store.put_pending(secret_name, "rotated", str(uuid.uuid4()))
    assert store.get(secret_name) == "portal-value"  # the untagged version stays current until promotion
    old = store.stages(secret_name)["current"]
    store.promote(secret_name, pending)
    assert store.stages(secret_name) == {"current": pending, "previous": old}


def test_versions_are_listed_across_pages(key_vault: FakeKeyVault, secret_name: str) -> None:
    client = raw_client(key_vault)
    ids = [client.set_secret(secret_name, f"v{i}").properties.version for i in range(27)]  # pages of 25
    store = open_key_vault(key_vault)
    assert [v.id for v in store.versions(secret_name)] == ids
    assert store.get(secret_name) == "v26"


def test_the_challenge_resource_check_refuses_a_non_azure_host(key_vault: FakeKeyVault, secret_name: str) -> None:
    store = open_key_vault(key_vault, verify_challenge_resource=True)
    with pytest.raises(SecretsUnauthenticated, match="does not match"):
        store.get(secret_name)


def test_a_wrong_token_is_unauthenticated(key_vault: FakeKeyVault, secret_name: str) -> None:
    store = open_key_vault(key_vault, StaticTokenCredential("not-the-token"))
    with pytest.raises(SecretsUnauthenticated):
        store.get(secret_name)


def test_a_missing_access_policy_is_permission_denied(key_vault: FakeKeyVault) -> None:
    name = f"denied-{uuid.uuid4().hex[:8]}"
    raw_client(key_vault).set_secret(name, "denied-distinctive-value")
    key_vault.deny(name)
    with pytest.raises(SecretsPermissionDenied) as info:
        open_key_vault(key_vault).get(name)
    assert "denied-distinctive-value" not in str(info.value)


def test_the_vault_url_is_derived_from_the_name() -> None:
    from core.secrets.providers.key_vault import vault_url_for

    assert vault_url_for("myvault") == "https://myvault.vault.azure.net"
    assert vault_url_for("myvault.vault.azure.cn") == "https://myvault.vault.azure.cn"


def test_versions_carry_an_expiry(key_vault: FakeKeyVault, secret_name: str) -> None:
    store = open_key_vault(key_vault)
    first_expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(days=90)
    v1 = store.put(secret_name, "one", expires_on=first_expiry)
    pending = store.put_pending(secret_name, "two", str(uuid.uuid4()), expires_on=first_expiry + timedelta(days=1))
    client = raw_client(key_vault)
    assert client.get_secret(secret_name, v1).properties.expires_on == first_expiry
    assert client.get_secret(secret_name, pending).properties.expires_on == first_expiry + timedelta(days=1)
    with pytest.raises(SecretsInvalidArgument):  # naive: which zone would it be in?
        store.put(secret_name, "three", expires_on=datetime.now() + timedelta(days=1))
    assert [v.id for v in store.versions(secret_name)] == [v1, pending]  # the refused put wrote nothing


def test_stores_without_expiry_refuse_one(tmp_path: Path) -> None:
    store = open_secrets(f"file://{tmp_path}/s.json")
    with pytest.raises(SecretsUnsupported):
        store.put("x", "value", expires_on=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(SecretNotFound):
        store.get("x")
