"""Rotation under load, for storage credentials: an S3 replication target whose access key pair is a
``secret://`` reference held in Secrets Manager, rotated in a loop (dual strategy, IAM access key rotator)
while storage events keep replicating into it. moto checks signatures and IAM policies for the whole
test, so a revoked key really fails; everything else (the rotation function's calls, the reader's
secret reads) uses an admin key of its own.

The interleaving is deterministic: rotations run between batches of events, and in some batches a
rotation step that revokes the key the target holds runs *inside* a replication, between the target's
head and its write (a hook on the source read, which ``copy_object`` does between the two).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from core.config import parse_config
from core.events import StorageEvent
from core.handlers.storage_events import EventResult, StorageEventHandler
from core.secrets import SecretStore, open_secrets, register_secret_store, unregister_secret_store
from core.secrets.rotation import DUAL, RotationEngine, new_token
from core.secrets.rotation.rotators.iam_access_key import IamAccessKeyRotator
from core.storage import ObjectStore, open_store
from tests.rotation.conftest import AwsRig, aws_rig, moto_auth

ROUNDS = 8  # rotations between batches
BATCH = 6  # events per batch
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class CountingBackend:
    """The reader's secrets backend, counting the reads that reach Secrets Manager (cache misses)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads = 0

    def read(self, name: str, *, version: str | None, stage: str | None) -> Any:
        self.reads += 1
        return self.inner.read(name, version=version, stage=stage)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


class PausingSource:
    """The source store, running ``hook`` once when the object named ``at`` is read: ``sync_created``
    heads the target, then ``copy_object`` reads the source, then writes the target."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.at: str | None = None
        self.hook: Callable[[], None] | None = None
        self.fired = 0

    def get(self, key: str, **kwargs: Any) -> Any:
        if key == self.at and self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
            self.fired += 1
        return self.store.get(key, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.store, attr)


class LegacyHandler(StorageEventHandler):
    """The storage-event handler before ``core.runtime``: the source store seen through ``PausingSource``."""

    def __init__(self, config: Any, source: PausingSource) -> None:
        super().__init__(config)
        self.source = source

    def store(self, name: str) -> Any:
        return self.source if name == "src" else super().store(name)


def make_handler(config: Any, source: PausingSource) -> StorageEventHandler:
    """The handler through its public API: ``Circle`` given the already opened source store (the
    runtime of the replication work), or, before that is merged, the handler's own ``store``."""
    try:
        from core.runtime import Circle  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return LegacyHandler(config, source)
    circle = Circle.from_config(config, stores={"src": source})
    return StorageEventHandler(circle=circle)  # type: ignore[call-arg,unused-ignore]


def admin_session(rig: AwsRig) -> boto3.session.Session:
    user = rig.new_user()
    rig.iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
    key = rig.iam.create_access_key(UserName=user)["AccessKey"]
    return boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1"
    )


@pytest.fixture
def rig(emulators: Any) -> AwsRig:
    return aws_rig(emulators.s3_endpoint)


@pytest.fixture
def reader_store() -> Iterator[str]:
    name = f"load-{uuid.uuid4().hex[:8]}"
    yield name
    unregister_secret_store(name)


def event(bucket: str, key: str, kind: str) -> StorageEvent:
    return StorageEvent(
        provider="memory",  # type: ignore[arg-type]  # C4 widens Provider to str
        kind=kind,  # type: ignore[arg-type]
        bucket=bucket,
        key=key,
        event_time=datetime.now(UTC),
        event_id=str(uuid.uuid4()),
    )


def test_s3_target_keeps_replicating_while_its_key_rotates(
    rig: AwsRig,
    reader_store: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = rig.endpoint
    admin = admin_session(rig)
    user, bucket = rig.new_user(), rig.new_bucket()
    rig.iam.put_user_policy(
        UserName=user,
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    name = f"circle/replica-{uuid.uuid4().hex[:8]}"
    sm, iam = admin.client("secretsmanager", endpoint_url=endpoint), admin.client("iam", endpoint_url=endpoint)
    sm.create_secret(Name=name, SecretString=json.dumps({"kind": "aws_iam_access_key", "user_name": user}))

    # the rotation function's view: no cache, the admin key for Secrets Manager, IAM and STS
    writer = open_secrets("aws-sm://us-east-1", client=sm, max_age=0)
    rotator = IamAccessKeyRotator(
        {"user_name": user, "endpoint_url": endpoint, "region": "us-east-1"},
        iam=iam,
        client_factory=lambda service, **kw: admin.client(service, **kw),
    )
    engine = RotationEngine(writer, name, rotator, DUAL)
    # the replication function's view: the default 300 s cache, so it really holds a stale key
    counting = CountingBackend(
        open_secrets("aws-sm://us-east-1", client=admin.client("secretsmanager", endpoint_url=endpoint)).backend
    )
    register_secret_store(reader_store, SecretStore(counting, max_age=300))  # type: ignore[arg-type]

    source_name = f"src-{uuid.uuid4().hex[:8]}"
    config = parse_config(
        {
            "stores": {
                "src": {"url": f"memory://{source_name}"},
                "dst": {
                    "url": f"s3://{bucket}",
                    "endpoint_url": endpoint,
                    "region": "us-east-1",
                    "access_key_id": f"secret://{reader_store}/{name}#access_key_id",
                    "secret_access_key": f"secret://{reader_store}/{name}#secret_access_key",
                },
            },
            "replication": [{"source": "src", "targets": ["dst"], "propagate_deletes": True}],
        }
    )
    source = PausingSource(open_store(f"memory://{source_name}"))
    handler = make_handler(config, source)
    results: list[EventResult] = []
    issued: list[str] = []  # every key pair the rotation minted, in order
    expected_refreshes = 0
    held: str | None = None  # the key id the target store holds (it re-reads only after a rejection)

    def current_key() -> str:
        return str(
            json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])["access_key_id"]
        )

    def live_keys() -> set[str]:
        return {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}

    def rotate() -> None:
        engine.rotate()
        issued.append(current_key())

    def expect_rejection() -> None:
        """Model of the store: if the key it holds was revoked, its next request is rejected and one
        refresh gives it the current key."""
        nonlocal held, expected_refreshes
        if held is not None and held not in live_keys():
            expected_refreshes += 1
            held = current_key()

    def handle(batch: list[StorageEvent]) -> None:
        nonlocal held
        results.extend(handler.handle_all(batch))
        if held is None:
            held = current_key()  # the store opened on the first event and read the current key

    n, between, last_hooked = 0, 0, False
    with moto_auth(endpoint):
        rotate()  # the first key pair
        for round_ in range(ROUNDS):
            batch = []
            for i in range(BATCH):
                n += 1
                key = f"data/{n % 9}.bin"  # keys recur: overwrites and deletes of replicas
                if i == BATCH - 1 and round_ % 2:
                    source.store.delete(key)
                    batch.append(event(source_name, key, "deleted"))
                else:
                    source.store.put(key, f"round {round_} object {n}".encode() * 50)
                    batch.append(event(source_name, key, "created"))
            rejected_before = expected_refreshes
            expect_rejection()  # the batch's first target request, if the last rotation revoked the key
            between += expected_refreshes - rejected_before
            # hook when the store holds the previous key (still valid): the create step revokes it midway
            if held is not None and held != current_key() and held in live_keys() and not last_hooked:
                token = new_token()
                hooked = next(e.key for e in batch if e.kind == "created")

                def revoke_midway(token: str = token) -> None:
                    held_before = held
                    engine.create(token)  # makes room: IAM keeps only the current key and the new one
                    assert held_before not in live_keys(), "the hook must revoke the key the store holds"
                    expect_rejection()  # the write that follows the head is rejected: one refresh

                source.at, source.hook = hooked, revoke_midway
                handle(batch)
                assert source.hook is None, "the hook did not run"
                for step in (engine.set, engine.test, engine.finish):
                    step(token)
                issued.append(current_key())
                last_hooked = True
            else:
                handle(batch)
                rotate()
                last_hooked = False
        expect_rejection()
        handle([event(source_name, f"data/{k}.bin", "created") for k in range(9)])  # settle: all converge

        target = handler.store("dst")
        failed = [o for r in results for o in r.outcomes if o.action in ("failed", "deferred")]
        copied = sum(o.action == "copied" for r in results for o in r.outcomes)
        deleted = sum(o.action == "deleted" for r in results for o in r.outcomes)
        for k in range(9):
            key = f"data/{k}.bin"
            if source.store.exists(key):
                assert target.get(key).read() == source.store.get(key).read(), key
            else:
                assert not target.exists(key), key

    renewals = sum(r.getMessage() == "store credential refreshed after rejection" for r in caplog.records)
    assert failed == []  # 0 failed replications
    assert source.fired >= 3  # a rotation step landed between a head and a write at least 3 times
    assert between >= 2  # and a key was revoked between batches at least twice
    assert copied >= ROUNDS * (BATCH - 1) - ROUNDS // 2 and deleted >= 2
    assert len(set(issued)) == len(issued) == ROUNDS + 1
    assert expected_refreshes == source.fired + between
    assert renewals == expected_refreshes  # each rejected key pair was cured by exactly one refresh ...
    assert counting.reads == 1 + expected_refreshes  # ... costing one secret read (the cache served the rest)

    # redaction: no key id or secret key of any version in logs, output, errors or reprs
    values: set[str] = set()
    for version in sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]:
        doc = json.loads(sm.get_secret_value(SecretId=name, VersionId=version["VersionId"])["SecretString"])
        values |= {doc[f] for f in ("access_key_id", "secret_access_key") if f in doc}
    assert len(values) >= 2 * len(issued)
    out, err = capfd.readouterr()
    haystack = "\n".join(
        [out, err, caplog.text]
        + [repr(r.__dict__) for r in caplog.records]
        + [r.getMessage() for r in caplog.records]
        + [repr(x) for x in (engine, writer, target, handler.store("dst"), results, config)]
        + [repr(r.as_dict()) for r in results]
    )
    assert [v[:4] + "..." for v in values if v in haystack] == []
