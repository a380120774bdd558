"""Azure Blob rig: a fresh container on Azurite, optionally reached through a loopback proxy."""

from __future__ import annotations

from typing import Any

from azure.storage.blob import BlobServiceClient

from core.storage import ObjectStore, open_store
from scripts.emulators import AZURITE_ACCOUNT, AZURITE_KEY
from tests.rigs import RigContext

NAME = "azure"
NEEDS_EMULATORS = True


def connection_string(endpoint: str) -> str:
    """Azurite's development account at ``endpoint`` (the emulator itself or a proxy in front of it)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint.rstrip('/')}/{AZURITE_ACCOUNT};"
    )


def create_container(ctx: RigContext) -> str:
    """A new, empty container on Azurite (created directly, never through a proxy)."""
    name = ctx.unique()
    with BlobServiceClient.from_connection_string(ctx.emulators().azure_connection_string) as service:
        service.create_container(name)
    return name


def make(ctx: RigContext, via: str | None = None, **options: Any) -> ObjectStore:
    container = create_container(ctx)
    endpoint = via or ctx.emulators().azure_endpoint
    options.setdefault("connection_string", connection_string(endpoint))
    return open_store(f"az://{container}", **options)
