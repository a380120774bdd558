"""One secrets interface over AWS Secrets Manager, Azure Key Vault, GCP Secret Manager, env and a file.

    from core.secrets import open_secrets
    secrets = open_secrets("aws-sm://eu-west-1")
    password = secrets.get("prod/db", stage="current")

Configuration refers to credentials as ``secret://<store>/<name>[#field]``; ``resolve_reference`` reads
them through a store registered with ``register_secret_store`` or named by ``CIRCLE_SECRETS_<STORE>``.
Importing this package loads no cloud SDK; a provider loads its SDK when a URL first names it.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from core.credentials import install_default_resolver as _install_default_resolver

from .api import CURRENT, PENDING, PREVIOUS, STAGES, SecretBackend, SecretValue, SecretVersion, Stage
from .cache import DEFAULT_MAX_AGE, SecretCache
from .errors import (
    SecretNotFound,
    SecretsConflict,
    SecretsError,
    SecretsInvalidArgument,
    SecretsPermissionDenied,
    SecretsTransientError,
    SecretsUnauthenticated,
    SecretsUnsupported,
)
from .store import SecretStore, parse_json_object, pick_field

# scheme -> "module:factory"; a factory takes (location, options) and returns a SecretBackend.
PROVIDERS: dict[str, str] = {
    "aws-sm": "core.secrets.providers.aws:AwsSecretsBackend",
    "keyvault": "core.secrets.providers.key_vault:KeyVaultBackend",
    "gcp-sm": "core.secrets.providers.gcp:GcpSecretsBackend",
    "env": "core.secrets.providers.env:EnvBackend",
    "file": "core.secrets.providers.file:FileBackend",
}

ENV_PREFIX = "CIRCLE_SECRETS_"


def open_secrets(url: str, *, max_age: float = DEFAULT_MAX_AGE, **options: Any) -> SecretStore:
    """Open ``aws-sm://[region]``, ``keyvault://<vault>``, ``gcp-sm://<project>``, ``env://[PREFIX]`` or
    ``file:///path/secrets.json``. ``max_age`` (seconds, 0 = no cache) bounds how long reads are cached."""
    if not isinstance(url, str):
        raise SecretsInvalidArgument(f"a secrets URL is a string, not {type(url).__name__}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in PROVIDERS:
        raise SecretsInvalidArgument(
            f"unknown secrets URL scheme {scheme!r} in {url!r}; expected one of {', '.join(sorted(PROVIDERS))}"
        )
    if parts.query or parts.fragment:
        raise SecretsInvalidArgument(f"pass options as keyword arguments, not in the URL {url!r}")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise SecretsInvalidArgument(f"file URLs must be file:///absolute/path.json, got {url!r}")
        location = unquote(parts.path)
    else:
        if parts.path not in ("", "/"):
            raise SecretsInvalidArgument(f"{scheme} URLs take no path, got {url!r}")
        location = unquote(parts.netloc)
    module_name, _, factory_name = PROVIDERS[scheme].partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    return SecretStore(factory(location, options), max_age=max_age)


# -- registries behind secret:// references ---------------------------------------------------------------
_STORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


def _env_key(store: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", store).upper()


class SecretsRegistry:
    """Secrets stores by reference name: ``secret://<name>/...`` reads through the store registered as
    ``name``. The module functions (``register_secret_store``, ``resolve_references``...) use the
    process registry; a runtime (``core.runtime.Circle``) holds its own with ``parent`` set to the
    process one, so what one configuration registers is seen by its own stores only, while stores a
    program registered for the whole process, and ``CIRCLE_SECRETS_<NAME>`` (read by the registry
    without a parent), stay visible. ``resolve_references`` is a ``core.credentials.Resolver``."""

    def __init__(self, parent: SecretsRegistry | None = None) -> None:
        self.parent = parent
        self._stores: dict[str, SecretStore] = {}
        self._lock = threading.Lock()

    def register(self, name: str, store: SecretStore | str, **options: Any) -> SecretStore:
        """Make ``secret://<name>/...`` resolve through ``store`` (a ``SecretStore`` or a URL to open)."""
        if not isinstance(name, str) or not _STORE_NAME.match(name):
            raise SecretsInvalidArgument(f"invalid secrets store name {name!r} (letters, digits, '-', '_')")
        opened = open_secrets(store, **options) if isinstance(store, str) else store
        if not isinstance(opened, SecretStore):
            raise SecretsInvalidArgument(f"expected a SecretStore or a URL, got {type(store).__name__}")
        with self._lock:
            self._stores[name] = opened
        return opened

    def unregister(self, name: str) -> None:
        """Forget a registered store (the store is not closed)."""
        with self._lock:
            self._stores.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._stores)

    def get(self, name: str) -> SecretStore:
        """The store registered here as ``name``, else the parent's, else (no parent) the one
        ``CIRCLE_SECRETS_<NAME>`` names (opened once)."""
        with self._lock:
            found = self._stores.get(name)
        if found is not None:
            return found
        if self.parent is not None:
            return self.parent.get(name)
        url = os.environ.get(_env_key(name))
        if not url:
            # secret://vault/... resolves through circle.toml's [secrets] url (the runtime registers it)
            hint = (
                "set [secrets] url in circle.toml (the CIRCLE_SECRETS_URL environment variable overrides it)"
                if name == "vault"
                else f"set {_env_key(name)} to a secrets URL"
            )
            raise SecretsInvalidArgument(f"no secrets store named {name!r}: {hint}, or call register_secret_store()")
        opened = open_secrets(url)
        with self._lock:
            return self._stores.setdefault(name, opened)

    def resolve_references(self, references: Mapping[str, str], *, refresh: bool = False) -> dict[str, str]:
        """Resolve several references (option -> ``secret://...``), reading each secret once, so the
        fields of one credential (an access key id and its secret key) always come from the same version.

        ``refresh=True`` skips the cache (a credential from it was just rejected).
        """
        parsed = {key: parse_reference(ref) for key, ref in references.items()}
        read: dict[tuple[str, str], SecretValue] = {}
        out: dict[str, str] = {}
        for key, (store_name, name, field) in parsed.items():
            store = self.get(store_name)
            value = read.get((store_name, name))
            if value is None:
                if refresh:
                    store.invalidate(name)
                value = read[(store_name, name)] = store.get_secret(name)
            if field is None:
                out[key] = value.reveal()
            else:
                doc = parse_json_object(value, name=name, provider=store.provider)
                out[key] = pick_field(doc, field, name=name, provider=store.provider)
        return out

    def __repr__(self) -> str:
        return f"SecretsRegistry(names={self.names()!r}, parent={'process' if self.parent else None})"


#: the process registry, behind the module functions (and the default resolver of ``core.credentials``)
PROCESS_REGISTRY = SecretsRegistry()


def register_secret_store(name: str, store: SecretStore | str, **options: Any) -> SecretStore:
    """Make ``secret://<name>/...`` resolve through ``store`` (a ``SecretStore`` or a URL to open) for
    the whole process (a runtime registers its configuration's stores in its own registry)."""
    return PROCESS_REGISTRY.register(name, store, **options)


def unregister_secret_store(name: str) -> None:
    """Forget a store registered for the process (tests, reconfiguration); the store is not closed."""
    PROCESS_REGISTRY.unregister(name)


def get_secret_store(name: str) -> SecretStore:
    """The store registered for the process as ``name``, else the one ``CIRCLE_SECRETS_<NAME>`` names."""
    return PROCESS_REGISTRY.get(name)


def parse_reference(reference: str) -> tuple[str, str, str | None]:
    """Split ``secret://<store>/<name>[#field]`` into (store, name, field)."""
    if not isinstance(reference, str) or not reference.startswith("secret://"):
        raise SecretsInvalidArgument("a secret reference looks like secret://<store>/<name>[#field]")
    rest, _, field = reference[len("secret://") :].partition("#")
    store, _, name = rest.partition("/")
    if not store or not name or not _STORE_NAME.match(store):
        raise SecretsInvalidArgument(
            f"malformed secret reference {reference!r}; expected secret://<store>/<name>[#field]"
        )
    return store, unquote(name), (unquote(field) or None) if "#" in reference else None


def resolve_reference(reference: str, *, refresh: bool = False) -> str:
    """The current value of ``secret://<store>/<name>``, or one field of it with ``#field`` (JSON secrets).

    ``refresh=True`` skips the cache (a credential from it was just rejected).
    """
    return resolve_references({"": reference}, refresh=refresh)[""]


def resolve_references(references: Mapping[str, str], *, refresh: bool = False) -> dict[str, str]:
    """Resolve several references through the process registry (``SecretsRegistry.resolve_references``).

    ``refresh=True`` skips the cache (a credential from it was just rejected).
    """
    return PROCESS_REGISTRY.resolve_references(references, refresh=refresh)


def refresh_reference(reference: str) -> str:
    """Forget the cached value and read it again: call this when a credential was just rejected."""
    return resolve_reference(reference, refresh=True)


def invalidate_reference(reference: str) -> None:
    """Forget the cached value behind ``reference`` without reading it."""
    store_name, name, _ = parse_reference(reference)
    get_secret_store(store_name).invalidate(name)


# The default resolver of ``core.credentials`` (stores opened without a resolver): installed here, by
# the package that provides it, so the seam names no package (it used to import this one by name).
_install_default_resolver(resolve_references)

__all__ = [
    "CURRENT",
    "DEFAULT_MAX_AGE",
    "ENV_PREFIX",
    "PENDING",
    "PREVIOUS",
    "PROCESS_REGISTRY",
    "PROVIDERS",
    "STAGES",
    "SecretBackend",
    "SecretCache",
    "SecretNotFound",
    "SecretStore",
    "SecretValue",
    "SecretVersion",
    "SecretsConflict",
    "SecretsError",
    "SecretsInvalidArgument",
    "SecretsPermissionDenied",
    "SecretsRegistry",
    "SecretsTransientError",
    "SecretsUnauthenticated",
    "SecretsUnsupported",
    "Stage",
    "get_secret_store",
    "invalidate_reference",
    "open_secrets",
    "parse_reference",
    "refresh_reference",
    "register_secret_store",
    "resolve_reference",
    "resolve_references",
    "unregister_secret_store",
]
