"""AWS Secrets Manager specifics against moto server: native staging labels and request tokens."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from core.secrets import SecretsUnauthenticated
from tests.secrets.conftest import open_aws


@pytest.fixture
def client(emulators: Any) -> Any:
    return boto3.client("secretsmanager", endpoint_url=emulators.s3_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_stages_are_aws_labels_and_the_token_is_the_version_id(emulators: Any, client: Any,
                                                               secret_name: str) -> None:
    store = open_aws(emulators)
    v1 = store.put(secret_name, "first")
    token = str(uuid.uuid4())
    assert store.put_pending(secret_name, "second", token) == token
    labels = client.describe_secret(SecretId=secret_name)["VersionIdsToStages"]
    assert labels == {v1: ["AWSCURRENT"], token: ["AWSPENDING"]}
    # what AWS's own rotation samples read in testSecret
    assert client.get_secret_value(SecretId=secret_name, VersionId=token,
                                   VersionStage="AWSPENDING")["SecretString"] == "second"
    store.promote(secret_name, token)
    labels = client.describe_secret(SecretId=secret_name)["VersionIdsToStages"]
    assert labels == {v1: ["AWSPREVIOUS"], token: ["AWSCURRENT"]}


def test_a_secret_made_outside_is_read_through_its_labels(emulators: Any, client: Any, secret_name: str) -> None:
    client.create_secret(Name=secret_name, SecretString='{"user": "u", "password": "p"}')
    store = open_aws(emulators)
    assert store.get_json(secret_name) == {"user": "u", "password": "p"}
    assert set(store.stages(secret_name)) == {"current"}


def test_names_with_slashes_are_allowed(emulators: Any, secret_name: str) -> None:
    store = open_aws(emulators)
    store.put(f"prod/{secret_name}", "v")
    assert store.get(f"prod/{secret_name}") == "v"


def test_missing_credentials_are_unauthenticated(emulators: Any, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Any, secret_name: str) -> None:
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
