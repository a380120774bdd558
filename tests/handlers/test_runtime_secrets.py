"""The runtime's resolver: ``Circle`` resolves its stores' ``secret://`` options through its own secrets
registry (built from ``[secrets] url``), passed to every store it opens; nothing is registered for the
whole process, so two runtimes in one process keep their own secrets, and ``open_store`` alone needs a
resolver (given, installed, or the secrets package's default) or says so with a typed error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest

from core.config import parse_config
from core.credentials import NoResolverError, current_resolver, install_default_resolver, install_resolver
from core.runtime import Circle
from core.secrets import PROCESS_REGISTRY, SecretStore
from core.storage import InvalidArgument, open_store


def _forbidden(references: Mapping[str, str], *, refresh: bool = False) -> Mapping[str, str]:
    raise AssertionError(f"the process-wide resolver was asked for {sorted(references)}")


@pytest.fixture
def no_process_resolver() -> Iterator[None]:
    """Stores the runtime opens must not reach for a process-wide resolver: it fails the test."""
    previous = install_resolver(_forbidden)
    try:
        yield
    finally:
        install_resolver(previous)


def _config(endpoint: str, bucket: str, prefix: str) -> Any:
    return parse_config(
        {
            "secrets": {"url": f"env://{prefix}"},
            "stores": {
                "src": {
                    "url": f"s3://{bucket}",
                    "endpoint_url": endpoint,
                    "region": "us-east-1",
                    "access_key_id": "secret://vault/s3-key-id",
                    "secret_access_key": "secret://vault/s3-secret",
                }
            },
        }
    )


def test_each_runtime_resolves_through_its_own_registry(
    emulators: Any, monkeypatch: pytest.MonkeyPatch, no_process_resolver: None
) -> None:
    bucket = f"rs-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=emulators.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    monkeypatch.delenv("CIRCLE_SECRETS_URL", raising=False)
    for prefix, key_id in (("CIRCLE_RSA_", "key-of-a"), ("CIRCLE_RSB_", "key-of-b")):
        monkeypatch.setenv(f"{prefix}S3_KEY_ID", key_id)
        monkeypatch.setenv(f"{prefix}S3_SECRET", "testing")
    a = Circle.from_config(_config(emulators.s3_endpoint, bucket, "CIRCLE_RSA_"))
    b = Circle.from_config(_config(emulators.s3_endpoint, bucket, "CIRCLE_RSB_"))
    try:
        a.store("src").put("k", b"from a")  # opened with a's resolver (the process one would fail)
        assert b.store("src").get("k").read() == b"from a"
        ref = {"id": "secret://vault/s3-key-id"}
        assert (a.resolve(ref)["id"], b.resolve(ref)["id"]) == ("key-of-a", "key-of-b")
        assert isinstance(a.secrets, SecretStore) and a.secrets is a.secret_store("vault") is not b.secret_store(
            "vault"
        )
        assert "vault" not in PROCESS_REGISTRY.names()  # nothing registered for the whole process
    finally:
        a.close()
        b.close()


def test_a_runtime_sees_stores_registered_for_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.secrets import register_secret_store, unregister_secret_store

    monkeypatch.setenv("CIRCLE_RSP_TOKEN", "t0k3n")
    register_secret_store("shared-rsp", "env://CIRCLE_RSP_")
    try:
        circle = Circle.from_config(parse_config({"stores": {"m": {"url": "memory://rsp"}}}))
        assert circle.secrets is None  # no [secrets] url
        assert circle.resolve({"t": "secret://shared-rsp/token"}) == {"t": "t0k3n"}
    finally:
        unregister_secret_store("shared-rsp")


def test_open_store_alone_needs_a_resolver_and_says_so() -> None:
    options = {"access_key_id": "secret://vault/id", "secret_access_key": "secret://vault/key"}
    previous = install_default_resolver(None)  # as if core.secrets had never been imported
    try:
        with pytest.raises(NoResolverError):
            current_resolver()
        with pytest.raises(InvalidArgument, match="need a resolver: pass open_store"):
            open_store("s3://bkt", region="us-east-1", **options)
        seen: list[Mapping[str, str]] = []

        def given(references: Mapping[str, str], *, refresh: bool = False) -> Mapping[str, str]:
            seen.append(dict(references))
            return {k: "v" for k in references}

        open_store("s3://bkt", region="us-east-1", resolver=given, **options).close()
        assert seen == [options]
    finally:
        install_default_resolver(previous)
    assert current_resolver() is previous  # the secrets package's default is back


def test_the_secrets_package_installs_its_registry_as_the_default() -> None:
    import core.secrets

    assert current_resolver() == core.secrets.resolve_references
