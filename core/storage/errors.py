"""One error tree for every store.

Each error mixes in the matching builtin (``NotFound`` is a ``FileNotFoundError``) so ordinary
Python code keeps working, and carries where it happened and whether a retry can help.
No SDK exception leaves the public API: providers translate at the edge.
"""

from __future__ import annotations

import re
from typing import Any

_SECRET_PATTERNS = [
    # query-string signatures: S3 (SigV2/V4), GCS V4, Azure SAS
    re.compile(
        r"(?i)((?:x-amz-signature|x-goog-signature|signature|sig|x-amz-security-token|x-amz-credential|"
        r"x-goog-credential|awsaccesskeyid)=)[^&\s'\"]+"
    ),
    # connection strings and key material
    re.compile(
        r"(?i)((?:accountkey|sharedaccesssignature|sharedaccesskey|password|secret_access_key|"
        r"aws_secret_access_key|client_secret|private_key)['\"]?\s*[=:]\s*['\"]?)[^;&\s'\"]+"
    ),
    re.compile(r"(?i)(authorization\s*[=:]\s*['\"]?)[^'\"\n]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*-----END [A-Z ]*PRIVATE KEY-----"),
]


def redact(text: str) -> str:
    """Replace credential material in ``text`` (signed URLs, connection strings) with ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text) if pattern.groups else pattern.sub("***", text)
    return text


class StorageError(Exception):
    """Base of every storage error. ``retryable`` says whether the same call may succeed later."""

    retryable_default = False

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
        self.reason = redact(message)
        self.provider = provider
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.request_id = request_id
        self.status = status
        self.retryable = self.retryable_default if retryable is None else retryable
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.provider or self.bucket:
            where = f"{self.provider or '?'}://{self.bucket or ''}"
            if self.key is not None:
                where += f"/{self.key}"
        parts = [p for p in (self.operation, where) if p]
        head = " ".join(parts)
        text = f"{head}: {self.reason}" if head else self.reason
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.reason, self.__dict__.copy()))


def _rebuild(cls: type[StorageError], message: str, state: dict[str, Any]) -> StorageError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


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
        return AlreadyExists if code in {"blobalreadyexists", "conditionalrequestconflict", ""} else StorageError
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
