"""``env://[PREFIX]``: read-only secrets from environment variables (local runs, CI, container secrets).

``get("db-password")`` with prefix ``APP_`` reads ``APP_db-password`` if set, else ``APP_DB_PASSWORD``.
There is one version, ``env``, which is ``current``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..api import CURRENT, SecretBackend, SecretValue, SecretVersion
from ..errors import SecretNotFound, SecretsInvalidArgument, SecretsUnsupported

VERSION = "env"


class EnvBackend(SecretBackend):
    provider = "env"
    read_only = True
    max_value_bytes = 1 << 20

    def __init__(self, prefix: str, options: dict[str, Any]) -> None:
        environ = options.pop("environ", None)
        if options:
            raise SecretsInvalidArgument(f"unknown env:// options: {', '.join(sorted(options))}", provider="env")
        self._prefix = prefix
        self._environ: Mapping[str, str] = os.environ if environ is None else environ

    def describe(self) -> str:
        return f"env://{self._prefix}"

    def _lookup(self, name: str) -> str:
        for key in (self._prefix + name, self._prefix + re.sub(r"[^A-Za-z0-9]", "_", name).upper()):
            value = self._environ.get(key)
            if value is not None:
                return value
        raise SecretNotFound("no such environment variable", provider="env", operation="get", name=name)

    def read(self, name: str, *, version: str | None, stage: str | None) -> SecretValue:
        if (version not in (None, VERSION)) or (stage not in (None, CURRENT)):
            raise SecretNotFound(
                "env:// secrets have only the current version 'env'", provider="env", operation="get", name=name
            )
        return SecretValue(self._lookup(name), VERSION)

    def list_versions(self, name: str) -> list[SecretVersion]:
        self._lookup(name)
        return [SecretVersion(VERSION, (CURRENT,))]

    def _read_only(self, operation: str, name: str) -> SecretsUnsupported:
        return SecretsUnsupported("env:// is read-only", provider="env", operation=operation, name=name)

    def write(self, name: str, value: str, *, expires_on: datetime | None = None) -> str:
        raise self._read_only("put", name)

    def put_pending(self, name: str, value: str, token: str, *, expires_on: datetime | None = None) -> str:
        raise self._read_only("put_pending", name)

    def promote(self, name: str, version: str) -> None:
        raise self._read_only("promote", name)

    def discard(self, name: str, version: str) -> None:
        raise self._read_only("discard", name)
