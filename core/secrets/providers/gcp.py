"""``gcp-sm://<project>``: GCP Secret Manager through ``google-cloud-secret-manager`` (REST transport).

Stages are the secret's *version aliases* (``current``/``pending``/``previous`` -> version number),
changed with one ``UpdateSecret`` (update mask ``version_aliases``), so a promotion is atomic. A read
without stage or version accesses ``versions/current``, falling back to ``versions/latest`` for secrets
no Circle Core store has written. A rotation token is remembered in the secret's annotations
(``circle-token``, ``circle-token-version``); discarding disables the version.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any, NoReturn

from ..api import (
    CURRENT,
    PENDING,
    STAGES,
    SecretBackend,
    SecretValue,
    SecretVersion,
    discard_stages,
    promote_stages,
)
from ..errors import (
    SecretNotFound,
    SecretsConflict,
    SecretsError,
    SecretsInvalidArgument,
    SecretsPermissionDenied,
    SecretsTransientError,
    SecretsUnauthenticated,
)

TOKEN_KEY = "circle-token"
TOKEN_VERSION_KEY = "circle-token-version"
_OPTIONS = {"credentials", "api_endpoint", "transport", "client"}


def _status_name(exc: Any) -> str | None:
    """The canonical code (``FAILED_PRECONDITION``, ...) from a REST error body, or gRPC's status."""
    response = getattr(exc, "response", None)
    try:
        return str(response.json()["error"]["status"]) if response is not None else None
    except Exception:  # not JSON, or no status: fall back to the class
        grpc_status = getattr(exc, "grpc_status_code", None)
        return getattr(grpc_status, "name", None)


class GcpSecretsBackend(SecretBackend):
    provider = "gcp-sm"
    name_pattern = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
    max_value_bytes = 65536

    def __init__(self, project: str, options: dict[str, Any]) -> None:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise SecretsInvalidArgument(
                f"unknown gcp-sm:// options: {', '.join(sorted(unknown))}", provider=self.provider
            )
        if not re.match(r"^[a-z0-9][a-z0-9\-:.]{0,99}$", project or ""):
            raise SecretsInvalidArgument(f"gcp-sm:// needs a project id, got {project!r}", provider=self.provider)
        self._project = project
        self._client: Any = options.get("client")
        if self._client is None:
            from google.cloud import secretmanager  # lazy: only for gcp-sm:// stores

            client_options = {"api_endpoint": options["api_endpoint"]} if options.get("api_endpoint") else None
            self._client = secretmanager.SecretManagerServiceClient(
                credentials=options.get("credentials"),
                transport=options.get("transport", "rest"),
                client_options=client_options,
            )

    def describe(self) -> str:
        return f"gcp-sm://{self._project}"

    def _secret_path(self, name: str) -> str:
        return f"projects/{self._project}/secrets/{name}"

    # -- error translation ----------------------------------------------------------------------------
    def _call(self, operation: str, name: str, method: str, /, **kwargs: Any) -> Any:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc

        try:
            return getattr(self._client, method)(**kwargs)
        except gexc.GoogleAPICallError as exc:
            self._raise(exc, operation, name)
        except gexc.RetryError:
            raise SecretsTransientError(
                "retries exhausted", provider=self.provider, operation=operation, name=name
            ) from None
        except auth_exc.GoogleAuthError as exc:
            raise SecretsUnauthenticated(
                type(exc).__name__, provider=self.provider, operation=operation, name=name
            ) from None
        except OSError as exc:  # requests' ConnectionError is an OSError
            raise SecretsTransientError(
                type(exc).__name__, provider=self.provider, operation=operation, name=name
            ) from None

    def _raise(self, exc: Any, operation: str, name: str) -> NoReturn:
        from google.api_core import exceptions as gexc

        # over REST the exception class follows the HTTP status; the canonical code is in the body
        status_name = _status_name(exc)
        cls: type[SecretsError]
        if status_name == "FAILED_PRECONDITION" or isinstance(exc, gexc.FailedPrecondition):
            # the version is disabled or destroyed: reads are refused, as Key Vault does with a 403
            cls = SecretsPermissionDenied if operation == "get" else SecretsConflict
        elif status_name == "ABORTED":
            cls = SecretsConflict
        elif isinstance(exc, gexc.NotFound):
            cls = SecretNotFound
        elif isinstance(exc, gexc.Unauthenticated | gexc.Unauthorized):
            cls = SecretsUnauthenticated
        elif isinstance(exc, gexc.Forbidden):
            cls = SecretsPermissionDenied
        elif isinstance(exc, gexc.Conflict):
            cls = SecretsConflict
        elif isinstance(exc, gexc.BadRequest):
            cls = SecretsInvalidArgument
        elif isinstance(exc, gexc.TooManyRequests | gexc.ServerError):
            cls = SecretsTransientError
        else:
            cls = SecretsError
        status = getattr(exc, "code", None)
        message = str(getattr(exc, "message", ""))
        message = message.partition(": ")[2] or message  # drop the "METHOD url: " prefix
        raise cls(
            message[:300],
            provider=self.provider,
            operation=operation,
            name=name,
            code=status_name or type(exc).__name__,
            status=status if isinstance(status, int) else None,
        ) from None

    # -- helpers --------------------------------------------------------------------------------------
    def _get_secret(self, name: str, operation: str) -> Any:
        return self._call(operation, name, "get_secret", name=self._secret_path(name))

    @staticmethod
    def _aliases(secret: Any) -> dict[str, str]:
        return {k: str(v) for k, v in dict(secret.version_aliases).items() if k in STAGES}

    def _set_aliases(
        self, name: str, secret: Any, aliases: dict[str, str], operation: str, annotations: dict[str, str] | None = None
    ) -> None:
        """Replace the Circle stage aliases (other aliases are kept) with one UpdateSecret."""
        merged = {k: int(v) for k, v in dict(secret.version_aliases).items() if k not in STAGES}
        merged.update({k: int(v) for k, v in aliases.items()})
        body: dict[str, Any] = {"name": self._secret_path(name), "version_aliases": merged}
        paths = ["version_aliases"]
        if annotations is not None:
            body["annotations"] = {**dict(secret.annotations), **annotations}
            paths.append("annotations")
        self._call(operation, name, "update_secret", secret=body, update_mask={"paths": paths})

    def _add(self, name: str, value: str, operation: str) -> str:
        import google_crc32c

        data = value.encode("utf-8")
        out = self._call(
            operation,
            name,
            "add_secret_version",
            parent=self._secret_path(name),
            payload={"data": data, "data_crc32c": int(google_crc32c.value(data))},
        )
        return str(out.name.rsplit("/", 1)[-1])

    # -- operations -----------------------------------------------------------------------------------
    def read(self, name: str, *, version: str | None, stage: str | None) -> SecretValue:
        path = f"{self._secret_path(name)}/versions/{version or stage or CURRENT}"
        try:
            out = self._call("get", name, "access_secret_version", name=path)
        except SecretNotFound:
            if version is not None or stage not in (None, CURRENT):
                raise
            # not managed by Circle Core (no "current" alias): the newest version is current
            out = self._call("get", name, "access_secret_version", name=f"{self._secret_path(name)}/versions/latest")
        data = bytes(out.payload.data)
        if out.payload.data_crc32c:
            import google_crc32c

            if int(google_crc32c.value(data)) != int(out.payload.data_crc32c):
                raise SecretsTransientError(
                    "payload checksum mismatch", provider=self.provider, operation="get", name=name
                )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretsInvalidArgument(
                "the secret is binary, not UTF-8 text", provider=self.provider, operation="get", name=name
            ) from None
        return SecretValue(text, str(out.name).rsplit("/", 1)[-1])

    def list_versions(self, name: str) -> list[SecretVersion]:
        stages = self.stages(name)
        pager = self._call("versions", name, "list_secret_versions", parent=self._secret_path(name))
        from google.cloud.secretmanager import SecretVersion as GcpVersion

        def collect() -> list[Any]:
            return list(pager)

        items = self._iterate(name, collect)
        out = []
        for v in sorted(items, key=lambda v: int(v.name.rsplit("/", 1)[-1])):
            vid = v.name.rsplit("/", 1)[-1]
            created = v.create_time if v.create_time else None
            out.append(
                SecretVersion(
                    vid,
                    tuple(s for s, x in sorted(stages.items()) if x == vid),
                    created,
                    v.state == GcpVersion.State.ENABLED,
                    {"state": GcpVersion.State(v.state).name},
                )
            )
        return out

    def expiry(self, name: str) -> datetime | None:
        """The secret's ``expire_time`` (set directly or through a ``ttl``), None when it has none."""
        secret = self._get_secret(name, "expiry")
        if "expire_time" not in secret:
            return None
        when = secret.expire_time
        return datetime.fromtimestamp(when.timestamp(), UTC) if when else None

    def _iterate(self, name: str, collect: Any) -> list[Any]:
        from google.api_core import exceptions as gexc

        try:
            return list(collect())
        except gexc.GoogleAPICallError as exc:  # later pages are fetched while iterating
            self._raise(exc, "versions", name)

    def stages(self, name: str) -> dict[str, str]:
        secret = self._get_secret(name, "stages")
        aliases = self._aliases(secret)
        if CURRENT not in aliases:
            with contextlib.suppress(SecretNotFound, SecretsPermissionDenied):
                aliases[CURRENT] = self.read(name, version=None, stage=CURRENT).version or ""
        return {k: v for k, v in aliases.items() if v}

    def write(self, name: str, value: str, *, expires_on: datetime | None = None) -> str:
        try:
            secret = self._get_secret(name, "put")
        except SecretNotFound:
            with contextlib.suppress(SecretsConflict):  # created concurrently
                self._call(
                    "put",
                    name,
                    "create_secret",
                    parent=f"projects/{self._project}",
                    secret_id=name,
                    secret={"replication": {"automatic": {}}},
                )
            secret = self._get_secret(name, "put")
        aliases = self._aliases(secret)
        if CURRENT not in aliases:  # an unmanaged secret's newest version becomes previous
            implicit = self.stages(name).get(CURRENT)
            if implicit:
                aliases[CURRENT] = implicit
        new = self._add(name, value, "put")
        self._set_aliases(name, secret, promote_stages(aliases, new), "put")
        return new

    def put_pending(self, name: str, value: str, token: str, *, expires_on: datetime | None = None) -> str:
        secret = self._get_secret(name, "put_pending")
        annotations = dict(secret.annotations)
        if annotations.get(TOKEN_KEY) == token and annotations.get(TOKEN_VERSION_KEY):
            return annotations[TOKEN_VERSION_KEY]
        new = self._add(name, value, "put_pending")
        aliases = self._aliases(secret)
        aliases[PENDING] = new
        self._set_aliases(name, secret, aliases, "put_pending", annotations={TOKEN_KEY: token, TOKEN_VERSION_KEY: new})
        return new

    def _check_version(self, name: str, version: str, operation: str) -> Any:
        if not version.isdigit():
            raise SecretNotFound(f"no version {version!r}", provider=self.provider, operation=operation, name=name)
        return self._call(operation, name, "get_secret_version", name=f"{self._secret_path(name)}/versions/{version}")

    def promote(self, name: str, version: str) -> None:
        from google.cloud.secretmanager import SecretVersion as GcpVersion

        secret = self._get_secret(name, "promote")
        target = self._check_version(name, version, "promote")
        if target.state != GcpVersion.State.ENABLED:
            raise SecretsConflict(
                f"version {version!r} is not enabled", provider=self.provider, operation="promote", name=name
            )
        aliases = self._aliases(secret)
        if CURRENT not in aliases:
            implicit = self.stages(name).get(CURRENT)
            if implicit and implicit != version:
                aliases[CURRENT] = implicit
        new = promote_stages(aliases, version)
        if new != self._aliases(secret):
            self._set_aliases(name, secret, new, "promote")

    def discard(self, name: str, version: str) -> None:
        from google.cloud.secretmanager import SecretVersion as GcpVersion

        secret = self._get_secret(name, "discard")
        target = self._check_version(name, version, "discard")
        if self.stages(name).get(CURRENT) == version:
            raise SecretsConflict(
                "cannot discard the current version", provider=self.provider, operation="discard", name=name
            )
        aliases = self._aliases(secret)
        new = discard_stages(aliases, version)
        if new != aliases:
            self._set_aliases(name, secret, new, "discard")
        if target.state == GcpVersion.State.ENABLED:
            self._call("discard", name, "disable_secret_version", name=f"{self._secret_path(name)}/versions/{version}")

    def close(self) -> None:
        transport = getattr(self._client, "transport", None)
        if transport is not None:
            transport.close()
