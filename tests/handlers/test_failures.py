"""Failure classes (contract C1), and finding 6: a missing target bucket or container is a
configuration failure that says so, never "source or replica kept changing" or a silent ``ok``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.config import ConfigError
from core.events import EventError
from core.handlers.failures import MissingBucket, NotConverged, classify
from core.handlers.replication import SOURCE_ETAG, converge, sync_created, sync_deleted
from core.secrets.errors import SecretNotFound, SecretsTransientError
from core.storage import (
    AlreadyExists,
    IntegrityError,
    InvalidArgument,
    InvalidKey,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    Throttled,
    TransientError,
    Unauthenticated,
    Unsupported,
    open_store,
)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (Throttled("slow down"), "retryable"),
        (TransientError("503"), "retryable"),
        (NotConverged("kept changing"), "retryable"),
        (IntegrityError("size differs"), "retryable"),
        (PreconditionFailed("etag"), "retryable"),
        (AlreadyExists("exists"), "retryable"),
        (NotFound("no such key", key="k"), "retryable"),
        (NotFound("NoSuchBucket: The specified bucket does not exist", bucket="b"), "configuration"),
        (NotFound("ContainerNotFound: The specified container does not exist."), "configuration"),
        (MissingBucket("target", "b"), "configuration"),
        (PermissionDenied("AccessDenied"), "configuration"),
        (Unauthenticated("InvalidAccessKeyId"), "configuration"),
        (Unsupported("cannot"), "configuration"),
        (SecretNotFound("no such secret", name="db"), "configuration"),
        (SecretsTransientError("503", name="db"), "retryable"),
        (ConfigError("stores.x.url: bad"), "configuration"),
        (EventError("missing", "Records[0].s3"), "permanent"),
        (InvalidKey("the key is 2000 bytes"), "permanent"),
        (InvalidArgument("EntityTooLarge: Your proposed upload exceeds the maximum allowed size"), "permanent"),
        (StorageError("RequestBodyTooLarge: The request body is too large", status=413), "permanent"),
        (StorageError("Payload Too Large"), "permanent"),
        (RuntimeError("unknown"), "retryable"),
    ],
)
def test_classify(exc: BaseException, expected: str) -> None:
    assert classify(exc) == expected


def test_missing_bucket_message() -> None:
    assert str(MissingBucket("target", "replicas")) == "target bucket replicas does not exist"


def _missing(emulators: Any, scheme: str) -> tuple[str, Any]:
    name = f"missing-{uuid.uuid4().hex[:12]}"
    return name, open_store(f"{scheme}://{name}", **emulators.store_options()[scheme])


@pytest.mark.parametrize("scheme", ["s3", "az", "gs"])
def test_a_missing_target_bucket_is_a_configuration_failure_that_names_it(emulators: Any, scheme: str) -> None:
    name, target = _missing(emulators, scheme)
    source = open_store(f"memory://{uuid.uuid4().hex}")
    source.put("k", b"v")
    created = sync_created(source, "k", target, "k", target_name="t")
    assert (created.action, created.failure) == ("failed", "configuration")
    assert created.reason == f"target bucket {name} does not exist"
    source.delete("k")
    deleted = sync_deleted(source, "k", target, "k", target_name="t")  # used to report ok
    assert (deleted.action, deleted.failure, deleted.reason) == (
        "failed",
        "configuration",
        f"target bucket {name} does not exist",
    )


def test_a_missing_source_bucket_never_empties_the_target(emulators: Any) -> None:
    name, source = _missing(emulators, "s3")
    target = open_store(f"memory://{uuid.uuid4().hex}")
    target.put("k", b"replica", metadata={SOURCE_ETAG: "abc"})
    outcome = converge(source, "k", target, "k", target_name="t")
    assert (outcome.action, outcome.failure, outcome.reason) == (
        "failed",
        "configuration",
        f"source bucket {name} does not exist",
    )
    assert target.exists("k")


def test_an_object_too_long_a_key_for_the_target_is_permanent() -> None:
    source, target = open_store(f"memory://{uuid.uuid4().hex}"), open_store(f"memory://{uuid.uuid4().hex}")
    source.put("k", b"v")
    outcome = sync_created(source, "k", target, "x" * 2000, target_name="t")
    assert (outcome.action, outcome.failure) == ("failed", "permanent")
    assert "InvalidKey" in outcome.reason
