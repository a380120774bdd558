"""AWS Secrets Manager specifics against moto server: native staging labels and request tokens."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from core.secrets import PENDING, SecretsUnauthenticated
from tests.rotation.conftest import aws_rig
from tests.secrets.conftest import open_aws


@pytest.fixture
def client(emulators: Any) -> Any:
    return boto3.client(
        "secretsmanager",
        endpoint_url=emulators.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_stages_are_aws_labels_and_the_token_is_the_version_id(emulators: Any, client: Any, secret_name: str) -> None:
    store = open_aws(emulators)
    v1 = store.put(secret_name, "first")
    token = str(uuid.uuid4())
    assert store.put_pending(secret_name, "second", token) == token
    labels = client.describe_secret(SecretId=secret_name)["VersionIdsToStages"]
    assert labels == {v1: ["AWSCURRENT"], token: ["AWSPENDING"]}
    # what AWS's own rotation samples read in testSecret
    assert (
        client.get_secret_value(SecretId=secret_name, VersionId=token, VersionStage="AWSPENDING")["SecretString"]
        == "second"
    )
    store.promote(secret_name, token)
    labels = client.describe_secret(SecretId=secret_name)["VersionIdsToStages"]
    assert labels == {v1: ["AWSPREVIOUS"], token: ["AWSCURRENT"]}


def test_put_pending_fills_the_empty_version_rotate_secret_staged(
    emulators: Any, client: Any, secret_name: str
) -> None:
    """The real flow: RotateSecret stages the token's version as AWSPENDING *without a value*, then
    invokes the rotation function, whose createSecret step stores the value under that token."""
    rig = aws_rig(emulators.s3_endpoint)
    store = open_aws(emulators, max_age=0)
    v1 = store.put(secret_name, "current-value")
    token = rig.start_rotation(secret_name)
    assert client.describe_secret(SecretId=secret_name)["VersionIdsToStages"][token] == ["AWSPENDING"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):  # staged, but no value yet
        client.get_secret_value(SecretId=secret_name, VersionId=token)

    assert store.put_pending(secret_name, "pending-value", token) == token

    assert (
        client.get_secret_value(SecretId=secret_name, VersionId=token, VersionStage="AWSPENDING")["SecretString"]
        == "pending-value"
    )
    assert store.get(secret_name, stage=PENDING) == "pending-value"
    assert store.put_pending(secret_name, "another-value", token) == token  # a redelivered step
    assert store.get(secret_name, version=token) == "pending-value"  # the first value wins
    assert store.get(secret_name) == "current-value"
    assert client.describe_secret(SecretId=secret_name)["VersionIdsToStages"] == {
        v1: ["AWSCURRENT"],
        token: ["AWSPENDING"],
    }


def test_a_secret_made_outside_is_read_through_its_labels(emulators: Any, client: Any, secret_name: str) -> None:
    client.create_secret(Name=secret_name, SecretString='{"user": "u", "password": "p"}')
    store = open_aws(emulators)
    assert store.get_json(secret_name) == {"user": "u", "password": "p"}
    assert set(store.stages(secret_name)) == {"current"}


def test_names_with_slashes_are_allowed(emulators: Any, secret_name: str) -> None:
    store = open_aws(emulators)
    store.put(f"prod/{secret_name}", "v")
    assert store.get(f"prod/{secret_name}") == "v"


def test_missing_credentials_are_unauthenticated(
    emulators: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, secret_name: str
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_secrets_without_keys(emulators)
    with pytest.raises(SecretsUnauthenticated):
        store.get(secret_name)


def open_secrets_without_keys(emulators: Any) -> Any:
    from core.secrets import open_secrets

    return open_secrets("aws-sm://us-east-1", endpoint_url=emulators.s3_endpoint)
