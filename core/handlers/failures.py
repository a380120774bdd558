"""Failure classes: what a failed event means for the platform that delivered it.

- ``retryable``: may succeed later (throttling, 5xx, timeouts, a race that did not settle). The platform
  redelivers it (SQS ``batchItemFailures``, a non-2xx answer for Event Grid and Eventarc).
- ``permanent``: can never succeed for this event (unreadable payload, object larger than the target
  allows, a key the target cannot store). Dead-lettered and acknowledged.
- ``configuration``: cannot succeed until someone changes the setup (missing bucket or container,
  permission denied, unresolvable secret, invalid configuration). Dead-lettered and acknowledged.

Every handler classifies with ``classify`` so one error means the same thing on every path.
"""

from __future__ import annotations

from typing import Literal

FailureClass = Literal["retryable", "permanent", "configuration"]
FAILURE_CLASSES: tuple[FailureClass, ...] = ("retryable", "permanent", "configuration")

# Provider error codes (as rendered into a StorageError's reason) that name a missing bucket/container.
_MISSING_BUCKET_CODES = ("nosuchbucket", "containernotfound", "bucketnotfound", "nosuchcontainer")


class ReplicationFailure(Exception):
    """A failure the replication handler found itself (not raised by a store), with its class."""

    failure: FailureClass = "retryable"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MissingBucket(ReplicationFailure):
    """The bucket or container a store names does not exist (a configuration problem, not a race)."""

    failure: FailureClass = "configuration"

    def __init__(self, role: str, bucket: str) -> None:
        self.role = role
        self.bucket = bucket
        super().__init__(f"{role} bucket {bucket} does not exist")


class NotConverged(ReplicationFailure):
    """The source or the replica kept changing for every attempt: try again later."""

    failure: FailureClass = "retryable"


class DeadlineReached(ReplicationFailure):
    """Too little time was left to start this work; it was not started (nothing half-done)."""

    failure: FailureClass = "retryable"


def names_missing_bucket(exc: BaseException) -> bool:
    """Whether a ``NotFound`` says by itself that the bucket/container (not the key) is missing.

    Providers answer a HEAD of a missing key and of a missing bucket alike (404 without a body), so a
    False here proves nothing: ``core.handlers.replication`` then checks the bucket with one listing.
    """
    if getattr(exc, "missing", None) in ("bucket", "container"):  # if the storage layer says so
        return True
    reason = str(getattr(exc, "reason", "") or exc).lower()
    return any(code in reason for code in _MISSING_BUCKET_CODES) or ("bucket" in reason and "does not exist" in reason)


def classify(exc: BaseException) -> FailureClass:
    """The failure class of an exception raised while handling one event."""
    if isinstance(exc, ReplicationFailure):
        return exc.failure
    from core.events import EventError
    from core.storage.errors import (
        InvalidArgument,
        InvalidKey,
        NotFound,
        PermissionDenied,
        StorageError,
        Unauthenticated,
        Unsupported,
    )

    if isinstance(exc, EventError):
        return "permanent"
    if isinstance(exc, StorageError):
        if exc.retryable:
            return "retryable"
        if _too_large(exc):
            return "permanent"
        if isinstance(exc, PermissionDenied | Unauthenticated | Unsupported):
            return "configuration"
        if isinstance(exc, NotFound):
            return "configuration" if names_missing_bucket(exc) else "retryable"
        if isinstance(exc, InvalidKey):
            return "permanent"
        if isinstance(exc, InvalidArgument):
            # a 400 on a write is the target refusing this object (too large, bad name): not curable
            return "permanent"
        return "retryable"
    if _is_config_error(exc):
        return "configuration"
    if _is_secrets_error(exc):
        return "retryable" if getattr(exc, "retryable", False) else "configuration"
    return "retryable"  # unknown: keep the event (the platform's own retry and dead-letter policy decide)


def _too_large(exc: BaseException) -> bool:
    """The target refused the object's size (S3 EntityTooLarge, Azure RequestBodyTooLarge, HTTP 413)."""
    if getattr(exc, "status", None) == 413:
        return True
    reason = str(getattr(exc, "reason", "") or exc).lower().replace(" ", "")
    return "toolarge" in reason or "exceedsthemaximumallowedsize" in reason


def _is_config_error(exc: BaseException) -> bool:
    from core.config import ConfigError

    return isinstance(exc, ConfigError)


def _is_secrets_error(exc: BaseException) -> bool:
    from core.secrets.errors import SecretsError

    return isinstance(exc, SecretsError)


def describe(exc: BaseException) -> str:
    """A one-line reason for logs, results and dead-letter records (errors redact their own text)."""
    if isinstance(exc, ReplicationFailure):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"
