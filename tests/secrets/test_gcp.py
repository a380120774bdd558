"""GCP Secret Manager specifics: the real client (REST transport) against tests/fakes/secret_manager.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager

from core.secrets import SecretsPermissionDenied
from tests.fakes.secret_manager import FakeSecretManager
from tests.secrets.conftest import open_secret_manager


def raw_client(fake: FakeSecretManager) -> Any:  # dict arguments are fine at runtime, not for the stubs
    return secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": fake.url}
    )


def test_stages_are_version_aliases_changed_in_one_update(secret_manager: FakeSecretManager, secret_name: str) -> None:
    store = open_secret_manager(secret_manager)
    v1 = store.put(secret_name, "one")
    pending = store.put_pending(secret_name, "two", str(uuid.uuid4()))
    secret = raw_client(secret_manager).get_secret(name=f"projects/circle-test/secrets/{secret_name}")
    assert dict(secret.version_aliases) == {"current": int(v1), "pending": int(pending)}
    before = len(secret_manager.requests)
    store.promote(secret_name, pending)
    patches = [r for r in secret_manager.requests[before:] if r[0] == "PATCH"]
    assert len(patches) == 1  # atomic: current and previous move together
    secret = raw_client(secret_manager).get_secret(name=f"projects/circle-test/secrets/{secret_name}")
    assert dict(secret.version_aliases) == {"current": int(pending), "previous": int(v1)}


def test_other_aliases_are_kept(secret_manager: FakeSecretManager, secret_name: str) -> None:
    store = open_secret_manager(secret_manager)
    v1 = store.put(secret_name, "one")
    client = raw_client(secret_manager)
    path = f"projects/circle-test/secrets/{secret_name}"
    client.update_secret(
        secret={"name": path, "version_aliases": {"current": int(v1), "blue": int(v1)}},
        update_mask={"paths": ["version_aliases"]},
    )
    store.put(secret_name, "two")
    assert dict(client.get_secret(name=path).version_aliases)["blue"] == int(v1)


def test_a_secret_without_aliases_reads_latest(secret_manager: FakeSecretManager, secret_name: str) -> None:
    client = raw_client(secret_manager)
    client.create_secret(
        parent="projects/circle-test", secret_id=secret_name, secret={"replication": {"automatic": {}}}
    )
    client.add_secret_version(parent=f"projects/circle-test/secrets/{secret_name}", payload={"data": b"gen1"})
    client.add_secret_version(parent=f"projects/circle-test/secrets/{secret_name}", payload={"data": b"gen2"})
    store = open_secret_manager(secret_manager)
    assert store.get(secret_name) == "gen2"
    assert store.stages(secret_name) == {"current": "2"}
    store.put(secret_name, "gen3")
    assert store.stages(secret_name) == {"current": "3", "previous": "2"}


def test_the_fake_checks_payload_checksums(secret_manager: FakeSecretManager, secret_name: str) -> None:
    from google.api_core.exceptions import BadRequest

    client = raw_client(secret_manager)
    client.create_secret(
        parent="projects/circle-test", secret_id=secret_name, secret={"replication": {"automatic": {}}}
    )
    with pytest.raises(BadRequest, match="Checksum"):
        client.add_secret_version(
            parent=f"projects/circle-test/secrets/{secret_name}", payload={"data": b"abc", "data_crc32c": 1}
        )


def test_missing_iam_binding_is_permission_denied(secret_manager: FakeSecretManager, secret_name: str) -> None:
    store = open_secret_manager(secret_manager)
    store.put(secret_name, "iam-distinctive-value")
    secret_manager.deny(secret_name)
    store.invalidate()
    with pytest.raises(SecretsPermissionDenied) as info:
        store.get(secret_name)
    assert "iam-distinctive-value" not in str(info.value)
