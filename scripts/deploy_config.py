"""What a deployment needs to know from ``circle.toml``: which buckets the functions read and write, which
secrets and KMS keys the stores reference. scripts/deploy.py turns these into grants (template
parameters, role assignments, IAM bindings), so the functions get exactly what the configuration uses.

The file is read as data (TOML plus the ``[env.<name>]`` overlay, merged the way ``core.config`` merges
it); ``make bundle`` has already validated it with ``core.config.load_config``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from core.handlers.checkpoint import RESERVED_PREFIX

SECRET_PREFIX = "secret://"
# The store option naming an SSE-KMS key (core.storage.options.S3Options): the functions need
# kms:GenerateDataKey to write with it and kms:Decrypt to read what it encrypted.
KMS_OPTION = "sse_kms_key_id"
# [http] grant actions that make the HTTP API write to a store (a presigned PUT needs "write" too).
HTTP_WRITE_ACTIONS = frozenset({"write", "delete"})
# IAM grants KMS permissions on key ARNs only; an alias or bare key id cannot be a policy Resource.
_KMS_KEY_ARN = re.compile(r"arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+\Z")


@dataclass(frozen=True)
class Store:
    name: str
    scheme: str
    bucket: str
    prefix: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def azure_account(self) -> str | None:
        """The storage account an ``az://`` store reaches through ``account_url`` (identity-based access,
        which needs a role assignment); None for connection strings and environment credentials."""
        if self.scheme != "az":
            return None
        url = self.options.get("account_url")
        if isinstance(url, str) and not url.startswith(SECRET_PREFIX):
            host = urlsplit(url).hostname or ""
            return host.split(".", 1)[0] or None
        account = self.options.get("account")  # the provider makes https://<account>.blob.core.windows.net
        if url is None and "connection_string" not in self.options and isinstance(account, str):
            return account or None
        return None

    @property
    def reserved_path(self) -> str:
        """Where Circle's own objects live in the bucket: the store's prefix, then ``.circle/`` (probe
        canaries, reconciliation checkpoints)."""
        prefix = self.prefix.strip("/")
        return f"{prefix}/{RESERVED_PREFIX}" if prefix else RESERVED_PREFIX


@dataclass(frozen=True)
class Facts:
    """The parts of one configuration (one overlay applied) that decide a deployment's permissions."""

    stores: Mapping[str, Store]
    sources: frozenset[str]
    written: frozenset[str]  # replication targets and the dead-letter store
    secret_names: tuple[str, ...]
    kms_keys: tuple[str, ...]  # key ARNs of the stores' sse_kms_key_id
    secrets_url: str | None
    # stores whose sse_kms_key_id is an alias or key id: the deploy cannot grant it (CIRCLE_AWS_KMS_KEY_ARNS)
    kms_unresolved: tuple[str, ...] = ()
    # [[rotation]] entries as (secrets, secret): a secrets URL or registered store name, and the secret
    rotations: tuple[tuple[str, str], ...] = ()
    # monitoring: the alarms' thresholds ([monitoring.thresholds] over the defaults)
    alarm_thresholds: Mapping[str, float] = field(default_factory=lambda: dict(ALARM_DEFAULTS))
    # stores an [http] grant lets callers write to or delete from (actions write/delete; "*": every store)
    http_written: frozenset[str] = frozenset()

    def buckets(self, scheme: str, names: frozenset[str]) -> list[str]:
        return sorted({self.stores[n].bucket for n in names if n in self.stores and self.stores[n].scheme == scheme})

    def read_buckets(self, scheme: str) -> list[str]:
        return self.buckets(scheme, self.sources)

    def write_buckets(self, scheme: str) -> list[str]:
        return self.buckets(scheme, self.written)

    def rotated_secrets(self, scheme: str, default_store: str | None = None) -> list[tuple[str, str]]:
        """``(host, secret)`` of each ``[[rotation]]`` entry in a ``scheme://host`` secrets store (the
        host: a project, a vault, a region; may be empty). An entry naming the store ``vault`` counts when
        ``default_store`` (the URL the deployment sets for ``secret://vault``) has this scheme."""
        out: list[tuple[str, str]] = []
        for secrets, secret in self.rotations:
            url = default_store if secrets == "vault" and default_store else secrets
            found, sep, host = url.partition("://")
            if sep and found.lower() == scheme:
                out.append((host.strip("/"), secret))
        return list(dict.fromkeys(out))

    def written_stores(self, scheme: str) -> list[Store]:
        return [self.stores[n] for n in sorted(self.written) if n in self.stores and self.stores[n].scheme == scheme]

    def http_written_stores(self, scheme: str) -> list[Store]:
        """Stores only the HTTP API writes (not already written as targets or dead letters)."""
        names = self.http_written - self.written
        return [self.stores[n] for n in sorted(names) if n in self.stores and self.stores[n].scheme == scheme]

    def fully_written(self) -> frozenset[str]:
        """Stores the functions write anywhere: replication targets, the dead-letter store, and the stores
        [http] grants make writable."""
        return self.written | self.http_written

    def reserved_only_stores(self, scheme: str) -> list[Store]:
        """Every other store of ``scheme``: the functions read it (sources, the HTTP API) and write only
        under its reserved prefix (the probe's canary in every store, reconciliation checkpoints in the
        rule's source or the ``[schedules] checkpoint_store``)."""
        full = self.fully_written()
        return [s for n, s in sorted(self.stores.items()) if s.scheme == scheme and n not in full]


def _merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def secret_name(reference: str) -> str:
    """``secret://<store>/<name>[#field]`` -> ``<name>`` (the secret, whatever field is read)."""
    rest = reference[len(SECRET_PREFIX) :].partition("#")[0]
    return unquote(rest.partition("/")[2])


def document(path: Path, env: str | None) -> dict[str, Any]:
    """The configuration with the ``env`` overlay applied (none, or a name without an overlay: base)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    overlays = data.pop("env", {}) or {}
    if env and isinstance(overlays.get(env), Mapping):
        data = _merge(data, overlays[env])
    return data


def facts(path: Path, env: str | None = None) -> Facts:
    data = document(path, env)
    stores: dict[str, Store] = {}
    for name, body in (data.get("stores") or {}).items():
        url = str(body.get("url", ""))
        scheme, _, rest = url.partition("://")
        bucket, _, prefix = rest.partition("/")
        options = {k: v for k, v in body.items() if k != "url"}
        stores[name] = Store(name, scheme.lower(), bucket, prefix, options)
    rules = data.get("replication") or []
    sources = frozenset(str(r["source"]) for r in rules if r.get("source"))
    written = {t for r in rules for t in r.get("targets", [])}
    dead_letter = data.get("dead_letter") or {}
    if dead_letter.get("store"):
        written.add(str(dead_letter["store"]))
    references = [s for store in stores.values() for s in _strings(store.options) if s.startswith(SECRET_PREFIX)]
    kms: list[str] = []
    kms_unresolved: list[str] = []
    for store in stores.values():
        key = store.options.get(KMS_OPTION)
        if not isinstance(key, str) or store.scheme != "s3":
            continue
        if _KMS_KEY_ARN.match(key):
            kms.append(key)
        else:
            kms_unresolved.append(store.name)  # an alias, a key id or a secret:// reference
    secrets = data.get("secrets") or {}
    # [http] api_keys names secrets of the [secrets] url store too (hashed API keys the HTTP API reads)
    api_keys = [str(k) for k in ((data.get("http") or {}).get("api_keys") or []) if isinstance(k, str)]
    return Facts(
        stores=stores,
        sources=sources,
        written=frozenset(written),
        secret_names=tuple(dict.fromkeys([*(secret_name(r) for r in references), *api_keys])),
        kms_keys=tuple(dict.fromkeys(kms)),
        kms_unresolved=tuple(kms_unresolved),
        rotations=tuple(
            (str(r["secrets"]), str(r["secret"]))
            for r in data.get("rotation") or []
            if isinstance(r, Mapping) and isinstance(r.get("secrets"), str) and isinstance(r.get("secret"), str)
        ),
        secrets_url=secrets.get("url") if isinstance(secrets.get("url"), str) else None,
        alarm_thresholds=thresholds_of(data),
        http_written=http_written_stores(data, stores),
    )


def http_written_stores(data: Mapping[str, Any], stores: Mapping[str, Store]) -> frozenset[str]:
    """The stores some ``[[http.grants]]`` entry allows ``write`` or ``delete`` on (``*``: every store)."""
    out: set[str] = set()
    for grant in (data.get("http") or {}).get("grants") or []:
        if not isinstance(grant, Mapping) or not HTTP_WRITE_ACTIONS & set(grant.get("actions") or []):
            continue
        for name in grant.get("stores") or []:
            out |= set(stores) if name == "*" else {str(name)} & set(stores)
    return frozenset(out)


# -- monitoring (monitor helper): alarm thresholds from [monitoring.thresholds], with the core's defaults ----
ALARM_DEFAULTS: dict[str, float] = {
    "replication_lag_seconds": 900,
    "queue_age_seconds": 600,
    "dlq_depth": 1,
    "errors": 1,
    "throttles": 1,
    "failed_replications": 1,
}


def thresholds_of(data: Mapping[str, Any]) -> dict[str, float]:
    """The thresholds the deployed alarms use: ``[monitoring.thresholds]`` over the defaults (which are
    ``core.monitoring.settings.Thresholds``'s; ``make bundle`` validated the table)."""
    values = dict(ALARM_DEFAULTS)
    table = (data.get("monitoring") or {}).get("thresholds") or {}
    values.update({k: v for k, v in table.items() if k in values and isinstance(v, int | float)})
    return values
