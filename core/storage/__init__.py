"""One storage API over S3 (and S3-compatible providers), Azure Blob, GCS, local files and memory.

    from core.storage import open_store
    store = open_store("s3://bucket/prefix", region="eu-west-1")

Importing this package loads no cloud SDK; a provider loads its SDK when a URL first names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.credentials import Resolver

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
    from .options import StoreOptions
    from .registry import ProviderNotInstalled, ProviderSpec, register_provider
    from .retry import RetryPolicy
    from .store import ObjectStore
    from .transfer import copy_object

# Public names -> the submodule defining them, imported on first access (PEP 562), so that importing
# ``core.storage`` (or one of its submodules, such as ``core.storage.errors``) costs almost nothing and a
# cold invocation builds only what it uses.
_LAZY = {
    **dict.fromkeys(
        ("Backend", "ByteRange", "CommonPrefix", "DeleteFailure", "ListPage", "ObjectInfo", "ObjectReader"), "api"
    ),
    "Capabilities": "capabilities",
    **dict.fromkeys(
        (
            "AlreadyExists",
            "IntegrityError",
            "InvalidArgument",
            "InvalidKey",
            "NotFound",
            "PermissionDenied",
            "PreconditionFailed",
            "StorageError",
            "Throttled",
            "TransientError",
            "Unauthenticated",
            "Unsupported",
        ),
        "errors",
    ),
    "OptionError": "options",
    "StoreOptions": "options",
    **dict.fromkeys(("BUILTIN", "ProviderNotInstalled", "ProviderSpec", "lookup", "register_provider"), "registry"),
    "RetryPolicy": "retry",
    "ObjectStore": "store",
    "copy_object": "transfer",
}


def __getattr__(name: str) -> Any:
    if name == "PROVIDERS":
        # The providers live in ``registry`` (scheme, factory, extra, options, capabilities); this view keeps
        # the old ``PROVIDERS`` name working: scheme -> "module:factory".
        from .registry import BUILTIN

        value: Any = {spec.scheme: spec.factory for spec in BUILTIN}
    elif name in _LAZY:
        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "PROVIDERS"})


def open_store(
    url: str,
    *,
    retry: RetryPolicy | Mapping[str, Any] | None = None,
    resolver: Resolver | None = None,
    **options: Any,
) -> ObjectStore:
    """Open ``s3://bucket[/prefix]``, ``az://container[/prefix]``, ``gs://bucket[/prefix]``,
    ``file:///abs/path`` or ``memory://[name]``. A prefix in the URL scopes every key.

    Options are provider settings (``endpoint_url=``, ``region=``, ``profile=``, ``connection_string=``,
    ``project=``, ...); values of the form ``secret://store/name`` are resolved by ``resolver`` (default:
    ``core.credentials.current_resolver()``: one installed for the process, else the secrets package's
    once it is imported; neither is an ``InvalidArgument``).
    ``retry`` is a ``RetryPolicy`` or its fields as a mapping (``{max_attempts = 3}`` in circle.toml).
    """
    from urllib.parse import urlsplit

    from .errors import InvalidArgument
    from .registry import lookup
    from .retry import RetryPolicy
    from .store import ObjectStore

    if isinstance(retry, Mapping):
        try:
            retry = RetryPolicy(**retry)
        except TypeError as exc:
            raise InvalidArgument(f"retry: {exc}") from None
    if not isinstance(url, str):
        raise InvalidArgument(f"a store URL is a string, not {type(url).__name__}")
    spec = lookup(urlsplit(url).scheme, url)
    location, prefix = spec.split(url)
    check_options(spec, options)  # before any secret is read or SDK imported
    factory = spec.load_factory()
    resolved = _resolve_secret_refs(options, resolver)
    reopen = _reopener(factory, location, options, resolved, resolver) if resolved is not options else None
    return ObjectStore(factory(location, resolved), prefix=prefix, retry=retry, reopen=reopen)


def check_options(spec: ProviderSpec, options: Mapping[str, Any]) -> StoreOptions:
    """``options`` checked against the provider's options class; a problem is an ``InvalidArgument``."""
    from .errors import InvalidArgument
    from .options import OptionError

    try:
        return spec.options.parse(options)
    except OptionError as exc:
        raise InvalidArgument(f"option {exc}", provider=spec.scheme) from None


def _resolve_secret_refs(
    options: dict[str, Any], resolver: Resolver | None = None, *, refresh: bool = False
) -> dict[str, Any]:
    """Replace ``secret://store/name[#field]`` option values with the secret's value (``options`` itself
    when none is a reference). ``refresh=True`` reads past the secrets cache."""
    from core.credentials import NoResolverError, current_resolver, is_reference

    refs = {k: v for k, v in options.items() if is_reference(v)}
    if not refs:
        return options
    try:
        resolve = resolver or current_resolver()
    except NoResolverError as exc:
        from .errors import InvalidArgument

        raise InvalidArgument(exc.reason, operation="open") from None
    return {**options, **resolve(refs, refresh=refresh)}


def _reopener(
    factory: Callable[[str, dict[str, Any]], Backend],
    location: str,
    options: dict[str, Any],
    resolved: dict[str, Any],
    resolver: Resolver | None,
) -> Callable[[], Backend | None]:
    """How a store whose options reference secrets rebuilds its backend after a credential was rejected:
    read the references again past the cache; None when they still hold what is in use (a retry
    would fail the same way)."""
    in_use = resolved

    def reopen() -> Backend | None:
        nonlocal in_use
        fresh = _resolve_secret_refs(options, resolver, refresh=True)
        if fresh == in_use:
            return None
        backend = factory(location, fresh)
        in_use = fresh
        return backend

    return reopen


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
    "ProviderNotInstalled",
    "ProviderSpec",
    "RetryPolicy",
    "StorageError",
    "Throttled",
    "TransientError",
    "Unauthenticated",
    "Unsupported",
    "copy_object",
    "open_store",
    "register_provider",
]
