"""The configuration's types: ``StoreConfig`` (one ``[stores.<name>]`` table), ``ReplicationRule`` and
``Config``. Built by ``core.config.parse_config``, which re-exports them (``from core.config import
Config`` keeps working); their own module so that importing ``core.config`` creates no dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from core.storage.registry import ProviderSpec, lookup

if TYPE_CHECKING:
    from core.config_http import HttpSettings
    from core.credentials import Resolver
    from core.events import StorageEvent
    from core.monitoring.settings import MonitoringSettings
    from core.schedules import Schedules
    from core.secrets import SecretsRegistry
    from core.storage import ObjectStore


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """One ``[stores.<name>]`` table. Its identity (``provider``, ``account``/``endpoint``, ``bucket``)
    decides which events belong to it; ``prefix`` is percent-decoded, as ``open_store`` reads it."""

    name: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: match events by ``region`` too: set at load on S3 sources that only their region tells apart
    match_region: bool = False

    @property
    def spec(self) -> ProviderSpec:
        return lookup(self.scheme, self.url)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower()

    @property
    def provider(self) -> str:
        """The cloud (or S3-compatible profile) events from this store carry: ``aws``, ``digitalocean``,
        ``azure``, ``gcp``, ``file``, ``memory``..."""
        return self.spec.cloud_for(self.options)

    @property
    def bucket(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def prefix(self) -> str:
        """The key prefix the URL scopes the store to, decoded (``s3://b/my%20data`` -> ``my data/``)."""
        rest = unquote(urlsplit(self.url).path).strip("/")
        return rest + "/" if rest else ""

    @property
    def account(self) -> str | None:
        """The Azure storage account (or OCI namespace) when the configuration tells it, else None."""
        if self.scheme == "az":
            return _azure_account(self.options)
        if self.scheme == "s3" and self.provider == "oci":
            namespace = self.options.get("namespace")
            return namespace if isinstance(namespace, str) else None
        return None

    @property
    def endpoint(self) -> str | None:
        """The S3 endpoint a store talks to (None: AWS's own endpoints)."""
        if self.scheme != "s3":
            return None
        url = self.options.get("endpoint_url")
        if isinstance(url, str) and url:
            return url.rstrip("/")
        if self.provider == "aws":
            return None
        from core.storage.providers.s3_profiles import get_profile  # data only

        template = get_profile(self.provider).endpoint or ""
        try:
            return template.format(region=self.options.get("region"), namespace=self.options.get("namespace"))
        except (KeyError, IndexError):
            return template

    @property
    def region(self) -> str | None:
        """The AWS region of an S3 store on provider ``aws`` (its ``region`` option), else None. AWS
        events carry the bucket's region, so it tells apart two source buckets of one name in two
        places (AWS and an endpoint such as MinIO, each with its region; see ``match_region``).
        Profiles' events are told apart by their provider: their region spellings differ from the
        options' (Tencent's ``gz``)."""
        if self.scheme != "s3" or self.provider != "aws":
            return None
        region = self.options.get("region")
        return region if isinstance(region, str) and region else None

    @property
    def identity(self) -> tuple[str, str, str]:
        """(provider, account or endpoint, bucket): two stores with the same identity are one place."""
        return (self.provider, self.account or self.endpoint or "", self.bucket)

    def relative_key(self, event: StorageEvent) -> str | None:
        """The event's key relative to this store, or None when the event is not from this store.

        Matches what of the store's identity an event carries: the provider (cloud or S3 profile),
        bucket/container, the account (Azure; OCI namespace) when both the store and the event name
        one, the region (AWS) on stores that ``match_region`` (two sources that only it tells apart),
        and the decoded prefix. An event carries no S3 endpoint: two source stores it could not tell
        apart are refused when the configuration loads."""
        if event.provider != self.provider or event.bucket != self.bucket:
            return None
        mine = self.account
        if mine is not None and event.account is not None and event.account.lower() != mine.lower():
            return None
        if self.match_region and event.region != self.region:
            return None  # an event without a region cannot say which of the two it is from
        prefix = self.prefix
        if not event.key.startswith(prefix):
            return None
        return event.key[len(prefix) :]


def _azure_account(options: Mapping[str, Any]) -> str | None:
    """The account from ``account``, ``account_url`` or a literal connection string (not a reference)."""
    named = options.get("account")
    if isinstance(named, str) and named:
        return named.lower()
    url = options.get("account_url")
    if isinstance(url, str) and url and not url.startswith("secret://"):
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host.endswith(".blob.core.windows.net") or ".blob." in host:
            return host.split(".", 1)[0]
        first = parts.path.strip("/").split("/", 1)[0]  # Azurite / IP-style: http://host:port/<account>
        return first.lower() or None
    text = options.get("connection_string")
    if isinstance(text, str) and not text.startswith("secret://"):
        for item in text.split(";"):
            key, _, value = item.partition("=")
            if key.strip().lower() == "accountname" and value.strip():
                return value.strip().lower()
    return None


@dataclass(frozen=True, slots=True)
class ReplicationRule:
    name: str
    source: str
    targets: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""
    glob: str | None = None
    target_prefix: str = ""
    propagate_deletes: bool = False
    verify: bool = True

    def matches(self, key: str) -> bool:
        """Whether a key (relative to the source store, decoded) falls under this rule."""
        if not (key.startswith(self.prefix) and key.endswith(self.suffix)):
            return False
        if self.glob is None:
            return True
        import fnmatch

        return fnmatch.fnmatchcase(key, self.glob)

    def target_key(self, key: str) -> str:
        """``target_prefix`` + the key relative to the source store (which still holds ``prefix``):
        ``prefix = "data/"``, ``target_prefix = "mirror/"``: ``data/hello.txt`` -> ``mirror/data/hello.txt``."""
        return self.target_prefix + key


@dataclass(frozen=True, slots=True)
class Config:
    stores: Mapping[str, StoreConfig]
    replication: tuple[ReplicationRule, ...] = ()
    env: str | None = None  # the overlay applied; None: the base file
    secrets_url: str | None = None  # the secrets store behind secret://vault/... references
    dead_letter: tuple[str, str] | None = None  # (store, prefix)
    required_env: bool = False
    # target store -> capability flags it lacks among create-only / compare-and-swap writes
    degraded_targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    monitoring: MonitoringSettings | None = None  # [monitoring] (None: absent)
    http: HttpSettings | None = None  # the [http] table (HTTP API auth, grants, limits); None: absent
    schedules: Schedules | None = None  # jobs: the [schedules] table (core.schedules); None: absent

    def open(self, name: str, *, resolver: Resolver | None = None, **overrides: Any) -> ObjectStore:
        """Open the store named ``name``; its ``secret://`` options resolve through ``resolver`` (the
        runtime passes its own), else through a registry of this configuration's secrets stores.
        ``overrides`` replace configured options (the command line's ``--engine``)."""
        from core.storage import open_store

        store = self.stores[name]
        if resolver is None and any(_is_reference(v) for v in store.options.values()):
            resolver = self.secrets_registry().resolve_references
        return open_store(store.url, resolver=resolver, **{**store.options, **overrides})

    def secret_stores(self) -> dict[str, str]:
        """Secrets stores to register by name: ``{"vault": secrets_url}`` when one is configured (the
        runtime registers each in its own ``SecretsRegistry``)."""
        return {"vault": self.secrets_url} if self.secrets_url else {}

    def secrets_registry(self, stores: Mapping[str, str] | None = None) -> SecretsRegistry:
        """A new registry holding this configuration's secrets stores (``stores``, by default
        ``secret_stores()``), over the process registry (stores a program registered, and
        ``CIRCLE_SECRETS_<NAME>``). Opens each secrets store (its SDK loads on first read)."""
        from core.secrets import PROCESS_REGISTRY, SecretsRegistry

        registry = SecretsRegistry(parent=PROCESS_REGISTRY)
        for alias, url in (self.secret_stores() if stores is None else stores).items():
            registry.register(alias, url)
        return registry

    def secret_references(self) -> tuple[str, ...]:
        """Every ``secret://`` reference the stores' options hold (for deploy permissions), sorted."""
        refs = {v for s in self.stores.values() for v in s.options.values() if _is_reference(v)}
        return tuple(sorted(refs))


def _is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith("secret://")


__all__ = ["Config", "ReplicationRule", "StoreConfig"]
