"""One error tree for every store.

Each error mixes in the matching builtin (``NotFound`` is a ``FileNotFoundError``) so ordinary
Python code keeps working, and carries where it happened and whether a retry can help.
No SDK exception leaves the public API: providers translate at the edge.
"""

from __future__ import annotations

from core.errors import CircleError, redact


class StorageError(CircleError):
    """Base of every storage error; adds the bucket and key it concerns."""

    def __init__(
        self,
        message: str = "",
        *,
        provider: str | None = None,
        operation: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(
            message, provider=provider, operation=operation, request_id=request_id, status=status, retryable=retryable
        )

    def _where(self) -> str:
        if not (self.provider or self.bucket):
            return ""
        where = f"{self.provider or '?'}://{self.bucket or ''}"
        return where + (f"/{self.key}" if self.key is not None else "")


class NotFound(StorageError, FileNotFoundError):
    """The object, bucket or container does not exist."""


class AlreadyExists(StorageError, FileExistsError):
    """A create-only write (``if_none_match="*"``) found an existing object."""


class PreconditionFailed(StorageError):
    """A conditional operation's ETag or generation did not match."""


class PermissionDenied(StorageError, PermissionError):
    """The credential is valid but not allowed to do this."""


class Unauthenticated(StorageError, PermissionError):
    """The credential is missing, wrong or expired (a rotation may have just happened)."""


class InvalidKey(StorageError, ValueError):
    """The key cannot be stored (empty, too long, or escaping a local root)."""


class InvalidArgument(StorageError, ValueError):
    """An argument other than the key is malformed (a range, an expiry, an option)."""


class Unsupported(StorageError, NotImplementedError):
    """The store cannot do this; it never silently does something weaker."""


class IntegrityError(StorageError):
    """Bytes written do not match bytes read (size or checksum); the partial copy was removed."""


class TransientError(StorageError):
    """A server error or dropped connection that a retry may cure."""

    retryable_default = True


class Throttled(TransientError):
    """The service asked us to slow down (429, 503 SlowDown)."""


def error_for_status(status: int | None, code: str | None = None) -> type[StorageError]:
    """Pick the error class for an HTTP status (and a provider error code where it refines it)."""
    code = (code or "").lower()
    if code in {
        "slowdown",
        "throttling",
        "throttlingexception",
        "requestlimitexceeded",
        "toomanyrequests",
        "serverbusy",
    }:
        return Throttled
    if code in {"nosuchkey", "nosuchbucket", "blobnotfound", "containernotfound", "notfound", "404"}:
        return NotFound
    if code in {
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "expiredtoken",
        "authenticationfailed",
        "invalidtoken",
        "unrecognizedclientexception",
    }:
        return Unauthenticated
    if status is None:
        return TransientError
    if status == 404:
        return NotFound
    if status == 412:
        return PreconditionFailed
    if status == 409:
        if code in {"conditionalrequestconflict", "operationaborted"}:
            return TransientError  # a concurrent conditional write on S3: AWS says to retry
        return AlreadyExists if code in {"blobalreadyexists", ""} else StorageError
    if status == 401:
        return Unauthenticated
    if status == 403:
        return PermissionDenied
    if status == 429:
        return Throttled
    if status == 503:
        return Throttled if code in {"slowdown", "serverbusy", ""} else TransientError
    if status == 408 or status >= 500:
        return TransientError
    if status == 400:
        return InvalidArgument
    if status == 501:
        return Unsupported
    return StorageError


__all__ = [
    "AlreadyExists",
    "IntegrityError",
    "InvalidArgument",
    "InvalidKey",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "StorageError",
    "Throttled",
    "TransientError",
    "Unauthenticated",
    "Unsupported",
    "error_for_status",
    "redact",
]
