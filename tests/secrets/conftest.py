"""Fixtures for the secrets tests: the Key Vault and Secret Manager fakes, a token credential for
Entra ID, and one fresh store per provider for the shared behaviour suite."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.secrets import SecretStore, open_secrets
from tests.fakes.key_vault import FakeKeyVault
from tests.fakes.secret_manager import FakeSecretManager

PROVIDERS = ["file", "aws", "keyvault", "gcp"]


class StaticTokenCredential:
    """A test double for Entra ID speaking azure-core's TokenCredential / SupportsTokenInfo protocols."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        self.scopes.append(scopes)
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


def unique_name() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def secret_name() -> str:
    return unique_name()


@pytest.fixture(scope="session")
def key_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKeyVault]:
    vault = FakeKeyVault(tmp_path_factory.mktemp("kv-tls"))
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture(scope="session")
def secret_manager() -> Iterator[FakeSecretManager]:
    fake = FakeSecretManager()
    try:
        yield fake
    finally:
        fake.stop()


def open_key_vault(vault: FakeKeyVault, credential: Any = None, **options: Any) -> SecretStore:
    options.setdefault("verify_challenge_resource", False)  # the fake is not under *.vault.azure.net
    return open_secrets(
        "keyvault://localhost",
        vault_url=vault.url,
        credential=credential or StaticTokenCredential(vault.token),
        connection_verify=str(vault.ca_file),
        **options,
    )


def open_secret_manager(fake: FakeSecretManager, **options: Any) -> SecretStore:
    from google.auth.credentials import AnonymousCredentials

    return open_secrets("gcp-sm://circle-test", api_endpoint=fake.url, credentials=AnonymousCredentials(), **options)


def open_aws(emulators: Any, **options: Any) -> SecretStore:
    return open_secrets(
        "aws-sm://us-east-1",
        endpoint_url=emulators.s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        **options,
    )


@pytest.fixture(params=PROVIDERS)
def secrets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecretStore]:
    kind = request.param
    if kind == "file":
        store = open_secrets(f"file://{tmp_path}/secrets.json")
    elif kind == "aws":
        store = open_aws(request.getfixturevalue("emulators"))
    elif kind == "keyvault":
        store = open_key_vault(request.getfixturevalue("key_vault"))
    else:
        store = open_secret_manager(request.getfixturevalue("secret_manager"))
    try:
        yield store
    finally:
        store.close()
