"""``SecretStore``: the public face of every secrets backend.

Validation, JSON documents, caching and logging live here once; a ``SecretBackend`` only maps the
primitives onto its service. Log lines carry names, versions and stages, never values.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

from .api import CURRENT, STAGES, SecretBackend, SecretValue, SecretVersion
from .cache import DEFAULT_MAX_AGE, SecretCache
from .errors import SecretNotFound, SecretsInvalidArgument, SecretsUnsupported

log = logging.getLogger("circle.secrets")

#: rotation tokens: AWS's ClientRequestToken length (32..64) and a charset every service can store
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{32,64}$")


class SecretStore:
    """One secrets service (or environment, or file) behind a uniform, cached interface."""

    def __init__(self, backend: SecretBackend, *, max_age: float = DEFAULT_MAX_AGE) -> None:
        self._backend = backend
        self._cache = SecretCache(max_age)

    # -- identity -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._backend.describe()

    @property
    def provider(self) -> str:
        return self._backend.provider

    @property
    def backend(self) -> SecretBackend:
        return self._backend

    @property
    def max_age(self) -> float:
        return self._cache.max_age

    def __repr__(self) -> str:
        return f"SecretStore({self.url!r}, max_age={self.max_age:g})"

    def close(self) -> None:
        self._cache.invalidate()
        self._backend.close()

    def __enter__(self) -> SecretStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ----------------------------------------------------------------------------------------
    def get(self, name: str, *, version: str | None = None, stage: str | None = None) -> str:
        """The value of the ``current`` version, or of ``version``, or of the version holding ``stage``."""
        return self.get_secret(name, version=version, stage=stage).reveal()

    def get_secret(self, name: str, *, version: str | None = None, stage: str | None = None) -> SecretValue:
        """Like ``get`` but returns a ``SecretValue`` (redacted repr) carrying the version id."""
        self._name(name, "get")
        if version is not None and stage is not None:
            raise SecretsInvalidArgument(
                "pass version or stage, not both", operation="get", name=name, provider=self.provider
            )
        if version is not None:
            self._version(name, version, "get")
        if stage is not None:
            self._stage(name, stage, "get")
        elif version is None:
            stage = CURRENT
        key = (name, version, stage)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        value = self._backend.read(name, version=version, stage=stage)
        log.debug("secret read", extra={"secret_name": name, "secret_version": value.version, "secret_store": self.url})
        self._cache.put(key, value)
        return value

    def get_json(self, name: str, *, version: str | None = None, stage: str | None = None) -> dict[str, Any]:
        """The secret parsed as a JSON object (a credential with several fields)."""
        return parse_json_object(self.get_secret(name, version=version, stage=stage), name=name, provider=self.provider)

    def versions(self, name: str) -> list[SecretVersion]:
        """Every version the service still knows, oldest first (never cached)."""
        self._name(name, "versions")
        return self._backend.list_versions(name)

    def stages(self, name: str) -> dict[str, str]:
        """Stage -> version id, for the stages that are set (never cached)."""
        self._name(name, "stages")
        return self._backend.stages(name)

    def get_stage(self, name: str, stage: str) -> str | None:
        """The version id holding ``stage``, or None when no version holds it."""
        self._name(name, "get_stage")
        self._stage(name, stage, "get_stage")
        return self._backend.stages(name).get(stage)

    # -- writes ---------------------------------------------------------------------------------------
    def put(self, name: str, value: str | dict[str, Any], *, expires_on: datetime | None = None) -> str:
        """Store a new ``current`` version (creating the secret); a dict is stored as JSON. Returns its id.
        ``expires_on`` (timezone-aware) is the version's expiry where the service has one (Key Vault)."""
        self._name(name, "put")
        text = self._value(name, value, "put")
        self._expiry(name, expires_on, "put")
        version = self._backend.write(name, text, expires_on=expires_on)
        self._cache.invalidate(name)
        log.info("secret written", extra={"secret_name": name, "secret_version": version, "secret_store": self.url})
        return version

    def put_pending(
        self, name: str, value: str | dict[str, Any], token: str, *, expires_on: datetime | None = None
    ) -> str:
        """Add a ``pending`` version keyed by ``token``; calling again with the same token writes nothing
        and returns the same version (the first value wins). The secret must exist. ``expires_on`` as
        for ``put``."""
        self._name(name, "put_pending")
        text = self._value(name, value, "put_pending")
        if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
            raise SecretsInvalidArgument(
                "a rotation token is 32..64 characters of [A-Za-z0-9_-]",
                operation="put_pending",
                name=name,
                provider=self.provider,
            )
        self._expiry(name, expires_on, "put_pending")
        version = self._backend.put_pending(name, text, token, expires_on=expires_on)
        self._cache.invalidate(name)
        log.info(
            "pending version stored", extra={"secret_name": name, "secret_version": version, "secret_store": self.url}
        )
        return version

    def promote(self, name: str, version: str) -> None:
        """Make ``version`` current; the old current becomes previous (idempotent)."""
        self._name(name, "promote")
        self._version(name, version, "promote")
        self._backend.promote(name, version)
        self._cache.invalidate(name)
        log.info("version promoted", extra={"secret_name": name, "secret_version": version, "secret_store": self.url})

    def discard(self, name: str, version: str) -> None:
        """Drop a pending (or previous) version and disable it where possible; never the current one."""
        self._name(name, "discard")
        self._version(name, version, "discard")
        self._backend.discard(name, version)
        self._cache.invalidate(name)
        log.info("version discarded", extra={"secret_name": name, "secret_version": version, "secret_store": self.url})

    # -- cache ----------------------------------------------------------------------------------------
    def invalidate(self, name: str | None = None) -> None:
        """Forget cached reads of ``name`` (or of every secret): the next read asks the service."""
        self._cache.invalidate(name)

    # -- validation -----------------------------------------------------------------------------------
    def _name(self, name: object, operation: str) -> None:
        if not isinstance(name, str) or not self._backend.name_pattern.match(name):
            shown = name if isinstance(name, str) and len(name) <= 300 else type(name).__name__
            raise SecretsInvalidArgument(
                f"invalid secret name {shown!r} for {self.provider} (allowed: {self._backend.name_pattern.pattern})",
                operation=operation,
                provider=self.provider,
            )
        if self._backend.read_only and operation in {"put", "put_pending", "promote", "discard"}:
            raise SecretsUnsupported(f"{self.url} is read-only", operation=operation, name=name, provider=self.provider)

    def _version(self, name: str, version: object, operation: str) -> None:
        if not isinstance(version, str) or not re.match(r"^[A-Za-z0-9_\-.]{1,128}$", version):
            raise SecretsInvalidArgument(
                "a version id is a non-empty string of [A-Za-z0-9_.-]",
                operation=operation,
                name=name,
                provider=self.provider,
            )

    def _stage(self, name: str, stage: object, operation: str) -> None:
        if stage not in STAGES:
            raise SecretsInvalidArgument(
                f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}",
                operation=operation,
                name=name,
                provider=self.provider,
            )

    def _expiry(self, name: str, expires_on: object, operation: str) -> None:
        if expires_on is None:
            return
        if not isinstance(expires_on, datetime) or expires_on.tzinfo is None:
            raise SecretsInvalidArgument(
                "expires_on is a timezone-aware datetime", operation=operation, name=name, provider=self.provider
            )
        if not self._backend.supports_expiry:
            raise SecretsUnsupported(
                f"{self.provider} versions have no expiry", operation=operation, name=name, provider=self.provider
            )

    def _value(self, name: str, value: object, operation: str) -> str:
        if isinstance(value, dict):
            try:
                text = json.dumps(value, separators=(",", ":"), sort_keys=True)
            except (TypeError, ValueError):
                raise SecretsInvalidArgument(
                    "a dict value must be JSON-serialisable", operation=operation, name=name, provider=self.provider
                ) from None
        elif isinstance(value, str):
            text = value
        else:
            raise SecretsInvalidArgument(
                f"a secret value is a str or a dict, not {type(value).__name__}",
                operation=operation,
                name=name,
                provider=self.provider,
            )
        if not text:
            raise SecretsInvalidArgument(
                "a secret value cannot be empty", operation=operation, name=name, provider=self.provider
            )
        if len(text.encode("utf-8")) > self._backend.max_value_bytes:
            raise SecretsInvalidArgument(
                f"the value exceeds {self._backend.max_value_bytes} bytes",
                operation=operation,
                name=name,
                provider=self.provider,
            )
        return text


def parse_json_object(value: SecretValue, *, name: str, provider: str | None = None) -> dict[str, Any]:
    """Parse a secret as a JSON object; the error never quotes the text (it is the secret)."""
    try:
        doc = json.loads(value.reveal())
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise SecretsInvalidArgument(
            "the secret is not a JSON object", operation="get_json", name=name, provider=provider
        )
    return doc


def pick_field(doc: dict[str, Any], field: str, *, name: str, provider: str | None = None) -> str:
    """``doc[field]`` as a string (numbers and booleans are rendered as JSON)."""
    if field not in doc:
        raise SecretNotFound(f"field {field!r} is not in the secret", operation="get", name=name, provider=provider)
    item = doc[field]
    return item if isinstance(item, str) else json.dumps(item)
