"""One error tree for every secrets store.

Built on ``core.errors.CircleError`` like ``core.storage.errors``; each error mixes in the matching
builtin (``SecretNotFound`` is a ``KeyError``) so ordinary code keeps working. Messages are built from
names, versions and provider error codes only: a secret value never reaches an exception (providers
translate SDK errors at the edge and drop the SDK exception, whose text we do not control).
"""

from __future__ import annotations

from core.errors import CircleError


class SecretsError(CircleError):
    """Base of every secrets error; adds the secret's name and the provider's error code."""

    def __init__(
        self,
        message: str = "",
        *,
        provider: str | None = None,
        operation: str | None = None,
        name: str | None = None,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.name = name
        self.code = code
        super().__init__(
            message, provider=provider, operation=operation, request_id=request_id, status=status, retryable=retryable
        )

    def _where(self) -> str:
        return f"{self.provider or '?'}:{self.name}" if self.name else (self.provider or "")

    def _suffix(self) -> str:
        return f" [{self.code}]" if self.code else ""


class SecretNotFound(SecretsError, KeyError):
    """The secret, version, stage or JSON field does not exist."""


class SecretsPermissionDenied(SecretsError, PermissionError):
    """The caller is authenticated but not allowed to do this (or the version is disabled)."""


class SecretsUnauthenticated(SecretsError, PermissionError):
    """The credential used to reach the secrets service is missing, wrong or expired."""


class SecretsInvalidArgument(SecretsError, ValueError):
    """Bad input (a malformed name, reference, stage or value); nothing was changed."""


class SecretsConflict(SecretsError):
    """The operation contradicts the secret's state (discarding the current version, a reused token)."""


class SecretsUnsupported(SecretsError, NotImplementedError):
    """The store cannot do this (``env://`` is read-only); it never silently does something weaker."""


class SecretsTransientError(SecretsError):
    """A server error, throttling or dropped connection that a retry may cure."""

    retryable_default = True


def error_for_status(status: int | None) -> type[SecretsError]:
    """Pick the error class for an HTTP status (Key Vault, Secret Manager REST)."""
    if status is None or status == 408 or status == 429 or status >= 500:
        return SecretsTransientError
    if status == 404:
        return SecretNotFound
    if status == 401:
        return SecretsUnauthenticated
    if status == 403:
        return SecretsPermissionDenied
    if status in (409, 412):
        return SecretsConflict
    if status == 400:
        return SecretsInvalidArgument
    if status == 501:
        return SecretsUnsupported
    return SecretsError
