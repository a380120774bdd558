"""GCS rig: a fresh bucket on fake-gcs-server, optionally reached through a loopback proxy (``via``).

Presigning needs a service-account private key; the rig signs with a throw-away RSA key made once per
process (fake-gcs-server does not check signatures, real GCS would).
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client
from google.oauth2 import service_account

from core.storage import ObjectStore, open_store
from tests.rigs import RigContext

NAME = "gcs"
NEEDS_EMULATORS = True
PROJECT = "circle-test"


def admin_client(endpoint: str) -> Client:
    """A plain SDK client for test setup and inspection (bucket creation, raw reads)."""
    return Client(project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})


def create_bucket(endpoint: str, name: str) -> None:
    admin = admin_client(endpoint)
    try:
        admin.create_bucket(name, retry=None, timeout=30)
    finally:
        admin.close()


@functools.cache
def _throwaway_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account_info(
    token_uri: str = "http://127.0.0.1:9/token", key_id: str = "circle-test-key"
) -> dict[str, str]:
    """A service-account key file's content with a throw-away key (``token_uri`` on loopback)."""
    return {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": key_id,
        "private_key": _throwaway_key_pem(),
        "client_email": f"tester@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


def signing_credentials() -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info(service_account_info())


def make(ctx: RigContext, via: str | None = None, **options: Any) -> ObjectStore:
    endpoint = ctx.emulators().gcs_endpoint
    bucket = options.pop("bucket", None) or ctx.unique()
    create_bucket(endpoint, bucket)
    settings: dict[str, Any] = {"endpoint_url": via or endpoint, "project": PROJECT}
    if options.get("credentials") is None and options.get("credentials_file") is None:
        settings["anonymous"] = True
        settings["signing_credentials"] = signing_credentials()
    settings.update(options)
    return open_store(f"gs://{bucket}", **settings)
