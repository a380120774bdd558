"""One storage API over S3 (and S3-compatible providers), Azure Blob, GCS, local files and memory.

    from core.storage import open_store
    store = open_store("s3://bucket/prefix", region="eu-west-1")

Importing this package loads no cloud SDK; a provider loads its SDK when a URL first names it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from .api import Backend, ByteRange, CommonPrefix, DeleteFailure, ListPage, ObjectInfo, ObjectReader
from .capabilities import Capabilities
from .errors import (
    AlreadyExists,
    IntegrityError,
    InvalidArgument,
    InvalidKey,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    Throttled,
    TransientError,
    Unauthenticated,
    Unsupported,
)
from .retry import RetryPolicy
from .store import ObjectStore
from .transfer import copy_object

# scheme -> "module:factory"; a factory takes (bucket, options) and returns a Backend.
PROVIDERS: dict[str, str] = {
    "s3": "core.storage.providers.s3:S3Backend",
    "az": "core.storage.providers.azure_blob:AzureBlobBackend",
    "gs": "core.storage.providers.gcs:GCSBackend",
    "file": "core.storage.providers.file:FileBackend",
    "memory": "core.storage.providers.memory:MemoryBackend",
}


def open_store(url: str, *, retry: RetryPolicy | Mapping[str, Any] | None = None, **options: Any) -> ObjectStore:
    """Open ``s3://bucket[/prefix]``, ``az://container[/prefix]``, ``gs://bucket[/prefix]``,
    ``file:///abs/path`` or ``memory://[name]``. A prefix in the URL scopes every key.

    Options are provider settings (``endpoint_url=``, ``region=``, ``profile=``, ``connection_string=``,
    ``project=``, ...); values of the form ``secret://store/name`` are resolved through ``core.secrets``.
    ``retry`` is a ``RetryPolicy`` or its fields as a mapping (``{max_attempts = 3}`` in circle.toml).
    """
    if isinstance(retry, Mapping):
        try:
            retry = RetryPolicy(**retry)
        except TypeError as exc:
            raise InvalidArgument(f"retry: {exc}") from None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in PROVIDERS:
        raise InvalidArgument(f"unknown store URL scheme {scheme!r} in {url!r}; expected one of "
                              f"{', '.join(sorted(PROVIDERS))}")
    module_name, _, factory_name = PROVIDERS[scheme].partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    options = _resolve_secret_refs(options)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidArgument(f"file URLs must be file:///absolute/path, got {url!r}")
        return ObjectStore(factory(unquote(parts.path), options), retry=retry)
    bucket = parts.netloc
    if not bucket and scheme != "memory":
        raise InvalidArgument(f"the store URL {url!r} names no bucket or container")
    return ObjectStore(factory(bucket, options), prefix=unquote(parts.path), retry=retry)


def _resolve_secret_refs(options: dict[str, Any]) -> dict[str, Any]:
    """Replace ``secret://store/name[#field]`` option values with the secret's value."""
    if not any(isinstance(v, str) and v.startswith("secret://") for v in options.values()):
        return options
    from core.secrets import resolve_reference  # lazy: most stores reference no secret

    return {k: resolve_reference(v) if isinstance(v, str) and v.startswith("secret://") else v
            for k, v in options.items()}


__all__ = [
    "PROVIDERS",
    "AlreadyExists",
    "Backend",
    "ByteRange",
    "Capabilities",
    "CommonPrefix",
    "DeleteFailure",
    "IntegrityError",
    "InvalidArgument",
    "InvalidKey",
    "ListPage",
    "NotFound",
    "ObjectInfo",
    "ObjectReader",
    "ObjectStore",
    "PermissionDenied",
    "PreconditionFailed",
    "RetryPolicy",
    "StorageError",
    "Throttled",
    "TransientError",
    "Unauthenticated",
    "Unsupported",
    "copy_object",
    "open_store",
]
