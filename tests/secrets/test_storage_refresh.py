"""A store whose credentials are ``secret://`` references picks up a rotated key pair without a redeploy:
S3 on moto with signature and IAM checks on, access keys in a file secrets store. A rejected credential
is read again past the cache once, the backend is rebuilt and the operation retried once; never more."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.secrets import SecretStore, open_secrets, register_secret_store, unregister_secret_store
from core.storage import ObjectStore, Unauthenticated, open_store
from tests.rotation.conftest import AwsRig, aws_rig, moto_auth

SECRET = "s3/replica"


@pytest.fixture
def rig(emulators: Any) -> AwsRig:
    return aws_rig(emulators.s3_endpoint)


@pytest.fixture
def creds(tmp_path: Path) -> Iterator[tuple[str, SecretStore]]:
    """(registered store name, a writer on the same file): the writer plays the rotation function; the
    registered store has the default max_age, so the storage side really holds a stale cached value."""
    name = f"refresh-{uuid.uuid4().hex[:8]}"
    register_secret_store(name, f"file://{tmp_path}/creds.json")
    try:
        yield name, open_secrets(f"file://{tmp_path}/creds.json", max_age=0)
    finally:
        unregister_secret_store(name)


def new_user(rig: AwsRig) -> str:
    user = rig.new_user()
    rig.iam.put_user_policy(
        UserName=user,
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    return user


def new_key(rig: AwsRig, user: str) -> dict[str, str]:
    key = rig.iam.create_access_key(UserName=user)["AccessKey"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


def rotate(rig: AwsRig, user: str, writer: SecretStore, old: dict[str, str]) -> dict[str, str]:
    """What the IAM key rotation does: a new key pair becomes the secret; the old key is deleted."""
    new = new_key(rig, user)
    writer.put(SECRET, new)
    rig.iam.update_access_key(UserName=user, AccessKeyId=old["access_key_id"], Status="Inactive")
    rig.iam.delete_access_key(UserName=user, AccessKeyId=old["access_key_id"])
    assert rig.keys(user) == {new["access_key_id"]: "Active"}
    return new


def open_referenced(rig: AwsRig, bucket: str, store_name: str) -> ObjectStore:
    return open_store(
        f"s3://{bucket}",
        endpoint_url=rig.endpoint,
        region="us-east-1",
        access_key_id=f"secret://{store_name}/{SECRET}#access_key_id",
        secret_access_key=f"secret://{store_name}/{SECRET}#secret_access_key",
    )


def reads(caplog: pytest.LogCaptureFixture) -> int:
    """Reads of the credential that reached the secrets service (cache hits log nothing)."""
    return sum(r.getMessage() == "secret read" and getattr(r, "secret_name", None) == SECRET for r in caplog.records)


def renewals(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage() == "store credential refreshed after rejection" for r in caplog.records)


def test_the_same_store_keeps_working_across_key_rotations(
    rig: AwsRig, creds: tuple[str, SecretStore], caplog: pytest.LogCaptureFixture
) -> None:
    store_name, writer = creds
    user, bucket = new_user(rig), rig.new_bucket()
    key = new_key(rig, user)
    writer.put(SECRET, key)
    caplog.set_level(logging.DEBUG, logger="circle")
    store = open_referenced(rig, bucket, store_name)
    view = store.scoped("view/")
    assert reads(caplog) == 1  # both fields came from one read
    with moto_auth(rig.endpoint):
        store.put("a.txt", b"one")

    key = rotate(rig, user, writer, key)
    with moto_auth(rig.endpoint):
        assert store.get("a.txt").read() == b"one"  # old key rejected -> one refresh -> retried
    assert (reads(caplog), renewals(caplog)) == (2, 1)

    rotate(rig, user, writer, key)
    with moto_auth(rig.endpoint):
        store.put("b.txt", io.BytesIO(b"two"))  # the put path, with a stream rewound for the retry
        view.put("c.txt", b"three")  # a scoped view shares the renewed backend
        assert [getattr(o, "key", None) for o in store.list()] == ["a.txt", "b.txt", "view/c.txt"]
    assert (reads(caplog), renewals(caplog)) == (3, 2)
    assert rig.s3.get_object(Bucket=bucket, Key="b.txt")["Body"].read() == b"two"
    store.close()


def test_a_wrong_secret_fails_after_exactly_one_refresh(
    rig: AwsRig, creds: tuple[str, SecretStore], caplog: pytest.LogCaptureFixture
) -> None:
    store_name, writer = creds
    user, bucket = new_user(rig), rig.new_bucket()
    key = new_key(rig, user)
    writer.put(SECRET, {**key, "secret_access_key": "w" * 40})
    caplog.set_level(logging.DEBUG, logger="circle")
    store = open_referenced(rig, bucket, store_name)
    literal = open_store(
        f"s3://{bucket}",
        endpoint_url=rig.endpoint,
        region="us-east-1",
        access_key_id=key["access_key_id"],
        secret_access_key="w" * 40,
    )
    with moto_auth(rig.endpoint):
        with pytest.raises(Unauthenticated):
            store.put("x.txt", b"x")  # refreshed: the secret still holds the rejected pair, no retry
        assert (reads(caplog), renewals(caplog)) == (2, 0)
        writer.put(SECRET, {**key, "secret_access_key": "v" * 40})  # changed, but still wrong
        with pytest.raises(Unauthenticated):
            store.get("x.txt")  # one refresh, one rebuild, one retry that fails too: raised, no loop
        assert (reads(caplog), renewals(caplog)) == (3, 1)
        with pytest.raises(Unauthenticated):
            literal.get("x.txt")  # no references: nothing to refresh
        assert (reads(caplog), renewals(caplog)) == (3, 1)
    store.close()
    literal.close()
