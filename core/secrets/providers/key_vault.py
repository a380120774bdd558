"""``keyvault://<vault-name-or-host>``: Azure Key Vault secrets through ``azure-keyvault-secrets``.

Key Vault has versions but no staging labels, so the stage lives in a per-version tag ``circle-stage``
(``current``/``pending``/``previous``/``retired``) and a rotation token in the tag ``circle-token``.
The ``current`` version is the newest *enabled* version whose ``circle-stage`` is ``current`` or unset,
so secrets written by other tools (no tag) keep working and a crash between two tag updates never
leaves two answers. Discarding a version disables it, which Key Vault enforces (reads get 403).

Key Vault's "latest" version (a read without version) is a pending version during a rotation; readers
outside Circle Core that read "latest" see it early. See docs/secrets.md.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any, NoReturn

from ..api import CURRENT, PENDING, PREVIOUS, SecretBackend, SecretValue, SecretVersion
from ..errors import (
    SecretNotFound,
    SecretsConflict,
    SecretsError,
    SecretsInvalidArgument,
    SecretsPermissionDenied,
    SecretsTransientError,
    SecretsUnauthenticated,
    error_for_status,
)

STAGE_TAG = "circle-stage"
TOKEN_TAG = "circle-token"
SEQ_TAG = "circle-seq"  # creation order finer than Key Vault's whole-second ``created``
RETIRED = "retired"
_OPTIONS = {"vault_url", "credential", "connection_verify", "verify_challenge_resource", "api_version", "client"}


def vault_url_for(location: str) -> str:
    """``myvault`` -> ``https://myvault.vault.azure.net``; a host (with a dot or port) is used as is."""
    if not location:
        raise SecretsInvalidArgument("keyvault:// needs a vault name or host", provider="keyvault")
    if "." in location or ":" in location:
        return f"https://{location}"
    return f"https://{location}.vault.azure.net"


def _seq() -> str:
    return str(time.time_ns())


def _order(p: Any) -> tuple[float, int]:
    """Oldest first: by ``created`` and, within one second, by our sequence tag."""
    created = p.created_on.timestamp() if p.created_on is not None else 0.0
    seq = (p.tags or {}).get(SEQ_TAG, "0")
    return created, int(seq) if seq.isdigit() else 0


class KeyVaultBackend(SecretBackend):
    provider = "keyvault"
    name_pattern = re.compile(r"^[0-9A-Za-z\-]{1,127}$")
    max_value_bytes = 25 * 1024
    supports_expiry = True

    def __init__(self, location: str, options: dict[str, Any]) -> None:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise SecretsInvalidArgument(
                f"unknown keyvault:// options: {', '.join(sorted(unknown))}", provider=self.provider
            )
        self._client: Any = options.get("client")
        if self._client is None:
            from azure.keyvault.secrets import SecretClient  # lazy: only for keyvault:// stores

            url = options.get("vault_url") or vault_url_for(location)
            credential = options.get("credential")
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            kwargs: dict[str, Any] = {"verify_challenge_resource": options.get("verify_challenge_resource", True)}
            if "connection_verify" in options:
                kwargs["connection_verify"] = options["connection_verify"]
            if "api_version" in options:
                kwargs["api_version"] = options["api_version"]
            self._client = SecretClient(url, credential, **kwargs)
        self._url = str(self._client.vault_url).rstrip("/")

    def describe(self) -> str:
        return "keyvault://" + self._url.removeprefix("https://")

    # -- error translation ----------------------------------------------------------------------------
    def _call(self, operation: str, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        try:
            return fn(*args, **kwargs)
        except ClientAuthenticationError as exc:
            self._raise(exc, operation, name, SecretsUnauthenticated)
        except HttpResponseError as exc:
            self._raise(exc, operation, name, None)
        except ServiceRequestError as exc:
            raise SecretsTransientError(
                type(exc).__name__, provider=self.provider, operation=operation, name=name
            ) from None
        except ValueError as exc:  # the SDK refused the vault's bearer challenge (resource/domain mismatch)
            raise SecretsUnauthenticated(
                f"authentication challenge refused: {str(exc)[:200]}",
                provider=self.provider,
                operation=operation,
                name=name,
            ) from None

    def _raise(self, exc: Any, operation: str, name: str, cls: type[SecretsError] | None) -> NoReturn:
        status = getattr(exc, "status_code", None)
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) or getattr(exc, "reason", None) or ""
        message = getattr(error, "message", None) or ""
        response = getattr(exc, "response", None)
        request_id = response.headers.get("x-ms-request-id") if response is not None else None
        raise (cls or error_for_status(status))(
            str(message)[:300],
            provider=self.provider,
            operation=operation,
            name=name,
            code=str(code),
            status=status,
            request_id=request_id,
        ) from None

    # -- stage bookkeeping ----------------------------------------------------------------------------
    def _props(self, name: str, operation: str) -> list[Any]:
        def listing() -> list[Any]:
            return list(self._client.list_properties_of_secret_versions(name))

        props = self._call(operation, name, listing)
        if not props:
            raise SecretNotFound("no such secret", provider=self.provider, operation=operation, name=name)
        props.sort(key=_order)
        return props  # type: ignore[no-any-return]

    @staticmethod
    def _stage_of(p: Any) -> str | None:
        return (p.tags or {}).get(STAGE_TAG)

    def _resolve(self, props: list[Any]) -> dict[str, str]:
        """Stage -> version over properties sorted oldest first (newest enabled holder wins)."""
        found: dict[str, str] = {}
        for p in props:
            if not p.enabled:
                continue
            stage = self._stage_of(p)
            if stage in (None, CURRENT):
                found[CURRENT] = p.version
            elif stage in (PENDING, PREVIOUS):
                found[stage] = p.version
        return found

    def _tag(self, name: str, p: Any, operation: str, stage: str, *, enabled: bool | None = None) -> None:
        tags = dict(p.tags or {})
        tags[STAGE_TAG] = stage
        self._call(operation, name, self._client.update_secret_properties, name, p.version, tags=tags, enabled=enabled)

    # -- operations -----------------------------------------------------------------------------------
    def read(self, name: str, *, version: str | None, stage: str | None) -> SecretValue:
        if version is None and stage in (None, CURRENT):
            try:
                latest = self._call("get", name, self._client.get_secret, name)
            except SecretsPermissionDenied:
                latest = None  # the latest version is disabled (a discarded pending one): look it up
            if latest is not None and self._stage_of(latest.properties) in (None, CURRENT):
                return SecretValue(latest.value, latest.properties.version)
        if version is None:
            version = self._resolve(self._props(name, "get")).get(stage or CURRENT)
            if version is None:
                raise SecretNotFound(
                    f"no enabled version holds stage {stage!r}", provider=self.provider, operation="get", name=name
                )
        secret = self._call("get", name, self._client.get_secret, name, version)
        return SecretValue(secret.value, secret.properties.version)

    def list_versions(self, name: str) -> list[SecretVersion]:
        props = self._props(name, "versions")
        stages = self._resolve(props)
        return [
            SecretVersion(
                p.version,
                tuple(s for s, v in sorted(stages.items()) if v == p.version),
                p.created_on,
                bool(p.enabled),
                {STAGE_TAG: self._stage_of(p) or "", **({"expires": p.expires_on.isoformat()} if p.expires_on else {})},
            )
            for p in props
        ]

    def expiry(self, name: str) -> datetime | None:
        """When the current version expires (its ``expires`` attribute), None when it has none."""
        props = self._props(name, "expiry")
        current = self._resolve(props).get(CURRENT)
        found = next((p for p in props if p.version == current), None)
        return found.expires_on if found is not None else None

    def stages(self, name: str) -> dict[str, str]:
        return self._resolve(self._props(name, "stages"))

    def write(self, name: str, value: str, *, expires_on: datetime | None = None) -> str:
        secret = self._call(
            "put",
            name,
            self._client.set_secret,
            name,
            value,
            expires_on=expires_on,
            tags={STAGE_TAG: CURRENT, SEQ_TAG: _seq()},
        )
        new = secret.properties.version
        props = self._props(name, "put")
        implicit = self._resolve([p for p in props if p.version != new]).get(CURRENT)
        self._demote(name, props, new, "put", implicit=implicit)
        return str(new)

    def put_pending(self, name: str, value: str, token: str, *, expires_on: datetime | None = None) -> str:
        props = self._props(name, "put_pending")
        for p in props:
            if (p.tags or {}).get(TOKEN_TAG) == token:
                return str(p.version)
        secret = self._call(
            "put_pending",
            name,
            self._client.set_secret,
            name,
            value,
            expires_on=expires_on,
            tags={STAGE_TAG: PENDING, TOKEN_TAG: token, SEQ_TAG: _seq()},
        )
        for p in props:  # one pending version at a time, as AWS moves its AWSPENDING label
            if self._stage_of(p) == PENDING:
                self._tag(name, p, "put_pending", RETIRED)
        return str(secret.properties.version)

    def promote(self, name: str, version: str) -> None:
        props = self._props(name, "promote")
        target = next((p for p in props if p.version == version), None)
        if target is None:
            raise SecretNotFound(f"no version {version!r}", provider=self.provider, operation="promote", name=name)
        if not target.enabled:
            raise SecretsConflict(
                f"version {version!r} is disabled", provider=self.provider, operation="promote", name=name
            )
        if self._stage_of(target) != CURRENT:
            implicit = self._resolve([p for p in props if p.version != version]).get(CURRENT)
            self._tag(name, target, "promote", CURRENT)
            # an untagged current (written by another tool) becomes previous too
            self._demote(name, props, version, "promote", implicit=implicit)
        else:
            self._demote(name, props, version, "promote")

    def _demote(self, name: str, props: list[Any], new: str, operation: str, implicit: str | None = None) -> None:
        """After ``new`` became current: the newest other current -> previous, older holders -> retired."""
        olds = [p for p in props if p.version != new and (self._stage_of(p) == CURRENT or p.version == implicit)]
        if not olds:
            return
        for p in props:
            if p.version != new and self._stage_of(p) == PREVIOUS:
                self._tag(name, p, operation, RETIRED)
        for p in olds[:-1]:
            self._tag(name, p, operation, RETIRED)
        self._tag(name, olds[-1], operation, PREVIOUS)

    def discard(self, name: str, version: str) -> None:
        props = self._props(name, "discard")
        target = next((p for p in props if p.version == version), None)
        if target is None:
            raise SecretNotFound(f"no version {version!r}", provider=self.provider, operation="discard", name=name)
        if self._resolve(props).get(CURRENT) == version:
            raise SecretsConflict(
                "cannot discard the current version", provider=self.provider, operation="discard", name=name
            )
        self._tag(name, target, "discard", RETIRED, enabled=False)

    def close(self) -> None:
        self._client.close()
