"""One error tree for every secrets store.

Like ``core.storage.errors``, each error mixes in the matching builtin (``SecretNotFound`` is a
``KeyError``) so ordinary code keeps working. Messages are built from names, versions and provider
error codes only: a secret value never reaches an exception (providers translate SDK errors at the
edge and drop the SDK exception, whose text we do not control).
"""

from __future__ import annotations

from typing import Any

from core.storage.errors import redact


class SecretsError(Exception):
    """Base of every secrets error. ``retryable`` says whether the same call may succeed later."""

    retryable_default = False

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
        self.reason = redact(message)
        self.provider = provider
        self.operation = operation
        self.name = name
        self.code = code
        self.status = status
        self.request_id = request_id
        self.retryable = self.retryable_default if retryable is None else retryable
        super().__init__(self._render())

    def _render(self) -> str:
        head = " ".join(
            p for p in (self.operation, f"{self.provider or '?'}:{self.name}" if self.name else self.provider) if p
        )
        text = f"{head}: {self.reason}" if head else self.reason
        if self.code:
            text += f" [{self.code}]"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._render(), self.__dict__.copy()))


def _rebuild(cls: type[SecretsError], message: str, state: dict[str, Any]) -> SecretsError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


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
