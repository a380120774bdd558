"""Circle Core's configuration: one TOML file (``CIRCLE_CONFIG``) with environment overlays
(``[env.<name>]`` selected by ``CIRCLE_ENV``), validated at start with errors that name the field.

    [stores.primary]
    url = "s3://incoming"
    region = "eu-west-1"

    [stores.backup]
    url = "az://replica"
    connection_string = "secret://vault/azure-connection"   # a reference, never the value

    [[replication]]
    source = "primary"
    prefix = "data/"
    targets = ["backup"]
    propagate_deletes = true
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.storage import ObjectStore, open_store

SCHEME_PROVIDER = {"s3": "aws", "az": "azure", "gs": "gcp", "file": "file", "memory": "memory"}


class ConfigError(ValueError):
    """The configuration is invalid; the message names the field."""


@dataclass(frozen=True, slots=True)
class StoreConfig:
    name: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def provider(self) -> str:
        return SCHEME_PROVIDER[self.url.split("://", 1)[0].lower()]

    @property
    def bucket(self) -> str:
        return self.url.split("://", 1)[1].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        rest = self.url.split("://", 1)[1].partition("/")[2].strip("/")
        return rest + "/" if rest else ""


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
        """Whether a key (relative to the source store) falls under this rule."""
        if not (key.startswith(self.prefix) and key.endswith(self.suffix)):
            return False
        if self.glob is None:
            return True
        import fnmatch

        return fnmatch.fnmatchcase(key, self.glob)

    def target_key(self, key: str) -> str:
        return self.target_prefix + key


@dataclass(frozen=True, slots=True)
class Config:
    stores: Mapping[str, StoreConfig]
    replication: tuple[ReplicationRule, ...] = ()
    env: str | None = None

    def open(self, name: str) -> ObjectStore:
        store = self.stores[name]
        return open_store(store.url, **store.options)


def load_config(path: str | os.PathLike[str] | None = None, *, env: str | None = None) -> Config:
    """Read and validate the configuration named by ``path`` or ``CIRCLE_CONFIG``."""
    path = path or os.environ.get("CIRCLE_CONFIG")
    if not path:
        raise ConfigError("CIRCLE_CONFIG is not set: name the configuration file")
    data = read_document(path)
    return parse_config(data, env=env if env is not None else os.environ.get("CIRCLE_ENV") or None)


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML document at ``path``; a missing or malformed file is a ``ConfigError``."""
    import tomllib  # only when a file is read: adapters import this module on every cold start

    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def parse_config(data: Mapping[str, Any], *, env: str | None = None) -> Config:
    """Validate a configuration document, applying the ``[env.<env>]`` overlay first."""
    data = dict(data)
    overlays = data.pop("env", {})
    _expect(overlays, dict, "env")
    if env:
        if env not in overlays:
            raise ConfigError(f"env.{env}: CIRCLE_ENV names an environment the file does not define")
        data = _deep_merge(data, overlays[env])
    unknown = set(data) - {"stores", "replication", "rotation"}  # [[rotation]]: core.secrets.rotation.config
    if unknown:
        raise ConfigError(f"unknown top-level field(s): {', '.join(sorted(unknown))}")
    stores = _parse_stores(data.get("stores", {}))
    rules = tuple(_parse_rule(i, raw, stores) for i, raw in enumerate(data.get("replication", [])))
    return Config(stores=stores, replication=rules, env=env)


def _parse_stores(raw: Any) -> dict[str, StoreConfig]:
    _expect(raw, dict, "stores")
    stores = {}
    for name, body in raw.items():
        where = f"stores.{name}"
        _expect(body, dict, where)
        url = body.get("url")
        _expect(url, str, f"{where}.url")
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in SCHEME_PROVIDER:
            raise ConfigError(f"{where}.url: {url!r} is not a store URL (s3://, az://, gs://, file://, memory://)")
        options = {k: v for k, v in body.items() if k != "url"}
        stores[name] = StoreConfig(name=name, url=url, options=options)
    return stores


def _parse_rule(index: int, raw: Any, stores: Mapping[str, StoreConfig]) -> ReplicationRule:
    where = f"replication[{index}]"
    _expect(raw, dict, where)
    known = {"name", "source", "targets", "prefix", "suffix", "glob", "target_prefix", "propagate_deletes", "verify"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    source = raw.get("source")
    _expect(source, str, f"{where}.source")
    if source not in stores:
        raise ConfigError(f"{where}.source: unknown store {source!r}")
    targets = raw.get("targets")
    _expect(targets, list, f"{where}.targets")
    if not targets:
        raise ConfigError(f"{where}.targets: name at least one target store")
    for i, target in enumerate(targets):
        _expect(target, str, f"{where}.targets[{i}]")
        if target not in stores:
            raise ConfigError(f"{where}.targets[{i}]: unknown store {target!r}")
        if target == source:
            raise ConfigError(f"{where}.targets[{i}]: a rule cannot replicate a store into itself")
    for text_field in ("name", "prefix", "suffix", "glob", "target_prefix"):
        if text_field in raw:
            _expect(raw[text_field], str, f"{where}.{text_field}")
    for flag in ("propagate_deletes", "verify"):
        if flag in raw:
            _expect(raw[flag], bool, f"{where}.{flag}")
    return ReplicationRule(
        name=raw.get("name", f"{source}->{','.join(targets)}"),
        source=source,
        targets=tuple(targets),
        prefix=raw.get("prefix", ""),
        suffix=raw.get("suffix", ""),
        glob=raw.get("glob"),
        target_prefix=raw.get("target_prefix", ""),
        propagate_deletes=raw.get("propagate_deletes", False),
        verify=raw.get("verify", True),
    )


def _expect(value: Any, kind: type, where: str) -> None:
    if not isinstance(value, kind):
        names = {dict: "a table", list: "an array", str: "a string", bool: "true or false"}
        raise ConfigError(f"{where}: expected {names.get(kind, kind.__name__)}, got {type(value).__name__}")


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
