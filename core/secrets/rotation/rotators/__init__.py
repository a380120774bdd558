"""Pluggable rotators: each knows how to mint, install, test and revoke one kind of credential.

A rotator never touches the secret store: the engine stores, promotes and discards versions. Every
method must be safe to call again with the same arguments (a step may be redelivered after a crash).
Credentials travel as JSON documents; fields other than the credential itself (``kind``, ``user_name``)
are carried over from the current document, so a secret seeded with ``{"kind": ..., "user_name": ...}``
rotates without any other configuration.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ...errors import SecretsInvalidArgument
from ..strategies import Strategy

Credential = dict[str, Any]

#: kind -> "module:class"; loaded on first use so importing the engine loads no cloud SDK
ROTATORS: dict[str, str] = {
    "aws_iam_access_key": "core.secrets.rotation.rotators.iam_access_key:IamAccessKeyRotator",
    "hmac_api_key": "core.secrets.rotation.rotators.hmac_api_key:HmacApiKeyRotator",
    "gcs_hmac_key": "core.secrets.rotation.rotators.gcs_hmac_key:GcsHmacKeyRotator",
    "azure_storage_key": "core.secrets.rotation.rotators.azure_storage_key:AzureStorageKeyRotator",
    "http_api_key": "core.http_api.apikeys:HttpApiKeyRotator",  # the HTTP API's hashed API keys (http area)
}


@dataclass(frozen=True)
class RotatorContext:
    """What a rotator may know about the rotation in progress (values are redacted from the repr)."""

    name: str
    token: str
    strategy: Strategy
    current: Credential | None = field(default=None, repr=False)
    previous: Credential | None = field(default=None, repr=False)


@runtime_checkable
class Rotator(Protocol):
    """A rotator may also declare ``credential_fields`` (a tuple of document fields holding the
    credential, the first one saying whether there is one): the engine then recognises a seed document
    and tests a pending version it did not mint (AWS's own) without comparing it with ``current``."""

    kind: str

    def create(self, ctx: RotatorContext) -> Credential:
        """Mint a new credential (making room first if the system limits how many may exist)."""

    def set(self, ctx: RotatorContext, pending: Credential) -> None:
        """Install the new credential where it must be known before it can work (often nothing)."""

    def test(self, ctx: RotatorContext, pending: Credential) -> None:
        """Raise ``RotationTestFailed`` unless the new credential works."""

    def finish(self, ctx: RotatorContext, current: Credential) -> None:
        """After promotion: revoke what the strategy no longer keeps (``ctx.previous`` is the old one)."""

    def cleanup(self, ctx: RotatorContext, pending: Credential) -> None:
        """Revoke a pending credential that failed its test or was abandoned."""


def rotator_for(kind: str, params: Mapping[str, Any] | None = None, **clients: Any) -> Rotator:
    """Build the rotator named ``kind`` with its parameters (``clients`` inject SDK clients, e.g. tests)."""
    target = ROTATORS.get(kind) if isinstance(kind, str) else None
    if target is None:
        raise SecretsInvalidArgument(f"unknown rotator {kind!r}; expected one of {', '.join(sorted(ROTATORS))}")
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    rotator: Rotator = cls(dict(params or {}), **clients)
    return rotator


def carry_over(current: Credential | None, kind: str, fields: Mapping[str, Any]) -> Credential:
    """A new document: the current one's non-credential fields, ``kind``, then the new ``fields``."""
    secret_fields = {"rotation_token"} | set(fields)
    base = {k: v for k, v in (current or {}).items() if k not in secret_fields}
    return {**base, "kind": kind, **fields}


def holds_credential(rotator: Rotator, doc: Credential | None) -> bool:
    """Whether ``doc`` carries a credential of ``rotator``'s kind (a seed ``{"kind", "user_name"}`` does not)."""
    fields = getattr(rotator, "credential_fields", ())
    return bool(doc) and (not fields or bool((doc or {}).get(fields[0])))


def without_credential(rotator: Rotator, doc: Credential | None) -> Credential | None:
    """``doc`` without its credential fields (what a rotator may read as context: user, account, kind)."""
    if doc is None:
        return None
    fields = set(getattr(rotator, "credential_fields", ())) | {"rotation_token"}
    return {k: v for k, v in doc.items() if k not in fields}


def require(params: Mapping[str, Any], name: str, kind: str, current: Credential | None = None) -> str:
    """A required string parameter, from the rotator's parameters or else the current document."""
    value = params.get(name)
    if value is None and current is not None:
        value = current.get(name)
    if not isinstance(value, str) or not value:
        raise SecretsInvalidArgument(f"{kind}: parameter {name!r} is required (a non-empty string)")
    return value
